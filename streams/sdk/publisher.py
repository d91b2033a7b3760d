"""Producer SDK: what trading services embed to publish events.

The four calls of the old Go hub (routing decision, LP status, alert; exposure is now computed
from positions) plus position and quote events. Each call validates its arguments
(:mod:`streams.events`, raising :class:`InvalidEvent` naming the field before anything is
sent), fills in the event id and time, encodes Avro single-object bytes and hands them to an
idempotent aiokafka producer (``acks=all``, ``enable_idempotence``) keyed for partitioning.

Calls return once the event is queued; delivery is confirmed by :meth:`Publisher.flush` (which
raises :class:`DeliveryError` if any queued event failed) or per event with
``await delivery.wait()``.

Batching: the publisher fills one aiokafka ``BatchBuilder`` per partition itself and submits it
with ``send_batch`` when it is full (``RTX_PRODUCER_MAX_BATCH_BYTES``) or ``linger_ms`` after its
first record, on one sender task per partition so per-key order holds. This skips most of
``AIOKafkaProducer.send``'s per-record work (metadata wait, partitioner, a future per record),
which costs more than validating and encoding an event; idempotence (producer id and sequence
numbers) and retries stay aiokafka's. Partitions are chosen as the Java client does
(murmur2 of the key), so keys land where every other Kafka client would put them. At most
``MAX_READY_BATCHES`` closed batches wait per partition: a call beyond that waits for the broker.

Exception hierarchy::

    SdkError
     +-- InvalidEvent (also a ValueError)  bad arguments; nothing was sent
     +-- BrokerUnavailable                 no broker answered in time (retriable)
     +-- DeliveryError                     queued events the broker did not acknowledge
     +-- PublisherClosed                   call after close()
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections import deque
from collections.abc import Coroutine, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.structs import RecordMetadata

from schemas.codec import Codec, SchemaInfo, default_codec, encode_with
from streams import events
from streams.errors import StreamsError
from streams.settings import KafkaSettings
from streams.topics import topic_name

T = TypeVar("T")


class SdkError(StreamsError):
    """Root of the SDK's errors."""


class InvalidEvent(SdkError, events.InvalidEvent):
    """Bad arguments, raised before anything is sent; ``field`` names the schema field."""


class BrokerUnavailable(SdkError):
    retriable = True


class DeliveryError(SdkError):
    """One or more queued events were not acknowledged by the broker; sending them again is
    safe with the idempotent producer's de-duplication per event id downstream."""

    retriable = True

    def __init__(self, failed: int, first: BaseException) -> None:
        super().__init__(f"{failed} event(s) not delivered; first error: {first!r}")
        self.failed = failed
        self.first = first


class PublisherClosed(SdkError):
    pass


class Delivery:
    """A queued event: its id and topic, and the broker's acknowledgement to await."""

    __slots__ = ("event_id", "topic", "_batch", "_index")

    def __init__(self, event_id: str, topic: str, batch: _Batch, index: int) -> None:
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


