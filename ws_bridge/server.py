"""The bridge's I/O shell: a websockets server on ``/ws/analytics`` driving the sans-I/O core.

Pieces::

    Source (KafkaSource) --publish--> Hub --Fanout.dispatch every batch interval--> Connections
    Connection: reader task (frames -> ClientSession.receive) + writer task (frames -> socket)

The **hub** collects a tick's messages (alerts go through ``AlertLog.append`` first, so a resume
sees them before they are dispatched) and calls ``Fanout.dispatch`` at most once per
``batch_interval``; the first message after an idle interval leaves at once. Shared frames go to
each connection's writer in order; sessions whose own queue got messages are woken.

A connection's **writer** sends, in order, the shared frames handed to it, then the session's own
``next_frame`` at ``next_send_at``; every write is bounded by ``RTX_BRIDGE_WRITE_TIMEOUT_S`` (a
write that takes longer aborts the connection) and followed by ``frame_sent``. It also wakes at
the token's ``expires_deadline`` and closes with the session's ``Close`` (4001).

The **handshake** (``process_request``) answers the HTTP endpoints (:mod:`ws_bridge.http`), then
for ``/ws/analytics`` checks, in the order of docs/bridge.md section 6: IP (403), Origin (403),
token (401, reason logged, never the token), connection limits (503 server full, 429 per user).
Every log line passes through :func:`ws_bridge.auth.redact`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import ssl
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ws_bridge import dashboard
from ws_bridge.access import SERVER_FULL, ChannelPolicy, ConnectionLimits, IpPolicy, OriginPolicy
from ws_bridge.alertlog import AlertLog
from ws_bridge.auth import TokenVerifier, authenticate, redact
from ws_bridge.config import BridgeSettings
from ws_bridge.errors import AuthError
from ws_bridge.fanout import Fanout
from ws_bridge.http import HEALTH_PATH, METRICS_PATH, READY_PATH, BridgeMetrics
from ws_bridge.protocol import MAX_REFRESH_FRAME_BYTES, STATUS_PATH, WS_PATH, Encoded, Message
from ws_bridge.session import ClientSession, Close, LogEvent, SessionContext
from ws_bridge.wire import text_frame, write_shared

log = logging.getLogger("ws_bridge.server")
NO_FRAMES: deque[tuple[str, bytes, int]] = deque()  # shared, never appended to (memory)
HANDLED_REQUEST = Request(WS_PATH, Headers())  # stands in for each handled handshake's request

# websockets refuses larger frames itself (close 1009); the core enforces 512 for all but refresh.
MAX_SIZE = MAX_REFRESH_FRAME_BYTES + 1024


class Source(Protocol):
    """What feeds the hub: :class:`ws_bridge.kafka_source.KafkaSource`, or a test's own."""

    @property
    def ready(self) -> bool: ...

    async def start(self, sink: Hub) -> None: ...

    async def stop(self) -> None: ...

    def status(self) -> dict[str, dict[str, int]]: ...


def log_line(level: int, message: str, **fields: Any) -> None:
    """Log through :func:`redact`; fields go to ``extra`` for the JSON format."""
    clean = {k: redact(str(v)) if isinstance(v, str) else v for k, v in fields.items()}
    log.log(level, redact(message), extra={"rtx_fields": clean})


class Hub:
    """Collects consumed messages and dispatches them to the connections once per tick."""

    def __init__(self, settings: BridgeSettings, metrics: BridgeMetrics) -> None:
        self.settings = settings
        self.fanout = Fanout()
        self._alerts: AlertLog | None = None
        self.connections: set[Connection] = set()
        self._metrics = metrics
        self._pending: list[Message | Encoded] = []
        self._timestamps: list[int] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

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
            self._wake.clear()
            try:
                self.tick(time.time())
            except Exception:  # a bug in one tick must not stop every client's stream
                log.exception("Dispatch failed; dropping this tick's messages")
            await asyncio.sleep(interval)

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
            metrics.built(delivery.count)
            written = 0
            for session in delivery.sessions:
                conn = by_session[session]
                if conn.write_now(wire, delivery.count):
                    written += 1
                else:
                    conn.push_shared(delivery.frame, wire, delivery.count)
            if written:
                metrics.sent(delivery.frame, delivery.count, written)
        for session in result.queued:
            by_session[session].wake()
        for stamp in stamps:
            self._metrics.latency.observe(max(0.0, now - stamp / 1000.0))


