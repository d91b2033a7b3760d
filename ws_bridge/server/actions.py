"""The bridge's alert actions, I/O: write accepted actions to the ``alert.actions`` topic, read
every action back into the :class:`~ws_bridge.core.actions.ActionDesk`, publish the states that
change.

- **Writes** go through one idempotent producer with ``acks=all`` (the guarantees of the alert
  log's writer, the worker): a broker acknowledgement means the action is on every in-sync
  replica, and the producer's retries never write it twice. The action's seq is the offset the
  broker gives, and the sender's ``confirmed`` leaves at once. States change in the order of the
  actions topic, so that a client's highest ``actionSeq`` is a true resume point
  (``actionsSince``): an action written here is applied at once when it is the next one
  (every earlier action was read), else when it is read back like any other writer's. An
  action id written here is remembered until it is read back, so a retry in between is
  answered, not written again. A write not acknowledged within ``write_timeout_s`` is
  answered ``action-failed``: it may still land, so the client retries with the same
  ``actionId`` and the fold applies it once.
- **Reads**: one partition, no consumer group. At start, before clients are served, the actions
  since the oldest alert the bridge holds (less an hour, for clock skew between the worker and
  the writers) are folded; then every new action, whoever wrote it (another bridge, the
  notifier), as it arrives.
- **Alerts** reach the desk through the hub's ``on_alert`` (after each new alert-log entry is
  dispatched); the states they change are published on the alerts channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from schemas.codec import DecodeError, default_codec
from streams.settings import KafkaSettings
from streams.topics import topic_name
from streams.workflow import InvalidAction, Workflow
from ws_bridge.core.actions import Accepted, ActionDesk, ActionPolicy, Responder
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.errors import BridgeError
from ws_bridge.server.hub import Hub

log = logging.getLogger("ws_bridge.actions")

SKEW_MS = 3_600_000  # actions are read from the oldest held alert's time less this
START_TIMEOUT_S = 30.0


class ActionsError(BridgeError):
    """The actions topic could not be read or written at start."""

    retriable = True


class ActionLog:
    """The alert actions of one bridge (see the module docstring)."""

    def __init__(
        self, kafka: KafkaSettings, settings: BridgeSettings, *, write_timeout_s: float = 10.0
    ) -> None:
        self._kafka = kafka
        self._topic = topic_name("alert_actions", kafka)
        self._tp = TopicPartition(self._topic, 0)
        self._write_timeout_s = write_timeout_s
        self._codec = default_codec()
        self._hub: Hub | None = None
        self._oldest_alert_ms: int | None = None
        self.desk = ActionDesk(
            ActionPolicy(dict(settings.action_roles)),
            Workflow(capacity=max(1000, settings.alert_history)),
            self._epoch,
            snapshot_max=min(100, settings.queue_max_messages // 2),
        )
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[str, asyncio.Future[int]] = {}
        self._written: dict[str, int] = {}  # written here, not read back yet
        self._writes: set[asyncio.Task[None]] = set()
        self.read_errors = 0

    def _epoch(self) -> str | None:
        """The alert log's epoch (None without an alert history: nothing to pin then)."""
        alert_log = None if self._hub is None else self._hub.alert_log
        return None if alert_log is None else alert_log.epoch

    # -- wiring ---------------------------------------------------------------------------------

    def attach(self, hub: Hub) -> None:
        """Fold every new alert-log entry (before the source loads the history)."""
        self._hub = hub
        hub.on_alert = self._on_alert

    def _on_alert(self, seq: int, record: Mapping[str, Any], kafka_ts_ms: int | None) -> None:
        if kafka_ts_ms is not None and self._oldest_alert_ms is None:
            self._oldest_alert_ms = kafka_ts_ms
        logged_us = None if kafka_ts_ms is None else kafka_ts_ms * 1000
        self._publish(self.desk.on_alert(seq, record, logged_us))

    def _publish(self, encoded: list[Any]) -> None:
        if self._hub is not None:
            for item in encoded:
                self._hub.publish(item)

    # -- start and stop -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, fold the actions since the oldest held alert, then read on in a task."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self._kafka.bootstrap_servers,
            client_id=f"{self._kafka.client_id}-bridge-actions",
            acks="all",
            enable_idempotence=True,
            linger_ms=0,  # an action is one record: send it now
        )
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._kafka.bootstrap_servers,
            client_id=f"{self._kafka.client_id}-bridge-actions",
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=100,  # the broker answers as soon as an action arrives
        )
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await producer.start()
                await consumer.start()
                end = await self._position(consumer)
                await self._load(consumer, end)
        except (TimeoutError, KafkaError, OSError, ActionsError) as exc:
            await consumer.stop()
            await producer.stop()
            raise ActionsError(
                f"Kafka at {self._kafka.bootstrap_servers}: cannot use {self._topic} "
                f"(run 'rtx-analytics topics apply'?): {exc!r}"
            ) from exc
        self._producer, self._consumer = producer, consumer
        self.desk.writer = self.submit
        self._task = asyncio.create_task(self._run(consumer), name="bridge-actions")

    async def _position(self, consumer: AIOKafkaConsumer) -> int:
        """Seek to where the fold starts; the end offset to load up to."""
        if self._topic not in await consumer.topics():
            raise ActionsError(f"topic {self._topic} does not exist")
        consumer.assign([self._tp])
        begin = (await consumer.beginning_offsets([self._tp]))[self._tp]
        end = (await consumer.end_offsets([self._tp]))[self._tp]
        start = end
        if self._oldest_alert_ms is not None:
            found = await consumer.offsets_for_times({self._tp: self._oldest_alert_ms - SKEW_MS})
            at = found.get(self._tp)
            start = end if at is None else max(begin, at.offset)
        consumer.seek(self._tp, start)
        log.info("Alert actions %s: folding offsets %d..%d", self._topic, start, end - 1)
        return int(end)

    async def _load(self, consumer: AIOKafkaConsumer, end: int) -> None:
        while await consumer.position(self._tp) < end:
            batch = await consumer.getmany(self._tp, timeout_ms=500)
            for record in batch.get(self._tp, []):
                self._read(record.offset, record.value)

    async def stop(self) -> None:
        self.desk.writer = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()
        self._consumer = self._producer = None

    # -- reading --------------------------------------------------------------------------------

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                batch = await consumer.getmany(self._tp, timeout_ms=1000)
            except KafkaError as exc:  # aiokafka retries internally; keep going
                log.warning("Reading %s failed, retrying: %r", self._topic, exc)
                await asyncio.sleep(1.0)
                continue
            for record in batch.get(self._tp, []):
                self._publish(self._read(record.offset, record.value))

    def _read(self, seq: int, value: bytes | None) -> list[Any]:
        if value is None:
            return []
        try:
            decoded = self._codec.decode(value, expect=("AlertAction",))
            self._written.pop(str(decoded.record.get("actionId")), None)
            return self.desk.on_action(seq, decoded.record)
        except (DecodeError, InvalidAction) as exc:  # one bad record must not stop the rest
            self.read_errors += 1
            log.warning("Action %s@%d skipped: %s", self._topic, seq, exc)
            return []

    # -- writing --------------------------------------------------------------------------------

    def submit(self, accepted: Accepted, responder: Responder) -> None:
        """The desk's writer: write ``accepted``, then answer ``responder`` (and wake it)."""
        task = asyncio.get_running_loop().create_task(self._write(accepted, responder))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, accepted: Accepted, responder: Responder) -> None:
        action_id = accepted.action_id
        pending = self._inflight.get(action_id)
        if action_id in self._written:  # a retry after the broker's answer, before the read
            responder.action_confirmed(accepted, self._written[action_id], time.time(), True)
            self._wake(responder)
            return
        try:
            if pending is None:  # a retry of an action still in flight waits for that write
                pending = self._inflight[action_id] = asyncio.ensure_future(self._send(accepted))
                pending.add_done_callback(lambda _: self._inflight.pop(action_id, None))
            seq = await asyncio.shield(pending)
        except (TimeoutError, KafkaError, OSError) as exc:
            log.warning("Action %s not written: %r", action_id, exc)
            text = (
                "the action was not confirmed by Kafka in time; it may still be written: "
                "retry with the same actionId"
            )
            responder.action_failed(accepted, text, time.time())
        else:
            responder.action_confirmed(accepted, seq, time.time())
        self._wake(responder)

    async def _send(self, accepted: Accepted) -> int:
        producer = self._producer
        if producer is None:
            raise KafkaError("the actions producer is stopped")
        value = self._codec.encode("AlertAction", accepted.record)
        key = str(accepted.record["alertId"]).encode()
        async with asyncio.timeout(self._write_timeout_s):
            metadata = await producer.send_and_wait(self._topic, value, key=key, partition=0)
        seq = int(metadata.offset)
        if self.desk.workflow.last_action_seq == seq - 1:  # the next one: no reordering
            self._publish(self.desk.on_action(seq, accepted.record))
        elif self.desk.workflow.action_seq(accepted.action_id) is None:  # not read back yet
            self._written[accepted.action_id] = seq
        return seq

    def _wake(self, responder: Responder) -> None:
        """Wake the writer of the responder's connection: its answer is queued."""
        if self._hub is None:
            return
        for conn in self._hub.connections:
            if conn.session is responder:
                conn.wake()
                return
