"""docs/pnl.md's worked example, reproduced exactly: the broker's B-book P&L (floating,
realised today at the rate when realised, by symbol and by currency), the clients' P&L by
book, each account's risk and the top accounts, then the trading-day roll."""

from __future__ import annotations

from typing import Any

from streams.risk import RiskView
from tests.helpers.risk import micros, position, run

T = {hm: micros(f"2026-01-20T{hm}:00Z") for hm in ("09:00", "09:30", "10:00", "10:30", "11:00")}
T["12:00"] = micros("2026-01-20T12:00:00Z")
EXAMPLE: list[Any] = [
    position("p5", account="acc-B", symbol="USDJPY", side="SELL", volume=10_000.0,
             open_price=156.77, t=T["09:00"], realized=0.0),
    ("USDJPY", 156.23, 156.27, T["09:00"]),
    position("p5", 2, account="acc-B", symbol="USDJPY", side="SELL", open_price=156.77,
             status="CLOSED", t=T["09:30"], realized=5_000.0, realized_delta=5_000.0),
    position("b1", account="acc-A", volume=100_000.0, open_price=1.08, t=T["10:00"], realized=0.0),
    ("EURUSD", 1.0950, 1.0954, T["10:00"]),
    position("b1", 2, account="acc-A", volume=60_000.0, open_price=1.08, t=T["10:30"],
             realized=600.0, realized_delta=600.0),
    position("b2", account="acc-B", side="SELL", volume=40_000.0, open_price=1.105, t=T["11:00"]),
    position("b3", account="acc-A", symbol="USDJPY", volume=50_000.0, open_price=150.0,
             t=T["11:00"]),
    position("b4", account="acc-C", symbol="EURGBP", side="SELL", volume=30_000.0,
             open_price=0.87, t=T["11:00"]),
    position("a1", account="acc-C", symbol="GBPUSD", volume=200_000.0, open_price=1.24,
             book="ABOOK", lp="LMAX", t=T["11:00"]),
    ("EURUSD", 1.0998, 1.1002, T["12:00"]),
    ("USDJPY", 159.98, 160.02, T["12:00"]),
    ("GBPUSD", 1.2498, 1.2502, T["12:00"]),
    ("EURGBP", 0.8799, 0.8801, T["12:00"]),
]  # fmt: skip


def figures(floating: float, realized: float, total: float) -> dict[str, float]:
    return {"floating": floating, "realizedToday": realized, "total": total}


def example(partitions: int = 1) -> RiskView:
    return run(EXAMPLE, partitions=partitions)


def test_broker_pnl_by_symbol_currency_and_the_clients_by_book() -> None:
    pnl = example().pnl_change()
    assert pnl["tradingDay"] == "2026-01-20"
    assert pnl["eventTime"] == T["12:00"]
    assert (pnl["floating"], pnl["realizedToday"], pnl["total"]) == (-4_120.0, -632.0, -4_752.0)
    assert pnl["bySymbol"] == {
        "EURGBP": figures(378.75, 0.0, 378.75),
        "EURUSD": figures(-1_380.0, -600.0, -1_980.0),
        "USDJPY": figures(-3_118.75, -32.0, -3_150.75),
    }
    assert pnl["byCurrency"] == {
        "GBP": figures(378.75, 0.0, 378.75),
        "JPY": figures(-3_118.75, -32.0, -3_150.75),
        "USD": figures(-1_380.0, -600.0, -1_980.0),
    }
    assert pnl["clientsByBook"] == {
        "ABOOK": figures(1_960.0, 0.0, 1_960.0),
        "BBOOK": figures(4_120.0, 632.0, 4_752.0),
    }
    assert pnl["positionCount"] == 4
    assert (pnl["markedAtMid"], pnl["unmarked"], pnl["unconverted"]) == ([], [], [])


def test_realised_pnl_keeps_the_rate_of_when_it_was_realised() -> None:
    """5,000 JPY realised at USDJPY 156.25 is 32 USD, not 5,000 / 160 = 31.25 at today's."""
    view = example()
    assert view.pnl_change()["bySymbol"]["USDJPY"]["realizedToday"] == -32.0
    assert view.account_risk("acc-B")["realizedToday"] == 32.0  # type: ignore[index]


def test_each_accounts_risk_on_the_bbook_net_basis() -> None:
    view = example()
    a, b, c = (view.account_risk(x) for x in ("acc-A", "acc-B", "acc-C"))
    assert a is not None and b is not None and c is not None
    assert (a["openPositions"], a["exposure"]) == (2, 66_000.0)
    assert (a["floatingPnl"], a["realizedToday"], a["pnlToday"]) == (4_306.75, 600.0, 4_906.75)
    assert a["largestPosition"] == {
        "positionId": "b1",
        "symbol": "EURUSD",
        "side": "BUY",
        "book": "BBOOK",
        "volume": 60_000.0,
        "notionalUsd": 66_000.0,
    }
    assert (b["openPositions"], b["exposure"], b["floatingPnl"]) == (1, 44_000.0, 192.0)
    assert (b["realizedToday"], b["pnlToday"]) == (32.0, 224.0)
    assert (c["openPositions"], c["exposure"], c["floatingPnl"]) == (2, 33_000.0, 1_581.25)
    assert c["largestPosition"] is not None
    assert (c["largestPosition"]["positionId"], c["largestPosition"]["notionalUsd"]) == (
        "a1",
        250_000.0,
    )
    assert a["basis"] == "bbook-net" and a["tradingDay"] == "2026-01-20"


def test_top_accounts() -> None:
    top = example().top()
    assert (top["n"], top["accounts"], top["basis"]) == (20, 3, "bbook-net")
    assert [r["accountId"] for r in top["byExposure"]] == ["acc-A", "acc-B", "acc-C"]
    assert [r["accountId"] for r in top["byFloatingPnl"]] == ["acc-A", "acc-C", "acc-B"]
    assert [r["accountId"] for r in top["byRealizedToday"]] == ["acc-A", "acc-B"]
    assert top["byExposure"][0] == example().account_risk("acc-A")


def test_the_same_over_three_partitions() -> None:
    one, three = example(), example(partitions=3)
    assert one.pnl_change() == three.pnl_change()
    assert one.top() == three.top()


def test_the_trading_day_roll_resets_realised_pnl_only() -> None:
    """At 17:00 New York (22:00 UTC in January) trading day 2026-01-21 starts."""
    view = example()
    view.on_quote("EURUSD", 1.0998, 1.1002, micros("2026-01-20T21:59:59.999999Z"))
    assert view.pnl_change()["realizedToday"] == -632.0
    view.on_quote("EURUSD", 1.0998, 1.1002, micros("2026-01-20T22:00:00Z"))
    pnl = view.pnl_change()
    assert (pnl["tradingDay"], pnl["floating"], pnl["realizedToday"]) == (
        "2026-01-21",
        -4_120.0,
        0.0,
    )
    a = view.account_risk("acc-A")
    assert a is not None and (a["realizedToday"], a["pnlToday"]) == (0.0, 4_306.75)
    assert view.top()["byRealizedToday"] == []
