"""A client's bounded outbound queue: at most ``max_messages`` messages and ``max_bytes`` bytes
(of encoded JSON), oldest dropped first. No I/O.

Every drop is recorded per channel until the next ``gap`` message reports it (how many, the
time span, and for alerts the seq span), so the client knows what it missed and, for alerts,
can fetch it again (``subscribe`` with ``since``, or ``replay``). A *burst* of drops starts with
the first drop after the last gap message and ends when the gap messages are taken; the session
logs once per burst.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass

from ws_bridge.messages import CHANNELS, Encoded, Message, gap_message


@dataclass(slots=True)
class DropRecord:
    """Drops of one channel since its last gap message."""

    count: int = 0
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    epoch: str | None = None

    def add(
        self, count: int, timestamp: str | None, seq: int | None, epoch: str | None = None
    ) -> None:
        self.count += count
        if timestamp is not None:
            self.first_timestamp = self.first_timestamp or timestamp
            self.last_timestamp = timestamp
        if seq is not None:
            self.first_seq = seq if self.first_seq is None else min(self.first_seq, seq)
            self.last_seq = seq if self.last_seq is None else max(self.last_seq, seq)
        self.epoch = epoch or self.epoch


class Outbox:
    """FIFO of encoded messages bounded in count and bytes, with drop accounting."""

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("outbox limits must be >= 1")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._items: deque[Encoded] = deque()
        self._bytes = 0
        self._pending: dict[str, DropRecord] = {}
        self.dropped_total: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Encoded]:
        return iter(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    @property
    def in_burst(self) -> bool:
        """Drops happened that no gap message has reported yet."""
        return bool(self._pending)

    def has_room(self, item: Encoded) -> bool:
        return len(self._items) < self.max_messages and (
            self._bytes + item.nbytes <= self.max_bytes
        )

    def push(self, item: Encoded) -> list[Encoded]:
        """Append ``item``, dropping the oldest messages until both limits hold again; returns
        what was dropped (``item`` itself when it alone exceeds ``max_bytes``)."""
        if item.nbytes > self.max_bytes:
            self._record(item)
            return [item]
        self._items.append(item)
        self._bytes += item.nbytes
        dropped: list[Encoded] = []
        while len(self._items) > self.max_messages or self._bytes > self.max_bytes:
            oldest = self._items.popleft()
            self._bytes -= oldest.nbytes
            self._record(oldest)
            dropped.append(oldest)
        return dropped

    def pop(self, limit: int) -> list[Encoded]:
        """Take up to ``limit`` messages from the front."""
        taken: list[Encoded] = []
        while self._items and len(taken) < limit:
            item = self._items.popleft()
            self._bytes -= item.nbytes
            taken.append(item)
        return taken

    def purge(self, channel: str) -> int:
        """Remove the queued live messages of ``channel`` (and its pending gap): the client
        unsubscribed. Replayed alerts stay; they answer an explicit request."""
        kept = deque(i for i in self._items if i.channel != channel or i.replay)
        removed = len(self._items) - len(kept)
        self._items = kept
        self._bytes = sum(i.nbytes for i in kept)
        self._pending.pop(channel, None)
        return removed

    def record_gap(
        self, channel: str, count: int, *, first_seq: int, last_seq: int, epoch: str
    ) -> None:
        """Report messages lost before they were ever queued (alerts evicted from the log)."""
        record = self._pending.setdefault(channel, DropRecord())
        record.add(count, None, first_seq, epoch)
        record.add(0, None, last_seq)
        self.dropped_total[channel] += count

    def take_gaps(self, now: float) -> list[Message]:
        """One ``gap`` message per channel with unreported drops (contract channel order)."""
        messages = []
        for channel in sorted(self._pending, key=_channel_order):
            r = self._pending[channel]
            messages.append(
                gap_message(
                    channel,
                    r.count,
                    now=now,
                    first_timestamp=r.first_timestamp,
                    last_timestamp=r.last_timestamp,
                    first_seq=r.first_seq,
                    last_seq=r.last_seq,
                    epoch=r.epoch,
                )
            )
        self._pending.clear()
        return messages

    def _record(self, item: Encoded) -> None:
        channel = item.channel or "control"
        self._pending.setdefault(channel, DropRecord()).add(1, item.timestamp, item.seq, item.epoch)
        self.dropped_total[channel] += 1


def _channel_order(channel: str) -> int:
    return CHANNELS.index(channel) if channel in CHANNELS else len(CHANNELS)
