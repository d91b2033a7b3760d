"""Delivery to a real HTTP server on 127.0.0.1: once on 2xx with the idempotency key; retried
with a doubling backoff while the webhook is down or answers 5xx, 408 or 429, until it
recovers; dead-lettered after max_attempts, or at once for another 4xx."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.notify.body import Transition
from streams.notify.config import NotifyConfig, Webhook
from streams.notify.delivery import Deliveries
from streams.notify.plan import Notification
from tests.helpers.webhook import Receiver, receiver

pytestmark = pytest.mark.timeout(60)


def note(url: str, key: str = "a1/raised") -> Notification:
    hook = Webhook("desk", url)
    return Notification(hook, Transition("raised", "a1", key, 0), b'{"type":"alert.raised"}')


class Outcomes:
    def __init__(self, wanted: int = 1) -> None:
        self.done: list[tuple[str, str, int, str | None]] = []
        self.wanted = wanted
        self.all_done = asyncio.Event()

    async def __call__(
        self, n: Notification, status: str, attempts: int, error: str | None
    ) -> None:
        self.done.append((n.transition.key, status, attempts, error))
        if len(self.done) >= self.wanted:
            self.all_done.set()


def deliveries(
    outcomes: Outcomes, sleep: Any = None, **config: Any
) -> tuple[Deliveries, list[float]]:
    waits: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waits.append(seconds)
        if sleep is not None:
            sleep(len(waits))

    cfg = NotifyConfig(backoff_initial_s=0.5, backoff_max_s=2.0, timeout_s=5.0, **config)
    return Deliveries(cfg, outcomes, sleep=record_sleep), waits


async def test_a_notification_is_posted_once_with_its_idempotency_key() -> None:
    outcomes = Outcomes()
    with receiver() as hook:
        d, waits = deliveries(outcomes)
        await d.deliver(note(hook.url))
        assert hook.keys == {"a1/raised": 1} and waits == []
        assert hook.requests[0][1]["type"] == "alert.raised"
    assert outcomes.done == [("a1/raised", "sent", 1, None)]


async def test_a_webhook_that_is_down_then_recovers_gets_the_notification_once() -> None:
    """Nothing listens on the port for the first two tries; the third finds the server."""
    outcomes = Outcomes()
    hook = Receiver()
    try:
        d, waits = deliveries(outcomes, sleep=lambda n: hook.up() if n == 2 else None)
        await d.deliver(note(hook.url))
        assert hook.keys == {"a1/raised": 1} and len(hook.requests) == 1
        assert waits == [0.5, 1.0]
        ((key, status, attempts, _),) = outcomes.done
        assert (key, status, attempts) == ("a1/raised", "sent", 3)
    finally:
        hook.down()


@pytest.mark.parametrize("status", [500, 503, 408, 429])
async def test_retriable_answers_are_tried_again_until_2xx(status: int) -> None:
    outcomes = Outcomes()
    with receiver() as hook:
        hook.statuses = [status, status]
        d, waits = deliveries(outcomes)
        await d.deliver(note(hook.url))
        assert [b["_status"] for _, b in hook.requests] == [status, status, 200]
        assert hook.keys == {"a1/raised": 1} and waits == [0.5, 1.0]


async def test_after_max_attempts_the_notification_is_dead_lettered() -> None:
    outcomes = Outcomes()
    with receiver() as hook:
        hook.statuses = [500] * 10
        d, waits = deliveries(outcomes, max_attempts=4)
        await d.deliver(note(hook.url))
        assert len(hook.requests) == 4 and waits == [0.5, 1.0, 2.0]  # capped at backoff_max_s
    assert outcomes.done == [("a1/raised", "dead-letter", 4, "HTTP 500")]


async def test_another_4xx_is_dead_lettered_at_once() -> None:
    outcomes = Outcomes()
    with receiver() as hook:
        hook.statuses = [404]
        d, waits = deliveries(outcomes)
        await d.deliver(note(hook.url))
        assert len(hook.requests) == 1 and waits == []
    assert outcomes.done == [("a1/raised", "dead-letter", 1, "HTTP 404")]


async def test_the_queues_deliver_every_notification_of_every_webhook() -> None:
    outcomes = Outcomes(wanted=10)
    with receiver() as first, receiver() as second:
        cfg = NotifyConfig(webhooks=(Webhook("a", first.url), Webhook("b", second.url)))
        d = Deliveries(cfg, outcomes)
        d.start()
        try:
            for n in range(10):
                d.put(
                    Notification(cfg.webhooks[n % 2], Transition("raised", "x", f"x/{n}", 0), b"{}")
                )
            async with asyncio.timeout(30):
                await outcomes.all_done.wait()
        finally:
            await d.stop()
        assert sorted(first.keys) == [f"x/{n}" for n in range(0, 10, 2)]
        assert sorted(second.keys) == [f"x/{n}" for n in range(1, 10, 2)]
