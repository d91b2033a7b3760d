"""The notifier's part of the config file (``RTX_CONFIG_FILE``): ``[notify]`` and its webhooks.

::

    [notify]
    max_attempts = 5            # deliveries tried per notification before it is dead-lettered
    backoff_initial_s = 1.0     # wait after the first failure; doubled after each, up to
    backoff_max_s = 60.0
    timeout_s = 10.0            # one HTTP request
    max_age_min = 60.0          # older transitions found at start are not notified
    alert_history = 10000       # newest alerts read at start (their actions too)

    [[notify.webhooks]]
    name = "desk-slack"         # unique; part of each idempotency key's ledger entry
    url = "https://hooks.slack.com/services/..."
    format = "slack"            # "json" (default) or "slack" ({"text": ...})
    severities = ["critical"]   # default: all
    categories = ["exposure"]   # default: all
    events = ["raised", "escalated", "renotified", "woken"]   # the default

Events: ``raised``, ``escalated``, ``renotified``, ``woken``, ``acknowledged``, ``assigned``,
``commented``, ``snoozed``, ``resolved``, ``reopened``. A key left out keeps its default; an
unknown key or a bad value raises :class:`~streams.settings.ConfigError` naming the key path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from streams.settings import ConfigError, check_keys, int_setting

SEVERITIES: Final = ("info", "warning", "error", "critical")
CATEGORIES: Final = ("exposure", "lp", "routing", "system")
EVENTS: Final = (
    "raised",
    "escalated",
    "renotified",
    "woken",
    "acknowledged",
    "assigned",
    "commented",
    "snoozed",
    "resolved",
    "reopened",
)
DEFAULT_EVENTS: Final = frozenset({"raised", "escalated", "renotified", "woken"})
FORMATS: Final = ("json", "slack")
_WEBHOOK_KEYS: Final = ("name", "url", "format", "severities", "categories", "events")
_KEYS: Final = (
    "max_attempts",
    "backoff_initial_s",
    "backoff_max_s",
    "timeout_s",
    "max_age_min",
    "alert_history",
    "webhooks",
)


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where notifications of some alerts go, and in which form."""

    name: str
    url: str = field(repr=False)  # may hold a secret path (Slack's): never printed whole
    format: str = "json"
    severities: frozenset[str] = frozenset(SEVERITIES)
    categories: frozenset[str] = frozenset(CATEGORIES)
    events: frozenset[str] = DEFAULT_EVENTS

    def wants(self, event: str, severity: str, category: str) -> bool:
        return event in self.events and severity in self.severities and category in self.categories

    @property
    def where(self) -> str:
        """The URL without path or query (for logs: a webhook URL's path is its secret)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}/..."


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    webhooks: tuple[Webhook, ...] = ()
    max_attempts: int = 5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    timeout_s: float = 10.0
    max_age_us: int = 60 * 60_000_000
    alert_history: int = 10_000

    def backoff_s(self, failures: int) -> float:
        """The wait after the ``failures``-th failed attempt (1, 2, ...)."""
        return float(min(self.backoff_max_s, self.backoff_initial_s * 2 ** (failures - 1)))


def notify_config(doc: Mapping[str, Any]) -> NotifyConfig:
    """The ``[notify]`` table of a parsed config document (the whole file)."""
    table = doc.get("notify", {})
    check_keys("notify", table, _KEYS)
    default = NotifyConfig()
    raw_hooks = table.get("webhooks", [])
    if not isinstance(raw_hooks, list):
        raise ConfigError("notify.webhooks: expected an array of tables ([[notify.webhooks]])")
    hooks = tuple(_webhook(f"notify.webhooks[{i}]", raw) for i, raw in enumerate(raw_hooks))
    names = [h.name for h in hooks]
    if len(set(names)) != len(names):
        raise ConfigError(f"notify.webhooks: names must be unique, got {names}")
    config = NotifyConfig(
        webhooks=hooks,
        max_attempts=int_setting("notify.max_attempts", table.get("max_attempts", 5), 1, 100),
        backoff_initial_s=_seconds(table, "backoff_initial_s", default.backoff_initial_s),
        backoff_max_s=_seconds(table, "backoff_max_s", default.backoff_max_s),
        timeout_s=_seconds(table, "timeout_s", default.timeout_s),
        max_age_us=round(_seconds(table, "max_age_min", 60.0) * 60_000_000),
        alert_history=int_setting(
            "notify.alert_history", table.get("alert_history", 10_000), 1, 1_000_000
        ),
    )
    if config.backoff_max_s < config.backoff_initial_s:
        raise ConfigError("notify.backoff_max_s: must be >= notify.backoff_initial_s")
    return config


def _seconds(table: Mapping[str, Any], key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"notify.{key}={value!r}: expected a number")
    if not 0 < value <= 86_400:
        raise ConfigError(f"notify.{key}={value}: must be > 0 and <= 86400")
    return float(value)


def _webhook(prefix: str, raw: Any) -> Webhook:
    check_keys(prefix, raw, _WEBHOOK_KEYS)
    name, url = raw.get("name"), raw.get("url")
    if not isinstance(name, str) or not name.strip() or "|" in name:
        raise ConfigError(f"{prefix}.name: a non-blank name without '|'")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{prefix}.url: an http:// or https:// URL")
    fmt = raw.get("format", "json")
    if fmt not in FORMATS:
        raise ConfigError(f"{prefix}.format={fmt!r}: one of {', '.join(FORMATS)}")
    return Webhook(
        name=name,
        url=url,
        format=fmt,
        severities=_choices(f"{prefix}.severities", raw, "severities", SEVERITIES),
        categories=_choices(f"{prefix}.categories", raw, "categories", CATEGORIES),
        events=_choices(f"{prefix}.events", raw, "events", EVENTS, DEFAULT_EVENTS),
    )


def _choices(
    key: str,
    raw: Mapping[str, Any],
    name: str,
    allowed: tuple[str, ...],
    default: frozenset[str] | None = None,
) -> frozenset[str]:
    value = raw.get(name)
    if value is None:
        return frozenset(allowed) if default is None else default
    if not isinstance(value, list) or not value or not all(v in allowed for v in value):
        raise ConfigError(f"{key}={value!r}: a non-empty list of {', '.join(allowed)}")
    return frozenset(value)
