"""Marking open positions: the price a position would close at, and its floating P&L (pure).

A client long closes by selling, at the bid; a client short by buying, at the ask. When a
quote has one side only (or the source gives a mid only) the other side is marked at the mid,
and the figures say so (``markedAtMid``). A symbol without any price is marked at its
positions' own marks (``currentPrice``, else the open price: no P&L), said too (``unmarked``).

From the group sums V = Σ⟦v⟧, S = Σ⟦v·o⟧ and M = Σ⟦v·mark⟧ (millionths):

    client long   P&L = bid · V − S        (no price: M − S)
    client short  P&L = S − ask · V        (no price: S − M)

in quote currency; times the quote currency's USD rate for USD. One tick costs O(groups).
"""

from __future__ import annotations

from typing import NamedTuple

from streams.market.exact import ExactSum
from streams.market.rates import valid_price


class Price(NamedTuple):
    """A symbol's latest price: either side may be missing (None); ``mid`` is (bid + ask) / 2
    with both sides, else the one side there is, else the mid a mid-only source gave."""

    bid: float | None
    ask: float | None
    mid: float

    @property
    def one_sided(self) -> bool:
        return self.bid is None or self.ask is None

    @property
    def long_mark(self) -> float:
        """Where a client long closes: the bid, else the mid."""
        return self.mid if self.bid is None else self.bid

    @property
    def short_mark(self) -> float:
        """Where a client short closes: the ask, else the mid."""
        return self.mid if self.ask is None else self.ask


def quote_price(bid: float | None, ask: float | None) -> Price | None:
    """The price of a quote; a side that is not a finite number > 0 counts as missing. None
    when no side is usable. (Validation rejects crossed quotes before they get here.)"""
    b = bid if valid_price(bid) else None
    a = ask if valid_price(ask) else None
    if b is not None and a is not None:
        return Price(b, a, b / 2 + a / 2)
    one = b if b is not None else a
    return None if one is None else Price(b, a, one)


def mid_price(mid: float | None) -> Price | None:
    """The price of a mid-only source (both sides marked at the mid)."""
    return Price(None, None, mid) if mid is not None and valid_price(mid) else None


def add_floating(
    acc: ExactSum,
    side: str,
    volume_u: int,
    value_u: int,
    mark_u: int,
    price: Price | None,
    rate: float,
) -> None:
    """Adds the clients' floating P&L of one (symbol, side) group, in millionths of quote
    currency times ``rate`` (1.0 for quote currency, its USD rate for USD), exactly."""
    if side == "BUY":
        if price is None:
            acc.add(mark_u - value_u, rate)
        else:
            acc.add(volume_u, price.long_mark, rate).add(-value_u, rate)
    elif price is None:
        acc.add(value_u - mark_u, rate)
    else:
        acc.add(value_u, rate).add(-volume_u, price.short_mark, rate)
