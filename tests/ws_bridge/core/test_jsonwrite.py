"""The compiled Avro-to-JSON writers (``ws_bridge.core.jsonwrite``) give, byte for byte, the
text of the reference path (codec decode + ``to_message`` + ``encode``): on random records of
every schema they compile (NaN, infinities, any text, empty and full maps), and on damaged
bytes they either refuse or agree with it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import SCHEMA_DIR, default_codec
from tests.helpers.bridge import exposure_record
from tests.helpers.strategies import MAX_TIMESTAMP_MICROS, MIN_TIMESTAMP_MICROS, records_for
from ws_bridge.core.jsonwrite import LAYOUTS, Timestamps, message_writers
from ws_bridge.core.messages import SCHEMA_ROUTES, Encoded, encode, format_timestamp, to_message

RAW = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(SCHEMA_DIR.glob("*.avsc"))}
PROPERTY = settings(max_examples=150, deadline=None, database=None)
WRITERS = message_writers(default_codec())


def reference(value: bytes) -> Encoded | None:
    """What the bridge sends for ``value`` without the compiled writers (None: it refuses)."""
    codec = default_codec()
    try:
        decoded = codec.decode(value)
        return encode(to_message(decoded.schema, decoded.record))
    except Exception:  # noqa: BLE001 - any refusal counts as one
        return None


def test_every_published_schema_but_alerts_has_a_writer() -> None:
    codec = default_codec()
    published = {name for name in SCHEMA_ROUTES if name != "Alert"}
    assert set(LAYOUTS) == published
    assert set(WRITERS) == {codec.schema(name).header for name in published}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@PROPERTY
@given(data=st.data())
def test_the_writer_gives_the_reference_text(name: str, data: st.DataObject) -> None:
    record = data.draw(records_for(RAW[name]), label="record")
    value = default_codec().encode(name, record)
    expected = reference(value)
    got = WRITERS[value[:10]](value)
    assert expected is not None  # the reference takes every valid record of these schemas
    assert got.text == expected.text
    assert got == expected  # channel, seq, epoch, replay too
    assert got.timestamp == expected.timestamp
    # The dict parsed from the text is the message (repr: NaN never reaches the text).
    assert repr(got.message) == repr(expected.message)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@PROPERTY
@given(data=st.data())
def test_damaged_values_are_refused_or_written_as_the_reference_writes_them(
    name: str, data: st.DataObject
) -> None:
    record = data.draw(records_for(RAW[name]), label="record")
    value = default_codec().encode(name, record)
    # Bytes cut out and others put in at one place past the header: a flip, a cut, an extension.
    at = data.draw(st.integers(10, len(value)), label="at")
    removed = data.draw(st.integers(0, len(value) - at), label="removed")
    damaged = value[:at] + data.draw(st.binary(max_size=4), label="put in") + value[at + removed :]
    try:
        got: Encoded | None = WRITERS[damaged[:10]](damaged)
    except Exception:  # noqa: BLE001 - a refusal: the bridge takes the reference path
        got = None
    if got is not None:
        expected = reference(damaged)
        assert expected is not None and got.text == expected.text


def test_a_record_with_only_the_contracts_numbers_gives_the_contracts_exposure_frame() -> None:
    record = exposure_record()  # the contract's example (docs/bridge.md section 1)
    value = default_codec().encode("ExposureChange", record)
    text = WRITERS[value[:10]](value).text
    assert text == (
        '{"type":"exposure-change","timestamp":"2026-01-19T10:30:45.123456Z","data":'
        '{"totalExposure":80000.0,"netExposure":80000.0,"exposureLimit":100000.0,'
        '"utilizationPct":80.0,"riskLevel":"medium","bySymbol":{"EURUSD":50000.0,'
        '"GBPUSD":30000.0},"byLP":{"OANDA":80000.0}}}'
    )


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.integers(MIN_TIMESTAMP_MICROS, MAX_TIMESTAMP_MICROS), min_size=1))
def test_timestamps_are_format_timestamp_with_a_cache(micros: list[int]) -> None:
    stamps = Timestamps()
    stamps.MAX = 3  # the cache starts again often
    for us in micros + micros:
        assert stamps(us) == format_timestamp(us)
