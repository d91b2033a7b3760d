"""Producer SDK: what trading services embed to publish events.

The four calls of the old Go hub (routing decision, LP status, alert; exposure is now computed
from positions) plus position and quote events. Each call validates its arguments
(:mod:`streams.events`, raising :class:`InvalidEvent` naming the field before anything is
sent), fills in the event id and time, encodes Avro single-object bytes and hands them to an
idempotent aiokafka producer (``acks=all``, ``enable_idempotence``) keyed for partitioning.

Calls return once the event is queued; delivery is confirmed by :meth:`Publisher.flush` (which
raises :class:`DeliveryError` if any queued event failed) or per event with
``await delivery.wait()``.

Exception hierarchy::

    SdkError
     +-- InvalidEvent (also a ValueError)  bad arguments; nothing was sent
     +-- BrokerUnavailable                 no broker answered in time (retriable)
     +-- DeliveryError                     queued events the broker did not acknowledge
     +-- PublisherClosed                   call after close()
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from schemas.codec import Codec, SchemaInfo, default_codec, encode_with
from streams import events
from streams.config import KafkaSettings
from streams.topics import topic_name

T = TypeVar("T")


class SdkError(Exception):
    """Root of the SDK's errors."""

    retriable = False


class InvalidEvent(SdkError, events.InvalidEvent):
    """Bad arguments, raised before anything is sent; ``field`` names the schema field."""


class BrokerUnavailable(SdkError):
    retriable = True


class DeliveryError(SdkError):
    """One or more queued events were not acknowledged by the broker."""

    def __init__(self, failed: int, first: BaseException) -> None:
        super().__init__(f"{failed} event(s) not delivered; first error: {first!r}")
        self.failed = failed
        self.first = first


class PublisherClosed(SdkError):
    pass


@dataclass(frozen=True, slots=True)
class Delivery:
    """A queued event: its id, topic and a future for the broker's acknowledgement."""

    event_id: str
    topic: str
    future: asyncio.Future[RecordMetadata]

    async def wait(self) -> RecordMetadata:
        try:
            return await self.future
        except KafkaError as exc:
            raise DeliveryError(1, exc) from exc


def _build(builder: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        record: dict[str, Any] = builder(**kwargs)
    except events.InvalidEvent as exc:
        raise InvalidEvent(exc.event, exc.field, exc.problem) from None
    return record


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
        if self._closed:
            raise PublisherClosed("publisher is closed")
        producer = self._producer
        if producer is None:
            raise PublisherClosed("publisher not started: call start() or use 'async with'")
        topic, info = self._routes[schema]
        value = encode_with(info, record)
        future = await producer.send(topic, value=value, key=key.encode())
        future.add_done_callback(self._on_done)
        self.sent += 1
        return Delivery(record["eventId"], topic, future)

    def _on_done(self, future: asyncio.Future[RecordMetadata]) -> None:
        if future.cancelled():
            exc: BaseException | None = asyncio.CancelledError()
        else:
            exc = future.exception()
        if exc is not None:
            self._failed += 1
            if self._first_error is None:
                self._first_error = exc

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
            event_id=event_id,
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
            event_id=event_id,
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
            event_id=event_id,
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
            event_id=event_id,
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
            event_id=event_id,
            event_time=event_time,
        )
        return await self._send("Quote", r["symbol"], r)

    async def flush(self) -> None:
        """Wait until every queued event is acknowledged; raise DeliveryError if any failed."""
        if self._producer is not None:
            await self._producer.flush()
        self._raise_failures()

    def _raise_failures(self) -> None:
        if self._failed:
            failed, first = self._failed, self._first_error
            self._failed, self._first_error = 0, None
            assert first is not None  # noqa: S101 - set together with _failed
            raise DeliveryError(failed, first)

    async def close(self, *, flush: bool = True) -> None:
        """Flush (unless told not to) and stop the producer. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            if flush:
                await producer.flush()
        finally:
            await producer.stop()
        self._raise_failures()


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
