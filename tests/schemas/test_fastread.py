"""The compiled Avro readers (``schemas.fastread``) return exactly what the codec (fastavro)
returns: on generated records of every schema and of every construct the compiler supports."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import MAGIC, SCHEMA_DIR, default_codec, without_logical_types
from schemas.fastread import NotFast, compile_reader, read_varint, varint_at
from tests.helpers.schemas import EVERYTHING
from tests.helpers.strategies import records_for

RAW = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(SCHEMA_DIR.glob("*.avsc"))}
PROPERTY = settings(max_examples=60, deadline=None, database=None)
HEADER = MAGIC + bytes(8)


def fastavro_body(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema, _force=True), record)
    return buf.getvalue()


def test_every_event_schema_compiles_a_reader() -> None:
    codec = default_codec()
    for name in codec.names:
        info = codec.schema(name)
        assert compile_reader(json.loads(info.canonical_form), info.header) is not None, name


@pytest.mark.parametrize("name", sorted(RAW))
@PROPERTY
@given(data=st.data())
def test_compiled_reader_equals_the_codec(name: str, data: st.DataObject) -> None:
    """Valid messages of every schema: the same record (timestamps int micros) as the codec,
    with the pure-Python varint decoder."""
    record = data.draw(records_for(RAW[name], allow_nan=False), label="record")
    info = default_codec().schema(name)
    encoded = default_codec().encode(name, record)
    reader = compile_reader(json.loads(info.canonical_form), info.header)
    assert reader is not None
    assert reader(encoded) == default_codec().decode(encoded).record


@PROPERTY
@given(data=st.data())
def test_compiled_reader_equals_fastavro_on_every_supported_construct(
    data: st.DataObject,
) -> None:
    record = data.draw(records_for(EVERYTHING, allow_nan=False), label="record")
    body = fastavro_body(EVERYTHING, record)
    reader = compile_reader(EVERYTHING, HEADER)
    assert reader is not None
    plain = fastavro.parse_schema(without_logical_types(EVERYTHING), _force=True)
    assert reader(HEADER + body) == fastavro.schemaless_reader(io.BytesIO(body), plain, None)


def test_read_varint_refuses_trailing_zero_groups_and_reads_long_values() -> None:
    with pytest.raises(NotFast):
        read_varint(b"\x00", 0x86, 0)
    # 64 as zig-zag 128 = 80 01
    assert read_varint(b"\x01", 0x80, 0) == (64, 1)
    assert varint_at(b"\x80\x01", 0) == (64, 2)
    with pytest.raises(IndexError):
        read_varint(b"", 0x80, 0)


def test_a_message_with_another_header_is_declined() -> None:
    reader = compile_reader(EVERYTHING, HEADER)
    assert reader is not None
    with pytest.raises(NotFast):
        reader(MAGIC + b"\x01" * 8 + b"\x00")


def negative_length_summary() -> bytes:
    """A RoutingSummary whose byLP key length is the one-byte varint 01: zig-zag -1. Read on,
    that length moves the position back a byte, and the rest still parses ({"": -1}): hypothesis
    found the bytes that make such a map loop for ever (a large count)."""
    codec = default_codec()
    record = {name: 3 for name in ("windowStart", "windowEnd", "count", "abookCount")}
    record |= {name: 3 for name in ("bbookCount", "slippagePositiveCount", "slippageNegativeCount")}
    record |= {f["name"]: 0.5 for f in RAW["RoutingSummary"]["fields"] if f["type"] == "double"}
    value = codec.encode("RoutingSummary", record | {"byLP": {"Q": 7}})
    entry = b"\x02\x02Q\x0e\x00"  # count 1, key of length 1 "Q", value 7, end of the map
    assert value.count(entry) == 1
    return value.replace(entry, b"\x02\x01\x00")


def test_a_negative_one_byte_length_is_declined() -> None:
    codec = default_codec()
    value = negative_length_summary()
    info = codec.schema("RoutingSummary")
    reader = compile_reader(json.loads(info.canonical_form), info.header)
    assert reader is not None
    with pytest.raises(NotFast):
        reader(value)
    with pytest.raises(Exception):  # noqa: B017, PT011 - the codec refuses it too, any way it likes
        codec.decode(value)


@pytest.mark.parametrize("name", ["Alert", "RoutingDecision", "RoutingSummary"])
@PROPERTY
@given(data=st.data())
def test_damaged_messages_are_declined_or_read_as_the_codec_reads_them(
    name: str, data: st.DataObject
) -> None:
    """Flipped, cut or extended bytes: a compiled reader never returns something the codec
    would not (a different record, or a record where the codec raises)."""
    info = default_codec().schema(name)
    record = data.draw(records_for(RAW[name], allow_nan=False), label="record")
    encoded = bytearray(default_codec().encode(name, record))
    action = data.draw(st.sampled_from(["flip", "cut", "extend"]), label="action")
    if action == "flip":
        at = data.draw(st.integers(10, len(encoded) - 1), label="at")
        encoded[at] = data.draw(st.integers(0, 255), label="byte")
    elif action == "cut":
        del encoded[data.draw(st.integers(10, len(encoded) - 1), label="cut at") :]
    else:
        encoded += data.draw(st.binary(min_size=1, max_size=4), label="extra")
    reader = compile_reader(json.loads(info.canonical_form), info.header)
    assert reader is not None
    try:
        got = reader(bytes(encoded))
    except Exception:  # noqa: BLE001 - any refusal: the codec decides
        return
    # repr: a flipped byte can make a double NaN, and NaN is not equal to itself
    assert repr(got) == repr(default_codec().decode(bytes(encoded)).record)
