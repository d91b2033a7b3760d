"""The client's alert actions (docs/bridge.md, "Alert actions"): ``acknowledge``, ``assign``,
``comment``, ``snooze``, ``resolve``, ``reopen``, each resolving on the bridge's ``confirmed``.

Each action gets an ``actionId`` (a random UUID) when it is called: the bridge writes an action id
once, so the client can send it again without doing it twice. An action not yet confirmed when
the connection drops is sent again, same id, when the connection is open again: it is then
confirmed (``duplicate: true`` if the first send was written after all) or refused. A call made
while (re)connecting is sent once open. The states the actions change arrive as ``alert-state``
messages (``client.on("alert-state", ...)``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from ws_bridge.client.errors import ClientError, InvalidArgument, ServerError
from ws_bridge.client.state import Message, replay_time

NOTE_MAX = 500  # characters (the bridge's limit)


@dataclass(slots=True)
class Pending:
    frame: Message
    done: asyncio.Future[Message]


class Actions:
    """The actions waiting for their answer, by request id."""

    def __init__(
        self, send: Callable[[Message], Awaitable[None]], is_open: Callable[[], bool]
    ) -> None:
        self._send, self._is_open = send, is_open
        self._pending: dict[str, Pending] = {}
        self._ids = 0

    async def run(self, frame: Message, timeout_s: float | None) -> Message:
        """Send ``frame`` (now, or once open) and wait for its ``confirmed`` data."""
        self._ids += 1
        request_id = frame["id"] = f"a{self._ids}"
        frame["actionId"] = uuid.uuid4().hex
        pending = Pending(frame, asyncio.get_running_loop().create_future())
        self._pending[request_id] = pending
        try:
            if self._is_open():
                await self._send(frame)
            async with asyncio.timeout(timeout_s):
                return await pending.done
        except TimeoutError:
            raise ClientError("timeout", f"no answer to {frame['action']} in time") from None
        finally:
            self._pending.pop(request_id, None)

    async def opened(self) -> None:
        """The connection (re)opened: send every action still waiting, with its first id."""
        for pending in list(self._pending.values()):
            await self._send(pending.frame)

    def answer(self, kind: str, data: Message) -> None:
        """A ``confirmed`` or ``error`` message: resolve the action it answers, if any."""
        pending = self._pending.get(str(data.get("id")))
        if pending is None or pending.done.done():
            return
        if kind == "confirmed":
            pending.done.set_result(data)
        else:
            text = f"bridge refused {pending.frame['action']}: {data.get('message')}"
            pending.done.set_exception(
                ServerError(str(data.get("code")), text, None, data.get("id"))
            )

    def stop(self, error: ClientError) -> None:
        """The client closed for good: every waiting action fails with ``error``."""
        for pending in self._pending.values():
            if not pending.done.done():
                pending.done.set_exception(error)


def _note(note: object, name: str = "note", required: bool = False) -> str | None:
    if note is None and not required:
        return None
    if not isinstance(note, str) or not note.strip() or len(note) > NOTE_MAX:
        raise InvalidArgument(f"{name} must be non-blank text of at most {NOTE_MAX} characters")
    return note


def action_frame(action: str, alert_id: object, **fields: object) -> Message:
    """The frame of an action (without ``id`` and ``actionId``); InvalidArgument for bad
    arguments. ``seq``/``epoch`` pin the alert (from its ``alert`` message)."""
    if not isinstance(alert_id, str) or not alert_id.strip():
        raise InvalidArgument("alert_id must be an alert id (the alert message's data.id)")
    frame: Message = {"action": action, "alertId": alert_id}
    seq, epoch = fields.pop("seq", None), fields.pop("epoch", None)
    if seq is not None:
        if type(seq) is not int or seq < 0:
            raise InvalidArgument(f"seq must be a whole number >= 0, got {seq!r}")
        frame["seq"] = seq
    if epoch is not None:
        frame["epoch"] = str(epoch)
    frame.update({k: v for k, v in fields.items() if v is not None})
    return frame


class ActionMethods:
    """The six actions of :class:`~ws_bridge.client.AnalyticsClient` (mixed into it)."""

    _actions: Actions

    async def acknowledge(self, alert_id: str, note: str | None = None, **pin: object) -> Message:
        """Say "I have it". Resolves with the ``confirmed`` data (``actionSeq``: the action's
        position in the audit trail); raises ServerError (``not-allowed``, ``unknown-alert``,
        ``already-acknowledged``, ``already-resolved``, ...), ClientError ``timeout``."""
        return await self._act(action_frame("acknowledge", alert_id, note=_note(note), **pin))

    async def assign(
        self, alert_id: str, assignee: str, note: str | None = None, **pin: object
    ) -> Message:
        """Assign the alert to ``assignee`` (a user name)."""
        who = _note(assignee, "assignee", required=True)
        frame = action_frame("assign", alert_id, assignee=who, note=_note(note), **pin)
        return await self._act(frame)

    async def comment(self, alert_id: str, note: str, **pin: object) -> Message:
        """Add a comment to the alert's timeline."""
        frame = action_frame("comment", alert_id, note=_note(note, required=True), **pin)
        return await self._act(frame)

    async def snooze(
        self, alert_id: str, until: datetime | str, note: str | None = None, **pin: object
    ) -> Message:
        """Hold the alert's escalation until ``until`` (an aware datetime or RFC 3339 text,
        in the future, within 30 days); its end wakes the alert."""
        end, _ = replay_time(until, "until")
        frame = action_frame("snooze", alert_id, until=end, note=_note(note), **pin)
        return await self._act(frame)

    async def resolve(self, alert_id: str, reason: str, **pin: object) -> Message:
        """Resolve the alert by hand, saying why."""
        frame = action_frame("resolve", alert_id, note=_note(reason, "reason", True), **pin)
        return await self._act(frame)

    async def reopen(self, alert_id: str, note: str | None = None, **pin: object) -> Message:
        """Open a resolved alert again."""
        return await self._act(action_frame("reopen", alert_id, note=_note(note), **pin))

    async def _act(self, frame: Message, timeout_s: float | None = 30.0) -> Message:
        return await self._actions.run(frame, timeout_s)
