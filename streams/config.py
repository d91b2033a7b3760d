"""Process settings, read once from the environment into a frozen object.

Every variable has the prefix ``RTX_`` except ``KAFKA_BOOTSTRAP_SERVERS``, the name Kafka tooling
and our test harness already share. Units are in the names. A bad value stops start-up with a
:class:`ConfigError` that names the variable. The table in README.md lists every variable.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
COMPRESSION_CHOICES = ("none", "gzip")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def env_reader(env: Mapping[str, str]) -> Callable[[str, Callable[[str, str], T], T], T]:
    """``get(name, parse, default)``: the parsed variable, or ``default`` when unset or blank.
    ``parse(name, raw)`` raises ConfigError naming the variable."""

    def get(name: str, parse: Callable[[str, str], T], default: T) -> T:
        raw = env.get(name)
        if raw is None or raw.strip() == "":
            return default
        return parse(name, raw)

    return get


def check_keys(prefix: str, m: Any, allowed: Iterable[str]) -> None:
    """ConfigError naming the first key of the config table ``m`` not in ``allowed``."""
    names = tuple(allowed)
    if not isinstance(m, Mapping):
        raise ConfigError(f"{prefix}: expected a mapping, got {type(m).__name__}")
    for key in m:
        if key not in names:
            raise ConfigError(f"{prefix}.{key}: unknown key (expected {', '.join(names)})")


def int_setting(key: str, value: Any, minimum: int, maximum: int) -> int:
    """A whole number in [minimum, maximum] from a config file (ints or digit strings)."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if type(value) is not int:
        raise ConfigError(f"{key}={value!r}: expected a whole number")
    if not minimum <= value <= maximum:
        raise ConfigError(f"{key}={value}: must be >= {minimum} and <= {maximum}")
    return value


