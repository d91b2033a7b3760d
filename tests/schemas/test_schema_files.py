"""Tests of the ``.avsc`` contract files in ``schemas/avro`` against the wire contract
(docs/bridge.md section 1) and the Avro specification."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest

from schemas.codec import NAMESPACE, SCHEMA_DIR, schema_info

FILES = sorted(SCHEMA_DIR.glob("*.avsc"))
RAW: dict[str, dict[str, Any]] = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in FILES}

INPUT_EVENTS = {"RoutingDecision", "LpStatus", "PositionState", "Quote", "ServiceAlert"}
DERIVED_EVENTS = {"Alert", "ExposureChange", "RoutingSummary", "LpPerformance"}
RISK_EVENTS = {"PnlChange", "AccountRisk", "AccountRiskTop"}
MARKOUT_EVENTS = {"TradeMarkout", "AccountToxicity", "LpMarkout", "MarkoutCurve", "RoutingAdvice"}
WORKFLOW_EVENTS = {"AlertAction"}

# Enum symbols the contract spells out. The order is part of the wire format too (an enum is
# written as the symbol's index), so the lists must match exactly, not just as sets.
CONTRACT_ENUMS = {
    "Side": ["BUY", "SELL"],
    "Book": ["ABOOK", "BBOOK"],
    "LpConnectionStatus": ["connected", "disconnected"],
    "AlertSeverity": ["info", "warning", "error", "critical"],
    "AlertCategory": ["exposure", "lp", "routing", "system"],
}

# The contract's message `data` fields (docs/bridge.md section 1), per schema, with the Avro
# type that carries each one. "enum:X" is the named enum X; "?string" is ["null", "string"].
ROUTING_DECISION = {
    "symbol": "string",
    "side": "enum:Side",
    "volume": "double",
    "routingDecision": "enum:Book",
    "lpSelected": "?string",
    "executionTimeMs": "double",
    "spread": "double",
    "slippage": "double",
}
LP_METRICS = {
    "lpName": "string",
    "status": "enum:LpConnectionStatus",
    "avgSpread": "double",
    "executionQuality": "double",
    "latencyMs": "double",
    "quotesPerSecond": "double",
    "rejectRate": "double",
    "uptime": "double",
}
EXPOSURE_CHANGE = {
    "totalExposure": "double",
    "netExposure": "double",
    "exposureLimit": "double",
    "utilizationPct": "double",
    "riskLevel": "enum:RiskLevel",
    "bySymbol": "map<double>",
    "byLP": "map<double>",
}
ALERT_BODY = {
    "severity": "enum:AlertSeverity",
    "category": "enum:AlertCategory",
    "title": "string",
    "message": "string",
    "source": "string",
    "actionItems": "array<string>",
}
CONTRACT_FIELDS = {
    "RoutingDecision": ROUTING_DECISION,
    "LpStatus": LP_METRICS,
    "LpPerformance": LP_METRICS,
    "ExposureChange": EXPOSURE_CHANGE,
    "Alert": {"id": "string", **ALERT_BODY},
    "ServiceAlert": ALERT_BODY,  # the producer call: the id is derived, not sent
}


def type_label(avro_type: Any) -> str:
    """A short label of a field type: "double", "enum:Side", "?string", "map<double>"..."""
    if isinstance(avro_type, str):
        return avro_type
    if isinstance(avro_type, list):
        rest = [t for t in avro_type if t != "null"]
        if len(rest) == 1 and len(avro_type) == 2:
            return "?" + type_label(rest[0])
        return "|".join(type_label(t) for t in avro_type)
    kind = avro_type["type"]
    if "logicalType" in avro_type:
        return f"{kind}:{avro_type['logicalType']}"
    if kind == "enum":
        return f"enum:{avro_type['name']}"
    if kind == "map":
        return f"map<{type_label(avro_type['values'])}>"
    if kind == "array":
        return f"array<{type_label(avro_type['items'])}>"
    return str(kind)


def named_types(schema: Any) -> Iterator[dict[str, Any]]:
    """Every named type (record, enum, fixed) defined anywhere inside ``schema``."""
    if isinstance(schema, list):
        for branch in schema:
            yield from named_types(branch)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            yield schema
        for f in schema.get("fields", []):
            yield from named_types(f["type"])
        for key in ("items", "values"):
            if key in schema:
                yield from named_types(schema[key])


def fields_of(name: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in RAW[name]["fields"]}


def test_the_eighteen_schemas_are_present() -> None:
    derived = DERIVED_EVENTS | RISK_EVENTS | MARKOUT_EVENTS
    assert set(RAW) == INPUT_EVENTS | derived | WORKFLOW_EVENTS


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_file_parses_as_an_avro_record_named_like_the_file(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    fastavro.parse_schema(raw)
    info = schema_info(raw)
    assert raw["type"] == "record"
    assert info.name == f"{NAMESPACE}.{path.stem}"


@pytest.mark.parametrize("name", sorted(RAW))
def test_namespace_is_rtx_analytics_everywhere(name: str) -> None:
    assert RAW[name]["namespace"] == NAMESPACE == "rtx.analytics"
    for named in named_types(RAW[name]):
        assert named.get("namespace", NAMESPACE) == NAMESPACE, named["name"]
        assert "." not in named["name"], named["name"]


@pytest.mark.parametrize("name", sorted(RAW))
def test_every_field_and_named_type_has_a_doc(name: str) -> None:
    undocumented = [
        f"{named['name']}.{f['name']}"
        for named in named_types(RAW[name])
        for f in named.get("fields", [])
        if not str(f.get("doc", "")).strip()
    ]
    undocumented += [n["name"] for n in named_types(RAW[name]) if not str(n.get("doc", "")).strip()]
    assert not undocumented


@pytest.mark.parametrize("name", sorted(RAW))
def test_field_names_are_camel_case(name: str) -> None:
    """The contract's data fields are camelCase, and the schemas carry them unchanged."""
    bad = [
        f["name"] for f in RAW[name]["fields"] if not re.fullmatch(r"[a-z][A-Za-z0-9]*", f["name"])
    ]
    assert not bad


