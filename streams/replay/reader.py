"""The reading side of analyst replay (``streams.replay`` is the API): the offset plan per
partition, the Kafka reader thread (or the caller's loop) and the decoding of records into rows.
The request (kind, time range, filters) is :mod:`streams.replay.request`; the semantics are
described in ``streams.replay`` and docs/replay.md. Its errors are in
:mod:`streams.replay.errors`.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.codec import HEADER_LEN, DecodeError, default_codec
from streams.replay.batches import raw_fetch_supported, record_chunks, take_fetched
from streams.replay.consumer import connect, topic_partitions
from streams.replay.decode import FastDecoder
from streams.replay.errors import BadRequest
from streams.replay.formats import Column, Row, columns_for, text_rows
from streams.replay.request import COMPACTED, KINDS, build_filter, ceil_ms, parse_time
from streams.settings import KafkaSettings
from streams.topics import topic_name

FETCH_MAX_RECORDS = 20_000  # per getmany (the reference path)
CHUNK_RECORDS = 200  # records per list handed on: short-lived memory stays small (see
# JsonLinesWriter: larger lists of rows go back to the OS and are faulted in again)
_NO_END = 1 << 63  # above every Kafka timestamp


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """Offsets ``[start, end)`` of one partition to read."""

    partition: int
    start: int
    end: int


@dataclass(slots=True)
class ReplayStats:
    planned: int = 0  # offsets in the partitions' ranges (an upper bound of records)
    read: int = 0  # records read from Kafka
    outside: int = 0  # read, but with a timestamp outside the range
    skipped: int = 0  # another schema (e.g. decisions beside summaries)
    filtered: int = 0  # did not match symbol / lp
    bad: int = 0  # could not be decoded
    rows: int = 0  # returned
    bad_examples: list[str] = field(default_factory=list)


_END = object()


class Replay:
    """One replay of ``kind`` over ``[start, end)``. ``open()`` connects and plans the offsets
    (``plan``, ``stats.planned``); ``batches()`` yields lists of rows (timestamps as int
    micros, ``kafkaTime`` int ms; with ``text_times`` ISO text as JSON lines and CSV show
    them); ``close()`` stops the reader (also at the end or on error).
    """

    def __init__(
        self,
        kind: str,
        start: str | datetime,
        end: str | datetime | None = None,
        *,
        symbol: str | None = None,
        lp: str | None = None,
        settings: KafkaSettings | None = None,
        on_bad: Callable[[int, int, str], None] | None = None,
        text_times: bool = False,
        raw_fetch: bool = True,
    ) -> None:
        if kind not in KINDS:
            raise BadRequest(f"unknown replay kind {kind!r}; one of {', '.join(KINDS)}")
        self.kind = kind
        self.start = parse_time(start, "start (--from)")
        self.end = None if end is None else parse_time(end, "end (--to)")
        if self.end is not None and self.end <= self.start:
            raise BadRequest(
                f"the range is empty: end {self.end.isoformat()} is not after "
                f"start {self.start.isoformat()} (start is inclusive, end exclusive)"
            )
        self.start_ms = ceil_ms(self.start)
        self.end_ms = None if self.end is None else ceil_ms(self.end)
        self.predicate = build_filter(kind, symbol, lp)
        self.settings = settings or KafkaSettings.from_env()
        logical, self.schema = KINDS[kind]
        self.topic = topic_name(logical, self.settings)
        codec = default_codec()
        self.columns: list[Column] = columns_for(codec.schema(self.schema).parsed)
        self.decoder = FastDecoder([self.schema], codec)
        # text_times: timestamps as ISO text in the rows (JSON lines, CSV), made as they are read.
        self.text_times = text_times
        iso_fields = [c.name for c in self.columns if c.kind == "ts_us"]
        self._readers = self.decoder.row_readers("iso" if text_times else "int", iso_fields)
        self.raw_fetch = raw_fetch  # False: aiokafka's getmany (the reference path in tests)
        self.on_bad = on_bad
        self.stats = ReplayStats()
        self.plan: list[PartitionRange] = []
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=8)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: AIOKafkaConsumer | None = None

    # --- the reader thread --------------------------------------------------------------------

    def open(self) -> Replay:
        """Connect, check the topic and plan the offsets; raises ReplayError."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._read()), name="rtx-replay", daemon=True
        )
        self._thread.start()
        first = self._queue.get()
        if isinstance(first, BaseException):
            self.close()
            raise first
        self.plan = first
        self.stats.planned = sum(r.end - r.start for r in self.plan)
        return self

    def _put(self, item: Any) -> bool:
        """Hand an item to the iterating thread; False when it has stopped listening."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    async def _read(self) -> None:
        try:
            consumer = await connect(self.settings)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._put(exc)
            return
        try:
            plan = await self._plan(consumer)
            if self._put(plan):
                async for item in self._fetch(consumer, plan):
                    if not self._put(item):
                        break
            self._put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            self._put(exc)
        finally:
            await consumer.stop()

    async def _plan(self, consumer: AIOKafkaConsumer) -> list[PartitionRange]:
        tps = topic_partitions(consumer, self.topic, self.settings)
        ends = await consumer.end_offsets(tps)
        starts = await consumer.offsets_for_times({tp: self.start_ms for tp in tps})
        stops = (
            await consumer.offsets_for_times({tp: self.end_ms for tp in tps})
            if self.end_ms is not None
            else {}
        )
        plan = []
        for tp in tps:
            end = ends[tp]
            found = stops.get(tp)
            if found is not None:
                end = min(end, found.offset)
            first = starts[tp]
            start = end if first is None else min(first.offset, end)
            plan.append(PartitionRange(tp.partition, start, end))
        return plan

    async def _fetch(
        self, consumer: AIOKafkaConsumer, plan: list[PartitionRange]
    ) -> AsyncIterator[tuple[int, list[Any]]]:
        """(partition, records) as fetched, each partition up to its end offset, in lists of at
        most CHUNK_RECORDS; records have ``offset``, ``timestamp`` and ``value``."""
        remaining = {
            TopicPartition(self.topic, r.partition): r.end for r in plan if r.end > r.start
        }
        if not remaining:
            return
        consumer.assign(list(remaining))
        for r in plan:
            if r.end > r.start:
                consumer.seek(TopicPartition(self.topic, r.partition), r.start)
        raw = self.raw_fetch and raw_fetch_supported(consumer)
        while remaining and not self._stop.is_set():
            if raw:
                for tp, first, batches in await take_fetched(consumer, remaining, 0.5):
                    end = remaining[tp]
                    for records in record_chunks(batches, first, end, CHUNK_RECORDS):
                        yield tp.partition, records
            else:
                batch = await consumer.getmany(
                    *remaining, timeout_ms=500, max_records=FETCH_MAX_RECORDS
                )
                for tp, records in batch.items():
                    end = remaining[tp]
                    if records and records[-1].offset >= end:
                        records = [r for r in records if r.offset < end]
                    for i in range(0, len(records), CHUNK_RECORDS):
                        yield tp.partition, records[i : i + CHUNK_RECORDS]
            for tp, end in list(remaining.items()):
                if await consumer.position(tp) >= end:
                    del remaining[tp]
                    consumer.pause(tp)

    # --- the same without a thread, for callers that own an event loop (the command) ------

    async def aopen(self) -> Replay:
        """Connect and plan on the running loop; ``abatches()`` then reads on it too, so no
        thread hands batches over (on a busy machine each hand-over of the GIL waits for the
        scheduler; the command reads ~2x faster without it)."""
        if self._consumer is None:
            consumer = await connect(self.settings)
            try:
                self.plan = await self._plan(consumer)
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
            self.stats.planned = sum(r.end - r.start for r in self.plan)
        return self

    async def abatches(self) -> AsyncIterator[list[Row]]:
        """``batches()`` on the running loop; the consumer is closed at the end or on error."""
        await self.aopen()
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("aopen() did not leave a consumer")
        try:
            async for partition, records in self._fetch(consumer, self.plan):
                rows = self._rows(partition, records)
                if rows:
                    yield rows
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop the consumer ``aopen()`` started (idempotent; ``abatches()`` does it when it
        ends, but a caller that fails between the two must call this)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    def close(self) -> None:
        """Stop reading (idempotent); the reader thread closes its consumer."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            while thread.is_alive():  # unblock a reader waiting on a full queue
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    thread.join(0.05)

    # --- rows ---------------------------------------------------------------------------------

    def batches(self) -> Iterator[list[Row]]:
        """Lists of rows, in the order read (per partition in offset order)."""
        self.open()
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                partition, records = item
                rows = self._rows(partition, records)
                if rows:
                    yield rows
        finally:
            self.close()

    def _rows(self, partition: int, records: list[Any]) -> list[Row]:
        """The rows of one partition's records: in the time range, decodable, of this kind's
        schema, matching the filters. The hot loop: the compiled row reader of the message's
        header builds the whole row; anything it does not read goes to ``_slow_row``."""
        stats = self.stats
        stats.read += len(records)
        readers, head = self._readers, HEADER_LEN
        predicate = self.predicate
        lo = self.start_ms
        hi = _NO_END if self.end_ms is None else self.end_ms
        rows: list[Row] = []
        append = rows.append
        outside = skipped = filtered = 0
        for r in records:
            ts = r.timestamp
            if not lo <= ts < hi:
                outside += 1
                continue
            v = r.value
            try:
                row = readers[v[:head]](v, partition, r.offset, ts)
            except Exception:  # noqa: BLE001 - not the fast case: the codec gives the verdict
                row = self._slow_row(partition, r.offset, ts, v)
            if not row:  # None: another known schema; False: bad (counted)
                skipped += row is None
                continue
            if predicate is not None and not predicate(row):
                filtered += 1
                continue
            append(row)
        stats.outside += outside
        stats.skipped += skipped
        stats.filtered += filtered
        stats.rows += len(rows)
        return rows

    def _slow_row(self, partition: int, offset: int, ts: int, value: bytes | None) -> Any:
        """The row of a record the compiled reader declined: the codec's record (or None for
        another schema), or False for an undecodable one (counted and reported)."""
        if value is None and self.kind in COMPACTED:  # an account with nothing left: skipped
            return None
        try:
            if value is None:
                raise DecodeError("no value (a tombstone)")
            row = self.decoder.decode(value)
        except DecodeError as exc:
            self._bad(partition, offset, f"{exc.reason}: {exc}")
            return False
        if row is None:
            return None
        row["partition"] = partition
        row["offset"] = offset
        row["kafkaTime"] = ts
        if self.text_times:
            text_rows([row], self.columns)
        return row

    def _bad(self, partition: int, offset: int, reason: str) -> None:
        self.stats.bad += 1
        if len(self.stats.bad_examples) < 20:
            self.stats.bad_examples.append(f"partition {partition} offset {offset}: {reason}")
        if self.on_bad is not None:
            self.on_bad(partition, offset, reason)

    def __iter__(self) -> Iterator[Row]:
        for rows in self.batches():
            yield from rows
