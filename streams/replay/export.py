"""``rtx-analytics replay``: one replay written as JSON lines, CSV or Parquet, to a file or stdout.

Rows go to ``out`` (stdout when None), what the command does and its progress to ``err``. The
output is opened before anything connects to Kafka, so a path that cannot be written is an
``OutputError`` at once; a regular file appears only when complete (written as FILE.part, then
renamed), and the consumer is closed however the run ends.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from streams.replay.errors import BadRequest, OutputError
from streams.replay.formats import FORMATS, Column, Progress, Writer, need_extra, open_writer
from streams.replay.reader import Replay
from streams.settings import KafkaSettings

BAD_SHOWN = 20  # bad records reported one by one; the rest are only counted


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
    stream = err or sys.stderr
    fmt = output_format(fmt, out)

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    def on_bad(partition: int, offset: int, reason: str) -> None:
        if replay.stats.bad <= BAD_SHOWN:
            say(f"bad record: partition {partition} offset {offset}: {reason[:300]}")

    text = fmt in ("jsonl", "csv")  # rows with ISO timestamps, made as they are decoded
    replay = Replay(
        kind, start, end, symbol=symbol, lp=lp, settings=settings, on_bad=on_bad, text_times=text
    )
    say(_request_line(replay, symbol, lp))
    started = time.monotonic()
    # A regular file appears only when complete; /dev/null, a pipe or a terminal is written as is.
    part = f"{out}.part" if out and (not os.path.exists(out) or os.path.isfile(out)) else None
    try:
        progress = asyncio.run(_write(replay, fmt, out, part, say, stream))
        if out and part:
            os.replace(part, out)
    finally:
        if part and os.path.exists(part):
            os.unlink(part)
    progress.finish(replay.stats.read)
    say(_summary(replay, fmt, out, time.monotonic() - started))
    if replay.stats.bad > BAD_SHOWN:
        say(f"({replay.stats.bad - BAD_SHOWN:,} more bad records not shown)")
    return 0


def _request_line(replay: Replay, symbol: str | None, lp: str | None) -> str:
    until = replay.end.isoformat() if replay.end else "the end of the topic now"
    filters = ", ".join(f"{n} {v}" for n, v in (("symbol", symbol), ("lp", lp)) if v)
    return (
        f"replay {replay.kind}: topic {replay.topic} at {replay.settings.bootstrap_servers}, "
        f"Kafka time from {replay.start.isoformat()} (inclusive) to {until} (exclusive)"
        + (f", only {filters}" if filters else "")
    )


async def _write(
    replay: Replay,
    fmt: str,
    out: str | None,
    part: str | None,
    say: Callable[[str], None],
    stream: TextIO,
) -> Progress:
    """Open the output, then connect and copy the replay's rows into it."""
    writer = _open_output(fmt, replay.columns, part or out, out)
    try:
        await replay.aopen()
        say(
            f"{len(replay.plan)} partitions, {replay.stats.planned:,} records in the offset "
            f"range; writing {fmt} to {out or 'stdout'}"
        )
        progress = Progress(replay.stats.planned, stream)
        write = writer.write_text if replay.text_times else writer.write
        async for rows in replay.abatches():
            with _writing(out):
                write(rows)
            progress.update(replay.stats.read)
    finally:
        await replay.aclose()
        with _writing(out):
            writer.close()
    return progress


def _open_output(fmt: str, columns: Sequence[Column], path: str | None, out: str | None) -> Writer:
    try:
        return open_writer(fmt, columns, path)
    except OSError as exc:  # no such directory, no permission: before anything is read
        raise _output_error(out, exc) from exc


@contextmanager
def _writing(out: str | None) -> Iterator[None]:
    """A failed write (a full disk) becomes an OutputError naming ``out``; a reader that left a
    pipe (BrokenPipeError) stays what it is, so that the command line ends quietly."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _output_error(out, exc) from exc


def _output_error(out: str | None, exc: OSError) -> OutputError:
    return OutputError(f"cannot write {out or 'stdout'}: {exc.strerror or exc}")


def _summary(replay: Replay, fmt: str, out: str | None, elapsed: float) -> str:
    s = replay.stats
    return (
        f"wrote {s.rows:,} records to {out or 'stdout'} ({fmt}) in {elapsed:.2f} s "
        f"({s.rows / max(elapsed, 1e-9):,.0f} records/s); read {s.read:,}: "
        f"{s.outside:,} outside the time range, {s.filtered:,} filtered out, "
        f"{s.skipped:,} of other schemas, {s.bad:,} bad"
    )
