"""The event descriptions (``streams.events.spec``) agree with the ``.avsc`` files, and the
modules generated from them are up to date."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from streams import events
from streams.events import codegen
from streams.events.spec import EVENT_ID, EVENT_TIME, EVENTS, REQUIRED, Event
from streams.sdk import Publisher, SyncPublisher
from streams.topics import BY_LOGICAL, TOPICS
from tests.helpers.avsc import avsc, without_docs

BY_NAME = {e.name: e for e in EVENTS}


def as_json(default: Any) -> Any:
    """A Python default as the .avsc writes it (None is null, () is [])."""
    return list(default) if isinstance(default, tuple) else default


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_spec_fields_are_the_avsc_fields_in_order_with_their_types(name: str) -> None:
    fields = avsc(name)["fields"]
    spec = BY_NAME[name].fields
    assert [f.avro for f in spec] == [f["name"] for f in fields]
    for mine, theirs in zip(spec, fields, strict=True):
        assert mine.rule.avro == without_docs(theirs["type"]), mine.avro


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_spec_defaults_are_the_avsc_defaults(name: str) -> None:
    """A field with a schema default has the same argument default; a field without one is
    required on the wire (a default argument is then only the SDK's convenience)."""
    for mine, theirs in zip(BY_NAME[name].fields, avsc(name)["fields"], strict=True):
        assert mine.schema_default == ("default" in theirs), mine.avro
        if mine.schema_default:
            assert mine.default is not REQUIRED
            assert as_json(mine.default) == theirs["default"], mine.avro


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.name)
def test_topic_key_and_check_order_name_real_fields(event: Event) -> None:
    topic = BY_LOGICAL[event.topic]
    assert (topic.kind, topic.value_schemas, topic.key) == ("input", (event.name,), event.key)
    names = {f.avro for f in event.fields}
    key = event.field(event.key)
    assert key.default is REQUIRED and key.rule.avro == "string"
    assert set(event.check_first) <= names
    for relation in event.relations:
        assert set(relation.fields) <= set(event.check_first)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.name)
def test_builder_and_sdk_signatures_follow_the_spec(event: Event) -> None:
    arguments = [f.arg for f in event.arguments]
    assert sorted(arguments) == sorted(f.arg for f in event.fields)
    assert [f.rule for f in event.arguments[-2:]] == [EVENT_ID, EVENT_TIME]
    builder = inspect.signature(getattr(events, event.builder)).parameters
    assert list(builder) == arguments
    assert {p.kind for p in builder.values()} == {inspect.Parameter.KEYWORD_ONLY}
    for cls in (Publisher, SyncPublisher):
        method = inspect.signature(getattr(cls, event.method)).parameters
        assert list(method) == ["self", *arguments]
        kinds = [p.kind for p in method.values()][1:]
        positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert kinds.count(positional) == event.positional
        for name, parameter in method.items():
            if name != "self":
                assert parameter.default == builder[name].default


def test_every_input_topic_has_its_event_described() -> None:
    """The SDK publishes to exactly the input topics."""
    assert {t.logical for t in TOPICS if t.kind == "input"} == {e.topic for e in EVENTS}


def test_generated_modules_are_up_to_date() -> None:
    """``python -m streams.events.codegen`` would write exactly what is checked in."""
    for path, text in codegen.outputs().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is out of date"


def test_codegen_check_reports_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert codegen.main(["--check"]) == 0
    assert "builders.py: up to date" in capsys.readouterr().out
