"""The bridge's I/O shell: a websockets server on ``/ws/analytics`` driving the sans-I/O core.

:class:`BridgeServer` owns the source (:class:`ws_bridge.server.kafka_source.KafkaSource`), the
hub and its connections (:mod:`ws_bridge.server.hub`), the policies and the metrics.

The **handshake** (``process_request``) answers the HTTP endpoints (:mod:`ws_bridge.server.http`,
the dashboard's files), then for ``/ws/analytics`` checks, in the order of docs/bridge.md section 6:
IP (403), Origin (403), token (401, reason logged, never the token), connection limits (503
server full, 429 per user). Every log line passes through :func:`ws_bridge.core.auth.redact`
(:mod:`ws_bridge.server.logs`).
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
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from ws_bridge.core.access import (
    SERVER_FULL,
    ChannelPolicy,
    ConnectionLimits,
    IpPolicy,
    OriginPolicy,
)
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.auth import TokenVerifier, authenticate
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.errors import AuthError
from ws_bridge.core.protocol import MAX_REFRESH_FRAME_BYTES, STATUS_PATH, WS_PATH
from ws_bridge.core.session import ClientSession, SessionContext
from ws_bridge.server import dashboard
from ws_bridge.server.http import HEALTH_PATH, METRICS_PATH, READY_PATH, BridgeMetrics
from ws_bridge.server.hub import Connection, Hub, close_code
from ws_bridge.server.logs import log_line
from ws_bridge.server.memory import malloc_trim, trim_every

HANDLED_REQUEST = Request(WS_PATH, Headers())  # stands in for each handled handshake's request

# websockets refuses larger frames itself (close 1009); the core enforces 512 for all but refresh.
MAX_SIZE = MAX_REFRESH_FRAME_BYTES + 1024


class Source(Protocol):
    """What feeds the hub: :class:`ws_bridge.server.kafka_source.KafkaSource`, or a test's own."""

    @property
    def ready(self) -> bool: ...

    async def start(self, sink: Hub) -> None: ...

    async def stop(self) -> None: ...

    def status(self) -> dict[str, dict[str, int]]: ...


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
        self._trimming: asyncio.Task[None] | None = None
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
        trim = malloc_trim() if self.settings.malloc_trim_s > 0 else None
        if trim is not None:
            self._trimming = asyncio.create_task(
                trim_every(self.settings.malloc_trim_s, trim), name="bridge-malloc-trim"
            )
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
        if self._trimming is not None:
            self._trimming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._trimming
            self._trimming = None
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
        conn = Connection(ws, session, self.hub.writes)
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
            code = close_code(ws)
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
