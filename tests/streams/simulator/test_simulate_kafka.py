"""``rtx-analytics simulate`` against a real broker: the generated events land on the input
topics and decode; SIGTERM stops it cleanly with everything it counted acknowledged."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections import Counter
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.codec import default_codec
from streams.settings import KafkaSettings
from streams.simulator import SimConfig, Simulator
from streams.simulator.runner import INPUT_TOPICS, NOMINAL_MAX_RATE
from streams.topics import topic_name

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

SCHEMA_OF = {
    "quote": "Quote",
    "lp_status": "LpStatus",
    "routing_decision": "RoutingDecision",
    "position": "PositionState",
    "alert": "ServiceAlert",
}


def env_for(kafka: KafkaSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RTX_", "KAFKA_"))}
    env.update(KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers, RTX_TOPIC_PREFIX=kafka.topic_prefix)
    return env


async def read_inputs(kafka: KafkaSettings) -> list[tuple[str, dict[str, Any]]]:
    """Every record of the five input topics, decoded: (schema, record)."""
    codec = default_codec()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    try:
        tps = []
        for logical in INPUT_TOPICS:
            name = topic_name(logical, kafka)
            parts = await consumer._client._wait_on_metadata(name)  # noqa: SLF001
            tps += [TopicPartition(name, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[tuple[str, dict[str, Any]]] = []
        async with asyncio.timeout(30):
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for r in records:
                        assert r.value is not None
                        decoded = codec.decode(r.value)
                        out.append((decoded.schema, decoded.record))
        return out
    finally:
        await consumer.stop()


async def cli(kafka: KafkaSettings, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streams.cli", "simulate", *args,
        env=env_for(kafka), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_a_short_run_lands_the_generated_events_on_the_input_topics(
    topics: KafkaSettings,
) -> None:
    """``--events 600 --rate max --seed 5 --run-id t1``: exactly the generator's 600 events are
    on the topics (same ids, versions and counts per type), each decoding to its schema."""
    proc = await cli(topics, "--events", "600", "--rate", "max", "--seed", "5", "--run-id", "t1")
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert text.startswith("simulating broker traffic to ")
    assert "seed 5, run id t1, as fast as possible, until 600 events" in text
    assert re.search(r"stopped \(events\): sent and acknowledged 600 events", text)

    expected = Simulator(SimConfig(seed=5, rate=NOMINAL_MAX_RATE, run_id="t1")).take(600)
    got = await read_inputs(topics)
    assert Counter(schema for schema, _ in got) == Counter(SCHEMA_OF[m] for m, _ in expected)
    positions = sorted(
        (r["positionId"], r["version"], r["status"]) for s, r in got if s == "PositionState"
    )
    assert positions == sorted(
        (kw["position_id"], kw["version"], kw.get("status", "OPEN"))
        for m, kw in expected
        if m == "position"
    )
    quotes = [(r["symbol"], r["bid"], r["ask"]) for s, r in got if s == "Quote"]
    assert sorted(quotes) == sorted(
        (kw["symbol"], kw["bid"], kw["ask"]) for m, kw in expected if m == "quote"
    )


async def test_sigterm_stops_cleanly_and_everything_counted_is_on_the_topics(
    topics: KafkaSettings,
) -> None:
    proc = await cli(topics, "--rate", "400", "--report-every", "0.2", "--seed", "6")
    assert proc.stdout is not None
    lines = []
    async with asyncio.timeout(30):
        while len(lines) < 2:  # the start line, then the first progress line
            lines.append((await proc.stdout.readline()).decode())
    assert "events sent" in lines[1]
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "SIGTERM: stopping, then flushing what is queued" in text
    match = re.search(r"stopped \(SIGTERM\): sent and acknowledged (\d+) events", text)
    assert match, text
    assert len(await read_inputs(topics)) == int(match.group(1)) > 0


async def test_missing_topics_are_a_clear_error(kafka_settings: KafkaSettings) -> None:
    proc = await cli(kafka_settings, "--events", "10")
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "error: input topics missing:" in err.decode()
    assert "rtx-analytics topics apply" in err.decode()
