"""The records risk emits (field names as in their ``.avsc``, camelCase like
ExposureChange): ``PnlChange``, ``AccountRisk`` and ``AccountRiskTop``.

The schemas are ``schemas/avro/PnlChange.avsc``, ``AccountRisk.avsc`` and
``AccountRiskTop.avsc``; a test writes these records with them.
Money is USD; P&L signs: + is a gain for the party named (the broker, or the clients).
"""

from __future__ import annotations

from typing import TypedDict


class PnlFigures(TypedDict):
    """Floating P&L of the open positions, realised P&L of the trading day, and their sum."""

    floating: float
    realizedToday: float
    total: float


class PnlChange(TypedDict):
    """The broker's B-book result (the clients' B-book P&L with the sign flipped), by symbol
    and by the currency it accrues in (the quote currency), and the clients' P&L by book."""

    eventTime: int
    tradingDay: str
    floating: float
    realizedToday: float
    total: float
    bySymbol: dict[str, PnlFigures]
    byCurrency: dict[str, PnlFigures]
    clientsByBook: dict[str, PnlFigures]
    positionCount: int
    markedAtMid: list[str]
    unmarked: list[str]
    unconverted: list[str]


class LargestPosition(TypedDict):
    positionId: str
    symbol: str
    side: str
    book: str
    volume: float
    notionalUsd: float


class AccountRisk(TypedDict):
    """One account's risk: its own (client-side) P&L, its exposure on the basis."""

    eventTime: int
    tradingDay: str
    accountId: str
    basis: str
    openPositions: int
    exposure: float
    floatingPnl: float
    realizedToday: float
    pnlToday: float
    largestPosition: LargestPosition | None
    markedAtMid: bool
    unconverted: list[str]


class AccountRiskTop(TypedDict):
    """The top-N accounts by |exposure|, by floating P&L and by realised P&L today (largest
    first; ties by accountId), out of ``accounts`` with open positions or realised P&L."""

    eventTime: int
    tradingDay: str
    basis: str
    n: int
    accounts: int
    byExposure: list[AccountRisk]
    byFloatingPnl: list[AccountRisk]
    byRealizedToday: list[AccountRisk]


def figures(floating: float, realized_today: float, total: float) -> PnlFigures:
    return {"floating": floating, "realizedToday": realized_today, "total": total}
