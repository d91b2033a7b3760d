"""The bridge's Kafka input: every partition of the derived topics, read without a consumer group.

Each bridge process assigns all partitions itself (``assign`` + seek; nothing is committed), so
any number of bridges run side by side and each sees every record:

- ``exposure``, ``pnl`` and ``account.risk.top`` (one partition each): from the last record
  (end - 1), for the snapshot, then live;
- ``lp.performance`` (compacted): from the beginning, so every LP's latest metrics are known;
  so are the markouts' compacted topics (LP markouts, curves, account toxicity, routing advice);
- ``routing.metrics``: from the end (no snapshot; decisions are only interesting live);
- ``alerts`` (one partition, offset = ``seq``): the newest ``RTX_BRIDGE_ALERT_HISTORY`` records are
  loaded into the :class:`~ws_bridge.core.alertlog.AlertLog` *before* :meth:`KafkaSource.start`
  returns (so before the server accepts clients), then consumed live.

**Epoch** (docs/bridge.md: "the topic's id"). aiokafka's metadata requests do not return topic
ids, so the epoch is derived from the log's first record instead: a hash of the topic name and
the offset, timestamp and key of the oldest record held. The alert topic keeps records forever
(``retention.ms=-1``), so that record never changes while the topic lives, and a recreated topic
starts with a different first record (a different timestamp at least). When the topic is empty
at start the epoch is a provisional random value, replaced by the hash when the first record
arrives (no alert was ever sent under the provisional one).

Each consumed record goes to a :class:`Sink` (the server's hub) as its contract message: written
straight from the Avro value as JSON text by the compiled writers of
:mod:`ws_bridge.core.jsonwrite` when they take it; otherwise (alerts, another writer version, a
damaged record, a value they leave to the reference path) decoded with the codec and converted
with ``to_message`` (alerts through ``AlertLog.append``, which drops redeliveries).

Fetches: the consumer waits up to ``RTX_BRIDGE_FETCH_MAX_WAIT_MS`` for
``RTX_BRIDGE_FETCH_MIN_BYTES`` (Kafka's ``fetch.max.wait.ms`` and ``fetch.min.bytes``), so it
fetches about once per batch interval rather than once per record or two: every fetch costs a
round trip to the broker and its wake-ups, whatever it carries (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
from collections.abc import Mapping
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from schemas.codec import DecodeError, default_codec
from schemas.fastread import VarintDecoder, varint_at
from streams.settings import KafkaSettings
from streams.topics import topic_name
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.errors import BridgeError
from ws_bridge.core.jsonwrite import message_writers
from ws_bridge.core.protocol import SCHEMA_ROUTES, Encoded, Message, to_message

VARINT: VarintDecoder = varint_at
try:  # aiokafka's C varint decoder: ~0.1 us instead of ~0.7 for an 8-byte timestamp
    from aiokafka.record._crecords.cutil import decode_varint_cython

    VARINT = decode_varint_cython
except ImportError:  # pragma: no cover - aiokafka installed without its C extensions
    pass

log = logging.getLogger("ws_bridge.kafka")

LOGICAL = ("exposure", "routing_metrics", "lp_performance", "alerts", "pnl", "account_risk_top")
# Compacted, latest per key: read from the beginning (rtx-analytics markouts writes them).
KEYED = ("lp_markouts", "markout_curves", "account_toxicity", "routing_advice")
LATEST = ("exposure", "pnl", "account_risk_top")  # read from their last record: the snapshot


class SourceError(BridgeError):
    """The Kafka source could not start (no broker, missing topics)."""

    retriable = True


class Sink(Protocol):
    """Where consumed records go (the server's hub)."""

    def set_alert_log(self, alert_log: AlertLog) -> None: ...

    def publish(self, message: Message | Encoded, kafka_ts_ms: int | None) -> None: ...

    def publish_alert(self, seq: int, record: Mapping[str, Any], kafka_ts_ms: int | None) -> None:
        """Append to the alert log, then dispatch (unless it was a redelivery)."""


def tp_of(record: ConsumerRecord[Any, Any]) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)


