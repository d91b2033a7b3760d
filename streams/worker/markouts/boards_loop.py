"""The boards stage's consume loop: the one-partition internal topic, read as consumer group
``<app id>.markouts.boards`` (so exactly one process runs the boards).

When the partition is assigned, the :class:`~streams.markouts.feed.BoardsFeed` is restored from
its snapshot and the topic is read on from the snapshot's offset, with the ids of the newest
alerts in the alert log: a restored feed raises the same alerts with the same ids (its input is
the same ordered log), and those already in the log are not written again. Each batch's records
go out as the feed drains them: account toxicity, LP markouts, curves and routing advice
(compacted topics, latest wins, so writing one again is harmless) and the toxic-flow alerts.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.codec import HEADER_LEN, DecodeError, encode_with
from streams.markouts.errors import MarkoutStateError
from streams.markouts.feed import BoardsFeed, Out
from streams.markouts.hop import MARKOUT, decode_json
from streams.worker.alert_ids import KNOWN_ALERT_IDS, AlertIdLog, read_alert_ids
from streams.worker.batch_sender import BatchSender
from streams.worker.markouts import metrics as m
from streams.worker.markouts.context import GroupLoop, MarkoutsContext
from streams.worker.markouts.kafka import commit, seek
from streams.worker.markouts.snapshots import decode

log = logging.getLogger("rtx.markouts")

SNAPSHOT_KEY = "boards"


class BoardsLoop(GroupLoop):
    """The boards (``feed``: None until the partition is assigned) and their read loop."""

    part = "boards"
    timeout_ms = 200

    def __init__(self, context: MarkoutsContext) -> None:
        super().__init__(context, [context.topics["markouts_internal"]])
        self.topics = context.topics
        self.feed: BoardsFeed | None = None
        self.offset: int | None = None  # next offset of the internal topic to apply
        self.alert_ids = AlertIdLog()
        self._tp = TopicPartition(self.topics["markouts_internal"], 0)
        self._markout = context.codec.schema("TradeMarkout").header
        self._reported: dict[str, int] = {}

    async def step(self, consumer: AIOKafkaConsumer, batch: Any) -> None:
        await self._apply(consumer, batch.get(self._tp, []))

    async def _apply(self, consumer: AIOKafkaConsumer, records: list[Any]) -> None:
        feed = self.feed
        if feed is None:
            return
        codec = self.ctx.codec
        for r in records:
            self.offset = r.offset + 1
            value = r.value or b""
            try:
                if value[:HEADER_LEN] == self._markout:
                    feed.apply(MARKOUT, codec.decode(value, expect=("TradeMarkout",)).record)
                else:
                    message = decode_json(value)
                    feed.apply(message.kind, message.record)
            except (DecodeError, MarkoutStateError, KeyError, TypeError, ValueError) as exc:
                m.INVALID.labels(topic="markouts_internal").inc()
                log.warning("internal message at offset %d skipped: %r", r.offset, exc)
        m.EVENTS.labels(topic="markouts_internal").inc(len(records))
        sender = await self.ctx.producers.sender("boards")
        await self._write(sender, feed.drain())
        self.rounds.track(await sender.submit())
        self._report(feed)
        if self.rounds.due():
            self._snapshot(consumer)

    async def _write(self, sender: BatchSender, outputs: list[Out]) -> None:
        codec = self.ctx.codec
        for out in outputs:
            if out.schema == "Alert" and not self.alert_ids.add(out.key):
                m.ALERTS_SKIPPED.inc()
                continue
            value = encode_with(codec.schema(out.schema), out.record, validate=False)
            await sender.add(self.topics[out.topic], out.key.encode(), value)
            m.WRITTEN.labels(topic=out.topic).inc()

    def _report(self, feed: BoardsFeed) -> None:
        for name, value in feed.counters().items():
            last = self._reported.setdefault(name, value)
            if value > last:
                m.BOARDS.labels(counter=name).inc(value - last)
                self._reported[name] = value
        for level, count in feed.levels().items():
            m.ACCOUNTS.labels(level=level).set(count)

    def _snapshot(self, consumer: AIOKafkaConsumer) -> None:
        feed, offset = self.feed, self.offset
        if feed is None:
            return
        snap = {"offset": offset, "feed": feed.state()}

        async def write() -> None:
            if await self.ctx.store.write(SNAPSHOT_KEY, snap, "boards") and offset is not None:
                await commit(consumer, {self._tp: offset})

        self.rounds.snapshot_after(write)

    async def restore(self, tps: set[TopicPartition]) -> None:
        consumer = self.consumer
        if self._tp not in tps or consumer is None or self.feed is not None:
            return
        started = time.monotonic()
        self.alert_ids.replace(
            await read_alert_ids(
                self.ctx.kafka.bootstrap_servers, self.topics["alerts"], KNOWN_ALERT_IDS
            )
        )
        feed = BoardsFeed(self.ctx.config, self.ctx.settings.tick_s)
        raw = (await self.ctx.store.read()).get(SNAPSHOT_KEY)
        self.offset = None
        if raw is not None:
            try:
                snap = decode(raw, SNAPSHOT_KEY)
                feed.restore(snap["feed"])
                self.offset = snap["offset"]
            except (MarkoutStateError, KeyError, TypeError, ValueError):
                log.exception("boards snapshot unusable; reading the internal topic from the start")
                feed = BoardsFeed(self.ctx.config, self.ctx.settings.tick_s)
        if raw is None:  # the first snapshot, before any output: a restart always finds one
            await self.ctx.store.write(
                SNAPSHOT_KEY, {"offset": None, "feed": feed.state()}, "boards"
            )
        await seek(consumer, self._tp, self.offset)
        self.feed = feed
        self._reported = dict(feed.counters())
        log.info(
            "markout boards started at offset %s: %d messages applied before, %d alert ids "
            "known, %.2f s",
            self.offset, feed.messages, len(self.alert_ids), time.monotonic() - started,
        )  # fmt: skip

    async def release(self, tps: set[TopicPartition]) -> None:
        if self._tp not in tps or self.feed is None:
            return
        consumer = self.consumer
        if await self.rounds.settle() and consumer is not None:
            self._snapshot(consumer)
            await self.rounds.settle()
        self.drop()
        log.info("markout boards released")

    def drop(self) -> None:
        self.feed = None
        self.alert_ids.clear()
