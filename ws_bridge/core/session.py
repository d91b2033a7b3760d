"""One client connection's state, sans-I/O: the shell feeds it frames and the time, and asks it
for batches to send, close decisions and log events.

Shell loop (per connection)::

    close = session.receive(frame, now)       # each incoming frame; a Close means close now
    close = session.poll(now)                 # at session.expires_deadline (token expiry)
    frame = session.next_frame(now)           # at session.next_send_at(now); None: nothing yet
    session.frame_sent()                      # after each frame (own or shared) is written
    for event in session.take_events(): log(event)

The outgoing side (batching, pacing, the outbox, what the fanout shares) is the base class,
:class:`ws_bridge.core.outgoing.Outgoing`; this module adds the incoming side: each client
frame (commands, the rate limit, frame size) and the token's expiry.

Alerts: each ``alert`` carries ``seq`` and ``epoch``; resume (``since``/``sinceTime``), the
seam rule and time-range replay are in :mod:`ws_bridge.core.resume`. Alert actions (acknowledge,
assign, ...) are decided by the context's :class:`~ws_bridge.core.actions.ActionDesk` and written
by the shell, which answers through :meth:`ClientSession.action_confirmed` or
:meth:`ClientSession.action_failed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ws_bridge.core.access import ChannelPolicy
from ws_bridge.core.actions import (
    FAILED,
    NOT_ALLOWED,
    UNAVAILABLE,
    Accepted,
    Act,
    ActionDesk,
    Refusal,
    confirmed_message,
    refused_message,
)
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.auth import Identity, TokenVerifier
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.errors import CLOSE_POLICY_VIOLATION, AuthError
from ws_bridge.core.outgoing import Close, LogEvent, Outgoing
from ws_bridge.core.protocol import (
    Encoded,
    ProtocolError,
    Refresh,
    Replay,
    RequestId,
    Subscribe,
    TooLarge,
    Unsubscribe,
    error_message,
    parse_client_frame,
    refreshed_message,
    subscribed_message,
    unsubscribed_message,
)
from ws_bridge.core.ratelimit import RateLimiter, Verdict

__all__ = [
    "CLOSE_RATE_LIMITED",
    "CLOSE_TOKEN_EXPIRED",
    "CLOSE_TOO_LARGE",
    "ClientSession",
    "Close",
    "LogEvent",
    "SessionContext",
]

CLOSE_TOKEN_EXPIRED = 4001  # private-use range (RFC 6455 section 7.4.2)
CLOSE_RATE_LIMITED = CLOSE_POLICY_VIOLATION
CLOSE_TOO_LARGE = 1009


@dataclass(frozen=True, slots=True)
class SessionContext:
    """What every session of one server shares."""

    settings: BridgeSettings
    verifier: TokenVerifier
    channels: ChannelPolicy
    snapshots: Callable[[Iterable[str]], list[Encoded]] = lambda channels: []
    alerts: AlertLog | None = None
    actions: ActionDesk | None = None  # None: alert actions are off (no actions topic)


class ClientSession(Outgoing):
    """The state of one authenticated connection (the outgoing side is :class:`Outgoing`)."""

    def __init__(
        self, identity: Identity, ctx: SessionContext, *, now: float, peer: str | None = None
    ) -> None:
        s = ctx.settings
        super().__init__(identity, s, ctx.alerts, ctx.actions)
        self.peer = peer
        self.frames_received = 0
        self._ctx = ctx
        self._limiter = RateLimiter(s.rate_limit_per_s, s.rate_limit_grace_s, now)

    # -- status -----------------------------------------------------------------------------

    @property
    def expires_deadline(self) -> float:
        """When the token stops being valid (``exp`` plus the verification leeway)."""
        return self.identity.expires_at + self._ctx.settings.jwt_leeway_s

    def describe(self) -> dict[str, Any]:
        """This client for the status endpoint."""
        return {
            "user": self.identity.user,
            "account": self.identity.account,
            "subscriptions": sorted(self.subscriptions),
            "queued": len(self._outbox),
            "queuedBytes": self._outbox.nbytes,
            "dropped": dict(self._outbox.dropped_total),
            "rateLimited": self._limiter.rejected,
        }

    # -- incoming ---------------------------------------------------------------------------

    def receive(self, data: str | bytes, now: float) -> Close | None:
        """Handle one client frame. Returns a Close when the connection must close."""
        if self.closed is not None:
            return self.closed
        self.frames_received += 1
        command = parse_client_frame(data)
        if isinstance(command, TooLarge):
            self._log("frame-too-large", logging.WARNING, command.message)
            return self._close(CLOSE_TOO_LARGE, "message too big")
        verdict = self._limiter.check(now)
        if verdict is Verdict.CLOSE:
            self._log("rate-limit-close", logging.WARNING, f"Rate limit: closing {self.user}")
            return self._close(CLOSE_RATE_LIMITED, "rate limit exceeded")
        if verdict is Verdict.FIRST_EXCESS:
            limit = self._ctx.settings.rate_limit_per_s
            self._log("rate-limited", logging.WARNING, f"Rate limit exceeded for user {self.user}")
            self._error("rate-limited", f"more than {limit} messages/s: frames dropped", now)
        if verdict is not Verdict.ACCEPT:
            return None
        if isinstance(command, ProtocolError):
            self._log("bad-frame", logging.DEBUG, "bad frame", code=command.code)
            self._error(command.code, command.message, now)
        elif isinstance(command, Subscribe):
            self._subscribe(command, now)
        elif isinstance(command, Unsubscribe):
            self._unsubscribe(command, now)
        elif isinstance(command, Refresh):
            self._refresh(command, now)
        elif isinstance(command, Act):
            self._act(command, now)
        else:
            self._replay(command, now)
        return None

    def poll(self, now: float) -> Close | None:
        """Time-driven decisions: the token's expiry."""
        if self.closed is None and now >= self.expires_deadline:
            self._log("token-expired", logging.INFO, f"Token of {self.user} expired")
            return self._close(CLOSE_TOKEN_EXPIRED, "token expired")
        return self.closed

    def _close(self, code: int, reason: str) -> Close:
        self.closed = Close(code, reason)
        return self.closed

    def _error(self, code: str, message: str, now: float, **extra: Any) -> None:
        self._send_control(error_message(code, message, now=now, **extra))

    def _subscribe(self, cmd: Subscribe, now: float) -> None:
        for name in cmd.unknown:
            self._error("unknown-channel", f"unknown channel {name!r}", now, channel=name)
        policy, added = self._ctx.channels, []
        for channel in cmd.channels:
            if not policy.allows(self.identity.roles, channel):
                self._log("forbidden", logging.WARNING, f"User {self.user} may not read {channel}")
                text = f"your roles do not allow channel {channel!r}"
                self._error("forbidden", text, now, channel=channel, request_id=cmd.request_id)
            elif channel not in self.subscriptions:
                added.append(channel)
                self.subscriptions.add(channel)
                text = f"User {self.user} subscribed to channel: {channel}"
                self._log("subscribed", logging.INFO, text, channel=channel)
        resume = None
        wants_resume = cmd.since is not None or cmd.since_time is not None
        if wants_resume and "alerts" in self.subscriptions and "alerts" in cmd.channels:
            resume = self._start_resume(cmd)
        if cmd.wants_ack:
            message = subscribed_message(
                self.subscriptions, now=now, request_id=cmd.request_id, resume=resume
            )
            desk = self._ctx.actions
            if desk is not None and desk.writer is not None and "alerts" in self.subscriptions:
                # What this token may do with alerts: a dashboard shows only those buttons.
                message["data"]["actions"] = list(desk.policy.allowed_actions(self.identity.roles))
            self._send_control(message)
        if resume is not None and "alerts" not in added:
            added.append("alerts")  # the purge took queued states: send the current ones
        desk = self._ctx.actions
        if cmd.actions_since is not None and desk is not None and "alerts" in self.subscriptions:
            self._alerts.resync(desk.workflow.touched_since(cmd.actions_since))
        for snapshot in self._ctx.snapshots(added):
            self._push(snapshot)
        self._pump(now)

    def _start_resume(self, cmd: Subscribe) -> dict[str, Any]:
        self._outbox.purge("alerts")  # re-positioned: queued live alerts would repeat
        return self._alerts.start(cmd)

    def _unsubscribe(self, cmd: Unsubscribe, now: float) -> None:
        for name in cmd.unknown:
            self._error("unknown-channel", f"unknown channel {name!r}", now, channel=name)
        for channel in cmd.channels:
            self._drop_channel(channel)
        if cmd.request_id is not None:
            message = unsubscribed_message(self.subscriptions, now=now, request_id=cmd.request_id)
            self._send_control(message)

    def _drop_channel(self, channel: str) -> None:
        if channel in self.subscriptions:
            self.subscriptions.discard(channel)
            self._outbox.purge(channel)
            if channel == "alerts":
                self._alerts.stop()
            text = f"User {self.user} unsubscribed from channel: {channel}"
            self._log("unsubscribed", logging.INFO, text, channel=channel)

    def _refresh(self, cmd: Refresh, now: float) -> None:
        rid = cmd.request_id
        try:
            identity = self._ctx.verifier.verify(cmd.token, now=now)
        except AuthError as exc:
            self._refresh_refused(exc.reason, f"token refused: {exc.reason}", now, rid)
            return
        if identity.user != self.identity.user:
            self._refresh_refused("other-sub", "the token is for another user", now, rid)
            return
        if identity.expires_at <= self.identity.expires_at:
            text = "the token does not expire later than the current one"
            self._refresh_refused("not-newer", text, now, rid)
            return
        self.identity = identity
        for channel in sorted(self.subscriptions):  # roles may have changed
            if not self._ctx.channels.allows(identity.roles, channel):
                self._drop_channel(channel)
                text = f"your new roles do not allow channel {channel!r}"
                self._error("forbidden", text, now, channel=channel)
        self._send_control(refreshed_message(identity.expires_at, now=now, request_id=rid))
        self._log("token-refreshed", logging.INFO, f"Token of {self.user} refreshed")

    def _refresh_refused(self, reason: str, text: str, now: float, rid: RequestId | None) -> None:
        self._log("refresh-failed", logging.WARNING, f"Refresh refused for {self.user}: {reason}")
        self._error("refresh-failed", text, now, request_id=rid)

    def _replay(self, cmd: Replay, now: float) -> None:
        rid = cmd.request_id
        if not self._ctx.channels.allows(self.identity.roles, "alerts"):
            text = "your roles do not allow channel 'alerts'"
            self._error("forbidden", text, now, channel="alerts", request_id=rid)
        elif self._ctx.alerts is None:
            self._error("replay-unavailable", "alert history is off", now, request_id=rid)
        elif self._alerts.job is not None:
            self._error("replay-busy", "a replay is already running", now, request_id=rid)
        else:
            self._alerts.start_replay(cmd.from_us, cmd.to_us, cmd.limit, rid)
            self._pump(now)

    # -- alert actions ----------------------------------------------------------------------

    def _act(self, act: Act, now: float) -> None:
        desk = self._ctx.actions
        if desk is None or desk.writer is None:
            self._act_refused(act, Refusal(UNAVAILABLE, "alert actions are off"), now)
            return
        if not self._ctx.channels.allows(self.identity.roles, "alerts"):
            self._act_refused(act, Refusal(NOT_ALLOWED, "your roles do not allow alerts"), now)
            return
        decision = desk.decide(self.identity, act, now)
        if isinstance(decision, Refusal):
            self._act_refused(act, decision, now)
        elif decision.duplicate_seq is not None:
            self._send_control(
                confirmed_message(decision, decision.duplicate_seq, now=now, duplicate=True)
            )
        else:
            desk.writer(decision, self)

    def _act_refused(self, act: Act, refused: Refusal, now: float) -> None:
        text = f"Action {act.action} on {act.alert_id} by {self.user} refused: {refused.code}"
        self._log("action-refused", logging.INFO, text, code=refused.code)
        self._send_control(refused_message(act, refused.code, refused.message, now=now))

    def action_confirmed(
        self, accepted: Accepted, seq: int, now: float, duplicate: bool = False
    ) -> None:
        """The shell wrote ``accepted`` at ``seq`` (the broker acknowledged it), or found it
        written before (``duplicate``: a retry)."""
        act = accepted.act
        text = f"User {self.user} did {act.action} on {act.alert_id} (action seq {seq})"
        self._log("action", logging.INFO, text, action=act.action, seq=seq)
        self._send_control(confirmed_message(accepted, seq, now=now, duplicate=duplicate))

    def action_failed(self, accepted: Accepted, message: str, now: float) -> None:
        """The shell could not write ``accepted``: nothing was applied; the client may retry
        with the same ``actionId``."""
        self._act_refused(accepted.act, Refusal(FAILED, message), now)
