"""The committer of streams/worker/kafka_io.py without a broker: ordered, coalesced commits (a
stand-in consumer records them; the committer only calls ``commit``; its clock is the test's)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import OffsetAndMetadata

from streams.worker.kafka_io import Committer, _Offsets

TP = TopicPartition("t", 0)
TP2 = TopicPartition("t", 1)


class Recorder:
    def __init__(self, fail_first: int = 0) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.fail_first = fail_first
        self.committed = asyncio.Event()  # set by each commit

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise KafkaConnectionError("broker away")
        self.commits.append({tp: o.offset for tp, o in offsets.items()})
        self.committed.set()


def done() -> asyncio.Future[Any]:
    f: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    f.set_result(None)
    return f


def at(offset: int, tp: TopicPartition = TP) -> dict[TopicPartition, OffsetAndMetadata]:
    return {tp: OffsetAndMetadata(offset, "")}


class Clock:
    """Monotonic seconds that move only when the test moves them."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def commits_reach(consumer: Recorder, count: int) -> None:
    """Wait until ``consumer`` saw ``count`` commits (the committer's own timer commits)."""
    async with asyncio.timeout(10):
        while len(consumer.commits) < count:
            consumer.committed.clear()
            await consumer.committed.wait()


async def test_a_steady_trickle_of_batches_is_committed_once_per_interval() -> None:
    """40 batches 0.01 s apart (committer's clock) with a 0.2 s interval: the first batch is
    committed at once, then one commit per interval, in batch order; the rest goes out on
    drain. The interval is long in real time too, so only the clock decides."""
    consumer, clock = Recorder(), Clock()
    committer = Committer(consumer, interval_s=200.0, clock=clock)  # type: ignore[arg-type]
    committer.start()
    try:
        for n in range(1, 41):
            await committer.add([done()], at(n))
            await committer.queue.join()  # processed: committed or waiting for the interval
            clock.now += 10.0
        assert [c[TP] for c in consumer.commits] == [1, 21]
        await committer.drain()  # revocation, shutdown: what is acknowledged goes out at once
    finally:
        await committer.stop()
    assert [c[TP] for c in consumer.commits] == [1, 21, 40]


async def test_pending_offsets_are_committed_when_the_stream_goes_quiet() -> None:
    consumer, clock = Recorder(), Clock()
    committer = Committer(consumer, interval_s=0.1, clock=clock)  # type: ignore[arg-type]
    committer.start()
    try:
        await committer.add([done()], at(5))  # committed at once: no commit for a while
        clock.now += 0.05
        await committer.add([done()], at(7, TP2))  # within the interval: waits
        await committer.queue.join()
        assert consumer.commits == [{TP: 5}], "the second waits for the interval"
        clock.now += 0.05  # nothing else arrives: the interval ends and the offsets go out
        await commits_reach(consumer, 2)
        assert consumer.commits == [{TP: 5}, {TP2: 7}]
    finally:
        await committer.stop()


async def test_a_failed_commit_keeps_its_offsets_for_the_next_one() -> None:
    consumer, clock = Recorder(fail_first=1), Clock()
    committer = Committer(consumer, interval_s=0.05, clock=clock)  # type: ignore[arg-type]
    committer.start()
    try:
        await committer.add([done()], at(3, TP2))  # its commit fails: the offsets stay
        await committer.queue.join()
        assert consumer.commits == []
        clock.now += 0.1
        await committer.add([done()], at(9))  # the interval is over: committed with them
        await commits_reach(consumer, 1)
    finally:
        await committer.stop()
    assert committer.failed is None, "a commit failure is not an output failure"
    merged: dict[TopicPartition, int] = {}
    for c in consumer.commits:
        merged.update(c)
    assert merged == {TP: 9, TP2: 3}


class Rec:
    def __init__(self, offset: int) -> None:
        self.offset = offset


def test_a_held_partition_commits_at_its_hold_then_its_end_once_released() -> None:
    """Offsets to commit with a hold (account partials not sent yet): the hold, not the batch
    end; once released, the end, even when no more records come for that partition (the idle
    path), and never for a partition given up."""
    holds: dict[TopicPartition, int] = {TP: 100}
    offsets = _Offsets(holds.get)
    first = offsets.of({TP: [Rec(100), Rec(149)], TP2: [Rec(7)]})
    assert {tp: o.offset for tp, o in first.items()} == {TP: 100, TP2: 8}
    assert offsets.released() == {}, "still held"
    more = offsets.of({TP: [Rec(150), Rec(199)]})
    assert {tp: o.offset for tp, o in more.items()} == {TP: 100}
    del holds[TP]
    assert {tp: o.offset for tp, o in offsets.released().items()} == {TP: 200}
    assert offsets.released() == {}, "committed once"
    holds[TP2] = 8
    offsets.of({TP2: [Rec(8), Rec(9)]})
    offsets.forget({TP2})
    del holds[TP2]
    assert offsets.released() == {}, "a partition given up is not committed"
