"""The Publisher's batching: one aiokafka ``BatchBuilder`` per partition, filled here.

A batch is submitted with ``send_batch`` when it is full (``RTX_PRODUCER_MAX_BATCH_BYTES``) or
``linger_ms`` after its first record, on one sender task per partition so per-key order holds.
This skips most of ``AIOKafkaProducer.send``'s per-record work (metadata wait, partitioner, a
future per record), which costs more than validating and encoding an event; idempotence
(producer id and sequence numbers) and retries stay aiokafka's. Partitions are chosen as the
Java client does (murmur2 of the key), so keys land where every other Kafka client would put
them. At most ``MAX_READY_BATCHES`` closed batches wait per partition: a call beyond that
waits for the broker.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.structs import RecordMetadata

from streams.sdk.errors import DeliveryError, InvalidEvent, PublisherClosed

MAX_READY_BATCHES = 4
_PARTITION_CACHE_MAX = 100_000


class Delivery:
    """A queued event: its id and topic, and the broker's acknowledgement to await."""

    __slots__ = ("event_id", "topic", "_batch", "_index")

    def __init__(self, event_id: str, topic: str, batch: Batch, index: int) -> None:
        self.event_id = event_id
        self.topic = topic
        self._batch = batch
        self._index = index

    async def wait(self) -> RecordMetadata:
        """The event's position in Kafka once the broker acknowledged it."""
        try:
            md = await asyncio.shield(self._batch.done)
        except KafkaError as exc:
            raise DeliveryError(1, exc) from exc
        return RecordMetadata(
            md.topic,
            md.partition,
            md.topic_partition,
            md.offset + self._index,
            md.timestamp,
            md.timestamp_type,
            md.log_start_offset,
        )


