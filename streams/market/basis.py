"""Exposure bases: what a limit is measured on, and the shorthand net open position (pure).

- ``bbook-net`` (the default): the broker's net open position from its B-book currency legs,
  by the shorthand method: each currency's net position valued in USD, then the larger of the
  summed long and the summed short positions, the reporting currency (USD) itself excluded;
- ``bbook-gross``: the gross notional of B-book positions;
- ``gross``: the gross notional of every position, A- and B-book (the old hub's figure).

Why ``bbook-net`` is the default: docs/exposure.md, "Exposure basis".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from streams.market.exact import ExactSum
from streams.market.rates import REPORTING_CURRENCY
from streams.settings import ConfigError

Basis = Literal["bbook-net", "bbook-gross", "gross"]
BASES: tuple[Basis, ...] = ("bbook-net", "bbook-gross", "gross")
DEFAULT_BASIS: Basis = "bbook-net"


def parse_basis(key: str, value: object) -> Basis:
    """A basis name, or ConfigError naming ``key``."""
    for basis in BASES:
        if value == basis:
            return basis
    raise ConfigError(f"{key}={value!r}: expected one of {', '.join(BASES)}")


@dataclass(frozen=True, slots=True)
class NetOpenPosition:
    """The shorthand method's figures in USD: summed long and short (as a positive number)
    currency positions, the reporting currency excluded; ``nop`` is the larger of the two."""

    long: float
    short: float

    @property
    def nop(self) -> float:
        return max(self.long, self.short)


def currency_positions(
    legs_u: Mapping[str, int], rates: Mapping[str, float]
) -> dict[str, ExactSum]:
    """Each currency's net position (millionths) valued exactly in USD; currencies without a
    rate are left out (the caller lists the symbols it could not convert)."""
    return {c: ExactSum().add(amount, rates[c]) for c, amount in legs_u.items() if c in rates}


def net_open_position(legs_u: Mapping[str, int], rates: Mapping[str, float]) -> NetOpenPosition:
    """Shorthand net open position of net currency positions ``legs_u`` (millionths of each
    currency, + long): every currency valued exactly, the longs and the shorts summed exactly
    and each rounded once to micro-USD."""
    long, short = ExactSum(), ExactSum()
    for ccy, value in currency_positions(legs_u, rates).items():
        if ccy == REPORTING_CURRENCY:
            continue
        if value.sign() > 0:
            long.add_sum(value)
        elif value.sign() < 0:
            short.add_sum(value.negated())
    return NetOpenPosition(long.value(), short.value())
