"""Per-account flow figures, toxicity score, "Toxic Flow" alerts and routing advice (pure).

:class:`AccountBoard` is fed trade markouts (``on_markout``), holding times (``on_holding``,
from :class:`streams.markouts.holding.PositionTimes` or the worker's own position state) and
event time (``expire(now)``). Per account it keeps the last ``account_window_trades`` trades
with a fill time within ``account_window_s`` of the board's clock (the newest fill or close time
seen, or ``now``), their markouts per horizon (:class:`~streams.markouts.window.TradeWindow`),
and the holding times of its closed positions over the same window. After every change it
re-scores the account and runs the rule (:mod:`streams.markouts.toxicity`).

``drain()`` returns the accounts whose figures changed (for the worker to publish their
``AccountToxicity``, coalesced as it likes), the alerts and the advice issued since the last
drain. Accounts with nothing left in their windows and no level are forgotten by ``expire``.
"""

from __future__ import annotations

from typing import Any

from streams.markouts.config import MICROS_PER_S, MarkoutConfig
from streams.markouts.holding import HoldingWindow
from streams.markouts.records import AccountToxicity, Alert, RoutingAdvice, TradeMarkout
from streams.markouts.stage_state import counters
from streams.markouts.toxicity import Scored, ToxicityRule, score_of, sign_z
from streams.markouts.window import (
    Contribution,
    TradeWindow,
    contribution,
    restore_windows,
    snapshot_clock,
)

COUNTERS = ("noAccount", "ignoredMarkouts", "ignoredHoldings")


class AccountBoard:
    """Per-account windows, the toxic-flow rule and its advice; see the module doc."""

    def __init__(self, config: MarkoutConfig) -> None:
        self.config = config
        self._longest_us = config.horizons_us[-1]
        self._window_us = config.account_window_s * MICROS_PER_S
        self.trades: dict[str, TradeWindow] = {}
        self.holdings: dict[str, HoldingWindow] = {}
        self.rule = ToxicityRule(config)
        self.clock: int | None = None
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.changed: set[str] = set()
        self.alerts: list[Alert] = []
        self.advice: list[RoutingAdvice] = []

    def _tick(self, t: int) -> int:
        if self.clock is None or t > self.clock:
            self.clock = t
        return self.clock

    # --- inputs ------------------------------------------------------------------------------

    def on_markout(self, m: TradeMarkout, c: Contribution | None = None) -> None:
        """A trade's markouts (``c``: its :func:`~streams.markouts.window.contribution`, when
        the caller has it). A change is dated when the trade's longest horizon ended."""
        account = m["accountId"]
        if account is None:
            self.counters["noAccount"] += 1
            return
        t = m["eventTime"]
        clock = self._tick(t)
        window = self.trades.get(account)
        if window is None:
            window = self.trades[account] = self._trade_window()
        expired = window.expire(clock)
        if not window.add(t, m["tradeId"], c or contribution(m), clock):
            self.counters["ignoredMarkouts"] += 1
            if not expired:
                return
        self._changed(account, t + self._longest_us, m["tradeId"])

    def on_holding(self, account: str, position_id: str, opened: int, closed: int) -> None:
        """A position of ``account`` held from ``opened`` to ``closed`` (int micros)."""
        clock = self._tick(closed)
        window = self.holdings.get(account)
        if window is None:
            window = self.holdings[account] = HoldingWindow(
                self.config.account_window_trades, self._window_us
            )
        if window.add(closed, position_id, (max(0, closed - opened),), clock):
            self.changed.add(account)
        else:
            self.counters["ignoredHoldings"] += 1

    def expire(self, now: int) -> None:
        """Age every account's windows to event time ``now``; re-score those that changed and
        forget those left empty and unscored. O(accounts): call it every few seconds."""
        clock = self._tick(now)
        for account in sorted(set(self.trades) | set(self.holdings)):
            trades, holdings = self.trades.get(account), self.holdings.get(account)
            aged = trades is not None and trades.expire(clock)
            if holdings is not None and holdings.expire(clock):
                self.changed.add(account)
            if aged:
                self._changed(account, now, f"expire@{now}")
            if not (trades or holdings) and self.rule.level_of(account) == "unscored":
                self.trades.pop(account, None)
                self.holdings.pop(account, None)
                self.changed.discard(account)

    def drain(self) -> tuple[list[str], list[Alert], list[RoutingAdvice]]:
        """Accounts changed (sorted), alerts and advice since the last drain."""
        out = sorted(self.changed), self.alerts, self.advice
        self.changed, self.alerts, self.advice = set(), [], []
        return out

    # --- outputs -----------------------------------------------------------------------------

    def scored(self, account: str) -> Scored:
        window = self.trades.get(account) or self._trade_window()
        h = self.config.score_index
        return score_of(
            account, len(window), window.known(h), window.wins(h), window.losses(h),
            window.mean_bps(h), self.config,
        )  # fmt: skip

    def record(self, account: str) -> AccountToxicity | None:
        """The account's AccountToxicity as of the board's clock (None when unknown)."""
        if self.clock is None or (account not in self.trades and account not in self.holdings):
            return None
        window = self.trades.get(account) or self._trade_window()
        holdings = self.holdings.get(account)
        s = self.scored(account)
        h = self.config.score_index
        return AccountToxicity(
            **window.figures(self.config.horizons_ms),
            eventTime=self.clock,
            accountId=account,
            trades=len(window),
            scoreHorizonMs=self.config.score_horizon_ms,
            clientWins=window.wins(h),
            clientLosses=window.losses(h),
            z=sign_z(window.wins(h), window.losses(h)),
            score=s.score,
            level=self.rule.level_of(account),
            closedPositions=len(holdings) if holdings else 0,
            meanHoldingTimeS=holdings.mean_s() if holdings else None,
        )

    # --- machinery ---------------------------------------------------------------------------

    def _trade_window(self) -> TradeWindow:
        c = self.config
        return TradeWindow(len(c.horizons_ms), c.account_window_trades, self._window_us)

    def _changed(self, account: str, t: int, cause: str) -> None:
        self.changed.add(account)
        alerts, advice = self.rule.evaluate(self.scored(account), t, cause)
        self.alerts += alerts
        if advice is not None:
            self.advice.append(advice)

    # --- snapshots ---------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "trades": {a: self.trades[a].state() for a in sorted(self.trades)},
            "holdings": {a: self.holdings[a].state() for a in sorted(self.holdings)},
            "rule": self.rule.state(),
            "counters": dict(self.counters),
            "changed": sorted(self.changed),
            "alerts": [dict(a) for a in self.alerts],
            "advice": [dict(a) for a in self.advice],
        }

    def restore(self, raw: Any) -> None:
        clock = snapshot_clock(raw, "accounts")
        c = self.config
        self.trades = restore_windows(raw.get("trades"), self._trade_window, "accounts.trades")
        self.holdings = restore_windows(
            raw.get("holdings"),
            lambda: HoldingWindow(c.account_window_trades, self._window_us),
            "accounts.holdings",
        )
        self.rule.restore(raw.get("rule"))
        self.counters = counters(raw.get("counters"), COUNTERS)
        self.clock, self.changed = clock, {str(a) for a in raw.get("changed") or []}
        self.alerts = list(raw.get("alerts") or [])
        self.advice = list(raw.get("advice") or [])
