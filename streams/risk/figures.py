"""Exact figures from group sums at the current prices and rates (pure; docs/pnl.md).

Both the broker's P&L (from the sums of every account) and one account's risk (from its own
sums) are computed here, the same way: every amount an exact sum rounded once to micro-USD, so
no figure depends on the order or the split of the sums. Sums are keyed by (symbol, book,
side) and hold [positions, Σ⟦v⟧, Σ⟦v·o⟧, Σ⟦v·mark⟧] (millionths).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from streams.market.basis import Basis, net_open_position
from streams.market.exact import SCALE, ExactSum
from streams.market.instruments import Instrument, instrument
from streams.risk.marks import Price, add_floating
from streams.risk.partial import Largest
from streams.risk.records import LargestPosition, PnlChange, PnlFigures, figures

GroupKey = tuple[str, str, str]  # (symbol, book, side)
GroupSums = Mapping[GroupKey, Sequence[int]]  # [positions, volume_u, value_u, mark_u]
# Per group: (the volume, value and mark sums, price and rate it was computed at; its P&L)
FloatingCache = dict[GroupKey, tuple[tuple[int, int, int, Price | None, float], ExactSum]]
BBOOK = "BBOOK"


@dataclass
class Market:
    """Prices and USD rates at one moment, and the instruments (with configured overrides)."""

    prices: Mapping[str, Price]
    rates: Mapping[str, float]
    overrides: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    _instruments: dict[str, Instrument] = field(default_factory=dict)

    def instrument(self, symbol: str) -> Instrument:
        inst = self._instruments.get(symbol)
        if inst is None:
            inst = self._instruments[symbol] = instrument(symbol, self.overrides)
        return inst

    def quote_rate(self, symbol: str) -> float | None:
        return self.rates.get(self.instrument(symbol).quote)

    def base_rate(self, symbol: str) -> float | None:
        return self.rates.get(self.instrument(symbol).base)


class AccountFigures(NamedTuple):
    positions: int
    exposure: float
    floating: ExactSum
    marked_at_mid: bool
    unconverted: list[str]


def account_figures(groups: GroupSums, market: Market, basis: Basis) -> AccountFigures:
    """An account's open positions, exposure on ``basis`` and floating P&L (its own: client
    side). Symbols without a USD rate for their base or quote are left out of the amounts."""
    floating, gross = ExactSum(), ExactSum()
    legs: dict[str, int] = {}  # the broker's B-book currency legs against this account
    positions, at_mid, unconverted = 0, False, set()
    for (symbol, book, side), (n, volume_u, value_u, mark_u) in groups.items():
        positions += n
        inst = market.instrument(symbol)
        base_rate, quote_rate = market.rates.get(inst.base), market.rates.get(inst.quote)
        if base_rate is None or quote_rate is None:
            unconverted.add(symbol)
            continue
        price = market.prices.get(symbol)
        at_mid |= price is not None and price.one_sided
        add_floating(floating, side, volume_u, value_u, mark_u, price, quote_rate)
        if basis == "gross" or (basis == "bbook-gross" and book == BBOOK):
            gross.add(volume_u, base_rate)
        elif basis == "bbook-net" and book == BBOOK:
            sign = 1 if side == "BUY" else -1
            legs[inst.base] = legs.get(inst.base, 0) - sign * volume_u
            legs[inst.quote] = legs.get(inst.quote, 0) + sign * value_u
    exposure = net_open_position(legs, market.rates).nop if basis == "bbook-net" else gross.value()
    return AccountFigures(positions, exposure, floating, at_mid, sorted(unconverted))


def largest_position(candidates: Iterable[Largest], market: Market) -> LargestPosition | None:
    """The largest of the per-symbol largest positions by USD notional (volume x rate(base));
    ties go to the smaller positionId; symbols without a rate are left out."""
    best: tuple[int, str, Largest] | None = None
    for x in candidates:
        rate = market.base_rate(x.symbol)
        if rate is None:
            continue
        micro = ExactSum().add(x.volume_u, rate).rounded()
        if best is None or (micro, best[1]) > (best[0], x.position_id):
            best = (micro, x.position_id, x)
    if best is None:
        return None
    micro, _, x = best
    return {
        "positionId": x.position_id,
        "symbol": x.symbol,
        "side": x.side,
        "book": x.book,
        "volume": x.volume_u / SCALE,
        "notionalUsd": micro / SCALE,
    }


class _Totals:
    """Floating and realised P&L of one line of the P&L record, exact (USD millionths)."""

    __slots__ = ("floating", "realized")

    def __init__(self) -> None:
        self.floating = ExactSum()
        self.realized = ExactSum()

    def figures(self, sign: int = 1) -> PnlFigures:
        floating, realized = self.floating, self.realized
        if sign < 0:
            floating, realized = floating.negated(), realized.negated()
        total = ExactSum().add_sum(floating).add_sum(realized)
        return figures(floating.value(), realized.value(), total.value())


K = TypeVar("K")


def _line(lines: dict[K, _Totals], key: K) -> _Totals:
    line = lines.get(key)
    if line is None:
        line = lines[key] = _Totals()
    return line


class _Marking(NamedTuple):
    clients: dict[tuple[str, str], _Totals]  # (symbol, book): the clients' floating P&L
    at_mid: list[str]
    unmarked: list[str]
    unconverted: list[str]
    bbook_positions: int


def _marked(groups: GroupSums, market: Market, cache: FloatingCache | None) -> _Marking:
    """Every group's floating P&L (clients' side), kept in ``cache`` per group while its sums,
    price and rate stay the same."""
    clients: dict[tuple[str, str], _Totals] = {}
    at_mid, unmarked, unconverted = set(), set(), set()
    count = 0
    for (symbol, book, side), (n, volume_u, value_u, mark_u) in groups.items():
        rate = market.quote_rate(symbol)
        if rate is None:
            unconverted.add(symbol)
            continue
        price = market.prices.get(symbol)
        if price is None:
            unmarked.add(symbol)
        elif price.one_sided:
            at_mid.add(symbol)
        stamp = (volume_u, value_u, mark_u, price, rate)
        cached = None if cache is None else cache.get((symbol, book, side))
        if cached is not None and cached[0] == stamp:
            floating = cached[1]
        else:
            floating = ExactSum()
            add_floating(floating, side, volume_u, value_u, mark_u, price, rate)
            if cache is not None:
                cache[(symbol, book, side)] = (stamp, floating)
        _line(clients, (symbol, book)).floating.add_sum(floating)
        count += n if book == BBOOK else 0
    if cache is not None and len(cache) > len(groups):
        for gone in [k for k in cache if k not in groups]:
            del cache[gone]
    return _Marking(clients, sorted(at_mid), sorted(unmarked), sorted(unconverted), count)


def pnl_change(
    groups: GroupSums,
    realized: Mapping[tuple[str, str], ExactSum],
    market: Market,
    *,
    event_time: int,
    trading_day: str,
    cache: FloatingCache | None = None,
) -> PnlChange:
    """The ``PnlChange`` record from the sums of all accounts and the realised P&L of the day
    per (symbol, book) in USD millionths (converted at the rates when realised). With a
    ``cache`` (kept by the caller between calls), a group whose sums, price and rate did not
    change since the last call is not computed again: a quote costs its own symbols."""
    marking = _marked(groups, market, cache)
    clients = marking.clients
    for key, amount in realized.items():
        _line(clients, key).realized.add_sum(amount)
    by_book: dict[str, _Totals] = {}
    by_symbol: dict[str, _Totals] = {}
    by_currency: dict[str, _Totals] = {}
    for (symbol, book), t in sorted(clients.items()):
        lines = [_line(by_book, book)]
        if book == BBOOK:
            lines.append(_line(by_symbol, symbol))
            lines.append(_line(by_currency, market.instrument(symbol).quote))
        for line in lines:
            line.floating.add_sum(t.floating)
            line.realized.add_sum(t.realized)
    broker = by_book.get(BBOOK, _Totals()).figures(-1)
    return {
        "eventTime": event_time,
        "tradingDay": trading_day,
        "floating": broker["floating"],
        "realizedToday": broker["realizedToday"],
        "total": broker["total"],
        "bySymbol": {s: t.figures(-1) for s, t in sorted(by_symbol.items())},
        "byCurrency": {c: t.figures(-1) for c, t in sorted(by_currency.items())},
        "clientsByBook": {b: t.figures() for b, t in sorted(by_book.items())},
        "positionCount": marking.bbook_positions,
        "markedAtMid": marking.at_mid,
        "unmarked": marking.unmarked,
        "unconverted": marking.unconverted,
    }
