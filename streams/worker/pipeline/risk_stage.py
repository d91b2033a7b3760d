"""The global stage's risk part (pure): every account's partials merged by a
:class:`streams.risk.RiskView`, the broker's P&L published like exposure, account risk, the
top accounts and the risk alerts (docs/pnl.md).

- ``acct`` messages (one account's sums in one positions partition) go to :meth:`RiskStage.put`,
  the bid and ask of ``mids`` messages to :meth:`RiskStage.quotes`, in the internal topic's
  order, so realised P&L is converted at the rate the view holds when it learns of it, in a
  replay as in the original run;
- :meth:`RiskStage.recompute`, after a batch that changed anything: ``pnl_change()``, the
  daily-loss rule and the record through a :class:`streams.exposure.Coalescer` (at most one
  per interval, a heartbeat), computed only when the coalescer would publish it at once, else
  by :meth:`RiskStage.due` when the interval ends;
- :meth:`RiskStage.due`, on the worker's timer: the coalesced P&L, the account risk of the
  accounts changed (and, in slices, of every account again), the top-N and the account alerts;
- :meth:`RiskStage.state` / :meth:`RiskStage.restore`: the view's state without the partials
  (the compacted internal topic holds those; :meth:`begin_replay` ... :meth:`end_replay`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from streams import exposure as ex
from streams.alerts.engine import RuleEngine
from streams.risk import AccountPartial, RiskView
from streams.risk.survey import OverSurvey, TopSurvey
from streams.worker.pipeline.config import PipelineConfig
from streams.worker.pipeline.records import Output, Record

# Work per call of due() at most (the worker calls it every 5 ms, between inputs): AccountRisk
# records written (~0.1 ms each) and accounts' score rows brought up to date (~35 us each), so
# no call holds the event loop for more than about a millisecond (everything else the worker
# does waits behind it; 100 rows a tick measured p99 3.5 ms per tick and a higher tail at
# 2,000 events/s). Capacity still 1,000 records and 5,000 rows a second.
ACCOUNTS_PER_TICK = 5
ROWS_PER_TICK = 25
# Candidates of a top-N or an account-alert check whose exact figures one call computes (the
# same ~0.1 ms each): a top-N of 20 has up to 60 candidates, done in a dozen calls.
SURVEY_PER_TICK = 5
# A scoring rewrites the stale score rows first, all at once: it starts when at most this many
# are left (a few milliseconds), the ticks meanwhile rewriting more rows each (~2.5 ms), and
# waits at most this many top intervals more (a cold start at 100,000 accounts has them all
# stale; a whole rewrite then would hold the event loop for seconds).
STALE_ROWS_TO_SCORE = 100
CATCH_UP_ROWS_PER_TICK = 40
MAX_WAIT_INTERVALS = 30


class RiskStage:
    """The risk view of the global stage and the outputs it gives; see the module docstring."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.outputs = config.risk_outputs
        self.view = RiskView(config.risk)
        self.coalescer = ex.Coalescer(config.coalesce_s, config.heartbeat_s)
        self.latest_pnl: Record | None = None
        self.dirty = False  # anything changed since the last recompute
        self._accounts_at: float | None = None  # when changed accounts were last written
        self._top_at: float | None = None
        self._alerts_at: float | None = None  # when the account alerts are next due
        self._refresh: list[str] = []  # accounts still to write again in this refresh round
        self._refresh_at = 0.0  # when the refresh round started
        self._refresh_round = 0
        self._round_size = 0
        self._round_written = 0
        self._tick_at: float | None = None  # the previous call of due()
        self._waiting_since: float | None = None  # a scoring waits for stale rows since
        # Accounts whose AccountRisk is due, in order: True if changed (nothing left: a
        # tombstone), False if only the refresh round's (nothing left: nothing written).
        self._to_write: dict[str, bool] = {}
        self._top: TopSurvey | None = None  # a top-N in progress
        self._alerts: OverSurvey | None = None  # an account-alert check in progress

    # --- inputs --------------------------------------------------------------------------------

    def put(self, msg: Mapping[str, Any]) -> None:
        """An ``acct`` message: the latest sums of an account in a positions partition."""
        record = msg["partial"]
        partial = AccountPartial.from_record(record) if record is not None else None
        if self.view.put(f"pos:{msg['p']}", str(msg["a"]), partial, int(msg.get("t") or 0)):
            self.dirty = True

    def quotes(self, msg: Mapping[str, Any]) -> None:
        """The bid and ask per symbol of a ``mids`` message (a message without them, from a
        stage 1 older than P&L, marks at the mids)."""
        t = int(msg.get("t") or 0)
        view = self.view
        quotes: Mapping[str, Any] | None = msg.get("q")
        if quotes is None:
            for symbol, mid in msg["mids"].items():
                self.dirty |= view.on_mid(symbol, float(mid), t)
            return
        for symbol, (bid, ask) in quotes.items():
            self.dirty |= view.on_quote(symbol, bid, ask, t)

    # --- outputs -------------------------------------------------------------------------------

    def recompute(self, rules: RuleEngine, now: float) -> list[Output]:
        """After a batch: when the coalescer would publish a P&L record now, that record and
        its daily-loss alerts; otherwise nothing yet (:meth:`due` computes it when the
        interval ends: one ``pnl_change()`` per published record, not one per batch)."""
        if not self.dirty or not self.coalescer.is_open(now):
            return []
        return self._pnl(rules, now)

    def _pnl(self, rules: RuleEngine, now: float) -> list[Output]:
        self.dirty = False
        record: Record = dict(self.view.pnl_change())
        self.latest_pnl = record
        out = [_alert(a) for a in rules.on_pnl(record)]
        published = self.coalescer.offer(record, now)
        if published is not None:
            out.append(Output("pnl", "global", "PnlChange", published))
        return out

    def due(self, rules: RuleEngine, now: float) -> list[Output]:
        """Periodic: the coalesced or heartbeat P&L, the changed accounts, a slice of the
        refresh round, the top-N and the account alerts."""
        out: list[Output] = []
        if self.dirty and self.coalescer.is_open(now):
            out += self._pnl(rules, now)
        pending = self.coalescer.due(now)  # a heartbeat
        if pending is not None:
            out.append(Output("pnl", "global", "PnlChange", pending))
        every = self.outputs.accounts_interval_s
        if self._accounts_at is None or now - self._accounts_at >= every:
            self._accounts_at = now
            self._to_write.update(dict.fromkeys(self.view.changed_accounts(), True))
        for account in self._refresh_slice(now):
            self._to_write.setdefault(account, False)
        for account in list(itertools.islice(self._to_write, ACCOUNTS_PER_TICK)):
            changed = self._to_write.pop(account)
            record = self.view.account_risk(account)
            if record is not None or changed:
                out.append(_account_output(account, record))
        self._refresh_rows(now)
        # The top-N and the account alerts each score every account: half an interval apart,
        # and each computes its candidates' exact figures a few per call (streams.risk.survey).
        # A scoring first rewrites the rows still stale: when many are (thousands of accounts
        # changed at once), it waits while the ticks catch up, at most MAX_WAIT_INTERVALS.
        every = self.outputs.top_interval_s
        if self._top is None and (self._top_at is None or now - self._top_at >= every):
            if self._may_score(now):
                self._top_at = now
                self._alerts_at = now + every / 2
                self._top = self.view.top_survey()
        elif self._alerts is None and self._alerts_at is not None and now >= self._alerts_at:
            if self._may_score(now):
                self._alerts_at = None
                self._alerts = self._alert_survey(rules)
        if self._top is not None and self._top.step(SURVEY_PER_TICK):
            top: Record = dict(self._top.record())
            self._top = None
            out.append(Output("account_risk_top", "global", "AccountRiskTop", top))
        if self._alerts is not None and self._alerts.step(SURVEY_PER_TICK):
            out += [_alert(a) for a in self._account_alerts(rules, self._alerts)]
            self._alerts = None
        return out

    def _may_score(self, now: float) -> bool:
        """Whether a scoring may start now: few stale rows left, or it has waited
        ``MAX_WAIT_INTERVALS`` top intervals for them."""
        if self.view.refresh_rows(0) <= STALE_ROWS_TO_SCORE:
            self._waiting_since = None
            return True
        if self._waiting_since is None:
            self._waiting_since = now
        if now - self._waiting_since < MAX_WAIT_INTERVALS * self.outputs.top_interval_s:
            return False
        self._waiting_since = None
        return True

    def _refresh_rows(self, now: float) -> None:
        """Score rows of the accounts put since: paced to be done when the next top-N scores
        them, so that an account put several times meanwhile is mostly rewritten once; at most
        ``ROWS_PER_TICK`` a call, ``CATCH_UP_ROWS_PER_TICK`` while a scoring waits for them."""
        last, self._tick_at = self._tick_at, now
        stale = self.view.refresh_rows(0)
        if not stale:
            return
        left = self._top_at + self.outputs.top_interval_s - now if self._top_at is not None else 0
        step = now - last if last is not None else 0.0
        if left <= step:
            count = CATCH_UP_ROWS_PER_TICK if stale > STALE_ROWS_TO_SCORE else ROWS_PER_TICK
        else:
            count = min(ROWS_PER_TICK, math.ceil(stale * step / left))
        if count > 0:
            self.view.refresh_rows(count)

    def _refresh_slice(self, now: float) -> list[str]:
        """Every live account is written again once per ``refresh_s`` (its floating P&L moves
        with the quotes), spread evenly over the round: by time t into the round, t/refresh_s
        of its accounts (a tick writes none when its share is under one account)."""
        every = self.outputs.refresh_s
        if not self._refresh:
            if self._refresh_round and now - self._refresh_at < every:
                return []
            # Every account held, popped from the end; those with nothing left are skipped
            # when their turn comes (no check of 100,000 accounts in one tick).
            self._refresh = self.view.known_accounts()[::-1]
            self._refresh_round += 1
            self._refresh_at = now  # when this round started
            self._round_size = len(self._refresh)
            self._round_written = 0
            return []
        share = min((now - self._refresh_at) / every, 1.0)
        count = min(len(self._refresh), math.floor(self._round_size * share) - self._round_written)
        if count <= 0:
            return []
        self._round_written += count
        return [self._refresh.pop() for _ in range(count)]

    def _alert_survey(self, rules: RuleEngine) -> OverSurvey:
        """Winning accounts and accounts over their limit: the accounts at or above a level
        (the view scores every account, then checks the candidates exactly) and the accounts
        whose alert is open."""
        c = rules.config
        return self.view.over_survey(
            pnl_today=c.account_winning_usd,
            exposure=c.account_exposure_limit_usd * c.account_limit_pct / 100,
            also=rules.accounts_with_alerts(),
        )

    def _account_alerts(self, rules: RuleEngine, survey: OverSurvey) -> list[dict[str, Any]]:
        figures = {
            r["accountId"]: (r["pnlToday"], r["exposure"])
            for r in [*survey.found(), *survey.asked().values()]
        }
        return rules.on_accounts(self.view.event_time, figures)

    # --- recovery ------------------------------------------------------------------------------

    def state(self) -> Record:
        """The view's state without the partials (the internal topic holds those)."""
        return self.view.state(partials=False)

    def restore(self, state: Mapping[str, Any]) -> None:
        self.view.restore(state)
        self.dirty = True


def _account_output(account: str, record: Mapping[str, Any] | None) -> Output:
    """The account's AccountRisk, or a tombstone when it has nothing left."""
    return Output("account_risk", account, "AccountRisk", None if record is None else dict(record))


def _alert(record: Record) -> Output:
    return Output("alerts", record["id"], "Alert", record)
