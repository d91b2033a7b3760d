"""One client connection's state, sans-I/O: the shell feeds it frames and the time, and asks it
for batches to send, close decisions and log events.

Shell loop (per connection)::

    close = session.receive(frame, now)       # each incoming frame; a Close means close now
    close = session.poll(now)                 # at session.expires_deadline (token expiry)
    frame = session.next_frame(now)           # at session.next_send_at(now); None: nothing yet
    session.frame_sent()                      # after each frame (own or shared) is written
    for event in session.take_events(): log(event)

Outbound order within a batch: ``gap`` messages, then other extension messages (acks, errors,
``replay-done``), then data in arrival order. A batch holds at most ``batch_max`` messages, and
batches leave at most once per ``batch_interval`` (the first after an idle interval at once) and
only while fewer than ``queue_max_batches`` frames are in flight. Data waits in a bounded
:class:`~ws_bridge.core.outbox.Outbox`; extension messages in a small lane of their own. A lagging
session queues its group's frames themselves (shared :class:`~ws_bridge.core.outbox.Chunk` objects,
whole oldest ones dropped on overflow) and sends them unchanged; while only such frames wait
(no gap or extension message) they leave back to back, limited by the frames in flight alone
(the fanout's ticks paced them already), so the session catches up.

Alerts: each ``alert`` carries ``seq`` and ``epoch``; resume (``since``/``sinceTime``), the
seam rule and time-range replay are in :mod:`ws_bridge.core.resume`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ws_bridge.core.access import ChannelPolicy
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.auth import Identity, TokenVerifier
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.errors import CLOSE_POLICY_VIOLATION, AuthError
from ws_bridge.core.outbox import Chunk, Outbox
from ws_bridge.core.protocol import (
    Encoded,
    Message,
    ProtocolError,
    Refresh,
    Replay,
    RequestId,
    Subscribe,
    TooLarge,
    Unsubscribe,
    encode,
    error_message,
    parse_client_frame,
    refreshed_message,
    subscribed_message,
    unsubscribed_message,
)
from ws_bridge.core.ratelimit import RateLimiter, Verdict
from ws_bridge.core.resume import AlertFeed

CLOSE_TOKEN_EXPIRED = 4001  # private-use range (RFC 6455 section 7.4.2)
CLOSE_RATE_LIMITED = CLOSE_POLICY_VIOLATION
CLOSE_TOO_LARGE = 1009
CONTROL_MAX = 64  # queued extension messages; the oldest go first past this
NO_CONTROL: deque[Encoded] = deque()  # shared and never appended to: see outbox.NO_CHUNKS
_EPS = 1e-9  # float clocks: 0.116 - 0.1 may come out a hair under 0.016


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection with this code and reason (RFC 6455 section 7.4)."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class LogEvent:
    """Something the shell should log. Never holds a token."""

    event: str
    level: int
    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SessionContext:
    """What every session of one server shares."""

    settings: BridgeSettings
    verifier: TokenVerifier
    channels: ChannelPolicy
    snapshots: Callable[[Iterable[str]], list[Encoded]] = lambda channels: []
    alerts: AlertLog | None = None


class ClientSession:
    """The state of one authenticated connection."""

    def __init__(
        self, identity: Identity, ctx: SessionContext, *, now: float, peer: str | None = None
    ) -> None:
        s = ctx.settings
        self.identity = identity
        self.peer = peer
        self.subscriptions: set[str] = set()
        self.closed: Close | None = None
        self.frames_received = 0
        self.messages_sent = 0
        self.batches_sent = 0
        self.control_dropped = 0
        self._ctx = ctx
        self._batch_max = s.batch_max
        self._interval_s = s.batch_interval_s
        self._max_in_flight = s.queue_max_batches
        self._outbox = Outbox(s.queue_max_messages, s.queue_max_bytes)
        self._control: deque[Encoded] = NO_CONTROL  # its own deque on first use (memory)
        self._limiter = RateLimiter(s.rate_limit_per_s, s.rate_limit_grace_s, now)
        self._last_batch_at: float | None = None
        self._in_flight = 0
        self._alerts = AlertFeed(ctx.alerts)
        self._events: list[LogEvent] = []

    # -- status -----------------------------------------------------------------------------

    @property
    def user(self) -> str:
        return self.identity.user

    @property
    def expires_deadline(self) -> float:
        """When the token stops being valid (``exp`` plus the verification leeway)."""
        return self.identity.expires_at + self._ctx.settings.jwt_leeway_s

    @property
    def queued(self) -> int:
        return len(self._outbox)

    @property
    def in_flight(self) -> int:
        return self._in_flight

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

    def take_events(self) -> list[LogEvent]:
        events, self._events = self._events, []
        return events

    def _log(self, event: str, level: int, message: str, **fields: Any) -> None:
        fields.setdefault("user", self.identity.user)
        self._events.append(LogEvent(event, level, message, fields))

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

    def _send_control(self, message: Message) -> None:
        if self._control is NO_CONTROL:
            self._control = deque()
        self._control.append(encode(message))
        while len(self._control) > CONTROL_MAX:
            self._control.popleft()
            self.control_dropped += 1

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
            self._send_control(message)
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

    # -- outgoing ---------------------------------------------------------------------------

    def deliver(self, items: Iterable[Encoded], now: float) -> None:
        """Queue live messages (those of subscribed channels; alerts filtered for resume)."""
        if self.closed is not None:
            return
        for item in items:
            if item.channel in self.subscriptions and self._take_live(item):
                self._push(item)

    def deliver_chunk(self, chunk: Chunk, now: float) -> None:
        """Queue a tick's selection for this session's subscription set as one chunk: the
        same pre-encoded messages (and text) every lagging session of the group queues; one
        larger than ``batch_max`` (or the queue's message limit) as its shared pieces. A piece
        over the byte limit is queued message by message, and a chunk holding alerts this
        session must skip (resume running, or already sent) goes through :meth:`deliver`."""
        if self.closed is not None:
            return
        alerts = chunk.alerts
        if any(not self._alerts.wants(a) for a in alerts):
            self.deliver(chunk.items, now)
            return
        for alert in alerts:
            self._alerts.take_live(alert)
        was_bursting = self._outbox.in_burst
        for piece in chunk.pieces(min(self._batch_max, self._outbox.max_messages)):
            if not self._outbox.fits(piece):  # too many bytes: keep what fits of it
                for item in piece.items:
                    self._push(item)
                was_bursting = self._outbox.in_burst
                continue
            dropped = self._outbox.push_chunk(piece)
            if dropped:
                self._alerts.dropped(dropped)
                if not was_bursting:
                    self._log_burst()
                    was_bursting = True

    def _take_live(self, item: Encoded) -> bool:
        return item.channel != "alerts" or self._alerts.take_live(item)

    def can_share(self, chunk: Chunk, now: float) -> bool:
        """Whether ``chunk`` (messages of subscribed channels) would be this session's next
        batch, exactly: then the fanout sends it as one frame encoded for many sessions. O(1)
        but for the chunk's alerts: this runs for every session on every tick."""
        return (
            self.closed is None
            and not self._outbox
            and not self._control
            and not self._outbox.in_burst
            and not self._alerts.busy
            and self._ready(now)
            and len(chunk) <= min(self._batch_max, self._outbox.max_messages)
            and chunk.nbytes <= self._outbox.max_bytes
            and all(self._alerts.wants(i) for i in chunk.alerts)
        )

    def mark_shared(self, chunk: Chunk, now: float) -> None:
        """Account for a shared frame of ``chunk`` handed to the shell (see :meth:`can_share`)."""
        for item in chunk.alerts:  # other channels have no per-session state to advance
            self._take_live(item)
        self._sent(len(chunk), now)

    def next_batch(self, now: float) -> list[Message] | None:
        """The next batch's messages, or None (nothing to send, or not yet)."""
        batch = self._take_batch(now)
        return None if batch is None else [item.message for c in batch for item in c.items]

    def next_frame(self, now: float) -> str | None:
        """The next batch as a frame (a JSON array of the already-encoded messages)."""
        batch = self._take_batch(now)
        if batch is None:
            return None
        if len(batch) == 1:
            return batch[0].frame
        return "[" + ",".join(c.inner for c in batch) + "]"

    def next_chunk_or_frame(self, now: float) -> Chunk | str | None:
        """As :meth:`next_frame`, but a batch that is one whole chunk comes as the chunk (a
        group's frame this session sends late: the shell reuses its prebuilt wire bytes).
        Only the *recipe* differs; the frame's text is identical."""
        batch = self._take_batch(now)
        if batch is None:
            return None
        if len(batch) == 1:
            return batch[0]
        return "[" + ",".join(c.inner for c in batch) + "]"

    def frame_sent(self) -> None:
        """The shell finished writing one frame of this session."""
        self._in_flight = max(0, self._in_flight - 1)

    def next_send_at(self, now: float) -> float | None:
        """When :meth:`next_frame` will give something; None: nothing pending, or waiting for
        :meth:`frame_sent` (too many frames in flight)."""
        pending = self._control or self._outbox or self._outbox.in_burst
        if self.closed is not None or not pending or self._in_flight >= self._max_in_flight:
            return None
        if self._last_batch_at is None or self._catching_up():
            return now
        return max(now, self._last_batch_at + self._interval_s)

    def _catching_up(self) -> bool:
        """Only group frames wait (no gap or extension message): they were paced by the
        fanout's ticks already, so they leave back to back, as fast as frames in flight allow."""
        return not self._control and not self._outbox.in_burst and self._outbox.shared_ahead

    def _ready(self, now: float) -> bool:
        last = self._last_batch_at
        return self._in_flight < self._max_in_flight and (
            last is None or now - last >= self._interval_s - _EPS or self._catching_up()
        )

    def _take_batch(self, now: float) -> list[Chunk] | None:
        if self.closed is not None or not self._ready(now):
            return None
        if self._outbox.in_burst:  # gaps go first: they describe what preceded the queue
            gaps = [encode(m) for m in self._outbox.take_gaps(now)]
            if self._control is NO_CONTROL:
                self._control = deque()
            self._control.extendleft(reversed(gaps))
        batch: list[Chunk] = []
        count = 0
        if self._control:
            control: list[Encoded] = []
            while self._control and len(control) < self._batch_max:
                control.append(self._control.popleft())
            batch.append(Chunk(control))
            count = len(control)
        data = self._outbox.take(self._batch_max - count)
        if self._alerts.job is not None:
            self._alerts.sent([item for chunk in data for item in chunk.items])
        batch.extend(data)
        count += sum(len(chunk) for chunk in data)
        if not count:
            return None
        sent_at = now
        if len(batch) == len(data) and data and all(c.at is not None for c in data):
            # Group frames sent late (this session was not ready at their tick): pace from
            # their tick, so the next tick finds the session ready and it shares again, rather
            # than staying out of phase and queueing every frame from then on.
            sent_at = min(now, max(c.at for c in data if c.at is not None))
        self._sent(count, sent_at)
        self._pump(now)
        return batch

    def _sent(self, count: int, now: float) -> None:
        self._last_batch_at = now
        self._in_flight += 1
        self.batches_sent += 1
        self.messages_sent += count

    def _push(self, item: Encoded) -> None:
        was_bursting = self._outbox.in_burst
        dropped = self._outbox.push(item)
        if not dropped:
            return
        self._alerts.dropped(dropped)
        if not was_bursting:
            self._log_burst()

    def _log_burst(self) -> None:
        text = f"Client {self.user} buffer full, dropping oldest messages"
        self._log("buffer-full", logging.WARNING, text, queued=len(self._outbox))

    def _pump(self, now: float) -> None:
        """Move resumed and replayed alerts from the log into free outbox room."""
        done = self._alerts.pump(self._outbox, self._push, now, self._log_burst)
        if done is not None:
            self._send_control(done)
