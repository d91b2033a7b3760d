"""What every consumer of the positions topic shares (pure): which PositionState counts as
open, and the bounded memory of closed position ids that keeps a stale OPEN, redelivered after
its CLOSED, from counting again (docs/exposure.md, "Bounded memory of closed ids")."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from streams.settings import ConfigError

HOUR_US = 3_600 * 1_000_000
# Closed ids remembered per book by default: at ~250 bytes each (id string, OrderedDict entry,
# version and time), ~4.9 MB per positions partition at most.
MAX_CLOSED = 20_000


def is_open(record: Mapping[str, Any]) -> bool:
    """A position counts while its status is OPEN and its volume > 0."""
    return bool(record["status"] == "OPEN" and record["volume"] > 0)


class ClosedIds:
    """The closing version of removed position ids, kept while ``last_event_time - closed_at
    <= retention_us`` and while at most ``max_ids`` are remembered, the oldest going first.
    Ageing uses event time, not the wall clock, so a replay prunes exactly as the original run.
    """

    __slots__ = ("_ids", "_max", "_retention")

    def __init__(self, *, retention_us: int = HOUR_US, max_ids: int = MAX_CLOSED) -> None:
        if retention_us < 0 or max_ids < 0:
            raise ConfigError("closed_retention_us and max_closed must be >= 0")
        self._retention = retention_us
        self._max = max_ids
        # positionId -> (closing version, close event time); insertion order ~ close time
        self._ids: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, position_id: object) -> bool:
        return position_id in self._ids

    def version(self, position_id: str) -> int | None:
        entry = self._ids.get(position_id)
        return None if entry is None else entry[0]

    def forget(self, position_id: str) -> None:
        self._ids.pop(position_id, None)

    def remember(
        self, position_id: str, version: int, closed_at: int, last_event_time: int
    ) -> None:
        """Remembers a close, unless it is already older than the window (replaying a
        compacted topic is full of those)."""
        if closed_at >= last_event_time - self._retention:
            self._ids[position_id] = (version, closed_at)

    def prune(self, last_event_time: int) -> None:
        cutoff = last_event_time - self._retention
        ids = self._ids
        while ids:
            pid, (_, closed_at) = next(iter(ids.items()))
            if closed_at >= cutoff and len(ids) <= self._max:
                break
            del ids[pid]

    def items(self) -> list[tuple[str, int, int]]:
        """(positionId, version, closed_at), oldest first: for a snapshot."""
        return [(pid, v, t) for pid, (v, t) in self._ids.items()]


P = TypeVar("P", bound=tuple[Any, ...])  # an open position's entry; its first item: the version


class PositionIndex(Generic[P]):
    """The open positions of one positions partition by id, and the version rule every book
    applies: an event is accepted only if its ``version`` is higher than the stored one (of
    the open position, or of its remembered close), so redelivery and reordering are harmless.
    Subclasses keep what they need per open position in ``_open`` (version first)."""

    __slots__ = ("_closed", "_last_event_time", "_open")

    def __init__(self, *, closed_retention_us: int = HOUR_US, max_closed: int = MAX_CLOSED) -> None:
        self._closed = ClosedIds(retention_us=closed_retention_us, max_ids=max_closed)
        self._open: dict[str, P] = {}
        self._last_event_time = 0

    def __len__(self) -> int:
        return len(self._open)

    @property
    def last_event_time(self) -> int:
        """Highest eventTime (micros) of the events applied, 0 before the first."""
        return self._last_event_time

    @property
    def remembered_closed(self) -> int:
        """How many closed ids are remembered (for a gauge)."""
        return len(self._closed)

    def version(self, position_id: str) -> int | None:
        """The version stored for a position (open or remembered closed), None if unknown."""
        entry = self._open.get(position_id)
        return entry[0] if entry is not None else self._closed.version(position_id)

    def _accept(self, record: Mapping[str, Any]) -> tuple[bool, P | None]:
        """The version rule: (False, None) for a stale or duplicate event; else (True, the
        position's open entry, removed, or None) with the clock advanced to its eventTime."""
        pid: str = record["positionId"]
        stored = self.version(pid)
        if stored is not None and record["version"] <= stored:
            return False, None
        if record["eventTime"] > self._last_event_time:
            self._last_event_time = record["eventTime"]
        self._closed.forget(pid)
        return True, self._open.pop(pid, None)

    def _remember_close(self, record: Mapping[str, Any]) -> None:
        self._closed.remember(
            record["positionId"], record["version"], record["eventTime"], self._last_event_time
        )

    def _prune(self) -> None:
        self._closed.prune(self._last_event_time)
