"""``rtx-analytics replay markouts``: the trade markouts of a time range (on the Kafka timestamp,
[from, to)) from a real broker, as JSON lines and as Parquet for analysts (per-horizon arrays
as list columns, nulls kept), filtered by symbol and LP."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaProducer

from schemas.codec import default_codec
from streams.cli import main
from streams.markouts.records import TradeMarkout
from streams.replay import BadRequest, records
from streams.replay.request import build_filter
from streams.settings import KafkaSettings
from streams.topics import topic_name
from tests.helpers.markouts import markout_record

# Kafka timestamps within the topic's retention (the broker deletes older records), minutes apart
BASE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
T0 = 1_768_816_800_000_000  # the markouts' own eventTime: 2026-01-19T10:00:00Z


def markouts() -> list[TradeMarkout]:
    out = [
        markout_record(f"t-{i}", T0 + i * 1_000_000, [0.1 * i, -0.5, None, 2.0], symbol=s, lp=lp)
        for i, (s, lp) in enumerate(
            [("EURUSD", None), ("GBPUSD", "LP-A"), ("EURUSD", "LP-B"), ("USDJPY", None)]
        )
    ]
    out[3]["markoutUsd"] = [None, None, None, None]
    return out


async def produce(kafka: KafkaSettings) -> None:
    """Markout i with Kafka timestamp BASE + i minutes, keyed by trade id."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    try:
        for i, record in enumerate(markouts()):
            ts = int((BASE + timedelta(minutes=i)).timestamp() * 1000)
            value = default_codec().encode("TradeMarkout", record)
            topic = topic_name("trade_markouts", kafka)
            await producer.send_and_wait(
                topic, value, key=record["tradeId"].encode(), timestamp_ms=ts
            )
    finally:
        await producer.stop()


def at(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


@pytest.mark.kafka
@pytest.mark.timeout(120)
def test_trade_markouts_of_a_time_range_as_json_lines_and_parquet(
    topics: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(produce(topics))  # a sync test: the command runs its own event loop
    rows = sorted(records("markouts", at(1), at(4), settings=topics), key=lambda r: r["tradeId"])
    assert [r["tradeId"] for r in rows] == ["t-1", "t-2", "t-3"]
    want = {m["tradeId"]: m for m in markouts()}
    for r in rows:  # records() gives timestamps as datetimes
        fill = datetime(2026, 1, 19, 10, 0, int(r["tradeId"][2:]), tzinfo=UTC)
        expected = {**want[r["tradeId"]], "eventTime": fill}
        assert {k: r[k] for k in expected} == expected
    only = list(records("markouts", at(0), None, symbol="eurusd", lp="LP-B", settings=topics))
    assert [r["tradeId"] for r in only] == ["t-2"]
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", topics.bootstrap_servers)
    monkeypatch.setenv("RTX_TOPIC_PREFIX", topics.topic_prefix)
    jsonl, parquet = tmp_path / "m.jsonl", tmp_path / "m.parquet"
    assert main(["replay", "markouts", "--from", at(0), "--out", str(jsonl)]) == 0
    assert main(["replay", "markouts", "--from", at(0), "--out", str(parquet)]) == 0
    lines = sorted(
        (json.loads(x) for x in jsonl.read_text().splitlines()), key=lambda r: r["tradeId"]
    )
    assert [x["tradeId"] for x in lines] == ["t-0", "t-1", "t-2", "t-3"]
    assert lines[1]["eventTime"] == "2026-01-19T10:00:01.000000Z"
    assert lines[1]["markoutBps"] == [0.1, -0.5, None, 2.0]
    assert lines[1]["status"] == ["KNOWN", "KNOWN", "TIMED_OUT", "KNOWN"]
    table = pq.read_table(parquet)
    # A list column of doubles (pyarrow versions name the item field differently).
    bps_type = table.schema.field("markoutBps").type
    assert pa.types.is_list(bps_type) and pa.types.is_float64(bps_type.value_type)
    assert str(table.schema.field("eventTime").type) == "timestamp[us, tz=UTC]"
    by_id: dict[str, Any] = {r["tradeId"]: r for r in table.to_pylist()}
    assert by_id["t-3"]["markoutUsd"] == [None, None, None, None]
    assert by_id["t-1"]["horizonsMs"] == [1000, 5000, 30000, 60000]
    assert by_id["t-1"]["lpName"] == "LP-A" and by_id["t-0"]["lpName"] is None


def test_markout_filters_match_the_symbol_and_lp_fields() -> None:
    test = build_filter("markouts", "eurusd,GBPUSD", "lp-a")
    assert test is not None
    rows = [dict(m) for m in markouts()]
    assert [r["tradeId"] for r in rows if test(r)] == ["t-1"]
    with pytest.raises(BadRequest, match="--lp is empty"):
        build_filter("markouts", None, " , ")
