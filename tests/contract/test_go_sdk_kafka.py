"""Both SDKs against a real broker and the real worker.

- The golden vectors published by the Python SDK and by the Go SDK arrive byte for byte, with
  the recorded key, on the partition the key selects (12 input partitions, 3 for alerts), with
  the event time as Kafka timestamp.
- A scenario published by the Go SDK (quotes, position opens, updates and closes, routing
  decisions, LP statuses, alerts; ids and times filled in by the SDK) is processed by the Python
  worker: exposure equals the independent ground truth, every event is counted, none is
  dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.codec import default_codec
from streams.sdk import Publisher
from streams.settings import KafkaSettings
from streams.topics import BY_LOGICAL, apply_topics, topic_name
from tests.contract import golden
from tests.helpers.worker import (
    MIDS,
    TopicReader,
    WorkerProcess,
    decoded,
    final_state,
    ground_truth,
    position_stream,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]

VECTORS = golden.load(golden.EVENTS_FILE)["vectors"]
LOGICAL = {name: logical for name, (_b, logical, _k) in golden.EVENTS.items()}


def go_env(settings: KafkaSettings) -> dict[str, str]:
    """The environment of a Go service: the same variables as the Python SDK reads."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "RTX_TOPIC_PREFIX": settings.topic_prefix,
    }


def go_publish(binary: Path, settings: KafkaSettings, lines: list[dict[str, Any]]) -> None:
    """Publish ``{"event", "input"}`` lines with the Go SDK (rtx-publish)."""
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    result = subprocess.run(  # noqa: S603 - the command built by the rtx_publish fixture
        [str(binary), "-timeout", "120s"],
        input=stdin,
        env=go_env(settings),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(lines)} events published and acknowledged" in result.stderr


async def read_inputs(settings: KafkaSettings, expected: int) -> list[Any]:
    """``expected`` records from the start of the five input topics (all partitions)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign(
            [
                TopicPartition(topic_name(logical, settings), p)
                for logical in LOGICAL.values()
                for p in range(BY_LOGICAL[logical].partition_count(settings))
            ]
        )
        records: list[Any] = []
        async with asyncio.timeout(60):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                records.extend(r for msgs in batch.values() for r in msgs)
        return records
    finally:
        await consumer.stop()


@pytest.fixture
async def twelve_partitions(admin: AIOKafkaAdminClient, kafka_bootstrap: str) -> KafkaSettings:
    """The topic table under a new prefix, with 12 input partitions (inbound alerts: 3)."""
    settings = KafkaSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "RTX_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}.",
            "RTX_INPUT_PARTITIONS": "12",
        }
    )
    await apply_topics(admin, settings, out=lambda _line: None)
    return settings


async def publish_vectors_with_python(settings: KafkaSettings) -> None:
    async with Publisher(settings) as pub:
        for v in VECTORS:
            await getattr(pub, golden.SDK_METHODS[v["event"]])(**golden.python_args(v["input"]))


@pytest.mark.parametrize("sdk", ["python", "go"])
async def test_both_sdks_put_the_golden_bytes_on_the_recorded_partitions(
    sdk: str, twelve_partitions: KafkaSettings, rtx_publish: Path
) -> None:
    settings = twelve_partitions
    if sdk == "go":
        lines = [{"event": v["event"], "input": v["input"]} for v in VECTORS]
        await asyncio.to_thread(go_publish, rtx_publish, settings, lines)
    else:
        await publish_vectors_with_python(settings)
    records = await read_inputs(settings, len(VECTORS))
    by_id = {v["input"]["event_id"]: v for v in VECTORS}
    assert len(records) == len(VECTORS)
    for r in records:
        v = by_id[default_codec().decode(r.value).record["eventId"]]
        logical = LOGICAL[v["event"]]
        partitions = BY_LOGICAL[logical].partition_count(settings)
        assert r.topic == topic_name(logical, settings)
        assert r.value.hex() == v["hex"], v["name"]
        assert r.key.decode() == v["key"], v["name"]
        assert r.partition == golden.partition(v["key"], partitions), v["name"]
        if partitions == 12:
            assert r.partition == v["partitions"]["12"], v["name"]
        assert r.timestamp == v["input"]["event_time"] // 1000, v["name"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def worker(topics: KafkaSettings, tmp_path: Path) -> Iterator[tuple[WorkerProcess, int]]:
    port = _free_port()
    w = WorkerProcess(
        topics, tmp_path, f"rtx-go-{uuid.uuid4().hex[:8]}", RTX_WORKER_METRICS_PORT=str(port)
    )
    w.start()
    yield w, port
    w.kill(signal.SIGTERM)


def scenario(positions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every input event type, as a Go trading service would send them (no ids or times:
    the SDK fills them in)."""
    lines: list[dict[str, Any]] = [
        {"event": "Quote", "input": {"symbol": s, "bid": m * 0.9999, "ask": m * 1.0001}}
        for s, m in MIDS.items()
    ]
    for lp in ("OANDA", "LMAX", "Currenex"):
        lines.append(
            {
                "event": "LpStatus",
                "input": {
                    "lp_name": lp, "status": "connected", "avg_spread": 0.0001,
                    "execution_quality": 0.95, "latency_ms": 12.0, "quotes_per_second": 250.0,
                    "reject_rate": 0.01, "uptime": 99.9,
                },
            }
        )  # fmt: skip
    for i in range(20):
        abook = i % 3 == 0
        lines.append(
            {
                "event": "RoutingDecision",
                "input": {
                    "symbol": "EURUSD", "side": "BUY" if i % 2 else "SELL",
                    "volume": 1000.0 * (i + 1), "decision": "ABOOK" if abook else "BBOOK",
                    "lp": "OANDA" if abook else None, "execution_time_ms": 10.0 + i,
                    "spread": 0.0001, "slippage": 0.00001 * (i % 5 - 2), "price": 1.085,
                },
            }
        )  # fmt: skip
    lines.append(
        {
            "event": "ServiceAlert",
            "input": {
                "severity": "warning", "category": "system", "title": "Disk",
                "message": "90% full", "source": "AlertEngine",
                "action_items": ["Clean up", "Add a volume"],
            },
        }
    )  # fmt: skip
    lines.extend({"event": "PositionState", "input": p} for p in positions)
    return lines


