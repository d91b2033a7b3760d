"""Risk, global stage: every account's partials merged, the broker's P&L, per-account risk and
the top accounts (pure: no I/O, no clock; time is the event time of the inputs).

Inputs: :meth:`RiskView.put` (the latest :class:`AccountPartial` of a (partition, account),
from :meth:`streams.risk.book.RiskBook.drain`) and :meth:`RiskView.on_quote` (a symbol's bid
and ask). Outputs: :meth:`pnl_change`, :meth:`account_risk`, :meth:`top`; the accounts changed
since the last call come from :meth:`changed_accounts`. Formulas: docs/pnl.md.

Realised P&L is converted to USD at the rate when the view learns of it: each change of an
account's realised amount today (quote currency, exact) is converted at the current rate and
kept exactly (:mod:`streams.risk.realized`); an amount whose currency has no rate yet waits for
one. Partials are compared by value and replaced whole, so a redelivered partial changes
nothing and the order in which partitions report does not matter.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from streams.market.exact import ExactSum
from streams.market.instruments import instrument
from streams.market.rates import usd_rates
from streams.risk.config import RiskConfig
from streams.risk.figures import (
    FloatingCache,
    GroupKey,
    Market,
    account_figures,
    largest_position,
    pnl_change,
)
from streams.risk.marks import Price, mid_price, quote_price
from streams.risk.partial import AccountPartial, Group, Largest, RiskStateError, larger
from streams.risk.realized import RealizedKey, RealizedLedger
from streams.risk.records import AccountRisk, AccountRiskTop, PnlChange
from streams.risk.survey import OverSurvey, TopSurvey, level_candidates, top_candidates
from streams.risk.table import AccountTable, Scores


class RiskView:
    """The merged state of every account; see the module docstring."""

    def __init__(self, config: RiskConfig | None = None) -> None:
        self.config = config or RiskConfig()
        self._calendar = self.config.calendar()
        self._reset()

    def _reset(self) -> None:
        self._partials: dict[str, dict[str, AccountPartial]] = {}  # account -> source -> partial
        self._groups: dict[GroupKey, list[int]] = {}  # all accounts: [positions, V, S, M]
        self._ledger = RealizedLedger()
        self._prices: dict[str, Price] = {}
        self._market: Market | None = None
        self._table = AccountTable()
        self._table_stale: set[str] = set()  # accounts whose table rows wait for a refresh
        self._floating: FloatingCache = {}  # pnl_change's per-group results
        self._changed: set[str] = set()
        self._holding = False
        self.event_time = 0
        self.day = 0

    # --- clock ---------------------------------------------------------------------------------

    def advance(self, event_time: int) -> None:
        """The latest event time of any input; a new trading day resets realised P&L."""
        if event_time > self.event_time:
            self.event_time = event_time
            self._roll(self._calendar.day_of(event_time))

    def _roll(self, day: int) -> None:
        if day <= self.day:
            return
        self.day = day
        self._table.reset_realized()
        self._changed.update(self._ledger.forget_before(day))

    def trading_day(self) -> str:
        return self._calendar.label(self.day) if self.day else ""

    # --- inputs --------------------------------------------------------------------------------

    def put(
        self, source: str, account: str, partial: AccountPartial | None, event_time: int = 0
    ) -> bool:
        """The latest partial of ``account`` from ``source`` (e.g. ``"pos:3"``); None or an
        empty partial: the account has nothing there any more. True if anything changed."""
        self.advance(event_time)
        partial = partial or None
        if partial is not None:
            self._roll(max((r.day for r in partial.realized), default=0))
        sources = self._partials.get(account, {})
        old = sources.get(source)
        if old == partial:
            return False
        if old is None or partial is None or old.groups != partial.groups:
            if old is not None:
                self._add_groups(old.groups, -1)
            if partial is not None:
                self._add_groups(partial.groups, 1)
            # The scores' rows are rewritten when scores are next needed (the top-N, about once
            # a second), once for however many puts the account had meanwhile.
            self._table_stale.add(account)
        if partial is not None:
            self._partials.setdefault(account, sources)[source] = partial
        else:
            del sources[source]
            if not sources:
                del self._partials[account]
        realized_before = old.realized if old is not None else ()
        realized_now = partial.realized if partial is not None else ()
        if not self._holding and realized_before != realized_now:
            self._book_realized(account)
        self._changed.add(account)
        return True

    def refresh_rows(self, limit: int | None = None) -> int:
        """Brings the score rows of up to ``limit`` (None: all) accounts put since up to date;
        returns how many wait still. A caller that runs this between inputs spreads the work
        the next scores would do at once."""
        stale = self._table_stale
        for account in list(itertools.islice(stale, limit)):
            stale.discard(account)
            self._table.set_groups(account, self.groups_of(account))
        return len(stale)

    def _scores(self) -> Scores:
        """Every account's scores, the table's rows of the accounts put since brought up to
        date first."""
        self.refresh_rows()
        return self._table.scores(self.market(), self.config.basis)

    def _add_groups(self, groups: Iterable[Group], sign: int) -> None:
        for g in groups:
            key = (g.symbol, g.book, g.side)
            acc = self._groups.setdefault(key, [0, 0, 0, 0])
            acc[0] += sign * g.positions
            acc[1] += sign * g.volume_u
            acc[2] += sign * g.value_u
            acc[3] += sign * g.mark_u
            if acc[0] == 0:
                assert acc == [0, 0, 0, 0], acc  # noqa: S101 - exact ints: an invariant
                del self._groups[key]
            if g.symbol not in self._prices:
                self._market = None  # its fallback mark moved

    def on_quote(self, symbol: str, bid: float | None, ask: float | None, event_time: int) -> bool:
        """A quote; a side that is missing or not a price is marked at the mid. True if the
        symbol's price changed."""
        self.advance(event_time)
        return self._set_price(symbol, quote_price(bid, ask))

    def on_mid(self, symbol: str, mid: float | None, event_time: int) -> bool:
        """A mid-only price (both sides marked at the mid)."""
        self.advance(event_time)
        return self._set_price(symbol, mid_price(mid))

    def _set_price(self, symbol: str, price: Price | None) -> bool:
        if self._prices.get(symbol) == price:
            return False
        if price is None:
            del self._prices[symbol]
        else:
            self._prices[symbol] = price
        self._market = None
        return True

    # --- realised P&L --------------------------------------------------------------------------

    def _merged_realized(self, account: str) -> dict[RealizedKey, int]:
        out: dict[RealizedKey, int] = {}
        for partial in self._partials.get(account, {}).values():
            for r in partial.realized:
                if r.day == self.day:
                    out[(r.symbol, r.book)] = out.get((r.symbol, r.book), 0) + r.amount_u
        return out

    def _book_realized(self, account: str) -> None:
        """Books the account's realised amounts today beyond what the ledger has counted."""
        if self._ledger.book(account, self._merged_realized(account), self.day):
            self._settle(self.market())

    def _settle(self, market: Market) -> None:
        for account in self._ledger.settle(market, self.day):
            self._table.set_realized(account, self._ledger.today(account, self.day).value())
            self._changed.add(account)

    # --- market --------------------------------------------------------------------------------

    def market(self) -> Market:
        """Prices and USD rates now: mids of the quotes, else each symbol's fallback mark (the
        positions' Σ⟦v·mark⟧ / Σ⟦v⟧), as the exposure stage converts."""
        if self._market is not None:
            return self._market
        totals: dict[str, list[int]] = {}
        for (symbol, _, _), (_, volume_u, _, mark_u) in self._groups.items():
            t = totals.setdefault(symbol, [0, 0])
            t[0] += volume_u
            t[1] += mark_u
        fallback = {s: m / v for s, (v, m) in totals.items() if v > 0 and s not in self._prices}
        overrides = self.config.symbol_overrides
        instruments = {s: instrument(s, overrides) for s in sorted({*self._prices, *totals})}
        mids = {s: p.mid for s, p in self._prices.items()}
        rates = usd_rates(mids, instruments, fallback)
        self._market = Market(dict(self._prices), rates, overrides, instruments)
        self._settle(self._market)
        return self._market

    # --- outputs -------------------------------------------------------------------------------

    def groups_of(self, account: str) -> dict[GroupKey, list[int]]:
        """The account's sums over every source: [positions, V, S, M] per (symbol, book, side)."""
        out: dict[GroupKey, list[int]] = {}
        for partial in self._partials.get(account, {}).values():
            for g in partial.groups:
                acc = out.setdefault((g.symbol, g.book, g.side), [0, 0, 0, 0])
                acc[0] += g.positions
                acc[1] += g.volume_u
                acc[2] += g.value_u
                acc[3] += g.mark_u
        return out

    def pnl_change(self) -> PnlChange:
        """The broker's B-book P&L and the clients' P&L by book, now."""
        market = self.market()
        realized = self._ledger.by_symbol(self.day)
        return pnl_change(
            self._groups,
            realized,
            market,
            event_time=self.event_time,
            trading_day=self.trading_day(),
            cache=self._floating,
        )

    def account_risk(self, account: str) -> AccountRisk | None:
        """The account's risk now, or None when it has neither positions nor realised P&L."""
        if not self._live(account):
            return None
        sources = self._partials.get(account, {})
        realized = self._ledger.today(account, self.day)
        pending = self._ledger.waiting(account, self.day)
        market = self.market()
        fig = account_figures(self.groups_of(account), market, self.config.basis)
        best: dict[str, Largest] = {}
        for partial in sources.values():
            for x in partial.largest:
                best[x.symbol] = larger(best.get(x.symbol), x)
        return {
            "eventTime": self.event_time,
            "tradingDay": self.trading_day(),
            "accountId": account,
            "basis": self.config.basis,
            "openPositions": fig.positions,
            "exposure": fig.exposure,
            "floatingPnl": fig.floating.value(),
            "realizedToday": realized.value(),
            "pnlToday": ExactSum().add_sum(fig.floating).add_sum(realized).value(),
            "largestPosition": largest_position(best.values(), market),
            "markedAtMid": fig.marked_at_mid,
            "unconverted": sorted({*fig.unconverted, *pending}),
        }

    def top(self, n: int | None = None) -> AccountRiskTop:
        """The n (default ``config.top_n``) accounts with the largest exposure, floating P&L and
        realised P&L today; candidates from the float scores, ranked on exact figures."""
        survey = self.top_survey(n)
        survey.step()
        return survey.record()

    def top_survey(self, n: int | None = None) -> TopSurvey:
        """:meth:`top` in slices: every account scored now, the candidates' exact figures by
        :meth:`TopSurvey.step`, then :meth:`TopSurvey.record` (:mod:`streams.risk.survey`)."""
        n = n or self.config.top_n
        lists = top_candidates(self._table, self._scores(), n)
        accounts = len(self._table)

        def header() -> dict[str, Any]:
            return {
                "eventTime": self.event_time,
                "tradingDay": self.trading_day(),
                "basis": self.config.basis,
                "n": n,
                "accounts": accounts,
            }

        return TopSurvey(self.account_risk, header, lists, n)

    def accounts_over(
        self, *, pnl_today: float | None = None, exposure: float | None = None
    ) -> list[AccountRisk]:
        """The accounts whose P&L today (floating + realised) is at least ``pnl_today``, or
        whose exposure is at least ``exposure`` (USD; exact figures, sorted by accountId): for
        the winning-account and per-account limit alerts, without an exact pass over every
        account."""
        survey = self.over_survey(pnl_today=pnl_today, exposure=exposure)
        survey.step()
        return survey.found()

    def over_survey(
        self,
        *,
        pnl_today: float | None = None,
        exposure: float | None = None,
        also: Iterable[str] = (),
    ) -> OverSurvey:
        """:meth:`accounts_over` in slices (and the figures of the accounts ``also``): every
        account scored now, the candidates' exact figures by :meth:`OverSurvey.step`, then
        :meth:`OverSurvey.found` and :meth:`OverSurvey.asked`."""
        checks = level_candidates(self._table, self._scores(), pnl_today, exposure)
        return OverSurvey(self.account_risk, checks, also)

    def changed_accounts(self) -> list[str]:
        """Accounts whose positions or realised P&L changed since the last call (sorted)."""
        out = sorted(self._changed)
        self._changed.clear()
        return out

    def accounts(self) -> list[str]:
        """Accounts with open positions or realised P&L today (sorted)."""
        known = set(self._partials) | set(self._ledger.accounts())
        return sorted(a for a in known if self._live(a))

    def known_accounts(self) -> list[str]:
        """Every account the view holds anything of, live or not (cheap: no check per account;
        :meth:`account_risk` says None for one that is not live)."""
        return list(dict.fromkeys([*self._partials, *self._ledger.accounts()]))

    def _live(self, account: str) -> bool:
        """Open positions, or realised P&L today (converted or waiting for a rate)."""
        if any(p.groups for p in self._partials.get(account, {}).values()):
            return True
        return bool(
            self._ledger.today(account, self.day).num or self._ledger.waiting(account, self.day)
        )

    # --- recovery ------------------------------------------------------------------------------

    def begin_replay(self) -> None:
        """Partials put from now on (a replay of the internal topic after :meth:`restore`
        without partials) update the sums but book no realised P&L until :meth:`end_replay`."""
        self._holding = True

    def end_replay(self) -> None:
        """Books, per account, the realised amounts the replayed partials hold beyond what the
        restored state had counted (converted at the current rates)."""
        self._holding = False
        for account in sorted(set(self._partials) | set(self._ledger.accounts())):
            self._book_realized(account)

    def state(self, *, partials: bool = True) -> dict[str, Any]:
        """JSON-able state. Without ``partials`` it holds the clock, the prices and the
        realised amounts only: the worker recovers the partials from its compacted internal
        topic (one key per partition and account) between begin_replay and end_replay."""
        out: dict[str, Any] = {
            "format": 1,
            "t": self.event_time,
            "prices": {s: list(p) for s, p in sorted(self._prices.items())},
            "realized": self._ledger.state(),
        }
        if partials:
            out["partials"] = {
                account: {src: p.to_record() for src, p in sorted(sources.items())}
                for account, sources in sorted(self._partials.items())
            }
        return out

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replaces this view's state by ``state`` (from :meth:`state`)."""
        if not isinstance(state, Mapping) or state.get("format") != 1:
            raise RiskStateError(f"expected a format-1 risk state, got {state!r:.200}")
        self._reset()
        try:
            self.advance(int(state["t"]))
            for symbol, (bid, ask, mid) in state["prices"].items():
                price = mid_price(mid) if bid is None and ask is None else quote_price(bid, ask)
                if price is None:
                    raise ValueError(f"prices.{symbol}: no price")
                self._prices[symbol] = price
            self._ledger.restore(state["realized"], self.day)
            for account in self._ledger.accounts():
                self._table.set_realized(account, self._ledger.today(account, self.day).value())
            partials = state.get("partials")
            self._holding = partials is not None
            for account, sources in (partials or {}).items():
                for source, rec in sources.items():
                    self.put(source, account, AccountPartial.from_record(rec))
        except (KeyError, TypeError, ValueError) as exc:
            raise RiskStateError(f"malformed risk state: {exc!r:.200}") from exc
        if partials is not None:
            self.end_replay()
        self._changed.clear()
