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

Callbacks are plain functions called in order on the client's task; slow work belongs in a
:meth:`stream` consumer. Exceptions::

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
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

Message = dict[str, Any]
State = Literal["connecting", "open", "reconnecting", "closed"]
CHANNELS = ("routing-metrics", "lp-performance", "exposure-updates", "alerts")
TOKEN_EXPIRED = 4001  # the bridge's close code (docs/bridge.md section 4)
log = logging.getLogger("ws_bridge.client")


class ClientError(Exception):
    """Root of the client's errors; ``code`` names the cause (e.g. ``connect-failed``)."""

    retriable = False

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ConfigError(ClientError, ValueError):
    def __init__(self, message: str) -> None:
        super().__init__("bad-option", message)


class ConnectionFailed(ClientError):
    retriable = True

    def __init__(self, code: str, message: str, close_code: int | None = None) -> None:
        super().__init__(code, message)
        self.close_code = close_code


class ServerError(ClientError):
    """The bridge's ``error`` message: ``code`` is its code (``forbidden``, ``refresh-failed``)."""

    def __init__(self, code: str, message: str, channel: str | None = None) -> None:
        super().__init__(code, message)
        self.channel = channel


class ProtocolViolation(ClientError):
    pass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter (Brooker, "Exponential Backoff And Jitter", AWS
    Architecture Blog, 2015): retry ``n`` (0-based) waits uniformly in
    ``[0, min(max_s, base_s * 2**n))``, so clients dropped together do not return together."""

    base_s: float = 0.5
    max_s: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.base_s < float("inf"):
            raise ConfigError(f"backoff base_s must be a finite number > 0, got {self.base_s!r}")
        if not self.base_s <= self.max_s < float("inf"):
            raise ConfigError(f"backoff max_s must be finite and >= base_s, got {self.max_s!r}")

    def ceiling(self, attempt: int) -> float:
        """The exclusive upper bound of the delay before retry ``attempt``."""
        if attempt >= 64:  # 2**attempt would only overflow the float; the cap applies anyway
            return self.max_s
        return min(self.max_s, self.base_s * 2.0 ** max(0, attempt))

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """A delay in ``[0, ceiling(attempt))``; ``rand`` returns floats in [0, 1)."""
        return rand() * self.ceiling(attempt)


class AlertCursor:
    """The last alert delivered, ``(seq, epoch)``: what a resume asks for and what dedupes."""

    def __init__(self, seq: int | None = None, epoch: str | None = None) -> None:
        if seq is not None and (type(seq) is not int or seq < -1):
            raise ConfigError(f"resume seq must be a whole number >= -1, got {seq!r}")
        if epoch is not None and (not isinstance(epoch, str) or not epoch):
            raise ConfigError("resume epoch must be a non-empty string when given")
        self.seq, self.epoch = seq, epoch
        self.duplicates = 0

    def resume_fields(self) -> dict[str, Any]:
        """``since`` (and ``epoch``) for a subscribe that includes alerts; {} = live only."""
        if self.seq is None:
            return {}
        return (
            {"since": self.seq} if self.epoch is None else {"since": self.seq, "epoch": self.epoch}
        )

    def accept(self, data: Any) -> bool:
        """True for a new alert (the cursor moves to it); False for one already delivered."""
        seq, epoch = data.get("seq"), data.get("epoch")
        if type(seq) is not int:
            return True  # not a bridge alert with a position: nothing to dedupe by
        if self.seq is not None and (self.epoch is None or self.epoch == epoch) and seq <= self.seq:
            self.duplicates += 1
            return False
        self.seq, self.epoch = seq, epoch
        return True

    def apply_subscribed(self, data: Any) -> Message | None:
        """Take a resuming subscribe's answer; a ``not-recovered`` gap (as the data of a ``gap``
        message) when the bridge could not start right after this cursor, else None."""
        if "recovered" not in data:
            return None
        before_seq, before_epoch = self.seq, self.epoch
        epoch, after = data.get("epoch"), data.get("resumeAfter")
        if epoch is None or type(after) is not int:  # no alert history on the bridge
            return None if data["recovered"] else _lost(None, None, None, None)
        self.seq, self.epoch = after, epoch
        if data["recovered"]:
            return None
        same_log = before_seq is not None and before_epoch in (None, epoch)
        if same_log and before_seq is not None and after > before_seq:
            return _lost(after - before_seq, before_seq + 1, after, epoch)
        return _lost(None, None, None, epoch)


def _lost(dropped: int | None, first: int | None, last: int | None, epoch: str | None) -> Message:
    return {"channel": "alerts", "dropped": dropped, "reason": "not-recovered",
            "firstTimestamp": None, "lastTimestamp": None, "firstSeq": first, "lastSeq": last,
            "epoch": epoch}  # fmt: skip


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
        self.state: State = "closed"
        self.stats = {"frames": 0, "messages": 0, "connects": 0, "stream_dropped": 0}

    # -- public API ------------------------------------------------------------------------------

    def on(self, message_type: str, callback: Callable[[Message], object]) -> None:
        """Call ``callback(message)`` for every message of ``message_type`` (``"*"``: all)."""
        self._handlers.setdefault(message_type, []).append(callback)

    def stream(self, max_queue: int = 10_000) -> AsyncIterator[Message]:
        """Every message from now on, until :meth:`close`. A consumer that falls ``max_queue``
        behind loses the oldest (counted in ``stats['stream_dropped']``, reported to on_gap)."""
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

    async def close(self) -> None:
        """Close the connection (1000), stop reconnecting, end every stream."""
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
                if not message.get("replay") and not self.cursor.accept(data):
                    continue
            elif kind == "gap":
                self._hook(self.on_gap, data)
            elif kind == "subscribed":
                lost = self.cursor.apply_subscribed(data)
                if lost is not None:
                    self._hook(self.on_gap, lost)
            elif kind == "refreshed" or kind == "error":
                self._answer(kind, data)
            self._deliver(kind, message)

    def _answer(self, kind: str, data: Message) -> None:
        pending = self._pending.pop(str(data.get("id")), None)
        if kind == "error":
            text = f"bridge refused a request: {data.get('message')}"
            error = ServerError(str(data.get("code")), text, data.get("channel"))
            if pending is not None and not pending[0].done():
                pending[0].set_exception(error)
            self._report(error)
        elif pending is not None:
            self._token = pending[1]
            if not pending[0].done():
                pending[0].set_result(data)

    def _deliver(self, kind: Any, message: Message) -> None:
        for key in (kind, "*"):
            for callback in self._handlers.get(key, ()):
                try:
                    callback(message)
                except Exception as exc:  # noqa: BLE001 - reported, the client carries on
                    self._report(ClientError("handler-failed", f"{key} callback raised {exc!r}"))
        for queue, ready, limit in self._streams:
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
