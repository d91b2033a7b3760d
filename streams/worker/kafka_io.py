"""Kafka I/O of the worker: batched sends, ordered commits, the batch-consume loop, partition reads.

The worker (:mod:`streams.worker.app`) turns batches of input records into outputs; this module
moves
them in and out of Kafka:

- :class:`BatchSender` collects outputs into aiokafka batches, one per partition, and hands them
  to the producer from a task of its own, a round at a time, so processing never waits for the
  broker;
- :class:`Committer` commits a consumer's offsets in batch order once each batch's outputs are
  acknowledged (at-least-once), without making the next batch wait for the broker;
- :func:`consume` is the loop of one consumer group: ``getmany``, the handler, the commit;
- :func:`read_partition` reads one partition from its start (or only its tail) with a consumer
  of no group, to rebuild state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)
from aiokafka.partitioner import murmur2
from aiokafka.structs import OffsetAndMetadata

log = logging.getLogger("rtx.worker")

Batch = Mapping[TopicPartition, list[Any]]
Futures = list["asyncio.Future[Any]"]


class BatchSender:
    """Collects outputs into aiokafka BatchBuilders, one per partition, and hands them to the
    producer with ``send_batch`` (a few us per record instead of ~10 us for ``send``).
    Partitions are chosen like the Java client (murmur2 of the key), cached per key.

    One sender serves one stream of batches (a consume loop, the timer) for the worker's life.
    :meth:`submit` returns at once: a task of the sender's own hands the builders to the
    producer. aiokafka keeps one request in flight per broker, and ``send_batch`` waits until
    the partition's previous batch has gone out; while that task waits, the next batches'
    outputs gather in new builders and go out together in the next round. So processing never
    waits for a round trip, and an output waits at most for the request ahead of it (as a
    producer's ``send`` does) instead of for every earlier processing batch's own request."""

    def __init__(self, producer: AIOKafkaProducer, counts: dict[str, int]) -> None:
        self.producer = producer
        self.counts = counts
        self.partition_of: dict[tuple[str, bytes], int] = {}
        self.builders: dict[tuple[str, int], Any] = {}
        self.full: list[tuple[str, int, Any]] = []
        self._round: asyncio.Future[None] | None = None  # acknowledges what is added so far
        # Set when the producer's idempotence state is broken (a batch it numbered never got
        # in): every later batch to that partition fails, so the worker needs a new producer.
        self.broken: BaseException | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def partition(self, topic: str, key: bytes) -> int:
        cached = self.partition_of.get((topic, key))
        if cached is not None:
            return cached
        count = self.counts.get(topic)
        if count is None:
            count = self.counts[topic] = len(await self.producer.partitions_for(topic))
        if count == 1:  # the internal topic and the alert log: nothing to cache (their keys,
            return 0  # alert ids and window deltas, are mostly new: the cache would only grow)
        partition: int = (murmur2(key) & 0x7FFFFFFF) % count
        if len(self.partition_of) > 20_000:
            self.partition_of.clear()
        self.partition_of[(topic, key)] = partition
        return partition

    async def add(
        self,
        topic: str,
        key: bytes,
        value: bytes | None,
        *,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        partition = await self.partition(topic, key)
        builder = self.builders.get((topic, partition))
        if builder is None:
            builder = self.builders[(topic, partition)] = self.producer.create_batch()
        if builder.append(timestamp=timestamp_ms, key=key, value=value, headers=headers or []):
            return
        self.full.append((topic, partition, builder))
        builder = self.builders[(topic, partition)] = self.producer.create_batch()
        if builder.append(timestamp=timestamp_ms, key=key, value=value, headers=headers or []):
            return
        raise ValueError(f"a message of {len(value or b'')} bytes does not fit a batch")

    async def submit(self) -> Futures:
        """Send what was added; the future resolves when the broker acknowledged all of it (it
        fails if any of it failed). Returns at once; no future when nothing was added."""
        if not self.builders and not self.full:
            return []
        if self._round is None:
            self._round = asyncio.get_running_loop().create_future()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="batch-sender")
        self._wake.set()
        return [self._round]

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            pending = self.full + [(t, p, b) for (t, p), b in self.builders.items()]
            self.full, self.builders = [], {}
            done, self._round = self._round, None
            if done is None:
                continue
            futures: Futures = []
            for topic, partition, builder in pending:
                if builder.record_count():
                    try:
                        futures.append(
                            await self.producer.send_batch(builder, topic, partition=partition)
                        )
                    except KafkaError as exc:
                        # A broker is gone and the partition's queue did not drain in time
                        # (KafkaTimeoutError): an unacknowledged batch, not a worker crash.
                        failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                        failed.set_exception(exc)
                        futures.append(failed)
            asyncio.get_running_loop().create_task(_settle(done, futures, self))

    async def close(self) -> None:
        """Stop the sending task (what it had not handed over is dropped, unacknowledged)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# Errors after which aiokafka's idempotent producer cannot continue: the sequence numbers of a
# partition no longer match the broker's (a numbered batch was refused or lost).
FATAL_PRODUCER_ERRORS = (OutOfOrderSequenceNumber, UnknownProducerId, MessageSizeTooLargeError)


async def _settle(done: asyncio.Future[None], futures: Futures, sender: BatchSender) -> None:
    """Resolve a round's future once every batch of the round is acknowledged."""
    try:
        await asyncio.gather(*futures)
    except asyncio.CancelledError:
        done.cancel()
        raise
    except Exception as exc:  # noqa: BLE001 - handed to whoever awaits the round
        if isinstance(exc, FATAL_PRODUCER_ERRORS):
            sender.broken = exc
        if not done.done():
            done.set_exception(exc)
        for f in futures:  # retrieve the others' outcomes too (no "never retrieved" noise)
            if f.done() and not f.cancelled():
                f.exception()
    else:
        if not done.done():
            done.set_result(None)


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
    idempotent, so re-processing is harmless)."""

    def __init__(
        self, consumer: AIOKafkaConsumer, max_in_flight: int = 8, interval_s: float = 1.0
    ) -> None:
        self.consumer = consumer
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
                due = self._last_commit + self.interval_s - time.monotonic()
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
                    if time.monotonic() - self._last_commit >= self.interval_s:
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
        self._last_commit = time.monotonic()
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


async def consume(
    bootstrap_servers: str,
    group: str,
    topics: list[str],
    handler: Callable[[Batch], Awaitable[Futures]],
    revoked: Callable[[set[TopicPartition]], Awaitable[None]],
    assigned: Callable[[set[TopicPartition]], Awaitable[None]],
    *,
    client_id: str,
    batch_max: int,
    batch_within_ms: int,
    consumers: list[AIOKafkaConsumer],
) -> None:
    """Read ``topics`` in batches as consumer group ``group``; commit a batch's offsets only
    after the handler's outputs were acknowledged. The running consumer is in ``consumers``
    (for the lag gauge) until the loop ends."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_max,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    committer = Committer(consumer)

    async def on_revoked(tps: set[TopicPartition]) -> None:
        await committer.drain()  # commit what is acknowledged before giving partitions up
        await revoked(tps)

    consumer.subscribe(topics, listener=_Listener(on_revoked, assigned))
    await consumer.start()
    consumers.append(consumer)
    committer.start()
    log.info("consuming %s as group %s", ", ".join(topics), group)
    wait_ms = batch_within_ms
    try:
        while True:
            if committer.failed is not None:
                # Outputs since the last commit may be missing: drop the in-memory state
                # (alert ids taken as written included) and rebuild it from Kafka.
                await revoked(consumer.assignment())
                await committer.recover()
            batch = await consumer.getmany(timeout_ms=wait_ms, max_records=batch_max)
            if not batch:
                continue
            futures = await handler(batch)
            offsets = {
                tp: OffsetAndMetadata(records[-1].offset + 1, "") for tp, records in batch.items()
            }
            await committer.add(futures, offsets)
    finally:
        consumers.remove(consumer)
        await committer.stop()
        await consumer.stop()


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


def log_failure(future: asyncio.Future[Any]) -> None:
    """A done-callback for outputs nobody awaits: log their failure."""
    if not future.cancelled() and future.exception() is not None:
        log.error("periodic output not delivered: %r", future.exception())
