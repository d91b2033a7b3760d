"""Instruments: a symbol's base and quote currency (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    base: str
    quote: str


def instrument(symbol: str, overrides: Mapping[str, tuple[str, str]] | None = None) -> Instrument:
    """Base and quote currency of a symbol: ``overrides`` first; else a 6-letter A-Z symbol
    splits 3+3 (EURUSD, XAUUSD); else a CFD quoted in USD whose base "currency" is the symbol
    itself (US500 -> base US500, quote USD), so its USD rate is its own price."""
    if overrides is not None and symbol in overrides:
        base, quote = overrides[symbol]
        return Instrument(symbol, base, quote)
    if len(symbol) == 6 and symbol.isascii() and symbol.isalpha() and symbol.isupper():
        return Instrument(symbol, symbol[:3], symbol[3:])
    return Instrument(symbol, symbol, "USD")
