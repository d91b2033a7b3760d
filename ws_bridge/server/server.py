"""The bridge's I/O shell: a websockets server on ``/ws/analytics`` driving the sans-I/O core.

:class:`BridgeServer` owns the source (:class:`ws_bridge.server.kafka_source.KafkaSource`), the
hub and its connections (:mod:`ws_bridge.server.hub`), the policies and the metrics.

Every request (``process_request``, before any route runs) goes to the one access policy,
:class:`ws_bridge.core.routes.RoutePolicy`: IP (403), Origin (403), slow-down of repeated failed
authentications (429 with ``Retry-After``), token (401, reason logged, never the token). A refusal
is answered, logged (route, address, reason) and counted by route and reason. An allowed request
goes to its route: the HTTP endpoints (:mod:`ws_bridge.server.http`), the dashboard's files, or
for ``/ws/analytics`` the connection limits (503 server full, 429 per user), then the upgrade.
``/metrics`` moves to a listener of its own with ``RTX_BRIDGE_METRICS_ADDR``. Every log line
passes through :func:`ws_bridge.core.auth.redact` (:mod:`ws_bridge.server.logs`).
"""

from __future__ import annotations

import asyncio
import contextlib
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

from ws_bridge.core.access import SERVER_FULL, ChannelPolicy, ConnectionLimits
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.auth import TokenVerifier
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.protocol import MAX_REFRESH_FRAME_BYTES, WS_PATH
from ws_bridge.core.refusal_log import RefusalLog
from ws_bridge.core.routes import Allowed, Listener, Refused, Route, RoutePolicy, public_status
from ws_bridge.core.session import ClientSession, SessionContext
from ws_bridge.server import dashboard
from ws_bridge.server.actions import ActionLog
from ws_bridge.server.http import BridgeMetrics, refusal, respond, respond_json
from ws_bridge.server.hub import Connection, Hub, close_code
from ws_bridge.server.logs import flush_refusal_log, log_left_out, log_line
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
        actions: ActionLog | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.actions = actions  # None: alert actions off (docs/bridge.md, "Alert actions")
        self._clock = clock
        self.verifier = TokenVerifier(settings, clock)
        self.policy = RoutePolicy(settings, self.verifier)
        self.limits = ConnectionLimits(settings.max_connections, settings.max_connections_per_user)
        self.metrics = BridgeMetrics(self._drops, source.status)
        self.hub = Hub(settings, self.metrics)
        if actions is not None:
            actions.attach(self.hub)
        self._closed_drops: Counter[str] = Counter()
        self._identities: dict[ServerConnection, Any] = {}
        self._server: Server | None = None
        self._metrics_server: Server | None = None
        self._trimming: asyncio.Task[None] | None = None
        self.refusal_log = RefusalLog()
        self._refusal_flushing: asyncio.Task[None] | None = None
        self.running = False

    @property
    def port(self) -> int:
        assert self._server is not None  # noqa: S101 - after start()
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def metrics_port(self) -> int:
        """The port ``/metrics`` is served on (the bridge's, unless RTX_BRIDGE_METRICS_ADDR)."""
        if self._metrics_server is None:
            return self.port
        return int(self._metrics_server.sockets[0].getsockname()[1])

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
        desk = None if self.actions is None else self.actions.desk
        snapshot = self.hub.fanout.snapshot
        return SessionContext(
            self.settings,
            self.verifier,
            ChannelPolicy(self.settings.channel_roles),
            snapshot if desk is None else lambda ch: [*snapshot(ch), *desk.snapshot(ch)],
            self.hub.alert_log,
            desk,
        )

    async def start(self) -> None:
        await self.source.start(self.hub)
        if not self.hub.has_alert_log:  # a source without an alert topic
            epoch = secrets.token_urlsafe(16)
            self.hub.set_alert_log(AlertLog(epoch, capacity=self.settings.alert_history))
        if self.actions is not None:
            await self.actions.start()  # folds the actions before any client is served
        self._ctx = self._context()
        self.hub.start()
        trim = malloc_trim() if self.settings.malloc_trim_s > 0 else None
        if trim is not None:
            self._trimming = asyncio.create_task(
                trim_every(self.settings.malloc_trim_s, trim), name="bridge-malloc-trim"
            )
        self._refusal_flushing = asyncio.create_task(
            flush_refusal_log(self.refusal_log), name="bridge-refusal-log"
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
        await self._serve_metrics()
        self.running = True
        for warning in self.settings.warnings:
            log_line(logging.WARNING, warning)
        log_line(logging.INFO, f"Analytics hub started on {self.url}", url=self.url)

    async def stop(self) -> None:
        """Stop accepting, close every client with 1001, stop consuming."""
        self.running = False
        for server in (self._server, self._metrics_server):
            if server is not None:
                server.close(close_connections=True)
                await server.wait_closed()
        for task in (self._trimming, self._refusal_flushing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._trimming = self._refusal_flushing = None
        log_left_out(*self.refusal_log.flush())
        await self.hub.stop()
        if self.actions is not None:
            await self.actions.stop()
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

    async def _serve_metrics(self) -> None:
        """With RTX_BRIDGE_METRICS_ADDR: a listener of its own answering ``/metrics`` only."""
        if self.settings.metrics_addr is None:
            return
        host, port = self.settings.metrics_addr
        self._metrics_server = await serve(
            _no_websocket,
            host or self.settings.host,
            port,
            process_request=self._process_metrics_request,
            ssl=_ssl_context(self.settings),
            logger=logging.getLogger("ws_bridge.websockets"),
            server_header=None,
        )
        log_line(
            logging.INFO, f"Metrics served on {host or self.settings.host}:{self.metrics_port}"
        )

    # -- HTTP and handshake -------------------------------------------------------------------

    def status(self, full: bool = True) -> dict[str, Any]:
        """The status route's body; ``full``: with the client list, consumer and alert log."""
        if not full:
            return public_status({"running": self.running, "clients": len(self.hub.connections)})
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

    def _process_metrics_request(self, conn: ServerConnection, request: Request) -> Response | None:
        return self._process_request(conn, request, Listener.METRICS)

    def _process_request(
        self, conn: ServerConnection, request: Request, listener: Listener = Listener.MAIN
    ) -> Response | None:
        """The policy first, then the route; None lets websockets go on with the upgrade."""
        peer = _peer(conn)
        headers = request.headers.raw_items()
        decision = self.policy.decide(request.path, headers, peer, self._clock(), listener)
        if isinstance(decision, Refused):
            return self._refuse(conn, decision, peer)
        if decision.route is Route.WS:
            return self._admit(conn, decision, peer)
        return self._answer(conn, request, decision)

    def _answer(self, conn: ServerConnection, request: Request, allowed: Allowed) -> Response:
        """The HTTP routes (everything but the upgrade)."""
        route = allowed.route
        if route is Route.DASHBOARD:  # the live dashboard's static files
            path = urlsplit(request.path).path
            return dashboard.serve(conn, path, host=request.headers.get("Host"))
        if route is Route.STATUS:
            extra = (("Cache-Control", "no-store"),)
            return respond_json(conn, self.status(full=allowed.full_status), extra)
        if route is Route.HEALTH:
            return respond(conn, HTTPStatus.OK, "ok\n")
        if route is Route.READY:
            if self.source.ready and self.running:
                return respond(conn, HTTPStatus.OK, "ready\n")
            return respond(conn, HTTPStatus.SERVICE_UNAVAILABLE, "catching up\n")
        if route is Route.METRICS:
            body = generate_latest(self.metrics.registry)
            return respond(conn, HTTPStatus.OK, body, CONTENT_TYPE_LATEST)
        return respond(conn, HTTPStatus.NOT_FOUND, "Not Found\n")

    def _admit(self, conn: ServerConnection, allowed: Allowed, peer: str | None) -> Response | None:
        """A handshake the policy allowed: count it against the connection limits."""
        identity = allowed.identity
        assert identity is not None  # noqa: S101 - the policy verified the token
        refused = self.limits.try_acquire(identity.user)
        if refused is not None:
            status = (
                HTTPStatus.SERVICE_UNAVAILABLE
                if refused == SERVER_FULL
                else HTTPStatus.TOO_MANY_REQUESTS
            )
            decision = Refused(Route.WS, status, refused, f"user {identity.user}")
            return self._refuse(conn, decision, peer, body=f"{refused}\n")
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
        self, conn: ServerConnection, refused: Refused, peer: str | None, body: str | None = None
    ) -> Response:
        """Answer, log (route, address, reason; never the token) and count a refusal."""
        route, reason = refused.route.value, refused.reason
        detail = f" ({refused.detail})" if refused.detail else ""
        if refused.auth_failure:
            message = f"Authentication failed from {peer}: {reason}{detail} on {route}"
        else:
            message = f"Refused {route} from {peer}: {reason}{detail}"
        logged, left = self.refusal_log.admit((route, reason), time.monotonic())
        if logged:
            log_line(logging.WARNING, message, route=route, peer=peer, reason=reason)
        if left is not None:
            log_left_out(left)
        self.metrics.refusal(refused)
        return refusal(conn, refused, body)

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


async def _no_websocket(ws: ServerConnection) -> None:
    """The metrics listener answers every request in process_request; nothing upgrades."""
    await ws.close()


def _ssl_context(settings: BridgeSettings) -> ssl.SSLContext | None:
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    return context
