"""The alert workflow: what a desk does with an alert (acknowledge, assign, comment, snooze,
resolve, reopen), what the system does (escalate, wake), and an alert's state as the fold of the
alert log and those actions. Pure: no Kafka, no sockets, no clock of its own (docs/workflow.md).

The bridge and ``rtx-analytics notify`` use the same fold, so every reader of the same events has
the same state:

- :mod:`.events`: the ``AlertAction`` event described once (builder, checks);
- :mod:`.model`: log entries, actions, timeline steps, ``AlertState``;
- :mod:`.rules`: the transition table, shared by the fold and the bridge's refusals;
- :mod:`.fold`: one alert's state, in one canonical order;
- :mod:`.store`: ``Workflow``, the states of many alerts fed event by event in any order;
- :mod:`.escalation`: the escalation policy (escalate, renotify, wake) for a given time;
- :mod:`.config`: ``[workflow.escalation]`` of the config file;
- :mod:`.wire`: an alert's state as the JSON the bridge and the notifier send.
"""

from streams.workflow.escalation import Due, EscalationPolicy, due, next_due, wake_at
from streams.workflow.events import (
    ACTIONS,
    DESK_ACTIONS,
    NOTE_MAX,
    SYSTEM_ACTIONS,
    SYSTEM_USER,
    InvalidAction,
    action_record,
    validate_action,
)
from streams.workflow.fold import fold
from streams.workflow.model import ActionEntry, AlertState, LogEntry, Step
from streams.workflow.rules import refusal
from streams.workflow.store import Workflow

__all__ = [
    "ACTIONS",
    "DESK_ACTIONS",
    "NOTE_MAX",
    "SYSTEM_ACTIONS",
    "SYSTEM_USER",
    "ActionEntry",
    "AlertState",
    "Due",
    "EscalationPolicy",
    "InvalidAction",
    "LogEntry",
    "Step",
    "Workflow",
    "action_record",
    "due",
    "fold",
    "next_due",
    "refusal",
    "validate_action",
    "wake_at",
]
