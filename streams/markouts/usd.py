"""USD per unit of a symbol's quote currency, for markouts in USD (pure).

The stage takes the conversion as an injected callable ``usd_rate(symbol, mid)`` so that this
package depends on no other domain package. :func:`quote_usd` builds it from what the worker
has: how a symbol splits into base and quote currency, and USD per unit of a currency.

A symbol quoted in USD needs no rate (1); one whose base is USD (USDJPY) converts with its own
mid (1 / mid), so both are functions of the stage's own inputs: the same on replay and for any
split of partitions. Any other (a cross such as EURGBP) takes ``usd_per_unit(quote)``, the
worker's current rate, which depends on when the markout settles (docs/markouts.md, "USD").
"""

from __future__ import annotations

from collections.abc import Callable

from streams.markouts.stage import UsdRate


def quote_usd(
    split: Callable[[str], tuple[str, str]],
    usd_per_unit: Callable[[str], float | None],
) -> UsdRate:
    """``usd_rate(symbol, mid)`` from ``split(symbol) -> (base, quote)`` and
    ``usd_per_unit(currency)`` (USD per unit of a currency, None when unknown)."""

    def usd_rate(symbol: str, mid: float) -> float | None:
        base, quote = split(symbol)
        if quote == "USD":
            return 1.0
        if base == "USD":
            return 1.0 / mid if mid > 0 else None
        return usd_per_unit(quote)

    return usd_rate
