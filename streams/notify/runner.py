"""``rtx-analytics notify``, I/O: reads the alert log, the actions and the ledger from Kafka, feeds
the :class:`~streams.notify.plan.Planner`, writes escalate and wake actions, delivers
notifications (:mod:`.delivery`) and records each outcome in the ledger.

Start: the whole ledger (``alert.notifications``: what was sent or dead-lettered before), the
newest ``alert_history`` alerts, and the actions since the oldest of them (less an hour for
clock skew). Only once all three are read does the escalation policy run, so an acknowledgement
already in the topic is never mistaken for none. Then everything new, as it arrives, and the
policy at each due time (at least once a second).

Writes (escalate and wake actions, ledger entries, dead letters) go through one idempotent
producer with ``acks=all``. An escalate or wake action is applied when the broker acknowledged
it (and again when read back: the fold applies an action id once); its notification follows.

Crash safety (``kill -9``): a notification goes to the ledger after the webhook answered 2xx;
on restart every transition not in the ledger is notified, so each is delivered at least once,
and twice only if the process died between the answer and the ledger write (the same
``Idempotency-Key`` both times). An escalation written just before a crash is read back at
start and not written again; one written twice anyway has the same action id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from schemas.codec import DecodeError, default_codec
from streams.errors import StreamsError
from streams.notify.body import iso
from streams.notify.config import NotifyConfig
from streams.notify.delivery import Deliveries
from streams.notify.plan import Notification, Planner
from streams.settings import KafkaSettings
from streams.topics import topic_name
from streams.workflow import EscalationPolicy, InvalidAction

log = logging.getLogger("rtx.notify")

SKEW_MS = 3_600_000
TICK_MS = 1000


class NotifyError(StreamsError):
    """The notifier could not start (no broker, missing topics)."""

    retriable = True


class Notifier:
    """One notifier process (see the module docstring)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        config: NotifyConfig,
        policy: EscalationPolicy,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kafka = kafka
        self.config = config
        self.planner = Planner(config, policy)
        self.clock = clock
        self.deliveries = Deliveries(config, self._done)
        self.tp = {
            name: TopicPartition(topic_name(name, kafka), 0)
            for name in ("alerts", "alert_actions", "alert_notifications")
        }
        self.dead_letter_topic = topic_name("dead_letter", kafka)
        self._codec = default_codec()
        self._producer: AIOKafkaProducer | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self.ready = False
        self.sent = 0
        self.dead = 0

    def _now_us(self) -> int:
        return int(self.clock() * 1_000_000)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            client_id=f"{self.kafka.client_id}-notify",
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            client_id=f"{self.kafka.client_id}-notify",
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=100,
        )
        try:
            async with asyncio.timeout(30):
                await producer.start()
                await consumer.start()
                await self._check_topics(consumer)
        except (TimeoutError, KafkaError, OSError) as exc:
            await consumer.stop()
            await producer.stop()
            raise NotifyError(f"Kafka at {self.kafka.bootstrap_servers}: {exc!r}") from exc
        self._producer = producer
        self.deliveries.start()
        try:
            await self._load(consumer)
            self.ready = True
            log.info("Notifier ready: %d webhooks", len(self.config.webhooks))
            await self._live(consumer, stop)
        finally:
            await self.deliveries.stop()
            if self._writes:
                await asyncio.gather(*self._writes, return_exceptions=True)
            await consumer.stop()
            await producer.stop()

    async def _check_topics(self, consumer: AIOKafkaConsumer) -> None:
        existing = await consumer.topics()
        missing = [tp.topic for tp in self.tp.values() if tp.topic not in existing]
        if missing:
            raise NotifyError(
                f"topics missing: {', '.join(missing)} (run 'rtx-analytics topics apply')"
            )

    # -- start ----------------------------------------------------------------------------------

    async def _load(self, consumer: AIOKafkaConsumer) -> None:
        tps = list(self.tp.values())
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        ledger, alerts, actions = (
            self.tp["alert_notifications"],
            self.tp["alerts"],
            self.tp["alert_actions"],
        )
        consumer.seek(ledger, begins[ledger])
        consumer.seek(alerts, max(begins[alerts], ends[alerts] - self.config.alert_history))
        consumer.pause(actions)
        oldest: list[int] = []
        await self._read_until(consumer, {ledger: ends[ledger], alerts: ends[alerts]}, oldest)
        start = ends[actions]
        if oldest:
            found = await consumer.offsets_for_times({actions: oldest[0] - SKEW_MS})
            at = found.get(actions)
            start = ends[actions] if at is None else max(begins[actions], at.offset)
        consumer.seek(actions, start)
        consumer.resume(actions)
        await self._read_until(consumer, {actions: ends[actions]}, oldest)
        log.info(
            "Loaded %d ledger entries, alerts %d.., actions %d..%d",
            ends[ledger] - begins[ledger],
            ends[alerts] - min(self.config.alert_history, ends[alerts] - begins[alerts]),
            start,
            ends[actions] - 1,
        )

    async def _read_until(
        self, consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int], oldest: list[int]
    ) -> None:
        for tp, end in ends.items():
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=500)
                for record in batch.get(tp, []):
                    if not oldest and tp == self.tp["alerts"]:
                        oldest.append(record.timestamp)
                    self._handle(record)

    # -- live -----------------------------------------------------------------------------------

    async def _live(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._tick()
            wake = self.planner.wake_at(self._now_us())
            wait_ms = TICK_MS if wake is None else (wake - self._now_us()) // 1000 + 1
            wait_ms = max(1, min(TICK_MS, wait_ms))
            try:
                batch = await consumer.getmany(timeout_ms=wait_ms)
            except KafkaError as exc:
                log.warning("Kafka fetch failed, retrying: %r", exc)
                await asyncio.sleep(1.0)
                continue
            for records in batch.values():
                for record in records:
                    self._handle(record)

    def _tick(self) -> None:
        writes, notes = self.planner.due(self._now_us())
        for record in writes:
            task = asyncio.create_task(self._write_action(record))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)
        self._queue(notes)

    def _queue(self, notes: list[Notification]) -> None:
        for note in notes:
            self.deliveries.put(note)

    def _handle(self, record: ConsumerRecord[Any, Any]) -> None:
        tp = TopicPartition(record.topic, record.partition)
        if tp == self.tp["alert_notifications"]:
            if record.key is not None and record.value is not None:
                self.planner.mark(record.key.decode())
            return
        if record.value is None:
            return
        now = self._now_us()
        try:
            decoded = self._codec.decode(record.value)
            if tp == self.tp["alerts"] and decoded.schema == "Alert":
                logged = record.timestamp * 1000
                self._queue(self.planner.on_alert(record.offset, decoded.record, logged, now))
            elif tp == self.tp["alert_actions"] and decoded.schema == "AlertAction":
                self._queue(self.planner.on_action(record.offset, decoded.record, now))
        except (DecodeError, InvalidAction) as exc:  # one bad record must not stop the rest
            log.warning("Record %s@%d skipped: %s", record.topic, record.offset, exc)

    # -- writes ---------------------------------------------------------------------------------

    async def _write_action(self, record: Mapping[str, Any]) -> None:
        producer = self._producer
        action_id = str(record["actionId"])
        try:
            if producer is None:
                raise KafkaError("producer stopped")
            value = self._codec.encode("AlertAction", record)
            topic = self.tp["alert_actions"].topic
            key = str(record["alertId"]).encode()
            async with asyncio.timeout(30):
                metadata = await producer.send_and_wait(topic, value, key=key, partition=0)
        except (TimeoutError, KafkaError, OSError) as exc:
            log.warning("Writing %s failed (tried again at the next due): %r", action_id, exc)
            self.planner.write_failed(action_id)
            return
        log.info("Wrote %s %s (seq %d)", record["action"], record["alertId"], metadata.offset)
        self._queue(self.planner.on_action(metadata.offset, record, self._now_us()))

    async def _done(
        self, note: Notification, status: str, attempts: int, error: str | None
    ) -> None:
        """Record a delivery's outcome in the ledger (a dead letter also in its topic)."""
        entry: dict[str, Any] = {"status": status, "attempts": attempts, "at": iso(self._now_us())}
        if error is not None:
            entry["error"] = error
        producer = self._producer
        if producer is None:
            return
        if status == "dead-letter":
            self.dead += 1
            reason = f"webhook {note.webhook.name}: {error} after {attempts} attempts"
            headers = [
                ("rtx.source.topic", self.tp["alert_notifications"].topic.encode()),
                ("rtx.source.partition", b"0"),
                ("rtx.source.offset", b"-1"),
                ("rtx.error", reason[:2000].encode("utf-8", "replace")),
                ("rtx.dead-lettered-at", str(int(self.clock() * 1000)).encode()),
            ]
            await self._send(self.dead_letter_topic, note.body, note.ledger_key, headers)
        else:
            self.sent += 1
        value = json.dumps(entry).encode()
        await self._send(self.tp["alert_notifications"].topic, value, note.ledger_key, [])

    async def _send(
        self, topic: str, value: bytes, key: str, headers: list[tuple[str, bytes]]
    ) -> None:
        producer = self._producer
        assert producer is not None  # noqa: S101 - set before any delivery
        for attempt in range(1, 6):
            try:
                await producer.send_and_wait(topic, value, key=key.encode(), headers=headers)
                return
            except KafkaError as exc:
                log.warning("Writing to %s failed (attempt %d): %r", topic, attempt, exc)
                await asyncio.sleep(min(10.0, 0.5 * 2**attempt))
        log.error("Could not record %s in %s: it may be notified again after a restart", key, topic)
