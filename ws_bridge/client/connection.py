"""A small asyncio client of the bridge for services, notebooks, benchmarks and tests.

Size: about 420 lines since the alert actions (acknowledge ... reopen) and the markouts
channels joined :class:`AnalyticsClient`'s public surface, which is one class by design (the
TypeScript client's shape); moving the action methods into a mixin module is the next split.

The same semantics as the TypeScript client (``clients/typescript``)::

    async with AnalyticsClient(url, token, channels=["alerts", "exposure-updates"]) as client:
        client.on("exposure-change", lambda m: print(m["data"]["utilizationPct"]))
        async for message in client.stream():
            ...

- **Auth**: the token in the ``token`` query parameter (default) or ``Authorization: Bearer``
  (``token_transport="header"``, kept out of access logs; :mod:`.handshake`). Never logged.
- **Messages**: each server frame is one JSON array, parsed once (``json.loads``); every message
  (a dict ``{"type", "timestamp", "data"}``) goes to the callbacks registered for its type, to
  those registered for ``"*"``, and to every :meth:`stream` iterator.
- **Alerts exactly once**: :class:`AlertCursor` keeps the last ``(epoch, seq)`` delivered; each
  (re)subscribe to ``alerts`` sends ``since``/``epoch`` (docs/bridge.md, "Alert resume") and an
  alert already delivered (same epoch, seq not greater) is dropped. A resume the bridge could not
  honour (``recovered: false``) reaches ``on_gap`` as a ``not-recovered`` gap.
- **Reconnects** by itself with exponential backoff and full jitter (:class:`Backoff`), then
  subscribes again to the channels it holds.
- **Hooks**: ``on_gap`` (bridge ``gap`` messages, lost resumes, a full stream queue),
  ``on_error`` (:class:`ClientError`: connection failures, bridge ``error`` messages, malformed
  frames, failing callbacks), ``on_state`` (``connecting``/``open``/``reconnecting``/``closed``).
- **History**: :meth:`AnalyticsClient.replay_alerts` asks for the stored alerts of a time range
  (docs/bridge.md section 2, ``replay``) and returns them with the ``replay-done``; they bypass
  the alert cursor and reach type callbacks and streams only with ``deliver=True``.

Callbacks are plain functions called in order on the client's task; slow work belongs in a
:meth:`stream` consumer. This module is the connection's life (connect, subscribe, read, reconnect)
and the meaning of each received message. The rest is in modules of its own: the errors
(:mod:`.errors`, root ``ClientError``), the pure state and argument checks (:mod:`.state`:
backoff, cursor, replay frame), the handshake (:mod:`.handshake`), callbacks and streams
(:mod:`.delivery`), replays on the wire (:mod:`.replay`) and alert actions (:mod:`.actions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ws_bridge.client.actions import ActionMethods, Actions
from ws_bridge.client.delivery import Delivery
from ws_bridge.client.errors import (
    ClientError,
    ConnectionFailed,
    InvalidArgument,
    ProtocolViolation,
    ServerError,
)
from ws_bridge.client.handshake import closed_because, open_socket
from ws_bridge.client.replay import Replays
from ws_bridge.client.state import (
    CHANNELS,
    REPLAY_MAX_LIMIT,
    AlertCursor,
    Backoff,
    Message,
    check_channels,
    check_connection,
    check_token,
    replay_frame,
)
from ws_bridge.client.types import (
    AccountRiskData,
    AccountRiskTopData,
    AccountToxicityData,
    ExposureBasisData,
    LargestPosition,
    LpMarkoutData,
    MarkoutCurveData,
    MarkoutFigures,
    PnlChangeData,
    PnlFigures,
    RoutingAdviceData,
)

__all__ = [
    "CHANNELS",
    "REPLAY_MAX_LIMIT",
    "AccountRiskData",
    "AccountRiskTopData",
    "AccountToxicityData",
    "AlertCursor",
    "AnalyticsClient",
    "Backoff",
    "ClientError",
    "ConnectionFailed",
    "ExposureBasisData",
    "InvalidArgument",
    "LargestPosition",
    "LpMarkoutData",
    "MarkoutCurveData",
    "MarkoutFigures",
    "Message",
    "PnlChangeData",
    "PnlFigures",
    "RoutingAdviceData",
    "ProtocolViolation",
    "ServerError",
    "State",
]

State = Literal["connecting", "open", "reconnecting", "closed"]
log = logging.getLogger("ws_bridge.client")


class AnalyticsClient(ActionMethods):
    """One logical connection to the bridge, reconnecting as needed (see the module doc)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        channels: Iterable[str] = (),
        token_transport: Literal["query", "header"] = "query",  # noqa: S107 - not a secret
        reconnect: bool = True,
        backoff: Backoff | None = None,
        max_reconnect_attempts: int | None = None,
        connect_timeout_s: float = 10.0,
        resume_from: tuple[int, str | None] | None = None,
        on_gap: Callable[[Message], object] | None = None,
        on_error: Callable[[ClientError], object] | None = None,
        on_state: Callable[[State, State], object] | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        check_connection(url, token_transport, connect_timeout_s)
        self.url, self._transport = url, token_transport
        self._token = check_token(token)
        self.channels = check_channels(channels)
        self.reconnect, self.backoff = reconnect, backoff or Backoff()
        self.max_attempts, self.connect_timeout_s = max_reconnect_attempts, connect_timeout_s
        self.cursor = AlertCursor(*(resume_from or (None, None)))
        self.on_gap, self.on_error, self.on_state = on_gap, on_error, on_state
        self._rand = rand
        self.stats = {"frames": 0, "messages": 0, "connects": 0, "stream_dropped": 0,
                      "replay_discarded": 0}  # fmt: skip
        self._delivery = Delivery(self.stats, self._report, self._gap)
        self._replays = Replays(self.stats, self._is_open, lambda: self._stopped, self._send)
        self._actions = Actions(self._send, self._is_open)  # acknowledge, ... (actions.py)
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._opened = asyncio.Event()
        self._pending: dict[str, tuple[asyncio.Future[Message], str]] = {}
        self._ids = 0
        self._stopped = True  # not connecting (before connect(), after close() or giving up)
        self.state: State = "closed"

    # -- public API ------------------------------------------------------------------------------

    def on(self, message_type: str, callback: Callable[[Message], object]) -> None:
        """Call ``callback(message)`` for every message of ``message_type`` (``"*"``: all).
        Replayed alerts (:meth:`replay_alerts`) reach ``"*"`` always, ``"alert"`` only with
        ``deliver=True``."""
        self._delivery.on(message_type, callback)

    def stream(self, max_queue: int = 10_000) -> AsyncIterator[Message]:
        """Every message from now on, until :meth:`close` (replayed alerts only with
        ``replay_alerts(..., deliver=True)``). A consumer that falls ``max_queue`` behind loses
        the oldest (counted in ``stats['stream_dropped']``, reported to on_gap)."""
        return self._delivery.stream(max_queue)

    async def connect(self) -> None:
        """Start connecting in the background (returns at once; see :meth:`wait_open`)."""
        if self._task is None or self._task.done():
            self._stopped = False
            self._task = asyncio.get_running_loop().create_task(self._run(), name="rtx-client")

    async def wait_open(self, timeout_s: float | None = None) -> None:
        """Wait until the connection is open (TimeoutError after ``timeout_s``)."""
        async with asyncio.timeout(timeout_s):
            await self._opened.wait()

    async def subscribe(self, channels: Iterable[str]) -> None:
        """Add channels (kept across reconnects); alerts resume from the cursor."""
        new = [c for c in check_channels(channels) if c not in self.channels]
        self.channels += new
        if new:
            await self._send_subscribe(new)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        gone = check_channels(channels)
        self.channels = [c for c in self.channels if c not in gone]
        if gone:
            await self._send({"action": "unsubscribe", "channels": gone})

    async def refresh(self, token: str, timeout_s: float = 10.0) -> Message | None:
        """Replace the token. When open, the bridge's ``refreshed`` data (the new expiry), or
        ServerError ``refresh-failed`` (the old token stays). When not open, the new token is
        used for the next connection and the result is None."""
        fresh = check_token(token)
        ws = self._ws
        if ws is None or self.state != "open":
            self._token = fresh
            return None
        request_id = self._next_id("r")
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (future, fresh)
        try:
            await self._send({"action": "refresh", "token": fresh, "id": request_id})
            async with asyncio.timeout(timeout_s):
                return await future
        finally:
            self._pending.pop(request_id, None)

    async def replay_alerts(
        self,
        from_time: datetime | str,
        to_time: datetime | str | None = None,
        limit: int | None = None,
        timeout_s: float | None = 30.0,
        *,
        deliver: bool = False,
    ) -> tuple[list[Message], Message]:
        """The stored alerts with ``from_time <= eventTime < to_time`` (docs/bridge.md section 2,
        ``replay``), oldest first, as messages (``timestamp`` = event time, ``"replay": True``),
        and the ``replay-done`` data (``count``, ``dropped``, ``truncated``: more matched than
        ``limit`` (1..10000, bridge default 1000), ``complete``: False when older alerts are no
        longer held). Times: aware datetimes or RFC 3339 strings with an offset.

        Replayed alerts are history: they never move :attr:`cursor` (resume and dedupe are
        untouched) and reach ``"alert"`` callbacks and streams only with ``deliver=True``. One
        replay runs at a time (later calls wait); a call made while (re)connecting is sent once
        open. Raises InvalidArgument (bad arguments), ServerError (``forbidden``,
        ``replay-unavailable``, ...), ConnectionFailed ``closed`` (not connected, closed, or the
        connection dropped before ``replay-done``), ClientError ``timeout`` (``timeout_s`` from
        the call; None: wait forever). A timed-out replay still running on the bridge is waited
        for by the next call, and its alerts are discarded (``stats['replay_discarded']``)."""
        frame = replay_frame(from_time, to_time, limit)
        if timeout_s is not None and not 0 < timeout_s < float("inf"):
            raise InvalidArgument(f"timeout_s must be a number > 0 or None, got {timeout_s!r}")
        return await self._replays.run(self._next_id("q"), frame, timeout_s, deliver)

    async def close(self) -> None:
        """Close the connection (1000), stop reconnecting, end every stream; a running
        :meth:`replay_alerts` raises ConnectionFailed ``closed``."""
        self._stopped = True
        self._replays.wake()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._delivery.end()
        self._actions.stop(ConnectionFailed("closed", "the client was closed"))
        self._set_state("closed")

    async def __aenter__(self) -> AnalyticsClient:
        await self.connect()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- connection ------------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0  # connection attempts that failed in a row
        try:
            while True:
                self._set_state("connecting" if self.stats["connects"] == 0 else "reconnecting")
                try:
                    dropped = await self._session()
                except ClientError as exc:
                    self._report(exc)
                    attempt += 1
                else:
                    attempt = 0  # it was open: the backoff starts afresh
                    if dropped is not None:
                        self._report(dropped)
                if not self.reconnect:
                    break
                if self.max_attempts is not None and attempt >= self.max_attempts:
                    self._report(ConnectionFailed("gave-up", f"gave up after {attempt} attempts"))
                    break
                self._set_state("reconnecting")
                await asyncio.sleep(self.backoff.delay(attempt, self._rand))
        finally:
            self._ws = None
            self._opened.clear()
            self._stopped = True
            self._replays.wake()
            self._set_state("closed")

    async def _session(self) -> ConnectionFailed | None:
        """One connection: open (ConnectionFailed if it cannot), subscribe, read until it
        closes; returns why it closed (None for a normal closure)."""
        ws = await open_socket(self.url, self._token, self._transport, self.connect_timeout_s)
        self._ws = ws
        self.stats["connects"] += 1
        try:
            self._set_state("open")
            self._opened.set()
            if self.channels:
                await self._send_subscribe(self.channels)
            self._replays.wake()
            await self._actions.opened()
            async for frame in ws:
                self._on_frame(frame)
        except ConnectionClosed:
            pass
        finally:
            self._ws = None
            self._opened.clear()
            await ws.close()
            for future, _ in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionFailed("closed", "connection closed"))
            self._replays.connection_lost()
        return closed_because(ws.close_code, self.url)

    async def _send_subscribe(self, channels: list[str]) -> None:
        frame: Message = {"action": "subscribe", "channels": channels, "id": self._next_id("s")}
        if "alerts" in channels:
            frame.update(self.cursor.resume_fields())
        await self._send(frame)

    async def _send(self, frame: Message) -> None:
        ws = self._ws
        if ws is None:
            return  # sent on the next connect (subscriptions) or moot
        try:
            await ws.send(json.dumps(frame, separators=(",", ":")))
        except ConnectionClosed:
            pass  # the reader sees the close and reconnects

    def _is_open(self) -> bool:
        return self._ws is not None and self.state == "open"

    def _next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}{self._ids}"

    # -- frames ----------------------------------------------------------------------------------

    def _on_frame(self, frame: str | bytes) -> None:
        try:
            batch = json.loads(frame)
        except ValueError:
            batch = None
        if not isinstance(batch, list):
            self._report(ProtocolViolation("bad-frame", "a server frame that is not a JSON array"))
            return
        self.stats["frames"] += 1
        self.stats["messages"] += len(batch)
        for message in batch:
            if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
                self._report(ProtocolViolation("bad-message", "a message that is not an object"))
                continue
            kind, data = message.get("type"), message["data"]
            self.cursor.observe(kind, data)
            if kind == "alert":
                if message.get("replay") is True:
                    if not self._replays.take(message):
                        self._delivery.deliver(kind, message, typed=False)
                        continue
                elif not self.cursor.accept(data):
                    continue
            elif kind == "replay-done":
                self._replays.finish(data)
            elif kind == "gap":
                self._gap(data)
            elif kind == "subscribed" and (lost := self.cursor.apply_subscribed(data)):
                self._gap(lost)
            elif kind in ("refreshed", "error", "confirmed"):
                self._answer(kind, data)
            self._delivery.deliver(kind, message)

    def _answer(self, kind: str, data: Message) -> None:
        self._actions.answer(kind, data)
        pending = self._pending.pop(str(data.get("id")), None)
        if kind == "error":
            text = f"bridge refused a request: {data.get('message')}"
            error = ServerError(str(data.get("code")), text, data.get("channel"), data.get("id"))
            if pending is not None and not pending[0].done():
                pending[0].set_exception(error)
            self._replays.finish(data, error)
            self._report(error)
        elif pending is not None:
            self._token = pending[1]
            if not pending[0].done():
                pending[0].set_result(data)

    # -- hooks -----------------------------------------------------------------------------------

    def _set_state(self, state: State) -> None:
        previous, self.state = self.state, state
        if previous == state:
            return
        log.debug("state %s -> %s", previous, state)
        if self.on_state is not None:
            try:
                self.on_state(state, previous)
            except Exception:  # a failing hook must not stop the client
                log.exception("on_state hook raised")

    def _report(self, error: ClientError) -> None:
        log.debug("%s: %s", error.code, error)
        if self.on_error is not None:
            self._hook(self.on_error, error)

    def _gap(self, data: Message) -> None:
        self._hook(self.on_gap, data)

    def _hook(self, hook: Callable[[Any], object] | None, arg: Any) -> None:
        if hook is None:
            return
        try:
            hook(arg)
        except Exception:  # a failing hook must not stop the client
            log.exception("client hook %r raised", hook)
