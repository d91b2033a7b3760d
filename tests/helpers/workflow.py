"""Alert and AlertAction records for the workflow tests (fold, bridge actions, notifier)."""

from __future__ import annotations

import itertools
from typing import Any

from streams.workflow import action_record

T0 = 1_768_818_645_000_000  # 2026-01-19T10:30:45Z in microseconds
MINUTE = 60_000_000
_ids = itertools.count(1)


def alert(
    alert_id: str = "20260119-103045-aaaaaa",
    *,
    severity: str = "critical",
    category: str = "exposure",
    at: int = T0,
    resolves: str | None = None,
    source: str = "ExposureMonitor",
) -> dict[str, Any]:
    """An Alert record (RAISED, or RESOLVED with ``resolves``)."""
    return {
        "id": alert_id,
        "eventTime": at,
        "severity": "info" if resolves else severity,
        "category": category,
        "title": f"Resolved: {alert_id}" if resolves else f"Alert {alert_id}",
        "message": "Current exposure is at 92.0% of limit",
        "source": source,
        "actionItems": ["Review open positions"],
        "state": "RESOLVED" if resolves else "RAISED",
        "resolvesId": resolves,
        "ruleId": "exposure.utilization.critical",
        "value": 92.0,
        "threshold": 90.0,
    }


def action(
    kind: str,
    alert_id: str = "20260119-103045-aaaaaa",
    *,
    user: str = "dana",
    at: int = T0 + MINUTE,
    log_seq: int = 0,
    action_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An AlertAction record; ``extra``: note, assignee, until, level, refersTo, roles, ..."""
    defaults: dict[str, Any] = {
        "comment": {"note": "looking"},
        "resolve": {"note": "hedged"},
        "assign": {"assignee": "bob"},
        "snooze": {"until": at + 10 * MINUTE},
        "escalate": {"level": 1},
    }
    values = {**defaults.get(kind, {}), **extra}
    return action_record(
        actionId=action_id or f"a{next(_ids)}",
        alertId=alert_id,
        action=kind,
        user=user,
        time=at,
        logSeq=log_seq,
        **values,
    )
