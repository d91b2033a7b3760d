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

from streams.errors import ConfigError as ConfigError  # re-exported: the one ConfigError

T = TypeVar("T")

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
COMPRESSION_CHOICES = ("none", "gzip")


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


Parser = Callable[[str, str], T]
"""``parse(name, raw)``: the value of variable ``name``, or ConfigError naming it."""


def integer(minimum: int, maximum: int | None = None) -> Parser[int]:
    """A whole number in [minimum, maximum] (no upper bound when ``maximum`` is None)."""

    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
        _check_range(name, value, minimum, maximum)
        return value

    return parse


def number(
    minimum: float, maximum: float | None = None, *, positive: bool = False
) -> Parser[float]:
    """A finite number in [minimum, maximum]; with ``positive`` also > 0."""

    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: expected a number") from None
        if not math.isfinite(value):  # also NaN
            raise ConfigError(f"{name}={raw.strip()}: must be a finite number")
        if positive and value <= 0:
            raise ConfigError(f"{name}={value:g}: must be > 0")
        _check_range(name, value, minimum, maximum)
        return value

    return parse


def _check_range(name: str, value: float, minimum: float, maximum: float | None) -> None:
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and <= {maximum:g}" if maximum is not None else ""
        raise ConfigError(f"{name}={value:g}: must be >= {minimum:g}{upper}")


def flag(name: str, raw: str) -> bool:
    """1/true/yes/on or 0/false/no/off."""
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r}: expected 1 or 0")


def choice(*choices: str) -> Parser[str]:
    """One of ``choices``, case-insensitive."""

    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{name}={raw!r}: expected one of {', '.join(choices)}")
        return value

    return parse


def text(name: str, raw: str) -> str:
    """The value without surrounding blanks."""
    return raw.strip()


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
    # Retention of the trade markouts topic (topics apply; docs/markouts.md): days.
    markouts_retention_days: int = 30
    # Retention of exposure, P&L and account risk (a month's charts; docs/pnl.md): days.
    risk_retention_days: int = 31

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
            replication_factor=get("RTX_REPLICATION_FACTOR", integer(1, 32), 1),
            min_insync_replicas=get("RTX_MIN_INSYNC_REPLICAS", integer(1, 32), 1),
            input_partitions=get("RTX_INPUT_PARTITIONS", integer(1, 1024), 6),
            client_id=get("RTX_CLIENT_ID", text, "rtx-analytics"),
            markouts_retention_days=get("RTX_MARKOUTS_RETENTION_DAYS", integer(1, 3650), 30),
            risk_retention_days=get("RTX_RISK_RETENTION_DAYS", integer(1, 3650), 31),
            producer_linger_ms=get("RTX_PRODUCER_LINGER_MS", integer(0, 60_000), 1),
            producer_max_batch_bytes=get(
                "RTX_PRODUCER_MAX_BATCH_BYTES", integer(1024, 64 * 1024**2), 262_144
            ),
            producer_compression=get(
                "RTX_PRODUCER_COMPRESSION", choice(*COMPRESSION_CHOICES), "none"
            ),
            producer_request_timeout_ms=get(
                "RTX_PRODUCER_REQUEST_TIMEOUT_MS", integer(1000), 30_000
            ),
            producer_connect_timeout_s=get("RTX_PRODUCER_CONNECT_TIMEOUT_S", number(0.1), 10.0),
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
