"""Fault 3: the (single) Kafka broker restarts under load.

A broker of the test's own (the session broker is shared), the topic table, a worker process, a
real ``rtx-analytics bridge`` in dev mode and a dashboard client (``websockets``) subscribed to
``exposure-updates``. While the SDK publishes at a steady rate the broker is stopped and started
again; nobody touches the SDK, the worker or the bridge. Afterwards:

- every event the SDK acknowledged is in its input topic (the SDK retried through the outage);
- the worker resumed on its own: an exposure-change written after the load equals the ground
  truth computed from the positions in Kafka, and the inputs' alerts are in the log once each;
- the bridge resumed on its own: the dashboard receives exposure-changes again, up to the final
  figure.

The quick version (one clean restart) runs in ``make test``; the chaos one (two ``kill -9`` of
the broker, each down for a few seconds, more load) under ``make chaos``.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from streams.settings import KafkaSettings
from tests.helpers.faults import (
    BridgeProcess,
    ExposureClient,
    Load,
    OwnKafka,
    apply_topics_to,
    check_alert_log,
    log,
    read_inputs,
    wait_for_exposure,
    wait_logged,
)
from tests.helpers.worker import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
async def own_kafka(tmp_path: Path) -> AsyncIterator[OwnKafka]:
    kafka = OwnKafka(tmp_path / "kafka", nodes=1)
    try:
        await kafka.start()
        yield kafka
    finally:
        await asyncio.to_thread(kafka.stop)


def settings_for(bootstrap: str) -> KafkaSettings:
    return KafkaSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "RTX_TOPIC_PREFIX": f"f{uuid.uuid4().hex[:8]}.",
            "RTX_INPUT_PARTITIONS": "3",
            "RTX_PRODUCER_LINGER_MS": "1",
        }
    )


async def broker_restart_under_load(
    kafka: OwnKafka, tmp: Path, *, events: int, rate: float, kills: int
) -> None:
    settings = settings_for(kafka.bootstrap)
    await apply_topics_to(settings)
    load = Load(settings, events=events, rate=rate, seed=303 + kills)
    worker = WorkerProcess(settings, tmp, f"rtx-faults-{uuid.uuid4().hex[:8]}", **load.worker_env())
    bridge = BridgeProcess(settings, tmp)
    client: ExposureClient | None = None
    try:
        worker.start()
        await wait_logged(worker, "consuming")
        client = ExposureClient(await bridge.start())
        await client.start()
        running = asyncio.create_task(load.run())
        back_at = 0.0
        for n in range(1, max(kills, 1) + 1):
            await load.reached(0.25 * n)
            if kills:  # chaos: kill -9, down a few seconds, start again
                await kafka.kill(1, signal.SIGKILL)
                await asyncio.sleep(3)
            else:
                log("fault: restarting the broker (SIGTERM, then start)")
            await kafka.restart(1)
            back_at = time.time()
            log(f"broker back at {load.sent} events")
        await running

        inputs = await read_inputs(settings)
        lost = inputs.lost(load.acked)
        log(f"check: {load.acked_count} acknowledged events, {lost} missing from their topics")
        assert load.acked_count > 0.9 * events
        assert lost == 0

        truth = inputs.exposure_truth()
        got = await wait_for_exposure(settings, truth, load.finished_at, worker, timeout_s=180)
        log(f"check: worker's exposure {got['totalExposure']:,.2f} = ground truth {truth:,.2f}")
        await client.until(truth, back_at, 120, bridge.log)
        log(
            f"check: the dashboard got {len(client.since(back_at))} exposure-changes after the "
            f"restart, the last {client.updates[-1][1]:,.2f}"
        )
        assert bridge.proc is not None and bridge.proc.poll() is None, bridge.log()

        await check_alert_log(settings, inputs)
    finally:
        if client is not None:
            await client.stop()
        bridge.stop()
        worker.kill(signal.SIGTERM)


@pytest.mark.timeout(180)
async def test_broker_restart_under_load(own_kafka: OwnKafka, tmp_path: Path) -> None:
    await broker_restart_under_load(own_kafka, tmp_path, events=20_000, rate=1_500, kills=0)


@pytest.mark.chaos
@pytest.mark.timeout(600)
async def test_broker_kill_9_twice_under_heavy_load(own_kafka: OwnKafka, tmp_path: Path) -> None:
    await broker_restart_under_load(own_kafka, tmp_path, events=90_000, rate=3_000, kills=2)
