"""The bridge's risk channels (docs/bridge.md section 1): ``pnl-updates`` (``pnl-change``) for
any authenticated user and ``account-risk`` (``account-risk-top``) for the roles risk and admin
by default, each with the latest message as the snapshot on subscribe; ``exposure-change`` says
which basis it is measured on, and a record without a basis gives the frame it always gave."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers.bridge import (
    T0,
    T0_US,
    context,
    exposure_record,
    identity,
    roundtrip,
    session,
)
from tests.helpers.risk import pnl_figures as figures
from ws_bridge.core.fanout import Fanout
from ws_bridge.core.protocol import CHANNELS, SCHEMA_ROUTES, encode, to_message


def pnl_record(total: float = -4752.0, t: int = T0_US) -> dict[str, Any]:
    return roundtrip(
        "PnlChange",
        {
            "eventTime": t,
            "tradingDay": "2026-01-20",
            "floating": -4120.0,
            "realizedToday": -632.0,
            "total": total,
            "bySymbol": {"EURUSD": figures(-1980.0)},
            "byCurrency": {"USD": figures(-1980.0)},
            "clientsByBook": {"BBOOK": figures(4752.0), "ABOOK": figures(float("nan"))},
            "positionCount": 4,
            "markedAtMid": [],
            "unmarked": ["XAUUSD"],
            "unconverted": [],
        },
    )


def account(account_id: str, exposure: float) -> dict[str, Any]:
    return {
        "eventTime": T0_US,
        "tradingDay": "2026-01-20",
        "accountId": account_id,
        "basis": "bbook-net",
        "openPositions": 2,
        "exposure": exposure,
        "floatingPnl": 100.0,
        "realizedToday": 0.0,
        "pnlToday": 100.0,
        "largestPosition": None,
        "markedAtMid": False,
        "unconverted": [],
    }


def top_record(t: int = T0_US) -> dict[str, Any]:
    return roundtrip(
        "AccountRiskTop",
        {
            "eventTime": t,
            "tradingDay": "2026-01-20",
            "basis": "bbook-net",
            "n": 20,
            "accounts": 2,
            "byExposure": [account("acc-A", 66000.0), account("acc-B", 44000.0)],
            "byFloatingPnl": [],
            "byRealizedToday": [],
        },
    )


def test_the_risk_records_have_their_channels_and_types() -> None:
    assert SCHEMA_ROUTES["PnlChange"] == ("pnl-updates", "pnl-change")
    assert SCHEMA_ROUTES["AccountRiskTop"] == ("account-risk", "account-risk-top")
    assert CHANNELS[:4] == ("routing-metrics", "lp-performance", "exposure-updates", "alerts")


def test_pnl_change_carries_every_field_and_nan_becomes_null() -> None:
    message = to_message("PnlChange", pnl_record())
    assert message["type"] == "pnl-change"
    assert message["timestamp"] == "2026-01-19T10:30:45.123456Z"
    data = message["data"]
    assert "eventTime" not in data and data["tradingDay"] == "2026-01-20"
    assert (data["floating"], data["realizedToday"], data["total"]) == (-4120.0, -632.0, -4752.0)
    assert data["bySymbol"]["EURUSD"] == figures(-1980.0)
    assert data["clientsByBook"]["ABOOK"] == {"floating": None, "realizedToday": 0.0, "total": None}
    assert data["unmarked"] == ["XAUUSD"] and data["positionCount"] == 4
    json.dumps(message, allow_nan=False)


def test_account_risk_top_carries_the_lists() -> None:
    data = to_message("AccountRiskTop", top_record())["data"]
    assert [r["accountId"] for r in data["byExposure"]] == ["acc-A", "acc-B"]
    assert (data["basis"], data["n"], data["accounts"]) == ("bbook-net", 20, 2)


def test_exposure_change_says_its_basis_and_the_old_frame_stays_without_one() -> None:
    old = to_message("ExposureChange", exposure_record())
    assert list(old["data"]) == [
        "totalExposure",
        "netExposure",
        "exposureLimit",
        "utilizationPct",
        "riskLevel",
        "bySymbol",
        "byLP",
    ]
    record = exposure_record(
        byBook={"BBOOK": 80000.0},
        positionCount=3,
        basis="bbook-net",
        basisExposure=54250.0,
        basisBySymbol={"EURUSD": 54250.0},
        basisByCurrency={"EUR": -54250.0, "USD": 54250.0},
        bbookNetBySymbol={"EURUSD": {"volume": -50000.0, "usd": -54250.0}},
        bbookNetByCurrency={"EUR": -54250.0, "USD": 54250.0},
        bbookNetLong=0.0,
        bbookNetShort=54250.0,
    )
    data = to_message("ExposureChange", record)["data"]
    assert list(data)[:7] == list(old["data"]), "the contract's fields first, as they were"
    assert data["basis"] == "bbook-net" and data["basisExposure"] == 54250.0
    assert data["bbookNetBySymbol"] == {"EURUSD": {"volume": -50000.0, "usd": -54250.0}}
    assert data["bbookNetShort"] == 54250.0


def test_the_latest_pnl_and_top_are_the_snapshot_on_subscribe() -> None:
    fanout = Fanout()
    older, newer = pnl_record(-1.0, T0_US - 1), pnl_record(-2.0)
    fanout.dispatch(
        [
            to_message("PnlChange", newer),
            to_message("PnlChange", older),
            to_message("AccountRiskTop", top_record()),
        ],
        [],
        T0,
    )
    snap = fanout.snapshot(["pnl-updates", "account-risk"])
    assert [(i.channel, i.message["type"]) for i in snap] == [
        ("pnl-updates", "pnl-change"),
        ("account-risk", "account-risk-top"),
    ]
    assert snap[0].message["data"]["total"] == -2.0
    assert fanout.snapshot(["exposure-updates"]) == []
    sess = session(context(fanout=fanout), channels=("pnl-updates",))
    first = sess.next_batch(T0) or []
    assert [m["type"] for m in first] == ["pnl-change"]


def test_account_risk_is_for_risk_and_admin_by_default() -> None:
    fanout = Fanout()
    fanout.dispatch([encode(to_message("AccountRiskTop", top_record())).message], [], T0)
    viewer = session(context(fanout=fanout), ident=identity(roles=("viewer",)))
    viewer.receive('{"action":"subscribe","channels":["account-risk","pnl-updates"]}', T0)
    assert viewer.subscriptions == {"pnl-updates"}
    error = (viewer.next_batch(T0) or [])[0]
    assert (error["data"]["code"], error["data"]["channel"]) == ("forbidden", "account-risk")
    for role in ("risk", "admin"):
        desk = session(
            context(fanout=fanout), ident=identity(roles=(role,)), channels=("account-risk",)
        )
        assert desk.subscriptions == {"account-risk"}
        assert [m["type"] for m in desk.next_batch(T0) or []] == ["account-risk-top"]
