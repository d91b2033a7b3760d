"""The Python client's typed data of the P&L and account-risk messages (ws_bridge.client.types)
have exactly the fields the bridge sends: the schema's, minus eventTime where it is the
message's timestamp; and the client accepts the new channels."""

from __future__ import annotations

import json
from typing import get_type_hints

import pytest

from schemas.codec import SCHEMA_DIR
from ws_bridge.client import (
    CHANNELS,
    AccountRiskData,
    AccountRiskTopData,
    AnalyticsClient,
    ExposureBasisData,
    LargestPosition,
    PnlChangeData,
    PnlFigures,
)


def fields(schema: str) -> list[str]:
    raw = json.loads((SCHEMA_DIR / f"{schema}.avsc").read_text(encoding="utf-8"))
    return [f["name"] for f in raw["fields"]]


@pytest.mark.parametrize(
    ("typed", "schema", "left_out"),
    [
        (PnlChangeData, "PnlChange", {"eventTime"}),
        (AccountRiskTopData, "AccountRiskTop", {"eventTime"}),
        (AccountRiskData, "AccountRisk", set()),
    ],
)
def test_typed_data_has_the_fields_the_bridge_sends(
    typed: type, schema: str, left_out: set[str]
) -> None:
    assert list(get_type_hints(typed)) == [f for f in fields(schema) if f not in left_out]


def test_nested_and_basis_types_follow_the_schemas() -> None:
    assert list(get_type_hints(PnlFigures)) == ["floating", "realizedToday", "total"]
    assert list(get_type_hints(LargestPosition)) == [
        "positionId",
        "symbol",
        "side",
        "book",
        "volume",
        "notionalUsd",
    ]
    exposure = fields("ExposureChange")
    assert list(get_type_hints(ExposureBasisData)) == exposure[exposure.index("basis") :]


def test_the_client_subscribes_to_the_new_channels() -> None:
    assert CHANNELS[4:6] == ("pnl-updates", "account-risk")
    client = AnalyticsClient("ws://127.0.0.1:1/ws/analytics", "t", channels=["pnl-updates"])
    assert client is not None
