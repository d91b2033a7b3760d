"""``rtx-analytics worker``: load the configuration, check the topics, run the Faust worker."""

from __future__ import annotations

import asyncio
import gc
import logging
import tomllib
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from streams import exposure as ex
from streams.alerts.engine import RulesConfig
from streams.lp.tracker import LpConfig
from streams.routing.windows import RoutingConfig
from streams.settings import ConfigError, KafkaSettings
from streams.topics import TOPICS
from streams.worker.pipeline import PipelineConfig
from streams.worker.settings import WorkerSettings

log = logging.getLogger("rtx.worker")


def load_document(path: str | None) -> dict[str, Any]:
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


async def missing_topics(kafka: KafkaSettings) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    try:
        async with asyncio.timeout(15):
            await admin.start()
            existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [
        t.name(kafka.topic_prefix) for t in TOPICS if t.name(kafka.topic_prefix) not in existing
    ]


def run(loglevel: str = "info") -> int:
    """Run one worker until SIGINT/SIGTERM. Returns the exit code."""
    kafka = KafkaSettings.from_env()
    settings = WorkerSettings.from_env()
    config = pipeline_config(settings, load_document(settings.config_file))
    print(
        f"worker {settings.app_id}: Kafka {kafka.bootstrap_servers}, topics {kafka.topic_prefix}*, "
        f"limit {config.limits.global_usd:,.0f} USD, coalescing {settings.exposure_coalesce_ms} ms"
        + (f", config {settings.config_file}" if settings.config_file else ", default rules")
    )
    missing = asyncio.run(missing_topics(kafka))
    if missing:
        raise ConfigError(
            f"topics missing on {kafka.bootstrap_servers}: {', '.join(missing)} "
            "(run 'rtx-analytics topics apply' first)"
        )
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr="127.0.0.1")
        print(f"metrics: http://127.0.0.1:{settings.metrics_port}/metrics")

    import faust

    from streams.worker.app import Worker

    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    worker = Worker(kafka, settings, config)
    # The worker keeps large, long-lived state (position books, alert ids) and allocates many
    # short-lived objects per batch: with the default thresholds, frequent collections walk the
    # long-lived state and pause the event loop (the latency tail). Collect the young generation
    # less often, the older ones as usual after it (a soak showed that collecting the oldest
    # generation rarely lets cyclic garbage from asyncio pile up for many minutes).
    gc.set_threshold(50_000, 10, 10)
    faust_worker = faust.Worker(worker.app, loglevel=loglevel, quiet=True)
    faust_worker.execute_from_commandline()  # returns only via SystemExit
    return 0
