"""An alert's state: the fold of its alert-log entries and its actions. Pure, no clock.

:func:`fold` takes the alert's RAISED entry, the RESOLVED entries that name it and its actions,
and returns its :class:`AlertState`: open, acknowledged (by whom, when), assigned to whom,
snoozed until when, resolved (by whom: a user, or the rule that cleared), escalations, comments,
and the timeline of every event.

**One canonical order.** The state depends only on *which* events there are, never on the order
they were read in nor on how often one was read, so every reader (each bridge, the notifier, a
replay) that has the same events has the same state:

1. the RAISED entry opens the fold;
2. every other event follows, sorted by its place in the alert log: a RESOLVED entry at alert
   seq ``a`` sorts as ``(a, 0, a)``, an action as ``(logSeq, 1, its own seq)``: after every
   alert-log entry its writer had read, before the ones it had not (the writer's view when it
   accepted the action), actions of the same view in the order of the actions topic;
3. duplicates count once: log entries by seq, actions by ``actionId`` (the lowest seq wins: a
   retried action that was written twice is applied once).

Each event is then applied in that order by the transition rules of :mod:`.rules`; one that the
rules refuse at its place (an acknowledge that lost a race with a resolve on another bridge) stays
in the timeline with ``applied = False`` and changes nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from streams.workflow.model import ActionEntry, AlertState, LogEntry, Step
from streams.workflow.rules import Builder, apply_action, apply_resolution

TIMELINE_MAX: Final = 200  # newest steps kept in a state; ``events`` counts them all


def order_key(event: LogEntry | ActionEntry) -> tuple[int, int, int]:
    """An event's place in the canonical order (module docstring, point 2)."""
    if isinstance(event, LogEntry):
        return (event.seq, 0, event.seq)
    return (int(event.record["logSeq"]), 1, event.seq)


def unique_actions(actions: Iterable[ActionEntry]) -> list[ActionEntry]:
    """Each actionId once, at its lowest seq."""
    best: dict[str, ActionEntry] = {}
    for entry in actions:
        held = best.get(entry.action_id)
        if held is None or entry.seq < held.seq:
            best[entry.action_id] = entry
    return list(best.values())


def fold(
    raised: LogEntry, resolutions: Iterable[LogEntry] = (), actions: Iterable[ActionEntry] = ()
) -> AlertState:
    """The state of the alert ``raised`` opened, given the events that name it."""
    record = raised.record
    builder = Builder(raised.appended_us)
    by_seq = {e.seq: e for e in resolutions if e.seq != raised.seq}
    acts = unique_actions(actions)
    rest: list[LogEntry | ActionEntry] = [*by_seq.values(), *acts]
    rest.sort(key=order_key)
    source = str(record.get("source") or "")
    steps = [Step("raised", int(record["eventTime"]), source or None, raised.seq, True)]
    updated = int(record["eventTime"])
    for event in rest:
        if isinstance(event, LogEntry):
            step = apply_resolution(builder, event.record, event.seq)
        else:
            step = apply_action(builder, event.record, event.seq)
        steps.append(step)
        updated = max(updated, step.at_us)
    # One construction with the builder's fields over the defaults (dataclasses.replace of a
    # first one cost as much again: the bridge folds every alert it relays).
    fields: dict[str, Any] = dict(
        alert_id=str(record["id"]),
        alert_seq=raised.seq,
        severity=str(record["severity"]),
        category=str(record["category"]),
        title=str(record["title"]),
        raised_at_us=int(record["eventTime"]),
        status=builder.status,
        events=len(steps),
        updated_us=updated,
        timeline=tuple(steps[-TIMELINE_MAX:]),
        action_seq=max((a.seq for a in acts), default=None),
        message=str(record.get("message") or ""),
        source=source,
    )
    fields.update(builder.fields())
    return AlertState(**fields)