class Batch:
    """Records for one partition, built with aiokafka's batch API."""

    __slots__ = ("builder", "done", "count")

    def __init__(self, builder: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.builder = builder
        self.done: asyncio.Future[RecordMetadata] = loop.create_future()
        self.count = 0


class Partition:
    """One topic-partition's open batch and the closed batches waiting to be submitted."""

    __slots__ = ("topic", "partition", "open", "ready", "sender", "timer")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.open: Batch | None = None
        self.ready: deque[Batch] = deque()
        self.sender: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None


class Batcher:
    """Batches of encoded events per partition for ``producer`` (set while started), and the
    failures to report at the next :meth:`flush`."""

    def __init__(self, linger_s: float) -> None:
        self.producer: AIOKafkaProducer | None = None
        self._linger_s = linger_s
        self._partitions: dict[tuple[str, int], Partition] = {}
        self._partition_of: dict[tuple[str, str], int] = {}
        self._partition_counts: dict[str, int] = {}
        self._room = asyncio.Event()
        self._unacknowledged: set[Batch] = set()
        self._failed = 0
        self._first_error: BaseException | None = None

    async def append(
        self, topic: str, key: str, value: bytes, timestamp_ms: int, event_id: str, schema: str
    ) -> Delivery:
        """Queue one encoded event of ``schema`` (named in the error if it can never fit)."""
        key_bytes = key.encode()
        partition = self._partition_of.get((topic, key))
        if partition is None:
            partition = await self._choose_partition(topic, key, key_bytes)
        state = self._partitions.get((topic, partition))
        if state is None:
            state = self._partitions[(topic, partition)] = Partition(topic, partition)
        while len(state.ready) >= MAX_READY_BATCHES:
            self._room.clear()
            await self._room.wait()
        batch = state.open or self._open_batch(state)
        meta = batch.builder.append(timestamp=timestamp_ms, key=key_bytes, value=value)
        if meta is None:  # full: submit it and start the next one
            self._close_batch(state)
            batch = self._open_batch(state)
            meta = batch.builder.append(timestamp=timestamp_ms, key=key_bytes, value=value)
            if meta is None:
                raise InvalidEvent(
                    schema,
                    "*",
                    f"encoded event of {len(value)} bytes exceeds RTX_PRODUCER_MAX_BATCH_BYTES",
                )
        batch.count += 1
        return Delivery(event_id, topic, batch, meta.offset)

    async def _choose_partition(self, topic: str, key: str, key_bytes: bytes) -> int:
        count = self._partition_counts.get(topic)
        if count is None:
            assert self.producer is not None  # noqa: S101 - only called while started
            parts = await self.producer.partitions_for(topic)
            count = self._partition_counts[topic] = len(parts)
        # Java client's default partitioner for keyed records: toPositive(murmur2(key)) % n.
        partition: int = (murmur2(key_bytes) & 0x7FFFFFFF) % count
        if len(self._partition_of) >= _PARTITION_CACHE_MAX:
            self._partition_of.clear()
        self._partition_of[(topic, key)] = partition
        return partition

    def _open_batch(self, state: Partition) -> Batch:
        assert self.producer is not None  # noqa: S101 - only called while started
        batch = state.open = Batch(self.producer.create_batch(), asyncio.get_running_loop())
        state.timer = asyncio.get_running_loop().call_later(
            self._linger_s, self._linger_expired, state, batch
        )
        return batch

    def _linger_expired(self, state: Partition, batch: Batch) -> None:
        if state.open is batch:
            self._close_batch(state)

    def _close_batch(self, state: Partition) -> None:
        batch, state.open = state.open, None
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        if batch is None or batch.count == 0:
            return
        batch.builder.close()
        state.ready.append(batch)
        self._unacknowledged.add(batch)
        if state.sender is None or state.sender.done():
            state.sender = asyncio.get_running_loop().create_task(self._submit(state))

    async def _submit(self, state: Partition) -> None:
        """Hand a partition's closed batches to aiokafka in order, one at a time (send_batch
        itself waits until the partition's previous batch is drained)."""
        producer = self.producer
        while state.ready:
            batch = state.ready[0]
            try:
                if producer is None:
                    raise PublisherClosed("publisher closed before the batch was sent")
                future = await producer.send_batch(
                    batch.builder, state.topic, partition=state.partition
                )
            except (KafkaError, PublisherClosed) as exc:
                self._fail(batch, exc)
            else:
                future.add_done_callback(lambda f, b=batch: self._acknowledged(b, f))
            state.ready.popleft()
            self._room.set()

    def _acknowledged(self, batch: Batch, future: asyncio.Future[RecordMetadata]) -> None:
        self._unacknowledged.discard(batch)
        if future.cancelled():
            self._fail(batch, asyncio.CancelledError())
        elif (exc := future.exception()) is not None:
            self._fail(batch, exc)
        elif not batch.done.done():
            batch.done.set_result(future.result())

    def _fail(self, batch: Batch, exc: BaseException) -> None:
        self._unacknowledged.discard(batch)
        self._failed += batch.count
        if self._first_error is None:
            self._first_error = exc
        if not batch.done.done():
            batch.done.set_exception(exc)
            batch.done.exception()  # mark retrieved: flush() reports it

    async def flush(self) -> None:
        """Wait until every queued event is acknowledged; raise DeliveryError if any failed."""
        for state in self._partitions.values():
            self._close_batch(state)
        pending = [b.done for b in self._unacknowledged]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self._failed:
            failed, first = self._failed, self._first_error
            self._failed, self._first_error = 0, None
            assert first is not None  # noqa: S101 - set together with _failed
            raise DeliveryError(failed, first)

    def detach(self) -> AIOKafkaProducer | None:
        """Stop the timers and senders and give back the producer (for the caller to stop)."""
        producer, self.producer = self.producer, None
        for state in self._partitions.values():
            if state.timer is not None:
                state.timer.cancel()
            if state.sender is not None and not state.sender.done():
                state.sender.cancel()
        return producer
