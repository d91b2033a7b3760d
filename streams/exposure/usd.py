"""Exposure stage 2: USD conversion of the merged partials and the ExposureChange record (pure).

The global stage of the worker keeps the latest :class:`streams.exposure.book.Partial` of every
positions partition and the latest quote mid of every symbol. This module turns them into USD:

- :func:`instrument` splits a symbol into base and quote currency (with configured overrides);
- :func:`usd_rates` derives USD per unit of every currency reachable through the mids;
- :func:`evaluate_exposure` / :func:`compute_exposure` merge the partials (exact ints per
  currency) and convert once per figure, returning an ``ExposureChange`` record;
  :func:`unconverted_symbols` lists the symbols left out for lack of a USD rate.

Floats appear only here, at the last step, and each figure is the exact sum rounded once to
micro-USD, so the record does not depend on the order or split of the partials. Stage 1 (the
exact partials) is :mod:`streams.exposure.book`; formulas: ``docs/exposure.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from streams.exposure.book import SCALE, Partial, Sums, sum_rows
from streams.exposure.limits import ExposureLimits, RiskBands

_EMPTY: Mapping[str, Any] = MappingProxyType({})


# --------------------------------------------------------------------------------------------
# Instruments


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


# --------------------------------------------------------------------------------------------
# Stage 2: USD conversion


def quote_mid(quote: Mapping[str, Any]) -> float:
    """Mid of a validated Quote record."""
    return float(quote["bid"]) / 2 + float(quote["ask"]) / 2


def _valid_price(x: float | None) -> bool:
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
        if not _valid_price(mid):
            mid, rank = fallback_marks.get(sym), 1
        if mid is not None and _valid_price(mid):
            inst = instruments.get(sym) or instrument(sym)
            if inst.base != inst.quote:
                candidates.append((rank, sym, inst, mid))
    candidates.sort(key=lambda c: (c[0], c[1]))
    rates = {"USD": 1.0}
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
            if ccy not in found and _valid_price(rate):
                found[ccy] = rate
        if not found:
            return rates
        rates.update(found)


def _usd(amounts_u: Mapping[str, int], rates: Mapping[str, float]) -> float:
    """Sum of amount (millionths of a currency) x its USD rate, as a float of whole micro-USD.

    Exact and independent of order: each rate is a double n / 2**k, so the exact sum is an int
    over 2**K micro-USD; it is rounded once, half to even, to whole micro-USD, and int / int
    true division gives the nearest double. (Rounding to micro-USD keeps binary noise such as
    100,000 x 1.1 = 110000.00000000001 out of the output.)"""
    num, exp = 0, 0
    for ccy, amount_u in amounts_u.items():
        n, d = rates[ccy].as_integer_ratio()
        k = d.bit_length() - 1
        if k > exp:
            num <<= k - exp
            exp = k
        num += (amount_u * n) << (exp - k)
    micro_usd, rest = divmod(num, 1 << exp)
    half = (1 << exp) >> 1
    if exp and (rest > half or (rest == half and micro_usd & 1)):
        micro_usd += 1
    return micro_usd / SCALE


def _add_to(acc: dict[str, int], key: str, amount_u: int) -> None:
    acc[key] = acc.get(key, 0) + amount_u


_MergeKey = tuple[tuple[str, Partial], ...]
_last_merge: list[tuple[_MergeKey, Partial, dict[str, Sums]]] = []


def _merge(partials: Mapping[str, Partial]) -> tuple[Partial, dict[str, Sums]]:
    """All partials summed, and per symbol. Partials are immutable, so the last result is
    reused while the same objects come in (quote ticks change only the rates)."""
    key = tuple(sorted(partials.items(), key=lambda item: item[0]))
    if _last_merge:
        old_key, merged, per_symbol = _last_merge[0]
        if len(old_key) == len(key) and all(
            a[0] == b[0] and a[1] is b[1] for a, b in zip(old_key, key, strict=True)
        ):
            return merged, per_symbol
    merged = Partial.combine(p for _, p in key)
    per_symbol = sum_rows((k[0], s) for k, s in merged.items())  # sorted by symbol
    _last_merge[:] = [(key, merged, per_symbol)]
    return merged, per_symbol


def _evaluate(
    partials: Mapping[str, Partial],
    mids: Mapping[str, float],
    overrides: Mapping[str, tuple[str, str]] | None,
) -> tuple[dict[str, Any], list[str]]:
    """Figures of the merged partials in USD, and the symbols left out (no USD rate).
    Amounts are summed as exact ints per currency first, then converted once per figure."""
    merged, per_symbol = _merge(partials)
    instruments = {s: instrument(s, overrides) for s in sorted(set(mids) | set(per_symbol))}
    fallback = {
        s: t.mark_value_u / t.volume_u
        for s, t in per_symbol.items()
        if t.volume_u > 0 and not _valid_price(mids.get(s))
    }
    rates = usd_rates(mids, instruments, fallback)

    gross_u: dict[str, int] = {}  # currency -> millionths, for totalExposure
    net_u: dict[str, int] = {}
    legs_u: dict[str, int] = {}
    by_symbol: dict[str, float] = {}
    count = 0
    unconverted: list[str] = []
    for sym, t in per_symbol.items():  # sorted, as merged is
        inst = instruments[sym]
        if inst.base not in rates or inst.quote not in rates:
            unconverted.append(sym)
            continue
        count += t.count
        _add_to(gross_u, inst.base, t.volume_u)
        _add_to(net_u, inst.base, t.net_volume_u)
        _add_to(legs_u, inst.base, t.net_volume_u)
        _add_to(legs_u, inst.quote, -t.net_quote_u)
        by_symbol[sym] = _usd({inst.base: t.volume_u}, rates)
    skip = set(unconverted)
    by_book: dict[str, dict[str, int]] = {}
    by_lp: dict[str, dict[str, int]] = {}
    for (sym, book, lp), sums in merged.items():
        if sym not in skip:
            base = instruments[sym].base
            _add_to(by_book.setdefault(book, {}), base, sums.volume_u)
            if book == "ABOOK" and lp:
                _add_to(by_lp.setdefault(lp, {}), base, sums.volume_u)

    def usd_map(per_name: dict[str, dict[str, int]]) -> dict[str, float]:
        return {name: _usd(amounts, rates) for name, amounts in sorted(per_name.items())}

    record: dict[str, Any] = {
        "totalExposure": _usd(gross_u, rates),
        "netExposure": _usd(net_u, rates),
        "bySymbol": by_symbol,
        "byLP": usd_map(by_lp),
        "byBook": usd_map(by_book),
        "byCurrency": {c: _usd({c: legs_u[c]}, rates) for c in sorted(legs_u)},
        "positionCount": count,
    }
    return record, unconverted


def evaluate_exposure(
    partials: Mapping[str, Partial],
    mids: Mapping[str, float],
    limits: ExposureLimits,
    bands: RiskBands,
    *,
    event_time: int,
    overrides: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """:func:`compute_exposure` and :func:`unconverted_symbols` in one pass."""
    figures, unconverted = _evaluate(partials, mids, overrides)
    total: float = figures["totalExposure"]
    utilization = total * 100.0 / limits.global_usd  # exact when the result is representable
    record = {
        "eventTime": event_time,
        "totalExposure": total,
        "netExposure": figures["netExposure"],
        "exposureLimit": limits.global_usd,
        "utilizationPct": utilization,
        "riskLevel": bands.level(utilization),
        "bySymbol": figures["bySymbol"],
        "byLP": figures["byLP"],
        "byBook": figures["byBook"],
        "byCurrency": figures["byCurrency"],
        "positionCount": figures["positionCount"],
    }
    return record, unconverted


def compute_exposure(
    partials: Mapping[str, Partial],
    mids: Mapping[str, float],
    limits: ExposureLimits,
    bands: RiskBands,
    *,
    event_time: int,
    overrides: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """An ExposureChange record (every schema field) for the partials of all partitions."""
    record, _ = evaluate_exposure(
        partials, mids, limits, bands, event_time=event_time, overrides=overrides
    )
    return record


def unconverted_symbols(
    partials: Mapping[str, Partial],
    mids: Mapping[str, float],
    overrides: Mapping[str, tuple[str, str]] | None = None,
) -> list[str]:
    """Symbols with open positions left out of the figures: no path to a USD rate (sorted)."""
    return _evaluate(partials, mids, overrides)[1]
