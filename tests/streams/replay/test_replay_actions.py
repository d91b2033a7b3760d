"""``rtx-analytics replay alert-actions``: the audit trail of a time range (on the Kafka
timestamp, [from, to)), as JSON lines, CSV and Parquet, from a real broker; symbol and LP filters
do not apply."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaProducer

from schemas.codec import default_codec
from streams.cli import main
from streams.replay import BadRequest, records
from streams.settings import KafkaSettings
from streams.topics import topic_name
from tests.helpers.workflow import T0, action

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

BASE = datetime(2026, 1, 19, 10, 0, tzinfo=UTC)
ACTIONS = [
    action("acknowledge", user="dana", note="mine", roles=["dealer"]),
    action("comment", user="rita", note="hedging, back in 10"),
    action("snooze", user="dana", until=T0 + 600_000_000),
    action("escalate", user="system", level=1),
    action("resolve", user="rita", note="hedged"),
]


async def produce(kafka: KafkaSettings) -> None:
    """Action i with Kafka timestamp BASE + i minutes."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for i, record in enumerate(ACTIONS):
            ts = int((BASE + timedelta(minutes=i)).timestamp() * 1000)
            value = default_codec().encode("AlertAction", record)
            await producer.send_and_wait(
                topic_name("alert_actions", kafka), value, key=b"k", timestamp_ms=ts
            )
    finally:
        await producer.stop()


def at(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


def test_alert_actions_of_a_time_range_in_every_format(
    topics: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(produce(topics))  # a sync test: the command runs its own event loop
    rows = list(records("alert-actions", at(1), at(4), settings=topics))
    assert [(r["action"], r["user"], r["offset"]) for r in rows] == [
        ("comment", "rita", 1),
        ("snooze", "dana", 2),
        ("escalate", "system", 3),
    ]
    assert rows[0]["note"] == "hedging, back in 10" and rows[1]["until"] == T0 + 600_000_000
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", topics.bootstrap_servers)
    monkeypatch.setenv("RTX_TOPIC_PREFIX", topics.topic_prefix)
    out: dict[str, Path] = {f: tmp_path / f"actions.{f}" for f in ("jsonl", "csv", "parquet")}
    for fmt, path in out.items():
        args = ["replay", "alert-actions", "--from", at(0), "--format", fmt, "--out", str(path)]
        assert main(args) == 0
    lines = [json.loads(line) for line in out["jsonl"].read_text().splitlines()]
    assert [(x["action"], x["actionId"]) for x in lines] == [
        (a["action"], a["actionId"]) for a in ACTIONS
    ]
    assert lines[0]["time"] == "2026-01-19T10:31:45.000000Z" and lines[0]["roles"] == ["dealer"]
    with out["csv"].open(newline="") as fh:
        table: list[dict[str, Any]] = list(csv.DictReader(fh))
    assert [r["note"] for r in table] == ["mine", "hedging, back in 10", "", "", "hedged"]
    parquet = pq.read_table(out["parquet"]).to_pylist()
    assert [r["level"] for r in parquet] == [None, None, None, 1, None]


def test_symbol_and_lp_filters_do_not_apply(topics: KafkaSettings) -> None:
    with pytest.raises(BadRequest, match="alert actions"):
        list(records("alert-actions", at(0), at(5), symbol="EURUSD", settings=topics))