class Connection:
    """One accepted WebSocket: its session, reader and writer."""

    def __init__(self, ws: ServerConnection, session: ClientSession, server: BridgeServer) -> None:
        self.ws = ws
        self.session = session
        self._server = server
        # Idle connections are the bridge's memory budget: the queue of shared frames is a deque
        # of its own only once used, and the writer sleeps on a bare future rather than an
        # asyncio.Event (whose waiter deque alone is ~760 bytes).
        self._shared: deque[tuple[str, bytes, int]] = NO_FRAMES
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None
        self._counted = 0
        self._writing = False  # the writer task is in the middle of a send

    def write_now(self, wire: bytes, count: int) -> bool:
        """Write a group's frame from the hub's tick, without waking this connection's writer:
        only when nothing of this connection is queued or being written (order), and the socket
        takes it without waiting (see :func:`write_shared`). Most frames to clients that keep up
        go this way: one write each, no task switch."""
        if self._shared or self._writing or not write_shared(self.ws, wire):
            return False
        self._counted += count
        self.session.frame_sent()
        return True

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
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout_s):
                        await self._waiter
            finally:
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
        """Write one frame: a group's (``wire`` prebuilt) or this session's own."""
        self._writing = True
        try:
            if wire is None or not write_shared(self.ws, wire):
                async with asyncio.timeout(self._server.settings.write_timeout_s):
                    await self.ws.send(frame)
        except TimeoutError:
            log_line(logging.WARNING, f"Write timeout: dropping client {self.session.user}")
            self.ws.transport.abort()
            return False
        except ConnectionClosed:
            return False
        finally:
            self._writing = False
        self.session.frame_sent()
        metrics = self._server.metrics
        metrics.sent(frame, count)
        if wire is None:
            metrics.built(count)
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
                count = session.messages_sent - self._counted
                self._counted = session.messages_sent
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


def _close_code(ws: ServerConnection) -> int:
    """The code that ended a connection: the peer's, else the one the bridge sent (a keepalive
    timeout's 1011 goes unanswered by a dead peer), else 1006 (aborted)."""
    for frame in (ws.protocol.close_rcvd, ws.protocol.close_sent):
        if frame is not None:
            return int(frame.code)
    return 1006


def emit(event: LogEvent) -> None:
    log_line(event.level, event.message, event=event.event, **event.fields)


