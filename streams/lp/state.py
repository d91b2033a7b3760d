"""The state of one liquidity provider in :class:`streams.lp.tracker.LpTracker` (pure: no I/O):
its latest reported metrics and status bookkeeping, and its rolling window of A-book decisions
(a heap by event time, with the counts the reject rate and fill-latency percentiles need), and
that state as a JSON-able record for the tracker's snapshots.

Errors: :class:`LpStateError` (a :class:`streams.errors.StateError`, so a ``ValueError``) for a
malformed state record.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from typing import Any

from streams.errors import StateError
from streams.histogram import bucket_index

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

# (eventTime, eventId, rejected, executionTimeMs); ordered by time, then id (unique per LP).
Entry = tuple[int, str, bool, float]


class LpStateError(StateError):
    """A state record given to :meth:`streams.lp.tracker.LpTracker.restore` is malformed."""


class LpState:
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
        self.heap: list[Entry] = []
        self.ids: set[str] = set()
        self.rejected = 0
        self.zeros = 0  # fills with executionTimeMs == 0
        self.buckets: dict[int, int] = {}  # fills: bucket index -> count
        self.newest_decision: int | None = None

    def push(self, entry: Entry) -> None:
        heapq.heappush(self.heap, entry)
        self.ids.add(entry[1])
        self._count(entry, +1)

    def evict(self, cutoff: int) -> None:
        heap = self.heap
        while heap and heap[0][0] < cutoff:
            entry = heapq.heappop(heap)
            self.ids.discard(entry[1])
            self._count(entry, -1)

    def _count(self, entry: Entry, delta: int) -> None:
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

    def record(self, share: int | None) -> dict[str, Any]:
        """This LP as a JSON-able record, with at most its ``share`` newest decisions (all when
        None); :func:`restore_lp` reads it back."""
        return {
            "metrics": self.metrics,
            "firstTime": self.first_time,
            "lastTime": self.last_time,
            "connectedUs": self.connected_us,
            "transitions": self.transitions,
            "idsAtLast": sorted(self.ids_at_last),
            "newestDecision": self.newest_decision,
            "decisions": [list(e) for e in sorted(self.heap)[-share if share else 0 :]],
        }


def opt_int(value: Any, key: str) -> int | None:
    """``value`` if it is an int or None, else :class:`LpStateError` naming ``state.<key>``."""
    if value is not None and type(value) is not int:
        raise LpStateError(f"state.{key}: expected an integer or null")
    return value


def _int(value: Any, key: str) -> int:
    if type(value) is not int:
        raise LpStateError(f"state.{key}: expected an integer")
    return value


def restore_lp(name: str, raw: Mapping[str, Any]) -> LpState:
    """An LP from its :meth:`LpState.record`; :class:`LpStateError` if it is malformed."""
    where = f"lps.{name}"
    lp = LpState()
    metrics = raw.get("metrics")
    if metrics is not None:
        if not isinstance(metrics, Mapping) or set(metrics) != set(METRIC_FIELDS):
            raise LpStateError(f"state.{where}.metrics: expected the LpStatus metric fields")
        lp.metrics = {key: metrics[key] for key in METRIC_FIELDS}
    lp.first_time = _int(raw.get("firstTime"), f"{where}.firstTime")
    lp.last_time = _int(raw.get("lastTime"), f"{where}.lastTime")
    lp.connected_us = _int(raw.get("connectedUs"), f"{where}.connectedUs")
    lp.transitions = _int(raw.get("transitions"), f"{where}.transitions")
    lp.newest_decision = opt_int(raw.get("newestDecision"), f"{where}.newestDecision")
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
