"""Routing metrics over event-time windows, in two stages (pure: no I/O).

Any number of workers may split the routing-decision partitions, and the output must equal one
worker's; delivery is at-least-once. So::

    decisions of partition p --> PartitionWindows (stage 1) --drain()--> (window, partial record)
        --> internal topic --> WindowMerger (stage 2, one instance) --close_ready()--> summaries

Windows are aligned to multiples of ``window_s`` from the epoch, half-open ``[start, end)``, in
event time (``eventTime``, int micros UTC); the wall clock is never read. A partition's
watermark is its maximum event time minus ``allowed_lateness_s``; stage 1 drops (and counts)
a decision whose window already ended at or before its partition's watermark. Stage 2 closes a
window when its end is at or before the *global* watermark, the maximum of the partitions'
watermarks, emits its ``RoutingSummary`` once, in window order, and counts (and ignores)
partials that arrive for a window it has already closed.

A :class:`WindowPartial` keeps, per eventId, the few numbers each decision contributes. That
makes de-duplication exact everywhere: a redelivered decision is recognised in stage 1, and if
the same eventId reaches stage 2 twice (two partitions, two versions of a partial, a stage-1
restart) the merge is a union keyed by eventId, so nothing counts twice. The merge is
commutative, associative and idempotent, so partials may arrive in any order and any number of
times, and the latest partial of a (partition, window) may supersede or be merged with earlier
ones: the result is the same. Sums are ``math.fsum`` (correctly rounded, independent of order),
so a summary does not depend on how decisions were split or interleaved. Formulas and
semantics: ``docs/routing-and-lp.md``.

Errors: :class:`PartialError` (a ``ValueError``) for a malformed partial or state record, and
:class:`streams.config.ConfigError` for bad settings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from streams.config import check_keys, int_setting
from streams.histogram import Histogram

MICROS_PER_S = 1_000_000
NO_WATERMARK = -(2**63)
"""The watermark before any event: below every window end."""

FORMAT = 1
_FX_PAIR = re.compile(r"[A-Z]{6}")
_MAX_WINDOW_S = 86_400


class PartialError(ValueError):
    """A partial or state record (from the internal topic or a snapshot) is malformed."""


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    """Window length and how late (in event time) a decision may arrive, in seconds."""

    window_s: int = 60
    allowed_lateness_s: int = 5

    def __post_init__(self) -> None:
        int_setting("routing.window_s", self.window_s, 1, _MAX_WINDOW_S)
        int_setting("routing.allowed_lateness_s", self.allowed_lateness_s, 0, _MAX_WINDOW_S)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], prefix: str = "routing") -> RoutingConfig:
        """From a TOML table (``[routing]``): keys ``window_s`` and ``allowed_lateness_s``."""
        check_keys(prefix, m, ("window_s", "allowed_lateness_s"))
        return cls(
            window_s=int_setting(f"{prefix}.window_s", m.get("window_s", 60), 1, _MAX_WINDOW_S),
            allowed_lateness_s=int_setting(
                f"{prefix}.allowed_lateness_s", m.get("allowed_lateness_s", 5), 0, _MAX_WINDOW_S
            ),
        )

    @property
    def window_us(self) -> int:
        return self.window_s * MICROS_PER_S

    @property
    def lateness_us(self) -> int:
        return self.allowed_lateness_s * MICROS_PER_S

    def window_start(self, event_time: int) -> int:
        """The start of the window holding ``event_time``: a multiple of the window length."""
        return event_time - event_time % self.window_us


def base_currency(symbol: str) -> str:
    """EURUSD -> EUR (six letters A-Z split 3+3); any other symbol is its own base (US500)."""
    return symbol[:3] if _FX_PAIR.fullmatch(symbol) else symbol


# --------------------------------------------------------------------------------------------
# One window of decisions


class Contribution(NamedTuple):
    """What one routing decision adds to its window's metrics; in the order of a partial
    record's row (after the eventId), so a row is compared with one tuple comparison."""

    event_time: int
    volume: float
    notional_usd: float | None  # None: no USD rate for the base currency (counted as 0)
    book: str  # ABOOK or BBOOK
    lp: str | None  # the LP of an A-book decision
    execution_time_ms: float
    slippage: float

    @property
    def abook(self) -> bool:
        return self.book == "ABOOK"

    def row(self, event_id: str) -> list[Any]:
        return [event_id, *self]


