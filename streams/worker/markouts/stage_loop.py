"""The partitioned markout stages' consume loop: quotes, routing decisions and positions, read as
consumer group ``<app id>.markouts.stage`` (any number of processes split the partitions; the
range assignor keeps partition p of the three topics together).

Per assigned partition a :class:`~streams.markouts.partition.PartitionStage` (event-time merge,
markout stage, offsets) is restored from its snapshot, and the three topics are read again from
the snapshot's offsets. Each batch's settled trade markouts go to the trade markouts topic (Avro,
keyed by trade id) and, with the samples, positions and ticks, to the boards' internal topic.

Exactly once in the trade markouts topic: a snapshot is written only after the outputs before it
are acknowledged, with the wall time it was taken; a restored partition re-settles the trades
since, and the trade ids the topic got since that time (read back at the restore) are not
written again. The internal topic may get them twice: the boards ignore a trade they hold.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.codec import encode_with
from streams.markouts.errors import MarkoutStateError
from streams.markouts.hop import HopMessage, encode_json
from streams.markouts.merge import release_limit
from streams.markouts.partition import DECISIONS, QUOTES, SOURCES, PartitionStage
from streams.markouts.records import TradeMarkout
from streams.worker.batch_sender import BatchSender
from streams.worker.markouts import metrics as m
from streams.worker.markouts.context import GroupLoop, MarkoutsContext
from streams.worker.markouts.kafka import by_partition, caught_up, commit, keys_since, seek
from streams.worker.markouts.rates import ProcessRates
from streams.worker.markouts.snapshots import decode
from streams.worker.pipeline import INPUTS, decode_input

log = logging.getLogger("rtx.markouts")

PAUSE_AT, RESUME_AT = 20_000, 5_000  # records buffered in a source's merge queue
ALIGN_US = 5_000_000  # catching up, no stage goes further past the slowest quotes read
REWRITE_MARGIN_MS = 2_000  # read back trade ids written from this long before a snapshot


class StageLoop(GroupLoop):
    """The partition stages this process holds and their read loop (:meth:`run`)."""

    part = "stage"

    def __init__(self, context: MarkoutsContext) -> None:
        super().__init__(context, [context.topics[s] for s in SOURCES])
        self.topics = context.topics
        self.stages: dict[int, PartitionStage] = {}
        self.rates = ProcessRates(context.overrides)
        self.written: set[str] = set()  # trade ids already in the topic (after a restore)
        self._logical = {self.topics[s]: s for s in SOURCES}
        self._caught_up: dict[TopicPartition, bool] = {}
        self._quotes_read: dict[TopicPartition, int] = {}  # newest quote event time read
        self._reported: dict[int, dict[str, int]] = {}
        self._forced = 0
        self._schema = context.codec.schema("TradeMarkout")

    # --- a batch -----------------------------------------------------------------------------

    async def step(self, consumer: AIOKafkaConsumer, batch: Any) -> None:
        codec = self.ctx.codec
        for tp, records in batch.items():
            stage = self.stages.get(tp.partition)
            logical = self._logical[tp.topic]
            if stage is None:
                continue
            m.EVENTS.labels(topic=logical).inc(len(records))
            schema = INPUTS[logical]
            decoded = [(r.offset, decode_input(codec, schema, r.value or b"")) for r in records]
            offered = [(o, None if isinstance(v, str) else v) for o, v in decoded]
            if len(offered) > (good := sum(v is not None for _, v in offered)):
                m.INVALID.labels(topic=logical).inc(len(offered) - good)
            if logical == QUOTES:
                for _, quote in offered:
                    if quote is not None:
                        self.rates.observe(quote)
                        t = int(quote["eventTime"])
                        if t > self._quotes_read.get(tp, t - 1):
                            self._quotes_read[tp] = t
            stage.offer(logical, offered)
        for tp in consumer.assignment():
            self._caught_up[tp] = await caught_up(consumer, tp)
            if tp.partition in self.stages:
                self.stages[tp.partition].caught_up(self._logical[tp.topic], self._caught_up[tp])
        self.rates.refresh()
        sender = await self.ctx.producers.sender("stage")
        until = self._until()
        for p in sorted(self.stages):
            await self._write(sender, *self.stages[p].take(until))
        await self._advance_idle(sender)
        self._flow_control(consumer)
        self.rounds.track(await sender.submit())
        self._report()
        if self.rounds.due() and self.stages:
            self._snapshot(consumer, sorted(self.stages))

    async def _write(
        self, sender: BatchSender, markouts: list[TradeMarkout], messages: list[HopMessage]
    ) -> None:
        trades, internal = self.topics["trade_markouts"], self.topics["markouts_internal"]
        for markout in markouts:
            value = encode_with(self._schema, markout, validate=False)
            trade_id = markout["tradeId"]
            if trade_id in self.written:
                m.REWRITES_SKIPPED.inc()
            else:
                await sender.add(trades, trade_id.encode(), value)
                m.WRITTEN.labels(topic="trade_markouts").inc()
            await sender.add(internal, f"m:{trade_id}".encode(), value)
        for message in messages:
            await sender.add(internal, message.key.encode(), encode_json(message))
        m.WRITTEN.labels(topic="markouts_internal").inc(len(markouts) + len(messages))

    async def _advance_idle(self, sender: BatchSender) -> None:
        """A partition with nothing buffered or left to read moves to the newest event time of
        the others: the trades of symbols that stopped quoting time out (bounded wait)."""
        clocks = [s.stage.clock for s in self.stages.values() if s.stage.clock is not None]
        if not clocks:
            return
        newest = max(clocks)
        for p in sorted(self.stages):
            stage = self.stages[p]
            clock = stage.stage.clock
            if clock is None or clock >= newest or not stage.idle():
                continue
            if all(self._caught_up.get(TopicPartition(self.topics[s], p)) for s in SOURCES):
                stage.advance(newest)
                await self._write(sender, *stage.take())

    def _until(self) -> int | None:
        """How far in event time the stages may go (:func:`release_limit`): ``ALIGN_US`` past
        the newest quote read on the slowest quotes partition still catching up, so that a
        cross settles with its USD pair's quotes read that far; None when all are caught up."""
        behind = {
            tp: self._quotes_read.get(tp)
            for tp in (TopicPartition(self.topics[QUOTES], p) for p in self.stages)
            if not self._caught_up.get(tp, False)
        }
        return release_limit(behind, ALIGN_US)

    def _flow_control(self, consumer: AIOKafkaConsumer) -> None:
        """Pause a source far ahead of its partner so the fetches go to the one behind."""
        paused = consumer.paused()
        for p, stage in self.stages.items():
            for source in (QUOTES, DECISIONS):
                tp = TopicPartition(self.topics[source], p)
                buffered = stage.merge.buffered(source)
                if buffered > PAUSE_AT and tp not in paused:
                    consumer.pause(tp)
                elif buffered < RESUME_AT and tp in paused:
                    consumer.resume(tp)

    def _report(self) -> None:
        """Counter deltas since the last report, as Prometheus counters."""
        for p, stage in self.stages.items():
            last = self._reported.setdefault(p, dict(stage.stage.counters))
            for name, value in stage.stage.counters.items():
                if value > last[name]:
                    m.STAGE.labels(counter=name).inc(value - last[name])
                    last[name] = value
        forced = sum(s.merge.forced for s in self.stages.values())
        if forced > self._forced:
            m.MERGE_FORCED.inc(forced - self._forced)
        self._forced = forced

    # --- snapshots and partitions ------------------------------------------------------------

    def _snapshot(self, consumer: AIOKafkaConsumer, partitions: list[int]) -> None:
        """Take the partitions' snapshots now; write them once the outputs so far are in."""
        now_ms = int(time.time() * 1000)
        snaps = {p: {**self.stages[p].snapshot(), "writtenAtMs": now_ms} for p in partitions}

        async def write() -> None:
            for p, snap in snaps.items():
                if await self.ctx.store.write(f"stage:{p}", snap, "stage"):
                    offsets = snap["offsets"]
                    await commit(
                        consumer,
                        {
                            TopicPartition(self.topics[s], p): offsets[s]
                            for s in SOURCES
                            if offsets[s] is not None
                        },
                    )

        self.rounds.snapshot_after(write)

    async def restore(self, tps: set[TopicPartition]) -> None:
        """Restore each new partition from its snapshot and read on from its offsets."""
        consumer = self.consumer
        assert consumer is not None  # noqa: S101 - set before subscribing
        parts = {p: g for p, g in by_partition(tps).items() if p not in self.stages}
        if not parts:
            return
        latest = await self.ctx.store.read()
        since: list[int] = []
        for p in sorted(parts):
            stage, written_at = self._restore(p, latest.get(f"stage:{p}"))
            if written_at is None:  # no snapshot: the first one, before any output, so that a
                await self._write_first(stage)  # restart always finds one
            else:
                since.append(written_at)
            self.stages[p] = stage
            self._reported[p] = dict(stage.stage.counters)
            for tp in parts[p]:
                await seek(consumer, tp, stage.offsets[self._logical[tp.topic]])
                self._forget(tp)
        if since:
            start = min(since) - REWRITE_MARGIN_MS
            self.written |= await keys_since(
                self.ctx.kafka.bootstrap_servers, self.topics["trade_markouts"], max(0, start)
            )
        m.PARTITIONS.set(len(self.stages))
        log.info(
            "markout stages: partitions %s restored (%d from snapshots), %d trade ids written",
            sorted(parts), len(since), len(self.written),
        )  # fmt: skip

    def _restore(self, p: int, raw: bytes | None) -> tuple[PartitionStage, int | None]:
        """Partition p's stage from its snapshot, and the wall time (ms) the snapshot was
        taken; None when there is none (or it is unusable: then from the start, and every trade
        id in the topic counts as written)."""
        settings = self.ctx.settings
        stage = PartitionStage(p, self.ctx.config, self.rates.usd_rate, settings.tick_s)
        if raw is None:
            return stage, None
        try:
            snap = decode(raw, f"stage:{p}")
            stage.restore(snap)
            return stage, int(snap.get("writtenAtMs", 0))
        except (MarkoutStateError, ValueError, TypeError):
            log.exception("partition %d: snapshot unusable; marking out from the start", p)
            return PartitionStage(p, self.ctx.config, self.rates.usd_rate, settings.tick_s), 0

    async def _write_first(self, stage: PartitionStage) -> None:
        snap = {**stage.snapshot(), "writtenAtMs": int(time.time() * 1000)}
        await self.ctx.store.write(f"stage:{stage.partition}", snap, "stage")

    async def release(self, tps: set[TopicPartition]) -> None:
        """Snapshot the partitions given up (once their outputs are in), then drop them."""
        parts = sorted({tp.partition for tp in tps} & set(self.stages))
        if not parts:
            return
        consumer = self.consumer
        if await self.rounds.settle() and consumer is not None:
            self._snapshot(consumer, parts)
            await self.rounds.settle()
        for p in parts:
            del self.stages[p]
            self._reported.pop(p, None)
        for tp in tps:
            self._forget(tp)
        m.PARTITIONS.set(len(self.stages))
        log.info("markout stages: partitions %s released", parts)

    def _forget(self, tp: TopicPartition) -> None:
        """What the flow control knew of ``tp``: it is read again from another offset, or not."""
        self._quotes_read.pop(tp, None)
        self._caught_up.pop(tp, None)

    def drop(self) -> None:
        self.stages.clear()
        self._reported.clear()
        self._quotes_read.clear()
        self._caught_up.clear()
