"""The stream processing configuration (pure): :class:`PipelineConfig`, read from the TOML file
``RTX_CONFIG_FILE`` (:func:`load_document`) with the worker's variables on top
(:func:`pipeline_config`). infra/rtx.example.toml shows every key with its default."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams import exposure as ex
from streams.alerts.engine import RulesConfig
from streams.lp.tracker import LpConfig
from streams.market.basis import DEFAULT_BASIS, Basis, parse_basis
from streams.risk import RiskConfig
from streams.routing.windows import RoutingConfig
from streams.settings import ConfigError, check_keys
from streams.worker.settings import WorkerSettings

# [risk] keys the worker reads itself (RiskConfig takes the others).
_RISK_OUTPUT_KEYS = ("refresh_s", "top_interval_s", "accounts_interval_s")


def _seconds(key: str, value: Any, minimum: float, maximum: float) -> float:
    """A number of seconds in [minimum, maximum] from the config file."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}={value!r}: expected a number of seconds")
    if not minimum <= value <= maximum:
        raise ConfigError(f"{key}={value}: must be >= {minimum:g} and <= {maximum:g}")
    return float(value)


@dataclass(frozen=True, slots=True)
class RiskOutputs:
    """How often the worker writes account risk: the accounts changed since the last time at
    most every ``accounts_interval_s``; every live account again at least every ``refresh_s``
    (its floating P&L moves with the quotes); the top-N and the account alerts every
    ``top_interval_s``."""

    refresh_s: float = 300.0
    top_interval_s: float = 1.0
    accounts_interval_s: float = 2.0

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> RiskOutputs:
        return cls(
            refresh_s=_seconds("risk.refresh_s", m.get("refresh_s", 300.0), 1.0, 86_400.0),
            top_interval_s=_seconds(
                "risk.top_interval_s", m.get("top_interval_s", 1.0), 0.05, 3_600.0
            ),
            accounts_interval_s=_seconds(
                "risk.accounts_interval_s", m.get("accounts_interval_s", 2.0), 0.0, 3_600.0
            ),
        )


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    limits: ex.ExposureLimits = field(default_factory=ex.ExposureLimits)
    bands: ex.RiskBands = field(default_factory=ex.RiskBands)
    symbol_overrides: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    rules: RulesConfig = field(default_factory=RulesConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    lp: LpConfig = field(default_factory=LpConfig)
    coalesce_s: float = 0.05
    heartbeat_s: float = 5.0
    # What the exposure limit and utilisation are measured on (docs/exposure.md, "Exposure
    # basis"); the per-account exposure of risk uses the same.
    basis: Basis = DEFAULT_BASIS
    risk: RiskConfig = field(default_factory=RiskConfig)
    risk_outputs: RiskOutputs = field(default_factory=RiskOutputs)


def load_document(path: str | None) -> dict[str, Any]:
    """The TOML document at ``path`` (``RTX_CONFIG_FILE``), empty without one."""
    if path is None:
        return {}
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"RTX_CONFIG_FILE={path!r}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"RTX_CONFIG_FILE={path!r}: not valid TOML: {exc}") from exc


def _table(doc: dict[str, Any], *path: str) -> dict[str, Any]:
    node: Any = doc
    for part in path:
        node = node.get(part, {}) if isinstance(node, dict) else {}
    if not isinstance(node, dict):
        raise ConfigError(f"{'.'.join(path)}: expected a table")
    return node


def pipeline_config(settings: WorkerSettings, doc: dict[str, Any]) -> PipelineConfig:
    """The stream processing configuration: the TOML document, then the variables on top."""
    limits = ex.ExposureLimits.from_mapping(_table(doc, "exposure", "limits"))
    if settings.exposure_limit_usd is not None:
        limits = ex.ExposureLimits(
            global_usd=settings.exposure_limit_usd,
            by_symbol=limits.by_symbol,
            by_currency=limits.by_currency,
        )
    overrides_raw = _table(doc, "exposure", "symbols")
    overrides: dict[str, tuple[str, str]] = {}
    for symbol, pair in overrides_raw.items():
        if (
            not isinstance(pair, dict)
            or not isinstance(pair.get("base"), str)
            or not isinstance(pair.get("quote"), str)
        ):
            raise ConfigError(f"exposure.symbols.{symbol}: expected {{base = ..., quote = ...}}")
        overrides[symbol] = (pair["base"], pair["quote"])
    routing = RoutingConfig.from_mapping(_table(doc, "routing"))
    if settings.routing_window_s is not None:
        routing = RoutingConfig(
            window_s=settings.routing_window_s, allowed_lateness_s=routing.allowed_lateness_s
        )
    basis = parse_basis("exposure.basis", _table(doc, "exposure").get("basis", DEFAULT_BASIS))
    if settings.exposure_basis is not None:
        basis = parse_basis("RTX_EXPOSURE_BASIS", settings.exposure_basis)
    risk_table = _table(doc, "risk")
    check_keys("risk", risk_table, ("top_n", "day_roll", "day_zone", *_RISK_OUTPUT_KEYS))
    risk = RiskConfig.from_mapping(
        {k: v for k, v in risk_table.items() if k not in _RISK_OUTPUT_KEYS}
    )
    return PipelineConfig(
        limits=limits,
        bands=ex.RiskBands.from_mapping(_table(doc, "exposure", "risk_bands")),
        symbol_overrides=overrides,
        rules=RulesConfig.from_mapping(doc),
        routing=routing,
        lp=LpConfig.from_mapping(_table(doc, "lp")),
        coalesce_s=settings.exposure_coalesce_ms / 1000,
        heartbeat_s=settings.exposure_heartbeat_s,
        basis=basis,
        risk=RiskConfig(
            basis=basis,
            top_n=risk.top_n,
            day_roll=risk.day_roll,
            day_zone=risk.day_zone,
            symbol_overrides=overrides,
        ),
        risk_outputs=RiskOutputs.from_mapping(risk_table),
    )