async def metrics(port: int) -> str:
    def get() -> str:
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our worker
            return str(response.read().decode())

    return await asyncio.to_thread(get)


def metric(text: str, name: str, logical: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and f'topic="{logical}"' in line
    )


async def test_go_sdk_scenario_gives_the_ground_truth_exposure_and_no_dead_letters(
    topics: KafkaSettings, rtx_publish: Path, worker: tuple[WorkerProcess, int]
) -> None:
    proc, port = worker
    positions = position_stream(17, 400, 60)
    lines = scenario(positions)
    await asyncio.to_thread(go_publish, rtx_publish, topics, lines)

    expected = ground_truth(final_state(positions), MIDS)
    async with TopicReader(topics, "exposure") as exposure:
        await exposure.until(
            lambda r: decoded(r)["totalExposure"] == pytest.approx(expected, rel=1e-9),
            120,
            f"exposure {expected}",
            proc,
        )
    sent = {logical: 0 for logical in LOGICAL.values()}
    for line in lines:
        sent[LOGICAL[line["event"]]] += 1
    async with asyncio.timeout(60):  # the worker counts every event it took in
        while True:
            text = await metrics(port)
            counted = {lg: metric(text, "rtx_worker_events_total", lg) for lg in sent}
            if counted == sent:
                break
            await asyncio.sleep(0.2)
    for logical in sent:
        assert metric(text, "rtx_worker_dead_lettered_total", logical) == 0, proc.log()
    dead_letter = topic_name("dead_letter", topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=topics.bootstrap_servers)
    await consumer.start()
    try:
        count = BY_LOGICAL["dead_letter"].partition_count(topics)
        parts = [TopicPartition(dead_letter, p) for p in range(count)]
        assert await consumer.end_offsets(parts) == {p: 0 for p in parts}, proc.log()
    finally:
        await consumer.stop()


async def test_the_readme_example_publishes_one_event_of_each_kind(
    topics: KafkaSettings, notify_example: Path
) -> None:
    result = await asyncio.to_thread(
        subprocess.run,
        [str(notify_example)],
        env=go_env(topics),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 events acknowledged by the broker" in result.stdout
    records = await read_inputs(topics, 5)
    kinds = sorted(default_codec().decode(r.value).schema for r in records)
    assert kinds == sorted(golden.EVENTS)
