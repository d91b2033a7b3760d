"""Regression tests for three worker faults found by the fault tests.

1. A broker killed under load made ``send_batch`` raise ``KafkaTimeoutError`` (the partition's
   queue did not drain in time); it escaped the 5 ms timer and Faust stopped the whole worker
   ("We experienced a crash!"). A failed send is now an unacknowledged batch: the timer logs
   it, a consumer loop re-reads from its last commit after rebuilding its state from Kafka.
2. A worker restarted after ``kill -9`` sat idle ~60 s: Faust's own consumer group (default
   ``broker_session_timeout`` 60 s) waited for the dead member to expire before the worker's
   tasks started. Its session is now 10 s, like the tasks' own consumers.
3. A tick whose outputs failed only logged it: an alert raised by a time-based rule in that
   tick could be missing from the log for good. The next tick now rebuilds the global stage
   from Kafka (the last one needs a broker).

And one found by reading the code: a rebalance while a batch rebuilt the global stage left the
rebuilt stage on a member that no longer owned its partition.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaTimeoutError

from streams.settings import KafkaSettings
from streams.worker.app import FAUST_SESSION_TIMEOUT_S, Worker
from streams.worker.batch_sender import BatchSender
from streams.worker.context import WorkerContext
from streams.worker.global_loop import GlobalLoop
from streams.worker.pipeline import GlobalStage, PipelineConfig
from streams.worker.pipeline.records import SNAPSHOT_KEY
from streams.worker.producers import Producers
from streams.worker.settings import WorkerSettings
from streams.worker.topic_names import worker_topics


class _Batch:
    def __init__(self) -> None:
        self.records = 0

    def append(self, **_kw: Any) -> bool:
        self.records += 1
        return True

    def record_count(self) -> int:
        return self.records


class _Producer:
    """send_batch fails for one topic as aiokafka does when a partition's queue does not
    drain within request_timeout_ms; the other topics are acknowledged."""

    def __init__(self, failing_topic: str) -> None:
        self.failing_topic = failing_topic

    async def partitions_for(self, _topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, _builder: Any, topic: str, partition: int) -> Any:
        if topic == self.failing_topic:
            raise KafkaTimeoutError()
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        done.set_result(f"{topic}:{partition}")
        return done

    async def stop(self) -> None:
        return None


async def test_a_send_that_times_out_is_a_failed_batch_not_an_exception() -> None:
    producer = _Producer("exposure")
    sender = BatchSender(producer, {})
    await sender.add("exposure", b"total", b"x")
    await sender.add("alerts", b"id-1", b"y")
    futures = await sender.submit()  # before the fix: raised KafkaTimeoutError
    assert len(futures) == 1, "one future for the round"
    with pytest.raises(KafkaTimeoutError):
        await futures[0]
    # The sender carries on: the next round goes out and is acknowledged.
    await sender.add("alerts", b"id-2", b"z")
    (later,) = await sender.submit()
    await later
    await sender.close()


def test_faust_group_session_is_as_short_as_the_workers_own_consumers() -> None:
    worker = Worker(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        WorkerSettings(),
        PipelineConfig(),
    )
    assert worker.app.conf.broker_session_timeout == pytest.approx(FAUST_SESSION_TIMEOUT_S)
    assert FAUST_SESSION_TIMEOUT_S <= 10.0


def producers_of(*producers: Any) -> Producers:
    """Producers that start the given producers, one per (re)start, in order."""
    queue = list(producers)

    async def start() -> Any:
        producer = queue.pop(0)
        if isinstance(producer, AIOKafkaProducer):
            await producer.start()
        return producer

    return Producers(start)


@pytest.mark.kafka
async def test_a_failed_tick_rebuilds_the_global_stage_from_kafka(topics: KafkaSettings) -> None:
    """A tick's outputs not acknowledged (an alert of a time-based rule may be missing from the
    log while the engine takes it as written): the next tick drops the stage and its alert ids
    and rebuilds both from Kafka, as a restart would, up to the global consumer's position."""
    names = worker_topics(topics)
    # Every tick writes a state snapshot to the internal topic, and that send times out.
    loop = GlobalLoop(
        WorkerContext.create(
            topics,
            WorkerSettings(state_snapshot_s=1e-9),
            PipelineConfig(),
            producers=producers_of(_Producer(names["internal"])),
        )
    )
    producer = AIOKafkaProducer(bootstrap_servers=topics.bootstrap_servers)
    await producer.start()
    internal = TopicPartition(names["internal"], 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=topics.bootstrap_servers)
    await consumer.start()
    try:
        # The alert log holds one alert; the worker believes it also wrote "lost-in-a-tick".
        await producer.send_and_wait(names["alerts"], b"x", key=b"20260119-103045-00000a")
        consumer.assign([internal])
        await consumer.seek_to_end(internal)
        loop.consumers.append(consumer)  # the global consumer, at its position
        stale = loop.stage = GlobalStage(loop.config)
        loop.alert_ids.add("lost-in-a-tick")
        await tick_that_fails(loop)
        await tick_that_fails(loop)  # rebuilds first (then its own snapshot fails too)
        assert loop.stage is not None and loop.stage is not stale
        assert "lost-in-a-tick" not in loop.alert_ids, "taken as written: rebuilt"
        assert "20260119-103045-00000a" in loop.alert_ids, "ids read from the log"
        # Without a global consumer (a rebalance under way) the stage is dropped for the
        # consume loop to rebuild on its next batch.
        loop.consumers.clear()
        assert await loop.tick() == []
        assert loop.stage is None and not len(loop.alert_ids)
    finally:
        await loop.producers.close()  # the senders' tasks must not outlive the test
        await consumer.stop()
        await producer.stop()


