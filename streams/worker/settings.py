"""Settings of ``rtx-analytics worker`` (the stream processor) beyond Kafka's, from the
environment (parsers of :mod:`streams.settings`; README's configuration table)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from streams.settings import ConfigError, choice, env_reader, integer, number, text

_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{0,200}$")


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Settings of ``rtx-analytics worker`` (the stream processor) beyond Kafka's.

    Limits, risk bands and alert rules come from the TOML file ``RTX_CONFIG_FILE`` (optional;
    see infra/rtx.example.toml); the variables below are the operational knobs.
    """

    app_id: str = "rtx-analytics"
    config_file: str | None = None
    exposure_limit_usd: float | None = None  # overrides [exposure.limits] global_usd
    exposure_basis: str | None = None  # overrides [exposure] basis
    exposure_coalesce_ms: int = 50
    exposure_heartbeat_s: float = 5.0
    routing_window_s: int | None = None  # overrides [routing] window_s
    metrics_port: int = 9464
    batch_max: int = 2000
    batch_within_ms: int = 5
    state_snapshot_s: float = 30.0
    # Closed position ids remembered per positions partition (docs/exposure.md): the bound on
    # stage 1's memory, ~250 bytes per id.
    closed_retention_s: int = 3600
    max_closed: int = 20_000
    # How often each positions partition's changed accounts are sent to the global stage at
    # most (an account changed many times meanwhile is sent once): the P&L and account figures
    # may lag position changes by this much.
    accounts_drain_ms: int = 500
    data_dir: str = ".rtx/worker"
    role: str = "all"  # all | inputs | global

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        get = env_reader(os.environ if env is None else env)

        config_file = get("RTX_CONFIG_FILE", text, None)
        if config_file is not None and not os.path.isfile(config_file):
            raise ConfigError(f"RTX_CONFIG_FILE={config_file!r}: no such file")
        return cls(
            app_id=get("RTX_APP_ID", _app_id, "rtx-analytics"),
            config_file=config_file,
            exposure_limit_usd=get("RTX_EXPOSURE_LIMIT_USD", number(0, positive=True), None),
            exposure_basis=get(
                "RTX_EXPOSURE_BASIS", choice("bbook-net", "bbook-gross", "gross"), None
            ),
            exposure_coalesce_ms=get("RTX_EXPOSURE_COALESCE_MS", integer(0, 60_000), 50),
            exposure_heartbeat_s=get("RTX_EXPOSURE_HEARTBEAT_S", number(0, positive=True), 5.0),
            routing_window_s=get("RTX_ROUTING_WINDOW_S", integer(1, 86_400), None),
            metrics_port=get("RTX_WORKER_METRICS_PORT", integer(0, 65_535), 9464),
            batch_max=get("RTX_WORKER_BATCH_MAX", integer(1, 100_000), 2000),
            batch_within_ms=get("RTX_WORKER_BATCH_WITHIN_MS", integer(1, 10_000), 5),
            state_snapshot_s=get("RTX_WORKER_STATE_SNAPSHOT_S", number(0, positive=True), 30.0),
            closed_retention_s=get("RTX_WORKER_CLOSED_RETENTION_S", integer(0, 30 * 86_400), 3600),
            max_closed=get("RTX_WORKER_MAX_CLOSED", integer(0, 10_000_000), 20_000),
            accounts_drain_ms=get("RTX_WORKER_ACCOUNTS_DRAIN_MS", integer(0, 60_000), 500),
            data_dir=get("RTX_WORKER_DATA_DIR", text, ".rtx/worker"),
            role=get("RTX_WORKER_ROLE", choice("all", "inputs", "global"), "all"),
        )


def _app_id(name: str, raw: str) -> str:
    value = raw.strip()
    if not _NAME_RE.match(value) or not value:
        raise ConfigError(f"{name}={raw!r}: letters, digits, '.', '_' and '-' only")
    return value
