"""PositionState records with the realised-P&L fields (schemas/avro/PositionState.avsc),
for the risk tests; quotes; a stage-1-to-global helper."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.risk import RiskBook, RiskConfig, RiskView
from tests.helpers.exposure import pos

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
    t: int = 0,
    realized: float | None = None,
    realized_delta: float | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A PositionState as ``events.validate`` returns it (``tests.helpers.exposure.pos``
    takes ``fields``), for ``account``, plus ``realizedPnl`` (cumulative) and
    ``realizedPnlDelta`` (this change's part) in quote currency. A CLOSED one has volume 0;
    an ABOOK one is covered by LMAX unless ``lp`` says otherwise."""
    if fields.get("status") == "CLOSED":
        fields["volume"] = 0.0
    if fields.get("book") == "ABOOK":
        fields.setdefault("lp", "LMAX")
    record = pos(pid, version, t=t, **fields)
    record["accountId"] = account
    record["realizedPnl"] = realized
    record["realizedPnlDelta"] = realized_delta
    return record


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


def pnl_figures(total: float) -> dict[str, float]:
    """A P&L line that is all floating."""
    return {"floating": total, "realizedToday": 0.0, "total": total}


def pnl_record(total: float, t: int, trading_day: str = "2026-01-20") -> dict[str, Any]:
    """A PnlChange record whose B-book P&L today is ``total`` (all floating, all EURUSD)."""
    return {
        "eventTime": t,
        "tradingDay": trading_day,
        "floating": total,
        "realizedToday": 0.0,
        "total": total,
        "bySymbol": {"EURUSD": pnl_figures(total)},
        "byCurrency": {"USD": pnl_figures(total)},
        "clientsByBook": {"BBOOK": pnl_figures(-total)},
        "positionCount": 3,
        "markedAtMid": [],
        "unmarked": [],
        "unconverted": [],
    }
