"""Output of ``rtx-analytics replay``: the row layout, the JSON lines / CSV / Parquet writers and
the progress display.

A row is the decoded record (field order of its Avro schema, timestamps as int microseconds, as
``schemas.codec`` returns them) plus ``partition``, ``offset`` and ``kafkaTime`` (the Kafka
record timestamp, int milliseconds: the time the replay's range applies to). Each format shows
timestamps in its own way:

- JSON lines and CSV: ISO-8601 UTC strings, ``2026-01-19T10:30:45.123456Z`` (``kafkaTime``
  with milliseconds); JSON nulls, booleans and numbers as JSON; doubles written so they read
  back to the same value.
- CSV: a header line, then one line per record; null is an empty cell, booleans are ``true`` /
  ``false``, arrays, maps and nested records are JSON in the cell.
- Parquet: a typed schema derived from the Avro schema (timestamps are ``timestamp[us, UTC]``,
  ``kafkaTime`` is ``timestamp[ms, UTC]``, enums strings, arrays lists, maps maps; a nested
  record, or an array or map of records, is its JSON text), written in row groups as the rows
  arrive.

``pyarrow`` is imported only for Parquet (the ``analyst`` extra).
"""

from __future__ import annotations

import csv
import importlib
import io
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, TextIO

import orjson

from streams.replay.errors import MissingExtra

