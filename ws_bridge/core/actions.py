"""Alert actions over the WebSocket, sans-I/O: the action frames, who may send which (roles), the
decision for each (refused with a reason, or an ``AlertAction`` record to write), and the
messages: ``confirmed``, the refusals' ``error``, and ``alert-state`` on the alerts channel.

Frames (docs/bridge.md, "Alert actions")::

    {"action": "acknowledge", "alertId": "20260119-103045-abc123", "seq": 41, "epoch": "Ylq3...",
     "note": "mine", "actionId": "7c1e...", "id": "a1"}

``assign`` needs ``assignee``; ``comment`` and ``resolve`` need ``note`` (a resolve's reason);
``snooze`` needs ``until`` (RFC 3339). ``seq``/``epoch`` (optional) pin the alert: another alert
under that id, or a recreated log, is ``unknown-alert``. ``actionId`` (optional, 1-64 visible
characters) is the client's idempotency key: an action id already written is answered with the
first write's ``confirmed`` (``duplicate: true``) and not written again. An action frame may be
up to :data:`MAX_ACTION_FRAME_BYTES` (a note of 500 characters, even \\u-escaped, fits).

The states come from one :class:`~streams.workflow.Workflow`, fed by the shell with every
alert-log entry and every action read back from the actions topic (or confirmed by the broker);
:class:`ActionDesk` turns each change into an ``alert-state`` message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from streams.workflow import DESK_ACTIONS, NOTE_MAX, AlertState, Workflow, action_record, refusal
from streams.workflow.events import ACTION_ID_MAX, NAME_MAX, ROLES_MAX
from streams.workflow.wire import state_data
from ws_bridge.core.errors import ProtocolError
from ws_bridge.core.fields import optional_int, optional_str, optional_time
from ws_bridge.core.messages import (
    Encoded,
    Message,
    RequestId,
    encode,
    error_message,
    format_timestamp,
    now_micros,
    parse_timestamp,
)
from ws_bridge.core.roles import RoleRules, role_rules

MAX_ACTION_FRAME_BYTES: Final = 4096
DEFAULT_ROLES: Final = frozenset({"dealer", "risk", "admin"})
ANY: Final = "*"
SNOOZE_MAX_US: Final = 30 * 24 * 3600 * 1_000_000  # a snooze ends within 30 days
NOT_ALLOWED, UNKNOWN_ALERT = "not-allowed", "unknown-alert"
_WHY: Final = {
    "already-resolved": "the alert is already resolved",
    "already-acknowledged": "the alert is already acknowledged",
    "not-resolved": "the alert is not resolved",
}
UNAVAILABLE, FAILED = "actions-unavailable", "action-failed"


@dataclass(frozen=True, slots=True)
class Act:
    """A desk's action frame, parsed (see the module docstring)."""

    action: str
    alert_id: str
    seq: int | None = None
    epoch: str | None = None
    note: str | None = None
    assignee: str | None = None
    until: str | None = None
    action_id: str | None = None
    request_id: RequestId | None = None


def parse_act(action: str, obj: Mapping[str, Any], request_id: RequestId | None) -> Act:
    """The fields of an action frame (``action`` is one of DESK_ACTIONS); ProtocolError."""
    alert_id = optional_str(obj, "alertId", NAME_MAX)
    if alert_id is None:
        raise ProtocolError("bad-field", f'{action} needs "alertId"')
    needs = {"assign": "assignee", "comment": "note", "resolve": "note", "snooze": "until"}
    act = Act(
        action,
        alert_id,
        seq=optional_int(obj, "seq", minimum=0),
        epoch=optional_str(obj, "epoch", 128),
        note=_note(obj),
        assignee=optional_str(obj, "assignee", NAME_MAX) if action == "assign" else None,
        until=optional_time(obj, "until") if action == "snooze" else None,
        action_id=_action_id(obj),
        request_id=request_id,
    )
    wanted = needs.get(action)
    if wanted is not None and getattr(act, wanted) is None:
        raise ProtocolError("bad-field", f'{action} needs "{wanted}"')
    return act


def _note(obj: Mapping[str, Any]) -> str | None:
    note = optional_str(obj, "note", NOTE_MAX)
    if note is not None and not note.strip():
        raise ProtocolError("bad-field", '"note" must not be blank')
    return note


