"""The replay's fast row path gives exactly the rows of the reference path: compiled row readers
(record + partition/offset/kafkaTime, ISO text timestamps for JSON lines and CSV) against
``FastDecoder.decode`` + ``text_rows``; the C varint path against the codec on edge encodings;
record batches cut to the offset range; JSON lines from text rows byte-identical to JSON lines
from int rows."""

from __future__ import annotations

import io
import json
from typing import Any

import orjson
import pytest
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import SCHEMA_DIR, CorruptMessage, DecodeError, default_codec
from streams.replay.batches import record_chunks
from streams.replay.decode import FastDecoder, compile_reader
from streams.replay.formats import JsonLinesWriter, columns_for, text_rows
from tests.helpers.strategies import records_for

RAW = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(SCHEMA_DIR.glob("*.avsc"))}
PROPERTY = settings(max_examples=60, deadline=None, database=None)
# Kafka timestamps: ordinary ones, the epoch, and one past year 9999 (shown as the number).
KAFKA_MS = st.one_of(
    st.integers(1_600_000_000_000, 1_900_000_000_000),
    st.just(0),
    st.integers(253_402_300_800_000, 9_000_000_000_000_000),
)


def reference_row(name: str, data: bytes, partition: int, offset: int, ms: int, iso: bool) -> Any:
    """What the reference path makes of a message: decode, add the columns, ISO text."""
    record = FastDecoder([name]).decode(data)
    assert record is not None
    row = {**record, "partition": partition, "offset": offset, "kafkaTime": ms}
    if iso:
        text_rows([row], columns_for(default_codec().schema(name).parsed))
    return row


def row_readers(name: str, iso: bool) -> Any:
    cols = columns_for(default_codec().schema(name).parsed)
    ts = [c.name for c in cols if c.kind == "ts_us"]
    return FastDecoder([name]).row_readers("iso" if iso else "int", ts)


@pytest.mark.parametrize("name", sorted(RAW))
@PROPERTY
@given(data=st.data())
def test_row_readers_equal_decode_plus_columns(name: str, data: st.DataObject) -> None:
    record = data.draw(records_for(RAW[name], allow_nan=False), label="record")
    encoded = default_codec().encode(name, record)
    partition = data.draw(st.integers(0, 63), label="partition")
    offset = data.draw(st.integers(0, 2**40), label="offset")
    ms = data.draw(KAFKA_MS, label="kafka ms")
    for iso in (False, True):
        row = row_readers(name, iso)[encoded[:10]](encoded, partition, offset, ms)
        assert row == reference_row(name, encoded, partition, offset, ms, iso)
        assert list(row) == list(reference_row(name, encoded, partition, offset, ms, iso))


@pytest.mark.parametrize("name", ["Alert", "RoutingDecision", "RoutingSummary"])
@PROPERTY
@given(data=st.data())
def test_row_readers_decline_or_agree_on_damaged_bytes(name: str, data: st.DataObject) -> None:
    """A damaged message: the row reader raises (the codec decides then) or gives the row the
    reference path gives; never a different row."""
    record = data.draw(records_for(RAW[name], allow_nan=False), label="record")
    encoded = bytearray(default_codec().encode(name, record))
    at = data.draw(st.integers(10, len(encoded) - 1), label="at")
    encoded[at] = data.draw(st.integers(0, 255), label="byte")
    damaged = bytes(encoded)
    for iso in (False, True):
        try:
            row = row_readers(name, iso)[damaged[:10]](damaged, 1, 2, 1_700_000_000_000)
        except Exception:  # noqa: BLE001, S112 - declined: the slow path gives the verdict
            continue
        # repr: a damaged double may be NaN, which is not equal to itself
        assert repr(row) == repr(reference_row(name, damaged, 1, 2, 1_700_000_000_000, iso))


def decision_body(event_time_varint: bytes) -> bytes:
    """A RoutingDecision message with eventTime written as the given varint bytes."""
    codec = default_codec()
    record = {
        "eventId": "e",
        "eventTime": 1,  # zig-zag 02: one byte, replaced below
        "symbol": "EURUSD",
        "side": "BUY",
        "volume": 1.0,
        "routingDecision": "BBOOK",
        "lpSelected": None,
        "executionTimeMs": 1.0,
        "spread": 0.0,
        "slippage": 0.0,
        "price": None,
        "orderId": None,
        "accountId": None,
        "lpRejected": False,
    }
    good = codec.encode("RoutingDecision", record)
    at = 10 + 2  # header, then eventId: length 02 and "e"
    assert good[at] == 0x02
    return good[:at] + event_time_varint + good[at + 1 :]


def varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    return bytes([*out, z])


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        (varint(1_768_816_245_123_456), 1_768_816_245_123_456),  # 8 bytes: the C path
        (varint(-(2**63)), -(2**63)),  # 10 bytes, the smallest long
        (varint(2**63 - 1), 2**63 - 1),
        (b"\x86\x80\x00", CorruptMessage),  # 3 written with a trailing zero group
        (b"\xff" * 9 + b"\x03", CorruptMessage),  # 10 bytes, more than 64 bits
        (b"\xff" * 10 + b"\x01", CorruptMessage),  # 11 bytes
    ],
)
def test_long_varints_read_in_c_as_the_codec_reads_them(encoding: bytes, expected: Any) -> None:
    data = decision_body(encoding)
    decoder = FastDecoder(["RoutingDecision"])
    reader = decoder.row_readers("int")[data[:10]]
    if isinstance(expected, int):
        assert default_codec().decode(data).record["eventTime"] == expected
        assert reader(data, 0, 0, 0)["eventTime"] == expected
        assert decoder.decode(data) == default_codec().decode(data).record
    else:
        with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal
            reader(data, 0, 0, 0)
        with pytest.raises(DecodeError):
            default_codec().decode(data)
        with pytest.raises(DecodeError):
            decoder.decode(data)


