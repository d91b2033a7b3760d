"""What a webhook receives: a JSON body per notification (``json``), or a Slack-compatible
``{"text": ...}`` (``slack``). The body depends only on the transition and the alert's state at
that transition, so every retry of a notification sends the same bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from streams.workflow import AlertState
from streams.workflow.wire import state_data

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def iso(us: int) -> str:
    """RFC 3339 UTC with microseconds: 2026-01-19T10:30:45.123456Z."""
    return (_EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Transition:
    """Something that happened to an alert that a webhook may want to hear about."""

    event: str  # raised, escalated, renotified, woken, acknowledged, ...
    alert_id: str
    key: str  # the idempotency key: stable for this transition, whoever computes it
    at_us: int
    by: str | None = None
    note: str | None = None
    level: int | None = None
    round: int | None = None


def json_body(transition: Transition, state: AlertState) -> bytes:
    """``{"type": "alert.<event>", "idempotencyKey", "transition", "alert"}``."""
    detail: dict[str, Any] = {"event": transition.event, "at": iso(transition.at_us)}
    for name in ("by", "note", "level", "round"):
        value = getattr(transition, name)
        if value is not None:
            detail[name] = value
    body = {
        "type": f"alert.{transition.event}",
        "idempotencyKey": transition.key,
        "transition": detail,
        "alert": state_data(state, iso, timeline=False),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


_VERBS: Final = {
    "raised": "raised",
    "escalated": "ESCALATED (not acknowledged)",
    "renotified": "still not acknowledged",
    "woken": "snooze ended",
    "acknowledged": "acknowledged",
    "assigned": "assigned",
    "commented": "commented",
    "snoozed": "snoozed",
    "resolved": "resolved",
    "reopened": "reopened",
}


def slack_body(transition: Transition, state: AlertState) -> bytes:
    """Slack's incoming-webhook form: one line of mrkdwn text."""
    verb = _VERBS.get(transition.event, transition.event)
    level = f" (level {transition.level})" if transition.event == "escalated" else ""
    who = f" by {transition.by}" if transition.by else ""
    note = f": {transition.note}" if transition.note else ""
    text = (
        f"*{state.severity.upper()}* {state.title} — {verb}{level}{who}{note}\n"
        f"{state.message} (alert {state.alert_id}, {state.category}, status {state.status})"
    )
    return json.dumps({"text": text}, ensure_ascii=False).encode()


def body(fmt: str, transition: Transition, state: AlertState) -> bytes:
    return slack_body(transition, state) if fmt == "slack" else json_body(transition, state)
