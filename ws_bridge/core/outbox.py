"""A client's bounded outbound queue: at most ``max_messages`` messages and ``max_bytes`` bytes
(of encoded JSON), oldest dropped first. No I/O.

The queue holds *chunks*: a :class:`Chunk` is a run of already-encoded messages, either one
message the session queued itself (a snapshot, a resumed or replayed alert) or a whole tick's
selection of a subscription group, shared by every session of the group that is behind (the same
object, the same pre-joined text, so a slow client costs one append per tick, not one per
message). The limits count the messages inside the chunks; on overflow whole oldest chunks are
dropped (a chunk larger than a limit by itself is dropped at once).

Every drop is recorded per channel until the next ``gap`` message reports it (how many, the
time span, and for alerts the seq span), so the client knows what it missed and, for alerts,
can fetch it again (``subscribe`` with ``since``, or ``replay``). A *burst* of drops starts with
the first drop after the last gap message and ends when the gap messages are taken; the session
logs once per burst.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ws_bridge.core.frames import text_frame
from ws_bridge.core.messages import CHANNELS, Encoded, Message, gap_message


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

    def merge(self, other: DropRecord) -> None:
        """The same as adding, in order, every drop ``other`` recorded."""
        self.count += other.count
        if other.first_timestamp is not None:
            self.first_timestamp = self.first_timestamp or other.first_timestamp
            self.last_timestamp = other.last_timestamp
        if other.first_seq is not None:
            self.add(0, None, other.first_seq)
        if other.last_seq is not None:
            self.add(0, None, other.last_seq)
        self.epoch = other.epoch or self.epoch


class Chunk:
    """A run of encoded messages queued (and dropped) as a whole; immutable once built, so one
    chunk can sit in the queues of many sessions."""

    __slots__ = (
        "_alerts",
        "_drops",
        "_frame",
        "_inner",
        "_pieces",
        "_wire",
        "at",
        "items",
        "nbytes",
        "shared",
    )

    def __init__(
        self, items: Sequence[Encoded], nbytes: int | None = None, *, shared: bool = False
    ) -> None:
        self.items: tuple[Encoded, ...] = tuple(items)
        self.shared = shared  # a group's frame (already paced by the fanout's ticks)
        self.at: float | None = None  # a group's frame: the tick that dispatched it
        self.nbytes = sum(i.nbytes for i in self.items) if nbytes is None else nbytes
        self._inner: str | None = None
        self._frame: str | None = None
        self._wire: bytes | None = None
        self._drops: dict[str, DropRecord] | None = None
        self._alerts: tuple[Encoded, ...] | None = None
        self._pieces: tuple[int, tuple[Chunk, ...]] | None = None

    @classmethod
    def single(cls, item: Encoded) -> Chunk:
        return cls((item,), item.nbytes)

    def pieces(self, size: int) -> tuple[Chunk, ...]:
        """This chunk cut into chunks of at most ``size`` messages (built once per size, so
        every session with the same batch limit queues the same pieces)."""
        if len(self.items) <= size:
            return (self,)
        if self._pieces is None or self._pieces[0] != size:
            items = self.items
            cut = tuple(
                Chunk(items[i : i + size], shared=self.shared) for i in range(0, len(items), size)
            )
            for piece in cut:
                piece.at = self.at
            self._pieces = (size, cut)
        return self._pieces[1]

    def __len__(self) -> int:
        return len(self.items)

    @property
    def inner(self) -> str:
        """The encoded messages joined by ``,`` (a frame without its brackets)."""
        if self._inner is None:
            items = self.items
            self._inner = items[0].text if len(items) == 1 else ",".join(i.text for i in items)
        return self._inner

    @property
    def frame(self) -> str:
        """The chunk as one frame (built once, however many sessions send it)."""
        if self._frame is None:
            self._frame = "[" + self.inner + "]"
        return self._frame

    @property
    def wire(self) -> bytes:
        """The frame as a WebSocket text frame on the wire (built once, see
        :mod:`ws_bridge.core.frames`)."""
        if self._wire is None:
            self._wire = text_frame(self.frame)
        return self._wire

    @property
    def alerts(self) -> tuple[Encoded, ...]:
        if self._alerts is None:
            self._alerts = tuple(i for i in self.items if i.channel == "alerts")
        return self._alerts

    def drops(self) -> dict[str, DropRecord]:
        """What dropping this chunk means, per channel (computed once per chunk)."""
        if self._drops is None:
            drops: dict[str, DropRecord] = {}
            for item in self.items:
                channel = item.channel or "control"
                drops.setdefault(channel, DropRecord()).add(1, item.timestamp, item.seq, item.epoch)
            self._drops = drops
        return self._drops


NO_CHUNKS: deque[Chunk] = deque()
"""The shared empty queue of every idle outbox; never appended to (an outbox gets a deque of its
own on its first push). An empty ``deque`` costs about 760 bytes, and idle connections are the
bridge's memory budget (docs/benchmarks.md)."""


