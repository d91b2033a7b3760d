"""Alert rules: exposure snapshots, the broker's P&L, account figures, LP status and metrics,
routing summaries -> Alert records.

Pure logic (no I/O, no clock, no randomness). The stream processor feeds a :class:`RuleEngine`
with decoded records and writes the Alert records it returns (``schemas/avro/Alert.avsc``) to the
persisted alert log. Time is only ever the event time of an input (or the ``now`` given to
:meth:`RuleEngine.tick`), and every alert id is derived from its cause
(:func:`streams.alerts.records.alert_id`), so a replay from the start, or a redelivery after
:meth:`RuleEngine.restore`, yields the same ids and the worker can drop the ones it already
wrote. ``docs/alerts.md`` describes every rule.

This module holds the engine (its inputs and snapshots); the hysteresis and the transitions are
in :mod:`streams.alerts.leveled`, the rule definitions (levels, thresholds, titles, action
items) in :mod:`streams.alerts.rules`, and ids, time helpers and ServiceAlert conversion in
:mod:`streams.alerts.records`. The engine knows nothing of how figures are computed: the
worker's pipeline gives it numbers (the P&L record, each account's P&L today and exposure).

Leveled rules with hysteresis: a subject (the book, a symbol, an LP...) has at most one open
alert per rule. A value enters the highest level whose threshold it reaches; it leaves a level
only when it falls below that level's threshold minus the rule's margin. Each change resolves the
open alert (a RESOLVED entry whose ``resolvesId`` names it) before raising the new one.

Inputs whose event time is older than the last one accepted for the same stream and key are
ignored: each input is a snapshot of the latest state, so an older one is superseded, and a
redelivered one must not flip a rule back.

Exceptions::

    ValueError
     +-- streams.settings.ConfigError   a rules file or setting is invalid (names the key path)
     +-- AlertStateError              restore() was given a malformed snapshot
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from streams.alerts.config import RulesConfig as RulesConfig
from streams.alerts.ids import AlertIds
from streams.alerts.leveled import LeveledRules, Open
from streams.alerts.records import Alert, iso, micros
from streams.alerts.records import alert_id as alert_id  # re-exported: tests/reliability use it
from streams.alerts.rules import build_rules, positive_limits
from streams.errors import StateError

STATE_VERSION: Final = 1


class AlertStateError(StateError):
    """A snapshot given to :meth:`RuleEngine.restore` is malformed or of another version."""


# --- the engine ------------------------------------------------------------------------------


@dataclass(slots=True)
class _LpSeen:
    time: int
    event_id: str


class RuleEngine(LeveledRules):
    """All alert rules with their open alerts; deterministic, snapshot-able (state/restore)."""

    def __init__(
        self,
        config: RulesConfig,
        *,
        limits_by_symbol: Mapping[str, float] = {},  # noqa: B006 - read only, never mutated
        limits_by_currency: Mapping[str, float] = {},  # noqa: B006
    ) -> None:
        self.config = c = config
        self._symbol_limits = positive_limits("limits_by_symbol", limits_by_symbol)
        self._currency_limits = positive_limits("limits_by_currency", limits_by_currency)
        self._silent_us = round(c.lp_silent_after_s * 1_000_000)
        rules = build_rules(c)
        super().__init__(rules)
        (
            self._utilization,
            self._symbol,
            self._currency,
            self._lp_connection,
            self._lp_silent,
            self._reject,
            self._latency,
            self._abook,
            self._daily_loss,
            self._winning,
            self._account_limit,
        ) = rules
        self._lp: dict[str, _LpSeen] = {}

    # --- inputs ------------------------------------------------------------------------------

    def on_exposure(self, snapshot: Mapping[str, Any]) -> list[Alert]:
        """An ExposureChange record: utilisation levels, then per-symbol and per-currency limits
        (configured ones only, in name order). With a ``basis`` the limits apply to the
        figures on that basis (``basisBySymbol``, ``basisByCurrency``), as the utilisation."""
        t = micros(snapshot["eventTime"])
        if not self._accept("exposure", "", t):
            return []
        pct = float(snapshot["utilizationPct"])
        out = self._leveled(
            self._utilization, "total", pct, t, "", f"Current exposure is at {pct:.1f}% of limit"
        )
        on_basis = snapshot.get("basis") is not None
        by_symbol: Mapping[str, float] = (
            snapshot.get("basisBySymbol" if on_basis else "bySymbol") or {}
        )
        by_currency: Mapping[str, float] = (
            snapshot.get("basisByCurrency" if on_basis else "byCurrency") or {}
        )
        for rule, limits, amounts, what in (
            (self._symbol, self._symbol_limits, by_symbol, "exposure"),
            (self._currency, self._currency_limits, by_currency, "net exposure"),
        ):
            for subject in sorted(limits):
                amount = float(amounts.get(subject, 0.0))
                value = abs(amount) / limits[subject] * 100
                text = (
                    f"{subject} {what} is {amount:,.2f} USD, {value:.1f}% of its "
                    f"{limits[subject]:,.2f} USD limit"
                )
                out += self._leveled(rule, subject, value, t, "", text)
            # An alert restored from a snapshot taken with a limit that is no longer configured.
            for subject in sorted(set(self._open[rule.rule_id]) - set(limits)):
                note = f"{subject}: limit no longer configured"
                out += self._transition(rule, subject, None, t, "", None, None, note)
        return out

    def on_pnl(self, record: Mapping[str, Any]) -> list[Alert]:
        """A PnlChange record: the daily-loss levels on the broker's B-book P&L today (its
        ``total``: floating + realised today); the loss is -total, in USD."""
        t = micros(record["eventTime"])
        if not self._accept("pnl", "", t):
            return []
        total = float(record["total"])
        text = (
            f"B-book P&L today is {total:,.2f} USD ({float(record['floating']):,.2f} floating, "
            f"{float(record['realizedToday']):,.2f} realised; trading day "
            f"{record.get('tradingDay') or '?'})"
        )
        return self._leveled(self._daily_loss, "bbook", -total, t, "", text)

    def on_accounts(self, t: int, figures: Mapping[str, tuple[float, float]]) -> list[Alert]:
        """Accounts' (P&L today, exposure) in USD at event time ``t``: the winning-account
        level and the per-account exposure limit. ``figures`` holds the accounts at or above a
        level and those with an open alert (:meth:`accounts_with_alerts`); an account with an
        open alert missing from it counts as 0 (it has nothing left)."""
        if not self._accept("accounts", "", t):
            return []
        limit = self.config.account_exposure_limit_usd
        out: list[Alert] = []
        for account in sorted({*figures, *self.accounts_with_alerts()}):
            pnl, exposure = figures.get(account, (0.0, 0.0))
            text = f"Account {account} P&L today is {pnl:,.2f} USD"
            out += self._leveled(self._winning, account, pnl, t, "", text)
            pct = exposure * 100 / limit
            text = (
                f"Account {account} exposure is {exposure:,.2f} USD, {pct:.1f}% of the "
                f"{limit:,.2f} USD per-account limit"
            )
            out += self._leveled(self._account_limit, account, pct, t, "", text)
        return out

    def accounts_with_alerts(self) -> list[str]:
        """Accounts with an open winning-account or account-limit alert (sorted)."""
        rules = (self._winning.rule_id, self._account_limit.rule_id)
        return sorted({a for rid in rules for a in self._open[rid]})

    def on_lp_status(self, record: Mapping[str, Any]) -> list[Alert]:
        """An LpStatus record: resolves "LP Silent", raises or resolves "LP Connection Lost"."""
        lp = str(record["lpName"])
        t = micros(record["eventTime"])
        event_id = str(record.get("eventId") or "")
        seen = self._lp.get(lp)
        if seen is not None and t < seen.time:
            return []
        self._lp[lp] = _LpSeen(t, event_id)
        status = str(record["status"])
        out: list[Alert] = []
        if lp in self._open[self._lp_silent.rule_id]:
            note = f"{lp} reported again at {iso(t)} ({status})"
            out += self._transition(self._lp_silent, lp, None, t, event_id, None, None, note)
        is_open = lp in self._open[self._lp_connection.rule_id]
        if status == "disconnected" and not is_open:
            text = f"{lp} disconnected at {iso(t)}"
            out += self._transition(self._lp_connection, lp, "lost", t, event_id, None, None, text)
        elif status == "connected" and is_open:
            text = f"{lp} reconnected at {iso(t)}"
            out += self._transition(self._lp_connection, lp, None, t, event_id, None, None, text)
        return out

    def on_lp_performance(self, record: Mapping[str, Any]) -> list[Alert]:
        """An LpPerformance record: reject rate (rolling when known) and latency (p95 fill
        latency when known) against their thresholds."""
        lp = str(record["lpName"])
        t = micros(record["eventTime"])
        if not self._accept("lpPerformance", lp, t):
            return []
        rate, rate_name = record.get("rollingRejectRate"), "rolling reject rate"
        if rate is None:
            rate, rate_name = record["rejectRate"], "reject rate"
        rate = float(rate)
        latency, latency_name = record.get("fillLatencyP95Ms"), "p95 fill latency"
        if latency is None:
            latency, latency_name = record["latencyMs"], "latency"
        latency = float(latency)
        out = self._leveled(self._reject, lp, rate, t, "", f"{lp} {rate_name} is {rate:.1%}")
        out += self._leveled(
            self._latency, lp, latency, t, "", f"{lp} {latency_name} is {latency:.0f} ms"
        )
        return out

    def on_routing_summary(self, record: Mapping[str, Any]) -> list[Alert]:
        """A RoutingSummary window: A-book share by count against the configured band. The cause
        time is the window end; windows with fewer than min_window_count decisions are skipped."""
        c = self.config
        start, end = micros(record["windowStart"]), micros(record["windowEnd"])
        if not c.abook_share_enabled:
            # An alert restored from a snapshot taken while the band was on is closed.
            off = "A-book share band turned off"
            return self._transition(self._abook, "abook", None, end, "", None, None, off)
        if int(record["count"]) < c.routing_min_window_count:
            return []
        if not self._accept("routing", "", end):
            return []
        share = float(record["abookShareByCountPct"])
        if math.isnan(share):
            return []
        low, high, margin = c.abook_share_min_pct, c.abook_share_max_pct, c.abook_share_margin_pct
        opened = self._open[self._abook.rule_id].get("abook")
        current = opened.level if opened is not None else None
        new: str | None
        if current == "low":
            new = current if share < low + margin else ("high" if share > high else None)
        elif current == "high":
            new = current if share > high - margin else ("low" if share < low else None)
        else:
            new = "low" if share < low else ("high" if share > high else None)
        if new == current:
            return []
        crossed = {
            "low": low,
            "high": high,
            None: low + margin if current == "low" else high - margin,
        }
        text = (
            f"A-book share is {share:.1f}% of {int(record['count'])} decisions in the window "
            f"ending {iso(end)} (band {low:g}%..{high:g}%)"
        )
        note = f"{text}: back in band" if new is None else None
        return self._transition(
            self._abook, "abook", new, end, f"window:{start}", share, crossed[new], text, note
        )

    def tick(self, now_micros: int) -> list[Alert]:
        """Time-based rules as of ``now_micros``: an LP whose last status is older than
        silent_after_s is silent. The alert's time is last seen + silent_after_s, so its id does
        not depend on when tick() ran."""
        out: list[Alert] = []
        rule = self._lp_silent
        for lp in sorted(self._lp):
            seen = self._lp[lp]
            if lp in self._open[rule.rule_id] or now_micros - seen.time <= self._silent_us:
                continue
            text = (
                f"No status from {lp} for more than {self.config.lp_silent_after_s:g} s "
                f"(last at {iso(seen.time)})"
            )
            out += self._transition(
                rule,
                lp,
                "silent",
                seen.time + self._silent_us,
                seen.event_id,
                None,
                self.config.lp_silent_after_s,
                text,
            )
        return out

    # --- snapshot ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this engine is, as JSON-able data."""
        recent_ids, recent_max_s = self.ids.state()
        return {
            "version": STATE_VERSION,
            "open": {
                rid: {s: [o.id, o.level, o.title] for s, o in sorted(subjects.items())}
                for rid, subjects in sorted(self._open.items())
                if subjects
            },
            "lastTime": {k: dict(sorted(v.items())) for k, v in sorted(self._last.items())},
            "lpSeen": {lp: [s.time, s.event_id] for lp, s in sorted(self._lp.items())},
            "recentIds": recent_ids,
            "recentMaxS": recent_max_s,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace this engine's state with a snapshot from :meth:`state`."""
        if not isinstance(state, Mapping) or state.get("version") != STATE_VERSION:
            raise AlertStateError(f"expected an alert-engine snapshot of version {STATE_VERSION}")
        try:
            opened: dict[str, dict[str, Open]] = {rid: {} for rid in self._rules}
            for rid, subjects in state["open"].items():
                rule = self._rules[rid]
                for subject, (aid, level, title) in subjects.items():
                    rule.level(level)
                    opened[rid][str(subject)] = Open(str(aid), str(level), str(title))
            last = {
                str(k): {str(key): int(t) for key, t in v.items()}
                for k, v in state["lastTime"].items()
            }
            lp = {str(n): _LpSeen(int(t), str(e)) for n, (t, e) in state["lpSeen"].items()}
            ids = AlertIds.restore(state["recentIds"], state["recentMaxS"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AlertStateError(f"malformed alert-engine snapshot: {exc!r}") from exc
        self._open, self._last, self._lp, self.ids = opened, last, lp, ids
