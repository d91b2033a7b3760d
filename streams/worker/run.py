"""``rtx-analytics worker``: load the configuration, check the topics, run the Faust worker."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from streams.settings import ConfigError, KafkaSettings
from streams.topics import TOPICS

# load_document and pipeline_config are the pure configuration (streams.worker.pipeline.config);
# imported here for the command, and for callers that take the worker's configuration from it.
from streams.worker.pipeline.config import load_document, pipeline_config
from streams.worker.settings import WorkerSettings

__all__ = ["load_document", "missing_topics", "pipeline_config", "prepare", "run"]

log = logging.getLogger("rtx.worker")


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


def prepare(kafka: KafkaSettings, metrics_port: int) -> None:
    """Check that the topic table is applied, and serve metrics on ``metrics_port`` (0: off):
    what a stream processor does before it starts (the worker, ``rtx-analytics markouts``)."""
    missing = asyncio.run(missing_topics(kafka))
    if missing:
        raise ConfigError(
            f"topics missing on {kafka.bootstrap_servers}: {', '.join(missing)} "
            "(run 'rtx-analytics topics apply' first)"
        )
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr="127.0.0.1")
        print(f"metrics: http://127.0.0.1:{metrics_port}/metrics")


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
    prepare(kafka, settings.metrics_port)

    import faust

    from streams.worker import log_levels
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
    log_levels.install()  # expected start-up states are not errors
    faust_worker = faust.Worker(worker.app, loglevel=loglevel, quiet=True)
    faust_worker.execute_from_commandline()  # returns only via SystemExit
    return 0
