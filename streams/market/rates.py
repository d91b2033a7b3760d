"""USD rates from quote mids: USD per unit of every currency reachable through crosses (pure).
Formulas: docs/exposure.md, "Stage 2: USD conversion"."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from streams.market.exact import ExactSum
from streams.market.instruments import Instrument, instrument

REPORTING_CURRENCY = "USD"
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def quote_mid(quote: Mapping[str, Any]) -> float:
    """Mid of a validated Quote record."""
    return float(quote["bid"]) / 2 + float(quote["ask"]) / 2


def valid_price(x: float | None) -> bool:
    """A usable price: not None, finite and > 0."""
    return x is not None and x > 0 and math.isfinite(x)


def usd_rates(
    mids: Mapping[str, float],
    instruments: Mapping[str, Instrument],
    fallback_marks: Mapping[str, float] = _EMPTY,
) -> dict[str, float]:
    """USD per unit of each currency reachable from USD through the symbols' mids.

    A symbol's mid is its quote mid, else its fallback mark. Rates spread out from USD=1 in
    rounds; a round uses only the rates known before it, so a currency gets its rate from the
    fewest hops: direct USD pairs (round 1) always beat crosses. Within a round, quote mids
    beat fallback marks, then the first symbol in sorted order wins: deterministic.
    """
    candidates: list[tuple[int, str, Instrument, float]] = []
    for sym in sorted(set(mids) | set(fallback_marks)):
        mid, rank = mids.get(sym), 0
        if not valid_price(mid):
            mid, rank = fallback_marks.get(sym), 1
        if mid is not None and valid_price(mid):
            inst = instruments.get(sym) or instrument(sym)
            if inst.base != inst.quote:
                candidates.append((rank, sym, inst, mid))
    candidates.sort(key=lambda c: (c[0], c[1]))
    rates = {REPORTING_CURRENCY: 1.0}
    while True:
        found: dict[str, float] = {}
        for _, _, inst, mid in candidates:
            base, quote = inst.base, inst.quote
            if quote in rates and base not in rates:
                ccy, rate = base, mid * rates[quote]
            elif base in rates and quote not in rates:
                ccy, rate = quote, rates[base] / mid
            else:
                continue
            if ccy not in found and valid_price(rate):
                found[ccy] = rate
        if not found:
            return rates
        rates.update(found)


def usd_value(amounts_u: Mapping[str, int], rates: Mapping[str, float]) -> float:
    """Sum of amount (millionths of a currency) x its USD rate, as a float of whole micro-USD:
    the exact sum rounded once, half to even (see :class:`streams.market.exact.ExactSum`)."""
    total = ExactSum()
    for ccy, amount_u in amounts_u.items():
        total.add(amount_u, rates[ccy])
    return total.value()
