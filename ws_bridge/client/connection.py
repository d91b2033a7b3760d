"""A small asyncio client of the bridge for services, notebooks, benchmarks and tests.

The same semantics as the TypeScript client (``clients/typescript``)::

    async with AnalyticsClient(url, token, channels=["alerts", "exposure-updates"]) as client:
        client.on("exposure-change", lambda m: print(m["data"]["utilizationPct"]))
        async for message in client.stream():
            ...

- **Auth**: the token in the ``token`` query parameter (default) or ``Authorization: Bearer``
  (``token_transport="header"``, kept out of access logs). The token is never logged.
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
:meth:`stream` consumer. The errors, backoff, cursor and replay checks live in
:mod:`ws_bridge.client.state` (pure, no I/O) and are re-exported here. Exceptions::

    ClientError
     +-- ConfigError (also a ValueError)  bad argument
     +-- ConnectionFailed                  could not connect, or the connection dropped (retriable)
     +-- ServerError                       the bridge answered a frame with an ``error`` message
     +-- ProtocolViolation                 a frame that is not a JSON array of objects
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import urllib.parse
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ws_bridge.client.state import (
    REPLAY_MAX_LIMIT,
    AlertCursor,
    Backoff,
    ClientError,
    ConfigError,
    ConnectionFailed,
    Message,
    ProtocolViolation,
    ReplayJob,
    ServerError,
    replay_frame,
)

__all__ = [
    "CHANNELS",
    "REPLAY_MAX_LIMIT",
    "AlertCursor",
    "AnalyticsClient",
    "Backoff",
    "ClientError",
    "ConfigError",
    "ConnectionFailed",
    "Message",
    "ProtocolViolation",
    "ServerError",
    "State",
]

State = Literal["connecting", "open", "reconnecting", "closed"]
CHANNELS = ("routing-metrics", "lp-performance", "exposure-updates", "alerts")
TOKEN_EXPIRED = 4001  # the bridge's close code (docs/bridge.md section 4)
log = logging.getLogger("ws_bridge.client")


_END = object()


class AnalyticsClient:
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
        if not url.startswith(("ws://", "wss://")):
            raise ConfigError(f"url must start with ws:// or wss://, got {url!r}")
        if "token=" in url:
            raise ConfigError("give the token as the token argument, not in the url")
        if token_transport not in ("query", "header"):
            raise ConfigError(f"token_transport must be query or header, got {token_transport!r}")
        if not 0 < connect_timeout_s < float("inf"):
            raise ConfigError(f"connect_timeout_s must be > 0, got {connect_timeout_s!r}")
        self.url, self._transport = url, token_transport
        self._token = _check_token(token)
        self.channels = _check_channels(channels)
        self.reconnect, self.backoff = reconnect, backoff or Backoff()
        self.max_attempts, self.connect_timeout_s = max_reconnect_attempts, connect_timeout_s
        self.cursor = AlertCursor(*(resume_from or (None, None)))
        self.on_gap, self.on_error, self.on_state = on_gap, on_error, on_state
        self._rand = rand
        self._handlers: dict[str, list[Callable[[Message], object]]] = {}
        self._streams: list[tuple[deque[Any], asyncio.Event, int]] = []
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._opened = asyncio.Event()
        self._pending: dict[str, tuple[asyncio.Future[Message], str]] = {}
        self._ids = 0
        self._stopped = True  # not connecting (before connect(), after close() or giving up)
        self._replay: ReplayJob | None = None  # the replay on the wire
        self._replay_orphan: str | None = None  # timed out, still running on the bridge
        self._replay_lock = asyncio.Lock()  # one replay at a time (the bridge runs one)
        self._replay_wake = asyncio.Event()  # open, orphan finished, or stopped
        self.state: State = "closed"
        self.stats = {"frames": 0, "messages": 0, "connects": 0, "stream_dropped": 0,
                      "replay_discarded": 0}  # fmt: skip

    # -- public API ------------------------------------------------------------------------------

    def on(self, message_type: str, callback: Callable[[Message], object]) -> None:
        """Call ``callback(message)`` for every message of ``message_type`` (``"*"``: all).
        Replayed alerts (:meth:`replay_alerts`) reach ``"*"`` always, ``"alert"`` only with
        ``deliver=True``."""
        self._handlers.setdefault(message_type, []).append(callback)

    def stream(self, max_queue: int = 10_000) -> AsyncIterator[Message]:
        """Every message from now on, until :meth:`close` (replayed alerts only with
        ``replay_alerts(..., deliver=True)``). A consumer that falls ``max_queue`` behind loses
        the oldest (counted in ``stats['stream_dropped']``, reported to on_gap)."""
        if max_queue < 1:
            raise ConfigError(f"max_queue must be >= 1, got {max_queue}")
        queue: deque[Any] = deque()
        entry = (queue, asyncio.Event(), max_queue)
        self._streams.append(entry)
        return self._iterate(entry)

    async def _iterate(
        self, entry: tuple[deque[Any], asyncio.Event, int]
    ) -> AsyncIterator[Message]:
        queue, ready, _ = entry
        try:
            while True:
                while not queue:
                    ready.clear()
                    await ready.wait()
                item = queue.popleft()
                if item is _END:
                    return
                yield item
        finally:
            with contextlib.suppress(ValueError):
                self._streams.remove(entry)

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
        new = [c for c in _check_channels(channels) if c not in self.channels]
        self.channels += new
        if new:
            await self._send_subscribe(new)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        gone = _check_channels(channels)
        self.channels = [c for c in self.channels if c not in gone]
        if gone:
            await self._send({"action": "unsubscribe", "channels": gone})

    async def refresh(self, token: str, timeout_s: float = 10.0) -> Message | None:
        """Replace the token. When open, the bridge's ``refreshed`` data (the new expiry), or
        ServerError ``refresh-failed`` (the old token stays). When not open, the new token is
        used for the next connection and the result is None."""
        fresh = _check_token(token)
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
        open. Raises ConfigError (bad arguments), ServerError (``forbidden``,
        ``replay-unavailable``, ...), ConnectionFailed ``closed`` (not connected, closed, or the
        connection dropped before ``replay-done``), ClientError ``timeout`` (``timeout_s`` from
        the call; None: wait forever). A timed-out replay still running on the bridge is waited
        for by the next call, and its alerts are discarded (``stats['replay_discarded']``)."""
        frame = replay_frame(from_time, to_time, limit)
        if timeout_s is not None and not 0 < timeout_s < float("inf"):
            raise ConfigError(f"timeout_s must be a number > 0 or None, got {timeout_s!r}")
        request_id = self._next_id("q")
        job = ReplayJob(request_id, deliver, asyncio.get_running_loop().create_future(), [])
        try:
            async with asyncio.timeout(timeout_s), self._replay_lock:
                while self._replay_orphan is not None or self._ws is None or self.state != "open":
                    if self._stopped:
                        raise ConnectionFailed("closed", "the client is not connected: connect()")
                    self._replay_wake.clear()
                    await self._replay_wake.wait()
                self._replay = job
                log.debug("replay %s: alerts from %s", request_id, frame["fromTime"])
                await self._send({**frame, "id": request_id})
                return job.messages, await job.done
        except TimeoutError:
            if self._replay is job:
                self._replay_orphan = request_id
            where = f"{len(job.messages)} alerts received" if self._replay is job else "not sent"
            raise ClientError(
                "timeout", f"replay {request_id}: no replay-done within {timeout_s} s ({where})"
            ) from None
        finally:
            if self._replay is job:
                self._replay = None

    async def close(self) -> None:
        """Close the connection (1000), stop reconnecting, end every stream; a running
        :meth:`replay_alerts` raises ConnectionFailed ``closed``."""
        self._stopped = True
        self._replay_wake.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for queue, ready, _ in self._streams:
            queue.append(_END)
            ready.set()
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
            self._replay_wake.set()
            self._set_state("closed")

    async def _session(self) -> ConnectionFailed | None:
        """One connection: open (ConnectionFailed if it cannot), subscribe, read until it
        closes; returns why it closed (None for a normal closure)."""
        url, headers = self.url, {}
        if self._transport == "header":
            headers["Authorization"] = f"Bearer {self._token}"
        else:
            sep = "&" if "?" in url else "?"
            url = f"{url}{sep}token={urllib.parse.quote(self._token, safe='')}"
        log.debug("connecting to %s (token in %s)", self.url, self._transport)
        try:
            ws = await connect(
                url,
                additional_headers=headers,
                open_timeout=self.connect_timeout_s,
                max_size=64 * 1024 * 1024,
                compression=None,  # the bridge's default; deflate costs CPU on both ends
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            code = "unauthorized" if status == 401 else "refused"
            raise ConnectionFailed(
                code, f"{self.url} refused the handshake: HTTP {status}"
            ) from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise ConnectionFailed(
                "connect-failed", f"could not open a WebSocket to {self.url}: {exc!r}"
            ) from exc
        self._ws = ws
        self.stats["connects"] += 1
        try:
            self._set_state("open")
            self._opened.set()
            if self.channels:
                await self._send_subscribe(self.channels)
            self._replay_wake.set()
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
            job, self._replay_orphan = self._replay, None  # the bridge forgets its replay
            if job is not None and not job.done.done():
                got = f"{len(job.messages)} alerts received"
                text = f"connection closed before the replay finished ({got})"
                job.done.set_exception(ConnectionFailed("closed", text))
        close_code = ws.close_code
        if close_code == TOKEN_EXPIRED:
            return ConnectionFailed("token-expired", "the bridge closed: token expired", close_code)
        if close_code == 1000:
            return None
        return ConnectionFailed(
            "closed", f"connection to {self.url} closed (code {close_code})", close_code
        )

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
            if kind == "alert":
                if message.get("replay") is True:
                    if not self._replayed(message):
                        self._deliver(kind, message, typed=False)
                        continue
                elif not self.cursor.accept(data):
                    continue
            elif kind == "replay-done":
                self._replay_done(data)
            elif kind == "gap":
                self._hook(self.on_gap, data)
            elif kind == "subscribed":
                lost = self.cursor.apply_subscribed(data)
                if lost is not None:
                    self._hook(self.on_gap, lost)
            elif kind == "refreshed" or kind == "error":
                self._answer(kind, data)
            self._deliver(kind, message)

    def _replayed(self, alert: Message) -> bool:
        """Take a replayed alert into the replay on the wire; True if it is also delivered."""
        job = self._replay
        if job is None:  # a timed-out replay's (or nobody asked): discarded
            self.stats["replay_discarded"] += 1
            return False
        job.messages.append(alert)
        return job.deliver

    def _replay_done(self, data: Message, error: ServerError | None = None) -> None:
        """``replay-done`` (or an ``error``) for a replay: finish it, or forget a timed-out one."""
        request_id, job = str(data.get("id")), self._replay
        if request_id == self._replay_orphan:
            self._replay_orphan = None
            self._replay_wake.set()
        elif job is not None and job.request_id == request_id and not job.done.done():
            if error is None:
                job.done.set_result(data)
            else:
                job.done.set_exception(error)

    def _answer(self, kind: str, data: Message) -> None:
        pending = self._pending.pop(str(data.get("id")), None)
        if kind == "error":
            text = f"bridge refused a request: {data.get('message')}"
            error = ServerError(str(data.get("code")), text, data.get("channel"), data.get("id"))
            if pending is not None and not pending[0].done():
                pending[0].set_exception(error)
            self._replay_done(data, error)
            self._report(error)
        elif pending is not None:
            self._token = pending[1]
            if not pending[0].done():
                pending[0].set_result(data)

    def _deliver(self, kind: Any, message: Message, *, typed: bool = True) -> None:
        """To the ``kind`` callbacks, the ``"*"`` ones and the streams (only ``"*"`` when not
        ``typed``: a replayed alert nobody asked to deliver)."""
        for key in (kind, "*") if typed else ("*",):
            for callback in self._handlers.get(key, ()):
                try:
                    callback(message)
                except Exception as exc:  # noqa: BLE001 - reported, the client carries on
                    self._report(ClientError("handler-failed", f"{key} callback raised {exc!r}"))
        for queue, ready, limit in self._streams if typed else ():
            if len(queue) >= limit:
                queue.popleft()
                self.stats["stream_dropped"] += 1
                self._hook(self.on_gap, {"channel": None, "dropped": 1, "reason": "stream-full"})
            queue.append(message)
            ready.set()

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

    def _hook(self, hook: Callable[[Any], object] | None, arg: Any) -> None:
        if hook is None:
            return
        try:
            hook(arg)
        except Exception:  # a failing hook must not stop the client
            log.exception("client hook %r raised", hook)


def _check_token(token: Any) -> str:
    if not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token):
        raise ConfigError("token must be a non-empty string without whitespace")
    return token


def _check_channels(channels: Iterable[str]) -> list[str]:
    if isinstance(channels, str):
        raise ConfigError("channels must be a list of channel names, not one string")
    out: list[str] = []
    for c in channels:
        if c not in CHANNELS:
            raise ConfigError(f"unknown channel {c!r}; one of {', '.join(CHANNELS)}")
        if c not in out:
            out.append(c)
    return out
