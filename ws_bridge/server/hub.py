"""The bridge's hub and connections: consumed messages to sockets.

Pieces::

    Source (KafkaSource) --publish--> Hub --Fanout.dispatch every batch interval--> Connections
    Connection: reader task (frames -> ClientSession.receive) + writer task (frames -> socket)

The **hub** collects a tick's messages (alerts go through ``AlertLog.append`` first, so a resume
sees them before they are dispatched) and calls ``Fanout.dispatch`` at most once per
``batch_interval``; the first message after an idle interval leaves at once. The Kafka source
calls :meth:`Hub.flush` once its batch is in (about once per interval: a fetch), so most ticks
need no timer; other publishers (the alert workflow) wake the hub's own task. A group's shared
frame is written straight to every connection that has nothing queued (:meth:`Connection.
write_now`); the others queue it and their writer is woken.

A connection's **writer** sends, in order, the shared frames handed to it, then the session's own
frames at ``next_send_at``; every write is bounded by ``RTX_BRIDGE_WRITE_TIMEOUT_S`` (a write that
takes longer aborts the connection) and followed by ``frame_sent``. It also wakes at the token's
``expires_deadline`` and closes with the session's ``Close`` (4001).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.fanout import Fanout
from ws_bridge.core.frames import text_frame
from ws_bridge.core.protocol import Encoded, Message
from ws_bridge.core.session import ClientSession, Close
from ws_bridge.server.http import BridgeMetrics
from ws_bridge.server.logs import emit, log, log_line
from ws_bridge.server.wire import plain, send_frame, write_shared

# How early a batch may come and still be dispatched at once (see Hub.flush).
FLUSH_EARLY_S = 0.004
NO_FRAMES: deque[tuple[str, bytes, int]] = deque()  # shared, never appended to (memory)


@dataclass(frozen=True, slots=True)
class Writes:
    """What every connection's writer needs of its server, shared by all of them: the bound of
    one write (``RTX_BRIDGE_WRITE_TIMEOUT_S``) and the metrics it counts frames in."""

    timeout_s: float
    metrics: BridgeMetrics


class Hub:
    """Collects consumed messages and dispatches them to the connections once per tick."""

    def __init__(self, settings: BridgeSettings, metrics: BridgeMetrics) -> None:
        self.settings = settings
        self.writes = Writes(settings.write_timeout_s, metrics)
        self.fanout = Fanout(settings)
        self._alerts: AlertLog | None = None
        self.connections: set[Connection] = set()
        self._metrics = metrics
        self._pending: list[Message | Encoded] = []
        self._timestamps: list[int] = []
        self._wake = asyncio.Event()
        self._last_tick = -settings.batch_interval_s
        self._task: asyncio.Task[None] | None = None
        # Called with each new alert-log entry after it is dispatched (the alert actions'
        # workflow folds it: ws_bridge/server/actions.py).
        self.on_alert: Callable[[int, Mapping[str, Any], int | None], None] | None = None

    # -- Sink (kafka_source) ------------------------------------------------------------------

    def set_alert_log(self, alert_log: AlertLog) -> None:
        self._alerts = alert_log

    @property
    def has_alert_log(self) -> bool:
        return self._alerts is not None

    @property
    def alert_log(self) -> AlertLog | None:
        """The alert history for resume and replay; None when ``RTX_BRIDGE_ALERT_HISTORY=0``
        (alerts still flow live, numbered by the log, which then holds nothing)."""
        return self._alerts if self.settings.alert_history > 0 else None

    @property
    def pending(self) -> int:
        """Messages waiting for the next tick (the snapshots a subscriber gets know them only
        once dispatched: up to one batch interval later)."""
        return len(self._pending)

    def publish(self, message: Message | Encoded, kafka_ts_ms: int | None = None) -> None:
        self._pending.append(message)
        if kafka_ts_ms is not None:
            self._timestamps.append(kafka_ts_ms)
        self._wake.set()

    def publish_alert(
        self, seq: int, record: Mapping[str, Any], kafka_ts_ms: int | None = None
    ) -> None:
        """Append to the alert log first (the resume seam needs that order), then dispatch;
        a redelivery (seq not above the last) is dropped by the log."""
        if self._alerts is None:
            raise RuntimeError("publish_alert before set_alert_log")
        encoded = self._alerts.append(seq, record)
        if encoded is not None:
            self.publish(encoded, kafka_ts_ms)
            if self.on_alert is not None:
                self.on_alert(seq, record, kafka_ts_ms)

    # -- ticks --------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="bridge-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        interval = self.settings.batch_interval_s
        while True:
            await self._wake.wait()
            if not self._pending:  # a flush took them
                self._wake.clear()
                continue
            # At most one tick per interval: sleep only for what is left of it, so a message
            # after an idle interval leaves at once, and no timer wakes the loop when nothing
            # came (the Kafka source flushes each batch itself: see flush).
            left = self._last_tick + interval - time.time()
            if left > 0:
                await asyncio.sleep(left)
            self._dispatch(due=True)

    def flush(self) -> None:
        """Dispatch what is pending now: the Kafka source calls this once its batch is in (it
        takes a batch about once per interval, so most ticks need no timer). A batch that comes
        more than ``FLUSH_EARLY_S`` before the interval is over is left to the hub's task, which
        sleeps out the rest of it: at most one tick per interval."""
        self._dispatch(due=False)

    def _dispatch(self, *, due: bool) -> None:
        if not self._pending:
            self._wake.clear()
            return
        interval = self.settings.batch_interval_s
        now = time.time()
        last = self._last_tick
        if not due and now < last + interval - min(FLUSH_EARLY_S, interval / 4):
            self._wake.set()
            return
        self._wake.clear()
        # Never less than an interval after the last tick by the clock sessions pace with (a
        # timer may end a little short, a fetch come a little early): ahead of the wall clock
        # by FLUSH_EARLY_S at most, never more, since the next tick compares with it again.
        if last < now < last + interval:
            now = last + interval
        self._last_tick = now
        try:
            self.tick(now)
        except Exception:  # a bug in one tick must not stop every client's stream
            log.exception("Dispatch failed; dropping this tick's messages")

    def tick(self, now: float) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        stamps, self._timestamps = self._timestamps, []
        by_session = {c.session: c for c in self.connections}
        result = self.fanout.dispatch(pending, list(by_session), now)
        metrics = self._metrics
        for delivery in result.deliveries:
            wire = text_frame(delivery.frame)
            count = delivery.count
            metrics.built(count)
            ready: list[Connection] = []
            for session in delivery.sessions:
                conn = by_session[session]
                if conn.can_write_now():
                    ready.append(conn)
                else:
                    conn.push_shared(delivery.frame, wire, count)
            # The writes back to back: a client woken by the first finds the others' frames
            # already there (a wake-up per write costs both sides more than the write).
            for conn in ready:
                conn.ws.transport.write(wire)
            for conn in ready:
                conn.wrote_now(count)
            if ready:
                metrics.sent(delivery.frame, count, len(ready))
        for session in result.queued:
            by_session[session].pump_now(now)
        for stamp in stamps:
            self._metrics.latency.observe(max(0.0, now - stamp / 1000.0))


class Connection:
    """One accepted WebSocket: its session, reader and writer."""

    def __init__(self, ws: ServerConnection, session: ClientSession, writes: Writes) -> None:
        self.ws = ws
        self.session = session
        self._writes = writes
        # Idle connections are the bridge's memory budget: the queue of shared frames is a deque
        # of its own only once used, and the writer sleeps on a bare future rather than an
        # asyncio.Event (whose waiter deque alone is ~760 bytes).
        self._shared: deque[tuple[str, bytes, int]] = NO_FRAMES
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None
        self._counted = 0
        self._writing = False  # the writer task is in the middle of a send

    def can_write_now(self) -> bool:
        """Whether a group's frame may be written from the hub's tick, without waking this
        connection's writer: only when nothing of this connection is queued or being written
        (order), and the socket takes it without waiting (see :func:`write_shared`). Most frames
        to clients that keep up go this way: one write each, no task switch."""
        ws = self.ws
        return not self._shared and not self._writing and not ws.paused and plain(ws)

    def wrote_now(self, count: int) -> None:
        """The hub wrote a group's frame of ``count`` messages (after :meth:`can_write_now`)."""
        self._counted += count
        self.session.frame_sent()

    def pump_now(self, now: float) -> None:
        """Send from the tick what this connection's writer would send at once (the rest of a
        tick larger than a batch, a lagging session's queue), while the socket takes it without
        waiting: no task switch per frame. The writer is woken only for what is left (a batch
        not due yet, a paused socket, a close)."""
        session = self.session
        if session.poll(now) is None:
            while self.can_write_now():
                got = session.next_chunk_or_frame(now)
                if got is None:
                    break
                count = self._take_count()
                text, wire, own = (
                    (got, text_frame(got), True)
                    if isinstance(got, str)
                    else (got.frame, got.wire, False)
                )
                self.ws.transport.write(wire)
                self._frame_written(text, count, own)
            self.log_events()
            if self.can_write_now() and session.next_send_at(now) is None:
                return
        self.wake()

    def _take_count(self) -> int:
        """The messages of the frame about to be written (the session counted them)."""
        count = self.session.messages_sent - self._counted
        self._counted = self.session.messages_sent
        return count

    def _frame_written(self, text: str, count: int, own: bool) -> None:
        self.session.frame_sent()
        metrics = self._writes.metrics
        metrics.sent(text, count)
        if own:
            metrics.built(count)

    def push_shared(self, frame: str, wire: bytes, count: int) -> None:
        if self._shared is NO_FRAMES:
            self._shared = deque()
        self._shared.append((frame, wire, count))
        self.wake()

    def wake(self) -> None:
        self._woken = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _sleep(self, timeout_s: float) -> None:
        """Until :meth:`wake` (at once if it was called since the last sleep) or the timeout."""
        if not self._woken and timeout_s > 0:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            # A timer handle rather than asyncio.timeout(): this runs for every frame a lagging
            # connection sends, and the context manager costs several times as much.
            timer = loop.call_later(timeout_s, _wake_up, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        self._woken = False

    def log_events(self) -> None:
        for event in self.session.take_events():
            emit(event)

    async def run(self) -> None:
        writer = asyncio.create_task(self._writer(), name="bridge-writer")
        try:
            await self._reader()
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self.log_events()

    async def _reader(self) -> None:
        try:
            async for data in self.ws:
                close = self.session.receive(data, time.time())
                self.log_events()
                if close is not None:
                    await self._close(close)
                    return
                self.wake()
        except ConnectionClosed:
            pass

    async def _close(self, close: Close) -> None:
        await self.ws.close(close.code, close.reason)

    async def _send(self, frame: str, count: int, wire: bytes | None = None) -> bool:
        """Write one frame: a group's (``wire`` prebuilt) or this session's own (framed here
        unless an extension is negotiated: then ``websockets`` frames it)."""
        ws = self.ws
        own = wire is None
        if wire is None and not ws.protocol.extensions:
            wire = text_frame(frame)
        self._writing = True
        try:
            if wire is None or not write_shared(ws, wire):
                async with asyncio.timeout(self._writes.timeout_s):
                    await send_frame(ws, frame, wire)
        except TimeoutError:
            log_line(logging.WARNING, f"Write timeout: dropping client {self.session.user}")
            ws.transport.abort()
            return False
        except ConnectionClosed:
            return False
        finally:
            self._writing = False
        self._frame_written(frame, count, own)
        return True

    async def _writer(self) -> None:
        session = self.session
        while True:
            while self._shared:
                shared, wire, count = self._shared.popleft()
                self._counted += count
                if not await self._send(shared, count, wire):
                    return
            now = time.time()
            close = session.poll(now)
            if close is not None:
                self.log_events()
                await self._close(close)
                return
            got = session.next_chunk_or_frame(now)
            self.log_events()
            if got is not None:
                count = self._take_count()
                if isinstance(got, str):
                    sent = await self._send(got, count)
                else:  # one whole chunk, often a group's frame sent late: its wire is built
                    sent = await self._send(got.frame, count, got.wire)
                if not sent:
                    return
                continue
            at = session.next_send_at(now)
            deadline = session.expires_deadline if at is None else min(at, session.expires_deadline)
            await self._sleep(deadline - now)


def _wake_up(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def close_code(ws: ServerConnection) -> int:
    """The code that ended a connection: the peer's, else the one the bridge sent (a keepalive
    timeout's 1011 goes unanswered by a dead peer), else 1006 (aborted)."""
    for frame in (ws.protocol.close_rcvd, ws.protocol.close_sent):
        if frame is not None:
            return int(frame.code)
    return 1006