def _action_id(obj: Mapping[str, Any]) -> str | None:
    value = optional_str(obj, "actionId", ACTION_ID_MAX)
    if value is not None and not (value.isascii() and value.isprintable() and " " not in value):
        raise ProtocolError("bad-field", '"actionId" must be visible ASCII without spaces')
    return value


class ActionPolicy:
    """Action -> roles allowed to send it; ``*`` = any authenticated user. Unnamed actions keep
    the default: ``dealer``, ``risk`` and ``admin`` act, everyone else (e.g. ``viewer``) reads."""

    def __init__(self, rules: Mapping[str, Iterable[str]] | None = None) -> None:
        self.rules = {action: DEFAULT_ROLES for action in DESK_ACTIONS}
        for action, roles in (rules or {}).items():
            if action not in DESK_ACTIONS:
                raise ValueError(f"unknown action {action!r}; known: {', '.join(DESK_ACTIONS)}")
            role_set = frozenset(roles)
            if not role_set:
                raise ValueError(f"action {action!r} has an empty role list")
            self.rules[action] = role_set

    def allows(self, roles: Iterable[str], action: str) -> bool:
        allowed = self.rules.get(action)
        if allowed is None:
            return False
        return ANY in allowed or not allowed.isdisjoint(roles)

    def allowed_actions(self, roles: Iterable[str]) -> tuple[str, ...]:
        held = frozenset(roles)
        return tuple(a for a in DESK_ACTIONS if self.allows(held, a))


def parse_action_roles(name: str, raw: str) -> RoleRules:
    """``RTX_BRIDGE_ACTION_ROLES``: ``acknowledge=dealer|risk;resolve=risk|admin;comment=*``
    (ConfigError naming the variable); an action not named keeps the default."""
    return role_rules(name, raw, DESK_ACTIONS, "action")


class Identity(Protocol):
    """Who acts: the session's verified token (:class:`ws_bridge.core.auth.Identity`)."""

    @property
    def user(self) -> str: ...

    @property
    def roles(self) -> Iterable[str]: ...


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """An action to write (``record``), or one already written (``duplicate_seq``)."""

    act: Act
    record: Mapping[str, Any]
    duplicate_seq: int | None = None

    @property
    def action_id(self) -> str:
        return str(self.record["actionId"])


class Responder(Protocol):
    """Who hears the outcome of a write: the session that sent the action."""

    def action_confirmed(
        self, accepted: Accepted, seq: int, now: float, duplicate: bool = False
    ) -> None: ...

    def action_failed(self, accepted: Accepted, message: str, now: float) -> None: ...


Writer = Callable[[Accepted, Responder], None]


