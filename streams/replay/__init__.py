"""Analyst replay: the stored alerts or routing decisions of a time range, as rows.

Used by ``rtx-analytics replay`` and from notebooks::

    from streams import replay
    for alert in replay.records("alerts", "2026-01-19T08:00Z", "2026-01-19T09:00Z"):
        ...
    df = replay.dataframe("routing", "2026-01-19", "2026-01-20", symbol="EURUSD")

Kinds: ``alerts`` (the persisted alert log, Alert), ``routing`` (the routing-decision input
topic, RoutingDecision) and ``routing-summaries`` (RoutingSummary records of the routing-metrics
topic; the decisions passed through beside them are skipped). Topic names follow
``RTX_TOPIC_PREFIX`` like everything else (``streams.topics``).

Time range: a record is in ``[start, end)`` when ``start <= its Kafka timestamp < end`` (start
inclusive, end exclusive, millisecond precision: Kafka's). For routing decisions the Kafka
timestamp is the decision's event time (the SDK sets it); for alerts it is when the worker wrote
the alert (its ``eventTime`` is the time of the cause, earlier). On every partition the start
offset is the first with a timestamp >= start (``offsets_for_times``) and the end offset the
first with a timestamp >= end, or the high watermark when the replay starts if there is none
(or no end was given); records between those offsets with a timestamp outside the range
(producers' clocks are not ordered) are left out too.

Filters (optional, case-insensitive, comma-separated values mean "any of"): for routing
decisions ``symbol`` is the ``symbol`` field and ``lp`` the ``lpSelected`` field; alerts have no
symbol or LP field, so ``symbol`` matches alerts that name it as a whole word in their title or
message, and ``lp`` alerts that name it in their title, message or source. Routing summaries are
not per symbol or LP: a filter there is an error.

Reading runs a Kafka consumer (no group, nothing committed) on a thread of its own with its own
event loop, so the iterator is synchronous and works inside Jupyter's running loop too. Messages
that cannot be decoded are counted (``Replay.stats``), reported to ``on_bad`` and skipped.

Exceptions::

    ReplayError            root; the message says what to fix
     +-- BadRequest        bad time, empty range, unknown kind, filter not available
     +-- TopicMissing      the topic does not exist (prefix? topics apply?)
     +-- BrokerUnreachable no broker answered (names KAFKA_BOOTSTRAP_SERVERS)
    MissingExtra           (ImportError) pandas/pyarrow missing: install the analyst extra
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO

from streams.replay.errors import (
    BadRequest,
    BrokerUnreachable,
    MissingExtra,
    OutputError,
    ReplayError,
    TopicMissing,
)
from streams.replay.formats import (
    FORMATS,
    Progress,
    Row,
    need_extra,
    open_writer,
    to_datetime,
)
from streams.replay.reader import (
    KINDS,
    PartitionRange,
    Replay,
    ReplayStats,
    parse_time,
)
from streams.settings import KafkaSettings

# --- notebook API ------------------------------------------------------------------------------


def records(
    kind: str,
    start: str | datetime,
    end: str | datetime | None = None,
    symbol: str | None = None,
    lp: str | None = None,
    settings: KafkaSettings | None = None,
) -> Iterator[Row]:
    """The records of ``kind`` with a Kafka timestamp in ``[start, end)`` as dicts: the decoded
    record with timestamps as aware UTC datetimes, plus ``partition``, ``offset`` and
    ``kafkaTime``. Synchronous (usable in Jupyter); undecodable messages are skipped and
    counted. Raises ReplayError subclasses for bad arguments, a missing topic or no broker."""
    replay = Replay(kind, start, end, symbol=symbol, lp=lp, settings=settings)
    stamps = [
        (c.name, 1 if c.kind == "ts_us" else 1000) for c in replay.columns if c.kind[:3] == "ts_"
    ]
    for rows in replay.batches():
        for row in rows:
            for name, unit in stamps:
                row[name] = to_datetime(row[name], unit)
            yield row


def dataframe(
    kind: str,
    start: str | datetime,
    end: str | datetime | None = None,
    symbol: str | None = None,
    lp: str | None = None,
    settings: KafkaSettings | None = None,
) -> Any:
    """``records(...)`` as a pandas DataFrame (columns in schema order, then ``partition``,
    ``offset``, ``kafkaTime``; timestamps ``datetime64[us, UTC]``). Needs the analyst extra."""
    pd = need_extra("pandas")
    replay = Replay(kind, start, end, symbol=symbol, lp=lp, settings=settings)
    rows: list[Row] = []
    for batch in replay.batches():
        rows.extend(batch)
    names = [c.name for c in replay.columns]
    frame = pd.DataFrame.from_records(rows, columns=names)
    for c in replay.columns:
        if c.kind in ("ts_us", "ts_ms"):
            unit = "us" if c.kind == "ts_us" else "ms"
            frame[c.name] = pd.to_datetime(frame[c.name], unit=unit, utc=True).astype(
                "datetime64[us, UTC]"
            )
    return frame


# --- command line ----------------------------------------------------------------------------


def output_format(fmt: str | None, out: str | None) -> str:
    """The format asked for, else the --out file's suffix (.jsonl/.csv/.parquet), else jsonl."""
    if fmt is None:
        suffix = (out or "").rsplit(".", 1)[-1].lower() if out and "." in out else ""
        fmt = {"json": "jsonl", "jsonl": "jsonl", "ndjson": "jsonl"}.get(suffix, suffix)
        fmt = fmt if fmt in FORMATS else "jsonl"
    if fmt not in FORMATS:
        raise BadRequest(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        if out is None:
            raise BadRequest("parquet is a binary file format: give --out FILE.parquet")
        need_extra("pyarrow")
    return fmt


def run_cli(
    kind: str,
    start: str,
    end: str | None,
    *,
    symbol: str | None = None,
    lp: str | None = None,
    fmt: str | None = None,
    out: str | None = None,
    settings: KafkaSettings | None = None,
    err: TextIO | None = None,
) -> int:
    """``rtx-analytics replay``: rows to ``out`` (stdout when None), messages and progress to
    ``err``. The file appears only when complete (written as FILE.part, then renamed)."""
    err = err or sys.stderr
    fmt = output_format(fmt, out)

    def say(line: str) -> None:
        print(line, file=err, flush=True)

    def on_bad(partition: int, offset: int, reason: str) -> None:
        if replay.stats.bad <= 20:
            say(f"bad record: partition {partition} offset {offset}: {reason[:300]}")

    text = fmt in ("jsonl", "csv")  # rows with ISO timestamps, made as they are decoded
    replay = Replay(
        kind, start, end, symbol=symbol, lp=lp, settings=settings, on_bad=on_bad, text_times=text
    )
    until = replay.end.isoformat() if replay.end else "the end of the topic now"
    filters = ", ".join(f"{n} {v}" for n, v in (("symbol", symbol), ("lp", lp)) if v)
    say(
        f"replay {kind}: topic {replay.topic} at {replay.settings.bootstrap_servers}, "
        f"Kafka time from {replay.start.isoformat()} (inclusive) to {until} (exclusive)"
        + (f", only {filters}" if filters else "")
    )
    started = time.monotonic()

    async def run() -> Progress:
        await replay.aopen()
        say(
            f"{len(replay.plan)} partitions, {replay.stats.planned:,} records in the offset "
            f"range; writing {fmt} to {out or 'stdout'}"
        )
        progress = Progress(replay.stats.planned, err)
        writer = open_writer(fmt, replay.columns, part or out)
        write = writer.write_text if text else writer.write
        try:
            async for rows in replay.abatches():
                write(rows)
                progress.update(replay.stats.read)
        finally:
            writer.close()
        return progress

    # A regular file appears only when complete; /dev/null, a pipe or a terminal is written as is.
    part = f"{out}.part" if out and (not os.path.exists(out) or os.path.isfile(out)) else None
    try:
        progress = asyncio.run(run())
        if out and part:
            os.replace(part, out)
    finally:
        if part and os.path.exists(part):
            os.unlink(part)
    s = replay.stats
    progress.finish(s.read)
    elapsed = time.monotonic() - started
    say(
        f"wrote {s.rows:,} records to {out or 'stdout'} ({fmt}) in {elapsed:.2f} s "
        f"({s.rows / max(elapsed, 1e-9):,.0f} records/s); read {s.read:,}: "
        f"{s.outside:,} outside the time range, {s.filtered:,} filtered out, "
        f"{s.skipped:,} of other schemas, {s.bad:,} bad"
    )
    if s.bad > 20:
        say(f"({s.bad - 20:,} more bad records not shown)")
    return 0


__all__ = [
    "KINDS",
    "BadRequest",
    "BrokerUnreachable",
    "MissingExtra",
    "OutputError",
    "PartitionRange",
    "Replay",
    "ReplayError",
    "ReplayStats",
    "TopicMissing",
    "dataframe",
    "parse_time",
    "records",
    "run_cli",
]
