"""Replay against a real broker: known records with known timestamps in every partition, then
sub-ranges must give exactly the records in range (by partition and offset), in every format,
with the filters, and clear errors (exit code 2) for bad requests."""

from __future__ import annotations

import csv
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from schemas.codec import default_codec
from streams.cli import main
from streams.replay import (
    BadRequest,
    Replay,
    dataframe,
    records,
)
from streams.replay.formats import Column
from streams.settings import KafkaSettings
from streams.topics import apply_topics, topic_name

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SYMBOLS = ["EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "XAUUSD", "US500"]
LPS = ["LP-ALPHA", "LP-BETA", "PRIME-1"]
# Alert templates with their ground truth: which symbols and LPs each one names as a word.
ALERTS = [
    (
        "Exposure Limit Approaching",
        "EURUSD net exposure at 85%",
        "ExposureMonitor",
        {"EURUSD"},
        set(),
    ),
    ("LP Disconnected", "LP-BETA stopped quoting", "LpMonitor", set(), {"LP-BETA"}),
    ("Routing Anomaly", "gbpusd slippage 3x normal", "RoutingMonitor", {"GBPUSD"}, set()),
    ("Symbol Halted", "EURUSDX is not tradable", "Ops", set(), set()),
    ("Price Feed Stale", "no quotes for 30 s", "LP-ALPHA", set(), {"LP-ALPHA"}),
]


@dataclass(frozen=True)
class Sent:
    partition: int
    offset: int
    ts: int  # Kafka timestamp, ms
    record: dict[str, Any]  # as encoded (timestamps int micros)
    symbols: frozenset[str] = frozenset()
    lps: frozenset[str] = frozenset()

    def row(self) -> dict[str, Any]:
        return {
            **self.record,
            "partition": self.partition,
            "offset": self.offset,
            "kafkaTime": self.ts,
        }


@dataclass
class Dataset:
    settings: KafkaSettings
    t0: int  # ms
    decisions: list[Sent]  # index i has timestamp t0 + i s (plus one late record at the end)
    late: Sent
    garbage: Sent
    alerts: list[Sent]
    summaries: list[Sent]

    def iso(self, ms_after_t0: float) -> str:
        return (EPOCH + timedelta(milliseconds=self.t0 + ms_after_t0)).isoformat()


def decision(i: int, ts: int) -> dict[str, Any]:
    abook = i % 3 != 0
    return {
        "eventId": f"d-{i}",
        "eventTime": ts * 1000 + 123,
        "symbol": SYMBOLS[i % len(SYMBOLS)],
        "side": "BUY" if i % 2 else "SELL",
        "volume": 1000.0 + i / 3,
        "routingDecision": "ABOOK" if abook else "BBOOK",
        "lpSelected": LPS[(i // 3) % len(LPS)] if abook else None,
        "executionTimeMs": 0.1 * i,
        "spread": 0.0001,
        "slippage": -0.00002 * (i % 4),
        "price": 1.1 + i / 1e5 if i % 5 else None,
        "orderId": f"o-{i}",
        "accountId": None,
        "lpRejected": i % 7 == 0,
    }


@pytest_asyncio.fixture(scope="module")
async def data(kafka_bootstrap: str) -> Dataset:
    """240 routing decisions one second apart over 3 partitions (plus one with a timestamp an
    hour early in the middle of the log, one undecodable message and one of another schema),
    50 alerts 2 s apart and 6 routing summaries between pass-through decisions."""
    settings = KafkaSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "RTX_TOPIC_PREFIX": f"replay{uuid.uuid4().hex[:8]}.",
            "RTX_INPUT_PARTITIONS": "3",
        }
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await apply_topics(admin, settings, out=lambda _line: None)
    finally:
        await admin.close()
    codec = default_codec()
    now_min = int(datetime.now(UTC).timestamp()) // 60 * 60 * 1000
    t0 = now_min - 2 * 3600 * 1000  # in the past: brokers refuse timestamps far in the future
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    await producer.start()

    async def send(logical: str, partition: int, ts: int, value: bytes, **extra: Any) -> Sent:
        topic = topic_name(logical, settings)
        md = await producer.send_and_wait(
            topic, value, key=b"k", partition=partition, timestamp_ms=ts
        )
        record = extra.pop("record", {})
        return Sent(md.partition, md.offset, ts, record, **extra)

    async def send_decision(i: int, ts: int) -> Sent:
        rec = decision(i, ts)
        return await send(
            "routing_decisions",
            i % 3,
            ts,
            codec.encode("RoutingDecision", rec),
            record=rec,
            symbols=frozenset({rec["symbol"]}),
            lps=frozenset({rec["lpSelected"]} if rec["lpSelected"] else ()),
        )

    try:
        decisions = [await send_decision(i, t0 + i * 1000) for i in range(120)]
        late = await send_decision(1000, t0 - 3600 * 1000)
        decisions += [await send_decision(i, t0 + i * 1000) for i in range(120, 151)]
        garbage = await send("routing_decisions", 0, t0 + 150_500, b"\x00not avro")
        other = codec.encode(
            "Alert",
            {
                "id": "x",
                "eventTime": 0,
                "severity": "info",
                "category": "system",
                "title": "t",
                "message": "m",
                "source": "s",
            },
        )
        await send("routing_decisions", 1, t0 + 150_600, other)
        decisions += [await send_decision(i, t0 + i * 1000) for i in range(151, 240)]

        alerts = []
        for j in range(50):
            title, message, source, syms, lps = ALERTS[j % len(ALERTS)]
            rec = {
                "id": f"a-{j}",
                "eventTime": (t0 + j * 2000 - 500) * 1000,
                "severity": ["info", "warning", "error", "critical"][j % 4],
                "category": ["exposure", "lp", "routing", "system", "lp"][j % 5],
                "title": title,
                "message": message,
                "source": source,
                "actionItems": [f"step {k}" for k in range(j % 3)],
                "state": "RAISED",
                "resolvesId": None,
                "ruleId": "rule.x" if j % 2 else None,
                "value": j * 1.5 if j % 2 else None,
                "threshold": 50.0 if j % 2 else None,
            }
            alerts.append(
                await send(
                    "alerts",
                    0,
                    t0 + j * 2000,
                    codec.encode("Alert", rec),
                    record=rec,
                    symbols=frozenset(syms),
                    lps=frozenset(lps),
                )
            )

        summaries = []
        for k in range(6):
            start = t0 + k * 60_000
            rec = {
                "windowStart": start * 1000,
                "windowEnd": (start + 60_000) * 1000,
                "count": 10 + k,
                "volume": 1e4 * k,
                "notionalUsd": 1.1e4 * k,
                "abookCount": 7,
                "bbookCount": 3 + k,
                "abookShareByCountPct": 70.0,
                "abookShareByVolumePct": 65.5,
                "byLP": {"LP-ALPHA": 4, "LP-BETA": 3} if k % 2 else {},
                "executionTimeP50Ms": 1.0,
                "executionTimeP95Ms": 2.0,
                "executionTimeP99Ms": 3.0,
                "slippageMean": -0.1,
                "slippagePositiveCount": 2,
                "slippageNegativeCount": 5,
            }
            for p in range(3):  # decisions passed through beside the summaries
                ts = start + 1000 + p
                passed = decision(500 + k * 3 + p, ts)
                await send("routing_metrics", p, ts, codec.encode("RoutingDecision", passed))
            summaries.append(
                await send(
                    "routing_metrics",
                    k % 3,
                    start + 60_000,
                    codec.encode("RoutingSummary", rec),
                    record=rec,
                )
            )
    finally:
        await producer.stop()
    return Dataset(settings, t0, decisions, late, garbage, alerts, summaries)


def keys(rows: list[dict[str, Any]]) -> set[tuple[int, int]]:
    return {(r["partition"], r["offset"]) for r in rows}


def replay_rows(data: Dataset, kind: str, start: str, end: str | None, **kw: Any) -> list[Any]:
    replay = Replay(kind, start, end, settings=data.settings, **kw)
    return [row for batch in replay.batches() for row in batch]


# --- exact sub-ranges --------------------------------------------------------------------------


def test_sub_range_gives_exactly_the_records_in_range(data: Dataset) -> None:
    """[t0+60 s, t0+180 s): decisions 60..179 from all three partitions, none missing, none
    extra; the early-stamped record, the undecodable and the foreign message are left out."""
    replay = Replay("routing", data.iso(60_000), data.iso(180_000), settings=data.settings)
    rows = [row for batch in replay.batches() for row in batch]
    expected = [d for d in data.decisions if 60_000 <= d.ts - data.t0 < 180_000]
    assert len(expected) == 120
    assert {p for p, _ in keys(rows)} == {0, 1, 2}
    assert sorted(rows, key=lambda r: (r["partition"], r["offset"])) == sorted(
        (d.row() for d in expected), key=lambda r: (r["partition"], r["offset"])
    )
    assert len(rows) == len(keys(rows))
    s = replay.stats
    assert (s.rows, s.bad, s.skipped, s.outside) == (120, 1, 1, 1)
    assert s.bad_examples[0].startswith(f"partition 0 offset {data.garbage.offset}: ")


def test_bounds_are_start_inclusive_end_exclusive_to_the_millisecond(data: Dataset) -> None:
    """Kafka timestamps are ms: a start 0.5 ms before t0+60 s still starts at t0+60 s, and an
    end 0.1 ms after t0+179 s includes t0+179 s."""
    rows = replay_rows(data, "routing", data.iso(59_999.5), data.iso(179_000.1))
    assert keys(rows) == keys(
        [d.row() for d in data.decisions if 60_000 <= d.ts - data.t0 <= 179_000]
    )
    exact = replay_rows(data, "routing", data.iso(60_000), data.iso(60_001))
    assert [r["eventId"] for r in exact] == ["d-60"]


def test_no_end_reads_to_the_end_and_an_empty_window_gives_nothing(data: Dataset) -> None:
    rows = replay_rows(data, "routing", data.iso(230_000), None)
    assert keys(rows) == keys([d.row() for d in data.decisions if d.ts - data.t0 >= 230_000])
    assert replay_rows(data, "routing", data.iso(-10_000), data.iso(-5_000)) == []


def test_alerts_replay_the_alert_log_and_filters_match_words(data: Dataset) -> None:
    rows = replay_rows(data, "alerts", data.iso(10_000), data.iso(60_000))
    expected = [a for a in data.alerts if 10_000 <= a.ts - data.t0 < 60_000]
    assert rows == [a.row() for a in expected]
    eurusd = replay_rows(data, "alerts", data.iso(0), None, symbol="eurusd")
    assert keys(eurusd) == keys([a.row() for a in data.alerts if "EURUSD" in a.symbols])
    lps = replay_rows(data, "alerts", data.iso(0), None, lp="LP-BETA,lp-alpha")
    assert keys(lps) == keys([a.row() for a in data.alerts if a.lps & {"LP-BETA", "LP-ALPHA"}])
    both = replay_rows(data, "alerts", data.iso(0), None, symbol="GBPUSD", lp="LP-BETA")
    assert both == []


def test_routing_filters_by_symbol_and_lp(data: Dataset) -> None:
    rows = replay_rows(data, "routing", data.iso(0), None, symbol="USDJPY,xauusd")
    expected = [d for d in data.decisions if d.symbols & {"USDJPY", "XAUUSD"}]
    assert keys(rows) == keys([d.row() for d in expected]) and len(rows) == 80
    rows = replay_rows(data, "routing", data.iso(0), None, symbol="GBPUSD", lp="LP-BETA")
    expected = [d for d in data.decisions if d.symbols == {"GBPUSD"} and d.lps == {"LP-BETA"}]
    assert keys(rows) == keys([d.row() for d in expected]) and rows


def test_summaries_skip_the_decisions_beside_them(data: Dataset) -> None:
    replay = Replay(
        "routing-summaries", data.iso(60_000), data.iso(240_001), settings=data.settings
    )
    rows = [row for batch in replay.batches() for row in batch]
    expected = [s.row() for s in data.summaries if 60_000 <= s.ts - data.t0 <= 240_000]
    assert sorted(rows, key=lambda r: r["windowStart"]) == expected and len(expected) == 4
    assert replay.stats.skipped > 0 and replay.stats.bad == 0


# --- formats -----------------------------------------------------------------------------------


def micros(iso: str) -> int:
    return (datetime.fromisoformat(iso) - EPOCH) // timedelta(microseconds=1)


def from_text(col: Column, value: Any) -> Any:
    """A JSON/CSV value back to the row's form (timestamps as int micros/ms)."""
    if value is None or value == "":
        return None if col.nullable or value is None else value
    if col.kind == "ts_us":
        return micros(value)
    if col.kind == "ts_ms":
        return micros(value) // 1000
    if not isinstance(value, str):
        return value
    if col.kind in ("long", "int"):
        return int(value)
    if col.kind in ("double", "float"):
        return float(value)
    if col.kind == "boolean":
        return {"true": True, "false": False}[value]
    if col.kind in ("array", "map"):
        return json.loads(value)
    return value


def read_back(fmt: str, path: Path, columns: list[Column]) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return [{c.name: from_text(c, line[c.name]) for c in columns} for line in lines]
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            assert reader.fieldnames == [c.name for c in columns]
            return [{c.name: from_text(c, r[c.name]) for c in columns} for r in reader]
    table = pq.read_table(path)
    out = []
    for r in table.to_pylist():
        for c in columns:
            if c.kind in ("ts_us", "ts_ms"):
                r[c.name] = (r[c.name] - EPOCH) // timedelta(
                    microseconds=1 if c.kind == "ts_us" else 1000
                )
            elif c.kind == "map":
                r[c.name] = dict(r[c.name])
        out.append(r)
    return out


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("kind", ["routing", "alerts", "summaries"])
def test_each_format_round_trips(
    data: Dataset,
    kind: str,
    fmt: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", data.settings.bootstrap_servers)
    monkeypatch.setenv("RTX_TOPIC_PREFIX", data.settings.topic_prefix)
    out = tmp_path / f"out.{fmt}"
    args = [
        "replay",
        "alerts" if kind == "alerts" else "routing",
        "--format",
        fmt,
        "--out",
        str(out),
    ]
    args += ["--from", data.iso(0), "--to", data.iso(400_000)]
    if kind == "summaries":
        args.append("--summaries")
    assert main(args) == 0
    sent = {"routing": data.decisions, "alerts": data.alerts, "summaries": data.summaries}[kind]
    expected = sorted(
        (s.row() for s in sent if 0 <= s.ts - data.t0 < 400_000),
        key=lambda r: (r["partition"], r["offset"]),
    )
    replay_kind = {"routing": "routing", "alerts": "alerts", "summaries": "routing-summaries"}[kind]
    columns = Replay(replay_kind, data.iso(0), settings=data.settings).columns
    back = sorted(read_back(fmt, out, columns), key=lambda r: (r["partition"], r["offset"]))
    assert back == expected
    assert not (tmp_path / f"out.{fmt}.part").exists()
    err = capsys.readouterr().err
    assert f"wrote {len(expected):,} records to {out}" in err
    if fmt == "parquet":
        schema = pq.read_schema(out)
        first_ts = "eventTime" if kind != "summaries" else "windowStart"
        assert schema.field(first_ts).type == pa.timestamp("us", tz="UTC")
        assert schema.field("kafkaTime").type == pa.timestamp("ms", tz="UTC")


def test_jsonl_to_stdout_and_bad_records_to_stderr(
    data: Dataset, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", data.settings.bootstrap_servers)
    monkeypatch.setenv("RTX_TOPIC_PREFIX", data.settings.topic_prefix)
    code = main(["replay", "routing", "--from", data.iso(150_000), "--to", data.iso(152_000)])
    captured = capsys.readouterr()
    assert code == 0
    lines = sorted(
        (json.loads(line) for line in captured.out.splitlines()), key=lambda r: r["eventId"]
    )
    assert [line["eventId"] for line in lines] == ["d-150", "d-151"]  # partitions 0 and 1
    when = EPOCH + timedelta(microseconds=(data.t0 + 150_000) * 1000 + 123)
    assert lines[0]["eventTime"] == when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert lines[0]["kafkaTime"] == when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (
        f"bad record: partition 0 offset {data.garbage.offset}: not-single-object" in captured.err
    )
    assert "1 bad" in captured.err and "1 of other schemas" in captured.err


# --- Python API ----------------------------------------------------------------------------------


def test_records_give_datetimes_and_dataframe_the_same_rows(data: Dataset) -> None:
    rows = list(records("routing", data.iso(0), data.iso(30_000), settings=data.settings))
    assert len(rows) == 30
    first = min(rows, key=lambda r: r["kafkaTime"])
    assert first["eventTime"] == EPOCH + timedelta(microseconds=data.t0 * 1000 + 123)
    assert first["kafkaTime"] == EPOCH + timedelta(milliseconds=data.t0)
    frame = dataframe(
        "routing", data.iso(0), data.iso(30_000), lp="LP-ALPHA", settings=data.settings
    )
    expected = [r for r in rows if r["lpSelected"] == "LP-ALPHA"]
    assert len(frame) == len(expected) > 0
    assert list(frame.columns)[-3:] == ["partition", "offset", "kafkaTime"]
    assert str(frame["eventTime"].dtype) == "datetime64[us, UTC]"
    by_key = {(r["partition"], r["offset"]): r for r in expected}
    for rec in frame.to_dict("records"):
        want = by_key[(rec["partition"], rec["offset"])]
        assert rec["eventTime"].to_pydatetime() == want["eventTime"]
        assert rec["eventId"] == want["eventId"] and rec["volume"] == want["volume"]


async def test_records_work_inside_a_running_event_loop(data: Dataset) -> None:
    """As in Jupyter, whose cells run inside an event loop: the iterator is synchronous."""
    rows = list(records("alerts", data.iso(0), data.iso(10_000), settings=data.settings))
    assert [r["id"] for r in rows] == ["a-0", "a-1", "a-2", "a-3", "a-4"]


def test_leaving_the_iteration_early_stops_the_reader(data: Dataset) -> None:
    replay = Replay("routing", data.iso(0), None, settings=data.settings)
    it = iter(replay)
    next(it)
    it.close()
    assert replay._thread is None
    assert not [t for t in threading.enumerate() if t.name == "rtx-replay"]


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alerts", "--from", "yesterday"], "is not an ISO-8601 time"),
        (["alerts", "--from", "2026-01-02", "--to", "2026-01-01"], "the range is empty"),
        (
            ["routing", "--summaries", "--symbol", "EURUSD", "--from", "2026-01-01"],
            "--symbol does not apply",
        ),
        (["alerts", "--summaries", "--from", "2026-01-01"], "--summaries goes with routing"),
        (["routing", "--format", "parquet", "--from", "2026-01-01"], "give --out FILE.parquet"),
        (["routing", "--from", "2026-01-01", "--symbol", " , "], "--symbol is empty"),
    ],
)
def test_bad_requests_exit_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", *args]) == 2
    assert message in capsys.readouterr().err


def test_unknown_topic_and_unreachable_broker_are_named(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("RTX_TOPIC_PREFIX", f"missing{uuid.uuid4().hex[:6]}.")
    assert main(["replay", "alerts", "--from", "2026-01-01"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "topics apply" in err
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    assert main(["replay", "alerts", "--from", "2026-01-01"]) == 2
    err = capsys.readouterr().err
    assert "no Kafka broker answered at 127.0.0.1:1" in err and "KAFKA_BOOTSTRAP_SERVERS" in err


def test_unknown_format_and_kind_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["replay", "routing", "--from", "2026-01-01", "--format", "xml"])
    assert exc.value.code == 2
    assert "invalid choice: 'xml'" in capsys.readouterr().err
    with pytest.raises(BadRequest, match="unknown replay kind 'quotes'"):
        Replay("quotes", "2026-01-01")
