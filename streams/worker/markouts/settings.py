"""Settings of ``rtx-analytics markouts`` from the environment (README's configuration table).

It shares the worker's ``RTX_APP_ID`` (its consumer groups are ``<app id>.markouts.stage`` and
``<app id>.markouts.boards``), ``RTX_CONFIG_FILE`` (the ``[markouts]`` table, and
``[exposure.symbols]`` for how a symbol splits into currencies) and batch sizes
(``RTX_WORKER_BATCH_MAX``, ``RTX_WORKER_BATCH_WITHIN_MS``); its own variables start with
``RTX_MARKOUTS_``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from streams.settings import choice, env_reader, integer, number
from streams.worker.settings import WorkerSettings

ROLES = ("all", "stage", "boards")


@dataclass(frozen=True, slots=True)
class MarkoutsSettings:
    app_id: str = "rtx-analytics"
    config_file: str | None = None
    batch_max: int = 2000
    batch_within_ms: int = 5
    # stage: the partitioned markout stages (any number of processes split the partitions);
    # boards: the one aggregate stage (exactly one process runs it); all: both.
    role: str = "all"
    metrics_port: int = 9465
    state_snapshot_s: float = 30.0
    tick_s: int = 5  # event-time period of the stages' ticks and the boards' expiry

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MarkoutsSettings:
        source = os.environ if env is None else env
        worker = WorkerSettings.from_env(source)
        get = env_reader(source)
        return cls(
            app_id=worker.app_id,
            config_file=worker.config_file,
            batch_max=worker.batch_max,
            batch_within_ms=worker.batch_within_ms,
            role=get("RTX_MARKOUTS_ROLE", choice(*ROLES), "all"),
            metrics_port=get("RTX_MARKOUTS_METRICS_PORT", integer(0, 65_535), 9465),
            state_snapshot_s=get("RTX_MARKOUTS_STATE_SNAPSHOT_S", number(0, positive=True), 30.0),
            tick_s=get("RTX_MARKOUTS_TICK_S", integer(1, 3_600), 5),
        )

    def group(self, part: str) -> str:
        """The consumer group of ``stage`` or ``boards``."""
        return f"{self.app_id}.markouts.{part}"