@pytest.mark.kafka
async def test_a_revocation_while_a_batch_rebuilds_the_stage_leaves_no_stage_behind(
    topics: KafkaSettings,
) -> None:
    """The rebalance listener can run while a batch rebuilds the global stage (the rebuild
    awaits Kafka: the alert log, the internal topic), and then finds no stage to drop. The
    rebuild used to keep its stage on a member that no longer owned the partition, whose timer
    then ran it beside the new owner's. Now the batch's outputs still go out (its offsets are
    committed like any batch in flight) and the stage is dropped; the next batch rebuilds."""
    names = worker_topics(topics)
    loop = GlobalLoop(WorkerContext.create(topics, WorkerSettings(), PipelineConfig()))
    producer = AIOKafkaProducer(bootstrap_servers=topics.bootstrap_servers)
    await producer.start()
    internal = TopicPartition(names["internal"], 0)
    consumer = AIOKafkaConsumer(bootstrap_servers=topics.bootstrap_servers)
    await consumer.start()
    try:
        # A record the stage skips undecoded (a snapshot's key): the batch needs no content.
        await producer.send_and_wait(names["internal"], b"{}", key=SNAPSHOT_KEY + b"-test")
        consumer.assign([internal])
        await consumer.seek_to_beginning(internal)
        batch = await consumer.getmany(internal, timeout_ms=10_000)
        assert [r.offset for r in batch[internal]] == [0]
        rebuilding = asyncio.create_task(loop.on_batch(batch))
        async with asyncio.timeout(30):
            for _ in range(10_000_000):  # until the rebuild has begun
                if loop._starting.locked():  # noqa: SLF001
                    break
                await asyncio.sleep(0)
        assert loop._starting.locked() and loop.stage is None  # noqa: SLF001
        # The rebuild cannot have ended in the turn that took the lock: it awaits Kafka first.
        await loop.on_revoked({internal})
        futures = await rebuilding
        await asyncio.gather(*futures)
        assert loop.stage is None, "a stage rebuilt across a revocation is not kept"
        assert not len(loop.alert_ids)
        await asyncio.gather(*await loop.on_batch(batch))  # assigned again: it rebuilds
        assert loop.stage is not None
    finally:
        await loop.producers.close()
        await consumer.stop()
        await producer.stop()


async def tick_that_fails(loop: GlobalLoop) -> None:
    """Run one tick and wait until its outputs failed (the timer itself never waits)."""
    (round_,) = await loop.tick()
    with pytest.raises(KafkaTimeoutError):
        await round_


@pytest.mark.kafka
async def test_a_broken_idempotent_producer_is_replaced(topics: KafkaSettings) -> None:
    """A batch the producer numbered was refused (a message over the broker's limit, found by
    the soak): every later batch to that partition fails with OutOfOrderSequenceNumber. The
    round's sender is marked broken, and the next sender the worker hands out comes with a new
    producer, so the loops recover after re-reading from their last commit."""
    from aiokafka.errors import OutOfOrderSequenceNumber

    class Numbered(_Producer):
        stopped = False

        async def send_batch(self, _builder: Any, topic: str, partition: int) -> Any:
            done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            done.set_exception(OutOfOrderSequenceNumber())
            return done

        async def stop(self) -> None:
            self.stopped = True

    old = Numbered("none")
    producers = producers_of(old, AIOKafkaProducer(bootstrap_servers=topics.bootstrap_servers))
    sender = await producers.sender("inputs")
    await sender.add("t", b"k", b"v")
    (round_,) = await sender.submit()
    with pytest.raises(OutOfOrderSequenceNumber):
        await round_
    await asyncio.sleep(0)
    assert isinstance(sender.broken, OutOfOrderSequenceNumber)
    fresh = await producers.sender("inputs")
    try:
        assert fresh is not sender and old.stopped
        assert producers.producer is not None and producers.producer is not old
        assert fresh.producer is producers.producer and fresh.broken is None
    finally:
        await producers.close()
