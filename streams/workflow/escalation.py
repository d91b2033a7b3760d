"""The escalation policy: what falls due for an alert at a given time. Pure; the time is passed in.

For an alert whose severity the policy covers (default: critical):

- **escalate**: open (not acknowledged, not resolved), not snoozed, and not escalated since its
  unattended period began (the raise, a reopen, or the end of a snooze): due ``ack_within``
  after that start (default 2 minutes). The escalation is an ``escalate`` action of level
  ``escalations + 1`` that refers to the alert.
- **renotify**: still open after an escalation in the current period: due every
  ``renotify_every`` after it (default 5 minutes), until acknowledged or resolved. Only the
  latest round is due (a notifier that was down does not send every round it missed).
- **wake**, for any severity: a snooze whose end has passed (and the alert is not resolved) wakes
  the alert: a ``wake`` action naming the snooze; the unattended period starts at its end.

Each :class:`Due` has a stable ``key``, the same whenever and however often it is computed: the
idempotency key of its notification, and (for escalate and wake) of the action written for it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from streams.workflow.model import AlertState
from streams.workflow.rules import OPEN, RESOLVED

MINUTE_US: Final = 60_000_000


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """``[workflow.escalation]`` of the config file (:mod:`.config`)."""

    severities: Collection[str] = frozenset({"critical"})
    ack_within_us: int = 2 * MINUTE_US
    renotify_every_us: int = 5 * MINUTE_US

    def __post_init__(self) -> None:
        if self.ack_within_us <= 0 or self.renotify_every_us <= 0:
            raise ValueError("ack_within_us and renotify_every_us must be > 0")


@dataclass(frozen=True, slots=True)
class Due:
    """Something the policy says is due for an alert."""

    kind: str  # escalate | renotify | wake
    alert_id: str
    at_us: int  # when it fell due
    level: int = 0  # escalate: the new level; renotify: the current one
    round: int = 0  # renotify: 1 for the first reminder after the escalation
    refers_to: str | None = None  # wake: the snooze's actionId

    @property
    def key(self) -> str:
        """Stable identity: the same for every evaluation that finds this due."""
        if self.kind == "escalate":
            return f"{self.alert_id}/escalated/{self.level}"
        if self.kind == "renotify":
            return f"{self.alert_id}/renotified/{self.level}/{self.round}"
        return f"{self.alert_id}/woken/{self.refers_to}"

    @property
    def action_id(self) -> str:
        """The actionId of the escalate or wake action written for it (stable, so a second
        writer of the same due writes the same action, which the fold applies once)."""
        if self.kind == "escalate":
            return f"escalate:{self.alert_id}:{self.level}"
        return f"wake:{self.refers_to}"


def next_due(state: AlertState, policy: EscalationPolicy) -> Due | None:
    """The next thing due for ``state`` whatever the time (its ``at_us`` may be in the future):
    what :func:`due` returns once the clock reaches ``at_us``; None: nothing will fall due
    until another event changes the state."""
    if state.status == RESOLVED:
        return None
    if state.snoozed_until_us is not None:
        return Due("wake", state.alert_id, state.snoozed_until_us, refers_to=state.snooze_id)
    if state.status != OPEN or state.severity not in policy.severities:
        return None
    since = state.attention_since_us
    escalated = state.escalated_at_us
    if escalated is None or escalated < since:
        at = since + policy.ack_within_us
        return Due("escalate", state.alert_id, at, level=state.escalations + 1)
    return Due(
        "renotify",
        state.alert_id,
        escalated + policy.renotify_every_us,
        level=state.escalations,
        round=1,
    )


def due(state: AlertState, policy: EscalationPolicy, now_us: int) -> Due | None:
    """What is due for ``state`` at ``now_us`` (at most one thing; see the module docstring)."""
    upcoming = next_due(state, policy)
    if upcoming is None or upcoming.at_us > now_us:
        return None
    if upcoming.kind != "renotify":
        return upcoming
    escalated = upcoming.at_us - policy.renotify_every_us
    rounds = (now_us - escalated) // policy.renotify_every_us
    at = escalated + rounds * policy.renotify_every_us
    return Due("renotify", state.alert_id, at, level=upcoming.level, round=rounds)


def wake_at(state: AlertState, policy: EscalationPolicy, now_us: int) -> int | None:
    """The earliest time after ``now_us`` at which something new falls due for ``state`` (a
    scheduler sleeps until the earliest over all alerts); None: nothing until the state changes
    (an escalate or wake already due changes it once its action is read back)."""
    upcoming = next_due(state, policy)
    if upcoming is None:
        return None
    if upcoming.at_us > now_us:
        return upcoming.at_us
    if upcoming.kind != "renotify":
        return None
    escalated = upcoming.at_us - policy.renotify_every_us
    rounds = (now_us - escalated) // policy.renotify_every_us
    return escalated + (rounds + 1) * policy.renotify_every_us
