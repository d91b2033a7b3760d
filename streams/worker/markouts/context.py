"""What the markout loops share (one instance per process), and the base of both loops
(:class:`GroupLoop`): a consumer group's read loop whose rebalances never interleave with a
batch, output rounds whose failure makes the loop rebuild from its snapshots (:class:`Rounds`),
and snapshots written only once the outputs before them are acknowledged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.codec import Codec, default_codec
from streams.markouts.config import MarkoutConfig
from streams.settings import KafkaSettings
from streams.topics import topic_name
from streams.worker.batch_sender import Futures
from streams.worker.markouts.kafka import Listener, group_consumer
from streams.worker.markouts.settings import MarkoutsSettings
from streams.worker.markouts.snapshots import SnapshotStore
from streams.worker.producers import Producers, producer_starter

log = logging.getLogger("rtx.markouts")

TOPICS = (
    "quotes",
    "routing_decisions",
    "positions",
    "trade_markouts",
    "account_toxicity",
    "lp_markouts",
    "markout_curves",
    "routing_advice",
    "alerts",
    "markouts_internal",
    "markouts_state",
)
"""The topics ``rtx-analytics markouts`` reads or writes (logical names)."""


@dataclass(frozen=True, slots=True)
class MarkoutsContext:
    kafka: KafkaSettings
    settings: MarkoutsSettings
    config: MarkoutConfig
    overrides: Mapping[str, tuple[str, str]]  # symbol -> (base, quote), [exposure.symbols]
    topics: Mapping[str, str]  # logical name -> topic name
    codec: Codec
    producers: Producers
    store: SnapshotStore

    @classmethod
    def create(
        cls,
        kafka: KafkaSettings,
        settings: MarkoutsSettings,
        config: MarkoutConfig,
        overrides: Mapping[str, tuple[str, str]],
    ) -> MarkoutsContext:
        client = f"{settings.app_id}-markouts"
        topics = {logical: topic_name(logical, kafka) for logical in TOPICS}
        return cls(
            kafka,
            settings,
            config,
            dict(overrides),
            topics,
            default_codec(),
            Producers(producer_starter(kafka.bootstrap_servers, client)),
            SnapshotStore(kafka.bootstrap_servers, topics["markouts_state"], client),
        )


class Rounds:
    """The output rounds of one loop: a failed one sets :attr:`failed` (the loop then rebuilds
    its state from the snapshots), and :meth:`snapshot_after` writes a snapshot once every round
    before it is acknowledged."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.failed: BaseException | None = None
        self._open: Futures = []
        self._task: asyncio.Task[None] | None = None
        self._last = time.monotonic()

    def track(self, futures: Futures) -> None:
        self._open = [f for f in self._open if not f.done()]
        for future in futures:
            future.add_done_callback(self._done)
            self._open.append(future)

    def _done(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None and self.failed is None:
            self.failed = future.exception()
            log.warning("outputs not acknowledged (%r): rebuilding from snapshots", self.failed)

    def due(self) -> bool:
        """Time for a snapshot, and none is being written."""
        busy = self._task is not None and not self._task.done()
        return not busy and time.monotonic() - self._last >= self.every_s

    def snapshot_after(self, write: Callable[[], Awaitable[None]]) -> None:
        """Run ``write`` (in a task) once the rounds tracked so far are acknowledged; not at
        all if one of them fails."""
        self._last = time.monotonic()
        rounds = list(self._open)
        self._task = asyncio.get_running_loop().create_task(self._after(rounds, write))

    async def _after(self, rounds: Futures, write: Callable[[], Awaitable[None]]) -> None:
        try:
            if rounds:
                await asyncio.gather(*rounds)
            if self.failed is None:
                await write()
        except Exception as exc:  # noqa: BLE001 - the outputs' own failure is handled above
            log.warning("snapshot not written (%r); the previous one stands", exc)

    async def settle(self, timeout_s: float = 15.0) -> bool:
        """Wait for the open rounds and the snapshot being written; True if all went well."""
        try:
            async with asyncio.timeout(timeout_s):
                if self._open:
                    await asyncio.gather(*self._open, return_exceptions=True)
                if self._task is not None:
                    await self._task
        except TimeoutError:
            log.warning("outputs still unacknowledged after %.0f s", timeout_s)
            return False
        return self.failed is None

    def reset(self) -> None:
        self.failed = None
        self._open = []


class GroupLoop:
    """The read loop of one consumer group (``<app id>.markouts.<part>``) over ``topics``.

    The rebalance callbacks run in the consumer's own task, between the awaits of a batch: a
    lock keeps a batch apart from a restore (:meth:`restore`) or a release (:meth:`release`),
    and a batch fetched across a restore is dropped (the restore read its partitions again
    from their snapshots' offsets; under the eager protocol every partition is restored). When
    outputs fail, everything is dropped (:meth:`drop`) and restored from the snapshots."""

    part = ""
    timeout_ms = 50

    def __init__(self, context: MarkoutsContext, topics: list[str]) -> None:
        self.ctx = context
        self.topic_names = topics
        self.rounds = Rounds(context.settings.state_snapshot_s)
        self.consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._generation = 0

    async def run(self) -> None:
        """Read until cancelled; on the way out, release (snapshot) what is held."""
        settings = self.ctx.settings
        group = settings.group(self.part)
        consumer = group_consumer(self.ctx.kafka.bootstrap_servers, group, settings.batch_max)
        self.consumer = consumer
        consumer.subscribe(self.topic_names, listener=Listener(self._revoked, self._assigned))
        await consumer.start()
        log.info(
            "markout %s: reading %s as group %s", self.part, ", ".join(self.topic_names), group
        )
        try:
            while True:
                if self.rounds.failed is not None:
                    await self._rebuild(consumer)
                generation = self._generation
                batch = await consumer.getmany(
                    timeout_ms=self.timeout_ms, max_records=settings.batch_max
                )
                async with self._lock:
                    if generation == self._generation:
                        await self.step(consumer, batch)
        finally:
            await self._revoked(consumer.assignment())
            await consumer.stop()
            self.consumer = None

    async def _assigned(self, tps: set[TopicPartition]) -> None:
        async with self._lock:
            self._generation += 1
            await self.restore(tps)

    async def _revoked(self, tps: set[TopicPartition]) -> None:
        async with self._lock:
            await self.release(tps)

    async def _rebuild(self, consumer: AIOKafkaConsumer) -> None:
        async with self._lock:
            await self.rounds.settle()
            self.rounds.reset()
            self.drop()
            self._generation += 1
            await self.restore(consumer.assignment())
        await asyncio.sleep(1.0)  # a broker that just failed us: do not spin

    async def step(self, consumer: AIOKafkaConsumer, batch: Any) -> None:
        raise NotImplementedError

    async def restore(self, tps: set[TopicPartition]) -> None:
        raise NotImplementedError

    async def release(self, tps: set[TopicPartition]) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError
