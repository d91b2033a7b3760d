"""``rtx-analytics markouts``: load the configuration, check the topics, run the loops of the
role (``RTX_MARKOUTS_ROLE``) until SIGINT/SIGTERM, then snapshot and stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from streams.markouts.config import MarkoutConfig
from streams.settings import ConfigError, KafkaSettings
from streams.worker.markouts import metrics as m
from streams.worker.markouts.boards_loop import BoardsLoop
from streams.worker.markouts.context import MarkoutsContext
from streams.worker.markouts.settings import MarkoutsSettings
from streams.worker.markouts.stage_loop import StageLoop
from streams.worker.pipeline.config import load_document, pipeline_config
from streams.worker.run import prepare
from streams.worker.settings import WorkerSettings

log = logging.getLogger("rtx.markouts")

GAUGES_S = 2.0


def load(settings: MarkoutsSettings) -> tuple[MarkoutConfig, dict[str, tuple[str, str]]]:
    """The ``[markouts]`` table and the ``[exposure.symbols]`` overrides of the config file."""
    doc = load_document(settings.config_file)
    table = doc.get("markouts", {})
    if not isinstance(table, dict):
        raise ConfigError("markouts: expected a table")
    overrides = pipeline_config(WorkerSettings(), doc).symbol_overrides
    return MarkoutConfig.from_mapping(table), dict(overrides)


def run() -> int:
    """Run until SIGINT/SIGTERM. Returns the exit code."""
    kafka = KafkaSettings.from_env()
    settings = MarkoutsSettings.from_env()
    config, overrides = load(settings)
    print(
        f"markouts {settings.app_id} ({settings.role}): Kafka {kafka.bootstrap_servers}, topics "
        f"{kafka.topic_prefix}*, horizons {', '.join(str(h) for h in config.horizons_ms)} ms, "
        f"score at {config.score_horizon_ms} ms after {config.min_trades} trades"
        + (f", config {settings.config_file}" if settings.config_file else ", default settings")
    )
    prepare(kafka, settings.metrics_port)
    asyncio.run(serve(MarkoutsContext.create(kafka, settings, config, overrides)))
    print("markouts stopped")
    return 0


async def serve(context: MarkoutsContext, stop: asyncio.Event | None = None) -> None:
    """The loops of the role until ``stop`` (or SIGINT/SIGTERM); then each loop snapshots what
    it holds, and the producers close."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _stopper(stop, sig))
    role = context.settings.role
    stage = StageLoop(context) if role in ("all", "stage") else None
    boards = BoardsLoop(context) if role in ("all", "boards") else None
    tasks = [
        asyncio.create_task(part.run(), name=f"markouts-{name}")
        for name, part in (("stage", stage), ("boards", boards))
        if part is not None
    ]
    gauges = asyncio.create_task(_gauges(stage, boards))
    try:
        done, _ = await asyncio.wait(
            [*tasks, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            if task in tasks and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        gauges.cancel()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await context.producers.close()
        await context.store.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _stopper(stop: asyncio.Event, sig: signal.Signals) -> Callable[[], None]:
    def on_signal() -> None:
        print(f"{sig.name}: stopping (snapshots first)", flush=True)
        stop.set()

    return on_signal


async def _gauges(stage: StageLoop | None, boards: BoardsLoop | None) -> None:
    """Consumer lag and the stages' memory, every few seconds."""
    while True:
        await asyncio.sleep(GAUGES_S)
        try:
            if stage is not None:
                memory = [s.stage.memory() for s in stage.stages.values()]
                m.PENDING_TRADES.set(sum(x["pendingTrades"] for x in memory))
                m.QUOTES_KEPT.set(sum(x["quotesKept"] for x in memory))
            for part in (stage, boards):
                consumer = None if part is None else part.consumer
                if consumer is None:
                    continue
                for tp in consumer.assignment():
                    high, position = consumer.highwater(tp), await consumer.position(tp)
                    if high is not None:
                        m.LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(
                            max(0, high - position)
                        )
        except Exception:  # noqa: BLE001 - metrics must never stop the process
            log.debug("gauges not available yet", exc_info=True)
