"""The Python client's typed data of the markouts messages (ws_bridge.client.types) have exactly
the fields the bridge sends (the schema's but eventTime, the message's timestamp), and the
client accepts the markouts and flow-toxicity channels."""

from __future__ import annotations

import json
from typing import get_type_hints

import pytest

from schemas.codec import SCHEMA_DIR
from ws_bridge.client import (
    CHANNELS,
    AccountToxicityData,
    AnalyticsClient,
    LpMarkoutData,
    MarkoutCurveData,
    RoutingAdviceData,
)


def fields(schema: str) -> set[str]:
    raw = json.loads((SCHEMA_DIR / f"{schema}.avsc").read_text(encoding="utf-8"))
    return {f["name"] for f in raw["fields"]} - {"eventTime"}


@pytest.mark.parametrize(
    ("typed", "schema"),
    [
        (AccountToxicityData, "AccountToxicity"),
        (RoutingAdviceData, "RoutingAdvice"),
        (LpMarkoutData, "LpMarkout"),
        (MarkoutCurveData, "MarkoutCurve"),
    ],
)
def test_typed_data_has_the_fields_the_bridge_sends(typed: type, schema: str) -> None:
    assert set(get_type_hints(typed)) == fields(schema)


def test_the_client_subscribes_to_the_markout_channels() -> None:
    assert CHANNELS[-2:] == ("markouts", "flow-toxicity")
    client = AnalyticsClient(
        "ws://127.0.0.1:1/ws/analytics", "t", channels=["markouts", "flow-toxicity"]
    )
    assert client is not None
