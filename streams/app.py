"""The worker process: a Faust app whose tasks read Kafka in large batches.

Why not Faust agents: faust-streaming hands every message through its conductor, channel and
stream machinery (~50 us each here), which with acks caps a worker near 5,000 events/s on this
machine (bench/worker_throughput.py, first figures in docs/benchmarks.md); the issue asks for
20,000. So the Faust app provides the worker's life cycle, signal handling and timers, and two
long-running tasks read with aiokafka ``getmany`` (thousands of records a call) in consumer
groups of their own:

- ``<app id>.inputs``: the five input topics, stage 1 (:mod:`streams.pipeline`); any number of
  workers split these partitions;
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
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.structs import OffsetAndMetadata

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
Batch = Mapping[TopicPartition, list[Any]]
KNOWN_ALERT_IDS = 200_000  # alert ids remembered to never write one twice (newest kept)
Futures = list["asyncio.Future[Any]"]
FAUST_SESSION_TIMEOUT_S = 10.0  # aiokafka's default session.timeout.ms, as our consumers


class BatchSender:
    """Collects one processing batch's outputs into aiokafka BatchBuilders, one per partition,
    and submits them with ``send_batch`` (a few us per record instead of ~10 us for ``send``).
    Partitions are chosen like the Java client (murmur2 of the key), cached per key."""

    def __init__(self, producer: AIOKafkaProducer, counts: dict[str, int]) -> None:
        self.producer = producer
        self.counts = counts
        self.partition_of: dict[tuple[str, bytes], int] = {}
        self.builders: dict[tuple[str, int], Any] = {}
        self.full: list[tuple[str, int, Any]] = []

    async def partition(self, topic: str, key: bytes) -> int:
        cached = self.partition_of.get((topic, key))
        if cached is not None:
            return cached
        count = self.counts.get(topic)
        if count is None:
            count = self.counts[topic] = len(await self.producer.partitions_for(topic))
        partition: int = (murmur2(key) & 0x7FFFFFFF) % count
        if len(self.partition_of) > 100_000:
            self.partition_of.clear()
        self.partition_of[(topic, key)] = partition
        return partition

    async def add(
        self,
        topic: str,
        key: bytes,
        value: bytes | None,
        *,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        partition = await self.partition(topic, key)
        builder = self.builders.get((topic, partition))
        if builder is None:
            builder = self.builders[(topic, partition)] = self.producer.create_batch()
        if builder.append(timestamp=timestamp_ms, key=key, value=value, headers=headers or []):
            return
        self.full.append((topic, partition, builder))
        builder = self.builders[(topic, partition)] = self.producer.create_batch()
        if builder.append(timestamp=timestamp_ms, key=key, value=value, headers=headers or []):
            return
        raise ValueError(f"a message of {len(value or b'')} bytes does not fit a batch")

    async def submit(self) -> Futures:
        """Hand every batch to the producer; the futures resolve when the broker acknowledged."""
        pending = self.full + [(t, p, b) for (t, p), b in self.builders.items()]
        self.full, self.builders = [], {}
        futures: Futures = []
        for topic, partition, builder in pending:
            if builder.record_count():
                try:
                    futures.append(
                        await self.producer.send_batch(builder, topic, partition=partition)
                    )
                except KafkaError as exc:
                    # A broker is gone and the partition's queue did not drain in time
                    # (KafkaTimeoutError): an unacknowledged batch, not a worker crash.
                    failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                    failed.set_exception(exc)
                    futures.append(failed)
        return futures


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(
        self,
        revoked: Callable[[set[TopicPartition]], Awaitable[None]],
        assigned: Callable[[set[TopicPartition]], Awaitable[None]],
    ) -> None:
        self._revoked, self._assigned = revoked, assigned

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._assigned(set(assigned))


class _Committer:
    """Commits a consumer's offsets in batch order once each batch's outputs are acknowledged,
    without making the next batch wait for the broker (at most ``max_in_flight`` batches are
    unacknowledged; commits are coalesced to one per ``interval_s``). If outputs fail, nothing
    after them is committed and the loop re-reads from the committed offsets (outputs are
    idempotent, so re-processing is harmless)."""

    def __init__(
        self, consumer: AIOKafkaConsumer, max_in_flight: int = 8, interval_s: float = 0.1
    ) -> None:
        self.consumer = consumer
        self.queue: asyncio.Queue[tuple[Futures, dict[TopicPartition, OffsetAndMetadata]]] = (
            asyncio.Queue(maxsize=max_in_flight)
        )
        self.interval_s = interval_s
        self.pending: dict[TopicPartition, OffsetAndMetadata] = {}
        self.failed: BaseException | None = None
        self._last_commit = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def add(self, futures: Futures, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        await self.queue.put((futures, offsets))

    async def _run(self) -> None:
        while True:
            futures, offsets = await self.queue.get()
            try:
                if self.failed is None:
                    if futures:
                        await asyncio.gather(*futures)
                    self.pending.update(offsets)
                    now = time.monotonic()
                    if self.queue.empty() or now - self._last_commit >= self.interval_s:
                        await self._commit()
            except (KafkaError, OSError) as exc:
                log.warning("outputs not acknowledged (%r); re-reading from the last commit", exc)
                self.failed = exc
                self.pending.clear()
            finally:
                self.queue.task_done()

    async def _commit(self) -> None:
        if not self.pending:
            return
        offsets, self.pending = self.pending, {}
        self._last_commit = time.monotonic()
        try:
            await self.consumer.commit(offsets)
        except CommitFailedError as exc:
            log.info("commit skipped after a rebalance (redelivered elsewhere): %s", exc)

    async def drain(self) -> None:
        """Wait until every queued batch is acknowledged and committed."""
        await self.queue.join()
        if self.failed is None:
            await self._commit()

    async def recover(self) -> None:
        await self.queue.join()
        self.pending.clear()
        for tp in self.consumer.assignment():
            committed = await self.consumer.committed(tp)
            if committed is None:
                await self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, committed)
        self.failed = None
        await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._task is not None:
            try:
                await asyncio.wait_for(self.drain(), timeout=10)
            except (TimeoutError, KafkaError):
                log.warning("stopping with unacknowledged outputs; they will be redelivered")
            self._task.cancel()


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
        self.positions = PositionsStage()
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
        self._last_snapshot = 0.0
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

    async def _sender(self) -> BatchSender:
        return BatchSender(await self._producer(), self._partition_counts)

    # --- the batch loop -----------------------------------------------------------------------

    async def _consume(
        self,
        group: str,
        topics: list[str],
        handler: Callable[[Batch], Awaitable[Futures]],
        revoked: Callable[[set[TopicPartition]], Awaitable[None]],
        assigned: Callable[[set[TopicPartition]], Awaitable[None]],
    ) -> None:
        """Read ``topics`` in batches as consumer group ``group``; commit a batch's offsets only
        after the handler's outputs were acknowledged."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            group_id=group,
            client_id=f"{group}-{id(self):x}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.settings.batch_max,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        committer = _Committer(consumer)

        async def on_revoked(tps: set[TopicPartition]) -> None:
            await committer.drain()  # commit what is acknowledged before giving partitions up
            await revoked(tps)

        consumer.subscribe(topics, listener=_Listener(on_revoked, assigned))
        await consumer.start()
        self.consumers.append(consumer)
        committer.start()
        log.info("consuming %s as group %s", ", ".join(topics), group)
        wait_ms = self.settings.batch_within_ms
        try:
            while True:
                if committer.failed is not None:
                    # Outputs since the last commit may be missing: drop the in-memory state
                    # (alert ids taken as written included) and rebuild it from Kafka.
                    await revoked(consumer.assignment())
                    await committer.recover()
                batch = await consumer.getmany(
                    timeout_ms=wait_ms, max_records=self.settings.batch_max
                )
                if not batch:
                    continue
                futures = await handler(batch)
                offsets = {
                    tp: OffsetAndMetadata(records[-1].offset + 1, "")
                    for tp, records in batch.items()
                }
                await committer.add(futures, offsets)
        finally:
            self.consumers.remove(consumer)
            await committer.stop()
            await consumer.stop()

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

    def _remember_alert(self, alert_id: str) -> None:
        self.written_alerts[alert_id] = None
        if len(self.written_alerts) > KNOWN_ALERT_IDS:
            del self.written_alerts[next(iter(self.written_alerts))]

    async def _add_internal(self, sender: BatchSender, messages: Iterable[Internal]) -> None:
        topic = self.topics["internal"]
        for message in messages:
            await sender.add(topic, message.key.encode(), message.encode())

    async def _read_partition(
        self, topic: str, partition: int, until: int | None, *, last: int | None = None
    ) -> list[Any]:
        """Records of one partition from its start (or only the ``last`` ones) up to offset
        ``until`` (None: to the end)."""
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
            end = (await consumer.end_offsets([tp]))[tp]
            stop = end if until is None else min(until, end)
            await consumer.seek_to_beginning(tp)
            if last is not None:
                first = max(await consumer.position(tp), stop - last)
                consumer.seek(tp, first)
            while await consumer.position(tp) < stop:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=20_000)
                records.extend(r for r in batch.get(tp, []) if r.offset < stop)
        finally:
            await consumer.stop()
        return records

    # --- stage 1 ------------------------------------------------------------------------------

    async def _on_inputs(self, batch: Batch) -> Futures:
        sender = await self._sender()
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
                else:  # alerts_inbound
                    internal.append(Internal(f"svc:{record['eventId']}", {"k": "svc", "r": record}))
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
            for r in await self._read_partition(self.topics["positions"], partition, until):
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
        sender = await self._sender()
        if self.global_stage is None:
            first = min(records[0].offset for records in batch.values())
            await self._start_global(sender, first)
        stage = self.global_stage
        assert stage is not None  # noqa: S101 - set by _start_global
        now = time.monotonic()
        messages = [r.value for records in batch.values() for r in records if r.value]
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
        for r in await self._read_partition(alerts, 0, None, last=KNOWN_ALERT_IDS):
            if r.key:
                self._remember_alert(r.key.decode())
        history = await self._read_partition(self.topics["internal"], 0, until)
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
        an input offset, so not awaited: a failed send is logged, a newer value follows."""
        stage = self.global_stage
        if stage is None:
            return
        now = time.monotonic()
        sender = await self._sender()
        await self._add_outputs(sender, stage.due(now))
        internal = self.topics["internal"]
        for key in stage.tombstones:
            await sender.add(internal, key.encode(), None)
        stage.tombstones.clear()
        if now - self._last_snapshot >= self.settings.state_snapshot_s:
            self._last_snapshot = now
            await self._add_internal(sender, [stage.snapshot()])
        for future in await sender.submit():
            future.add_done_callback(_log_failure)

    async def _update_lag(self) -> None:
        """Consumer lag per assigned partition: end of the log minus our next offset."""
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


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("periodic output not delivered: %r", future.exception())
