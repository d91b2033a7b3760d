"""A client session's outgoing side, sans-I/O: what it sends and when, and what it hands the
shell besides frames (a :class:`Close`, :class:`LogEvent` records).

Outbound order within a batch: ``gap`` messages, then other extension messages (acks, errors,
``replay-done``), then data in arrival order. A batch holds at most ``batch_max`` messages, and
batches leave at most once per ``batch_interval`` (the first after an idle interval at once) and
only while fewer than ``queue_max_batches`` frames are in flight. Data waits in a bounded
:class:`~ws_bridge.core.outbox.Outbox`; extension messages in a small lane of their own. A lagging
session queues its group's frames themselves (shared :class:`~ws_bridge.core.outbox.Chunk` objects,
whole oldest ones dropped on overflow) and sends them unchanged; while only such frames wait
(no gap or extension message) they leave back to back, limited by the frames in flight alone
(the fanout's ticks paced them already), so the session catches up.

:class:`Outgoing` is the base of :class:`ws_bridge.core.session.ClientSession`, which adds the
incoming side (commands, rate limit, token expiry); a base class rather than an object of its
own, so the hot path (``can_share`` for every session on every tick) costs no extra call and an
idle connection no extra object.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.auth import Identity
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.outbox import Chunk, Outbox
from ws_bridge.core.protocol import Encoded, Message, encode
from ws_bridge.core.resume import AlertFeed, States

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


class Outgoing:
    """The outgoing state of one connection: subscriptions, the outbox and the extension lane,
    pacing, frames in flight, the alert feed, and the log events for the shell."""

    def __init__(
        self,
        identity: Identity,
        settings: BridgeSettings,
        alerts: AlertLog | None,
        states: States | None = None,
    ) -> None:
        self.identity = identity
        self.subscriptions: set[str] = set()
        self.closed: Close | None = None
        self.messages_sent = 0
        self.batches_sent = 0
        self.control_dropped = 0
        self._batch_max = settings.batch_max
        self._interval_s = settings.batch_interval_s
        self._max_in_flight = settings.queue_max_batches
        self._outbox = Outbox(settings.queue_max_messages, settings.queue_max_bytes)
        self._control: deque[Encoded] = NO_CONTROL  # its own deque on first use (memory)
        self._last_batch_at: float | None = None
        self._in_flight = 0
        self._alerts = AlertFeed(alerts, states)
        self._events: list[LogEvent] = []

    @property
    def user(self) -> str:
        return self.identity.user

    @property
    def queued(self) -> int:
        return len(self._outbox)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def take_events(self) -> list[LogEvent]:
        events, self._events = self._events, []
        return events

    def _log(self, event: str, level: int, message: str, **fields: Any) -> None:
        fields.setdefault("user", self.identity.user)
        self._events.append(LogEvent(event, level, message, fields))

    def _send_control(self, message: Message) -> None:
        if self._control is NO_CONTROL:
            self._control = deque()
        self._control.append(encode(message))
        while len(self._control) > CONTROL_MAX:
            self._control.popleft()
            self.control_dropped += 1

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
