"""The global stage's consume loop and timer: the one-partition internal topic, read as consumer
group ``<app id>.global`` (so exactly one worker runs the stage), in a consumer of its own so that
the stage never waits behind an input backlog in a fetch.

The stage is rebuilt from Kafka when the partition is assigned
(:meth:`~streams.worker.pipeline.GlobalStage.recover`: the compacted internal topic from the
stage's last snapshot), with the alert ids the log holds, so a replayed cause never adds an
alert twice. :meth:`GlobalLoop.tick` runs every 5 ms: coalesced or heartbeat exposure,
time-based rules, tombstones for closed routing windows, the periodic risk outputs (P&L,
account risk, the top-N), and a state snapshot now and then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.worker.alert_ids import KNOWN_ALERT_IDS, AlertIdLog, read_alert_ids
from streams.worker.batch_sender import BatchSender, Futures, log_failure
from streams.worker.context import WorkerContext
from streams.worker.kafka_io import Batch, consume_group, read_partition
from streams.worker.pipeline import GlobalStage
from streams.worker.pipeline.records import SNAPSHOT_KEY

log = logging.getLogger("rtx.worker")


class GlobalLoop:
    """The global stage of the worker (``stage``: None until its partition is assigned and it
    is rebuilt), its consume loop (:meth:`run`) and its timer (:meth:`tick`)."""

    def __init__(self, context: WorkerContext) -> None:
        self.kafka = context.kafka
        self.settings = context.settings
        self.config = context.config
        self.topics = context.topics
        self.producers = context.producers
        self.writer = context.writer
        self.stage: GlobalStage | None = None
        # Alert ids already in the log: the stage's alerts are written once each.
        self.alert_ids = AlertIdLog()
        self.consumers: list[AIOKafkaConsumer] = []  # the running one: lag, tick recovery
        self._last_snapshot = 0.0
        self._tick_failure: BaseException | None = None
        self._starting = asyncio.Lock()  # one rebuild of the stage at a time
        self._revocations = 0  # partitions revoked so far (on_revoked)

    async def run(self) -> None:
        """Read the internal topic until cancelled (:func:`streams.worker.kafka_io.consume`)."""
        await consume_group(
            self.kafka,
            self.settings,
            "global",
            [self.topics["internal"]],
            self.on_batch,
            self.on_revoked,
            self.consumers,
        )

    async def on_batch(self, batch: Batch) -> Futures:
        """Apply one batch of internal messages; the futures resolve when its outputs are
        acknowledged. The first batch after an assignment rebuilds the stage first."""
        sender = await self.producers.sender("global")
        revocations = self._revocations
        async with self._starting:  # not while the timer rebuilds it
            if self.stage is None:
                await self._start(sender, min(records[0].offset for records in batch.values()))
        stage = self.stage
        assert stage is not None  # noqa: S101 - set by _start
        # The stage's own snapshots and their pieces (read only when a stage starts; keys
        # "state...") are skipped undecoded, told apart by key: each is up to ~0.5 MB of JSON,
        # and parsing it every 30 s fragments the heap (the soak). The key is compared inline:
        # this runs for every message.
        values = [
            r.value
            for records in batch.values()
            for r in records
            if r.value and (r.key or b"")[:5] != SNAPSHOT_KEY
        ]
        await self.writer.add(sender, stage.apply_encoded(values, time.monotonic()), self.alert_ids)
        # Every message below this offset is applied: a snapshot taken now covers them.
        stage.covered = max(records[-1].offset for records in batch.values()) + 1
        futures = await sender.submit()
        if self._revocations != revocations and self.stage is stage:
            # The partition was revoked while this batch was in hand (a rebuild awaits Kafka
            # for seconds; the rebalance listener runs meanwhile, and found no stage to drop).
            # The batch's outputs go out, as for any batch in flight at a revocation, but the
            # stage is not kept: the new owner rebuilds it, and this member's timer must not
            # run it beside the new owner's.
            log.info("global stage released (revoked while it was being rebuilt)")
            self.stage = None
            self.alert_ids.clear()
        return futures

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Drop the stage and its alert ids: whoever gets the partition rebuilds both. A batch
        in hand (its rebuild) drops what it built when it ends (:meth:`on_batch`)."""
        if revoked:
            self._revocations += 1
        if revoked and self.stage is not None:
            log.info("global stage released (rebalance)")
            self.stage = None
            self.alert_ids.clear()

    async def _start(self, sender: BatchSender, until: int) -> None:
        """Rebuild the stage from the internal topic up to offset ``until`` and re-send the
        alerts that rebuilding raised that the log does not hold."""
        started = time.monotonic()
        self.alert_ids.replace(
            await read_alert_ids(
                self.kafka.bootstrap_servers, self.topics["alerts"], KNOWN_ALERT_IDS
            )
        )
        history = await read_partition(
            self.kafka.bootstrap_servers, self.topics["internal"], 0, until
        )
        # In a thread: replaying 300,000 internal messages takes tens of seconds, and on the
        # event loop it would stop the consumers' heartbeats (the group would expire the
        # member and rebalance, which rebuilds again). The stage is new and shared with
        # nothing until it is assigned below; the GIL leaves the event loop its turns.
        stage, alerts = await asyncio.to_thread(
            GlobalStage.recover, self.config, history, time.monotonic()
        )
        stage.covered = until
        await self.writer.add(sender, alerts, self.alert_ids)
        self.stage = stage
        log.info(
            "global stage started: %d internal messages replayed, %d alert ids known, %.2f s",
            len(history),
            len(self.alert_ids),
            time.monotonic() - started,
        )

    # --- the timer ----------------------------------------------------------------------------

    async def tick(self) -> Futures:
        """The periodic outputs of the stage. Not tied to an input offset, so nobody needs to
        await the futures returned; if a tick's outputs were not acknowledged, the next tick
        rebuilds the stage from Kafka first (see :meth:`_recover_from_failed_tick`)."""
        if self.stage is None:
            return []
        sender = await self.producers.sender("tick")
        if self._tick_failure is not None:
            await self._recover_from_failed_tick(sender)
        stage = self.stage
        if stage is None:
            return []
        now = time.monotonic()
        await self.writer.add(sender, stage.due(now), self.alert_ids)
        internal = self.topics["internal"]
        for key in stage.take_tombstones():
            await sender.add(internal, key.encode(), None)
        if now - self._last_snapshot >= self.settings.state_snapshot_s:
            self._last_snapshot = now
            await self.writer.add_internal(sender, stage.snapshot_messages())
            for key in stage.take_tombstones():
                await sender.add(internal, key.encode(), None)
        futures = await sender.submit()
        for future in futures:
            future.add_done_callback(self._tick_sent)
        return futures

    def _tick_sent(self, future: asyncio.Future[Any]) -> None:
        log_failure(future)
        if not future.cancelled() and future.exception() is not None:
            self._tick_failure = future.exception()

    async def _recover_from_failed_tick(self, sender: BatchSender) -> None:
        """A tick's outputs were not acknowledged: an alert a time-based rule raised may be
        missing from the log while the rule engine and ``alert_ids`` take it as written.
        Rebuild the stage from Kafka as a restart would (the alert ids the log holds, the
        internal topic up to the global consumer's position), which re-sends exactly the
        alerts that are missing. Without a position (a rebalance is under way) the stage is
        dropped and the consume loop rebuilds it on its next batch."""
        log.warning(
            "periodic outputs were not delivered (%r): rebuilding the global stage from Kafka",
            self._tick_failure,
        )
        self._tick_failure = None
        internal = TopicPartition(self.topics["internal"], 0)
        position = None
        for consumer in list(self.consumers):
            if internal in consumer.assignment():
                position = await consumer.position(internal)
        async with self._starting:
            self.stage = None
            self.alert_ids.clear()
            if position is not None:
                await self._start(sender, position)
