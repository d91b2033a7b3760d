"""Stage 1's consume loop: the five input topics, read in batches as consumer group
``<app id>.inputs`` (any number of workers split their partitions).

A batch's records are decoded and validated (bad ones are dead-lettered), applied to the
:class:`~streams.worker.pipeline.InputStage`, and the batch's internal messages go to the global
stage. Routing decisions also pass through to the routing-metrics topic unchanged; service
alerts go straight to the alert log (one Kafka hop, for latency), each id once. A positions
partition's book is rebuilt from the (compacted) positions topic when the partition is first
seen: that topic *is* the books' changelog.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.codec import DecodeError
from streams import events
from streams.timeunits import MICROS_PER_S
from streams.worker import metrics as m
from streams.worker.alert_ids import KNOWN_ALERT_IDS, AlertIdLog, read_alert_ids
from streams.worker.batch_sender import BatchSender, Futures
from streams.worker.context import WorkerContext
from streams.worker.dead_letter import DeadLetters
from streams.worker.kafka_io import Batch, consume_group, read_partition
from streams.worker.pipeline import (
    INPUTS,
    InputStage,
    decode_input,
    parse_input,
    service_alert,
)
from streams.worker.pipeline.records import Record

log = logging.getLogger("rtx.worker")


class InputsLoop:
    """Stage 1 of one worker and its consume loop (:meth:`run`)."""

    def __init__(self, context: WorkerContext) -> None:
        self.kafka = context.kafka
        self.settings = settings = context.settings
        self.topics = topics = context.topics
        self.producers = context.producers
        self.codec = context.codec
        self.writer = context.writer
        self.dead_letters = DeadLetters(topics["dead_letter"])
        self.stage = InputStage(
            context.config.routing,
            closed_retention_us=settings.closed_retention_s * MICROS_PER_S,
            max_closed=settings.max_closed,
            calendar=context.config.risk.calendar(),
            accounts_drain_s=settings.accounts_drain_ms / 1000,
        )
        # positions partition -> the offset its commits wait at: an account it changed from
        # there on is not sent yet (InputStage.take_accounts); a crash re-reads from there.
        self._hold: dict[int, int] = {}
        # Ids of service alerts in the alert log, read from the log's tail before the first one
        # is written and again after partitions moved or outputs failed (others may write).
        self.alert_ids = AlertIdLog()
        self._alert_ids_loaded = False
        self.consumers: list[AIOKafkaConsumer] = []  # the running one, for the lag gauge
        self._logical = {topics[logical]: logical for logical in INPUTS}

    async def run(self) -> None:
        """Read the input topics until cancelled (:func:`streams.worker.kafka_io.consume`: a
        batch's offsets are committed only after its outputs were acknowledged)."""
        await consume_group(
            self.kafka,
            self.settings,
            "inputs",
            [self.topics[t] for t in INPUTS],
            self.on_batch,
            self.on_revoked,
            self.consumers,
            hold=self.held,
            idle=self.on_idle,
        )

    async def on_batch(self, batch: Batch) -> Futures:
        """Process one batch; the futures resolve when its outputs are acknowledged."""
        sender = await self.producers.sender("inputs")
        now = time.monotonic()
        for tp, records in batch.items():
            logical = self._logical[tp.topic]
            p = tp.partition
            if logical == "positions" and not self.stage.positions.loaded(p):
                await self._rebuild_positions(p, records[0].offset)
            m.EVENTS.labels(topic=logical).inc(len(records))
            ts = records[-1].timestamp
            if ts:
                m.LATENCY.labels(topic=logical).observe(max(0.0, time.time() - ts / 1000))
            if logical == "alerts_inbound":
                await self._service_alerts(sender, records)
            else:
                await self._apply(sender, logical, p, records, now)
        await self.writer.add_internal(sender, self.stage.take(now))
        positions = self.topics["positions"]
        for tp, records in batch.items():
            if tp.topic == positions and self.stage.positions.undrained(tp.partition):
                self._hold.setdefault(tp.partition, records[0].offset)
        self._release()
        return await sender.submit()

    def _release(self) -> None:
        """Partitions whose account partials are all sent no longer hold their commits (the
        consume loop commits their end after the outputs queued so far)."""
        for p in [p for p in self._hold if not self.stage.positions.undrained(p)]:
            del self._hold[p]

    def held(self, tp: TopicPartition) -> int | None:
        """The offset the commits of ``tp`` wait at (None: the batch's end)."""
        return self._hold.get(tp.partition) if tp.topic == self.topics["positions"] else None

    async def on_idle(self) -> Futures:
        """Nothing came: send the account partials now due (a quiet partition's last
        changes); their commits move on with the partition's next batch."""
        messages = self.stage.take_accounts(time.monotonic())
        if not messages:
            return []
        sender = await self.producers.sender("inputs")
        await self.writer.add_internal(sender, messages)
        self._release()
        return await sender.submit()

    async def _apply(
        self, sender: BatchSender, logical: str, partition: int, records: list[Any], now: float
    ) -> None:
        codec, schema, apply = self.codec, INPUTS[logical], self.stage.applier(logical)
        passthrough = self.topics["routing_metrics"] if logical == "routing_decisions" else None
        for r in records:
            record = decode_input(codec, schema, r.value or b"")
            if isinstance(record, str):
                await self.dead_letters.add(sender, logical, r, record)
                continue
            if passthrough is not None:  # the validated event as it came (same Avro bytes)
                await sender.add(passthrough, r.key or b"", r.value, timestamp_ms=r.timestamp)
            apply(partition, record, now)

    async def _service_alerts(self, sender: BatchSender, records: list[Any]) -> None:
        """Validated service alerts, written to the alert log by stage 1 itself. Their ids
        derive from their cause, and ids already in the log are skipped, so a redelivery
        writes nothing."""
        for r in records:
            record = decode_input(self.codec, "ServiceAlert", r.value or b"")
            if isinstance(record, str):
                await self.dead_letters.add(sender, "alerts_inbound", r, record)
                continue
            if not self._alert_ids_loaded:
                self.alert_ids.replace(
                    await read_alert_ids(
                        self.kafka.bootstrap_servers, self.topics["alerts"], KNOWN_ALERT_IDS
                    )
                )
                self._alert_ids_loaded = True
            await self.writer.add(sender, [service_alert(record)], self.alert_ids)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Forget the state of partitions given up (:meth:`InputStage.drop`); re-read the
        service alert ids before the next one is written, as others may write meanwhile."""
        if any(tp.topic == self.topics["alerts_inbound"] for tp in revoked):
            self._alert_ids_loaded = False
        for tp in revoked:
            self.stage.drop(self._logical.get(tp.topic, ""), tp.partition)
            if tp.topic == self.topics["positions"]:
                self._hold.pop(tp.partition, None)

    async def _rebuild_positions(self, partition: int, until: int) -> None:
        """The partition's exposure and risk books from the compacted positions topic."""
        started = time.monotonic()
        history = []
        if until > 0:
            history = await read_partition(
                self.kafka.bootstrap_servers, self.topics["positions"], partition, until
            )
        applied = self.stage.positions.rebuild(partition, self._valid_positions(history))
        book = self.stage.positions.book(partition)
        log.info(
            "positions partition %d: %d open positions rebuilt from %d events in %.2f s",
            partition,
            len(book),
            applied,
            time.monotonic() - started,
        )

    def _valid_positions(self, history: list[Any]) -> Iterator[Record]:
        for r in history:
            if r.value is None:
                continue
            try:
                yield parse_input(self.codec, "PositionState", r.value)
            except (DecodeError, events.InvalidEvent):
                continue  # dead-lettered when it was first processed
