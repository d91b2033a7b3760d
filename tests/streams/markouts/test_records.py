"""The markout records against their contract: each TypedDict of ``streams.markouts.records``
has exactly the fields of its ``.avsc`` (in order), and the records a run produces encode and
decode unchanged with the project's codec."""

from __future__ import annotations

from functools import cache
from typing import Any, get_type_hints

import pytest

from schemas.codec import default_codec
from streams.markouts import records
from tests.helpers.markouts import Params, Run, run, scenario

CODEC = default_codec()
SCHEMAS = ["TradeMarkout", "AccountToxicity", "LpMarkout", "MarkoutCurve", "RoutingAdvice", "Alert"]


def avsc_fields(name: str) -> list[str]:
    return [f["name"] for f in CODEC.schema(name).parsed["fields"]]


@pytest.mark.parametrize("name", SCHEMAS)
def test_the_typed_dict_has_the_schemas_fields(name: str) -> None:
    assert sorted(get_type_hints(getattr(records, name))) == sorted(avsc_fields(name))


def test_enums_match_the_schemas() -> None:
    status = CODEC.schema("TradeMarkout").parsed["fields"][-1]["type"]["items"]
    assert tuple(status["symbols"]) == records.STATUSES
    level = next(
        f for f in CODEC.schema("AccountToxicity").parsed["fields"] if f["name"] == "level"
    )
    assert tuple(level["type"]["symbols"]) == records.LEVELS


@cache
def produced() -> Run:
    return run(scenario(Params(seed=5, minutes=6, noise=3, informed=2)).events)


def _round_trip(name: str, record: Any) -> None:
    decoded = CODEC.decode(CODEC.encode(name, dict(record)), expect=[name])
    assert decoded.record == dict(record)


def test_produced_records_round_trip_through_the_codec() -> None:
    r = produced()
    assert r.markouts and any(d.accounts for d in r.published)
    for m in r.markouts:
        _round_trip("TradeMarkout", m)
    kinds = {"AccountToxicity": "accounts", "LpMarkout": "lps", "MarkoutCurve": "curves",
             "Alert": "alerts", "RoutingAdvice": "advice"}  # fmt: skip
    for name, attr in kinds.items():
        produced_records = [rec for d in r.published for rec in getattr(d, attr)]
        assert produced_records, name
        for rec in produced_records:
            _round_trip(name, rec)


def test_horizon_labels() -> None:
    assert [records.horizon_label(h) for h in (250, 1_000, 5_000, 60_000, 90_000, 120_000)] == [
        "250ms", "1s", "5s", "1m", "90s", "2m",
    ]  # fmt: skip
