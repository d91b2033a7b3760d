"""``rtx-analytics replay exposure|pnl|accounts``: the day's figures of a time range (on the
Kafka timestamp, [from, to)) as JSON lines, CSV and Parquet and through the pandas helper, from
a real broker; the nested lines are JSON columns; a tombstone of the compacted account-risk
topic is skipped, not counted as bad; symbol and LP filters do not apply."""

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
from streams.replay import BadRequest, Replay, dataframe, records
from streams.settings import KafkaSettings
from streams.topics import topic_name
from tests.helpers.risk import pnl_figures as figures

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

BASE = datetime(2026, 1, 20, 9, 0, tzinfo=UTC)
T0 = int(BASE.timestamp() * 1_000_000)


def pnl(i: int) -> dict[str, Any]:
    total = -1000.0 * i
    return {
        "eventTime": T0 + i * 60_000_000,
        "tradingDay": "2026-01-20",
        "floating": total,
        "realizedToday": 0.0,
        "total": total,
        "bySymbol": {"EURUSD": figures(total)},
        "byCurrency": {"USD": figures(total)},
        "clientsByBook": {"BBOOK": figures(-total)},
        "positionCount": i,
        "markedAtMid": [],
        "unmarked": [],
        "unconverted": [],
    }


def account(i: int) -> dict[str, Any]:
    return {
        "eventTime": T0 + i * 60_000_000,
        "tradingDay": "2026-01-20",
        "accountId": "acc-7",
        "basis": "bbook-net",
        "openPositions": i,
        "exposure": 10_000.0 * i,
        "floatingPnl": 5.0 * i,
        "realizedToday": 0.0,
        "pnlToday": 5.0 * i,
        "largestPosition": {
            "positionId": f"p{i}",
            "symbol": "EURUSD",
            "side": "BUY",
            "book": "BBOOK",
            "volume": 10_000.0,
            "notionalUsd": 10_850.0,
        },
        "markedAtMid": False,
        "unconverted": [],
    }


async def produce(kafka: KafkaSettings) -> None:
    """P&L record i and account record i with Kafka timestamp BASE + i minutes (i = 0..3),
    then a tombstone of the account at BASE + 4 minutes."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    codec = default_codec()
    try:
        for i in range(4):
            ts = int((BASE + timedelta(minutes=i)).timestamp() * 1000)
            await producer.send_and_wait(
                topic_name("pnl", kafka), codec.encode("PnlChange", pnl(i)), b"global", None, ts
            )
            await producer.send_and_wait(
                topic_name("account_risk", kafka),
                codec.encode("AccountRisk", account(i)),
                b"acc-7",
                None,
                ts,
            )
        ts = int((BASE + timedelta(minutes=4)).timestamp() * 1000)
        await producer.send_and_wait(topic_name("account_risk", kafka), None, b"acc-7", None, ts)
    finally:
        await producer.stop()


def at(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


def test_pnl_and_accounts_of_a_time_range_in_every_format(
    topics: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(produce(topics))  # a sync test: the command runs its own event loop
    rows = list(records("pnl", at(1), at(3), settings=topics))
    assert [(r["total"], r["offset"]) for r in rows] == [(-1000.0, 1), (-2000.0, 2)]
    assert rows[0]["bySymbol"] == {"EURUSD": figures(-1000.0)}
    replay = Replay("accounts", at(0), settings=topics)
    accounts = [row for batch in replay.batches() for row in batch]
    assert [r["exposure"] for r in accounts] == [0.0, 10_000.0, 20_000.0, 30_000.0]
    assert replay.stats.bad == 0, "the tombstone is skipped, not bad"
    frame = dataframe("pnl", at(0), settings=topics)
    assert list(frame["total"]) == [0.0, -1000.0, -2000.0, -3000.0]
    assert str(frame["eventTime"].dtype) == "datetime64[us, UTC]"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", topics.bootstrap_servers)
    monkeypatch.setenv("RTX_TOPIC_PREFIX", topics.topic_prefix)
    out = {f: tmp_path / f"accounts.{f}" for f in ("jsonl", "csv", "parquet")}
    for fmt, path in out.items():
        args = ["replay", "accounts", "--from", at(0), "--format", fmt, "--out", str(path)]
        assert main(args) == 0
    lines = [json.loads(line) for line in out["jsonl"].read_text().splitlines()]
    assert [x["largestPosition"]["positionId"] for x in lines] == ["p0", "p1", "p2", "p3"]
    with out["csv"].open(newline="") as fh:
        table: list[dict[str, Any]] = list(csv.DictReader(fh))
    assert json.loads(table[2]["largestPosition"])["positionId"] == "p2"
    parquet = pq.read_table(out["parquet"]).to_pylist()
    assert [r["openPositions"] for r in parquet] == [0, 1, 2, 3]
    assert json.loads(parquet[3]["largestPosition"])["notionalUsd"] == 10_850.0
    assert main(["replay", "exposure", "--from", at(0), "--out", str(tmp_path / "e.jsonl")]) == 0


@pytest.mark.parametrize("kind", ["exposure", "pnl", "accounts"])
def test_symbol_and_lp_filters_do_not_apply(topics: KafkaSettings, kind: str) -> None:
    with pytest.raises(BadRequest, match="does not apply"):
        list(records(kind, at(0), at(5), symbol="EURUSD", settings=topics))
