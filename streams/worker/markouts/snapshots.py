"""The markout stages' and boards' snapshots on their compacted topic (``internal.markouts.state``).

One record per key (``stage:<partition>``, ``boards``), the latest wins: JSON compressed with
zlib (a stage's quotes and a boards' windows compress three to four times). The topic allows
values of up to 64 MiB (``max.message.bytes``), so the store's producer and reader raise their
limits to match; a snapshot larger than that is not written (logged and counted): the previous
one stays, and a restart re-reads more input.

A snapshot is written only once every output of the records it covers is acknowledged (the
loops await their output rounds first), so "restore it and re-read from its offsets" never
loses an output; outputs after it may be written twice, which the loops make harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from streams.markouts.errors import MarkoutStateError
from streams.worker.markouts import metrics as m

log = logging.getLogger("rtx.markouts")

MAX_BYTES: Final = 64 * 1024 * 1024 - 64 * 1024  # the topic's max.message.bytes, less headroom


def encode(state: dict[str, Any]) -> bytes:
    return zlib.compress(orjson.dumps(state), 1)


def decode(value: bytes, key: str) -> dict[str, Any]:
    try:
        state = orjson.loads(zlib.decompress(value))
    except (zlib.error, orjson.JSONDecodeError) as exc:
        raise MarkoutStateError(f"snapshot {key}: does not decode: {exc}") from exc
    if not isinstance(state, dict):
        raise MarkoutStateError(f"snapshot {key}: not an object")
    return state


class SnapshotStore:
    """Reads the latest snapshot per key; writes one (its own producer, for large values)."""

    def __init__(self, bootstrap_servers: str, topic: str, client_id: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def read(self) -> dict[str, bytes]:
        """The latest value of every key (compressed; :func:`decode` the ones wanted)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            client_id=f"{self.client_id}-state-reader",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=MAX_BYTES + 1024 * 1024,
            fetch_max_bytes=MAX_BYTES + 1024 * 1024,
        )
        await consumer.start()
        latest: dict[str, bytes] = {}
        try:
            tp = TopicPartition(self.topic, 0)
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            await consumer.seek_to_beginning(tp)
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for r in batch.get(tp, []):
                    if r.key is None or r.offset >= end:
                        continue
                    if r.value is None:
                        latest.pop(r.key.decode(), None)
                    else:
                        latest[r.key.decode()] = r.value
        finally:
            await consumer.stop()
        return latest

    async def write(self, key: str, state: dict[str, Any], part: str) -> bool:
        """Write one snapshot and wait for the broker; False when it is too large to write.
        Raises KafkaError when the broker does not acknowledge it."""
        started = time.monotonic()
        value = await asyncio.to_thread(encode, state)
        m.SNAPSHOT_BYTES.labels(part=part).set(len(value))
        if len(value) > MAX_BYTES:
            m.SNAPSHOTS_TOO_LARGE.labels(part=part).inc()
            log.error(
                "snapshot %s of %d bytes is too large to write; keeping the last", key, len(value)
            )
            return False
        producer = await self._start()
        await producer.send_and_wait(self.topic, value, key=key.encode())
        m.SNAPSHOT_SECONDS.labels(part=part).observe(time.monotonic() - started)
        return True

    async def _start(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap_servers,
                    client_id=f"{self.client_id}-state",
                    acks="all",
                    enable_idempotence=True,
                    max_request_size=MAX_BYTES + 1024 * 1024,
                )
                await producer.start()
                self._producer = producer
            return self._producer

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=10)
            except (TimeoutError, KafkaError):
                log.warning("the snapshot producer did not stop cleanly")
