"""The worker process: a Faust app whose tasks read Kafka in large batches.

Why not Faust agents: faust-streaming hands every message through its conductor, channel and
stream machinery (~50 us each here), which with acks caps a worker near 5,000 events/s on this
machine (bench/worker_throughput.py, first figures in docs/benchmarks.md); the issue asks for
20,000. So the Faust app provides the worker's life cycle, signal handling and timers, and two
long-running tasks read with aiokafka ``getmany`` (thousands of records a call) in consumer
groups of their own:

- ``<app id>.inputs``: the five input topics, stage 1 (:mod:`streams.worker.pipeline`); any number
of
  workers split these partitions. Service alerts need no global state: stage 1 validates them
  and writes them to the alert log itself (one Kafka hop, for latency);
- ``<app id>.global``: the one-partition internal topic, the global stage, in exactly one worker.
  A separate consumer, so the global stage never waits behind an input backlog in a fetch.

State lives in plain objects, never Faust tables (one changelog record per key and event), and is
rebuilt from Kafka when a partition is assigned: the compacted positions topic *is* the
changelog of the position books; the global stage replays the compacted internal topic from its
last state snapshot. A batch's outputs are acknowledged by the broker (acks=all) before its
offsets are committed (at-least-once; Faust's ``exactly_once`` has open bugs #517 #323 #177), and
every output is idempotent: latest-wins partials, union-merged routing deltas, alert ids derived
from their cause and never written twice.

Bad input (undecodable or invalid) goes to the dead-letter topic unchanged, with headers naming
the source topic, partition, offset and the error; the worker carries on.

The Kafka plumbing (batched sends, ordered commits, the consume loop, partition reads) is in
:mod:`streams.worker.kafka_io`; this module holds what the worker does with the records.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from schemas.codec import DecodeError, default_codec, encode_with
from streams import events
from streams.alerts.records import from_service_alert
from streams.settings import KafkaSettings
from streams.topics import topic_name
from streams.worker import metrics as m
from streams.worker.kafka_io import (
    Batch,
    BatchSender,
    Futures,
    consume,
    log_failure,
    read_partition,
)
from streams.worker.pipeline import (
    GlobalStage,
    Internal,
    Output,
    PipelineConfig,
    PositionsStage,
    QuotesStage,
    RoutingStage,
    decode_internal,
)
from streams.worker.settings import WorkerSettings

log = logging.getLogger("rtx.worker")

INPUTS = {
    "positions": "PositionState",
    "quotes": "Quote",
    "routing_decisions": "RoutingDecision",
    "lp_status": "LpStatus",
    "alerts_inbound": "ServiceAlert",
}
SNAPSHOT_PREFIX = b'{"k":"state"'  # Internal.encode sorts keys: "k" comes first
MAX_INTERNAL_BYTES = 900_000  # under the broker's default message.max.bytes (1 MB)
KNOWN_ALERT_IDS = 200_000  # alert ids remembered to never write one twice (newest kept)
FAUST_SESSION_TIMEOUT_S = 10.0  # aiokafka's default session.timeout.ms, as our consumers


class Worker:
    """The stage objects of one worker process, its consumers, producer and Faust app."""

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
        self.logical = {name: logical for logical, name in self.topics.items()}
        self.positions = PositionsStage(
            closed_retention_us=settings.closed_retention_s * 1_000_000,
            max_closed=settings.max_closed,
        )
        self.quotes = QuotesStage()
        self.routing = RoutingStage(config.routing)
        self.global_stage: GlobalStage | None = None
        # Alert ids already in the log (insertion-ordered, the newest KNOWN_ALERT_IDS kept): a
        # replayed or redelivered cause is recent, so its id is among them.
        self.written_alerts: dict[str, None] = {}
        self.producer: AIOKafkaProducer | None = None
        self.consumers: list[AIOKafkaConsumer] = []
        self._partition_counts: dict[str, int] = {}
        self._producer_lock = asyncio.Lock()
        self._senders: dict[str, BatchSender] = {}
        self._last_snapshot = 0.0
        self._tick_failure: BaseException | None = None
        # Ids of service alerts in the alert log (stage 1 writes them), read from the log's tail
        # before the first one is written and again after partitions move or outputs failed.
        self.service_alert_ids: dict[str, None] = {}
        self._service_alert_ids_loaded = False
        self.app = self._build_app()

    # --- Faust app ----------------------------------------------------------------------------

    def _build_app(self) -> faust.App:
        brokers = ";".join(f"kafka://{h}" for h in self.kafka.bootstrap_servers.split(","))
        app = faust.App(
            self.settings.app_id,
            broker=brokers,
            store="memory://",
            topic_allow_declare=False,
            web_enabled=False,
            datadir=self.settings.data_dir,
            # Faust's own (topic-less) consumer group must rejoin before the tasks start; with
            # its default 60 s session a worker restarted after kill -9 sat idle for a minute
            # waiting for its dead predecessor to expire. 10 s, like the tasks' own consumers.
            broker_session_timeout=FAUST_SESSION_TIMEOUT_S,
        )
        # RTX_WORKER_ROLE: "inputs" workers scale out stage 1; a "global" worker runs only the
        # global stage, on a core of its own; "all" (default) does both in one process.
        if self.settings.role in ("all", "inputs"):
            app.task(self._run_inputs)
        if self.settings.role in ("all", "global"):
            app.task(self._run_global)
        app.timer(0.005)(self._tick)
        app.timer(2.0)(self._update_lag)
        return app

    async def _producer(self) -> AIOKafkaProducer:
        if self.producer is not None:
            return self.producer
        async with self._producer_lock:  # both loops and the timer may ask at once
            if self.producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.kafka.bootstrap_servers,
                    client_id=f"{self.settings.app_id}-worker",
                    acks="all",
                    enable_idempotence=True,
                    max_batch_size=1024 * 1024,
                )
                await producer.start()
                self.producer = producer
        return self.producer

    async def _replace_producer(self, cause: BaseException) -> None:
        log.warning("producer state broken (%r): starting a new producer", cause)
        old, self.producer = self.producer, None
        senders, self._senders = self._senders, {}
        for sender in senders.values():
            await sender.close()
        if old is not None:
            try:
                await asyncio.wait_for(old.stop(), timeout=10)
            except (TimeoutError, KafkaError):
                log.warning("the old producer did not stop cleanly; dropped")

    async def _sender(self, stream: str) -> BatchSender:
        """The sender of one stream of outputs (``inputs``, ``global``, ``tick``), kept for the
        worker's life so that its rounds go out in order (:class:`BatchSender`). If a sender saw
        the producer's idempotence state break, every sender and the producer are replaced
        (a new producer id; the failed rounds' loops re-read from their last commit)."""
        broken = next((s.broken for s in self._senders.values() if s.broken), None)
        if broken is not None:
            await self._replace_producer(broken)
        sender = self._senders.get(stream)
        if sender is None:
            sender = self._senders[stream] = BatchSender(
                await self._producer(), self._partition_counts
            )
        return sender

    # --- the batch loop -----------------------------------------------------------------------

    async def _consume(
        self,
        group: str,
        topics: list[str],
        handler: Callable[[Batch], Awaitable[Futures]],
        revoked: Callable[[set[TopicPartition]], Awaitable[None]],
        assigned: Callable[[set[TopicPartition]], Awaitable[None]],
    ) -> None:
        """Read ``topics`` in batches as consumer group ``group``
        (:func:`streams.worker.kafka_io.consume`:
        a batch's offsets are committed only after the handler's outputs were acknowledged)."""
        await consume(
            self.kafka.bootstrap_servers,
            group,
            topics,
            handler,
            revoked,
            assigned,
            client_id=f"{group}-{id(self):x}",
            batch_max=self.settings.batch_max,
            batch_within_ms=self.settings.batch_within_ms,
            consumers=self.consumers,
        )

    async def _run_inputs(self) -> None:
        await self._consume(
            f"{self.settings.app_id}.inputs",
            [self.topics[t] for t in INPUTS],
            self._on_inputs,
            self._inputs_revoked,
            self._noop,
        )

    async def _run_global(self) -> None:
        await self._consume(
            f"{self.settings.app_id}.global",
            [self.topics["internal"]],
            self._on_global,
            self._global_revoked,
            self._noop,
        )

    async def _noop(self, _tps: set[TopicPartition]) -> None:
        return None

    async def _inputs_revoked(self, revoked: set[TopicPartition]) -> None:
        """Forget the state of partitions given up: another worker continues them, and if they
        come back they are rebuilt from Kafka, never continued from stale state."""
        if any(tp.topic == self.topics["alerts_inbound"] for tp in revoked):
            self._service_alert_ids_loaded = False  # others may write meanwhile: re-read
        for tp in revoked:
            if tp.topic == self.topics["positions"]:
                self.positions.drop(tp.partition)
            elif tp.topic == self.topics["routing_decisions"]:
                self.routing.windows.pop(tp.partition, None)
                self.routing.rates.pop(tp.partition, None)
                self.routing.pending.pop(tp.partition, None)

    async def _global_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked and self.global_stage is not None:
            log.info("global stage released (rebalance)")
            self.global_stage = None
            self.written_alerts.clear()

    # --- helpers ------------------------------------------------------------------------------

    def _decode(self, logical: str, record: Any) -> dict[str, Any] | str:
        """The validated record, or the reason it is rejected."""
        schema = INPUTS[logical]
        try:
            decoded = self.codec.decode(record.value or b"", expect=(schema,))
            return events.validate(schema, decoded.record)
        except DecodeError as exc:
            return f"{exc.reason}: {exc}"
        except events.InvalidEvent as exc:
            return f"invalid: {exc}"
        except Exception as exc:  # noqa: BLE001 - never crash the worker on input
            return f"error: {exc!r}"

    async def _dead_letter(
        self, sender: BatchSender, logical: str, record: Any, reason: str
    ) -> None:
        m.DEAD_LETTERED.labels(topic=logical, reason=reason.split(":", 1)[0]).inc()
        log.warning(
            "dead-lettered %s[%s]@%s: %s",
            record.topic,
            record.partition,
            record.offset,
            reason[:300],
        )
        headers = [
            ("rtx.source.topic", record.topic.encode()),
            ("rtx.source.partition", str(record.partition).encode()),
            ("rtx.source.offset", str(record.offset).encode()),
            ("rtx.error", reason[:2000].encode("utf-8", "replace")),
            ("rtx.dead-lettered-at", str(int(time.time() * 1000)).encode()),
        ]
        await sender.add(
            self.topics["dead_letter"],
            record.key or b"",
            record.value or b"",
            headers=headers,
        )

    async def _add_outputs(self, sender: BatchSender, outputs: Iterable[Output]) -> None:
        for out in outputs:
            if out.schema == "Alert":
                if out.key in self.written_alerts:
                    continue
                self._remember_alert(out.key)
            value = encode_with(self.codec.schema(out.schema), out.record, validate=False)
            await sender.add(self.topics[out.topic], out.key.encode(), value)
            m.DERIVED.labels(topic=out.topic).inc()

    async def _add_service_alert(self, sender: BatchSender, record: dict[str, Any]) -> None:
        """A validated service alert, written to the alert log by stage 1 itself (it needs no
        global state; one Kafka hop less than through the global stage). Its id derives from
        its cause, and ids already in the log are skipped, so a redelivery writes nothing."""
        if not self._service_alert_ids_loaded:
            self.service_alert_ids = {}
            for r in await read_partition(
                self.kafka.bootstrap_servers, self.topics["alerts"], 0, None, last=KNOWN_ALERT_IDS
            ):
                if r.key:
                    self.service_alert_ids[r.key.decode()] = None
            self._service_alert_ids_loaded = True
        alert = from_service_alert(record)
        if alert["id"] in self.service_alert_ids:
            return
        self.service_alert_ids[alert["id"]] = None
        if len(self.service_alert_ids) > KNOWN_ALERT_IDS:
            del self.service_alert_ids[next(iter(self.service_alert_ids))]
        value = encode_with(self.codec.schema("Alert"), alert, validate=False)
        await sender.add(self.topics["alerts"], alert["id"].encode(), value)
        m.DERIVED.labels(topic="alerts").inc()

    def _remember_alert(self, alert_id: str) -> None:
        self.written_alerts[alert_id] = None
        if len(self.written_alerts) > KNOWN_ALERT_IDS:
            del self.written_alerts[next(iter(self.written_alerts))]

    async def _add_internal(self, sender: BatchSender, messages: Iterable[Internal]) -> None:
        topic = self.topics["internal"]
        for message in messages:
            value = message.encode()
            if len(value) > MAX_INTERNAL_BYTES:  # the broker would refuse it (1 MB), and the
                # refusal would break the idempotent producer's numbering for the partition
                log.error("internal message %s of %d bytes not sent", message.key, len(value))
                continue
            await sender.add(topic, message.key.encode(), value)

    # --- stage 1 ------------------------------------------------------------------------------

    async def _on_inputs(self, batch: Batch) -> Futures:
        sender = await self._sender("inputs")
        now = time.monotonic()
        changed_positions: set[int] = set()
        changed_quotes: set[int] = set()
        internal: list[Internal] = []
        routing_out = self.topics["routing_metrics"]
        for tp, records in batch.items():
            logical = self.logical[tp.topic]
            p = tp.partition
            if logical == "positions" and not self.positions.loaded(p):
                await self._rebuild_positions(p, records[0].offset)
            m.EVENTS.labels(topic=logical).inc(len(records))
            ts = records[-1].timestamp
            if ts:
                m.LATENCY.labels(topic=logical).observe(max(0.0, time.time() - ts / 1000))
            for r in records:
                record = self._decode(logical, r)
                if isinstance(record, str):
                    await self._dead_letter(sender, logical, r, record)
                elif logical == "positions":
                    if self.positions.apply(p, record):
                        changed_positions.add(p)
                elif logical == "routing_decisions":
                    # Pass the validated event through as it came (same Avro bytes).
                    await sender.add(routing_out, r.key or b"", r.value, timestamp_ms=r.timestamp)
                    internal += self.routing.apply(p, record, now)
                elif logical == "quotes":
                    if self.quotes.apply(p, record):
                        changed_quotes.add(p)
                elif logical == "lp_status":
                    internal.append(Internal(f"lps:{record['lpName']}", {"k": "lps", "r": record}))
                else:  # alerts_inbound: straight into the alert log, one hop, once per id
                    await self._add_service_alert(sender, record)
        internal += [self.positions.message(p) for p in sorted(changed_positions)]
        internal += [self.quotes.message(p) for p in sorted(changed_quotes)]
        internal += self.routing.drain_due(now, force=True)
        await self._add_internal(sender, internal)
        return await sender.submit()

    async def _rebuild_positions(self, partition: int, until: int) -> None:
        started = time.monotonic()
        book = self.positions.book(partition)
        applied = 0
        if until > 0:
            for r in await read_partition(
                self.kafka.bootstrap_servers, self.topics["positions"], partition, until
            ):
                if r.value is None:
                    continue
                try:
                    decoded = self.codec.decode(r.value, expect=("PositionState",))
                    book.apply(events.validate("PositionState", decoded.record))
                    applied += 1
                except (DecodeError, events.InvalidEvent):
                    continue  # dead-lettered when it was first processed
        log.info(
            "positions partition %d: %d open positions rebuilt from %d events in %.2f s",
            partition,
            len(book),
            applied,
            time.monotonic() - started,
        )

    # --- global stage -------------------------------------------------------------------------

    async def _on_global(self, batch: Batch) -> Futures:
        sender = await self._sender("global")
        if self.global_stage is None:
            first = min(records[0].offset for records in batch.values())
            await self._start_global(sender, first)
        stage = self.global_stage
        assert stage is not None  # noqa: S101 - set by _start_global
        now = time.monotonic()
        # The stage's own snapshots (read only when a stage starts) are skipped undecoded: each
        # is up to ~0.5 MB of JSON, and parsing it every 30 s fragments the heap (the soak).
        messages = [
            r.value
            for records in batch.values()
            for r in records
            if r.value and not r.value.startswith(SNAPSHOT_PREFIX)
        ]
        await self._add_outputs(sender, self._apply_internal(stage, messages, now))
        return await sender.submit()

    def _apply_internal(
        self, stage: GlobalStage, values: Iterable[bytes], now: float
    ) -> list[Output]:
        decoded = []
        for value in values:
            try:
                decoded.append(decode_internal(value))
            except ValueError:
                log.exception("global stage: undecodable internal message")
        try:
            return stage.on_batch(decoded, now)
        except Exception:  # noqa: BLE001 - keep the stage alive; the cause is in the log
            log.exception("global stage: cannot apply a batch of internal messages")
            return []

    async def _start_global(self, sender: BatchSender, until: int) -> None:
        started = time.monotonic()
        stage = GlobalStage(self.config)
        # Alert ids already in the log: a replayed or redelivered cause must not add a second one.
        alerts = self.topics["alerts"]
        for r in await read_partition(
            self.kafka.bootstrap_servers, alerts, 0, None, last=KNOWN_ALERT_IDS
        ):
            if r.key:
                self._remember_alert(r.key.decode())
        history = await read_partition(
            self.kafka.bootstrap_servers, self.topics["internal"], 0, until
        )
        snapshot_at = -1
        for i, r in enumerate(history):
            if r.value and b'"k":"state"' in r.value:
                snapshot_at = i
        if snapshot_at >= 0:
            stage.restore(decode_internal(history[snapshot_at].value))
        # The snapshot leaves out the LPs' rolling decision windows: refill them from the digests
        # before it (the tracker keeps those inside its window and ignores repeats), then apply
        # everything after it.
        earlier = (
            r.value for r in history[: max(snapshot_at, 0)] if r.value and b'"k":"dec"' in r.value
        )
        later = (r.value for r in history[snapshot_at + 1 :] if r.value)
        replayed = self._apply_internal(stage, itertools.chain(earlier, later), time.monotonic())
        # Only alerts (never written twice) are re-sent; exposure is published fresh.
        await self._add_outputs(sender, (o for o in replayed if o.schema == "Alert"))
        self.global_stage = stage
        log.info(
            "global stage started: %d internal messages replayed, %d alert ids known, %.2f s",
            len(history),
            len(self.written_alerts),
            time.monotonic() - started,
        )

    # --- timers -------------------------------------------------------------------------------

    async def _tick(self) -> None:
        """Every 5 ms in the global stage: the coalesced or heartbeat exposure, time-based
        rules, tombstones for closed routing windows and periodic state snapshots. Not tied to
        an input offset, so not awaited; if a send failed, the next tick rebuilds the global
        stage from Kafka first (see :meth:`_recover_from_failed_tick`)."""
        if self.global_stage is None:
            return
        sender = await self._sender("tick")
        if self._tick_failure is not None:
            await self._recover_from_failed_tick(sender)
        stage = self.global_stage
        if stage is None:
            return
        now = time.monotonic()
        await self._add_outputs(sender, stage.due(now))
        internal = self.topics["internal"]
        for key in stage.tombstones:
            await sender.add(internal, key.encode(), None)
        stage.tombstones.clear()
        if now - self._last_snapshot >= self.settings.state_snapshot_s:
            self._last_snapshot = now
            await self._add_internal(sender, [stage.snapshot()])
        for future in await sender.submit():
            future.add_done_callback(self._tick_sent)

    def _tick_sent(self, future: asyncio.Future[Any]) -> None:
        log_failure(future)
        if not future.cancelled() and future.exception() is not None:
            self._tick_failure = future.exception()

    async def _recover_from_failed_tick(self, sender: BatchSender) -> None:
        """A tick's outputs were not acknowledged: an alert a time-based rule raised may be
        missing from the log while the rule engine and ``written_alerts`` take it as written.
        Rebuild the global stage from Kafka as a restart would (the alert ids the log holds, the
        internal topic up to the global consumer's position), which re-sends exactly the
        alerts that are missing. Without a position (a rebalance is under way) the stage is
        dropped and the global loop rebuilds it on its next batch."""
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
        self.global_stage = None
        self.written_alerts.clear()
        if position is not None:
            await self._start_global(sender, position)

    async def _update_lag(self) -> None:
        """Consumer lag per assigned partition: end of the log minus our next offset; and the
        closed position ids stage 1 remembers (its bounded memory)."""
        m.CLOSED_IDS.set(sum(book.remembered_closed for book in self.positions.books.values()))
        for consumer in list(self.consumers):
            try:
                for tp in consumer.assignment():
                    highwater = consumer.highwater(tp)
                    position = await consumer.position(tp)
                    if highwater is not None and position is not None:
                        m.LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(
                            max(0, highwater - position)
                        )
            except Exception:  # noqa: BLE001 - metrics must never stop the worker
                log.debug("consumer lag not available yet", exc_info=True)
