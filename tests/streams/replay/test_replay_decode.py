"""The replay decoder (compiled readers with aiokafka's C varint decoder) returns exactly what
the codec returns, or declines: on generated records of every schema and on damaged bytes.
The compiled readers themselves: tests/schemas/test_fastread.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import SCHEMA_DIR, CorruptMessage, DecodeError, default_codec
from streams.replay.decode import FastDecoder, compile_reader
from tests.helpers.strategies import records_for

RAW = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(SCHEMA_DIR.glob("*.avsc"))}
PROPERTY = settings(max_examples=60, deadline=None, database=None)


def outcome(decoder: FastDecoder, data: bytes) -> Any:
    """What decoding gives: the record, or the DecodeError class."""
    try:
        return decoder.decode(data)
    except DecodeError as exc:
        return type(exc)


def codec_outcome(data: bytes, accept: str) -> Any:
    try:
        decoded = default_codec().decode(data)
    except DecodeError as exc:
        return type(exc)
    return decoded.record if decoded.schema == accept else None


def test_every_event_schema_compiles_a_reader() -> None:
    codec = default_codec()
    for name in codec.names:
        info = codec.schema(name)
        assert compile_reader(json.loads(info.canonical_form), info.header) is not None, name


@pytest.mark.parametrize("name", sorted(RAW))
@PROPERTY
@given(data=st.data())
def test_compiled_reader_equals_the_codec(name: str, data: st.DataObject) -> None:
    """Valid messages of every schema: the same record (timestamps int micros) as the codec."""
    record = data.draw(records_for(RAW[name], allow_nan=False), label="record")
    encoded = default_codec().encode(name, record)
    decoder = FastDecoder([name])
    reader = decoder._fast[encoded[:10]]
    assert reader(encoded) == default_codec().decode(encoded).record


@pytest.mark.parametrize("name", ["Alert", "RoutingDecision", "RoutingSummary"])
@PROPERTY
@given(data=st.data())
def test_damaged_messages_give_the_codecs_verdict(name: str, data: st.DataObject) -> None:
    """Flipped, cut or extended bytes: the fast path never returns something the codec would
    not (a different record, or a record where the codec raises)."""
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
    damaged = bytes(encoded)
    # repr: a flipped byte can make a double NaN, and NaN is not equal to itself
    assert repr(outcome(FastDecoder([name]), damaged)) == repr(codec_outcome(damaged, name))


def test_non_canonical_encodings_are_refused_as_by_the_codec() -> None:
    """A non-minimal varint and a negative union index decode 'fine' in fastavro but are not
    what any writer produces: the fast reader declines and the codec raises CorruptMessage."""
    codec = default_codec()
    record = {
        "eventId": "e-1",
        "eventTime": 1_700_000_000_000_000,
        "symbol": "EURUSD",
        "bid": 1.1,
        "ask": 1.2,
        "lp": None,
    }
    good = codec.encode("Quote", record)
    decoder = FastDecoder(["Quote"])
    assert decoder.decode(good) == codec.decode(good).record
    # eventId length 3 (zig-zag 06) written as the two-byte varint 86 00.
    long_length = good[:10] + b"\x86\x00" + good[11:]
    with pytest.raises(CorruptMessage):
        decoder.decode(long_length)
    # The lp union index 0 (null) written as -1 (zig-zag 01).
    negative_index = good[:-1] + b"\x01"
    with pytest.raises(DecodeError):
        decoder.decode(negative_index)


def test_messages_of_other_known_schemas_are_skipped_not_bad() -> None:
    codec = default_codec()
    summary = codec.schema("RoutingSummary")
    decoder = FastDecoder(["RoutingSummary"])
    decision = codec.encode(
        "RoutingDecision",
        {
            "eventId": "e",
            "eventTime": 1,
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
        },
    )
    assert decoder.decode(decision) is None
    assert summary.header not in decoder._skip
    with pytest.raises(DecodeError):
        decoder.decode(b"not avro at all")
