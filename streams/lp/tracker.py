"""Liquidity-provider performance: reported metrics plus what the stream derives (pure: no I/O).

One global :class:`LpTracker` is fed LP status events (keyed by lpName) and A-book routing
decisions (keyed by symbol, forwarded compactly: :data:`DECISION_FIELDS`). Per LP it keeps:

- the latest reported metrics (``LpStatus``), applied in event-time order: a status older than
  the LP's latest is stale (counted, ignored); a repeated eventId at the latest time is a
  duplicate (counted, ignored);
- ``statusTransitions``: changes of ``status`` between consecutive applied events;
- ``observedUptimePct``: time connected / time observed x 100, in event time, from the LP's first
  status event to the record's time (the latest status is taken to hold until then); None while
  no time has been observed;
- over the rolling window of A-book decisions routed to the LP (eventTime >= newest decision
  time seen for any LP - ``rolling_window_s``): ``rollingRejectRate`` = rejected / all, and fill
  latency p50/p95/p99 over the executionTimeMs of the decisions not rejected (log-linear buckets,
  :mod:`streams.histogram`, within 1/128). Both are None until ``min_decisions`` decisions are in
  the window (the latencies also while it holds no fill).

The window's clock is the newest decision time of *all* LPs, so an LP without flow sees its
window empty as trading goes on elsewhere. Decisions are de-duplicated by eventId among those in
the window; a redelivered one that has left the window is older than its start and dropped as
such, so memory stays bounded by the window. ``on_decision`` is O(log n) (a heap per LP).

One LP's state and its snapshot record are in :mod:`streams.lp.state`. Formulas and worked
numbers: ``docs/routing-and-lp.md``. Errors: :class:`LpStateError` (a
``ValueError``) for a malformed state record; :class:`streams.settings.ConfigError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.histogram import percentiles_of_buckets
from streams.lp.state import METRIC_FIELDS, LpState, LpStateError, opt_int, restore_lp
from streams.settings import check_keys, int_setting
from streams.timeunits import MICROS_PER_S

__all__ = ["DECISION_FIELDS", "FORMAT", "METRIC_FIELDS", "LpConfig", "LpStateError", "LpTracker"]

FORMAT = 1
DECISION_FIELDS = (
    "eventId",
    "eventTime",
    "routingDecision",
    "lpSelected",
    "lpRejected",
    "executionTimeMs",
)
"""The RoutingDecision fields on_decision reads; forward only these to the tracker."""

_MAX_WINDOW_S = 86_400


@dataclass(frozen=True, slots=True)
class LpConfig:
    """Rolling window of routing decisions (seconds of event time) and the decisions it needs
    before the derived rates and latencies are reported."""

    rolling_window_s: int = 300
    min_decisions: int = 20

    def __post_init__(self) -> None:
        int_setting("lp.rolling_window_s", self.rolling_window_s, 1, _MAX_WINDOW_S)
        int_setting("lp.min_decisions", self.min_decisions, 1, 1_000_000)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], prefix: str = "lp") -> LpConfig:
        """From a TOML table (``[lp]``): keys ``rolling_window_s`` and ``min_decisions``."""
        check_keys(prefix, m, ("rolling_window_s", "min_decisions"))
        return cls(
            rolling_window_s=int_setting(
                f"{prefix}.rolling_window_s", m.get("rolling_window_s", 300), 1, _MAX_WINDOW_S
            ),
            min_decisions=int_setting(
                f"{prefix}.min_decisions", m.get("min_decisions", 20), 1, 1_000_000
            ),
        )


class LpTracker:
    """Per-LP reported and derived metrics; see the module docstring.

    Counters: ``duplicate_statuses``, ``stale_statuses``, ``duplicate_decisions``,
    ``late_decisions`` (older than the rolling window's start on arrival)."""

    def __init__(self, config: LpConfig | None = None) -> None:
        self.config = config or LpConfig()
        self._lps: dict[str, LpState] = {}
        self._newest_decision: int | None = None
        self.duplicate_statuses = 0
        self.stale_statuses = 0
        self.duplicate_decisions = 0
        self.late_decisions = 0

    def _lp(self, name: str) -> LpState:
        lp = self._lps.get(name)
        if lp is None:
            lp = self._lps[name] = LpState()
        return lp

    @property
    def _cutoff(self) -> int | None:
        """Start of the rolling window (inclusive), or None before any decision."""
        if self._newest_decision is None:
            return None
        return self._newest_decision - self.config.rolling_window_s * MICROS_PER_S

    def lps(self) -> list[str]:
        """The LPs with at least one status event, sorted."""
        return sorted(name for name, lp in self._lps.items() if lp.metrics is not None)

    # --- inputs --------------------------------------------------------------------------------

    def on_status(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a validated LpStatus; returns that LP's LpPerformance record."""
        name: str = record["lpName"]
        event_id: str = record["eventId"]
        t = int(record["eventTime"])
        lp = self._lp(name)
        if lp.metrics is None:
            lp.first_time = lp.last_time = t
        elif t < lp.last_time:
            self.stale_statuses += 1
            return self._performance(name, lp, t)
        elif t == lp.last_time and event_id in lp.ids_at_last:
            self.duplicate_statuses += 1
            return self._performance(name, lp, t)
        else:
            if lp.metrics["status"] == "connected":
                lp.connected_us += t - lp.last_time
            if record["status"] != lp.metrics["status"]:
                lp.transitions += 1
            if t > lp.last_time:
                lp.ids_at_last.clear()
                lp.last_time = t
        lp.ids_at_last.add(event_id)
        lp.metrics = {key: record[key] for key in METRIC_FIELDS}
        return self._performance(name, lp, t)

    def on_decision(self, record: Mapping[str, Any]) -> str | None:
        """Count a routing decision (only :data:`DECISION_FIELDS` are read); returns the LP of
        an A-book decision that entered its window, else None. Every decision moves the window
        clock; other LPs' windows follow on their next record."""
        t = int(record["eventTime"])
        if self._newest_decision is None or t > self._newest_decision:
            self._newest_decision = t
        name = record.get("lpSelected")
        if record.get("routingDecision") != "ABOOK" or not isinstance(name, str) or not name:
            return None
        lp = self._lp(name)
        if lp.newest_decision is None or t > lp.newest_decision:
            lp.newest_decision = t  # also when late, so it does not depend on arrival order
        cutoff = self._cutoff
        if cutoff is not None and t < cutoff:
            self.late_decisions += 1
            return None
        event_id: str = record["eventId"]
        if event_id in lp.ids:
            self.duplicate_decisions += 1
            return None
        exec_ms = float(record["executionTimeMs"])
        if not 0 <= exec_ms < math.inf:
            raise ValueError(f"executionTimeMs={exec_ms!r}: expected a finite value >= 0")
        lp.push((t, event_id, bool(record.get("lpRejected", False)), exec_ms))
        if cutoff is not None:
            lp.evict(cutoff)
        return name

    # --- outputs -------------------------------------------------------------------------------

    def performance(self, lp: str, now_micros: int) -> dict[str, Any] | None:
        """The LP's LpPerformance record as of ``max(now_micros, its latest input)`` (event
        time), or None before its first status event."""
        state = self._lps.get(lp)
        if state is None or state.metrics is None:
            return None
        return self._performance(lp, state, now_micros)

    def _performance(self, name: str, lp: LpState, now: int) -> dict[str, Any]:
        metrics = lp.metrics
        if metrics is None:  # pragma: no cover - callers check
            raise ValueError(f"LP {name}: no status yet")
        as_of = max(now, lp.last_time, lp.newest_decision or 0)
        observed = as_of - lp.first_time
        connected = lp.connected_us + (
            as_of - lp.last_time if metrics["status"] == "connected" else 0
        )
        cutoff = self._cutoff
        if cutoff is not None:
            lp.evict(cutoff)
        decisions = len(lp.heap)
        enough = decisions >= self.config.min_decisions
        p50, p95, p99 = (
            percentiles_of_buckets((50, 95, 99), lp.zeros, lp.buckets) if enough else [None] * 3
        )
        return {
            "eventTime": as_of,
            "lpName": name,
            **metrics,
            "statusTransitions": lp.transitions,
            "observedUptimePct": connected * 100 / observed if observed > 0 else None,
            "rollingRejectRate": lp.rejected / decisions if enough else None,
            "fillLatencyP50Ms": p50,
            "fillLatencyP95Ms": p95,
            "fillLatencyP99Ms": p99,
        }

    # --- snapshots -----------------------------------------------------------------------------

    def state(self, max_decisions: int | None = None) -> dict[str, Any]:
        """JSON-able snapshot; ``restore`` of it gives a tracker that behaves the same and whose
        ``state()`` is equal. Decisions that have left the window are not included.

        ``max_decisions`` bounds the snapshot's size (the worker writes it as one Kafka message):
        each LP keeps at most its share (``max_decisions`` / number of LPs, at least 100) of
        its newest decisions; a tracker restored from such a snapshot computes its rolling
        figures over those until the window fills again."""
        cutoff = self._cutoff
        lps: dict[str, Any] = {}
        share = None
        if max_decisions is not None and self._lps:
            share = max(100, max_decisions // len(self._lps))
        for name in sorted(self._lps):
            lp = self._lps[name]
            if cutoff is not None:
                lp.evict(cutoff)
            lps[name] = lp.record(share)
        return {
            "format": FORMAT,
            "newestDecision": self._newest_decision,
            "lps": lps,
            "counters": {
                "duplicateStatuses": self.duplicate_statuses,
                "staleStatuses": self.stale_statuses,
                "duplicateDecisions": self.duplicate_decisions,
                "lateDecisions": self.late_decisions,
            },
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace this tracker's state with a :meth:`state` snapshot."""
        if not isinstance(state, Mapping) or state.get("format") != FORMAT:
            raise LpStateError(f"expected a format-{FORMAT} LP tracker state, got {state!r:.200}")
        newest = opt_int(state.get("newestDecision"), "newestDecision")
        raw_lps = state.get("lps")
        counters = state.get("counters")
        if not isinstance(raw_lps, Mapping) or not isinstance(counters, Mapping):
            raise LpStateError("state.lps, state.counters: expected objects")
        lps = {}
        for name, raw in raw_lps.items():
            if not isinstance(name, str) or not isinstance(raw, Mapping):
                raise LpStateError(f"state.lps.{name!r}: expected an object")
            lps[name] = restore_lp(name, raw)
        values = []
        for key in ("duplicateStatuses", "staleStatuses", "duplicateDecisions", "lateDecisions"):
            value = counters.get(key)
            if type(value) is not int or value < 0:
                raise LpStateError(f"state.counters.{key}: expected an integer >= 0")
            values.append(value)
        self._lps, self._newest_decision = lps, newest
        (
            self.duplicate_statuses,
            self.stale_statuses,
            self.duplicate_decisions,
            self.late_decisions,
        ) = values
