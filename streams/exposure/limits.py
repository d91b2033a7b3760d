"""Exposure limits and risk bands from the worker's configuration (pure: no I/O).

Limits: a global limit in USD and optional per-symbol and per-currency (|net|) limits, measured
on the record's exposure basis (:mod:`streams.exposure.basis`; gross without one);
risk bands map utilisation to low/medium/high/critical (80 % is "medium"). Bad values raise
:class:`streams.settings.ConfigError` naming the key. Formulas: ``docs/exposure.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from streams.settings import ConfigError, check_keys

RISK_LEVELS = ("low", "medium", "high", "critical")


def _positive(key: str, value: Any) -> float:
    """A finite number > 0 (ints, floats, numeric strings); ConfigError naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{key}={value!r}: expected a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ConfigError(f"{key}={value!r}: expected a number") from None
    if not 0 < number < math.inf:  # also rejects NaN
        raise ConfigError(f"{key}={value!r}: must be a finite number > 0")
    return number


def _limit_map(prefix: str, m: Any) -> Mapping[str, float]:
    if not isinstance(m, Mapping):
        raise ConfigError(f"{prefix}: expected a mapping of name to USD amount")
    out: dict[str, float] = {}
    for name in sorted(m, key=str):
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{prefix}.{name!r}: expected a non-empty name")
        out[name] = _positive(f"{prefix}.{name}", m[name])
    return MappingProxyType(out)


@dataclass(frozen=True)
class ExposureLimits:
    """Exposure limits in USD: global (gross), per symbol (gross), per currency (|net|)."""

    global_usd: float = 100_000.0
    by_symbol: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    by_currency: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        _positive("exposure.limits.global_usd", self.global_usd)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], prefix: str = "exposure.limits") -> ExposureLimits:
        check_keys(prefix, m, ("global_usd", "by_symbol", "by_currency"))
        return cls(
            global_usd=_positive(f"{prefix}.global_usd", m.get("global_usd", 100_000.0)),
            by_symbol=_limit_map(f"{prefix}.by_symbol", m.get("by_symbol", {})),
            by_currency=_limit_map(f"{prefix}.by_currency", m.get("by_currency", {})),
        )


_BAND_NAMES = ("medium_pct", "high_pct", "critical_pct")


def _check_bands(prefix: str, *values: float) -> None:
    checked = [_positive(f"{prefix}.{n}", v) for n, v in zip(_BAND_NAMES, values, strict=True)]
    for i in (1, 2):
        if not checked[i] > checked[i - 1]:
            raise ConfigError(
                f"{prefix}.{_BAND_NAMES[i]}={checked[i]:g}: must be above "
                f"{_BAND_NAMES[i - 1]}={checked[i - 1]:g}"
            )


@dataclass(frozen=True)
class RiskBands:
    """Utilisation thresholds (percent): a band starts at its threshold (>=)."""

    medium_pct: float = 60.0
    high_pct: float = 85.0
    critical_pct: float = 100.0

    def __post_init__(self) -> None:
        _check_bands("exposure.risk_bands", self.medium_pct, self.high_pct, self.critical_pct)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], prefix: str = "exposure.risk_bands") -> RiskBands:
        check_keys(prefix, m, _BAND_NAMES)
        defaults = cls()
        values = [_positive(f"{prefix}.{n}", m.get(n, getattr(defaults, n))) for n in _BAND_NAMES]
        _check_bands(prefix, *values)
        return cls(*values)

    def level(self, utilization_pct: float) -> str:
        if utilization_pct >= self.critical_pct:
            return "critical"
        if utilization_pct >= self.high_pct:
            return "high"
        if utilization_pct >= self.medium_pct:
            return "medium"
        return "low"


def symbol_utilization(record: Mapping[str, Any], limits: ExposureLimits) -> dict[str, float]:
    """Exposure per symbol as a percentage of its limit, for every symbol with a limit: on the
    record's basis (``basisBySymbol``) when it has one, else gross (``bySymbol``)."""
    by_symbol: Mapping[str, float] = record.get("basisBySymbol", record.get("bySymbol", {}))
    return {s: by_symbol.get(s, 0.0) * 100.0 / lim for s, lim in sorted(limits.by_symbol.items())}


def currency_utilization(record: Mapping[str, Any], limits: ExposureLimits) -> dict[str, float]:
    """|net exposure| per currency as a percentage of its limit, for every limited currency: on
    the record's basis (``basisByCurrency``) when it has one, else ``byCurrency``."""
    by_ccy: Mapping[str, float] = record.get("basisByCurrency", record.get("byCurrency", {}))
    return {
        c: abs(by_ccy.get(c, 0.0)) * 100.0 / lim for c, lim in sorted(limits.by_currency.items())
    }
