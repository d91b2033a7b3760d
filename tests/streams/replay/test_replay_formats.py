"""Replay output pieces without Kafka: timestamps as text, columns from the schemas, CSV cells,
the progress display and the choice of format."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import default_codec
from streams.replay import BadRequest, output_format, parse_time
from streams.replay.formats import (
    Column,
    CsvWriter,
    JsonLinesWriter,
    ParquetWriter,
    Progress,
    columns_for,
    iso_micros,
    iso_millis,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@settings(max_examples=300, deadline=None, database=None)
@given(st.integers(min_value=-(10**15), max_value=253_402_300_799_999_999))
def test_iso_micros_reads_back_to_the_same_instant(us: int) -> None:
    text = iso_micros(us)
    assert text.endswith("Z") and len(text.split(".")[1]) == 7
    assert (datetime.fromisoformat(text) - EPOCH) // timedelta(microseconds=1) == us


def test_iso_millis_and_out_of_range_values() -> None:
    assert iso_millis(1_767_225_600_123) == "2026-01-01T00:00:00.123Z"
    assert iso_micros(10**20) == str(10**20)


def test_columns_follow_the_schema_then_partition_offset_kafka_time() -> None:
    cols = columns_for(default_codec().schema("Alert").parsed)
    by_name = {c.name: c for c in cols}
    assert [c.name for c in cols][-3:] == ["partition", "offset", "kafkaTime"]
    assert by_name["eventTime"] == Column("eventTime", "ts_us")
    assert by_name["severity"] == Column("severity", "string")
    assert by_name["actionItems"] == Column("actionItems", "array", inner="string")
    assert by_name["value"] == Column("value", "double", nullable=True)
    summary = {c.name: c for c in columns_for(default_codec().schema("RoutingSummary").parsed)}
    assert summary["byLP"] == Column("byLP", "map", inner="long")


def test_progress_redraws_on_a_terminal_and_prints_every_5_s_elsewhere() -> None:
    now = [0.0]
    out = io.StringIO()
    progress = Progress(1000, out, tty=False, clock=lambda: now[0])
    progress.update(10)
    now[0] = 5.0
    progress.update(500)
    progress.finish(1000)
    assert out.getvalue() == "replay: 500/1,000 records read (50%), 100 records/s\n"
    now[0] = 0.0
    tty = io.StringIO()
    progress = Progress(1000, tty, tty=True, clock=lambda: now[0])
    now[0] = 0.5
    progress.update(100)
    now[0] = 1.0
    progress.finish(1000)
    assert tty.getvalue() == (
        "\rreplay: 100/1,000 records read (10%), 200 records/s\x1b[K"
        "\rreplay: 1,000/1,000 records read (100%), 1,000 records/s\x1b[K\n"
    )


@pytest.mark.parametrize(
    ("fmt", "out", "expected"),
    [
        (None, None, "jsonl"),
        (None, "x.csv", "csv"),
        (None, "x.PARQUET", "parquet"),
        (None, "x.ndjson", "jsonl"),
        (None, "x.txt", "jsonl"),
        ("csv", "x.parquet", "csv"),
    ],
)
def test_format_comes_from_the_flag_else_the_file_suffix(
    fmt: str | None, out: str | None, expected: str
) -> None:
    assert output_format(fmt, out) == expected


def test_times_without_offset_are_utc_and_offsets_are_kept() -> None:
    assert parse_time("2026-01-19", "x") == datetime(2026, 1, 19, tzinfo=UTC)
    assert parse_time("2026-01-19T10:30:00+01:00", "x") == datetime(2026, 1, 19, 9, 30, tzinfo=UTC)
    with pytest.raises(BadRequest, match="'19/01/2026' is not an ISO-8601 time"):
        parse_time("19/01/2026", "--from")


def test_text_rows_show_out_of_range_timestamps_as_numbers() -> None:
    from streams.replay.formats import text_rows

    cols = columns_for(default_codec().schema("RoutingSummary").parsed)
    rows = text_rows(
        [{"windowStart": 0, "windowEnd": 10**20, "kafkaTime": 1_767_225_600_123}], cols
    )
    assert rows == [
        {
            "windowStart": "1970-01-01T00:00:00.000000Z",
            "windowEnd": str(10**20),
            "kafkaTime": "2026-01-01T00:00:00.123Z",
        }
    ]


def test_nested_records_are_json_columns_in_every_format(tmp_path: Path) -> None:
    """A nested record (AccountRisk.largestPosition), an array of records (AccountRiskTop's
    lists) and a map of records (PnlChange.bySymbol) are "json" columns: nested objects in JSON
    lines, JSON text in a CSV cell and in a Parquet string column."""
    pnl = {c.name: c for c in columns_for(default_codec().schema("PnlChange").parsed)}
    top = {c.name: c for c in columns_for(default_codec().schema("AccountRiskTop").parsed)}
    risk = {c.name: c for c in columns_for(default_codec().schema("AccountRisk").parsed)}
    assert pnl["bySymbol"] == Column("bySymbol", "json")
    assert pnl["byCurrency"] == Column("byCurrency", "json"), "a reference to PnlFigures"
    assert top["byFloatingPnl"] == Column("byFloatingPnl", "json")
    assert risk["largestPosition"] == Column("largestPosition", "json", nullable=True)
    assert risk["unconverted"] == Column("unconverted", "array", inner="string")
    cols = [pnl["eventTime"], pnl["bySymbol"], Column("kafkaTime", "ts_ms")]
    figures = {"EURUSD": {"floating": -1.5, "realizedToday": 0.0, "total": -1.5}}

    def rows() -> list[dict[str, Any]]:
        return [{"eventTime": 1_768_818_645_123_456, "bySymbol": figures, "kafkaTime": 0}]

    out = io.BytesIO()
    JsonLinesWriter(out, cols).write(rows())
    assert orjson.loads(out.getvalue())["bySymbol"] == figures
    text = io.StringIO()
    CsvWriter(text, cols).write(rows())
    assert orjson.loads(next(csv.DictReader(io.StringIO(text.getvalue())))["bySymbol"]) == figures
    pq = pytest.importorskip("pyarrow.parquet")
    writer = ParquetWriter(str(tmp_path / "pnl.parquet"), cols)
    writer.write(rows())
    writer.close()
    table = pq.read_table(tmp_path / "pnl.parquet")
    assert orjson.loads(table.column("bySymbol")[0].as_py()) == figures
