"""Merging the records of several sources (topic partitions) in event time (pure).

A markout stage reads the quotes and the routing decisions of one partition from two topics.
Kafka hands out what it fetched in whatever mix the fetches gave: catching up on a backlog, one
topic can run minutes of event time ahead of the other. The stage's clock is the newest event
time of any input, so a decision that comes after quotes minutes newer would be *late* (dropped)
and a trade whose decisions ran ahead would time out before its quotes arrive.

:class:`EventTimeMerge` buffers each source's records (in their offset order) and releases them
merged by event time: the head with the smallest time goes next, but only while every other
source either has a record buffered or is *caught up* (nothing more is known to be in Kafka for
it: the caller says so, from the consumer's position and high watermark). So the stage sees its
inputs in event-time order to within the disorder of a single partition, whatever the fetches
did. A buffer above ``max_buffered`` records in all is released anyway (counted in
``forced``): memory stays bounded if a source stalls without being caught up.

The caller pauses a source whose buffer is large (:meth:`EventTimeMerge.buffered`) so that the
fetcher spends its bytes on the one that is behind.

Across partitions nothing needs merging (each stage has its own clock), but a cross's USD rate
comes from the quotes of *another* partition (its USD pair's), as the process has read them. So
while some partitions catch up, the caller releases no record more than a few seconds of event
time past the newest quote read on the slowest of them (:func:`release_limit`, the ``until`` of
:meth:`EventTimeMerge.release`): a cross settling at time t finds its USD pair read to about t.
The records held stay buffered (the pause above bounds them); the consumer is not paused for
this, since pausing drops what the fetcher had prefetched for the partition.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def release_limit(newest: Mapping[Any, int | None], slack: int) -> int | None:
    """How far in event time the stages of several partitions may go so that none gets more
    than ``slack`` past what the slowest has read: the least of ``newest`` (each partition's
    newest time read, None when nothing yet: then nothing may go, -1) plus ``slack``. None (no
    limit) for no partitions: every one is caught up."""
    if not newest:
        return None
    if any(t is None for t in newest.values()):
        return -1
    return min(t for t in newest.values() if t is not None) + slack


class EventTimeMerge(Generic[T]):
    """Records of ``sources``, released in event-time order; see the module doc."""

    def __init__(self, sources: Sequence[str], max_buffered: int = 100_000) -> None:
        self.sources = tuple(sources)
        self.max_buffered = max_buffered
        self._queues: dict[str, deque[tuple[int, T]]] = {s: deque() for s in self.sources}
        self._caught_up: dict[str, bool] = dict.fromkeys(self.sources, False)
        self._size = 0
        self.forced = 0  # records released while another source was neither buffered nor idle

    def add(self, source: str, records: Iterable[tuple[int, T]]) -> None:
        """Records of ``source`` as ``(event time, item)``, in offset order."""
        queue = self._queues[source]
        before = len(queue)
        queue.extend(records)
        self._size += len(queue) - before

    def caught_up(self, source: str, caught_up: bool) -> None:
        """Whether ``source`` has nothing more to read now (position at the high watermark)."""
        self._caught_up[source] = caught_up

    def buffered(self, source: str) -> int:
        return len(self._queues[source])

    def __len__(self) -> int:
        return self._size

    def release(self, until: int | None = None) -> list[tuple[str, T]]:
        """The records that can go now, merged by event time (ties: the order of ``sources``),
        none newer than ``until`` (when given) unless the buffers are over ``max_buffered``."""
        out: list[tuple[str, T]] = []
        queues, caught_up = self._queues, self._caught_up
        while self._size:
            over = self._size > self.max_buffered
            waiting = [s for s, q in queues.items() if not q and not caught_up[s]]
            if waiting and not over:
                break
            live = [s for s, q in queues.items() if q]
            source = min(live, key=lambda s: queues[s][0][0])
            if until is not None and queues[source][0][0] > until and not over:
                break
            if len(live) == 1 and not waiting and until is None:  # the others are idle: all
                queue = queues[source]  # of it goes
                out.extend((source, item) for _, item in queue)
                self._size -= len(queue)
                queue.clear()
                break
            if waiting:
                self.forced += 1
            out.append((source, queues[source].popleft()[1]))
            self._size -= 1
        return out

    def clear(self) -> None:
        """Drop every buffered record (the partition was given up or is rebuilt)."""
        for queue in self._queues.values():
            queue.clear()
        self._size = 0
        self._caught_up = dict.fromkeys(self.sources, False)
