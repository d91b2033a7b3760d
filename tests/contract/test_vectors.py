"""The golden vectors (``schemas/vectors/``) against the Python SDK's public API: its builders
and codec give exactly the recorded bytes, keys and partitions, and refuse the recorded bad
inputs with the recorded field and message. The Go SDK's ``go test`` checks the same files;
here the Go module's embedded schemas are also compared with the Python codec's."""

from __future__ import annotations

import inspect
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from schemas.codec import default_codec
from streams import events, sdk
from streams.settings import KafkaSettings
from tests.contract import golden

VECTORS = golden.load(golden.EVENTS_FILE)
INVALID = golden.load(golden.INVALID_FILE)

# Builder arguments a vector may leave out: their Python default means what the Go zero value
# means (None and "", 0.0, False, an empty list, status OPEN and ""). Every other argument is
# given, so that a vector encodes the same in both languages (Go has no default of 1.0 for
# executionQuality or 100 for uptime, and ids and times must be fixed).
MAY_OMIT = frozenset(
    {
        "lp", "price", "order_id", "account_id", "current_price", "execution_time_ms",
        "spread", "slippage", "avg_spread", "latency_ms", "quotes_per_second",
        "reject_rate", "lp_rejected", "status", "action_items", "realized_pnl",
        "realized_pnl_delta",
    }
)  # fmt: skip


def vector_id(v: dict[str, Any]) -> str:
    return str(v["name"])


def test_vectors_cover_every_input_event() -> None:
    assert VECTORS["partitionCounts"] == [6, 12]
    assert {v["event"] for v in VECTORS["vectors"]} == set(golden.EVENTS)
    assert len({v["name"] for v in VECTORS["vectors"]}) == len(VECTORS["vectors"])


def test_schema_rows_are_the_codecs_fingerprints_and_the_topic_tables_topics() -> None:
    assert VECTORS["schemas"] == golden.expected_schemas()


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=vector_id)
def test_python_sdk_gives_the_golden_bytes_key_and_partitions(vector: dict[str, Any]) -> None:
    got = golden.expected_outputs(vector["event"], vector["input"])
    assert got["key"] == vector["key"]
    assert got["partitions"] == vector["partitions"]
    assert got["hex"] == vector["hex"]
    decoded = default_codec().decode(bytes.fromhex(vector["hex"]))
    assert decoded.schema == vector["event"]
    # The stream processor accepts it as it is (the same rules, run on the decoded record).
    events.validate(vector["event"], decoded.record)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=vector_id)
def test_vectors_leave_out_only_what_means_the_same_in_go(vector: dict[str, Any]) -> None:
    builder = golden.EVENTS[vector["event"]][0]
    params = set(inspect.signature(builder).parameters)
    given = set(vector["input"])
    assert given <= params, given - params
    assert {"event_id", "event_time"} <= given
    assert params - given <= MAY_OMIT, params - given - MAY_OMIT


def case_id(case: dict[str, Any]) -> str:
    return f"{case['event']}-{case['field']}"


@pytest.mark.parametrize("case", INVALID["cases"], ids=case_id)
def test_builders_refuse_the_bad_inputs_with_the_recorded_message(case: dict[str, Any]) -> None:
    exc = golden.refusal(case["event"], golden.case_args(INVALID, case))
    assert (exc.event, exc.field, str(exc)) == (case["event"], case["field"], case["message"])
    assert not exc.retriable


def test_bad_input_table_covers_every_event_and_is_valid_without_its_changes() -> None:
    assert {c["event"] for c in INVALID["cases"]} == set(golden.EVENTS)
    for event, base in INVALID["bases"].items():
        golden.build(event, base)  # a base is valid: each case fails for its own change


@pytest.mark.kafka
async def test_the_sdk_refuses_the_bad_inputs_before_sending(
    kafka_settings: KafkaSettings,
) -> None:
    """The same table through a started Publisher: sdk.InvalidEvent, same field and message."""
    async with sdk.Publisher(kafka_settings) as pub:
        for case in INVALID["cases"]:
            call = getattr(pub, golden.SDK_METHODS[case["event"]])
            kwargs = golden.python_args(golden.case_args(INVALID, case))
            with pytest.raises(sdk.InvalidEvent) as caught:
                await call(**kwargs)
            assert (caught.value.field, str(caught.value)) == (case["field"], case["message"])


def test_go_module_embeds_the_schemas_of_the_repository(rtx_publish: Path) -> None:
    """The fingerprints and canonical forms the Go module embeds are the Python codec's, so
    a schema change that forgets the Go copy fails here (and in go test)."""
    out = subprocess.run(  # noqa: S603 - the command built by the fixture
        [str(rtx_publish), "-schemas"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    embedded = json.loads(out)
    codec = default_codec()
    assert set(embedded) == set(golden.EVENTS)
    for name, row in embedded.items():
        info = codec.schema(name)
        assert row["fingerprint"] == info.fingerprint.hex(), name
        assert row["canonicalForm"] == info.canonical_form, name
        assert {"topic": row["topic"], "key": row["key"]} == {
            k: VECTORS["schemas"][name][k] for k in ("topic", "key")
        }
