"""What every consumer of the positions topic shares (pure): which PositionState counts as
open, and the bounded memory of closed position ids that keeps a stale OPEN, redelivered after
its CLOSED, from counting again (docs/exposure.md, "Bounded memory of closed ids")."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

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