class _Batch:
    """Records for one partition, built with aiokafka's batch API (see Publisher docstring)."""

    __slots__ = ("builder", "done", "count")

    def __init__(self, builder: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.builder = builder
        self.done: asyncio.Future[RecordMetadata] = loop.create_future()
        self.count = 0


class _Partition:
    """One topic-partition's open batch and the closed batches waiting to be submitted."""

    __slots__ = ("topic", "partition", "open", "ready", "sender", "timer")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.open: _Batch | None = None
        self.ready: deque[_Batch] = deque()
        self.sender: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None


def _build(builder: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        record: dict[str, Any] = builder(**kwargs)
    except events.InvalidEvent as exc:
        raise InvalidEvent(exc.event, exc.field, exc.problem) from None
    return record


MAX_READY_BATCHES = 4
_PARTITION_CACHE_MAX = 100_000


class _EventIds:
    """Unique event ids in UUID text form: a random 76-bit prefix per publisher and a 48-bit
    counter, with the version-4 and variant bits set. Cheaper than ``uuid4()`` per event and
    unique as long as two publishers never draw the same prefix (p ~ n^2 / 2^77)."""

    def __init__(self) -> None:
        r = os.urandom(10).hex()
        self._prefix = f"{r[:8]}-{r[8:12]}-4{r[12:15]}-{'89ab'[int(r[15], 16) % 4]}{r[16:19]}-"
        self._counter = itertools.count(int.from_bytes(os.urandom(2), "big") << 24)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"


class Publisher:
    """Async publisher. Use ``async with Publisher() as pub:`` or ``start()``/``close()``."""

    def __init__(
        self, settings: KafkaSettings | None = None, *, codec: Codec | None = None
    ) -> None:
        self.settings = settings or KafkaSettings.from_env()
        codec = codec or default_codec()
        s = self.settings
        self._routes: dict[str, tuple[str, SchemaInfo]] = {
            name: (topic_name(logical, s), codec.schema(name))
            for name, logical in (
                ("RoutingDecision", "routing_decisions"),
                ("LpStatus", "lp_status"),
                ("PositionState", "positions"),
                ("Quote", "quotes"),
                ("ServiceAlert", "alerts_inbound"),
            )
        }
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[tuple[str, int], _Partition] = {}
        self._partition_of: dict[tuple[str, str], int] = {}
        self._partition_counts: dict[str, int] = {}
        self._room = asyncio.Event()
        self._linger_s = self.settings.producer_linger_ms / 1000
        self._ids = _EventIds()
        self._unacknowledged: set[_Batch] = set()
        self._closed = False
        self._failed = 0
        self._first_error: BaseException | None = None
        self.sent = 0

    async def __aenter__(self) -> Publisher:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close(flush=exc is None)

    async def start(self) -> None:
        if self._producer is not None:
            return
        s = self.settings
        producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers,
            client_id=s.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=s.producer_linger_ms,
            max_batch_size=s.producer_max_batch_bytes,
            compression_type=None if s.producer_compression == "none" else s.producer_compression,
            request_timeout_ms=s.producer_request_timeout_ms,
        )
        try:
            async with asyncio.timeout(s.producer_connect_timeout_s):
                await producer.start()
        except (TimeoutError, KafkaError, OSError) as exc:
            await producer.stop()
            raise BrokerUnavailable(
                f"no Kafka broker answered at {s.bootstrap_servers} within "
                f"{s.producer_connect_timeout_s:g} s (KAFKA_BOOTSTRAP_SERVERS; "
                f"RTX_PRODUCER_CONNECT_TIMEOUT_S): {exc!r}"
            ) from exc
        self._producer = producer

    async def _send(self, schema: str, key: str, record: dict[str, Any]) -> Delivery:
        producer = self._producer
        if producer is None or self._closed:
            raise PublisherClosed(
                "publisher is closed"
                if self._closed
                else "publisher not started: call start() or use 'async with'"
            )
        topic, info = self._routes[schema]
        value = encode_with(info, record, validate=False)  # built by streams.events
        key_bytes = key.encode()
        partition = self._partition_of.get((topic, key))
        if partition is None:
            partition = await self._choose_partition(topic, key, key_bytes)
        state = self._partitions.get((topic, partition))
        if state is None:
            state = self._partitions[(topic, partition)] = _Partition(topic, partition)
        while len(state.ready) >= MAX_READY_BATCHES:
            self._room.clear()
            await self._room.wait()
        timestamp_ms = record["eventTime"] // 1000
        batch = state.open or self._open_batch(state)
        meta = batch.builder.append(timestamp=timestamp_ms, key=key_bytes, value=value)
        if meta is None:  # full: submit it and start the next one
            self._close_batch(state)
            batch = self._open_batch(state)
            meta = batch.builder.append(timestamp=timestamp_ms, key=key_bytes, value=value)
            if meta is None:
                raise InvalidEvent(
                    info.short_name,
                    "*",
                    f"encoded event of {len(value)} bytes exceeds RTX_PRODUCER_MAX_BATCH_BYTES",
                )
        batch.count += 1
        self.sent += 1
        return Delivery(record["eventId"], topic, batch, meta.offset)

    async def _choose_partition(self, topic: str, key: str, key_bytes: bytes) -> int:
        count = self._partition_counts.get(topic)
        if count is None:
            assert self._producer is not None  # noqa: S101 - checked by the caller
            parts = await self._producer.partitions_for(topic)
            count = self._partition_counts[topic] = len(parts)
        # Java client's default partitioner for keyed records: toPositive(murmur2(key)) % n.
        partition: int = (murmur2(key_bytes) & 0x7FFFFFFF) % count
        if len(self._partition_of) >= _PARTITION_CACHE_MAX:
            self._partition_of.clear()
        self._partition_of[(topic, key)] = partition
        return partition

    def _open_batch(self, state: _Partition) -> _Batch:
        assert self._producer is not None  # noqa: S101 - only called while started
        batch = state.open = _Batch(self._producer.create_batch(), asyncio.get_running_loop())
        state.timer = asyncio.get_running_loop().call_later(
            self._linger_s, self._linger_expired, state, batch
        )
        return batch

    def _linger_expired(self, state: _Partition, batch: _Batch) -> None:
        if state.open is batch:
            self._close_batch(state)

    def _close_batch(self, state: _Partition) -> None:
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

    async def _submit(self, state: _Partition) -> None:
        """Hand a partition's closed batches to aiokafka in order, one at a time (send_batch
        itself waits until the partition's previous batch is drained)."""
        producer = self._producer
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

    def _acknowledged(self, batch: _Batch, future: asyncio.Future[RecordMetadata]) -> None:
        self._unacknowledged.discard(batch)
        if future.cancelled():
            self._fail(batch, asyncio.CancelledError())
        elif (exc := future.exception()) is not None:
            self._fail(batch, exc)
        elif not batch.done.done():
            batch.done.set_result(future.result())

    def _fail(self, batch: _Batch, exc: BaseException) -> None:
        self._unacknowledged.discard(batch)
        self._failed += batch.count
        if self._first_error is None:
            self._first_error = exc
        if not batch.done.done():
            batch.done.set_exception(exc)
            batch.done.exception()  # mark retrieved: flush() reports it

    async def routing_decision(
        self,
        symbol: str,
        side: str,
        volume: float,
        decision: str,
        lp: str | None = None,
        execution_time_ms: float = 0.0,
        spread: float = 0.0,
        slippage: float = 0.0,
        *,
        price: float | None = None,
        order_id: str | None = None,
        account_id: str | None = None,
        lp_rejected: bool = False,
        event_id: str | None = None,
        event_time: datetime | int | None = None,
    ) -> Delivery:
        """NotifyRoutingDecision: keyed by symbol."""
        r = _build(
            events.routing_decision,
            symbol=symbol,
            side=side,
            volume=volume,
            decision=decision,
            lp=lp,
            execution_time_ms=execution_time_ms,
            spread=spread,
            slippage=slippage,
            price=price,
            order_id=order_id,
            account_id=account_id,
            lp_rejected=lp_rejected,
            event_id=self._ids() if event_id is None else event_id,
            event_time=event_time,
        )
        return await self._send("RoutingDecision", r["symbol"], r)

    async def lp_status(
        self,
        lp_name: str,
        status: str,
        avg_spread: float = 0.0,
        execution_quality: float = 1.0,
        latency_ms: float = 0.0,
        quotes_per_second: float = 0.0,
        reject_rate: float = 0.0,
        uptime: float = 100.0,
        *,
        event_id: str | None = None,
        event_time: datetime | int | None = None,
    ) -> Delivery:
        """NotifyLPStatusChange: keyed by LP name."""
        r = _build(
            events.lp_status,
            lp_name=lp_name,
            status=status,
            avg_spread=avg_spread,
            execution_quality=execution_quality,
            latency_ms=latency_ms,
            quotes_per_second=quotes_per_second,
            reject_rate=reject_rate,
            uptime=uptime,
            event_id=self._ids() if event_id is None else event_id,
            event_time=event_time,
        )
        return await self._send("LpStatus", r["lpName"], r)

    async def alert(
        self,
        severity: str,
        category: str,
        title: str,
        message: str,
        source: str,
        action_items: Iterable[str] = (),
        *,
        event_id: str | None = None,
        event_time: datetime | int | None = None,
    ) -> Delivery:
        """NotifyAlert: keyed by source; merged into the persisted alert log downstream."""
        r = _build(
            events.service_alert,
            severity=severity,
            category=category,
            title=title,
            message=message,
            source=source,
            action_items=action_items,
            event_id=self._ids() if event_id is None else event_id,
            event_time=event_time,
        )
        return await self._send("ServiceAlert", r["source"], r)

    async def position(
        self,
        position_id: str,
        account_id: str,
        symbol: str,
        side: str,
        volume: float,
        open_price: float,
        book: str,
        version: int,
        *,
        lp: str | None = None,
        current_price: float | None = None,
        status: str = "OPEN",
        event_id: str | None = None,
        event_time: datetime | int | None = None,
    ) -> Delivery:
        """The full current state of one position: keyed by position id (compacted topic)."""
        r = _build(
            events.position,
            position_id=position_id,
            account_id=account_id,
            symbol=symbol,
            side=side,
            volume=volume,
            open_price=open_price,
            book=book,
            version=version,
            lp=lp,
            current_price=current_price,
            status=status,
            event_id=self._ids() if event_id is None else event_id,
            event_time=event_time,
        )
        return await self._send("PositionState", r["positionId"], r)

    async def quote(
        self,
        symbol: str,
        bid: float,
        ask: float,
        *,
        lp: str | None = None,
        event_id: str | None = None,
        event_time: datetime | int | None = None,
    ) -> Delivery:
        """A bid/ask quote: keyed by symbol."""
        r = _build(
            events.quote,
            symbol=symbol,
            bid=bid,
            ask=ask,
            lp=lp,
            event_id=self._ids() if event_id is None else event_id,
            event_time=event_time,
        )
        return await self._send("Quote", r["symbol"], r)

    async def flush(self) -> None:
        """Wait until every queued event is acknowledged; raise DeliveryError if any failed."""
        for state in self._partitions.values():
            self._close_batch(state)
        pending = [b.done for b in self._unacknowledged]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        self._raise_failures()

    def _raise_failures(self) -> None:
        if self._failed:
            failed, first = self._failed, self._first_error
            self._failed, self._first_error = 0, None
            assert first is not None  # noqa: S101 - set together with _failed
            raise DeliveryError(failed, first)

    async def close(self, *, flush: bool = True) -> None:
        """Flush (unless told not to) and stop the producer. Safe to call twice."""
        if self._closed or self._producer is None:
            self._closed = True
            return
        try:
            if flush:
                await self.flush()
        finally:
            self._closed = True
            producer, self._producer = self._producer, None
            for state in self._partitions.values():
                if state.timer is not None:
                    state.timer.cancel()
                if state.sender is not None and not state.sender.done():
                    state.sender.cancel()
            await producer.stop()


class SyncPublisher:
    """Blocking wrapper for services that are not async: runs a Publisher on its own loop thread.

    Each call blocks until the event is queued (not delivered); ``flush()`` blocks until every
    queued event is acknowledged.
    """

    def __init__(self, settings: KafkaSettings | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rtx-sdk", daemon=True)
        self._thread.start()
        self._pub = Publisher(settings)
        try:
            self._run(self._pub.start())
        except BaseException:
            self._stop_loop()
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def routing_decision(self, *args: Any, **kwargs: Any) -> str:
        return self._run(self._pub.routing_decision(*args, **kwargs)).event_id

    def lp_status(self, *args: Any, **kwargs: Any) -> str:
        return self._run(self._pub.lp_status(*args, **kwargs)).event_id

    def alert(self, *args: Any, **kwargs: Any) -> str:
        return self._run(self._pub.alert(*args, **kwargs)).event_id

    def position(self, *args: Any, **kwargs: Any) -> str:
        return self._run(self._pub.position(*args, **kwargs)).event_id

    def quote(self, *args: Any, **kwargs: Any) -> str:
        return self._run(self._pub.quote(*args, **kwargs)).event_id

    def flush(self) -> None:
        self._run(self._pub.flush())

    def close(self) -> None:
        if not self._loop.is_running():
            return
        try:
            self._run(self._pub.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> SyncPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
