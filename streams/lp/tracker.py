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

Formulas and worked numbers: ``docs/routing-and-lp.md``. Errors: :class:`LpStateError` (a
``ValueError``) for a malformed state record; :class:`streams.settings.ConfigError`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streams.errors import StateError
from streams.histogram import bucket_index, percentiles_of_buckets
from streams.routing.windows import MICROS_PER_S
from streams.settings import check_keys, int_setting

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

METRIC_FIELDS = (
    "status",
    "avgSpread",
    "executionQuality",
    "latencyMs",
    "quotesPerSecond",
    "rejectRate",
    "uptime",
)
"""The LpStatus fields passed through to LpPerformance."""

_MAX_WINDOW_S = 86_400


class LpStateError(StateError):
    """A state record given to :meth:`LpTracker.restore` is malformed."""


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


# (eventTime, eventId, rejected, executionTimeMs); ordered by time, then id (unique per LP).
_Entry = tuple[int, str, bool, float]


class _Lp:
    """State of one LP."""

    __slots__ = (
        "buckets",
        "connected_us",
        "first_time",
        "heap",
        "ids",
        "ids_at_last",
        "last_time",
        "metrics",
        "newest_decision",
        "rejected",
        "transitions",
        "zeros",
    )

    def __init__(self) -> None:
        # Status: None until the first status event.
        self.metrics: dict[str, Any] | None = None
        self.first_time = 0
        self.last_time = 0
        self.connected_us = 0  # connected time between first_time and last_time
        self.transitions = 0
        self.ids_at_last: set[str] = set()  # status eventIds at last_time
        # Rolling window of A-book decisions routed to this LP.
        self.heap: list[_Entry] = []
        self.ids: set[str] = set()
        self.rejected = 0
        self.zeros = 0  # fills with executionTimeMs == 0
        self.buckets: dict[int, int] = {}  # fills: bucket index -> count
        self.newest_decision: int | None = None

    def push(self, entry: _Entry) -> None:
        heapq.heappush(self.heap, entry)
        self.ids.add(entry[1])
        self._count(entry, +1)

    def evict(self, cutoff: int) -> None:
        heap = self.heap
        while heap and heap[0][0] < cutoff:
            entry = heapq.heappop(heap)
            self.ids.discard(entry[1])
            self._count(entry, -1)

    def _count(self, entry: _Entry, delta: int) -> None:
        _, _, rejected, exec_ms = entry
        if rejected:
            self.rejected += delta
        elif exec_ms == 0:
            self.zeros += delta
        else:
            index = bucket_index(exec_ms)
            n = self.buckets.get(index, 0) + delta
            if n:
                self.buckets[index] = n
            else:
                del self.buckets[index]


class LpTracker:
    """Per-LP reported and derived metrics; see the module docstring.

    Counters: ``duplicate_statuses``, ``stale_statuses``, ``duplicate_decisions``,
    ``late_decisions`` (older than the rolling window's start on arrival)."""

    def __init__(self, config: LpConfig | None = None) -> None:
        self.config = config or LpConfig()
        self._lps: dict[str, _Lp] = {}
        self._newest_decision: int | None = None
        self.duplicate_statuses = 0
        self.stale_statuses = 0
        self.duplicate_decisions = 0
        self.late_decisions = 0

    def _lp(self, name: str) -> _Lp:
        lp = self._lps.get(name)
        if lp is None:
            lp = self._lps[name] = _Lp()
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

    def _performance(self, name: str, lp: _Lp, now: int) -> dict[str, Any]:
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
            lps[name] = {
                "metrics": lp.metrics,
                "firstTime": lp.first_time,
                "lastTime": lp.last_time,
                "connectedUs": lp.connected_us,
                "transitions": lp.transitions,
                "idsAtLast": sorted(lp.ids_at_last),
                "newestDecision": lp.newest_decision,
                "decisions": [list(e) for e in sorted(lp.heap)[-share if share else 0 :]],
            }
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
        newest = _opt_int(state.get("newestDecision"), "newestDecision")
        raw_lps = state.get("lps")
        counters = state.get("counters")
        if not isinstance(raw_lps, Mapping) or not isinstance(counters, Mapping):
            raise LpStateError("state.lps, state.counters: expected objects")
        lps = {}
        for name, raw in raw_lps.items():
            if not isinstance(name, str) or not isinstance(raw, Mapping):
                raise LpStateError(f"state.lps.{name!r}: expected an object")
            lps[name] = _restore_lp(name, raw)
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


def _opt_int(value: Any, key: str) -> int | None:
    if value is not None and type(value) is not int:
        raise LpStateError(f"state.{key}: expected an integer or null")
    return value


def _int(value: Any, key: str) -> int:
    if type(value) is not int:
        raise LpStateError(f"state.{key}: expected an integer")
    return value


def _restore_lp(name: str, raw: Mapping[str, Any]) -> _Lp:
    where = f"lps.{name}"
    lp = _Lp()
    metrics = raw.get("metrics")
    if metrics is not None:
        if not isinstance(metrics, Mapping) or set(metrics) != set(METRIC_FIELDS):
            raise LpStateError(f"state.{where}.metrics: expected the LpStatus metric fields")
        lp.metrics = {key: metrics[key] for key in METRIC_FIELDS}
    lp.first_time = _int(raw.get("firstTime"), f"{where}.firstTime")
    lp.last_time = _int(raw.get("lastTime"), f"{where}.lastTime")
    lp.connected_us = _int(raw.get("connectedUs"), f"{where}.connectedUs")
    lp.transitions = _int(raw.get("transitions"), f"{where}.transitions")
    lp.newest_decision = _opt_int(raw.get("newestDecision"), f"{where}.newestDecision")
    ids = raw.get("idsAtLast")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise LpStateError(f"state.{where}.idsAtLast: expected a list of strings")
    lp.ids_at_last = set(ids)
    rows = raw.get("decisions")
    if not isinstance(rows, list):
        raise LpStateError(f"state.{where}.decisions: expected a list")
    for i, row in enumerate(rows):
        if not (
            isinstance(row, list)
            and len(row) == 4
            and type(row[0]) is int
            and isinstance(row[1], str)
            and type(row[2]) is bool
            and (type(row[3]) is float or type(row[3]) is int)
            and 0 <= row[3] < math.inf
            and row[1] not in lp.ids
        ):
            raise LpStateError(
                f"state.{where}.decisions[{i}]: expected [eventTime, eventId, rejected, "
                f"executionTimeMs] with a new eventId, got {row!r:.200}"
            )
        lp.push((row[0], row[1], row[2], float(row[3])))
    return lp
