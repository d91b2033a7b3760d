"""Fault 1: the worker is ``kill -9``ed under continuous load and restarted.

Load goes through the SDK while the worker is killed (no clean shutdown) at random points and
started again. Afterwards the inputs are read back from Kafka and the worker's outputs checked
against them: no acknowledged event is missing from its topic, the last exposure equals the
ground truth computed from the positions held, and every alert the inputs must raise is in the
persisted alert log exactly once (no id twice at all).

The quick version (one kill) runs in ``make test``; the heavy one (three kills, more load) only
under ``make chaos`` (``-m chaos``).
"""

from __future__ import annotations

import asyncio
import random
import signal
import uuid
from pathlib import Path

import pytest

from streams.settings import KafkaSettings
from tests.helpers.faults import (
    Load,
    check_alert_log,
    log,
    read_inputs,
    wait_for_exposure,
    wait_logged,
)
from tests.helpers.worker import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def kill_9_under_load(
    settings: KafkaSettings, tmp: Path, *, events: int, rate: float, kills: int, seed: int
) -> None:
    load = Load(settings, events=events, rate=rate, seed=seed)
    env = load.worker_env()
    app_id = f"rtx-faults-{uuid.uuid4().hex[:8]}"
    workers = [WorkerProcess(settings, tmp, app_id, **env)]
    workers[0].start()
    await wait_logged(workers[0], "consuming")  # up before the load starts
    rng = random.Random(seed)  # noqa: S311 - test data
    points = [(k + rng.uniform(0.3, 0.7)) / (kills + 0.5) for k in range(kills)]
    try:
        running = asyncio.create_task(load.run())
        for n, point in enumerate(points, 1):
            await load.reached(point)
            log(f"fault: kill -9 of the worker {n}/{kills} at {load.sent} events")
            workers[-1].kill(signal.SIGKILL)
            await asyncio.sleep(rng.uniform(0.0, 2.0))  # down for a moment
            workers.append(WorkerProcess(settings, tmp, app_id, **env))
            workers[-1].start()
            await wait_logged(workers[-1], "global stage started")  # it took over
            log(f"the restarted worker took over at {load.sent} events")
        await running
        worker = workers[-1]
        inputs = await read_inputs(settings)
        lost = inputs.lost(load.acked)
        log(f"check: {load.acked_count} acknowledged events, {lost} missing from their topics")
        assert lost == 0
        truth = inputs.exposure_truth()
        got = await wait_for_exposure(settings, truth, load.finished_at, worker, timeout_s=180)
        log(f"check: exposure {got['totalExposure']:,.2f} = ground truth {truth:,.2f}")
        await check_alert_log(settings, inputs)
    finally:
        for w in workers:
            w.kill(signal.SIGTERM)


@pytest.mark.timeout(120)
async def test_worker_kill_9_once_under_load(topics: KafkaSettings, tmp_path: Path) -> None:
    await kill_9_under_load(topics, tmp_path, events=24_000, rate=1_500, kills=1, seed=101)


@pytest.mark.chaos
@pytest.mark.timeout(600)
async def test_worker_kill_9_three_times_under_heavy_load(
    topics: KafkaSettings, tmp_path: Path
) -> None:
    await kill_9_under_load(topics, tmp_path, events=180_000, rate=3_000, kills=3, seed=202)
