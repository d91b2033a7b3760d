"""An alert's state as JSON data: the ``data`` of the bridge's ``alert-state`` message and the
state in the notifier's webhook bodies, built in one place. Times come out through the caller's
formatter (the bridge's RFC 3339 with six fractional digits and ``Z``), so both read the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.workflow.model import AlertState, Step

Formatter = Callable[[int], str]


def state_data(state: AlertState, fmt: Formatter, *, timeline: bool = True) -> dict[str, Any]:
    """``state`` with camelCase keys; timestamps through ``fmt`` (None stays null)."""

    def when(us: int | None) -> str | None:
        return None if us is None else fmt(us)

    data: dict[str, Any] = {
        "id": state.alert_id,
        "alertSeq": state.alert_seq,
        "severity": state.severity,
        "category": state.category,
        "title": state.title,
        "message": state.message,
        "source": state.source,
        "raisedAt": fmt(state.raised_at_us),
        "status": state.status,
        "acknowledgedBy": state.acknowledged_by,
        "acknowledgedAt": when(state.acknowledged_at_us),
        "assignee": state.assignee,
        "assignedBy": state.assigned_by,
        "snoozedUntil": when(state.snoozed_until_us),
        "resolvedBy": state.resolved_by,
        "resolvedAt": when(state.resolved_at_us),
        "resolution": state.resolution,
        "reason": state.reason,
        "escalations": state.escalations,
        "escalatedAt": when(state.escalated_at_us),
        "comments": state.comments,
        "events": state.events,
        "lastActionSeq": state.last_action_seq,
        "actionSeq": state.action_seq,
    }
    if timeline:
        data["timeline"] = [step_data(step, fmt) for step in state.timeline]
    return data


def step_data(step: Step, fmt: Formatter) -> dict[str, Any]:
    """One timeline step; the optional fields only when set."""
    data: dict[str, Any] = {
        "kind": step.kind,
        "at": fmt(step.at_us),
        "by": step.by,
        "seq": step.seq,
        "applied": step.applied,
    }
    if step.note is not None:
        data["note"] = step.note
    if step.assignee is not None:
        data["assignee"] = step.assignee
    if step.until_us is not None:
        data["until"] = fmt(step.until_us)
    if step.level is not None:
        data["level"] = step.level
    return data
