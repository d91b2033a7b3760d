"""The workflow's values: alert-log entries and actions as the fold reads them, the timeline's
steps, and an alert's state. Frozen dataclasses; no logic beyond derived properties."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class LogEntry:
    """An entry of the alert log: its seq (offset), the Alert record, and when it was appended
    (the Kafka record's timestamp, in microseconds; None: use the record's eventTime)."""

    seq: int
    record: Mapping[str, Any] = field(compare=False)
    logged_us: int | None = field(default=None, compare=False)

    @property
    def appended_us(self) -> int:
        return int(self.record["eventTime"]) if self.logged_us is None else self.logged_us


@dataclass(frozen=True, slots=True)
class ActionEntry:
    """An AlertAction record and its seq (offset in the actions topic)."""

    seq: int
    record: Mapping[str, Any] = field(compare=False)

    @property
    def action_id(self) -> str:
        return str(self.record["actionId"])


@dataclass(frozen=True, slots=True)
class Step:
    """One event of an alert's timeline."""

    kind: str  # raised, resolved (the rule), or an action: acknowledge, assign, ...
    at_us: int
    by: str | None  # the user; for log entries the rule's source (e.g. ExposureMonitor)
    seq: int  # alert seq for log entries, action seq for actions
    applied: bool
    note: str | None = None
    assignee: str | None = None
    until_us: int | None = None
    level: int | None = None


@dataclass(frozen=True, slots=True)
class AlertState:
    """The state of one alert (see the module docstring)."""

    alert_id: str
    alert_seq: int
    severity: str
    category: str
    title: str
    raised_at_us: int
    status: str  # open | acknowledged | resolved
    acknowledged_by: str | None = None
    acknowledged_at_us: int | None = None
    assignee: str | None = None
    assigned_by: str | None = None
    assigned_at_us: int | None = None
    snoozed_until_us: int | None = None
    snooze_id: str | None = None
    resolved_by: str | None = None
    resolved_at_us: int | None = None
    resolution: str | None = None  # rule | hand
    reason: str | None = None
    escalations: int = 0  # escalate events seen (the next one is level escalations + 1)
    escalated_at_us: int | None = None
    attention_since_us: int = 0  # start of the current unattended period (raise, reopen, wake)
    comments: int = 0
    events: int = 1
    last_action_seq: int | None = None  # the last action that applied
    action_seq: int | None = None  # the highest action folded, applied or not (a resync cursor)
    updated_us: int = 0
    timeline: tuple[Step, ...] = ()
    message: str = ""  # the alert's text and who raised it (a rule's source, or a service)
    source: str = ""

    @property
    def snoozed(self) -> bool:
        return self.snoozed_until_us is not None
