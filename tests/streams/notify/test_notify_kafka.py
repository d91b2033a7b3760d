"""The notifier against a real broker and a real webhook on 127.0.0.1, time injected: a critical
alert is notified, escalated after two minutes (an escalate action on the actions topic) and
reminded until acknowledged; a webhook that is down and recovers gets each notification once; a
restarted notifier sends nothing again (its ledger); a webhook that keeps failing is
dead-lettered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from schemas.codec import default_codec
from streams.notify.config import NotifyConfig, Webhook
from streams.notify.runner import Notifier
from streams.settings import KafkaSettings
from streams.workflow import EscalationPolicy
from tests.helpers.bridge import alert_record
from tests.helpers.bridge_kafka import producer, send
from tests.helpers.bridge_server import until
from tests.helpers.faults import read_topic
from tests.helpers.webhook import Receiver, receiver
from tests.helpers.workflow import action

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]
EVENTS = frozenset({"raised", "escalated", "renotified", "woken", "acknowledged"})


class Clock:
    """Wall time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


@asynccontextmanager
async def notifier(
    kafka: KafkaSettings, hook: Receiver, clock: Clock | None = None, **config: Any
) -> AsyncIterator[Notifier]:
    webhook = Webhook("desk", hook.url, events=EVENTS)
    settings = NotifyConfig(webhooks=(webhook,), backoff_initial_s=0.05, **config)
    found = Notifier(kafka, settings, EscalationPolicy(), clock=clock or Clock())
    stop = asyncio.Event()
    task = asyncio.create_task(found.run(stop))
    try:
        await until(lambda: found.ready or task.done(), wait_s=30)
        assert not task.done(), task.exception()
        yield found
    finally:
        stop.set()
        await task


async def records(kafka: KafkaSettings, logical: str) -> list[Any]:
    return sorted(await read_topic(kafka, logical), key=lambda r: r.offset)


def now_record(n: int) -> dict[str, Any]:
    return alert_record(n, eventTime=int(time.time() * 1_000_000))


async def test_a_critical_alert_is_notified_escalated_and_reminded_until_acknowledged(
    topics: KafkaSettings,
) -> None:
    alert = now_record(0)
    clock = Clock()
    with receiver() as hook:
        async with producer(topics) as p:
            await send(p, topics, "alerts", "Alert", alert)
            async with notifier(topics, hook, clock) as running:
                await hook.received(1)
                clock.offset_s = 2 * 60 + 1
                await hook.received(2)
                clock.offset_s = 2 * 60 + 1 + 5 * 60 + 1
                await hook.received(3)
                ack = action("acknowledge", alert["id"], at=int(clock() * 1e6), log_seq=0)
                await send(p, topics, "alert_actions", "AlertAction", ack)
                await until(lambda: _status(running, alert["id"]) == "acknowledged", wait_s=20)
                await hook.received(4)
                late = int((clock() + 60 * 60) * 1_000_000)
                assert running.planner.due(late) == ([], [])
        got = [(key, body["type"]) for key, body in hook.requests]
    assert got == [
        (f"{alert['id']}/raised", "alert.raised"),
        (f"{alert['id']}/escalated/1", "alert.escalated"),
        (f"{alert['id']}/renotified/1/1", "alert.renotified"),
        (f"{alert['id']}/acknowledged/{ack['actionId']}", "alert.acknowledged"),
    ]
    written = [
        default_codec().decode(r.value).record for r in await records(topics, "alert_actions")
    ]
    assert [(w["action"], w["actionId"], w["user"]) for w in written] == [
        ("escalate", f"escalate:{alert['id']}:1", "system"),
        ("acknowledge", ack["actionId"], "dana"),
    ]


def _status(running: Notifier, alert_id: str) -> str | None:
    state = running.planner.workflow.state(alert_id)
    return None if state is None else state.status


async def test_a_webhook_down_then_up_gets_each_notification_once_and_a_restart_sends_none(
    topics: KafkaSettings,
) -> None:
    alerts = [now_record(n) for n in range(3)]
    async with producer(topics) as p:
        for alert in alerts:
            await send(p, topics, "alerts", "Alert", alert)
    hook = Receiver()  # down: nothing listens on its port yet
    try:
        async with notifier(topics, hook, max_attempts=100) as running:
            await until(lambda: running.deliveries.failures >= 3, wait_s=20)
            hook.up()
            await hook.received(3)
            await until(lambda: running.sent == 3, wait_s=20)
        assert hook.keys == {f"{a['id']}/raised": 1 for a in alerts}
        async with notifier(topics, hook) as again:
            assert again.deliveries.pending == 0 and len(hook.requests) == 3
        ledger = await records(topics, "alert_notifications")
        assert sorted(r.key.decode() for r in ledger) == sorted(f"desk|{k}" for k in hook.keys)
    finally:
        hook.down()


async def test_a_webhook_that_keeps_failing_is_dead_lettered(topics: KafkaSettings) -> None:
    alert = now_record(0)
    async with producer(topics) as p:
        await send(p, topics, "alerts", "Alert", alert)
    with receiver() as hook:
        hook.statuses = [500] * 10
        async with notifier(topics, hook, max_attempts=2) as running:
            await until(lambda: running.dead == 1, wait_s=20)
        assert len(hook.requests) == 2
    (dead,) = await records(topics, "dead_letter")
    headers = dict(dead.headers)
    assert headers["rtx.error"].decode() == "webhook desk: HTTP 500 after 2 attempts"
    assert dead.key.decode() == f"desk|{alert['id']}/raised"
    (entry,) = await records(topics, "alert_notifications")
    assert b'"dead-letter"' in entry.value
