"""Batched sends of the worker's outputs: :class:`BatchSender` collects outputs into aiokafka
batches, one per partition, and hands them to the producer from a task of its own, a round at a
time, so processing never waits for the broker. A round's future resolves when the broker
acknowledged all of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    UnknownProducerId,
)
from aiokafka.partitioner import murmur2

log = logging.getLogger("rtx.worker")

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


def log_failure(future: asyncio.Future[Any]) -> None:
    """A done-callback for outputs nobody awaits: log their failure."""
    if not future.cancelled() and future.exception() is not None:
        log.error("periodic output not delivered: %r", future.exception())
