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
from streams.routing.windows import RoutingConfig
from streams.settings import ConfigError
from streams.worker.settings import WorkerSettings


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
    return PipelineConfig(
        limits=limits,
        bands=ex.RiskBands.from_mapping(_table(doc, "exposure", "risk_bands")),
        symbol_overrides=overrides,
        rules=RulesConfig.from_mapping(doc),
        routing=routing,
        lp=LpConfig.from_mapping(_table(doc, "lp")),
        coalesce_s=settings.exposure_coalesce_ms / 1000,
        heartbeat_s=settings.exposure_heartbeat_s,
    )
