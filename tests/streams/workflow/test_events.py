"""The AlertAction description (streams/workflow/events.py) against its .avsc, the builder's and
the checks' refusals, and a round trip through the codec."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.codec import default_codec
from streams.workflow import ACTIONS, NOTE_MAX, InvalidAction, action_record, validate_action
from streams.workflow.events import FIELDS, REQUIRED
from tests.helpers.avsc import avsc, without_docs
from tests.helpers.workflow import T0, action

RAW = avsc("AlertAction")


def test_the_description_matches_the_avsc_field_by_field() -> None:
    """Names and order, Avro types (docs aside) and defaults agree with AlertAction.avsc."""
    fields = RAW["fields"]
    assert [f["name"] for f in fields] == [f.name for f in FIELDS]
    for spec, written in zip(FIELDS, fields, strict=True):
        assert without_docs(written["type"]) == spec.avro, spec.name
        if spec.default is REQUIRED:
            assert "default" not in written, spec.name
        else:
            default = list(spec.default) if isinstance(spec.default, tuple) else spec.default
            assert written["default"] == default, spec.name


def test_the_action_enum_lists_every_action_in_order() -> None:
    enum = next(f["type"] for f in RAW["fields"] if f["name"] == "action")
    assert enum["symbols"] == list(ACTIONS)


def test_a_built_action_round_trips_through_the_codec() -> None:
    codec = default_codec()
    record = action("snooze", note="after the fix", roles=["dealer"])
    decoded = codec.decode(codec.encode("AlertAction", record))
    assert decoded.schema == "AlertAction"
    assert decoded.record == record


def test_optional_fields_take_their_defaults() -> None:
    record = action_record(
        actionId="x1", alertId="a", action="acknowledge", user="dana", time=T0, logSeq=3
    )
    assert record["roles"] == [] and record["note"] is None and record["alertSeq"] is None


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"action": "acknowledge", "actionId": ""}, "actionId"),
        ({"action": "acknowledge", "actionId": "x" * 65}, "actionId"),
        ({"action": "shout"}, "action"),
        ({"action": "comment"}, "note"),
        ({"action": "resolve"}, "note"),
        ({"action": "assign"}, "assignee"),
        ({"action": "snooze"}, "until"),
        ({"action": "escalate"}, "level"),
        ({"action": "escalate", "level": 0}, "level"),
        ({"action": "wake"}, "refersTo"),
        ({"action": "comment", "note": "x" * (NOTE_MAX + 1)}, "note"),
        ({"action": "comment", "note": "   "}, "note"),
        ({"action": "acknowledge", "assignee": "bob"}, "assignee"),
        ({"action": "comment", "note": "n", "until": T0}, "until"),
        ({"action": "acknowledge", "logSeq": -2}, "logSeq"),
        ({"action": "acknowledge", "time": 1.5}, "time"),
        ({"action": "acknowledge", "user": "a\x00b"}, "user"),
        ({"action": "acknowledge", "roles": ["dealer", ""]}, "roles"),
        ({"action": "acknowledge", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_record_is_refused_naming_the_field(values: dict[str, Any], field: str) -> None:
    base = {"actionId": "x1", "alertId": "a", "user": "dana", "time": T0, "logSeq": 0}
    with pytest.raises(InvalidAction) as info:
        action_record(**{**base, **values})
    assert info.value.field == field
    assert field in str(info.value)


def test_a_missing_required_field_is_named() -> None:
    with pytest.raises(InvalidAction) as info:
        action_record(actionId="x", alertId="a", action="acknowledge", user="d", time=T0)
    assert info.value.field == "logSeq"


def test_validate_accepts_a_decoded_record_and_refuses_a_tampered_one() -> None:
    record = action("acknowledge", note="mine")
    validate_action(record)
    with pytest.raises(InvalidAction):
        validate_action({**record, "level": 2})
