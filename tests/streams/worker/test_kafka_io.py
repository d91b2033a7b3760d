"""The worker's Kafka plumbing (streams/worker/kafka_io.py) without a broker: the committer's
ordered,
coalesced commits (a stand-in consumer records them; the committer only calls ``commit``) and
the batch sender's rounds (a stand-in producer whose ``send_batch`` waits, as aiokafka's does)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from aiokafka.structs import OffsetAndMetadata

from streams.worker.kafka_io import BatchSender, Committer

TP = TopicPartition("t", 0)
TP2 = TopicPartition("t", 1)


class Recorder:
    def __init__(self, fail_first: int = 0) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.fail_first = fail_first

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise KafkaConnectionError("broker away")
        self.commits.append({tp: o.offset for tp, o in offsets.items()})


def done() -> asyncio.Future[Any]:
    f: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    f.set_result(None)
    return f


def at(offset: int, tp: TopicPartition = TP) -> dict[TopicPartition, OffsetAndMetadata]:
    return {tp: OffsetAndMetadata(offset, "")}


async def test_a_steady_trickle_of_batches_is_committed_once_per_interval() -> None:
    consumer = Recorder()
    committer = Committer(consumer, interval_s=0.2)  # type: ignore[arg-type]
    committer.start()
    try:
        for n in range(1, 41):  # 40 batches over ~0.4 s
            await committer.add([done()], at(n))
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # the last offsets go out once the interval is over
    finally:
        await committer.stop()
    assert 2 <= len(consumer.commits) <= 5, consumer.commits
    assert consumer.commits[-1] == {TP: 40}
    offsets = [c[TP] for c in consumer.commits]
    assert offsets == sorted(offsets)


async def test_pending_offsets_are_committed_when_the_stream_goes_quiet() -> None:
    consumer = Recorder()
    committer = Committer(consumer, interval_s=0.1)  # type: ignore[arg-type]
    committer.start()
    try:
        await committer.add([done()], at(5))  # committed at once: no commit for a while
        await committer.add([done()], at(7, TP2))  # within the interval: waits
        await asyncio.sleep(0.25)
        assert consumer.commits == [{TP: 5}, {TP2: 7}]
    finally:
        await committer.stop()


async def test_a_failed_commit_keeps_its_offsets_for_the_next_one() -> None:
    consumer = Recorder(fail_first=1)
    committer = Committer(consumer, interval_s=0.05)  # type: ignore[arg-type]
    committer.start()
    try:
        await committer.add([done()], at(3, TP2))
        await asyncio.sleep(0.02)
        await committer.add([done()], at(9))
        await asyncio.sleep(0.3)
    finally:
        await committer.stop()
    assert committer.failed is None, "a commit failure is not an output failure"
    merged: dict[TopicPartition, int] = {}
    for c in consumer.commits:
        merged.update(c)
    assert merged == {TP: 9, TP2: 3}


class _Builder:
    def __init__(self) -> None:
        self.values: list[bytes | None] = []

    def append(self, *, value: bytes | None, **_kw: Any) -> bool:
        self.values.append(value)
        return True

    def record_count(self) -> int:
        return len(self.values)


class SlowProducer:
    """``send_batch`` waits until the test lets it (as aiokafka waits for the partition's
    previous batch to go out); acknowledgements are released by hand too."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.sent: list[list[bytes | None]] = []
        self.acks: list[asyncio.Future[None]] = []

    async def partitions_for(self, _topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> _Builder:
        return _Builder()

    async def send_batch(self, builder: _Builder, _topic: str, partition: int) -> Any:
        await self.gate.wait()
        self.gate.clear()
        self.sent.append(builder.values)
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


async def test_submit_never_waits_for_the_broker_and_later_outputs_form_the_next_round() -> None:
    producer = SlowProducer()
    sender = BatchSender(producer, {})  # type: ignore[arg-type]
    await sender.add("t", b"k", b"1")
    (first,) = await asyncio.wait_for(sender.submit(), 1)  # returns while send_batch waits
    await asyncio.sleep(0.01)  # the sender's task took round 1 and waits in send_batch
    await sender.add("t", b"k", b"2")
    (second,) = await sender.submit()
    await sender.add("t", b"k", b"3")
    (third,) = await sender.submit()
    assert second is third, "outputs added while a round is out share the next round"
    producer.gate.set()
    await asyncio.sleep(0.01)
    producer.gate.set()
    await asyncio.sleep(0.01)
    assert producer.sent == [[b"1"], [b"2", b"3"]], "in order, the waiting ones together"
    assert not first.done()
    producer.acks[0].set_result(None)
    await asyncio.wait_for(first, 1)
    assert not second.done(), "a round is acknowledged only when its own batches are"
    producer.acks[1].set_result(None)
    await asyncio.wait_for(second, 1)
    await sender.close()
