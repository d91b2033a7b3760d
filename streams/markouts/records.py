"""The records of the markout stage and its aggregates (pure): one TypedDict per Avro schema
(``schemas/avro/TradeMarkout.avsc``, ``AccountToxicity``, ``LpMarkout``, ``MarkoutCurve``,
``RoutingAdvice``), the internal :class:`LastLookSample`, and the :class:`Alert` shape of
``schemas/avro/Alert.avsc`` (so the worker publishes toxic-flow alerts in the alert log).

Field names are camelCase like every record on the wire; times are int microseconds since the
epoch (UTC); per-horizon figures are arrays aligned with ``horizonsMs``.

Alert ids have the contract's format ``YYYYMMDD-HHMMSS-xxxxxx`` (UTC second of the cause, then
six hex digits of sha256 of the cause): :func:`cause_id`. This package never imports
``streams.alerts`` (domain packages are independent), hence its own function.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Final, TypedDict

KNOWN: Final = "KNOWN"
NO_QUOTE: Final = "NO_QUOTE"
TIMED_OUT: Final = "TIMED_OUT"
STATUSES: Final = (KNOWN, NO_QUOTE, TIMED_OUT)
"""MarkoutStatus: KNOWN; NO_QUOTE (final, but no quote at or before the time asked for);
TIMED_OUT (the symbol's quotes did not pass the horizon within ``max_wait_s``)."""

LEVELS: Final = ("unscored", "normal", "watch", "toxic")
"""ToxicityLevel, lowest first."""

ALL_SYMBOLS: Final = "*"
"""The ``symbol`` of a markout curve over every symbol."""


class TradeMarkout(TypedDict):
    """One executed trade marked out at every horizon (arrays aligned with ``horizonsMs``),
    from the broker's side: positive = good for the broker."""

    tradeId: str  # the routing decision's eventId, the Kafka key
    orderId: str | None
    eventTime: int  # the fill time
    symbol: str
    side: str  # the client's side
    volume: float
    book: str
    lpName: str | None
    accountId: str | None
    price: float
    midAtFill: float | None
    horizonsMs: list[int]
    midAtHorizon: list[float | None]
    markout: list[float | None]  # price units per unit of volume
    markoutBps: list[float | None]
    markoutUsd: list[float | None]
    status: list[str]


class LastLookSample(TypedDict):
    """An A-book decision (fill or reject) and how the mid moved while the LP held it: from
    ``requestTime`` (decision time - executionTimeMs) to ``eventTime``. Internal: feeds
    :class:`streams.markouts.lps.LpBoard`."""

    sampleId: str  # the routing decision's eventId
    eventTime: int
    requestTime: int
    lpName: str
    symbol: str
    side: str
    rejected: bool
    midAtRequest: float | None
    midAtDecision: float | None
    moveAgainstLpBps: float | None  # > 0: the mid moved in the client's favour
    status: str


class Figures(TypedDict):
    """Per-horizon figures of a window of trade markouts (arrays aligned with horizonsMs)."""

    horizonsMs: list[int]
    knownCount: list[int]
    meanMarkoutBps: list[float | None]
    meanMarkoutUsd: list[float | None]
    sumMarkoutUsd: list[float]
    clientFavourPct: list[float | None]


class AccountToxicity(Figures):
    eventTime: int
    accountId: str
    trades: int
    scoreHorizonMs: int
    clientWins: int
    clientLosses: int
    z: float | None
    score: float | None
    level: str
    closedPositions: int
    meanHoldingTimeS: float | None


class LpMarkout(Figures):
    eventTime: int
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


class MarkoutCurve(Figures):
    eventTime: int
    symbol: str  # or ALL_SYMBOLS
    book: str
    trades: int


class RoutingAdvice(TypedDict):
    eventTime: int
    accountId: str
    recommendedBook: str
    level: str
    score: float | None
    trades: int
    reason: str


class Alert(TypedDict):
    """The shape of ``schemas/avro/Alert.avsc``."""

    id: str
    eventTime: int
    severity: str
    category: str
    title: str
    message: str
    source: str
    actionItems: list[str]
    state: str
    resolvesId: str | None
    ruleId: str | None
    value: float | None
    threshold: float | None


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def cause_id(event_time_micros: int, cause: str) -> str:
    """The contract's alert id for a cause at an event time: ``YYYYMMDD-HHMMSS-xxxxxx``."""
    when = _EPOCH + timedelta(microseconds=event_time_micros)
    stamp = f"{when.year:04d}{when.month:02d}{when.day:02d}-{when:%H%M%S}"
    return stamp + "-" + hashlib.sha256(cause.encode("utf-8", "surrogatepass")).hexdigest()[:6]


def horizon_label(horizon_ms: int) -> str:
    """``1s``, ``250ms``, ``2m``: the label of a horizon in texts and dashboards."""
    if horizon_ms % 60_000 == 0:
        return f"{horizon_ms // 60_000}m"
    if horizon_ms % 1_000 == 0:
        return f"{horizon_ms // 1_000}s"
    return f"{horizon_ms}ms"
