"""The Alert record outside the rules: contract ids, event-time helpers, service alerts (pure).

Every alert id is derived from its cause by :func:`alert_id` (the contract's
``YYYYMMDD-HHMMSS-xxxxxx``), so a replay or a redelivery yields the same ids. A ServiceAlert
published by a trading service becomes a RAISED Alert with :func:`from_service_alert`, without
any rule or state. The rules that derive the other alerts are in :mod:`streams.alerts.engine`
(the engine) and :mod:`streams.alerts.rules` (their definitions); ``docs/alerts.md`` describes
them all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

Alert = dict[str, Any]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def alert_id(event_time_micros: int, cause: str) -> str:
    """The contract's id ``YYYYMMDD-HHMMSS-xxxxxx``: the UTC second of the cause, then the first
    six hex digits of sha256(cause). ``%Y`` of strftime is not zero-padded below year 1000 on
    glibc, hence the explicit formatting."""
    t = EPOCH + timedelta(microseconds=event_time_micros)
    digest = hashlib.sha256(cause.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return f"{t.year:04d}{t.month:02d}{t.day:02d}-{t.hour:02d}{t.minute:02d}{t.second:02d}-{digest}"


def from_service_alert(record: Mapping[str, Any]) -> Alert:
    """A ServiceAlert (already validated by the worker) as a RAISED Alert record."""
    event_time = micros(record["eventTime"])
    return {
        "id": alert_id(event_time, "service:" + str(record["eventId"])),
        "eventTime": event_time,
        "severity": record["severity"],
        "category": record["category"],
        "title": record["title"],
        "message": record["message"],
        "source": record["source"],
        "actionItems": list(record.get("actionItems") or ()),
        "state": "RAISED",
        "resolvesId": None,
        "ruleId": None,
        "value": None,
        "threshold": None,
    }


def micros(value: Any) -> int:
    """An event time as int micros since the epoch (from an aware datetime or a number)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return (value - EPOCH) // timedelta(microseconds=1)
    return int(value)


def iso(micros: int) -> str:
    """Int micros since the epoch as ISO 8601 UTC with microseconds (for alert texts)."""
    return (EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
