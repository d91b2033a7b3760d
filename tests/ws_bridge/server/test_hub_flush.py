"""Hub.flush: the Kafka source dispatches each batch at once, but never two ticks within one
batch interval (an early batch is left to the hub's task, which sleeps out the interval)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from tests.helpers.bridge import routing_item, settings
from tests.helpers.bridge_server import until
from ws_bridge.server.http import BridgeMetrics
from ws_bridge.server.hub import FLUSH_EARLY_S, Hub


def hub(interval_ms: int) -> tuple[Hub, list[float]]:
    s = dataclasses.replace(settings(), batch_interval_ms=interval_ms)
    h = Hub(s, BridgeMetrics(lambda: {}, lambda: {}))
    ticks: list[float] = []
    real_tick = h.tick

    def tick(now: float) -> None:
        if h._pending:  # noqa: SLF001 - the test counts the ticks that dispatch something
            ticks.append(now)
        real_tick(now)

    h.tick = tick  # type: ignore[method-assign]
    return h, ticks


async def test_a_batch_is_dispatched_at_once_and_an_early_one_waits_for_the_interval() -> None:
    h, ticks = hub(interval_ms=200)
    h.start()
    try:
        h.publish(routing_item(1).message)
        h.flush()
        assert len(ticks) == 1  # at once: nothing before it
        first = ticks[0]
        h.publish(routing_item(2).message)
        h.flush()  # well within the interval: left to the hub's task
        assert len(ticks) == 1
        await until(lambda: len(ticks) == 2, wait_s=5)
        assert ticks[1] - first >= 0.2
        assert time.time() - first >= 0.2 - FLUSH_EARLY_S
        h.flush()  # nothing pending: no tick
        assert len(ticks) == 2
    finally:
        await h.stop()


async def test_a_batch_a_little_early_is_dispatched_at_once_paced_as_if_on_time() -> None:
    h, ticks = hub(interval_ms=20)
    h.publish(routing_item(1).message)
    h.flush()
    await asyncio.sleep(0.020 - FLUSH_EARLY_S / 4)  # within the tolerance of the interval
    h.publish(routing_item(2).message)
    h.flush()
    assert len(ticks) == 2
    # The sessions' clock never sees two ticks less than an interval apart.
    assert ticks[1] - ticks[0] >= 0.020 - 1e-6  # (floats of ~1.8e9 s: ulp ~2.4e-7)
    assert ticks[1] <= time.time() + FLUSH_EARLY_S
