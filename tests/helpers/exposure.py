"""Position records as ``events.validate`` returns them."""

from __future__ import annotations

from typing import Any

from streams import events

T0 = 1_768_818_645_123_456  # 2026-01-19T10:30:45.123456Z


def pos(
    pid: str,
    version: int = 1,
    *,
    symbol: str = "EURUSD",
    side: str = "BUY",
    volume: float = 100_000.0,
    open_price: float = 1.0,
    current_price: float | None = None,
    book: str = "BBOOK",
    lp: str | None = None,
    status: str = "OPEN",
    t: int = T0,
) -> dict[str, Any]:
    """A PositionState exactly as ``events.validate`` returns it."""
    rec = events.position(
        position_id=pid,
        account_id="acc-1",
        symbol=symbol,
        side=side,
        volume=volume,
        open_price=open_price,
        current_price=current_price,
        book=book,
        lp=lp,
        status=status,
        version=version,
        event_id="00000000-0000-4000-8000-000000000000",
        event_time=t,
    )
    return events.validate("PositionState", rec)
