"""librdkafka (confluent-kafka) for the bridge's Kafka source: its configuration, the start-up
calls (partitions, offsets; blocking ones in a thread, retried while a new topic has no leader)
and the small conversions the source needs. Nothing here runs per record but
:func:`message_timestamp`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from streams.settings import KafkaSettings
from ws_bridge.core.config import BridgeSettings

log = logging.getLogger("ws_bridge.kafka")

Partition = tuple[str, int]  # (topic, partition)


def consumer_config(
    kafka: KafkaSettings, fetch: BridgeSettings, logger: logging.Logger
) -> dict[str, Any]:
    """The source's consumer: no group joined (partitions are assigned), nothing committed,
    fetches held by the broker as ``RTX_BRIDGE_FETCH_MAX_WAIT_MS``/``_MIN_BYTES`` say."""
    return {
        "bootstrap.servers": kafka.bootstrap_servers,
        "client.id": f"{kafka.client_id}-bridge",
        # librdkafka wants a group id, but assign() never joins it and nothing is committed.
        "group.id": f"{kafka.client_id}-bridge-unjoined-{secrets.token_hex(4)}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "fetch.wait.max.ms": fetch.fetch_max_wait_ms,
        "fetch.min.bytes": fetch.fetch_min_bytes,
        "error_cb": on_error,
        "logger": logger,
    }


def epoch_of(topic: str, offset: int, timestamp_ms: int, key: bytes | None) -> str:
    """The alert log's epoch from its first record (see the module docstring)."""
    digest = hashlib.sha256()
    digest.update(f"{topic}\0{offset}\0{timestamp_ms}\0".encode())
    digest.update(key or b"")
    return base64.urlsafe_b64encode(digest.digest()[:16]).decode().rstrip("=")


def message_timestamp(message: Message) -> int | None:
    kind, value = message.timestamp()
    return None if kind == 0 else int(value)  # TIMESTAMP_NOT_AVAILABLE


_NO_LEADER_YET = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TIMED_OUT,  # noqa: SLF001 - librdkafka's own codes start with an underscore
)


def retriable(exc: KafkaException) -> bool:
    error = exc.args[0] if exc.args else None
    if not isinstance(error, KafkaError):
        return False
    return bool(error.retriable()) or error.code() in _NO_LEADER_YET


def on_error(error: KafkaError) -> None:
    """librdkafka's error callback: it retries and reconnects by itself; say so once each."""
    if error.fatal():
        log.error("Kafka consumer error (fatal): %s", error)
    else:
        log.warning("Kafka consumer: %s (librdkafka retries)", error)


async def partitions(consumer: Consumer, topics: list[str]) -> list[Partition]:
    """Every partition of ``topics``, waiting while one of them does not exist yet."""
    tps: list[Partition] = []
    for topic in topics:
        while True:
            meta = await asyncio.to_thread(consumer.list_topics, topic, 10.0)
            found = meta.topics.get(topic)
            if found is not None and found.error is None and found.partitions:
                break
            await asyncio.sleep(0.2)
        tps.extend((topic, p) for p in sorted(found.partitions))
    return tps


async def watermarks(consumer: Consumer, tps: list[Partition]) -> dict[Partition, tuple[int, int]]:
    """Each partition's (beginning, end); retried while a new topic has no leader yet."""
    marks: dict[Partition, tuple[int, int]] = {}
    for topic, partition in tps:
        tp = TopicPartition(topic, partition)
        while True:
            try:
                got = await asyncio.to_thread(consumer.get_watermark_offsets, tp, 5.0)
            except KafkaException as exc:
                if not retriable(exc):
                    raise
                got = None
            if got is not None:
                break
            await asyncio.sleep(0.2)
        marks[(topic, partition)] = (int(got[0]), int(got[1]))
    return marks