class Outbox:
    """FIFO of encoded messages (in chunks) bounded in count and bytes, with drop accounting."""

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("outbox limits must be >= 1")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self._chunks: deque[Chunk] = NO_CHUNKS  # a deque of its own on first push (memory)
        self._count = 0
        self._bytes = 0
        self._pending: dict[str, DropRecord] = {}
        self.dropped_total: Counter[str] = Counter()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Encoded]:
        for chunk in self._chunks:
            yield from chunk.items

    @property
    def chunks(self) -> int:
        return len(self._chunks)

    @property
    def nbytes(self) -> int:
        return self._bytes

    @property
    def shared_ahead(self) -> bool:
        """The next chunk to send is a group's frame."""
        return bool(self._chunks) and self._chunks[0].shared

    @property
    def in_burst(self) -> bool:
        """Drops happened that no gap message has reported yet."""
        return bool(self._pending)

    def has_room(self, item: Encoded) -> bool:
        return self._count < self.max_messages and (self._bytes + item.nbytes <= self.max_bytes)

    def fits(self, chunk: Chunk) -> bool:
        """Whether ``chunk`` alone is within both limits."""
        return len(chunk) <= self.max_messages and chunk.nbytes <= self.max_bytes

    def push(self, item: Encoded) -> list[Encoded]:
        """Append ``item``, dropping the oldest messages until both limits hold again; returns
        what was dropped (``item`` itself when it alone exceeds ``max_bytes``)."""
        return self.push_chunk(Chunk.single(item))

    def push_chunk(self, chunk: Chunk) -> list[Encoded]:
        """Append ``chunk``, dropping whole oldest chunks until both limits hold again; returns
        the dropped messages (``chunk``'s own when it alone exceeds a limit)."""
        if not self.fits(chunk):
            self._record(chunk)
            return list(chunk.items)
        if self._chunks is NO_CHUNKS:
            self._chunks = deque()
        self._chunks.append(chunk)
        self._count += len(chunk)
        self._bytes += chunk.nbytes
        dropped: list[Encoded] = []
        while self._count > self.max_messages or self._bytes > self.max_bytes:
            oldest = self._chunks.popleft()
            self._count -= len(oldest)
            self._bytes -= oldest.nbytes
            self._record(oldest)
            dropped.extend(oldest.items)
        return dropped

    def take(self, limit: int) -> list[Chunk]:
        """Take whole chunks from the front while they fit in ``limit`` messages (a lagging
        session sends the very chunks its group shares); only when not even the first fits is
        it split, to fill the room left by extension messages."""
        taken: list[Chunk] = []
        room = limit
        chunks = self._chunks
        while chunks and room > 0:
            chunk = chunks[0]
            size = len(chunk.items)
            if size <= room:
                chunks.popleft()
            elif taken:
                break
            else:
                head, tail = Chunk(chunk.items[:room]), Chunk(chunk.items[room:])
                chunks[0] = tail
                chunk, size = head, room
            room -= size
            self._count -= size
            self._bytes -= chunk.nbytes
            taken.append(chunk)
        return taken

    def pop(self, limit: int) -> list[Encoded]:
        """Take up to ``limit`` messages from the front."""
        return [item for chunk in self.take(limit) for item in chunk.items]

    def purge(self, channel: str) -> int:
        """Remove the queued live messages of ``channel`` (and its pending gap): the client
        unsubscribed. Replayed alerts stay; they answer an explicit request."""
        removed = 0
        kept: deque[Chunk] = deque()
        for chunk in self._chunks:
            if any(i.channel == channel and not i.replay for i in chunk.items):
                rest = [i for i in chunk.items if i.channel != channel or i.replay]
                removed += len(chunk) - len(rest)
                if rest:
                    kept.append(Chunk(rest))
            else:
                kept.append(chunk)
        self._chunks = kept if kept else NO_CHUNKS
        self._count = sum(len(c) for c in kept)
        self._bytes = sum(c.nbytes for c in kept)
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

    def _record(self, chunk: Chunk) -> None:
        for channel, drops in chunk.drops().items():
            self._pending.setdefault(channel, DropRecord()).merge(drops)
            self.dropped_total[channel] += drops.count


def _channel_order(channel: str) -> int:
    return CHANNELS.index(channel) if channel in CHANNELS else len(CHANNELS)
