"""The risk schemas (schemas/avro/PnlChange, AccountRisk, AccountRiskTop and the evolved
ExposureChange): the records risk and exposure emit write and read back with them, field for
field; PositionState with the realised-P&L fields and its previous version
(schemas/avro/previous/) read each other's records (Avro schema resolution, both ways)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_type_hints

import fastavro
import pytest

from schemas.codec import SCHEMA_DIR
from streams.exposure.book import ExposureLimits, PositionBook, RiskBands
from streams.exposure.usd import BASIS_FIELDS, compute_exposure
from streams.risk import AccountRisk, AccountRiskTop, PnlChange
from tests.helpers.exposure import pos
from tests.helpers.risk import micros, position, run

PREVIOUS = SCHEMA_DIR / "previous"
T = micros("2026-01-20T12:00:00Z")


def raw(name: str, where: Path = SCHEMA_DIR) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((where / f"{name}.avsc").read_text(encoding="utf-8"))
    return loaded


def round_trip(record: Any, writer: dict[str, Any], reader: dict[str, Any] | None = None) -> Any:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(writer), record)
    buf.seek(0)
    read_as = fastavro.parse_schema(reader or writer)
    return fastavro.schemaless_reader(buf, fastavro.parse_schema(writer), read_as)


def plain(value: Any) -> Any:
    """Decoded timestamps back to micros, for comparing with what was written."""
    if isinstance(value, datetime):
        return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def example() -> Any:
    return run(
        [
            ("EURUSD", 1.0998, 1.1002, T),
            position("b1", account="acc-A", volume=60_000.0, open_price=1.08, t=T, realized=0.0),
            position("b1", 2, account="acc-A", volume=50_000.0, open_price=1.08, t=T + 1,
                     realized=100.0),
        ]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "shape"),
    [("PnlChange", PnlChange), ("AccountRisk", AccountRisk), ("AccountRiskTop", AccountRiskTop)],
)
def test_record_shapes_have_the_schemas_fields(name: str, shape: type) -> None:
    assert [f["name"] for f in raw(name)["fields"]] == list(get_type_hints(shape))


def test_the_records_write_and_read_back_with_their_schemas() -> None:
    view = example()
    records = {
        "PnlChange": view.pnl_change(),
        "AccountRisk": view.account_risk("acc-A"),
        "AccountRiskTop": view.top(),
    }
    for name, record in records.items():
        assert plain(round_trip(record, raw(name))) == record, name
    assert raw("AccountRiskTop")["fields"][5]["type"]["items"] == {
        k: v for k, v in raw("AccountRisk").items() if k != "namespace"
    }


def test_exposure_on_a_basis_writes_with_the_exposure_change_schema() -> None:
    book = PositionBook()
    for p in (pos("a", open_price=1.08), pos("b", symbol="USDJPY", side="SELL", open_price=150)):
        book.apply(p)
    args = ({"0": book.partial()}, {"EURUSD": 1.1, "USDJPY": 160.0}, ExposureLimits(), RiskBands())
    record = compute_exposure(*args, event_time=T, basis="bbook-net")
    assert plain(round_trip(record, raw("ExposureChange"))) == record
    legacy = compute_exposure(*args, event_time=T)
    old = raw("ExposureChange.1", PREVIOUS)
    defaults = {k: None if k in _NULLABLE else {} for k in BASIS_FIELDS}  # maps default to {}
    assert plain(round_trip(legacy, old, raw("ExposureChange"))) == {**legacy, **defaults}


_NULLABLE = {"basis", "basisExposure", "bbookNetLong", "bbookNetShort"}


@pytest.mark.parametrize("name", ["PositionState", "ExposureChange"])
def test_evolutions_only_add_fields_with_defaults_at_the_end(name: str) -> None:
    old, new = raw(f"{name}.1", PREVIOUS), raw(name)
    kept = new["fields"][: len(old["fields"])]
    assert [f["name"] for f in kept] == [f["name"] for f in old["fields"]]
    assert all(a["type"] == b["type"] for a, b in zip(kept, old["fields"], strict=True))
    assert all("default" in f for f in new["fields"][len(old["fields"]) :])


def test_position_state_evolves_both_ways() -> None:
    """An old writer's record reads with realizedPnl null; a new writer's reads with the old
    schema (the new fields are skipped)."""
    old, new = raw("PositionState.1", PREVIOUS), raw("PositionState")
    record = position("p1", 3, volume=10.0, open_price=1.1, t=T, realized=12.5, realized_delta=2.5)
    base = {k: v for k, v in record.items() if not k.startswith("realized")}
    assert plain(round_trip(base, old, new)) == {
        **base,
        "realizedPnl": None,
        "realizedPnlDelta": None,
    }
    assert plain(round_trip(record, new, old)) == base
    assert plain(round_trip(record, new)) == record