def _int(name: str, raw: str, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise ConfigError(f"{name}={value}: must be >= {minimum}{upper}")
    return value


def _float(name: str, raw: str, minimum: float) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number") from None
    if not minimum <= value < math.inf:  # also rejects NaN
        raise ConfigError(f"{name}={value}: must be a finite number >= {minimum}")
    return value


_TOPIC_PREFIX_RE = re.compile(r"^[A-Za-z0-9._-]{0,200}$")
_HOSTPORT_RE = re.compile(r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """How this process reaches Kafka and names and sizes its topics."""

    bootstrap_servers: str = DEFAULT_BOOTSTRAP
    topic_prefix: str = "rtx."
    replication_factor: int = 1
    min_insync_replicas: int = 1
    input_partitions: int = 6
    client_id: str = "rtx-analytics"

    # Producer SDK
    producer_linger_ms: int = 1
    producer_max_batch_bytes: int = 262_144
    producer_compression: str = "none"
    producer_request_timeout_ms: int = 30_000
    producer_connect_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSettings:
        get = env_reader(os.environ if env is None else env)

        settings = cls(
            bootstrap_servers=get("KAFKA_BOOTSTRAP_SERVERS", _bootstrap, DEFAULT_BOOTSTRAP),
            topic_prefix=get("RTX_TOPIC_PREFIX", _prefix, "rtx."),
            replication_factor=get("RTX_REPLICATION_FACTOR", lambda n, r: _int(n, r, 1, 32), 1),
            min_insync_replicas=get("RTX_MIN_INSYNC_REPLICAS", lambda n, r: _int(n, r, 1, 32), 1),
            input_partitions=get("RTX_INPUT_PARTITIONS", lambda n, r: _int(n, r, 1, 1024), 6),
            client_id=get("RTX_CLIENT_ID", lambda n, r: r.strip(), "rtx-analytics"),
            producer_linger_ms=get("RTX_PRODUCER_LINGER_MS", lambda n, r: _int(n, r, 0, 60_000), 1),
            producer_max_batch_bytes=get(
                "RTX_PRODUCER_MAX_BATCH_BYTES", lambda n, r: _int(n, r, 1024, 64 * 1024**2), 262_144
            ),
            producer_compression=get("RTX_PRODUCER_COMPRESSION", _compression, "none"),
            producer_request_timeout_ms=get(
                "RTX_PRODUCER_REQUEST_TIMEOUT_MS", lambda n, r: _int(n, r, 1000), 30_000
            ),
            producer_connect_timeout_s=get(
                "RTX_PRODUCER_CONNECT_TIMEOUT_S", lambda n, r: _float(n, r, 0.1), 10.0
            ),
        )
        if settings.min_insync_replicas > settings.replication_factor:
            raise ConfigError(
                f"RTX_MIN_INSYNC_REPLICAS={settings.min_insync_replicas} exceeds "
                f"RTX_REPLICATION_FACTOR={settings.replication_factor}: no write could succeed"
            )
        return settings

    def describe(self) -> dict[str, Any]:
        """All settings, for a start-up log line (none of these is a secret)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _bootstrap(name: str, raw: str) -> str:
    hosts = [h.strip() for h in raw.split(",") if h.strip()]
    if not hosts:
        raise ConfigError(f"{name}={raw!r}: expected host:port[,host:port...]")
    for host in hosts:
        if not _HOSTPORT_RE.match(host):
            raise ConfigError(f"{name}={raw!r}: {host!r} is not host:port")
        port = int(host.rsplit(":", 1)[1])
        if not 0 < port < 65536:
            raise ConfigError(f"{name}={raw!r}: port {port} out of range")
    return ",".join(hosts)


def _prefix(name: str, raw: str) -> str:
    value = raw.strip()
    if not _TOPIC_PREFIX_RE.match(value):
        raise ConfigError(
            f"{name}={raw!r}: a topic prefix may use only letters, digits, '.', '_' and '-'"
        )
    return value


def _compression(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in COMPRESSION_CHOICES:
        raise ConfigError(f"{name}={raw!r}: expected one of {', '.join(COMPRESSION_CHOICES)}")
    return value


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Settings of ``rtx-analytics worker`` (the stream processor) beyond Kafka's.

    Limits, risk bands and alert rules come from the TOML file ``RTX_CONFIG_FILE`` (optional;
    see infra/rtx.example.toml); the variables below are the operational knobs.
    """

    app_id: str = "rtx-analytics"
    config_file: str | None = None
    exposure_limit_usd: float | None = None  # overrides [exposure.limits] global_usd
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
    data_dir: str = ".rtx/worker"
    role: str = "all"  # all | inputs | global

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        get = env_reader(os.environ if env is None else env)

        config_file = get("RTX_CONFIG_FILE", lambda n, r: r.strip(), None)
        if config_file is not None and not os.path.isfile(config_file):
            raise ConfigError(f"RTX_CONFIG_FILE={config_file!r}: no such file")
        return cls(
            app_id=get("RTX_APP_ID", _app_id, "rtx-analytics"),
            config_file=config_file,
            exposure_limit_usd=get(
                "RTX_EXPOSURE_LIMIT_USD", lambda n, r: _positive_float(n, r), None
            ),
            exposure_coalesce_ms=get(
                "RTX_EXPOSURE_COALESCE_MS", lambda n, r: _int(n, r, 0, 60_000), 50
            ),
            exposure_heartbeat_s=get(
                "RTX_EXPOSURE_HEARTBEAT_S", lambda n, r: _positive_float(n, r), 5.0
            ),
            routing_window_s=get("RTX_ROUTING_WINDOW_S", lambda n, r: _int(n, r, 1, 86_400), None),
            metrics_port=get("RTX_WORKER_METRICS_PORT", lambda n, r: _int(n, r, 0, 65_535), 9464),
            batch_max=get("RTX_WORKER_BATCH_MAX", lambda n, r: _int(n, r, 1, 100_000), 2000),
            batch_within_ms=get(
                "RTX_WORKER_BATCH_WITHIN_MS", lambda n, r: _int(n, r, 1, 10_000), 5
            ),
            state_snapshot_s=get(
                "RTX_WORKER_STATE_SNAPSHOT_S", lambda n, r: _positive_float(n, r), 30.0
            ),
            closed_retention_s=get(
                "RTX_WORKER_CLOSED_RETENTION_S", lambda n, r: _int(n, r, 0, 30 * 86_400), 3600
            ),
            max_closed=get("RTX_WORKER_MAX_CLOSED", lambda n, r: _int(n, r, 0, 10_000_000), 20_000),
            data_dir=get("RTX_WORKER_DATA_DIR", lambda n, r: r.strip(), ".rtx/worker"),
            role=get("RTX_WORKER_ROLE", _role, "all"),
        )


def _role(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in ("all", "inputs", "global"):
        raise ConfigError(f"{name}={raw!r}: expected all, inputs or global")
    return value


def _positive_float(name: str, raw: str) -> float:
    value = _float(name, raw, 0.0)
    if value <= 0:
        raise ConfigError(f"{name}={value}: must be > 0")
    return value


def _app_id(name: str, raw: str) -> str:
    value = raw.strip()
    if not _TOPIC_PREFIX_RE.match(value) or not value:
        raise ConfigError(f"{name}={raw!r}: letters, digits, '.', '_' and '-' only")
    return value
