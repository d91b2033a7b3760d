"""Kafka plumbing the markout loops share: their consumer, its rebalance callbacks, offsets
committed once a snapshot covers them, and the trade ids already in the trade markouts topic."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

log = logging.getLogger("rtx.markouts")

Callback = Callable[[set[TopicPartition]], Awaitable[None]]


class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, revoked: Callback, assigned: Callback) -> None:
        self._revoked, self._assigned = revoked, assigned

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._assigned(set(assigned))


def group_consumer(bootstrap_servers: str, group: str, batch_max: int) -> AIOKafkaConsumer:
    """A consumer of ``group`` that commits nothing by itself. The range assignor gives one
    member the same partition numbers of every topic it subscribes (quotes p, decisions p and
    positions p together), which a partition stage needs."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        client_id=f"{group}-{id(object()):x}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_max,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        partition_assignment_strategy=(RangePartitionAssignor,),
    )


async def seek(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int | None) -> None:
    """To ``offset``, or the beginning when None."""
    if offset is None:
        await consumer.seek_to_beginning(tp)
    else:
        consumer.seek(tp, offset)


async def commit(consumer: AIOKafkaConsumer, offsets: Mapping[TopicPartition, int]) -> None:
    """Commit offsets a snapshot covers (for lag tools: the loops restart from snapshots)."""
    if not offsets:
        return
    try:
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    except (CommitFailedError, KafkaError) as exc:
        log.info("offsets not committed (%r); the next snapshot commits them", exc)


async def caught_up(consumer: AIOKafkaConsumer, tp: TopicPartition) -> bool:
    """Everything the broker had for ``tp`` at the last fetch was handed out."""
    highwater = consumer.highwater(tp)
    if highwater is None:
        return False
    return bool(await consumer.position(tp) >= highwater)


async def keys_since(
    bootstrap_servers: str, topic: str, since_ms: int, timeout_s: float = 60.0
) -> set[str]:
    """The keys of ``topic``'s records (every partition) with a timestamp >= ``since_ms``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    keys: set[str] = set()
    try:
        tps = await partitions_of(consumer, topic)
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        found = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        todo = {tp for tp in tps if found.get(tp) is not None}
        for tp in todo:
            consumer.seek(tp, found[tp].offset)
        async with asyncio.timeout(timeout_s):
            while todo:
                batch = await consumer.getmany(*todo, timeout_ms=500)
                for tp, records in batch.items():
                    keys.update(r.key.decode() for r in records if r.key and r.offset < ends[tp])
                for tp in list(todo):
                    if await consumer.position(tp) >= ends[tp]:
                        todo.discard(tp)
    finally:
        await consumer.stop()
    return keys


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic`` (the consumer's metadata is refreshed until it knows it)."""
    async with asyncio.timeout(30):
        while not (parts := consumer.partitions_for_topic(topic)):
            await consumer._client.force_metadata_update()  # noqa: SLF001 - as the bridge does
            if not (parts := consumer.partitions_for_topic(topic)):
                await asyncio.sleep(0.2)
    return [TopicPartition(topic, p) for p in sorted(parts)]


def by_partition(tps: Iterable[TopicPartition]) -> dict[int, list[TopicPartition]]:
    out: dict[int, list[TopicPartition]] = {}
    for tp in tps:
        out.setdefault(tp.partition, []).append(tp)
    return out


def nothing(*_: Any) -> None:
    return None
