"""Kafka input of the worker: ordered commits, the batch-consume loop, partition reads.

The worker's loops (:mod:`streams.worker.inputs_loop`, :mod:`streams.worker.global_loop`) turn
batches of records into outputs; their outputs go out through
:class:`streams.worker.batch_sender.BatchSender`. This module reads the records:

- :class:`Committer` commits a consumer's offsets in batch order once each batch's outputs are
  acknowledged (at-least-once), without making the next batch wait for the broker;
- :func:`consume` is the loop of one consumer group: ``getmany``, the handler, the commit
  (:func:`consume_group`: as the worker's group of a role, with its settings);
- :func:`read_partition` reads one partition from its start (or only its tail) with a consumer
  of no group, to rebuild state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from streams.settings import KafkaSettings
from streams.worker.batch_sender import Futures
from streams.worker.settings import WorkerSettings

log = logging.getLogger("rtx.worker")

Batch = Mapping[TopicPartition, list[Any]]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        revoked: Callable[[set[TopicPartition]], Awaitable[None]],
        assigned: Callable[[set[TopicPartition]], Awaitable[None]],
    ) -> None:
        self._revoked, self._assigned = revoked, assigned

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._assigned(set(assigned))


class Committer:
    """Commits a consumer's offsets in batch order once each batch's outputs are acknowledged,
    without making the next batch wait for the broker (at most ``max_in_flight`` batches are
    unacknowledged; commits are coalesced to at most one per ``interval_s``: each commit is a
    request, and at a steady trickle one per batch was a tenth of the global stage's time). The
    last acknowledged offsets are committed at most ``interval_s`` late, and at once on
    :meth:`drain` (revocation, shutdown). If outputs fail, nothing
    after them is committed and the loop re-reads from the committed offsets (outputs are
    idempotent, so re-processing is harmless). ``clock`` (monotonic seconds) decides when an
    interval is over; the wait for a quiet stream's last commit sleeps until then."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        max_in_flight: int = 8,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer = consumer
        self._clock = clock
        self.queue: asyncio.Queue[tuple[Futures, dict[TopicPartition, OffsetAndMetadata]]] = (
            asyncio.Queue(maxsize=max_in_flight)
        )
        self.interval_s = interval_s
        self.pending: dict[TopicPartition, OffsetAndMetadata] = {}
        self.failed: BaseException | None = None
        self._last_commit = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def add(self, futures: Futures, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        await self.queue.put((futures, offsets))

    async def _run(self) -> None:
        while True:
            if self.pending:  # commit what waits once the interval is over, even when quiet
                due = self._last_commit + self.interval_s - self._clock()
                try:
                    futures, offsets = await asyncio.wait_for(self.queue.get(), max(0.0, due))
                except TimeoutError:
                    await self._commit_quietly()
                    continue
            else:
                futures, offsets = await self.queue.get()
            try:
                if self.failed is None:
                    if futures:
                        await asyncio.gather(*futures)
                    self.pending.update(offsets)
                    if self._clock() - self._last_commit >= self.interval_s:
                        await self._commit_quietly()
            except (KafkaError, OSError) as exc:
                log.warning("outputs not acknowledged (%r); re-reading from the last commit", exc)
                self.failed = exc
                self.pending.clear()
            finally:
                self.queue.task_done()

    async def _commit_quietly(self) -> None:
        try:
            await self._commit()
        except (KafkaError, OSError) as exc:  # the next commit carries these offsets too
            log.warning("offset commit failed (%r); retrying with the next one", exc)

    async def _commit(self) -> None:
        if not self.pending:
            return
        offsets, self.pending = self.pending, {}
        self._last_commit = self._clock()
        try:
            await self.consumer.commit(offsets)
        except CommitFailedError as exc:
            log.info("commit skipped after a rebalance (redelivered elsewhere): %s", exc)
        except (KafkaError, OSError):
            for tp, offset in offsets.items():  # newer offsets of a partition win
                self.pending.setdefault(tp, offset)
            raise

    async def drain(self) -> None:
        """Wait until every queued batch is acknowledged and committed."""
        await self.queue.join()
        if self.failed is None:
            await self._commit()

    async def recover(self) -> None:
        await self.queue.join()
        self.pending.clear()
        for tp in self.consumer.assignment():
            committed = await self.consumer.committed(tp)
            if committed is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)
        self.failed = None
        await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._task is not None:
            try:
                await asyncio.wait_for(self.drain(), timeout=10)
            except (TimeoutError, KafkaError):
                log.warning("stopping with unacknowledged outputs; they will be redelivered")
            self._task.cancel()


class _Offsets:
    """The offsets to commit once outputs are acknowledged: past a batch's last records, but
    never past what ``hold`` says is not sent yet; a partition held at its last batch gets its
    end committed once released (after the outputs queued meanwhile), even if no more records
    come for it."""

    def __init__(self, hold: Callable[[TopicPartition], int | None] | None) -> None:
        self.hold = hold
        self.ends: dict[TopicPartition, int] = {}  # each partition's last batch end
        self.short: set[TopicPartition] = set()  # partitions committed below their end

    def of(self, batch: Batch) -> dict[TopicPartition, OffsetAndMetadata]:
        offsets = self.released()
        for tp, records in batch.items():
            held = self.hold(tp) if self.hold is not None else None
            end = self.ends[tp] = records[-1].offset + 1
            offsets[tp] = OffsetAndMetadata(end if held is None else min(held, end), "")
            if held is not None and held < end:
                self.short.add(tp)
            else:
                self.short.discard(tp)
        return offsets

    def released(self) -> dict[TopicPartition, OffsetAndMetadata]:
        out = {}
        for tp in [tp for tp in self.short if self.hold is None or self.hold(tp) is None]:
            out[tp] = OffsetAndMetadata(self.ends[tp], "")
            self.short.discard(tp)
        return out

    def forget(self, tps: set[TopicPartition]) -> None:
        for tp in tps:
            self.ends.pop(tp, None)
            self.short.discard(tp)


async def consume(
    bootstrap_servers: str,
    group: str,
    topics: list[str],
    handler: Callable[[Batch], Awaitable[Futures]],
    revoked: Callable[[set[TopicPartition]], Awaitable[None]],
    *,
    assigned: Callable[[set[TopicPartition]], Awaitable[None]] | None = None,
    client_id: str,
    batch_max: int,
    batch_within_ms: int,
    consumers: list[AIOKafkaConsumer],
    hold: Callable[[TopicPartition], int | None] | None = None,
    idle: Callable[[], Awaitable[Futures]] | None = None,
) -> None:
    """Read ``topics`` in batches as consumer group ``group``; commit a batch's offsets only
    after the handler's outputs were acknowledged. The running consumer is in ``consumers``
    (for the lag gauge) until the loop ends. ``hold(tp)``: an offset not to commit past yet
    (the handler has not sent all it derived from the records from there on), or None;
    ``idle()``: called when a fetch brings nothing, its outputs acknowledged in order with the
    batches' (so a later commit waits for them)."""
    consumer = _group_consumer(bootstrap_servers, group, client_id, batch_max)
    committer = Committer(consumer)
    commits = _Offsets(hold)

    async def on_revoked(tps: set[TopicPartition]) -> None:
        await committer.drain()  # commit what is acknowledged before giving partitions up
        commits.forget(tps)
        await revoked(tps)

    consumer.subscribe(topics, listener=_Listener(on_revoked, assigned or _nothing))
    await consumer.start()
    consumers.append(consumer)
    committer.start()
    log.info("consuming %s as group %s", ", ".join(topics), group)
    try:
        while True:
            if committer.failed is not None:
                # Outputs since the last commit may be missing: drop the in-memory state
                # (alert ids taken as written included) and rebuild it from Kafka.
                commits.forget(consumer.assignment())
                await revoked(consumer.assignment())
                await committer.recover()
            batch = await consumer.getmany(timeout_ms=batch_within_ms, max_records=batch_max)
            if not batch:
                futures = await idle() if idle is not None else []
                if futures or commits.short:
                    await committer.add(futures, commits.released())
                continue
            futures = await handler(batch)
            await committer.add(futures, commits.of(batch))
    finally:
        consumers.remove(consumer)
        await committer.stop()
        await consumer.stop()


def _group_consumer(
    bootstrap_servers: str, group: str, client_id: str, batch_max: int
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_max,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )


async def consume_group(
    kafka: KafkaSettings,
    settings: WorkerSettings,
    role: str,
    topics: list[str],
    handler: Callable[[Batch], Awaitable[Futures]],
    revoked: Callable[[set[TopicPartition]], Awaitable[None]],
    consumers: list[AIOKafkaConsumer],
    *,
    hold: Callable[[TopicPartition], int | None] | None = None,
    idle: Callable[[], Awaitable[Futures]] | None = None,
) -> None:
    """:func:`consume` as the worker's consumer group ``<app id>.<role>``, with its batch
    settings, until cancelled."""
    group = f"{settings.app_id}.{role}"
    await consume(
        kafka.bootstrap_servers,
        group,
        topics,
        handler,
        revoked,
        client_id=f"{group}-{id(consumers):x}",
        batch_max=settings.batch_max,
        batch_within_ms=settings.batch_within_ms,
        consumers=consumers,
        hold=hold,
        idle=idle,
    )


async def read_partition(
    bootstrap_servers: str,
    topic: str,
    partition: int,
    until: int | None,
    *,
    last: int | None = None,
) -> list[Any]:
    """Records of one partition from its start (or only the ``last`` ones) up to offset
    ``until`` (None: to the end)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[Any] = []
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        stop = end if until is None else min(until, end)
        await consumer.seek_to_beginning(tp)
        if last is not None:
            first = max(await consumer.position(tp), stop - last)
            consumer.seek(tp, first)
        while await consumer.position(tp) < stop:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=20_000)
            records.extend(r for r in batch.get(tp, []) if r.offset < stop)
    finally:
        await consumer.stop()
    return records


async def _nothing(_tps: set[TopicPartition]) -> None:
    return None