class ActionDesk:
    """The bridge's side of the workflow: decisions, and the ``alert-state`` messages.

    ``epoch`` gives the alert log's current epoch; ``writer`` (set by the shell) writes an
    accepted action and then tells the :class:`Responder`. ``snapshot_max`` bounds the states a
    new subscriber of ``alerts`` gets first (the newest open ones)."""

    def __init__(
        self,
        policy: ActionPolicy,
        workflow: Workflow,
        epoch: Callable[[], str | None],
        *,
        snapshot_max: int = 100,
    ) -> None:
        self.policy = policy
        self.workflow = workflow
        self._epoch = epoch
        self.snapshot_max = snapshot_max
        self.writer: Writer | None = None

    # -- feeding (the shell) -----------------------------------------------------------------

    def on_alert(
        self, seq: int, record: Mapping[str, Any], logged_us: int | None = None
    ) -> list[Encoded]:
        """An alert-log entry; the ``alert-state`` messages of the states it changed."""
        return self._messages(self.workflow.add_alert(seq, record, logged_us))

    def on_action(self, seq: int, record: Mapping[str, Any]) -> list[Encoded]:
        """An action read back (or confirmed by the broker at ``seq``); the changed states."""
        return self._messages(self.workflow.add_action(seq, record))

    def _messages(self, changed: Iterable[str]) -> list[Encoded]:
        out = []
        for alert_id in changed:
            encoded = self.state_message(alert_id)
            if encoded is not None:
                out.append(encoded)
        return out

    # -- messages ----------------------------------------------------------------------------

    def state_message(self, alert_id: str) -> Encoded | None:
        """The ``alert-state`` message of an alert, encoded once for every session."""
        state = self.workflow.state(alert_id)
        return None if state is None else self._encoded(state)

    def _encoded(self, state: AlertState) -> Encoded:
        data = state_data(state, format_timestamp)
        data["epoch"] = self._epoch()
        stamp = format_timestamp(state.updated_us)
        message: Message = {"type": "alert-state", "timestamp": stamp, "data": data}
        # alert-state is not a record's message (TYPE_CHANNELS): name its channel here (built
        # directly: dataclasses.replace was a third of this message's cost).
        return encode(message, channel="alerts")

    def snapshot(self, channels: Iterable[str]) -> list[Encoded]:
        """For a new subscriber of ``alerts``: the newest ``snapshot_max`` states that are not
        resolved, oldest first (resumed and replayed alerts bring their own states)."""
        if "alerts" not in set(channels) or self.snapshot_max <= 0:
            return []
        open_states = [s for s in self.workflow.states() if s.status != "resolved"]
        open_states.sort(key=lambda s: s.alert_seq)
        return [self._encoded(s) for s in open_states[-self.snapshot_max :]]

    def state_after(self, item: Encoded) -> Encoded | None:
        """The state to send right after a resumed or replayed ``alert`` message: that of the
        alert it raises, or of the alert it resolves."""
        data = item.message.get("data", {})
        target = data.get("resolvesId") or data.get("id")
        return self.state_message(target) if isinstance(target, str) else None

    # -- decisions ---------------------------------------------------------------------------

    def decide(self, identity: Identity, act: Act, now: float) -> Refusal | Accepted:
        """Whether ``identity`` may do ``act`` now: a :class:`Refusal` (its error code), or the
        record to write (or the first write of a retried ``actionId``)."""
        if not self.policy.allows(identity.roles, act.action):
            return Refusal(NOT_ALLOWED, f"your roles do not allow {act.action}")
        state = self.workflow.state(act.alert_id)
        epoch = self._epoch()
        if (
            state is None
            or (act.seq is not None and act.seq != state.alert_seq)
            or (act.epoch is not None and epoch is not None and act.epoch != epoch)
        ):
            return Refusal(UNKNOWN_ALERT, f"no alert {act.alert_id!r} at that position")
        if act.action_id is not None:
            written = self.workflow.action_seq(act.action_id)
            if written is not None:
                return Accepted(act, {"actionId": act.action_id}, duplicate_seq=written)
        refused = refusal(state, act.action)
        if refused is not None:
            return Refusal(refused, f"{act.action}: {_WHY.get(refused, refused)}")
        until_us = None if act.until is None else parse_timestamp(act.until)
        if until_us is not None and not 0 < until_us - now_micros(now) <= SNOOZE_MAX_US:
            return Refusal("bad-field", '"until" must be in the future, within 30 days')
        return Accepted(act, self._record(identity, act, state, until_us, epoch, now))

    def _record(
        self,
        identity: Identity,
        act: Act,
        state: AlertState,
        until_us: int | None,
        epoch: str | None,
        now: float,
    ) -> dict[str, Any]:
        return action_record(
            actionId=act.action_id or uuid.uuid4().hex,
            alertId=act.alert_id,
            alertSeq=state.alert_seq,
            alertEpoch=epoch,
            action=act.action,
            user=identity.user[:NAME_MAX],
            roles=sorted(r[:NAME_MAX] for r in identity.roles if r)[:ROLES_MAX],
            time=now_micros(now),
            note=act.note,
            assignee=act.assignee,
            until=until_us,
            logSeq=self.workflow.last_alert_seq,
        )


def confirmed_message(accepted: Accepted, seq: int, *, now: float, duplicate: bool) -> Message:
    """The answer to an action the broker acknowledged (``actionSeq``: its offset)."""
    act = accepted.act
    data: dict[str, Any] = {"action": act.action, "alertId": act.alert_id}
    data.update(actionId=accepted.action_id, actionSeq=seq, duplicate=duplicate)
    if act.request_id is not None:
        data["id"] = act.request_id
    return {"type": "confirmed", "timestamp": format_timestamp(now_micros(now)), "data": data}


def refused_message(act: Act, code: str, text: str, *, now: float) -> Message:
    """The ``error`` answering an action, naming the action and the alert."""
    message = error_message(code, text, now=now, request_id=act.request_id)
    message["data"].update(action=act.action, alertId=act.alert_id)
    return message
