"""The transition rules of an alert's workflow: which event may apply in which state, and what it
changes. The fold (:mod:`.fold`) applies them in its canonical order; the bridge asks
:func:`refusal` before it accepts a desk's action, so both judge by the same table.

====================  =====================================  ======================================
event                 applies when                           changes
====================  =====================================  ======================================
acknowledge           open                                   acknowledged (by, at)
assign                not resolved                           assignee (by, at)
comment               always                                 comments + 1
snooze                not resolved                           snoozed until (replaces a snooze)
resolve               not resolved                           resolved by hand (by, at, reason);
                                                             the snooze ends
reopen                resolved                               open again: acknowledgement,
                                                             resolution and snooze cleared; the
                                                             unattended period starts again
escalate              open                                   escalated at; ``escalations`` counts
                                                             every escalate event, applied or not
wake                  the snooze it names is in force        the snooze ends; the unattended
                                                             period starts at its end
RESOLVED (alert log)  not resolved                           resolved by the rule (its source)
====================  =====================================  ======================================

Refusals (the bridge's error codes): ``already-resolved``, ``already-acknowledged``,
``not-resolved`` (reopen of an alert that is not resolved), ``not-snoozed`` (a wake of a snooze
no longer in force). An unknown alert is the caller's to report (``unknown-alert``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from streams.workflow.model import Step

OPEN, ACKNOWLEDGED, RESOLVED = "open", "acknowledged", "resolved"
UNKNOWN_ALERT: Final = "unknown-alert"
ALREADY_RESOLVED: Final = "already-resolved"
ALREADY_ACKNOWLEDGED: Final = "already-acknowledged"
NOT_RESOLVED: Final = "not-resolved"
NOT_SNOOZED: Final = "not-snoozed"


class Status(Protocol):
    """What :func:`refusal` reads: an :class:`~streams.workflow.model.AlertState`, or the fold's
    builder."""

    @property
    def status(self) -> str: ...

    @property
    def snooze_id(self) -> str | None: ...


def refusal(state: Status, action: str, refers_to: str | None = None) -> str | None:
    """Why ``action`` may not apply to ``state`` (an error code), or None when it may."""
    if action == "comment":
        return None
    if action == "reopen":
        return None if state.status == RESOLVED else NOT_RESOLVED
    if state.status == RESOLVED:
        return ALREADY_RESOLVED
    if action in ("acknowledge", "escalate") and state.status == ACKNOWLEDGED:
        return ALREADY_ACKNOWLEDGED
    if action == "wake" and (state.snooze_id is None or state.snooze_id != refers_to):
        return NOT_SNOOZED
    return None


class Builder:
    """The mutable state while the fold applies events (see the module docstring's table)."""

    def __init__(self, raised_us: int) -> None:
        self.status = OPEN
        self.snooze_id: str | None = None
        self.values: dict[str, Any] = {"attention_since_us": raised_us}
        self.escalations = 0
        self.comments = 0
        self.last_action_seq: int | None = None

    def fields(self) -> dict[str, Any]:
        """The AlertState fields this builder decides."""
        out = dict(self.values)
        out.update(
            status=self.status,
            snooze_id=self.snooze_id,
            escalations=self.escalations,
            comments=self.comments,
            last_action_seq=self.last_action_seq,
        )
        return out

    def end_snooze(self) -> None:
        self.snooze_id = None
        self.values["snoozed_until_us"] = None

    def set(self, **values: Any) -> None:
        self.values.update(values)


def apply_resolution(builder: Builder, record: Mapping[str, Any], seq: int) -> Step:
    """A RESOLVED entry of the alert log: the rule cleared the condition."""
    at_us, source = int(record["eventTime"]), str(record.get("source") or "") or None
    applied = builder.status != RESOLVED
    if applied:
        builder.status = RESOLVED
        builder.end_snooze()
        builder.set(resolved_by=source, resolved_at_us=at_us, resolution="rule", reason=None)
    return Step("resolved", at_us, source, seq, applied)


def apply_action(builder: Builder, record: Mapping[str, Any], seq: int) -> Step:
    """One AlertAction at its place in the canonical order."""
    action, user, at_us = str(record["action"]), str(record["user"]), int(record["time"])
    note, refers_to = record.get("note"), record.get("refersTo")
    if action == "escalate":
        builder.escalations = max(builder.escalations, int(record["level"]))
    applied = refusal(builder, action, refers_to) is None
    if applied:
        builder.last_action_seq = seq
        _change(builder, action, record, user, at_us)
    return Step(
        action,
        at_us,
        user,
        seq,
        applied,
        note=note,
        assignee=record.get("assignee"),
        until_us=record.get("until"),
        level=record.get("level"),
    )


def _change(builder: Builder, action: str, record: Mapping[str, Any], user: str, at: int) -> None:
    if action == "acknowledge":
        builder.status = ACKNOWLEDGED
        builder.set(acknowledged_by=user, acknowledged_at_us=at)
    elif action == "assign":
        builder.set(assignee=record["assignee"], assigned_by=user, assigned_at_us=at)
    elif action == "comment":
        builder.comments += 1
    elif action == "snooze":
        builder.snooze_id = str(record["actionId"])
        builder.set(snoozed_until_us=int(record["until"]))
    elif action == "resolve":
        builder.status = RESOLVED
        builder.end_snooze()
        builder.set(resolved_by=user, resolved_at_us=at, resolution="hand", reason=record["note"])
    elif action == "reopen":
        builder.status = OPEN
        builder.end_snooze()
        builder.set(acknowledged_by=None, acknowledged_at_us=None, resolved_by=None)
        builder.set(resolved_at_us=None, resolution=None, reason=None, attention_since_us=at)
    elif action == "escalate":
        builder.set(escalated_at_us=at)
    elif action == "wake":
        until = builder.values.get("snoozed_until_us") or at
        builder.end_snooze()
        builder.set(attention_since_us=until)