Row = dict[str, Any]
FORMATS = ("jsonl", "csv", "parquet")
EXTRA_COLUMNS = ("partition", "offset", "kafkaTime")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def need_extra(module: str) -> Any:
    """Import pandas or pyarrow, or say how to install them."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"{module} is not installed: install the analyst extra, "
            "pip install 'rtx-analytics[analyst]' (pandas and pyarrow)"
        ) from exc


@dataclass(frozen=True, slots=True)
class Column:
    """One output column. ``kind``: string, long, int, double, float, boolean, ts_us, ts_ms,
    array, map or json (a nested record, or an array or map of them: JSON text in CSV and
    Parquet); ``inner`` is the item/value kind of an array/map."""

    name: str
    kind: str
    nullable: bool = False
    inner: str = ""


def _kind(avro: Any, named: dict[str, str]) -> tuple[str, bool, str]:
    """(kind, nullable, inner) of an Avro type; ``named`` collects the kinds of the named
    types defined so far (a later field may refer to one by its full name)."""
    if isinstance(avro, list):
        others = [b for b in avro if b != "null"]
        if len(others) != 1:
            raise ValueError(f"union {avro} is not [null, T]")
        kind, _, inner = _kind(others[0], named)
        return kind, "null" in avro, inner
    if isinstance(avro, dict):
        t = avro["type"]
        if avro.get("logicalType") == "timestamp-micros":
            return "ts_us", False, ""
        if t in ("enum", "record"):
            for f in avro.get("fields", ()):  # define the named types inside
                _kind(f["type"], named)
            named[avro["name"]] = "string" if t == "enum" else "json"
            return named[avro["name"]], False, ""
        if t in ("array", "map"):
            inner = _kind(avro["items" if t == "array" else "values"], named)[0]
            return ("json", False, "") if inner in _NESTED else (t, False, inner)
        return _kind(t, named)
    if avro in ("string", "long", "int", "double", "float", "boolean"):
        return str(avro), False, ""
    if avro in named:
        return named[avro], False, ""
    raise ValueError(f"Avro type {avro!r} has no replay column type")


_NESTED = ("json", "array", "map")  # kinds a Parquet list or map cannot hold as its items


def columns_for(parsed_schema: dict[str, Any]) -> list[Column]:
    """The columns of a row of this (fastavro-parsed) record schema, extra columns last."""
    named: dict[str, str] = {}
    cols = [Column(f["name"], *_kind(f["type"], named)) for f in parsed_schema["fields"]]
    return [
        *cols,
        Column("partition", "int"),
        Column("offset", "long"),
        Column("kafkaTime", "ts_ms"),
    ]


# --- timestamps as text ----------------------------------------------------------------------

_SECONDS: dict[int, str] = {}


def _second(sec: int) -> str:
    head = _SECONDS.get(sec)
    if head is None:
        if len(_SECONDS) > 100_000:
            _SECONDS.clear()
        head = (_EPOCH + timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S")
        _SECONDS[sec] = head
    return head


def iso_micros(us: int) -> str:
    """Int microseconds since the epoch -> ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (cached per second:
    ~0.2 us instead of ~1.5 us for a datetime and isoformat)."""
    sec, frac = divmod(us, 1_000_000)
    try:
        return f"{_second(sec)}.{frac:06d}Z"
    except OverflowError:  # outside datetime's years 1-9999: show the number
        return str(us)


def iso_millis(ms: int) -> str:
    sec, frac = divmod(ms, 1000)
    try:
        return f"{_second(sec)}.{frac:03d}Z"
    except OverflowError:
        return str(ms)


def to_datetime(value: int, unit_us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value * unit_us)


def text_rows(rows: list[Row], columns: Sequence[Column]) -> list[Row]:
    """Rows with timestamp columns as ISO strings, in place (rows are the replay's own). The
    per-second cache lookup is inlined: this runs for every row of JSON lines and CSV."""
    us = [c.name for c in columns if c.kind == "ts_us"]
    ms = [c.name for c in columns if c.kind == "ts_ms"]
    cache = _SECONDS
    for row in rows:
        try:
            for name in us:
                sec, frac = divmod(row[name], 1_000_000)
                head = cache.get(sec) or _second(sec)
                row[name] = f"{head}.{frac:06d}Z"
            for name in ms:
                sec, frac = divmod(row[name], 1000)
                head = cache.get(sec) or _second(sec)
                row[name] = f"{head}.{frac:03d}Z"
        except (OverflowError, TypeError):  # a year outside 1-9999 (or a value already text)
            for name in us:
                row[name] = row[name] if isinstance(row[name], str) else iso_micros(row[name])
            for name in ms:
                row[name] = row[name] if isinstance(row[name], str) else iso_millis(row[name])
    return rows


# --- writers ---------------------------------------------------------------------------------


class Writer:
    """Writes batches of rows to one output; ``close`` finishes the file. ``write`` takes rows
    with int timestamps; a writer with ``takes_text`` also takes rows whose timestamps are
    already ISO text (``write_text``: the replay makes them as it reads, see ``text_rows``)."""

    takes_text = False

    def write(self, rows: list[Row]) -> None:
        raise NotImplementedError

    def write_text(self, rows: list[Row]) -> None:
        raise NotImplementedError(f"{type(self).__name__} takes rows with int timestamps")

    def close(self) -> None:
        """Finish the output (flush, write a footer)."""


class JsonLinesWriter(Writer):
    """One JSON object a line (orjson), one write per block of 100 lines. Blocks stay small on
    purpose: the lines of a block are short-lived buffers, and ~40 KB of them is reused by
    malloc, while a few hundred KB (beyond glibc's 128 KiB trim threshold) goes back to the
    OS after every block and is faulted in again: 1,000-line blocks cost ~1.5 page faults and
    ~5 us a line in a fresh process, 100-line blocks none."""

    takes_text = True
    BLOCK = 100

    def __init__(self, out: BinaryIO, columns: Sequence[Column]) -> None:
        self.out = out
        self.columns = columns

    def write(self, rows: list[Row]) -> None:
        self.write_text(text_rows(rows, self.columns))

    def write_text(self, rows: list[Row]) -> None:
        dumps, write, block = orjson.dumps, self.out.write, self.BLOCK
        for i in range(0, len(rows), block):
            write(b"\n".join([*map(dumps, rows[i : i + block]), b""]))

    def close(self) -> None:
        self.out.flush()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode()
    return value


class CsvWriter(Writer):
    def __init__(self, out: TextIO, columns: Sequence[Column]) -> None:
        self.out = out
        self.columns = columns
        self.names = [c.name for c in columns]
        self.special = [c.name for c in columns if c.nullable or c.kind in _SPECIAL_CSV]
        self.csv = csv.writer(out, lineterminator="\n")
        self.csv.writerow(self.names)

    takes_text = True

    def write(self, rows: list[Row]) -> None:
        self.write_text(text_rows(rows, self.columns))

    def write_text(self, rows: list[Row]) -> None:
        names, special = self.names, self.special
        for row in rows:
            for name in special:
                row[name] = _cell(row[name])
            self.csv.writerow([row[n] for n in names])

    def close(self) -> None:
        self.out.flush()


_SPECIAL_CSV = ("boolean", "array", "map", "json")
_ARROW_ROW_GROUP = 65_536


def arrow_schema(columns: Sequence[Column]) -> Any:
    pa = need_extra("pyarrow")
    simple = {
        "string": pa.string(),
        "long": pa.int64(),
        "int": pa.int32(),
        "double": pa.float64(),
        "float": pa.float32(),
        "boolean": pa.bool_(),
        "ts_us": pa.timestamp("us", tz="UTC"),
        "ts_ms": pa.timestamp("ms", tz="UTC"),
        "json": pa.string(),
    }

    def arrow_type(c: Column) -> Any:
        if c.kind == "array":
            return pa.list_(simple[c.inner])
        if c.kind == "map":
            return pa.map_(pa.string(), simple[c.inner])
        return simple[c.kind]

    return pa.schema([pa.field(c.name, arrow_type(c), nullable=c.nullable) for c in columns])


class ParquetWriter(Writer):
    """Buffers rows into row groups of 65,536 and writes each with pyarrow."""

    def __init__(self, path: str, columns: Sequence[Column]) -> None:
        self.pa = need_extra("pyarrow")
        pq = need_extra("pyarrow.parquet")
        self.columns = columns
        self.schema = arrow_schema(columns)
        self.writer = pq.ParquetWriter(path, self.schema)
        self.pending: list[Row] = []

    def write(self, rows: list[Row]) -> None:
        self.pending.extend(rows)
        if len(self.pending) >= _ARROW_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        arrays = []
        for c, field in zip(self.columns, self.schema, strict=True):
            values = [r[c.name] for r in rows]
            if c.kind == "map":
                values = [list(v.items()) for v in values]
            elif c.kind == "json":
                values = [None if v is None else orjson.dumps(v).decode() for v in values]
            arrays.append(self.pa.array(values, type=field.type))
        self.writer.write_table(self.pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self._flush()
        self.writer.close()


def open_writer(fmt: str, columns: Sequence[Column], path: str | None) -> Writer:
    """A writer of ``fmt`` to ``path`` (stdout for jsonl/csv when None)."""
    if fmt == "parquet":
        if path is None:
            raise ValueError("parquet needs a file: give --out FILE")
        return ParquetWriter(path, columns)
    if fmt == "jsonl":
        out: BinaryIO = open(path, "wb") if path else sys.stdout.buffer  # noqa: SIM115
        return _Owned(JsonLinesWriter(out, columns), out if path else None)
    if fmt == "csv":
        text: TextIO = open(path, "w", encoding="utf-8", newline="") if path else sys.stdout  # noqa: SIM115
        return _Owned(CsvWriter(text, columns), text if path else None)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


class _Owned(Writer):
    """A writer and the file it owns (closed with it; stdout is only flushed)."""

    def __init__(self, inner: Writer, owned: io.IOBase | BinaryIO | TextIO | None) -> None:
        self.inner = inner
        self.owned = owned
        self.takes_text = inner.takes_text

    def write(self, rows: list[Row]) -> None:
        self.inner.write(rows)

    def write_text(self, rows: list[Row]) -> None:
        self.inner.write_text(rows)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:  # a failed flush (a full disk) must not leave the file open
            if self.owned is not None:
                self.owned.close()


# --- progress --------------------------------------------------------------------------------


class Progress:
    """Records read of a known total, and records/s, on stderr: redrawn in place on a terminal
    (5 times a second), else one line every 5 s so logs stay readable."""

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval_s = 0.2 if self.tty else 5.0
        self.total = total
        self.clock = clock
        self.started = self.last = clock()
        self.drawn = False

    def line(self, done: int) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        pct = f" ({100 * done / self.total:.0f}%)" if self.total else ""
        return f"replay: {done:,}/{self.total:,} records read{pct}, {done / elapsed:,.0f} records/s"

    def update(self, done: int) -> None:
        now = self.clock()
        if now - self.last < self.interval_s:
            return
        self.last = now
        if self.tty:
            self.stream.write("\r" + self.line(done) + "\x1b[K")
            self.drawn = True
        else:
            self.stream.write(self.line(done) + "\n")
        self.stream.flush()

    def finish(self, done: int) -> None:
        if self.drawn:
            self.stream.write("\r" + self.line(done) + "\x1b[K\n")
            self.stream.flush()
