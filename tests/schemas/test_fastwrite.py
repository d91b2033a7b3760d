"""The compiled writers must produce exactly fastavro's bytes, for every schema and record."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import SCHEMA_DIR, EncodeError, default_codec, encode_with
from schemas.fastwrite import compile_writer, write_long
from tests.helpers.schemas import EVERYTHING
from tests.helpers.strategies import records_for

RAW = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(SCHEMA_DIR.glob("*.avsc"))}
PROPERTY = settings(max_examples=150, deadline=None, database=None)

# A schema using every construct the compiler supports, beyond what our event schemas use.


def fastavro_bytes(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema, _force=True), record)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, "00"),
        (-1, "01"),
        (1, "02"),
        (-2, "03"),
        (2, "04"),
        (-64, "7f"),
        (64, "8001"),
        (8192, "808001"),
        (2**63 - 1, "feffffffffffffffff01"),
        (-(2**63), "ffffffffffffffffff01"),
    ],
)
def test_write_long_matches_the_avro_spec_examples(n: int, encoded: str) -> None:
    """Zig-zag then varint, as in the Avro specification's table (0->00, -1->01, 1->02, ...)."""
    assert write_long(n).hex() == encoded


def test_every_event_schema_compiles() -> None:
    codec = default_codec()
    for name in codec.names:
        assert codec.schema(name).fast_writer is not None, name
        assert codec.schema(name).plain_writer is not None, name


@pytest.mark.parametrize("name", sorted(RAW))
@PROPERTY
@given(data=st.data())
def test_compiled_writer_equals_fastavro(name: str, data: st.DataObject) -> None:
    record = data.draw(records_for(RAW[name]), label="record")
    writer = compile_writer(RAW[name])
    assert writer is not None
    assert writer(record) == fastavro_bytes(RAW[name], record)


@PROPERTY
@given(data=st.data())
def test_compiled_writer_equals_fastavro_on_every_supported_construct(
    data: st.DataObject,
) -> None:
    record = data.draw(records_for(EVERYTHING), label="record")
    writer = compile_writer(EVERYTHING)
    assert writer is not None
    assert writer(record) == fastavro_bytes(EVERYTHING, record)


def test_aware_datetimes_are_written_as_exact_micros() -> None:
    schema = RAW["Quote"]
    when = datetime(2040, 3, 4, 4, 54, 26, 868097, tzinfo=UTC)
    record = {"eventId": "e", "eventTime": when, "symbol": "EURUSD", "bid": 1.0, "ask": 1.1}
    writer = compile_writer(schema)
    assert writer is not None
    expected_micros = (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    as_int = dict(record, eventTime=expected_micros, lp=None)
    assert writer(dict(record, lp=None)) == fastavro_bytes(schema, as_int)


@pytest.mark.parametrize(
    "schema",
    [
        {
            "type": "record",
            "name": "F",
            "fields": [{"name": "x", "type": {"type": "fixed", "name": "X", "size": 2}}],
        },
        {"type": "record", "name": "U", "fields": [{"name": "x", "type": ["int", "string"]}]},
        {
            "type": "record",
            "name": "D",
            "fields": [
                {"name": "x", "type": {"type": "bytes", "logicalType": "decimal", "precision": 4}}
            ],
        },
    ],
    ids=["fixed", "union-without-null", "decimal"],
)
def test_unsupported_constructs_compile_to_none(schema: dict[str, Any]) -> None:
    """The codec then uses fastavro for that schema."""
    assert compile_writer(schema) is None


@pytest.mark.parametrize(
    "bad",
    [{"version": 1.5}, {"version": True}, {"side": "HOLD"}, {"volume": None}],
    ids=["float-for-long", "bool-for-long", "unknown-enum", "null-for-double"],
)
def test_unchecked_encode_never_writes_a_wrong_value(bad: dict[str, Any]) -> None:
    """encode_with(validate=False) goes through the compiled writer; a value of the wrong type
    makes it fall back to fastavro, which raises rather than truncating or guessing."""
    codec = default_codec()
    record = {
        "eventId": "e",
        "eventTime": 1,
        "positionId": "p",
        "version": 1,
        "accountId": "a",
        "symbol": "EURUSD",
        "side": "BUY",
        "volume": 1.0,
        "openPrice": 1.1,
        "currentPrice": None,
        "book": "BBOOK",
        "lp": None,
        "status": "OPEN",
    }
    with pytest.raises(EncodeError, match="PositionState"):
        encode_with(codec.schema("PositionState"), {**record, **bad}, validate=False)