@pytest.mark.parametrize("name", sorted(RAW))
def test_null_default_requires_null_as_first_union_branch(name: str) -> None:
    """Avro spec, "Unions": a union field's default must match the union's first branch."""
    wrong = [
        f["name"]
        for named in named_types(RAW[name])
        for f in named.get("fields", [])
        if "default" in f
        and f["default"] is None
        and not (isinstance(f["type"], list) and f["type"][0] == "null")
    ]
    assert not wrong


@pytest.mark.parametrize("enum_name", sorted(CONTRACT_ENUMS))
def test_contract_enum_has_the_contract_symbols(enum_name: str) -> None:
    definitions = [
        named
        for raw in RAW.values()
        for named in named_types(raw)
        if named["name"] == enum_name and named["type"] == "enum"
    ]
    assert definitions, f"enum {enum_name} is defined in no schema"
    for definition in definitions:
        assert definition["symbols"] == CONTRACT_ENUMS[enum_name]


def test_named_types_defined_in_several_files_are_identical() -> None:
    """Each file inlines its enums; every copy of one name must be the same type."""
    copies: dict[str, dict[str, dict[str, Any]]] = {}
    for file_name, raw in RAW.items():
        for named in named_types(raw):
            if named is raw:
                continue
            copies.setdefault(named["name"], {})[file_name] = named
    shared = {name: by_file for name, by_file in copies.items() if len(by_file) > 1}
    # Side, Book, LpConnectionStatus, AlertSeverity and AlertCategory are each in two files
    assert set(CONTRACT_ENUMS) <= set(shared)
    for name, by_file in shared.items():
        first_file, first = next(iter(by_file.items()))
        for other_file, definition in by_file.items():
            assert definition == first, f"{name}: {other_file} differs from {first_file}"


@pytest.mark.parametrize(
    ("schema", "field", "expected"),
    [
        pytest.param(schema, field, expected, id=f"{schema}.{field}")
        for schema, fields in CONTRACT_FIELDS.items()
        for field, expected in fields.items()
    ],
)
def test_contract_data_field_exists_with_its_type(schema: str, field: str, expected: str) -> None:
    fields = fields_of(schema)
    assert field in fields, f"{schema} lacks the contract field {field}"
    assert type_label(fields[field]["type"]) == expected


@pytest.mark.parametrize("name", sorted(RAW))
def test_time_fields_are_timestamp_micros(name: str) -> None:
    for field in ("eventTime", "windowStart", "windowEnd"):
        if field in fields_of(name):
            assert type_label(fields_of(name)[field]["type"]) == "long:timestamp-micros"


@pytest.mark.parametrize("name", sorted(INPUT_EVENTS))
def test_input_events_carry_an_event_id_and_event_time(name: str) -> None:
    """Consumers de-duplicate on eventId and order by eventTime."""
    fields = fields_of(name)
    assert type_label(fields["eventId"]["type"]) == "string"
    assert "eventTime" in fields
