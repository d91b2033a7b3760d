"""Settings of ``rtx-analytics bridge``, read once from the environment into a frozen object.

Prefixes: ``RTX_BRIDGE_`` for the server, ``RTX_JWT_`` for token verification. Units are in the
names. A bad value stops start-up with a :class:`ConfigError` naming the variable. Key files are
read and parsed here, once, so a bad key is a start-up error, not a refused client. Secrets are
kept out of ``repr`` and :meth:`BridgeSettings.describe`. docs/bridge.md lists every variable.

Batching and queue sizes come from a named profile (the old hub's "Performance Tuning"
presets); an explicit variable overrides the profile's value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypedDict, TypeVar

from streams.settings import ConfigError, choice, env_reader, flag, integer, number, text
from ws_bridge.core.access import ChannelPolicy, parse_cidr, parse_origin_pattern
from ws_bridge.core.actions import parse_action_roles
from ws_bridge.core.keys import (
    SUPPORTED_ALGORITHMS,
    JwksKey,
    PublicKey,
    check_keys_fit,
    key_material,
    read_text,
)
from ws_bridge.core.protocol import CHANNELS
from ws_bridge.core.roles import RoleRules, role_rules

T = TypeVar("T")
# Known to anyone who reads this file: accepted only with RTX_BRIDGE_DEV_MODE=1.
DEV_SECRET = "rtx-analytics-dev-secret-never-use-in-production"  # noqa: S105 - public
DEV_WARNING = (
    "RTX_BRIDGE_DEV_MODE=1 and no JWT key configured: tokens are verified with the built-in, "
    "public dev secret. Anyone can mint a token. DEV ONLY, never in production."
)
LOG_FORMATS = ("plain", "json")
COMPRESSIONS = ("none", "deflate")


@dataclass(frozen=True, slots=True)
class Profile:
    batch_max: int
    batch_interval_ms: int
    queue_max_messages: int
    queue_max_batches: int
    queue_max_bytes: int


PROFILES = {
    "default": Profile(50, 16, 256, 10, 1_048_576),
    "high-frequency": Profile(100, 8, 512, 10, 2_097_152),
    "low-latency": Profile(10, 5, 256, 10, 1_048_576),
    "memory-constrained": Profile(50, 16, 64, 5, 262_144),
}


def _list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _algorithms(name: str, raw: str) -> tuple[str, ...]:
    by_upper = {a.upper(): a for a in SUPPORTED_ALGORITHMS}
    chosen: list[str] = []
    for item in _list(raw):
        if item.lower() == "none":
            raise ConfigError(f"{name}={raw!r}: 'none' (unsigned tokens) is never allowed")
        if item.upper() not in by_upper:
            raise ConfigError(f"{name}={raw!r}: {item!r} unsupported; use {SUPPORTED_ALGORITHMS}")
        chosen.append(by_upper[item.upper()])
    if not chosen:
        raise ConfigError(f"{name}={raw!r}: name at least one algorithm")
    return tuple(dict.fromkeys(chosen))


def _channel_roles(name: str, raw: str) -> RoleRules:
    """``alerts=admin|risk;exposure-updates=*``."""
    rules = role_rules(name, raw, CHANNELS, "channel")
    ChannelPolicy(rules)  # same checks the policy makes
    return rules


def _origins(name: str, raw: str) -> tuple[str, ...]:
    items = _list(raw)
    for item in items:
        try:
            parse_origin_pattern(item)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    return tuple(items)


def _cidrs(name: str, raw: str) -> tuple[str, ...]:
    try:
        return tuple(str(parse_cidr(item)) for item in _list(raw))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _existing_file(name: str, raw: str) -> str:
    path = raw.strip()
    if not os.path.isfile(path):
        raise ConfigError(f"{name}={path!r}: no such file")
    return path


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """Everything ``rtx-analytics bridge`` is configured with. Build with :meth:`from_env`."""

    host: str = "0.0.0.0"  # noqa: S104 - a server for other hosts; IP allow-list limits it
    port: int = 7999
    dev_mode: bool = False
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    jwt_secret: bytes | None = field(default=None, repr=False)
    jwt_public_keys: tuple[PublicKey, ...] = field(default=(), repr=False)
    jwt_jwks: Mapping[str, JwksKey] = field(default_factory=dict, repr=False)
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_leeway_s: float = 30.0
    jwt_roles_claim: str = "roles"
    jwt_account_claim: str = "account"
    channel_roles: tuple[tuple[str, frozenset[str]], ...] = ()
    action_roles: tuple[tuple[str, frozenset[str]], ...] = ()  # (): the defaults (actions.py)
    allowed_origins: tuple[str, ...] = ()
    allowed_ips: tuple[str, ...] = ()
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    max_connections: int = 1000
    max_connections_per_user: int = 20
    profile: str = "default"
    batch_max: int = 50
    batch_interval_ms: int = 16
    queue_max_messages: int = 256
    queue_max_bytes: int = 1_048_576
    queue_max_batches: int = 10
    rate_limit_per_s: int = 1000
    rate_limit_grace_s: float = 1.0
    ping_interval_s: float = 54.0
    pong_timeout_s: float = 60.0
    write_timeout_s: float = 10.0
    alert_history: int = 10_000
    # About one Kafka fetch (and one wake-up of the bridge) per batch: the broker holds it
    # until fetch_min_bytes or fetch_max_wait_ms (default: the batch interval).
    fetch_max_wait_ms: int = 16
    fetch_min_bytes: int = 1_048_576
    fetch_max_records: int = 5000
    log_format: str = "plain"
    # permessage-deflate (RFC 7692) costs every connection its own compressor: about 56 instead
    # of 22 KiB per idle connection and ~40 % more CPU (docs/benchmarks.md), so it is opt-in.
    compression: str = "none"
    malloc_trim_s: float = 60.0  # 0: never (ws_bridge/server/memory.py)
    # Who may call which HTTP route (ws_bridge/core/routes.py, docs/bridge.md section 9).
    status_role: str = "admin"
    health_public: bool = True
    metrics_token: bytes | None = field(default=None, repr=False)
    metrics_addr: tuple[str, int] | None = None  # None: /metrics on the bridge's own port
    auth_failures_per_min: int = 10
    auth_failures_burst: int = 10
    warnings: tuple[str, ...] = ()

    @property
    def batch_interval_s(self) -> float:
        return self.batch_interval_ms / 1000.0

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def pong_wait_after_ping_s(self) -> float:
        """How long after a ping its pong may come: the old hub allowed 60 s between pongs with
        a ping every 54 s, so 6 s (websockets' ``ping_timeout``)."""
        return self.pong_timeout_s - self.ping_interval_s

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BridgeSettings:
        """The settings from ``env`` (default: ``os.environ``); ConfigError naming the first
        bad variable (variables are read in a fixed order, so the same one is named each time).
        """
        env = os.environ if env is None else env
        get = env_reader(env)

        def num(name: str, lo: int, hi: int, default: int) -> int:
            return get(name, integer(lo, hi), default)

        def real(name: str, lo: float, hi: float, default: float) -> float:
            return get(name, number(lo, hi), default)

        warnings: list[str] = []
        dev_mode, algorithms, secret, keys, jwks = _key_settings(env, get, warnings)
        profile_name = get("RTX_BRIDGE_PROFILE", choice(*PROFILES), "default")
        origins, cert, key = _exposure_settings(get, warnings)
        max_total = num("RTX_BRIDGE_MAX_CONNECTIONS", 1, 1_000_000, 1000)
        settings = cls(
            host=get("RTX_BRIDGE_HOST", text, "0.0.0.0"),  # noqa: S104
            port=num("RTX_BRIDGE_PORT", 0, 65_535, 7999),
            dev_mode=dev_mode,
            jwt_algorithms=algorithms,
            jwt_secret=secret,
            jwt_public_keys=keys,
            jwt_jwks=jwks,
            jwt_audience=get("RTX_JWT_AUDIENCE", text, None),
            jwt_issuer=get("RTX_JWT_ISSUER", text, None),
            jwt_leeway_s=real("RTX_JWT_LEEWAY_S", 0.0, 300.0, 30.0),
            jwt_roles_claim=get("RTX_JWT_ROLES_CLAIM", text, "roles"),
            jwt_account_claim=get("RTX_JWT_ACCOUNT_CLAIM", text, "account"),
            channel_roles=get("RTX_BRIDGE_CHANNEL_ROLES", _channel_roles, ()),
            action_roles=get("RTX_BRIDGE_ACTION_ROLES", parse_action_roles, ()),
            allowed_origins=origins,
            allowed_ips=get("RTX_BRIDGE_ALLOWED_IPS", _cidrs, ()),
            tls_cert_file=cert,
            tls_key_file=key,
            max_connections=max_total,
            max_connections_per_user=num("RTX_BRIDGE_MAX_CONNECTIONS_PER_USER", 1, max_total, 20),
            profile=profile_name,
            **(queue := _queue_settings(num, PROFILES[profile_name])),
            rate_limit_per_s=num("RTX_BRIDGE_RATE_LIMIT_PER_S", 1, 1_000_000, 1000),
            rate_limit_grace_s=real("RTX_BRIDGE_RATE_LIMIT_GRACE_S", 0.0, 60.0, 1.0),
            ping_interval_s=real("RTX_BRIDGE_PING_INTERVAL_S", 1.0, 3600.0, 54.0),
            pong_timeout_s=real("RTX_BRIDGE_PONG_TIMEOUT_S", 1.0, 3600.0, 60.0),
            write_timeout_s=real("RTX_BRIDGE_WRITE_TIMEOUT_S", 0.1, 600.0, 10.0),
            alert_history=num("RTX_BRIDGE_ALERT_HISTORY", 0, 1_000_000, 10_000),
            **_fetch_settings(num, queue["batch_interval_ms"]),
            log_format=get("RTX_BRIDGE_LOG_FORMAT", choice(*LOG_FORMATS), "plain"),
            compression=get("RTX_BRIDGE_COMPRESSION", choice(*COMPRESSIONS), "none"),
            malloc_trim_s=real("RTX_BRIDGE_MALLOC_TRIM_S", 0.0, 86_400.0, 60.0),
            **_route_settings(get, num),
            warnings=tuple(warnings),
        )
        _check_consistent(settings)
        return settings

    def describe(self) -> dict[str, Any]:
        """All settings for the start-up log line; key material only as set/unset or counts."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("jwt_secret", "metrics_token"):
                value = "(set)" if value is not None else "(unset)"
            elif f.name in ("jwt_public_keys", "jwt_jwks"):
                value = len(value)
            elif f.name in ("channel_roles", "action_roles"):
                value = {channel: sorted(roles) for channel, roles in value}
            out[f.name] = value
        return out


Getter = Callable[[str, Callable[[str, str], T], T], T]
KeySettings = tuple[
    bool, tuple[str, ...], bytes | None, tuple[PublicKey, ...], Mapping[str, JwksKey]
]


def _key_settings(env: Mapping[str, str], get: Getter[Any], warnings: list[str]) -> KeySettings:
    """Dev mode, the accepted algorithms and the key material (the dev secret only in dev mode,
    with its warning); ConfigError when no key is configured or a key does not fit."""
    dev_mode: bool = get("RTX_BRIDGE_DEV_MODE", flag, False)
    default_algorithms: tuple[str, ...] = ("HS256",)
    algorithms: tuple[str, ...] = get("RTX_JWT_ALGORITHMS", _algorithms, default_algorithms)
    secret, keys, jwks = key_material(env)
    if secret is None and not keys and not jwks:
        if not dev_mode:
            raise ConfigError(
                "no JWT key configured: set RTX_JWT_SECRET or RTX_JWT_SECRET_FILE (HS*), "
                "RTX_JWT_PUBLIC_KEY_FILE or RTX_JWT_JWKS_FILE (RS*/PS*/ES*), "
                "or RTX_BRIDGE_DEV_MODE=1 for the built-in dev secret"
            )
        secret = DEV_SECRET.encode()
        warnings.append(DEV_WARNING)
    check_keys_fit(algorithms, secret, keys, jwks)
    return dev_mode, algorithms, secret, keys, jwks


def _exposure_settings(
    get: Getter[Any], warnings: list[str]
) -> tuple[tuple[str, ...], str | None, str | None]:
    """Who may reach the bridge and how: allowed origins and the TLS files (both or neither),
    with a warning for each open door."""
    no_origins: tuple[str, ...] = ()
    origins: tuple[str, ...] = get("RTX_BRIDGE_ALLOWED_ORIGINS", _origins, no_origins)
    if "*" in origins:
        warnings.append("RTX_BRIDGE_ALLOWED_ORIGINS=*: every web origin may connect")
    elif not origins:
        warnings.append("RTX_BRIDGE_ALLOWED_ORIGINS unset: browser clients are refused")
    cert: str | None = get("RTX_BRIDGE_TLS_CERT_FILE", _existing_file, None)
    key: str | None = get("RTX_BRIDGE_TLS_KEY_FILE", _existing_file, None)
    if (cert is None) != (key is None):
        raise ConfigError("RTX_BRIDGE_TLS_CERT_FILE and RTX_BRIDGE_TLS_KEY_FILE go together")
    if cert is None:
        warnings.append("TLS off (RTX_BRIDGE_TLS_CERT_FILE unset): ws:// only")
    return origins, cert, key


class _QueueSettings(TypedDict):
    batch_max: int
    batch_interval_ms: int
    queue_max_messages: int
    queue_max_bytes: int
    queue_max_batches: int


def _queue_settings(num: Callable[[str, int, int, int], int], profile: Profile) -> _QueueSettings:
    """Batching and queue sizes: the profile's, each overridden by its own variable."""
    return _QueueSettings(
        batch_max=num("RTX_BRIDGE_BATCH_MAX", 1, 10_000, profile.batch_max),
        batch_interval_ms=num("RTX_BRIDGE_BATCH_INTERVAL_MS", 1, 10_000, profile.batch_interval_ms),
        queue_max_messages=num(
            "RTX_BRIDGE_QUEUE_MAX_MESSAGES", 1, 1_000_000, profile.queue_max_messages
        ),
        queue_max_bytes=num("RTX_BRIDGE_QUEUE_MAX_BYTES", 4096, 1 << 30, profile.queue_max_bytes),
        queue_max_batches=num("RTX_BRIDGE_QUEUE_MAX_BATCHES", 1, 1000, profile.queue_max_batches),
    )


MIN_METRICS_TOKEN_BYTES = 16
_TOKEN_CHARS = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII: an HTTP header's token68 and more


def _metrics_token(name: str, raw: str) -> bytes:
    """The bearer token ``/metrics`` requires, from a file (trailing newline ignored)."""
    token = read_text(name, raw.strip()).rstrip("\r\n")
    if not _TOKEN_CHARS.match(token):
        raise ConfigError(f"{name}: the token must be visible ASCII without spaces")
    if len(token) < MIN_METRICS_TOKEN_BYTES:
        raise ConfigError(f"{name}: the token needs at least {MIN_METRICS_TOKEN_BYTES} characters")
    return token.encode()


def _address(name: str, raw: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``:PORT`` (host "": the bridge's ``RTX_BRIDGE_HOST``)."""
    host, sep, port_text = raw.strip().rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65_535:
        raise ConfigError(f"{name}={raw.strip()!r}: expected HOST:PORT or :PORT (port 0-65535)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if any(c.isspace() or c in "[]/" for c in host):
        raise ConfigError(f"{name}={raw.strip()!r}: {host!r} is not a host")
    return host, int(port_text)


class _RouteSettings(TypedDict):
    status_role: str
    health_public: bool
    metrics_token: bytes | None
    metrics_addr: tuple[str, int] | None
    auth_failures_per_min: int
    auth_failures_burst: int


def _route_settings(get: Getter[Any], num: Callable[[str, int, int, int], int]) -> _RouteSettings:
    """Who may call which HTTP route: the status role, open health checks, the metrics token
    and address, and the slow-down of failed authentications (ws_bridge/core/routes.py)."""
    return _RouteSettings(
        status_role=get("RTX_BRIDGE_STATUS_ROLE", text, "admin"),
        health_public=get("RTX_BRIDGE_HEALTH_PUBLIC", flag, True),
        metrics_token=get("RTX_BRIDGE_METRICS_TOKEN_FILE", _metrics_token, None),
        metrics_addr=get("RTX_BRIDGE_METRICS_ADDR", _address, None),
        auth_failures_per_min=num("RTX_BRIDGE_AUTH_FAILURES_PER_MIN", 1, 100_000, 10),
        auth_failures_burst=num("RTX_BRIDGE_AUTH_FAILURES_BURST", 1, 100_000, 10),
    )


_FetchSettings = TypedDict(  # noqa: UP013 - one statement keeps this module within 400 lines
    "_FetchSettings", {"fetch_max_wait_ms": int, "fetch_min_bytes": int, "fetch_max_records": int}
)


def _fetch_settings(num: Callable[[str, int, int, int], int], interval_ms: int) -> _FetchSettings:
    """The Kafka fetch sizes; the wait defaults to the batch interval (read before this)."""
    return _FetchSettings(
        fetch_max_wait_ms=num("RTX_BRIDGE_FETCH_MAX_WAIT_MS", 0, 10_000, interval_ms),
        fetch_min_bytes=num("RTX_BRIDGE_FETCH_MIN_BYTES", 1, 1 << 26, 1_048_576),
        fetch_max_records=num("RTX_BRIDGE_FETCH_MAX_RECORDS", 1, 1_000_000, 5000),
    )


def _check_consistent(settings: BridgeSettings) -> None:
    """Checks across variables, once each is valid on its own."""
    for name in ("jwt_roles_claim", "jwt_account_claim"):
        if not getattr(settings, name):
            raise ConfigError(f"RTX_{name.upper()}: must not be empty")
    if not settings.status_role or any(c.isspace() or c == "," for c in settings.status_role):
        raise ConfigError("RTX_BRIDGE_STATUS_ROLE: one role name (no spaces or commas)")
    if settings.metrics_addr is not None:
        host, port = settings.metrics_addr
        if port == settings.port and port != 0 and host in ("", settings.host):
            raise ConfigError(
                f"RTX_BRIDGE_METRICS_ADDR={host}:{port} is the bridge's own address: leave it "
                "unset to serve /metrics there"
            )
    if settings.pong_timeout_s <= settings.ping_interval_s:
        raise ConfigError(
            f"RTX_BRIDGE_PONG_TIMEOUT_S={settings.pong_timeout_s:g} must exceed "
            f"RTX_BRIDGE_PING_INTERVAL_S={settings.ping_interval_s:g}"
        )