def epoch_of(topic: str, offset: int, timestamp_ms: int, key: bytes | None) -> str:
    """The alert log's epoch from its first record (see the module docstring)."""
    digest = hashlib.sha256()
    digest.update(f"{topic}\0{offset}\0{timestamp_ms}\0".encode())
    digest.update(key or b"")
    return base64.urlsafe_b64encode(digest.digest()[:16]).decode().rstrip("=")


class KafkaSource:
    """Consumes the derived topics into a :class:`Sink`; reports positions and lag."""

    def __init__(
        self, kafka: KafkaSettings, *, alert_history: int, settings: BridgeSettings | None = None
    ) -> None:
        self._kafka = kafka
        self._history = alert_history
        self._fetch = settings or BridgeSettings()  # its fetch_* sizes
        self._topics = {logical: topic_name(logical, kafka) for logical in (*LOGICAL, *KEYED)}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._ends: dict[TopicPartition, int] = {}
        self._ready_at: dict[TopicPartition, int] = {}
        self._codec = default_codec()
        self._writers = message_writers(self._codec, VARINT)
        self._alert_log: AlertLog | None = None
        self._provisional_epoch = False
        self.decode_errors = 0

    @property
    def ready(self) -> bool:
        """Caught up: every partition read up to the end it had at start."""
        return self._consumer is not None and all(
            self._positions.get(tp, 0) >= end for tp, end in self._ready_at.items()
        )

    def status(self) -> dict[str, dict[str, int]]:
        """Per topic: position (next offset to read), end (high watermark) and lag, summed over
        its partitions."""
        out: dict[str, dict[str, int]] = {}
        consumer = self._consumer
        for tp, position in self._positions.items():
            end = self._ends.get(tp, position)
            if consumer is not None:
                high = consumer.highwater(tp)
                if high is not None:
                    end = max(end, high)
            row = out.setdefault(tp.topic, {"position": 0, "end": 0, "lag": 0})
            row["position"] += position
            row["end"] += end
            row["lag"] += max(0, end - position)
        return out

    async def start(self, sink: Sink, timeout_s: float = 30.0) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._kafka.bootstrap_servers,
            client_id=f"{self._kafka.client_id}-bridge",
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=self._fetch.fetch_max_wait_ms,
            fetch_min_bytes=self._fetch.fetch_min_bytes,
        )
        try:
            async with asyncio.timeout(timeout_s):
                await consumer.start()
                tps = await self._partitions(consumer)
        except (TimeoutError, KafkaError, OSError) as exc:
            await consumer.stop()
            raise SourceError(
                f"Kafka at {self._kafka.bootstrap_servers}: cannot read the derived topics "
                f"(run 'rtx-analytics topics apply'?): {exc!r}"
            ) from exc
        self._consumer = consumer
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        self._ends = dict(ends)
        alerts_tp = TopicPartition(self._topics["alerts"], 0)
        latest = {self._topics[logical] for logical in LATEST}
        keyed = {self._topics[logical] for logical in KEYED}
        for tp in tps:
            if tp.topic in latest:
                start = max(begins[tp], ends[tp] - 1)
            elif tp.topic == self._topics["lp_performance"] or tp.topic in keyed:
                start = begins[tp]
            elif tp == alerts_tp:
                start = max(begins[tp], ends[tp] - self._history)
            else:
                start = ends[tp]
            consumer.seek(tp, start)
            self._positions[tp] = start
            self._ready_at[tp] = ends[tp]
        await self._load_alerts(consumer, sink, alerts_tp, begins[alerts_tp], ends[alerts_tp])
        self._task = asyncio.create_task(self._run(sink), name="bridge-kafka-source")

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        tps: list[TopicPartition] = []
        for topic in self._topics.values():
            parts = consumer.partitions_for_topic(topic)
            while not parts:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - as streams.cli
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    await asyncio.sleep(0.2)
            tps.extend(TopicPartition(topic, p) for p in sorted(parts))
        return tps

    async def _load_alerts(
        self, consumer: AIOKafkaConsumer, sink: Sink, tp: TopicPartition, begin: int, end: int
    ) -> None:
        """Read the alert tail into the AlertLog before any client is served."""
        start = self._positions[tp]
        others = [p for p in consumer.assignment() if p != tp]
        consumer.pause(*others)
        epoch = await self._first_epoch(consumer, tp, begin, end)
        consumer.seek(tp, start)
        if epoch is None:
            epoch, self._provisional_epoch = secrets.token_urlsafe(16), True
        self._alert_log = AlertLog(epoch, capacity=self._history, start_seq=start)
        sink.set_alert_log(self._alert_log)
        try:
            while self._positions[tp] < end:
                batch = await consumer.getmany(tp, timeout_ms=500)
                for record in batch.get(tp, []):
                    self._handle(sink, record)
        finally:
            consumer.resume(*others)
        log.info("Loaded alert log %s: seq %d..%d, epoch %s", tp.topic, start, end - 1, epoch)

    @staticmethod
    async def _first_epoch(
        consumer: AIOKafkaConsumer, tp: TopicPartition, begin: int, end: int
    ) -> str | None:
        """The epoch from the first record of the alert topic (the caller seeks back after)."""
        if end <= begin:
            return None
        consumer.seek(tp, begin)
        async with asyncio.timeout(15):
            while True:
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
                for record in batch.get(tp, []):
                    key = record.key if isinstance(record.key, bytes) else None
                    return epoch_of(tp.topic, record.offset, record.timestamp, key)

    async def _run(self, sink: Sink) -> None:
        consumer = self._consumer
        assert consumer is not None  # noqa: S101 - start() set it
        while True:
            try:
                batch = await consumer.getmany(
                    timeout_ms=500, max_records=self._fetch.fetch_max_records
                )
            except KafkaError as exc:  # aiokafka retries internally; keep going
                log.warning("Kafka fetch failed, retrying: %r", exc)
                await asyncio.sleep(1.0)
                continue
            for records in batch.values():
                for record in records:
                    try:
                        self._handle(sink, record)
                    except Exception:  # one bad record must not stop the stream
                        self.decode_errors += 1
                        log.exception("Record %s[%d]@%d skipped", *tp_of(record), record.offset)

    def _handle(self, sink: Sink, record: ConsumerRecord[Any, Any]) -> None:
        tp = TopicPartition(record.topic, record.partition)
        self._positions[tp] = record.offset + 1
        value = record.value
        if value is None:  # a tombstone of the compacted LP topic
            return
        writer = self._writers.get(value[:10])
        if writer is not None:
            try:
                encoded = writer(value)
            except Exception:  # noqa: BLE001 - any refusal: the reference path decides below
                encoded = None
            if encoded is not None:
                sink.publish(encoded, record.timestamp)
                return
        try:
            decoded = self._codec.decode(value)
        except DecodeError as exc:
            self.decode_errors += 1
            log.warning("Undecodable record %s[%d]@%d: %s", *tp, record.offset, exc)
            return
        if decoded.schema not in SCHEMA_ROUTES:
            return
        if decoded.schema == "Alert":
            alert_log = self._alert_log
            if self._provisional_epoch and alert_log is not None and alert_log.last_seq < 0:
                key = record.key if isinstance(record.key, bytes) else None
                alert_log.epoch = epoch_of(record.topic, record.offset, record.timestamp, key)
                self._provisional_epoch = False
            sink.publish_alert(record.offset, decoded.record, record.timestamp)
        else:
            sink.publish(to_message(decoded.schema, decoded.record), record.timestamp)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
