"""Holding times: how long an account keeps its positions open (pure).

- :class:`PositionTimes` turns PositionState records into ``(account, positionId, opened,
  closed)`` when a position closes: ``opened`` is the eventTime of its version 1, ``closed``
  that of its CLOSED version. A position first seen at a later version (the stream was joined
  mid-way) has no known opening and gives no holding time (counted). Versions at or below the
  highest seen are ignored (redelivery, reordering); closed positions are remembered for
  ``retention_us`` of event time so that a redelivered version does not reopen them.
- :class:`HoldingWindow` keeps an account's holding times over a rolling window by close time
  (the account window: last N closes within ``window_us``), with an exact integer sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from heapq import heappop, heappush
from typing import Any

from streams.markouts.errors import MarkoutStateError
from streams.markouts.window import SumWindow

POSITION_FIELDS = ("positionId", "version", "accountId", "eventTime", "status")
"""The PositionState fields :meth:`PositionTimes.on_position` reads."""

Holding = tuple[str, str, int, int]
"""(accountId, positionId, opened, closed), times in int micros."""


class PositionTimes:
    """Open positions' opening times; see the module doc."""

    def __init__(self, retention_us: int) -> None:
        self.retention_us = retention_us
        self.open: dict[str, tuple[str, int | None, int]] = {}  # id -> (account, opened, version)
        self.closed: dict[str, int] = {}  # id -> close time
        self._closed_heap: list[tuple[int, str]] = []
        self.clock: int | None = None
        self.unknown_opening = 0

    def on_position(self, record: Mapping[str, Any]) -> Holding | None:
        """The holding time when this record closes a position whose opening was seen."""
        pid: str = record["positionId"]
        t, version = int(record["eventTime"]), int(record["version"])
        if self.clock is None or t > self.clock:
            self.clock = t
            self._forget(t)
        if pid in self.closed:
            return None
        seen = self.open.get(pid)
        if seen is not None and version <= seen[2]:
            return None
        account: str = record["accountId"]
        opened = seen[1] if seen is not None else t if version == 1 else None
        if record["status"] != "CLOSED":
            self.open[pid] = (account, opened, version)
            return None
        self.open.pop(pid, None)
        self.closed[pid] = t
        heappush(self._closed_heap, (t, pid))
        if opened is None:
            self.unknown_opening += 1
            return None
        return account, pid, opened, t

    def _forget(self, clock: int) -> None:
        heap, floor = self._closed_heap, clock - self.retention_us
        while heap and heap[0][0] < floor:
            del self.closed[heappop(heap)[1]]

    def state(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "open": [[p, *self.open[p]] for p in sorted(self.open)],
            "closed": sorted([t, p] for p, t in self.closed.items()),
            "unknownOpening": self.unknown_opening,
        }

    def restore(self, raw: Any) -> None:
        try:
            opened = {
                str(p): (str(a), None if o is None else int(o), int(v))
                for p, a, o, v in raw["open"]
            }
            closed = {str(p): int(t) for t, p in raw["closed"]}
            clock, unknown = raw["clock"], int(raw["unknownOpening"])
        except (KeyError, TypeError, ValueError) as exc:
            raise MarkoutStateError(f"position times state: {exc!r}") from exc
        if clock is not None and type(clock) is not int:
            raise MarkoutStateError("position times state: clock is not an integer")
        self.open, self.closed, self.clock, self.unknown_opening = opened, closed, clock, unknown
        self._closed_heap = sorted((t, p) for p, t in closed.items())


class HoldingWindow(SumWindow):
    """An account's holding times, rolling by close time; exact sum in microseconds."""

    __slots__ = ()

    def __init__(self, max_items: int, window_us: int) -> None:
        super().__init__(1, max_items, window_us)

    def mean_s(self) -> float | None:
        n = len(self.items)
        return self.sums[0] / (n * 1_000_000) if n else None
