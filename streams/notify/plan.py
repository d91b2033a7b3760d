"""What the notifier sends and writes, sans-I/O: :class:`Planner` folds the alert log and the
actions (the same :class:`~streams.workflow.Workflow` as the bridge), turns each transition into
notifications for the webhooks that want it, and runs the escalation policy at the time it is
given (no clock of its own).

- **Transitions** come from events: a RAISED entry (``raised``), a RESOLVED entry (``resolved``
  by the rule), an action that applied (``acknowledged``, ``assigned``, ``commented``,
  ``snoozed``, ``resolved``, ``reopened``, ``escalated``, ``woken``), and the policy's reminders
  (``renotified``). Each has an idempotency key per alert transition (e.g.
  ``20260119-103045-abc123/escalated/1``); a webhook gets each key once: the planner never
  queues a key twice, and keys the ledger already holds (sent or dead-lettered before a restart)
  are skipped. Transitions older than ``max_age`` (found at start) are not notified.
- **Escalation**: :meth:`Planner.due` returns the ``escalate`` and ``wake`` actions to write
  (stable action ids, so a second writer's copy is applied once) and the reminders due; an
  action is not asked for again while its write is in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from streams.notify.body import Transition, body
from streams.notify.config import NotifyConfig, Webhook
from streams.workflow import SYSTEM_USER, AlertState, EscalationPolicy, Workflow, action_record
from streams.workflow import due as due_for
from streams.workflow import wake_at as wake_at_for

# The event a notification names for each applied action.
EVENT_OF: Final = {
    "acknowledge": "acknowledged",
    "assign": "assigned",
    "comment": "commented",
    "snooze": "snoozed",
    "resolve": "resolved",
    "reopen": "reopened",
    "escalate": "escalated",
    "wake": "woken",
}


@dataclass(frozen=True, slots=True)
class Notification:
    """One delivery to do: ``body`` to ``webhook``, under ``transition.key``."""

    webhook: Webhook
    transition: Transition
    body: bytes = field(repr=False)

    @property
    def ledger_key(self) -> str:
        return f"{self.webhook.name}|{self.transition.key}"


class Planner:
    """Notifications and escalations from the alert log and the actions (module docstring)."""

    def __init__(self, config: NotifyConfig, policy: EscalationPolicy) -> None:
        self.config = config
        self.policy = policy
        self.workflow = Workflow(capacity=max(1000, config.alert_history))
        self._done: set[str] = set()  # ledger keys sent, dead-lettered, or queued
        self._writing: set[str] = set()  # action ids whose write is in flight
        self.skipped_old = 0

    def mark(self, ledger_key: str) -> None:
        """A ledger entry: this notification was sent (or dead-lettered) before."""
        self._done.add(ledger_key)

    # -- events ---------------------------------------------------------------------------------

    def on_alert(
        self, seq: int, record: Mapping[str, Any], logged_us: int | None, now_us: int
    ) -> list[Notification]:
        changed = self.workflow.add_alert(seq, record, logged_us)
        if record.get("state", "RAISED") == "RESOLVED":
            target, event, key_part = record.get("resolvesId"), "resolved", str(record["id"])
        else:
            target, event, key_part = str(record["id"]), "raised", ""
        state = self.workflow.state(str(target)) if target in changed else None
        if state is None or not _applied(state, seq, "resolved" if key_part else "raised"):
            return []
        at = logged_us if logged_us is not None else int(record["eventTime"])
        key = f"{state.alert_id}/{event}" + (f"/{key_part}" if key_part else "")
        source = state.source if event == "raised" else str(record.get("source") or "")
        return self._notify(
            Transition(event, state.alert_id, key, at, by=source or None), state, now_us
        )

    def on_action(self, seq: int, record: Mapping[str, Any], now_us: int) -> list[Notification]:
        changed = self.workflow.add_action(seq, record)
        action, alert_id = str(record["action"]), str(record["alertId"])
        self._writing.discard(str(record["actionId"]))
        state = self.workflow.state(alert_id) if alert_id in changed else None
        if state is None or not _applied(state, seq, action):
            return []
        event = EVENT_OF[action]
        if action == "escalate":
            key = f"{alert_id}/escalated/{record['level']}"
        elif action == "wake":
            key = f"{alert_id}/woken/{record['refersTo']}"
        else:
            key = f"{alert_id}/{event}/{record['actionId']}"
        transition = Transition(
            event,
            alert_id,
            key,
            int(record["time"]),
            by=str(record["user"]),
            note=record.get("note"),
            level=record.get("level"),
        )
        return self._notify(transition, state, now_us)

    def _notify(self, transition: Transition, state: AlertState, now_us: int) -> list[Notification]:
        if now_us - transition.at_us > self.config.max_age_us:
            self.skipped_old += 1
            return []
        out = []
        for hook in self.config.webhooks:
            if not hook.wants(transition.event, state.severity, state.category):
                continue
            note = Notification(hook, transition, body(hook.format, transition, state))
            if note.ledger_key not in self._done:
                self._done.add(note.ledger_key)
                out.append(note)
        return out

    # -- time -----------------------------------------------------------------------------------

    def due(self, now_us: int) -> tuple[list[dict[str, Any]], list[Notification]]:
        """What falls due at ``now_us``: actions to write (escalate, wake), and reminders."""
        writes: list[dict[str, Any]] = []
        notes: list[Notification] = []
        for state in list(self.workflow.states()):
            found = due_for(state, self.policy, now_us)
            if found is None:
                continue
            if found.kind == "renotify":
                transition = Transition(
                    "renotified",
                    state.alert_id,
                    found.key,
                    found.at_us,
                    level=found.level,
                    round=found.round,
                )
                notes.extend(self._notify(transition, state, now_us))
            elif found.action_id not in self._writing and (
                self.workflow.action_seq(found.action_id) is None
            ):
                self._writing.add(found.action_id)
                writes.append(self._action(state, found.kind, found.level, found.refers_to, now_us))
        return writes, notes

    def _action(
        self, state: AlertState, kind: str, level: int, refers_to: str | None, now_us: int
    ) -> dict[str, Any]:
        escalate = kind == "escalate"
        return action_record(
            actionId=f"escalate:{state.alert_id}:{level}" if escalate else f"wake:{refers_to}",
            alertId=state.alert_id,
            alertSeq=state.alert_seq,
            action=kind,
            user=SYSTEM_USER,
            time=now_us,
            level=level if escalate else None,
            refersTo=None if escalate else refers_to,
            logSeq=self.workflow.last_alert_seq,
        )

    def write_failed(self, action_id: str) -> None:
        """The write of an escalate or wake action failed: ask for it again at the next due."""
        self._writing.discard(action_id)

    def wake_at(self, now_us: int) -> int | None:
        """The earliest time after ``now_us`` something new falls due (None: nothing)."""
        times = (wake_at_for(s, self.policy, now_us) for s in self.workflow.states())
        return min((t for t in times if t is not None), default=None)


def _applied(state: AlertState, seq: int, kind: str) -> bool:
    """Whether the event at ``seq`` of this kind changed the state when the fold applied it."""
    return any(s.seq == seq and s.kind == kind and s.applied for s in reversed(state.timeline))


def ledger_keys(entries: Iterable[tuple[bytes | None, bytes | None]]) -> list[str]:
    """The ledger keys of the ledger topic's records (key, value); tombstones skipped."""
    return [k.decode() for k, v in entries if k is not None and v is not None]
