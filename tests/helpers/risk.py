"""PositionState records with the proposed realised-P&L fields (docs/proposals/
PositionState.avsc), for the risk tests; quotes; a stage-1-to-global helper."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.risk import RiskBook, RiskConfig, RiskView

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(iso: str) -> int:
    """Microseconds since the epoch of an ISO time with an offset (``...Z`` allowed)."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (moment - EPOCH) // timedelta(microseconds=1)


def position(
    pid: str,
    version: int = 1,
    *,
    account: str = "acc-1",
    symbol: str = "EURUSD",
    side: str = "BUY",
    volume: float = 100_000.0,
    open_price: float = 1.0,
    current_price: float | None = None,
    book: str = "BBOOK",
    lp: str | None = None,
    status: str = "OPEN",
    t: int = 0,
    realized: float | None = None,
    realized_delta: float | None = None,
) -> dict[str, Any]:
    """A PositionState as ``events.validate`` returns it, plus ``realizedPnl`` (cumulative)
    and ``realizedPnlDelta`` (this change's part), in quote currency."""
    if book == "ABOOK" and lp is None:
        lp = "LMAX"
    return {
        "eventId": f"00000000-0000-4000-8000-{version:012d}",
        "eventTime": t,
        "positionId": pid,
        "version": version,
        "accountId": account,
        "symbol": symbol,
        "side": side,
        "volume": 0.0 if status == "CLOSED" else volume,
        "openPrice": open_price,
        "currentPrice": current_price,
        "book": book,
        "lp": lp,
        "status": status,
        "realizedPnl": realized,
        "realizedPnlDelta": realized_delta,
    }


Quote = tuple[str, float | None, float | None, int]  # symbol, bid, ask, event time


def run(
    events: Iterable[Mapping[str, Any] | Quote],
    *,
    partitions: int = 1,
    config: RiskConfig | None = None,
    view: RiskView | None = None,
    books: dict[int, RiskBook] | None = None,
) -> RiskView:
    """Feeds positions (to the book of partition hash(positionId) % partitions, drained after
    each event) and quotes (tuples) to a view, as the worker will."""
    view = view or RiskView(config)
    books = {} if books is None else books
    for event in events:
        if isinstance(event, tuple):
            symbol, bid, ask, t = event
            view.on_quote(symbol, bid, ask, t)
            continue
        p = sum(map(ord, event["positionId"])) % partitions
        book = books.setdefault(p, RiskBook(view.config.calendar()))
        book.apply(event)
        for account, partial in book.drain():
            view.put(f"pos:{p}", account, partial, book.last_event_time)
    return view
