"""Thresholds and hysteresis margins of the alert rules, from the ``[rules.*]`` tables of the
worker's TOML file (``infra/rtx.example.toml`` documents every key). Bad values raise
:class:`streams.settings.ConfigError` naming the key path, e.g. ``rules.exposure.critical_pct``.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

from streams.settings import ConfigError

# TOML section -> key -> RulesConfig field. infra/rtx.example.toml documents each one.
_TOML_KEYS: Final[dict[str, dict[str, str]]] = {
    "exposure": {
        "warning_pct": "exposure_warning_pct",
        "critical_pct": "exposure_critical_pct",
        "exceeded_pct": "exposure_exceeded_pct",
        "margin_pct": "exposure_margin_pct",
    },
    "symbol_limit": {"threshold_pct": "symbol_limit_pct", "margin_pct": "symbol_margin_pct"},
    "currency_limit": {"threshold_pct": "currency_limit_pct", "margin_pct": "currency_margin_pct"},
    "lp": {
        "silent_after_s": "lp_silent_after_s",
        "reject_rate": "lp_reject_rate",
        "reject_rate_margin": "lp_reject_rate_margin",
        "latency_ms": "lp_latency_ms",
        "latency_margin_ms": "lp_latency_margin_ms",
    },
    "routing": {
        "abook_share_min_pct": "abook_share_min_pct",
        "abook_share_max_pct": "abook_share_max_pct",
        "abook_share_margin_pct": "abook_share_margin_pct",
        "min_window_count": "routing_min_window_count",
    },
    "pnl": {
        "daily_loss_warning_usd": "daily_loss_warning_usd",
        "daily_loss_critical_usd": "daily_loss_critical_usd",
        "daily_loss_margin_usd": "daily_loss_margin_usd",
    },
    "accounts": {
        "winning_usd": "account_winning_usd",
        "winning_margin_usd": "account_winning_margin_usd",
        "exposure_limit_usd": "account_exposure_limit_usd",
        "limit_pct": "account_limit_pct",
        "limit_margin_pct": "account_limit_margin_pct",
    },
}
_KEY_PATH: Final = {f: f"rules.{s}.{k}" for s, keys in _TOML_KEYS.items() for k, f in keys.items()}


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Every threshold and hysteresis margin of the rules; see infra/rtx.example.toml."""

    exposure_warning_pct: float = 75.0
    exposure_critical_pct: float = 90.0
    exposure_exceeded_pct: float = 100.0
    exposure_margin_pct: float = 5.0
    symbol_limit_pct: float = 100.0
    symbol_margin_pct: float = 5.0
    currency_limit_pct: float = 100.0
    currency_margin_pct: float = 5.0
    lp_silent_after_s: float = 15.0
    lp_reject_rate: float = 0.05
    lp_reject_rate_margin: float = 0.01
    lp_latency_ms: float = 250.0
    lp_latency_margin_ms: float = 50.0
    abook_share_min_pct: float = 20.0
    abook_share_max_pct: float = 80.0
    abook_share_margin_pct: float = 5.0
    routing_min_window_count: int = 1
    # The broker's B-book loss today (USD) and each account's P&L today and exposure.
    daily_loss_warning_usd: float = 50_000.0
    daily_loss_critical_usd: float = 100_000.0
    daily_loss_margin_usd: float = 5_000.0
    account_winning_usd: float = 10_000.0
    account_winning_margin_usd: float = 1_000.0
    account_exposure_limit_usd: float = 1_000_000.0
    account_limit_pct: float = 100.0
    account_limit_margin_pct: float = 5.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "routing_min_window_count":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise _bad(f.name, value, "expected a whole number >= 1")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise _bad(f.name, value, "expected a number")
            elif not math.isfinite(value):
                raise _bad(f.name, value, "expected a finite number")
            else:
                object.__setattr__(self, f.name, float(value))
        _at_least("exposure_warning_pct", self.exposure_warning_pct, 0.0, strict=True)
        _above("exposure_critical_pct", self.exposure_critical_pct, "exposure_warning_pct", self)
        _above("exposure_exceeded_pct", self.exposure_exceeded_pct, "exposure_critical_pct", self)
        _margin("exposure_margin_pct", self.exposure_margin_pct, "exposure_warning_pct", self)
        _above(
            "daily_loss_critical_usd", self.daily_loss_critical_usd, "daily_loss_warning_usd", self
        )
        _at_least("account_exposure_limit_usd", self.account_exposure_limit_usd, 0.0, strict=True)
        for limit, margin in (
            ("symbol_limit_pct", "symbol_margin_pct"),
            ("currency_limit_pct", "currency_margin_pct"),
            ("lp_reject_rate", "lp_reject_rate_margin"),
            ("lp_latency_ms", "lp_latency_margin_ms"),
            ("daily_loss_warning_usd", "daily_loss_margin_usd"),
            ("account_winning_usd", "account_winning_margin_usd"),
            ("account_limit_pct", "account_limit_margin_pct"),
        ):
            _at_least(limit, getattr(self, limit), 0.0, strict=True)
            _margin(margin, getattr(self, margin), limit, self)
        if self.lp_reject_rate > 1:
            raise _bad("lp_reject_rate", self.lp_reject_rate, "a rate is at most 1 (= 100%)")
        _at_least("lp_silent_after_s", self.lp_silent_after_s, 0.0, strict=True)
        low, high = self.abook_share_min_pct, self.abook_share_max_pct
        _at_least("abook_share_min_pct", low, 0.0, strict=False)
        if high > 100:
            raise _bad("abook_share_max_pct", high, "a share is at most 100")
        _above("abook_share_max_pct", high, "abook_share_min_pct", self)
        _at_least("abook_share_margin_pct", self.abook_share_margin_pct, 0.0, strict=False)
        if self.abook_share_enabled and 2 * self.abook_share_margin_pct > high - low:
            raise _bad(
                "abook_share_margin_pct",
                self.abook_share_margin_pct,
                f"twice the margin must fit in the band {low:g}..{high:g}, or no share is "
                "back in band from both sides",
            )

    @property
    def abook_share_enabled(self) -> bool:
        """The A-book band rule is off when the band is the whole range [0, 100]."""
        return self.abook_share_min_pct > 0 or self.abook_share_max_pct < 100

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> RulesConfig:
        """From a parsed TOML document: its ``[rules.<section>]`` tables (other top-level tables
        belong to other components and are left alone). Absent keys keep their defaults; unknown
        keys and bad values raise ConfigError naming the key path."""
        if not isinstance(m, Mapping):
            raise ConfigError(f"rules document: expected a table, got {type(m).__name__}")
        rules = m.get("rules", {})
        if not isinstance(rules, Mapping):
            raise ConfigError(f"rules: expected a table, got {type(rules).__name__}")
        kwargs: dict[str, Any] = {}
        for section, table in rules.items():
            keys = _TOML_KEYS.get(section)
            if keys is None:
                known = ", ".join(_TOML_KEYS)
                raise ConfigError(f"rules.{section}: unknown section (known: {known})")
            if not isinstance(table, Mapping):
                raise ConfigError(f"rules.{section}: expected a table, got {type(table).__name__}")
            for key, value in table.items():
                name = keys.get(key)
                if name is None:
                    known = ", ".join(keys)
                    raise ConfigError(f"rules.{section}.{key}: unknown key (known: {known})")
                kwargs[name] = value
        return cls(**kwargs)

    @classmethod
    def load(cls, path: Path) -> RulesConfig:
        """From a TOML file; every error names the file."""
        try:
            with Path(path).open("rb") as fh:
                doc = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read rules file: {exc.strerror or exc}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        try:
            return cls.from_mapping(doc)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc


def _bad(name: str, value: Any, problem: str) -> ConfigError:
    return ConfigError(f"{_KEY_PATH.get(name, name)}={value!r}: {problem}")


def _at_least(name: str, value: float, minimum: float, *, strict: bool) -> None:
    if value < minimum or (strict and value == minimum):
        raise _bad(name, value, f"must be {'>' if strict else '>='} {minimum:g}")


def _above(name: str, value: float, lower: str, cfg: RulesConfig) -> None:
    if value <= getattr(cfg, lower):
        raise _bad(name, value, f"must be greater than {_KEY_PATH[lower]} ({getattr(cfg, lower)})")


def _margin(name: str, value: float, threshold: str, cfg: RulesConfig) -> None:
    _at_least(name, value, 0.0, strict=False)
    if value >= getattr(cfg, threshold):
        raise _bad(
            name,
            value,
            f"must be less than {_KEY_PATH[threshold]} ({getattr(cfg, threshold)}), "
            "or the alert could never clear",
        )
