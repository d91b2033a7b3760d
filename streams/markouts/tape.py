"""One symbol's quote mids in event-time order, kept only as far back as needed (pure).

A :class:`QuoteTape` answers "the mid of the last quote at or before time x". Quotes are
appended in event-time order (the stage drops a quote older than the symbol's latest: late);
:meth:`QuoteTape.trim` forgets the quotes no time at or after ``floor`` can ask for: everything
before the last quote at or before ``floor``. An answer is either exact or None (unknown): a
time before the oldest quote kept is answered None, never with a wrong mid.

Cost: ``append`` O(1) amortised, ``mid_at`` O(log n) (binary search), ``trim`` O(log n) plus an
occasional compaction that moves the kept quotes (amortised O(1) per quote). Times and mids are
kept in ``array`` columns (16 bytes a quote, no Python object per quote).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from typing import Any

from streams.errors import StateError

_COMPACT_AT = 4_096  # forgotten quotes before the arrays are compacted (and at least half)


class QuoteTape:
    """Times (int micros) and mids of one symbol's quotes, ascending; see the module doc."""

    __slots__ = ("_head", "ids_at_latest", "mids", "times")

    def __init__(self) -> None:
        self.times: array[int] = array("q")
        self.mids: array[float] = array("d")
        self._head = 0  # index of the oldest quote kept
        self.ids_at_latest: set[str] = set()  # quote eventIds at the latest time (duplicates)

    @property
    def latest(self) -> int | None:
        """Time of the newest quote, or None before the first."""
        return self.times[-1] if self.times else None

    def __len__(self) -> int:
        """Quotes kept (the memory that counts; forgotten ones await compaction)."""
        return len(self.times) - self._head

    @property
    def allocated(self) -> int:
        """Quotes held in the arrays, forgotten ones included."""
        return len(self.times)

    def append(self, time: int, mid: float, event_id: str) -> None:
        """Add a quote at or after :attr:`latest` (the caller checks)."""
        if not self.times or time > self.times[-1]:
            self.ids_at_latest = set()
        self.ids_at_latest.add(event_id)
        self.times.append(time)
        self.mids.append(mid)

    def mid_at(self, x: int) -> float | None:
        """Mid of the last quote at or before ``x``; None when no quote kept is that old."""
        i = bisect_right(self.times, x, self._head) - 1
        return self.mids[i] if i >= self._head else None

    def trim(self, floor: int) -> None:
        """Forget the quotes before the last one at or before ``floor``."""
        head = self._head
        if head + 1 >= len(self.times) or self.times[head + 1] > floor:
            return  # the usual case on a steady stream: O(1)
        i = bisect_right(self.times, floor, self._head) - 1
        if i > self._head:
            self._head = i
        if self._head >= _COMPACT_AT and 2 * self._head >= len(self.times):
            del self.times[: self._head]
            del self.mids[: self._head]
            self._head = 0

    # --- snapshots ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The quotes kept and the ids at the latest time (JSON-able)."""
        return {
            "times": self.times[self._head :].tolist(),
            "mids": self.mids[self._head :].tolist(),
            "idsAtLatest": sorted(self.ids_at_latest),
        }

    @classmethod
    def from_state(cls, raw: Any, where: str) -> QuoteTape:
        if not isinstance(raw, dict):
            raise StateError(f"{where}: expected an object")
        times, mids, ids = raw.get("times"), raw.get("mids"), raw.get("idsAtLatest")
        if not (
            isinstance(times, list)
            and isinstance(mids, list)
            and len(times) == len(mids)
            and all(type(t) is int for t in times)
            and all(type(m) is float for m in mids)
            and all(b >= a for a, b in zip(times, times[1:], strict=False))
            and isinstance(ids, list)
            and all(isinstance(i, str) for i in ids)
        ):
            raise StateError(f"{where}: expected ascending int times, float mids, string ids")
        tape = cls()
        tape.times.extend(times)
        tape.mids.extend(mids)
        tape.ids_at_latest = set(ids)
        return tape