def _sum(values: Iterable[float]) -> float:
    """The correctly rounded sum (math.fsum: independent of the order), with -0.0 as 0.0."""
    return math.fsum(values) + 0.0


def _preferred(event_id: str, a: Contribution, b: Contribution) -> Contribution:
    """Of two different contributions under one eventId (a producer bug), the one whose row
    sorts first as JSON text: an arbitrary but order-independent choice, so merges commute."""
    ka = json.dumps(a.row(event_id))
    kb = json.dumps(b.row(event_id))
    return a if ka <= kb else b


class WindowPartial:
    """The decisions of one window (of one partition, or merged): eventId -> Contribution.

    The metrics (count, volume, notional_usd, A-/B-book counts and volume, by_lp, the
    execution-time histogram, slippage sum and sign counts, max event time) are derived from
    the contributions, so merging is a union keyed by eventId: exact de-duplication."""

    __slots__ = ("_rows", "window_end", "window_start")

    def __init__(self, window_start: int, window_end: int) -> None:
        if not 0 <= window_start < window_end:
            raise PartialError(f"window [{window_start}, {window_end}): not a window")
        self.window_start = window_start
        self.window_end = window_end
        self._rows: dict[str, Contribution] = {}

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, event_id: str, contribution: Contribution) -> bool:
        """Add one decision; True if the partial changed. A known eventId with the same
        contribution changes nothing; with a different one it is resolved as in :meth:`merge`
        (an order-independent choice, so any split and order of the decisions agree)."""
        if not self.window_start <= contribution.event_time < self.window_end:
            raise PartialError(
                f"event {event_id}: time {contribution.event_time} is outside the window "
                f"[{self.window_start}, {self.window_end})"
            )
        old = self._rows.get(event_id)
        if old is None:
            self._rows[event_id] = contribution
            return True
        if old == contribution:
            return False
        chosen = self._rows[event_id] = _preferred(event_id, old, contribution)
        return chosen is not old

    def merge(self, other: WindowPartial) -> None:
        """Union with ``other`` (same window); an eventId in both counts once."""
        if (other.window_start, other.window_end) != (self.window_start, self.window_end):
            raise PartialError(
                f"cannot merge window [{other.window_start}, {other.window_end}) into "
                f"[{self.window_start}, {self.window_end})"
            )
        rows = self._rows
        for event_id, contribution in other._rows.items():
            old = rows.get(event_id)
            if old is None:
                rows[event_id] = contribution
            elif old != contribution:
                rows[event_id] = _preferred(event_id, old, contribution)

    def merge_record(self, rec: Mapping[str, Any]) -> None:
        """``merge(WindowPartial.from_record(rec))``, faster when most of ``rec``'s decisions
        are already here unchanged (a newer partial of the same window): those rows are only
        compared, not parsed again."""
        if not isinstance(rec, Mapping) or rec.get("format") != FORMAT:
            raise PartialError(f"expected a format-{FORMAT} window partial, got {rec!r:.200}")
        if (rec.get("windowStart"), rec.get("windowEnd")) != (self.window_start, self.window_end):
            raise PartialError(
                f"cannot merge window [{rec.get('windowStart')}, {rec.get('windowEnd')}) into "
                f"[{self.window_start}, {self.window_end})"
            )
        rows = rec.get("decisions")
        if not isinstance(rows, list):
            raise PartialError("partial.decisions: expected a list")
        mine = self._rows
        fresh = []
        for i, row in enumerate(rows):
            if type(row) is list and len(row) == 8:
                old = mine.get(row[0])
                if old is not None and old == tuple(row[1:]):
                    continue
            event_id, contribution = _parse_row(i, row)
            if not self.window_start <= contribution.event_time < self.window_end:
                raise PartialError(f"partial.decisions[{i}]: time outside the window")
            fresh.append((event_id, contribution))
        for event_id, contribution in fresh:  # all rows checked before any is added
            self.add(event_id, contribution)

    def copy(self) -> WindowPartial:
        new = WindowPartial(self.window_start, self.window_end)
        new._rows = dict(self._rows)
        return new

    # --- derived metrics -----------------------------------------------------------------------

    @property
    def event_ids(self) -> frozenset[str]:
        return frozenset(self._rows)

    @property
    def count(self) -> int:
        return len(self._rows)

    @property
    def volume(self) -> float:
        return _sum(c.volume for c in self._rows.values())

    @property
    def notional_usd(self) -> float:
        return _sum(c.notional_usd or 0.0 for c in self._rows.values())

    @property
    def unpriced_count(self) -> int:
        return sum(1 for c in self._rows.values() if c.notional_usd is None)

    @property
    def abook_count(self) -> int:
        return sum(1 for c in self._rows.values() if c.abook)

    @property
    def bbook_count(self) -> int:
        return len(self._rows) - self.abook_count

    @property
    def abook_volume(self) -> float:
        return _sum(c.volume for c in self._rows.values() if c.abook)

    @property
    def by_lp(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self._rows.values():
            if c.abook and c.lp is not None:
                counts[c.lp] = counts.get(c.lp, 0) + 1
        return {lp: counts[lp] for lp in sorted(counts)}

    @property
    def execution_time(self) -> Histogram:
        return Histogram.of(c.execution_time_ms for c in self._rows.values())

    @property
    def slippage_sum(self) -> float:
        return _sum(c.slippage for c in self._rows.values())

    @property
    def slippage_positive_count(self) -> int:
        return sum(1 for c in self._rows.values() if c.slippage > 0)

    @property
    def slippage_negative_count(self) -> int:
        return sum(1 for c in self._rows.values() if c.slippage < 0)

    @property
    def max_event_time(self) -> int | None:
        return max((c.event_time for c in self._rows.values()), default=None)

    def summary(self) -> dict[str, Any]:
        """The ``RoutingSummary`` record of this window (exactly the schema's fields)."""
        n = len(self._rows)
        volume = self.volume
        abook_count = self.abook_count
        abook_volume = self.abook_volume
        hist = self.execution_time
        return {
            "windowStart": self.window_start,
            "windowEnd": self.window_end,
            "count": n,
            "volume": volume,
            "notionalUsd": self.notional_usd,
            "abookCount": abook_count,
            "bbookCount": n - abook_count,
            # Integer numerator, one correctly rounded division.
            "abookShareByCountPct": abook_count * 100 / n if n else 0.0,
            "abookShareByVolumePct": abook_volume * 100.0 / volume if volume > 0 else 0.0,
            "byLP": self.by_lp,
            "executionTimeP50Ms": hist.percentile(50) or 0.0,
            "executionTimeP95Ms": hist.percentile(95) or 0.0,
            "executionTimeP99Ms": hist.percentile(99) or 0.0,
            "slippageMean": self.slippage_sum / n if n else 0.0,
            "slippagePositiveCount": self.slippage_positive_count,
            "slippageNegativeCount": self.slippage_negative_count,
        }

    # --- records -------------------------------------------------------------------------------

    def to_record(self, only: Iterable[str] | None = None) -> dict[str, Any]:
        """JSON-able and exact (doubles survive JSON text through ``repr``): the window and
        one row per decision, sorted by eventId: ``[eventId, eventTime, volume, notionalUsd or
        null, "ABOOK"|"BBOOK", lp or null, executionTimeMs, slippage]``. With ``only``, just
        those eventIds' rows (a delta; merging it is still a union)."""
        ids = sorted(self._rows) if only is None else sorted(set(only) & self._rows.keys())
        return {
            "format": FORMAT,
            "windowStart": self.window_start,
            "windowEnd": self.window_end,
            "decisions": [self._rows[i].row(i) for i in ids],
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> WindowPartial:
        if not isinstance(rec, Mapping) or rec.get("format") != FORMAT:
            raise PartialError(f"expected a format-{FORMAT} window partial, got {rec!r:.200}")
        start, end = rec.get("windowStart"), rec.get("windowEnd")
        if type(start) is not int or type(end) is not int:
            raise PartialError("partial.windowStart, windowEnd: expected integers")
        partial = cls(start, end)
        rows = rec.get("decisions")
        if not isinstance(rows, list):
            raise PartialError("partial.decisions: expected a list")
        for i, row in enumerate(rows):
            event_id, contribution = _parse_row(i, row)
            partial.add(event_id, contribution)
        return partial

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WindowPartial):
            return NotImplemented
        return (
            self.window_start == other.window_start
            and self.window_end == other.window_end
            and self._rows == other._rows
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"WindowPartial([{self.window_start}, {self.window_end}), {len(self._rows)} decisions)"
        )


def _number(x: Any) -> bool:
    return (type(x) is float or type(x) is int) and math.isfinite(x)


def _parse_row(i: int, row: Any) -> tuple[str, Contribution]:
    if type(row) is list and len(row) == 8:
        event_id, t, volume, notional, book, lp, exec_ms, slippage = row
        if (
            isinstance(event_id, str)
            and type(t) is int
            and _number(volume)
            and (notional is None or _number(notional))
            and (book == "ABOOK" or (book == "BBOOK" and lp is None))
            and (lp is None or isinstance(lp, str))
            and _number(exec_ms)
            and exec_ms >= 0
            and _number(slippage)
        ):
            return event_id, Contribution(
                t,
                float(volume),
                None if notional is None else float(notional),
                book,
                lp,
                float(exec_ms),
                float(slippage),
            )
    raise PartialError(
        f"partial.decisions[{i}]: expected [eventId, eventTime, volume, notionalUsd|null, "
        f"ABOOK|BBOOK, lp|null, executionTimeMs, slippage], got {row!r:.200}"
    )


def contribution(
    decision: Mapping[str, Any], usd_rate: Callable[[str], float | None]
) -> Contribution:
    """A validated RoutingDecision's contribution: notional_usd = volume x USD rate of the base
    currency, or None (counted as 0, and as unpriced) when the rate is unknown or not > 0."""
    volume = float(decision["volume"])
    rate = usd_rate(base_currency(decision["symbol"]))
    notional = None
    if rate is not None and 0 < rate < math.inf:
        notional = volume * rate
        if not math.isfinite(notional):
            notional = None
    book = decision["routingDecision"]
    if book not in ("ABOOK", "BBOOK"):
        raise ValueError(f"routingDecision={book!r}: expected ABOOK or BBOOK")
    return Contribution(
        int(decision["eventTime"]),
        volume,
        notional,
        book,
        decision.get("lpSelected") if book == "ABOOK" else None,
        float(decision["executionTimeMs"]),
        float(decision["slippage"]),
    )


# --------------------------------------------------------------------------------------------
# Stage 1


class PartitionWindows:
    """Stage 1 for one input partition: the open windows of that partition's decisions.

    ``add`` each validated decision in partition order; ``drain`` returns the partial of every
    window changed since the last drain, then forgets windows its watermark has closed (their
    last partial has been drained). Counters: ``late_events`` (dropped: window already closed
    here), ``duplicate_events`` (eventId already in its window), ``unpriced_events``."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self._windows: dict[int, WindowPartial] = {}
        self._changed: dict[int, set[str]] = {}  # window start -> eventIds changed since drain
        self._max_event_time: int | None = None
        self.late_events = 0
        self.duplicate_events = 0
        self.unpriced_events = 0

    @property
    def watermark(self) -> int:
        """Max event time seen minus the allowed lateness (NO_WATERMARK before any event)."""
        if self._max_event_time is None:
            return NO_WATERMARK
        return self._max_event_time - self.config.lateness_us

    @property
    def open_windows(self) -> list[int]:
        return sorted(self._windows)

    def add(self, decision: Mapping[str, Any], usd_rate: Callable[[str], float | None]) -> None:
        t = int(decision["eventTime"])
        start = self.config.window_start(t)
        end = start + self.config.window_us
        if end <= self.watermark:
            self.late_events += 1
            return
        window = self._windows.get(start)
        if window is None:
            window = self._windows[start] = WindowPartial(start, end)
        event_id = decision["eventId"]
        c = contribution(decision, usd_rate)
        if event_id in window:
            self.duplicate_events += 1
        elif c.notional_usd is None:
            self.unpriced_events += 1
        if window.add(event_id, c):
            self._changed.setdefault(start, set()).add(event_id)
        if self._max_event_time is None or t > self._max_event_time:
            self._max_event_time = t

    def drain(self, *, delta: bool = False) -> list[tuple[int, dict[str, Any]]]:
        """``(window_start, partial record)`` of each window changed since the last drain, in
        window order. The partial holds all of the window's decisions (so the latest one of a
        window supersedes the earlier ones: fit for a compacted topic), or with ``delta`` only
        the decisions added since the last drain (O(new decisions) instead of O(window) per
        drain; every delta must reach the merger, so not for a compacted topic)."""
        out = [
            (start, self._windows[start].to_record(self._changed[start] if delta else None))
            for start in sorted(self._changed)
        ]
        self._changed.clear()
        wm = self.watermark
        for start in [s for s, w in self._windows.items() if w.window_end <= wm]:
            del self._windows[start]
        return out

    def state(self) -> dict[str, Any]:
        """JSON-able snapshot (restore gives an equal object)."""
        return {
            "format": FORMAT,
            "maxEventTime": self._max_event_time,
            "windows": [self._windows[s].to_record() for s in sorted(self._windows)],
            "changed": [[s, sorted(self._changed[s])] for s in sorted(self._changed)],
            "lateEvents": self.late_events,
            "duplicateEvents": self.duplicate_events,
            "unpricedEvents": self.unpriced_events,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        _check_format(state, "partition windows")
        windows = {}
        for rec in _list(state, "windows"):
            w = WindowPartial.from_record(rec)
            _check_window(self.config, w.window_start, w)
            windows[w.window_start] = w
        changed: dict[int, set[str]] = {}
        for row in _list(state, "changed"):
            if not (
                isinstance(row, list)
                and len(row) == 2
                and row[0] in windows
                and isinstance(row[1], list)
                and all(i in windows[row[0]] for i in row[1])
            ):
                raise PartialError("state.changed: expected [window start, [eventId...]] pairs")
            changed[row[0]] = set(row[1])
        max_t = state.get("maxEventTime")
        if max_t is not None and type(max_t) is not int:
            raise PartialError("state.maxEventTime: expected an integer or null")
        self._windows, self._changed, self._max_event_time = windows, changed, max_t
        self.late_events = _count(state, "lateEvents")
        self.duplicate_events = _count(state, "duplicateEvents")
        self.unpriced_events = _count(state, "unpricedEvents")


# --------------------------------------------------------------------------------------------
# Stage 2


class WindowMerger:
    """Stage 2 (one instance): partials of all partitions -> one RoutingSummary per window.

    ``update`` merges a partial (union by eventId, so a newer partial of the same partition and
    window supersedes the older one, and repeats are harmless) and raises the partition's
    watermark. ``close_ready`` emits, in window order, each window whose end is at or before
    the global watermark (the max over partitions), once. Counters: ``late_partials`` (for a
    window already closed: ignored), ``emitted``, ``unpriced_emitted`` (unpriced decisions in
    emitted windows)."""

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self._open: dict[int, WindowPartial] = {}
        self._watermarks: dict[int, int] = {}
        self._watermark = NO_WATERMARK
        self._closed_through = NO_WATERMARK  # every window ending at or before this is closed
        self.late_partials = 0
        self.emitted = 0
        self.unpriced_emitted = 0

    @property
    def watermark(self) -> int:
        """The global watermark: the max of the partitions' watermarks."""
        return self._watermark

    @property
    def partition_watermarks(self) -> dict[int, int]:
        return dict(sorted(self._watermarks.items()))

    @property
    def open_windows(self) -> list[int]:
        return sorted(self._open)

    def update(
        self, partition: int, window_start: int, partial: Mapping[str, Any], watermark: int
    ) -> None:
        if watermark > self._watermarks.get(partition, NO_WATERMARK):
            self._watermarks[partition] = watermark
            self._watermark = max(self._watermark, watermark)
        if window_start + self.config.window_us <= self._closed_through:
            self.late_partials += 1
            return
        current = self._open.get(window_start)
        if current is None:
            incoming = WindowPartial.from_record(partial)
            _check_window(self.config, window_start, incoming)
            self._open[window_start] = incoming
        else:
            current.merge_record(partial)

    def close_ready(self) -> list[dict[str, Any]]:
        """RoutingSummary records of the windows the global watermark has closed, in order."""
        wm = self._watermark
        out = []
        for start in sorted(s for s, w in self._open.items() if w.window_end <= wm):
            window = self._open.pop(start)
            out.append(window.summary())
            self.unpriced_emitted += window.unpriced_count
        self.emitted += len(out)
        self._closed_through = max(self._closed_through, wm)
        return out

    def state(self) -> dict[str, Any]:
        """JSON-able snapshot (restore gives an equal object)."""
        return {
            "format": FORMAT,
            "windows": [self._open[s].to_record() for s in sorted(self._open)],
            "watermarks": [[p, self._watermarks[p]] for p in sorted(self._watermarks)],
            "closedThrough": self._closed_through,
            "latePartials": self.late_partials,
            "emitted": self.emitted,
            "unpricedEmitted": self.unpriced_emitted,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        _check_format(state, "window merger")
        windows = {}
        for rec in _list(state, "windows"):
            w = WindowPartial.from_record(rec)
            _check_window(self.config, w.window_start, w)
            windows[w.window_start] = w
        watermarks: dict[int, int] = {}
        for row in _list(state, "watermarks"):
            if not (isinstance(row, list) and len(row) == 2 and all(type(x) is int for x in row)):
                raise PartialError("state.watermarks: expected [partition, watermark] pairs")
            watermarks[row[0]] = row[1]
        closed = state.get("closedThrough")
        if type(closed) is not int:
            raise PartialError("state.closedThrough: expected an integer")
        self._open, self._watermarks, self._closed_through = windows, watermarks, closed
        self._watermark = max(watermarks.values(), default=NO_WATERMARK)
        self.late_partials = _count(state, "latePartials")
        self.emitted = _count(state, "emitted")
        self.unpriced_emitted = _count(state, "unpricedEmitted")


# --------------------------------------------------------------------------------------------
# Record checks


def _check_window(config: RoutingConfig, window_start: int, partial: WindowPartial) -> None:
    if (
        partial.window_start != window_start
        or window_start % config.window_us
        or partial.window_end != window_start + config.window_us
    ):
        raise PartialError(
            f"partial for window [{partial.window_start}, {partial.window_end}) given as "
            f"window {window_start}: not a {config.window_s} s window (stages configured "
            "with different window_s?)"
        )


def _check_format(state: Any, what: str) -> None:
    if not isinstance(state, Mapping) or state.get("format") != FORMAT:
        raise PartialError(f"expected a format-{FORMAT} {what} state, got {state!r:.200}")


def _list(state: Mapping[str, Any], key: str) -> list[Any]:
    value = state.get(key)
    if not isinstance(value, list):
        raise PartialError(f"state.{key}: expected a list")
    return value


def _count(state: Mapping[str, Any], key: str) -> int:
    value = state.get(key)
    if type(value) is not int or value < 0:
        raise PartialError(f"state.{key}: expected an integer >= 0")
    return value
