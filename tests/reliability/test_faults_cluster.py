"""Fault 4: one broker of a three-broker cluster dies under load and comes back later.

Topics with replication factor 3 and ``min.insync.replicas`` 2 (``RTX_REPLICATION_FACTOR=3``,
``RTX_MIN_INSYNC_REPLICAS=2``), the SDK writing with ``acks=all``. The broker killed
(``kill -9``) is the leader of the alert log's one partition, so the worker's most
order-sensitive output has to move. The worker must keep going while the broker is down (a new
exposure-change is written before it comes back). Afterwards: zero acknowledged events lost,
exposure equals the ground truth and the inputs' alerts are in the log exactly once.

The quick version (one broker killed, then restarted) runs in ``make test``; the chaos version
(each of the three brokers in turn, more load) under ``make chaos``.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams.settings import KafkaSettings
from streams.topics import topic_name
from tests.helpers.faults import (
    Load,
    OwnKafka,
    apply_topics_to,
    check_alert_log,
    log,
    read_inputs,
    wait_for_exposure,
    wait_for_exposure_written,
    wait_logged,
)
from tests.helpers.worker import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[OwnKafka]:
    kafka = OwnKafka(tmp_path / "cluster", nodes=3)
    try:
        await kafka.start()
        yield kafka
    finally:
        await asyncio.to_thread(kafka.stop)


async def leader_of(settings: KafkaSettings, logical: str) -> int:
    """The broker leading partition 0 of a topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic_name(logical, settings)])
    finally:
        await admin.close()
    (p0,) = [p for p in described["partitions"] if p["partition"] == 0]
    return int(p0["leader"])


async def brokers(settings: KafkaSettings) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    return sorted(int(b["node_id"]) for b in cluster["brokers"])


async def replication_of(settings: KafkaSettings, logical: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic_name(logical, settings)])
    finally:
        await admin.close()
    return min(len(p["replicas"]) for p in described["partitions"])


async def broker_loss_under_load(
    kafka: OwnKafka, tmp: Path, *, events: int, rate: float, rounds: int
) -> None:
    settings = KafkaSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "RTX_TOPIC_PREFIX": f"c{uuid.uuid4().hex[:8]}.",
            "RTX_INPUT_PARTITIONS": "3",
            "RTX_PRODUCER_LINGER_MS": "1",
            "RTX_REPLICATION_FACTOR": "3",
            "RTX_MIN_INSYNC_REPLICAS": "2",
        }
    )
    await apply_topics_to(settings)
    assert await replication_of(settings, "positions") == 3
    load = Load(settings, events=events, rate=rate, seed=404 + rounds)
    worker = WorkerProcess(settings, tmp, f"rtx-faults-{uuid.uuid4().hex[:8]}", **load.worker_env())
    try:
        worker.start()
        await wait_logged(worker, "consuming")
        running = asyncio.create_task(load.run())
        rng = random.Random(rounds)  # noqa: S311 - test data
        killed: list[int] = []
        restarting: asyncio.Task[None] | None = None
        await load.reached(0.2)
        for _ in range(rounds):
            if restarting is not None:
                await restarting  # one broker down at a time
                await asyncio.sleep(rng.uniform(1.0, 5.0))
            # The alert log's leader the first time, then brokers not killed yet.
            node = await leader_of(settings, "alerts")
            if node in killed:
                node = next(i for i in (1, 2, 3) if i not in killed)
            killed.append(node)
            down_at = time.time()
            assert not running.done(), "the load ended before the fault: make it longer"
            await kafka.kill(node, signal.SIGKILL)
            # The pipeline keeps going with a broker down: a new exposure-change is written.
            await wait_for_exposure_written(settings, down_at, worker)
            log(f"worker output continues with broker {node} down; restarting it")
            # A kill -9ed node takes 13-30 s to come back (its old session must expire).
            restarting = asyncio.create_task(kafka.restart(node))
        await running

        inputs = await read_inputs(settings)
        lost = inputs.lost(load.acked)
        log(f"check: {load.acked_count} acknowledged events, {lost} missing from their topics")
        assert load.acked_count > 0.9 * events
        assert lost == 0

        truth = inputs.exposure_truth()
        got = await wait_for_exposure(settings, truth, load.finished_at, worker, timeout_s=180)
        log(f"check: exposure {got['totalExposure']:,.2f} = ground truth {truth:,.2f}")

        await check_alert_log(settings, inputs)
        assert restarting is not None
        await restarting
        assert await brokers(settings) == [1, 2, 3]
    finally:
        worker.kill(signal.SIGTERM)


@pytest.mark.timeout(240)
async def test_cluster_broker_loss_under_load(cluster: OwnKafka, tmp_path: Path) -> None:
    await broker_loss_under_load(cluster, tmp_path, events=12_000, rate=1_000, rounds=1)


@pytest.mark.chaos
@pytest.mark.timeout(900)
async def test_cluster_each_broker_lost_in_turn_under_heavy_load(
    cluster: OwnKafka, tmp_path: Path
) -> None:
    await broker_loss_under_load(cluster, tmp_path, events=200_000, rate=2_000, rounds=3)
