"""The batch sender's rounds (streams/worker/batch_sender.py) without a broker: a stand-in
producer whose ``send_batch`` waits, as aiokafka's does."""

from __future__ import annotations

import asyncio
from typing import Any

from streams.worker.batch_sender import BatchSender


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
