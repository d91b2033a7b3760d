"""The worker's producer: one idempotent aiokafka producer (acks=all) shared by the senders of
its output streams, replaced when its idempotence state breaks, and closed on shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streams.worker.batch_sender import BatchSender

log = logging.getLogger("rtx.worker")

StartProducer = Callable[[], Awaitable[AIOKafkaProducer]]
"""Creates and starts a producer."""


def producer_starter(bootstrap_servers: str, client_id: str) -> StartProducer:
    """How the worker starts its producer: idempotent, acks=all, batches of up to 1 MiB."""

    async def start() -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            max_batch_size=1024 * 1024,
        )
        await producer.start()
        return producer

    return start


class Producers:
    """The worker's producer and the senders of its output streams.

    :meth:`sender` gives the sender of one stream of outputs (``inputs``, ``global``, ``tick``),
    kept for the worker's life so that its rounds go out in order (:class:`BatchSender`). If a
    sender saw the producer's idempotence state break, every sender and the producer are
    replaced (a new producer id; the failed rounds' loops re-read from their last commit).
    :meth:`close` stops every sender and the producer (on shutdown, once the loops stopped)."""

    def __init__(self, start_producer: StartProducer) -> None:
        self._start_producer = start_producer
        self.producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._senders: dict[str, BatchSender] = {}
        self._partition_counts: dict[str, int] = {}

    async def sender(self, stream: str) -> BatchSender:
        broken = next((s.broken for s in self._senders.values() if s.broken), None)
        if broken is not None:
            log.warning("producer state broken (%r): starting a new producer", broken)
            await self._close()
        sender = self._senders.get(stream)
        if sender is None:
            sender = self._senders[stream] = BatchSender(
                await self._producer(), self._partition_counts
            )
        return sender

    async def close(self) -> None:
        """Stop every sender (what they had not handed over is dropped, unacknowledged: its
        offsets are not committed) and the producer."""
        await self._close()

    async def _producer(self) -> AIOKafkaProducer:
        if self.producer is not None:
            return self.producer
        async with self._lock:  # both loops and the timer may ask at once
            if self.producer is None:
                self.producer = await self._start_producer()
        return self.producer

    async def _close(self) -> None:
        old, self.producer = self.producer, None
        senders, self._senders = self._senders, {}
        for sender in senders.values():
            await sender.close()
        if old is not None:
            try:
                await asyncio.wait_for(old.stop(), timeout=10)
            except (TimeoutError, KafkaError):
                log.warning("a producer did not stop cleanly; dropped")
