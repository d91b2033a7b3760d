"""Producer SDK: what trading services embed to publish events.

The four calls of the old Go hub (routing decision, LP status, alert; exposure is now computed
from positions) plus position and quote events. Each call validates its arguments
(:mod:`streams.events`, raising :class:`InvalidEvent` naming the field before anything is
sent), fills in the event id and time, encodes Avro single-object bytes and hands them to an
idempotent aiokafka producer (``acks=all``, ``enable_idempotence``) keyed for partitioning.
The calls are generated from the event descriptions (:mod:`streams.sdk.methods`); batching per
partition is :mod:`streams.sdk.batching`; errors are in :mod:`streams.sdk.errors`.

Calls return once the event is queued; delivery is confirmed by :meth:`Publisher.flush` (which
raises :class:`DeliveryError` if any queued event failed) or per event with
``await delivery.wait()``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.codec import Codec, SchemaInfo, default_codec, encode_with
from streams.events.spec import EVENTS
from streams.sdk.batching import Batcher, Delivery
from streams.sdk.errors import BrokerUnavailable, PublisherClosed
from streams.sdk.methods import EventMethods
from streams.settings import KafkaSettings
from streams.topics import topic_name


class EventIds:
    """Unique event ids in UUID text form: a random 76-bit prefix per publisher and a 48-bit
    counter, with the version-4 and variant bits set. Cheaper than ``uuid4()`` per event and
    unique as long as two publishers never draw the same prefix (p ~ n^2 / 2^77)."""

    def __init__(self) -> None:
        r = os.urandom(10).hex()
        self._prefix = f"{r[:8]}-{r[8:12]}-4{r[12:15]}-{'89ab'[int(r[15], 16) % 4]}{r[16:19]}-"
        self._counter = itertools.count(int.from_bytes(os.urandom(2), "big") << 24)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"


class Publisher(EventMethods):
    """Async publisher. Use ``async with Publisher() as pub:`` or ``start()``/``close()``."""

    def __init__(
        self, settings: KafkaSettings | None = None, *, codec: Codec | None = None
    ) -> None:
        self.settings = settings or KafkaSettings.from_env()
        codec = codec or default_codec()
        self._routes: dict[str, tuple[str, SchemaInfo]] = {
            e.name: (topic_name(e.topic, self.settings), codec.schema(e.name)) for e in EVENTS
        }
        self._batches = Batcher(self.settings.producer_linger_ms / 1000)
        self._ids = EventIds()
        self._closed = False
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
        if self._batches.producer is not None:
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
        self._batches.producer = producer

    async def _send(self, schema: str, key: str, record: dict[str, Any]) -> Delivery:
        if self._batches.producer is None or self._closed:
            raise PublisherClosed(
                "publisher is closed"
                if self._closed
                else "publisher not started: call start() or use 'async with'"
            )
        topic, info = self._routes[schema]
        value = encode_with(info, record, validate=False)  # built by streams.events
        delivery = await self._batches.append(
            topic, key, value, record["eventTime"] // 1000, record["eventId"], info.short_name
        )
        self.sent += 1
        return delivery

    async def flush(self) -> None:
        """Wait until every queued event is acknowledged; raise DeliveryError if any failed."""
        await self._batches.flush()

    async def close(self, *, flush: bool = True) -> None:
        """Flush (unless told not to) and stop the producer. Safe to call twice."""
        if self._closed or self._batches.producer is None:
            self._closed = True
            return
        try:
            if flush:
                await self.flush()
        finally:
            self._closed = True
            producer = self._batches.detach()
            if producer is not None:
                await producer.stop()