class BridgeServer:
    """The WebSocket server with its hub, source, policies and metrics."""

    def __init__(
        self,
        settings: BridgeSettings,
        source: Source,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.source = source
        self.verifier = TokenVerifier(settings, clock)
        self.origins = OriginPolicy(settings.allowed_origins)
        self.ips = IpPolicy(settings.allowed_ips)
        self.limits = ConnectionLimits(settings.max_connections, settings.max_connections_per_user)
        self.metrics = BridgeMetrics(self._drops, source.status)
        self.hub = Hub(settings, self.metrics)
        self._closed_drops: Counter[str] = Counter()
        self._identities: dict[ServerConnection, Any] = {}
        self._server: Server | None = None
        self.running = False

    @property
    def port(self) -> int:
        assert self._server is not None  # noqa: S101 - after start()
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        scheme = "wss" if self.settings.tls else "ws"
        return f"{scheme}://{self.settings.host}:{self.port}{WS_PATH}"

    def _drops(self) -> dict[str, int]:
        total = Counter(self._closed_drops)
        for conn in self.hub.connections:
            total.update(_drops_of(conn.session))
        return dict(total)

    def _context(self) -> SessionContext:
        return SessionContext(
            self.settings,
            self.verifier,
            ChannelPolicy(self.settings.channel_roles),
            self.hub.fanout.snapshot,
            self.hub.alert_log,
        )

    async def start(self) -> None:
        await self.source.start(self.hub)
        if not self.hub.has_alert_log:  # a source without an alert topic
            epoch = secrets.token_urlsafe(16)
            self.hub.set_alert_log(AlertLog(epoch, capacity=self.settings.alert_history))
        self._ctx = self._context()
        self.hub.start()
        self._server = await serve(
            self._handle,
            self.settings.host,
            self.settings.port,
            process_request=self._process_request,
            process_response=self._process_response,
            max_size=MAX_SIZE,
            ping_interval=self.settings.ping_interval_s,
            ping_timeout=self.settings.pong_wait_after_ping_s,
            ssl=_ssl_context(self.settings),
            logger=logging.getLogger("ws_bridge.websockets"),
            server_header=None,
            compression="deflate" if self.settings.compression == "deflate" else None,
        )
        self.running = True
        for warning in self.settings.warnings:
            log_line(logging.WARNING, warning)
        log_line(logging.INFO, f"Analytics hub started on {self.url}", url=self.url)

    async def stop(self) -> None:
        """Stop accepting, close every client with 1001, stop consuming."""
        self.running = False
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        await self.hub.stop()
        await self.source.stop()
        log_line(logging.INFO, "Analytics hub stopped")

    async def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            log_line(logging.INFO, "Shutting down: closing clients with 1001")
            await self.stop()

    # -- HTTP and handshake -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        clients = []
        for conn in self.hub.connections:
            row = conn.session.describe()
            row["inFlight"] = conn.session.in_flight
            row["peer"] = conn.session.peer
            clients.append(row)
        clients.sort(key=lambda c: (c["user"], str(c["peer"])))
        return {
            "running": self.running,
            "clients": len(clients),
            "clientList": clients,
            "ready": self.source.ready,
            "consumer": self.source.status(),
            "alertLog": self._alert_status(),
        }

    def _alert_status(self) -> dict[str, Any] | None:
        alert_log = self.hub.alert_log
        if alert_log is None:
            return None
        return {"epoch": alert_log.epoch, "held": len(alert_log), "lastSeq": alert_log.last_seq}

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if dashboard.is_dashboard_path(path):  # the live dashboard's static files
            return dashboard.serve(conn, path)
        if path == STATUS_PATH:
            return _json(conn, HTTPStatus.OK, self.status())
        if path == HEALTH_PATH:
            return conn.respond(HTTPStatus.OK, "ok\n")
        if path == READY_PATH:
            if self.source.ready and self.running:
                return conn.respond(HTTPStatus.OK, "ready\n")
            return conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "catching up\n")
        if path == METRICS_PATH:
            response = conn.respond(HTTPStatus.OK, "")
            body = generate_latest(self.metrics.registry)
            return _with_body(response, body, CONTENT_TYPE_LATEST)
        if path != WS_PATH:
            return conn.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        peer = _peer(conn)
        if not self.ips.allows(peer):
            return self._refuse(conn, HTTPStatus.FORBIDDEN, "ip-not-allowed", peer)
        if not self.origins.allows(request.headers.get("Origin")):
            return self._refuse(conn, HTTPStatus.FORBIDDEN, "origin-not-allowed", peer)
        try:
            identity = authenticate(self.verifier, request.path, request.headers.raw_items())
        except AuthError as exc:
            log_line(
                logging.WARNING,
                f"Authentication failed from {peer}: {exc.reason} ({exc.detail})",
                reason=exc.reason,
                peer=peer,
            )
            self.metrics.refused.labels(exc.reason).inc()
            return conn.respond(HTTPStatus.UNAUTHORIZED, f"Unauthorized: {exc.reason}\n")
        refused = self.limits.try_acquire(identity.user)
        if refused is not None:
            status = (
                HTTPStatus.SERVICE_UNAVAILABLE
                if refused == SERVER_FULL
                else HTTPStatus.TOO_MANY_REQUESTS
            )
            log_line(logging.WARNING, f"Connection of {identity.user} refused: {refused}")
            self.metrics.refused.labels(refused).inc()
            return conn.respond(status, f"{refused}\n")
        self._identities[conn] = identity
        return None

    def _process_response(
        self, conn: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        """A handshake that passed our checks but fails websockets' own (not an upgrade, bad
        key or version) never reaches the handler: give its connection slot back here."""
        if response.status_code != HTTPStatus.SWITCHING_PROTOCOLS:
            identity = self._identities.pop(conn, None)
            if identity is not None:
                self.limits.release(identity.user)
        return None

    def _refuse(
        self, conn: ServerConnection, status: HTTPStatus, reason: str, peer: str | None
    ) -> Response:
        log_line(logging.WARNING, f"Handshake from {peer} refused: {reason}", reason=reason)
        self.metrics.refused.labels(reason).inc()
        return conn.respond(status, f"Forbidden: {reason}\n")

    async def _handle(self, ws: ServerConnection) -> None:
        identity = self._identities.pop(ws)
        session = ClientSession(identity, self._ctx, now=time.time(), peer=_peer(ws))
        # The handshake's request (with the token in its path) and response are not needed any
        # more; their headers cost ~3.5 KiB per idle connection. websockets only checks that a
        # request was received, so one shared placeholder stands in for all of them.
        ws.request, ws.response = HANDLED_REQUEST, None
        conn = Connection(ws, session, self)
        self.hub.connections.add(conn)
        self.metrics.connections.inc()
        self.metrics.connections_total.inc()
        log_line(
            logging.INFO,
            f"Client connected: {identity.user} (account {identity.account}), "
            f"total {len(self.hub.connections)}",
            user=identity.user,
            account=identity.account,
            total=len(self.hub.connections),
        )
        try:
            await conn.run()
        finally:
            self.hub.connections.discard(conn)
            self.limits.release(identity.user)
            self._closed_drops.update(_drops_of(session))
            self.metrics.connections.dec()
            code = _close_code(ws)
            self.metrics.disconnects.labels(str(code)).inc()
            log_line(
                logging.INFO,
                f"Client disconnected: {identity.user} (code {code}), "
                f"total {len(self.hub.connections)}",
                user=identity.user,
                code=code,
                total=len(self.hub.connections),
            )


def _drops_of(session: ClientSession) -> Counter[str]:
    info = session.describe()
    drops: Counter[str] = Counter()
    drops["slow-client"] = sum(info["dropped"].values())
    drops["control-overflow"] = session.control_dropped
    drops["rate-limited"] = int(info["rateLimited"])
    return drops


def _peer(conn: ServerConnection) -> str | None:
    address = conn.remote_address
    if isinstance(address, tuple) and address:
        return str(address[0])
    return None


def _with_body(response: Response, body: bytes, content_type: str) -> Response:
    headers = Headers(response.headers)
    del headers["Content-Type"]
    del headers["Content-Length"]
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(body))
    return Response(response.status_code, response.reason_phrase, headers, body)


def _json(conn: ServerConnection, status: HTTPStatus, payload: Any) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return _with_body(conn.respond(status, ""), body, "application/json")


def _ssl_context(settings: BridgeSettings) -> ssl.SSLContext | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context


# -- logging ------------------------------------------------------------------------------------


class RedactingFilter(logging.Filter):
    """Redacts every record a handler emits (websockets' own lines included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(getattr(record, "rtx_fields", {}))
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """Replace the root handlers with one stderr handler, plain or JSON, redacting."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(level, logging.WARNING))
