"""The worker's input decoding (streams/worker/pipeline/inputs.py) reads a message of its
schema's current version with the compiled reader: on random records of every input schema,
and on damaged bytes, the result (the validated record, or the rejection reason) is exactly
what the codec path gives."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import SCHEMA_DIR, DecodeError, default_codec
from streams import events
from streams.worker.pipeline import INPUTS, decode_input
from tests.helpers.strategies import records_for

CODEC = default_codec()
SCHEMAS = sorted(set(INPUTS.values()))
RAW = {name: json.loads((SCHEMA_DIR / f"{name}.avsc").read_text()) for name in SCHEMAS}
PROPERTY = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def reference(schema: str, value: bytes) -> Any:
    """What the codec path gives: the validated record, or the reason as decode_input words
    it."""
    try:
        return events.validate(schema, CODEC.decode(value, expect=(schema,)).record)
    except DecodeError as exc:
        return f"{exc.reason}: {exc}"
    except events.InvalidEvent as exc:
        return f"invalid: {exc}"


@pytest.mark.parametrize("schema", SCHEMAS)
@PROPERTY
@given(data=st.data())
def test_the_compiled_path_gives_what_the_codec_gives(schema: str, data: st.DataObject) -> None:
    record = data.draw(records_for(RAW[schema]), label="record")
    value = bytearray(CODEC.encode(schema, record))
    action = data.draw(st.sampled_from(["as is", "flip", "cut", "extend"]), label="action")
    if action == "flip":
        at = data.draw(st.integers(10, len(value) - 1), label="at")
        value[at] = data.draw(st.integers(0, 255), label="byte")
    elif action == "cut":
        del value[data.draw(st.integers(10, len(value) - 1), label="cut at") :]
    elif action == "extend":
        value += data.draw(st.binary(min_size=1, max_size=4), label="extra")
    assert decode_input(CODEC, schema, bytes(value)) == reference(schema, bytes(value))


@pytest.mark.parametrize("schema", SCHEMAS)
def test_another_schemas_message_is_refused_as_the_codec_refuses_it(schema: str) -> None:
    quote = events.quote(symbol="EURUSD", bid=1.1, ask=1.2, event_id="q", event_time=1)
    other = CODEC.encode("Quote", quote)
    if schema == "Quote":
        lp = events.lp_status(lp_name="LMAX", status="connected", event_id="l", event_time=1)
        other = CODEC.encode("LpStatus", lp)
    got = decode_input(CODEC, schema, other)
    assert got == reference(schema, other)
    assert isinstance(got, str) and got.startswith("unexpected-schema:"), got
