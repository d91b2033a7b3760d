"""The bridge's Kafka input: every partition of the derived topics, read without a consumer group.

Each bridge process assigns all partitions itself (``assign`` at chosen offsets; nothing is
committed, no group is joined), so any number of bridges run side by side and each sees every
record:

- ``exposure``, ``pnl`` and ``account.risk.top`` (one partition each): from the last record
  (end - 1), for the snapshot, then live;
- ``lp.performance`` (compacted): from the beginning, so every LP's latest metrics are known;
  so are the markouts' compacted topics (LP markouts, curves, account toxicity, routing advice);
- ``routing.metrics``: from the end (no snapshot; decisions are only interesting live);
- ``alerts`` (one partition, offset = ``seq``): the newest ``RTX_BRIDGE_ALERT_HISTORY`` records are
  loaded into the :class:`~ws_bridge.core.alertlog.AlertLog` *before* :meth:`KafkaSource.start`
  returns (so before the server accepts clients), then consumed live.

**Epoch** (docs/bridge.md: "the topic's id"). Kafka's metadata does not give the clients a topic
id, so the epoch is derived from the log's first record instead: a hash of the topic name and
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

**The consumer is librdkafka's** (confluent-kafka), not aiokafka's: its fetches, their requests
and responses are handled in C on librdkafka's own threads, where each of aiokafka's fetches cost
the event loop ~0.7-1.1 ms of Python whatever it carried (13 partitions a request), and an idle
bridge ~70 ms of CPU a second (docs/benchmarks.md, issue 18). The broker holds a fetch up to
``RTX_BRIDGE_FETCH_MAX_WAIT_MS`` (by default the batch interval) for
``RTX_BRIDGE_FETCH_MIN_BYTES``; a thread of the source's own sleeps in librdkafka until a fetch
brings records, takes all of them and hands them to the event loop, which writes their messages
and dispatches them at once (:meth:`Sink.flush`): one wake-up of each thread per fetch, no timer,
nothing when nothing comes. The event loop never calls into librdkafka while that thread runs
(a call could wait on a lock the thread holds while it waits for the GIL to run a callback), so
the high watermarks for :meth:`KafkaSource.status` are noted by the thread, once a second.
Blocking calls at start-up (metadata, offsets, the alert log's load) run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol, cast

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from schemas.codec import DecodeError, default_codec
from schemas.fastread import VarintDecoder, varint_at
from streams.settings import KafkaSettings
from streams.topics import topic_name
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.errors import BridgeError
from ws_bridge.core.jsonwrite import message_writers
from ws_bridge.core.protocol import SCHEMA_ROUTES, Encoded, to_message
from ws_bridge.core.protocol import Message as ContractMessage
from ws_bridge.server.rdkafka import (
    Partition,
    consumer_config,
    epoch_of,
    message_timestamp,
    on_error,
    partitions,
    watermarks,
)

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
REST_OF_FETCH_S = 0.004  # how long the consumer thread waits for the rest of a fetch


class SourceError(BridgeError):
    """The Kafka source could not start (no broker, missing topics)."""

    retriable = True


class Sink(Protocol):
    """Where consumed records go (the server's hub)."""

    def set_alert_log(self, alert_log: AlertLog) -> None: ...

    def publish(self, message: ContractMessage | Encoded, kafka_ts_ms: int | None) -> None: ...

    def publish_alert(self, seq: int, record: Mapping[str, Any], kafka_ts_ms: int | None) -> None:
        """Append to the alert log, then dispatch (unless it was a redelivery)."""

    def flush(self) -> None:
        """A batch is in: dispatch what was published now."""


class KafkaSource:
    """Consumes the derived topics into a :class:`Sink`; reports positions and lag."""

    def __init__(
        self, kafka: KafkaSettings, *, alert_history: int, settings: BridgeSettings | None = None
    ) -> None:
        self._kafka = kafka
        self._history = alert_history
        self._fetch = settings or BridgeSettings()  # its fetch_* sizes
        self._topics = {logical: topic_name(logical, kafka) for logical in (*LOGICAL, *KEYED)}
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._wake = threading.Event()  # cuts a retry's pause short when stopping
        self._slots = threading.Semaphore(2)  # batches handed to the loop, not taken yet
        # The high watermarks of the last fetches, noted by the consumer thread every second
        # (a call into librdkafka from the event loop could wait on the consumer thread's lock
        # while that thread waits for the GIL to run a callback).
        self._highs: dict[Partition, int] = {}
        self._positions: dict[Partition, int] = {}
        self._ends: dict[Partition, int] = {}
        self._ready_at: dict[Partition, int] = {}
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
        highs = self._highs
        for tp, position in self._positions.items():
            topic = tp[0]
            end = max(self._ends.get(tp, position), highs.get(tp, 0))
            row = out.setdefault(topic, {"position": 0, "end": 0, "lag": 0})
            row["position"] += position
            row["end"] += end
            row["lag"] += max(0, end - position)
        return out

    async def start(self, sink: Sink, timeout_s: float = 30.0) -> None:
        consumer = Consumer(consumer_config(self._kafka, self._fetch, log))
        try:
            async with asyncio.timeout(timeout_s):
                tps = await partitions(consumer, list(self._topics.values()))
                marks = await watermarks(consumer, tps)
        except (TimeoutError, KafkaException, OSError) as exc:
            await asyncio.to_thread(consumer.close)
            raise SourceError(
                f"Kafka at {self._kafka.bootstrap_servers}: cannot read the derived topics "
                f"(run 'rtx-analytics topics apply'?): {exc!r}"
            ) from exc
        self._consumer = consumer
        self._ends = {tp: high for tp, (_, high) in marks.items()}
        alerts_tp: Partition = (self._topics["alerts"], 0)
        latest = {self._topics[logical] for logical in LATEST}
        keyed = {self._topics[logical] for logical in KEYED}
        for tp in tps:
            begin, end = marks[tp]
            if tp[0] in latest:
                start = max(begin, end - 1)
            elif tp[0] == self._topics["lp_performance"] or tp[0] in keyed:
                start = begin
            elif tp == alerts_tp:
                start = max(begin, end - self._history)
            else:
                start = end
            self._positions[tp] = start
            self._ready_at[tp] = end
        await self._load_alerts(consumer, sink, alerts_tp, *marks[alerts_tp])
        consumer.assign([TopicPartition(t, p, self._positions[(t, p)]) for t, p in tps])
        self._thread = threading.Thread(
            target=self._pump,
            args=(asyncio.get_running_loop(), sink),
            name="bridge-kafka-source",
            daemon=True,
        )
        self._thread.start()

    async def _load_alerts(
        self, consumer: Consumer, sink: Sink, tp: Partition, begin: int, end: int
    ) -> None:
        """Read the alert tail into the AlertLog before any client is served."""
        start = self._positions[tp]
        epoch = await self._first_epoch(consumer, tp, begin, end)
        if epoch is None:
            epoch, self._provisional_epoch = secrets.token_urlsafe(16), True
        self._alert_log = AlertLog(epoch, capacity=self._history, start_seq=start)
        sink.set_alert_log(self._alert_log)
        if start < end:
            consumer.assign([TopicPartition(tp[0], tp[1], start)])
            while self._positions[tp] < end:
                batch = await asyncio.to_thread(consumer.consume, 5000, 0.5)
                self._deliver(sink, batch)
        log.info("Loaded alert log %s: seq %d..%d, epoch %s", tp[0], start, end - 1, epoch)

    @staticmethod
    async def _first_epoch(consumer: Consumer, tp: Partition, begin: int, end: int) -> str | None:
        """The epoch from the first record of the alert topic."""
        if end <= begin:
            return None
        consumer.assign([TopicPartition(tp[0], tp[1], begin)])
        async with asyncio.timeout(15):
            while True:
                for message in await asyncio.to_thread(consumer.consume, 1, 0.5):
                    if message.error() is None:
                        key = message.key()
                        stamp = message_timestamp(message) or 0
                        return epoch_of(tp[0], cast(int, message.offset()), stamp, key)

    def _pump(self, loop: asyncio.AbstractEventLoop, sink: Sink) -> None:
        """The consumer thread: it sleeps in librdkafka until a fetch brings records, takes
        all that came with it and hands them to the event loop (at most two batches ahead of
        it). One wake-up of each thread per fetch, and no timer."""
        consumer = self._consumer
        assert consumer is not None  # noqa: S101 - start() set it
        most = self._fetch.fetch_max_records
        noted = 0.0
        while not self._stopping:
            if time.monotonic() - noted >= 1.0:
                self._note_highs(consumer)
                noted = time.monotonic()
            try:
                batch = consumer.consume(1, 0.5)  # returns at the first record
                if batch and most > 1:
                    # and the rest of its fetch: librdkafka's broker thread queues a response
                    # partition by partition, and on two busy cores it is often preempted
                    # between two; taken in parts, half of the batches came "early" and waited
                    # out a batch interval in the hub (docs/benchmarks.md, issue 18)
                    batch += consumer.consume(most - 1, REST_OF_FETCH_S)
            except KafkaException as exc:  # librdkafka retries internally; keep going
                log.warning("Kafka consume failed, retrying: %r", exc)
                self._wake.wait(1.0)
                continue
            except RuntimeError:  # closed under us: stopping
                return
            if batch:
                while not self._slots.acquire(timeout=0.5):
                    if self._stopping:
                        return
                try:
                    loop.call_soon_threadsafe(self._take, sink, batch)
                except RuntimeError:  # the loop is closed: stopping
                    return

    def _note_highs(self, consumer: Consumer) -> None:
        highs = {}
        for tp in self._positions:
            try:
                marks = consumer.get_watermark_offsets(TopicPartition(*tp), cached=True)
            except (KafkaException, RuntimeError):
                marks = None
            if marks is not None and marks[1] >= 0:
                highs[tp] = int(marks[1])
        self._highs = highs

    def _take(self, sink: Sink, batch: list[Message]) -> None:
        """On the event loop: one batch to the sink, dispatched at once."""
        try:
            self._deliver(sink, batch)
            sink.flush()
        finally:
            self._slots.release()

    def _deliver(self, sink: Sink, batch: list[Message]) -> None:
        for message in batch:
            error = message.error()
            if error is not None:
                on_error(error)
                continue
            try:
                self._handle(sink, message)
            except Exception:  # one bad record must not stop the stream
                self.decode_errors += 1
                log.exception(
                    "Record %s[%d]@%d skipped",
                    message.topic(),
                    message.partition(),
                    message.offset(),
                )

    def _handle(self, sink: Sink, message: Message) -> None:
        # (None only for an error event, which _deliver took apart)
        topic, partition = cast(str, message.topic()), cast(int, message.partition())
        offset = cast(int, message.offset())
        self._positions[(topic, partition)] = offset + 1
        value = message.value()
        if value is None:  # a tombstone of a compacted topic
            return
        writer = self._writers.get(value[:10])
        if writer is not None:
            try:
                encoded = writer(value)
            except Exception:  # noqa: BLE001 - any refusal: the reference path decides below
                encoded = None
            if encoded is not None:
                sink.publish(encoded, message_timestamp(message))
                return
        try:
            decoded = self._codec.decode(value)
        except DecodeError as exc:
            self.decode_errors += 1
            log.warning("Undecodable record %s[%d]@%d: %s", topic, partition, offset, exc)
            return
        if decoded.schema not in SCHEMA_ROUTES:
            return
        if decoded.schema == "Alert":
            alert_log = self._alert_log
            if self._provisional_epoch and alert_log is not None and alert_log.last_seq < 0:
                alert_log.epoch = epoch_of(
                    topic, offset, message_timestamp(message) or 0, message.key()
                )
                self._provisional_epoch = False
            sink.publish_alert(offset, decoded.record, message_timestamp(message))
        else:
            sink.publish(to_message(decoded.schema, decoded.record), message_timestamp(message))

    async def stop(self) -> None:
        if self._thread is not None:
            self._stopping = True
            self._wake.set()
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await asyncio.to_thread(consumer.close)
