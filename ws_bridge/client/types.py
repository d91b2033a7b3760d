"""The ``data`` of the bridge's P&L, account-risk and markouts messages, typed (docs/bridge.md
section 1, docs/pnl.md, docs/markouts.md): for ``client.on("pnl-change", ...)``,
``client.on("account-risk-top", ...)``, ``client.on("account-toxicity", ...)`` (and
``routing-advice``, ``lp-markout``, ``markout-curve``) callbacks, and the exposure-change basis
fields. Plain ``TypedDict`` descriptions of the JSON the bridge sends (no parsing, no checks): a
callback annotates ``message["data"]`` with them.

Money is USD; + is a gain for the party named (the broker for the PnlChange totals and its
``bySymbol``/``byCurrency``, the clients for ``clientsByBook`` and an account's figures). NaN
and infinities, which JSON cannot carry, arrive as None.
"""

from __future__ import annotations

from typing import TypedDict

PNL_CHANNEL = "pnl-updates"
PNL_TYPE = "pnl-change"
ACCOUNT_RISK_CHANNEL = "account-risk"  # client data: roles risk and admin by default
ACCOUNT_RISK_TYPE = "account-risk-top"
MARKOUTS_CHANNEL = "markouts"  # lp-markout, markout-curve
FLOW_TOXICITY_CHANNEL = "flow-toxicity"  # account-toxicity, routing-advice: roles risk, admin


class PnlFigures(TypedDict):
    floating: float
    realizedToday: float
    total: float


class PnlChangeData(TypedDict):
    """``pnl-change``: the broker's B-book P&L (its clients' B-book P&L, sign flipped)."""

    tradingDay: str  # ISO date; the day rolls at 17:00 New York by default
    floating: float
    realizedToday: float
    total: float
    bySymbol: dict[str, PnlFigures]
    byCurrency: dict[str, PnlFigures]  # the quote currency the P&L accrues in
    clientsByBook: dict[str, PnlFigures]  # ABOOK, BBOOK: the clients' side
    positionCount: int
    markedAtMid: list[str]
    unmarked: list[str]
    unconverted: list[str]


class LargestPosition(TypedDict):
    positionId: str
    symbol: str
    side: str  # BUY or SELL (the client's side)
    book: str  # ABOOK or BBOOK
    volume: float
    notionalUsd: float


class AccountRiskData(TypedDict):
    """One account's risk (the client's side): an item of the top lists."""

    eventTime: int  # microseconds since the epoch, UTC
    tradingDay: str
    accountId: str
    basis: str  # bbook-net, bbook-gross or gross
    openPositions: int
    exposure: float
    floatingPnl: float
    realizedToday: float
    pnlToday: float
    largestPosition: LargestPosition | None
    markedAtMid: bool
    unconverted: list[str]


class AccountRiskTopData(TypedDict):
    """``account-risk-top``: the top-N accounts, largest first (ties by accountId)."""

    tradingDay: str
    basis: str
    n: int
    accounts: int  # accounts with open positions or P&L realised today
    byExposure: list[AccountRiskData]
    byFloatingPnl: list[AccountRiskData]
    byRealizedToday: list[AccountRiskData]


class BbookNet(TypedDict):
    volume: float  # base units, + = the broker is long
    usd: float


class ExposureBasisData(TypedDict, total=False):
    """The basis fields of ``exposure-change`` (present when the worker says: every worker
    since the basis), beside the contract's fields."""

    basis: str | None
    basisExposure: float | None
    basisBySymbol: dict[str, float]
    basisByCurrency: dict[str, float]
    bbookNetBySymbol: dict[str, BbookNet]
    bbookNetByCurrency: dict[str, float]
    bbookNetLong: float | None
    bbookNetShort: float | None


# --- markouts (docs/markouts.md): from the broker's side, + = good for the broker ------------


class MarkoutFigures(TypedDict):
    """Per-horizon figures of a window of trades, lists aligned with ``horizonsMs``; None where
    no trade has a known markout (or, for USD, a rate)."""

    horizonsMs: list[int]
    knownCount: list[int]
    meanMarkoutBps: list[float | None]
    meanMarkoutUsd: list[float | None]
    sumMarkoutUsd: list[float]
    clientFavourPct: list[float | None]  # share of trades the market moved the client's way


class AccountToxicityData(MarkoutFigures):
    """``account-toxicity``: an account's flow figures and its toxicity score."""

    accountId: str
    trades: int
    scoreHorizonMs: int
    clientWins: int
    clientLosses: int
    z: float | None
    score: float | None  # 0..100; None before markouts.min_trades trades are known
    level: str  # unscored, normal, watch or toxic
    closedPositions: int
    meanHoldingTimeS: float | None


class RoutingAdviceData(TypedDict):
    """``routing-advice``: the book recommended for an account's next orders."""

    accountId: str
    recommendedBook: str  # ABOOK (toxic flow) or BBOOK
    level: str
    score: float | None
    trades: int
    reason: str


class LpMarkoutData(MarkoutFigures):
    """``lp-markout``: an LP's A-book fills' markouts and its last-look test."""

    lpName: str
    fills: int
    decisions: int
    adverseDecisions: int
    adverseRejects: int
    otherDecisions: int
    otherRejects: int
    unknownMoves: int
    rejectRateAfterAdverse: float | None
    rejectRateOtherwise: float | None
    lastLookZ: float | None
    lastLookSuspected: bool


class MarkoutCurveData(MarkoutFigures):
    """``markout-curve``: mean markout against horizon for a symbol (``*``: all) and a book."""

    symbol: str
    book: str
    trades: int
