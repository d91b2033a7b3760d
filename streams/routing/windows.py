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

The partial both stages exchange, :class:`streams.routing.partial.WindowPartial`, is a union of
decisions keyed by eventId (exact de-duplication; merges commute), with its record format:
see :mod:`streams.routing.partial`. Formulas and semantics: ``docs/routing-and-lp.md``.

Errors: :class:`streams.routing.partial.PartialError` (a ``ValueError``) for a malformed partial
or state record, and :class:`streams.settings.ConfigError` for bad settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from streams.routing.partial import FORMAT, PartialError, WindowPartial, contribution
from streams.settings import check_keys, int_setting
from streams.timeunits import MICROS_PER_S

NO_WATERMARK = -(2**63)
"""The watermark before any event: below every window end."""

_MAX_WINDOW_S = 86_400


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
        windows = _windows(self.config, state)
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
        windows = _windows(self.config, state)
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


def _windows(config: RoutingConfig, state: Mapping[str, Any]) -> dict[int, WindowPartial]:
    """The ``windows`` of a state record, by window start, each checked against ``config``."""
    windows = {}
    for rec in _list(state, "windows"):
        w = WindowPartial.from_record(rec)
        _check_window(config, w.window_start, w)
        windows[w.window_start] = w
    return windows


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