def test_other_schemas_get_a_reader_that_says_none() -> None:
    codec = default_codec()
    readers = FastDecoder(["RoutingSummary"]).row_readers("iso")
    decision = decision_body(varint(5))
    assert readers[decision[:10]](decision, 0, 0, 0) is None
    assert codec.schema("RoutingSummary").header in readers


def test_json_lines_from_text_rows_equal_json_lines_from_int_rows() -> None:
    """2,500 rows given in uneven lists (blocks of 100 lines across them): write_text of the
    row readers' ISO rows, write of the int rows, and the previous writer's one-join output
    (orjson lines of text_rows, joined) are the same bytes."""
    cols = columns_for(default_codec().schema("RoutingDecision").parsed)
    iso, ints = row_readers("RoutingDecision", True), row_readers("RoutingDecision", False)
    messages = [decision_body(varint(1_768_816_245_000_000 + 997 * i)) for i in range(2_500)]
    args = [(m, i % 3, i, 1_768_816_245_000 + i) for i, m in enumerate(messages)]
    by_text, by_int = io.BytesIO(), io.BytesIO()
    text_writer, int_writer = JsonLinesWriter(by_text, cols), JsonLinesWriter(by_int, cols)
    for lo, hi in ((0, 250), (250, 251), (251, 2_500)):
        text_writer.write_text([iso[m[:10]](m, p, o, t) for m, p, o, t in args[lo:hi]])
        int_writer.write([ints[m[:10]](m, p, o, t) for m, p, o, t in args[lo:hi]])
    previous = text_rows([ints[m[:10]](m, p, o, t) for m, p, o, t in args], cols)
    assert by_text.getvalue() == by_int.getvalue()
    assert by_text.getvalue() == b"\n".join([orjson.dumps(r) for r in previous]) + b"\n"
    lines = by_text.getvalue().split(b"\n")
    assert len(lines) == 2_501 and lines[-1] == b""
    assert json.loads(lines[1])["eventTime"] == "2026-01-19T09:50:45.000997Z"
    assert json.loads(lines[1])["kafkaTime"] == "2026-01-19T09:50:45.001Z"


def batches(offsets: list[range], compression: int) -> list[Any]:
    """Record batches (as fetched) holding the given offset ranges."""
    buf = bytearray()
    for r in offsets:
        builder = DefaultRecordBatchBuilder(2, compression, 0, -1, -1, -1, 1 << 20)
        for offset in r:
            builder.append(offset - r.start, 1000 + offset, None, b"v%d" % offset, [])
        batch = builder.build()
        batch[0:8] = r.start.to_bytes(8, "big")  # the base offset, as the broker sets it
        buf += batch
    memory = MemoryRecords(bytes(buf))
    out = []
    while memory.has_next():
        out.append(memory.next_batch())
    return out


@pytest.mark.parametrize(
    "compression", [DefaultRecordBatch.CODEC_NONE, DefaultRecordBatch.CODEC_GZIP]
)
def test_record_chunks_cut_batches_to_the_range(compression: int) -> None:
    offsets = [range(0, 700), range(700, 1500), range(1500, 1510)]
    chunks = list(record_chunks(batches(offsets, compression), 650, 1505, 300))
    assert [r.offset for chunk in chunks for r in chunk] == list(range(650, 1505))
    assert all(0 < len(chunk) <= 300 for chunk in chunks)
    assert [r.value for r in chunks[0][:2]] == [b"v650", b"v651"]
    assert [r.timestamp for r in chunks[-1][-1:]] == [1000 + 1504]
    assert list(record_chunks(batches(offsets, compression), 1510, 2000, 300)) == []
    whole = list(record_chunks(batches(offsets, compression), 0, 1510, 1000))
    assert [len(chunk) for chunk in whole] == [700, 800, 10]


FIXED_RUNS = {
    "type": "record",
    "name": "Runs",
    "fields": [
        {"name": "a", "type": "double"},
        {"name": "b", "type": "float"},
        {"name": "c", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "s", "type": "string"},
        {"name": "e", "type": "float"},
        {"name": "n", "type": ["null", "double"]},
        {"name": "f", "type": "double"},
        {"name": "g", "type": "double"},
    ],
}


@PROPERTY
@given(data=st.data())
def test_runs_of_doubles_and_floats_read_as_fastavro_reads_them(data: st.DataObject) -> None:
    """Consecutive double/float fields are read with one struct call: same values, and a
    message cut inside the run is declined."""
    import fastavro

    record = data.draw(records_for(FIXED_RUNS, allow_nan=False), label="record")
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(FIXED_RUNS), record)
    body = buf.getvalue()
    header = b"\xc3\x01" + bytes(8)
    reader = compile_reader(FIXED_RUNS, header)
    assert reader is not None
    expected = fastavro.schemaless_reader(io.BytesIO(body), fastavro.parse_schema(FIXED_RUNS))
    assert repr(reader(header + body)) == repr(expected)
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal
        reader(header + body[: data.draw(st.integers(0, 23), label="cut")])
