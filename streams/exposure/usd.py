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

from collections.abc import Mapping
from typing import Any

from streams.exposure.basis import basis_fields
from streams.exposure.book import Partial, Sums, sum_rows
from streams.exposure.limits import ExposureLimits, RiskBands
from streams.market.basis import Basis

# Instruments, rates and the exact USD sum are the shared lower layer (streams.market); the
# names stay importable from here.
from streams.market.instruments import Instrument as Instrument
from streams.market.instruments import instrument as instrument
from streams.market.rates import quote_mid as quote_mid
from streams.market.rates import usd_rates as usd_rates
from streams.market.rates import usd_value as _usd
from streams.market.rates import valid_price as _valid_price

BASIS_FIELDS = (
    "basis",
    "basisExposure",
    "basisBySymbol",
    "basisByCurrency",
    "bbookNetBySymbol",
    "bbookNetByCurrency",
    "bbookNetLong",
    "bbookNetShort",
)
"""The fields a record on a basis adds (in this order)."""


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
    basis: Basis | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Figures of the merged partials in USD, and the symbols left out (no USD rate).
    Amounts are summed as exact ints per currency first, then converted once per figure.
    With a ``basis``, the basis fields too (:func:`streams.exposure.basis.basis_fields`)."""
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
    if basis is not None:
        record.update(basis_fields(basis, merged, instruments, rates, skip, record))
    return record, unconverted


def evaluate_exposure(
    partials: Mapping[str, Partial],
    mids: Mapping[str, float],
    limits: ExposureLimits,
    bands: RiskBands,
    *,
    event_time: int,
    overrides: Mapping[str, tuple[str, str]] | None = None,
    basis: Basis | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """:func:`compute_exposure` and :func:`unconverted_symbols` in one pass."""
    figures, unconverted = _evaluate(partials, mids, overrides, basis)
    total: float = figures["totalExposure"]
    measured: float = total if basis is None else figures["basisExposure"]
    utilization = measured * 100.0 / limits.global_usd  # exact when representable
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
    if basis is not None:
        record.update((k, figures[k]) for k in BASIS_FIELDS)
    return record, unconverted


def compute_exposure(
    partials: Mapping[str, Partial],
    mids: Mapping[str, float],
    limits: ExposureLimits,
    bands: RiskBands,
    *,
    event_time: int,
    overrides: Mapping[str, tuple[str, str]] | None = None,
    basis: Basis | None = None,
) -> dict[str, Any]:
    """An ExposureChange record (every schema field) for the partials of all partitions.

    ``basis=None`` gives today's record: the limit measured on the gross figure, no basis
    fields. With a basis, ``exposureLimit``, ``utilizationPct`` and ``riskLevel`` are measured
    on ``basisExposure`` and the record carries the fields of :data:`BASIS_FIELDS`
    (schemas/avro/ExposureChange.avsc)."""
    record, _ = evaluate_exposure(
        partials, mids, limits, bands, event_time=event_time, overrides=overrides, basis=basis
    )
    return record


def unconverted_symbols(
    partials: Mapping[str, Partial],
    mids: Mapping[str, float],
    overrides: Mapping[str, tuple[str, str]] | None = None,
) -> list[str]:
    """Symbols with open positions left out of the figures: no path to a USD rate (sorted)."""
    return _evaluate(partials, mids, overrides)[1]
