"""The Faust application: ``rtx-analytics worker``.

One agent per input topic (concurrency 1: faust-streaming #606 commits past in-flight messages
with more), each taking raw bytes in batches (``take_events``) and decoding them with our codec
(Faust's Record parsing costs more than the Avro decode). State is kept in plain objects
(:mod:`streams.pipeline`), never in Faust tables (one changelog write per key and event would
cap us near 3,400 events/s), and rebuilt from Kafka when a partition is first seen:

- positions: the positions topic is compacted and carries each position's full state, so it *is*
  the changelog: a partition's book is rebuilt by reading it from the start up to the first
  offset this process handles;
- the global stage reads the compacted internal topic from the start up to its first offset,
  restores the latest state snapshot and re-applies what followed; alert ids already in the alert
  log are loaded so that nothing is written twice.

Outputs of a batch are acknowledged by the broker (acks=all) before the batch's offsets can be
committed (at-least-once; ``exactly_once`` has open bugs, #517 #323 #177), and every output is
idempotent: latest-wins partials, and alert ids derived from their cause.

Bad input (undecodable or invalid) goes to the dead-letter topic unchanged, with headers naming
the source topic, partition, offset and the error; the worker carries on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.codec import DecodeError, default_codec, encode_with
from streams import events
from streams import metrics as m
from streams.config import KafkaSettings, WorkerSettings
from streams.pipeline import (
    GlobalStage,
    Internal,
    Output,
    PipelineConfig,
    PositionsStage,
    QuotesStage,
    RoutingStage,
    decode_internal,
)
from streams.topics import topic_name

log = logging.getLogger("rtx.worker")

INPUTS = {
    "positions": "PositionState",
    "quotes": "Quote",
    "routing_decisions": "RoutingDecision",
    "lp_status": "LpStatus",
    "alerts_inbound": "ServiceAlert",
}


class Worker:
    """Owns the Faust app, the output producer and the stage objects of one worker process."""

    def __init__(
        self, kafka: KafkaSettings, settings: WorkerSettings, config: PipelineConfig
    ) -> None:
        self.kafka = kafka
        self.settings = settings
        self.config = config
        self.codec = default_codec()
        self.topics = {
            logical: topic_name(logical, kafka)
            for logical in (
                *INPUTS,
                "exposure",
                "routing_metrics",
                "lp_performance",
                "alerts",
                "dead_letter",
                "internal",
            )
        }
        self.positions = PositionsStage()
        self.quotes = QuotesStage()
        self.routing = RoutingStage(config.routing)
        self.global_stage: GlobalStage | None = None
        self.written_alerts: set[str] = set()
        self.producer: AIOKafkaProducer | None = None
        self._last_snapshot = 0.0
        self._last_lag = 0.0
        self._producer_lock = asyncio.Lock()
        self.app = self._build_app()

    # --- Faust app ----------------------------------------------------------------------------

    def _build_app(self) -> faust.App:
        brokers = ";".join(f"kafka://{h}" for h in self.kafka.bootstrap_servers.split(","))
        app = faust.App(
            self.settings.app_id,
            broker=brokers,
            store="memory://",
            value_serializer="raw",
            key_serializer="raw",
            topic_replication_factor=self.kafka.replication_factor,
            topic_allow_declare=False,
            consumer_auto_offset_reset="earliest",
            web_enabled=False,
            producer_acks=-1,
            datadir=self.settings.data_dir,
        )
        batch, within = self.settings.batch_max, self.settings.batch_within_ms / 1000

        def source(logical: str) -> faust.TopicT:
            return app.topic(
                self.topics[logical],
                key_type=bytes,
                value_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
            )

        def agent(logical: str, handler: Callable[[Sequence[Any]], Awaitable[None]]) -> None:
            async def run(stream: Any) -> None:  # faust.StreamT lacks take_events in its stubs
                async for batch_events in stream.take_events(batch, within=within):
                    await handler(batch_events)

            run.__name__ = f"{logical}_agent"
            app.agent(source(logical), name=f"rtx.{logical}", concurrency=1)(run)

        agent("positions", self._on_positions)
        agent("quotes", self._on_quotes)
        agent("routing_decisions", self._on_routing)
        agent("lp_status", self._on_lp_status)
        agent("alerts_inbound", self._on_service_alerts)
        agent("internal", self._on_internal)

        app.timer(0.02)(self._tick)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.task(self._producer)

        return app

    async def _producer(self) -> AIOKafkaProducer:
        if self.producer is not None:
            return self.producer
        async with self._producer_lock:  # agents and timers may ask at once on start-up
            if self.producer is not None:
                return self.producer
            producer = AIOKafkaProducer(
                bootstrap_servers=self.kafka.bootstrap_servers,
                client_id=f"{self.settings.app_id}-worker",
                acks="all",
                enable_idempotence=True,
                linger_ms=1,
            )
            await producer.start()
            self.producer = producer
        return self.producer

    # --- helpers ------------------------------------------------------------------------------

    def _decode(self, logical: str, event: Any) -> dict[str, Any] | str:
        """The validated record, or the reason it is rejected."""
        msg = event.message
        schema = INPUTS[logical]
        try:
            decoded = self.codec.decode(msg.value, expect=(schema,))
            record = events.validate(schema, decoded.record)
        except DecodeError as exc:
            return f"{exc.reason}: {exc}"
        except events.InvalidEvent as exc:
            return f"invalid: {exc}"
        except Exception as exc:  # noqa: BLE001 - never crash the worker on input
            return f"error: {exc!r}"
        m.EVENTS.labels(topic=logical).inc()
        ts = getattr(msg, "timestamp", None)
        if ts:
            m.LATENCY.labels(topic=logical).observe(max(0.0, time.time() - ts))
        return record

    async def _dead_letter(self, logical: str, event: Any, reason: str) -> asyncio.Future[Any]:
        msg = event.message
        producer = await self._producer()
        m.DEAD_LETTERED.labels(topic=logical, reason=reason.split(":", 1)[0]).inc()
        log.warning(
            "dead-lettered %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, reason[:300]
        )
        headers = [
            ("rtx.source.topic", msg.topic.encode()),
            ("rtx.source.partition", str(msg.partition).encode()),
            ("rtx.source.offset", str(msg.offset).encode()),
            ("rtx.error", reason[:2000].encode("utf-8", "replace")),
            ("rtx.dead-lettered-at", str(int(time.time() * 1000)).encode()),
        ]
        future: asyncio.Future[Any] = await producer.send(
            self.topics["dead_letter"],
            key=msg.key if isinstance(msg.key, bytes) else None,
            value=msg.value if isinstance(msg.value, bytes) else b"",
            headers=headers,
        )
        return future

    async def _send_outputs(self, outputs: Iterable[Output]) -> list[asyncio.Future[Any]]:
        producer = await self._producer()
        futures = []
        for out in outputs:
            if out.schema == "Alert":
                if out.key in self.written_alerts:
                    continue
                self.written_alerts.add(out.key)
            value = encode_with(self.codec.schema(out.schema), out.record, validate=False)
            futures.append(
                await producer.send(self.topics[out.topic], key=out.key.encode(), value=value)
            )
            m.DERIVED.labels(topic=out.topic).inc()
        return futures

    async def _send_internal(self, messages: Iterable[Internal]) -> list[asyncio.Future[Any]]:
        producer = await self._producer()
        return [
            await producer.send(self.topics["internal"], key=i.key.encode(), value=i.encode())
            for i in messages
        ]

    @staticmethod
    async def _settle(futures: list[asyncio.Future[Any]]) -> None:
        """Wait until the broker acknowledged a batch's outputs (before its offsets commit)."""
        if futures:
            await asyncio.gather(*futures)

    async def _read_partition(self, topic: str, partition: int, until: int) -> list[Any]:
        """Records of one partition from its start up to (not including) offset ``until``."""
        if until <= 0:
            return []
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        records: list[Any] = []
        try:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            while await consumer.position(tp) < until:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=10_000)
                for r in batch.get(tp, []):
                    if r.offset < until:
                        records.append(r)
                if (
                    not batch
                    and await consumer.position(tp) >= (await consumer.end_offsets([tp]))[tp]
                ):
                    break
        finally:
            await consumer.stop()
        return records

    async def _on_revoked(self, *args: Any, **kwargs: Any) -> None:
        """Forget the state of partitions this worker gives up: another worker continues them,
        and if they come back, their state is rebuilt from Kafka then."""
        revoked = args[1] if len(args) > 1 else kwargs.get("revoked", set())
        for tp in revoked:
            if tp.topic == self.topics["positions"]:
                self.positions.drop(tp.partition)
            elif tp.topic == self.topics["routing_decisions"]:
                self.routing.windows.pop(tp.partition, None)
                self.routing.rates.pop(tp.partition, None)
                self.routing.pending.pop(tp.partition, None)
            elif tp.topic == self.topics["internal"] and self.global_stage is not None:
                log.info("global stage moves to another worker")
                self.global_stage = None
                self.written_alerts.clear()

    # --- stage 1 ------------------------------------------------------------------------------

    async def _on_positions(self, batch: Sequence[Any]) -> None:
        futures: list[asyncio.Future[Any]] = []
        changed: set[int] = set()
        for event in batch:
            p = event.message.partition
            if not self.positions.loaded(p):
                await self._rebuild_positions(p, event.message.offset)
            record = self._decode("positions", event)
            if isinstance(record, str):
                futures.append(await self._dead_letter("positions", event, record))
                continue
            if self.positions.apply(p, record):
                changed.add(p)
        futures += await self._send_internal(self.positions.message(p) for p in sorted(changed))
        await self._settle(futures)

    async def _rebuild_positions(self, partition: int, until: int) -> None:
        started = time.monotonic()
        records = await self._read_partition(self.topics["positions"], partition, until)
        book = self.positions.book(partition)
        applied = 0
        for r in records:
            if r.value is None:
                continue
            try:
                decoded = self.codec.decode(r.value, expect=("PositionState",))
                book.apply(events.validate("PositionState", decoded.record))
                applied += 1
            except (DecodeError, events.InvalidEvent):
                continue  # dead-lettered when it was first processed
        log.info(
            "positions partition %d: rebuilt %d open positions from %d events in %.2f s",
            partition,
            len(book),
            applied,
            time.monotonic() - started,
        )

    async def _on_quotes(self, batch: Sequence[Any]) -> None:
        futures: list[asyncio.Future[Any]] = []
        changed: set[int] = set()
        for event in batch:
            record = self._decode("quotes", event)
            if isinstance(record, str):
                futures.append(await self._dead_letter("quotes", event, record))
                continue
            if self.quotes.apply(event.message.partition, record):
                changed.add(event.message.partition)
        futures += await self._send_internal(self.quotes.message(p) for p in sorted(changed))
        await self._settle(futures)

    async def _on_routing(self, batch: Sequence[Any]) -> None:
        futures: list[asyncio.Future[Any]] = []
        outputs: list[Output] = []
        internal: list[Internal] = []
        now = time.monotonic()
        for event in batch:
            record = self._decode("routing_decisions", event)
            if isinstance(record, str):
                futures.append(await self._dead_letter("routing_decisions", event, record))
                continue
            outputs.append(Output("routing_metrics", record["symbol"], "RoutingDecision", record))
            internal += self.routing.apply(event.message.partition, record, now)
        futures += await self._send_outputs(outputs)
        # Every delta of this batch goes out before its offsets can commit.
        internal += self.routing.drain_due(now, force=True)
        futures += await self._send_internal(internal)
        await self._settle(futures)

    async def _on_lp_status(self, batch: Sequence[Any]) -> None:
        futures: list[asyncio.Future[Any]] = []
        internal = []
        for event in batch:
            record = self._decode("lp_status", event)
            if isinstance(record, str):
                futures.append(await self._dead_letter("lp_status", event, record))
                continue
            internal.append(Internal(f"lps:{record['lpName']}", {"k": "lps", "r": record}))
        futures += await self._send_internal(internal)
        await self._settle(futures)

    async def _on_service_alerts(self, batch: Sequence[Any]) -> None:
        futures: list[asyncio.Future[Any]] = []
        internal = []
        for event in batch:
            record = self._decode("alerts_inbound", event)
            if isinstance(record, str):
                futures.append(await self._dead_letter("alerts_inbound", event, record))
                continue
            internal.append(Internal(f"svc:{record['eventId']}", {"k": "svc", "r": record}))
        futures += await self._send_internal(internal)
        await self._settle(futures)

    # --- global stage -------------------------------------------------------------------------

    async def _on_internal(self, batch: Sequence[Any]) -> None:
        if self.global_stage is None:
            await self._start_global(batch[0].message.offset)
        stage = self.global_stage
        assert stage is not None  # noqa: S101 - set by _start_global
        now = time.monotonic()
        outputs: list[Output] = []
        for event in batch:
            if event.message.value:
                outputs += self._apply_internal(stage, event.message.value, now)
        await self._settle(await self._send_outputs(outputs))

    def _apply_internal(self, stage: GlobalStage, value: bytes, now: float) -> list[Output]:
        try:
            msg = decode_internal(value)
            if msg["k"] == "svc":
                return stage.on_service_alert(msg["r"])
            return stage.on_internal(msg, now)
        except Exception:  # noqa: BLE001 - one bad internal message must not stop the stage
            log.exception("global stage: cannot apply an internal message")
            return []

    async def _start_global(self, until: int) -> None:
        started = time.monotonic()
        stage = GlobalStage(self.config)
        # Alert ids already in the log: a rebuilt or redelivered cause must not add a second one.
        alerts_topic = self.topics["alerts"]
        for r in await self._read_partition(alerts_topic, 0, 2**62):
            if r.key:
                self.written_alerts.add(r.key.decode())
        history = await self._read_partition(self.topics["internal"], 0, until)
        snapshot_at = -1
        for i, r in enumerate(history):
            if r.value and b'"k":"state"' in r.value:
                snapshot_at = i
        if snapshot_at >= 0:
            stage.restore(decode_internal(history[snapshot_at].value))
        now = time.monotonic()
        replayed: list[Output] = []
        for r in history[snapshot_at + 1 :]:
            if r.value:
                replayed += self._apply_internal(stage, r.value, now)
        # Only alerts (deduplicated by id) are re-sent; exposure is published fresh below.
        await self._settle(await self._send_outputs(o for o in replayed if o.schema == "Alert"))
        self.global_stage = stage
        log.info(
            "global stage started: %d internal messages replayed, %d alert ids known, %.2f s",
            len(history),
            len(self.written_alerts),
            time.monotonic() - started,
        )

    async def _tick(self) -> None:
        """Every 20 ms: routing deltas that waited long enough; in the global stage, the
        coalesced/heartbeat exposure, time-based rules, tombstones and state snapshots.
        Not awaited for acknowledgement: none of this is tied to an input offset, and a failed
        send is logged (the next tick or change sends a newer value)."""
        now = time.monotonic()
        futures = await self._send_internal(self.routing.drain_due(now))
        stage = self.global_stage
        if stage is not None:
            futures += await self._send_outputs(stage.due(now))
            if stage.tombstones:
                producer = await self._producer()
                for key in stage.tombstones:
                    futures.append(
                        await producer.send(self.topics["internal"], key=key.encode(), value=None)
                    )
                stage.tombstones.clear()
            if now - self._last_snapshot >= self.settings.state_snapshot_s:
                self._last_snapshot = now
                futures += await self._send_internal([stage.snapshot()])
        for f in futures:
            f.add_done_callback(_log_failure)
        if now - self._last_lag >= 2.0:
            self._last_lag = now
            await self._update_lag()

    async def _update_lag(self) -> None:
        """Consumer lag per assigned partition: end of the log minus our next offset."""
        try:
            consumer = self.app.consumer
            for tp in consumer.assignment():
                position = await consumer.position(tp)
                highwater = consumer.highwater(tp)
                if position is not None and highwater is not None:
                    m.LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(
                        max(0, highwater - position)
                    )
        except Exception:  # noqa: BLE001 - metrics must never stop the worker
            log.debug("consumer lag not available yet", exc_info=True)


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("periodic output not delivered: %r", future.exception())
