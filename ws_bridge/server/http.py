"""The bridge's plain HTTP side: Prometheus metrics, and the responses of the HTTP routes.

Served by the WebSocket server's ``process_request`` hook (websockets answers a request that
is not an upgrade with the response it returns), on the same port as ``/ws/analytics`` (and
``/metrics`` on ``RTX_BRIDGE_METRICS_ADDR`` when set), once :mod:`ws_bridge.core.routes` allowed
the request:

- ``GET /api/analytics/status``: the contract's ``{"running", "clients"}``; to a token with
  ``RTX_BRIDGE_STATUS_ROLE`` also each client's ``describe()`` (the old hub's TODO) and the
  consumer's position and lag per topic;
- ``GET /healthz``: 200 while the process serves; ``GET /readyz``: 200 once the Kafka source
  caught up with the ends the topics had at start, 503 before;
- ``GET /metrics``: Prometheus text format from a registry of the bridge's own. No label carries
  a user, an account or an address: reasons, close codes, topics and route templates only.

Every answer carries ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``;
a refusal (:func:`refusal`) its status, a one-line reason and ``Retry-After`` on a slow-down.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Response

from ws_bridge.core.routes import Refused, Route

HEALTH_PATH = Route.HEALTH.value
READY_PATH = Route.READY.value
METRICS_PATH = Route.METRICS.value
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)

DropsFn = Callable[[], Mapping[str, int]]
LagFn = Callable[[], Mapping[str, Mapping[str, int]]]


class _Live(Collector):
    """Figures read at scrape time: drops by reason (live and closed sessions) and consumer lag."""

    def __init__(self, drops: DropsFn, lag: LagFn) -> None:
        self._drops = drops
        self._lag = lag

    def collect(self) -> Iterator[Any]:
        drops = CounterMetricFamily(
            "rtx_bridge_dropped_messages",
            "Messages not delivered, by reason (slow-client, control-overflow, rate-limited)",
            labels=["reason"],
        )
        for reason, count in sorted(self._drops().items()):
            drops.add_metric([reason], count)
        yield drops
        lag = GaugeMetricFamily(
            "rtx_bridge_consumer_lag", "Records not yet consumed, per topic", labels=["topic"]
        )
        position = GaugeMetricFamily(
            "rtx_bridge_consumer_position", "Next offset to read, per topic", labels=["topic"]
        )
        for topic, row in sorted(self._lag().items()):
            lag.add_metric([topic], row.get("lag", 0))
            position.add_metric([topic], row.get("position", 0))
        yield lag
        yield position


class BridgeMetrics:
    """The bridge's Prometheus metrics, in a registry of its own (several servers per process,
    as in the tests, never collide)."""

    def __init__(self, drops: DropsFn, lag: LagFn) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge(
            "rtx_bridge_open_connections", "Open WebSocket connections", registry=r
        )
        self.connections_total = Counter(
            "rtx_bridge_connections", "Accepted WebSocket connections", registry=r
        )
        self.refused = Counter(
            "rtx_bridge_handshakes_refused", "Refused handshakes, by reason", ["reason"], registry=r
        )
        self.requests_refused = Counter(
            "rtx_bridge_requests_refused",
            "Refused requests on every route, by route template and reason",
            ["route", "reason"],
            registry=r,
        )
        self.messages = Counter("rtx_bridge_messages_sent", "Messages sent", registry=r)
        self.frames = Counter("rtx_bridge_frames_sent", "Frames (batches) sent", registry=r)
        self.bytes = Counter("rtx_bridge_bytes_sent", "Bytes of frames sent", registry=r)
        self.batch_size = Histogram(
            "rtx_bridge_batch_size",
            "Messages per frame built (a group's shared frame counts once, however many clients)",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=r,
        )
        self.disconnects = Counter(
            "rtx_bridge_disconnects", "Closed connections, by close code", ["code"], registry=r
        )
        self.latency = Histogram(
            "rtx_bridge_event_to_send_seconds",
            "Kafka record timestamp to frame handed to the sockets",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        r.register(_Live(drops, lag))

    def sent(self, frame: str, count: int, clients: int = 1) -> None:
        """``frame`` of ``count`` messages was written to ``clients`` sockets."""
        self.frames.inc(clients)
        self.messages.inc(count * clients)
        self.bytes.inc(len(frame) * clients)  # ensure_ascii JSON: one byte per character

    def built(self, count: int) -> None:
        """A frame of ``count`` messages was built."""
        self.batch_size.observe(count)

    def refusal(self, refused: Refused) -> None:
        """Count a refusal: by route and reason; a handshake's also by reason alone (the
        counter the bridge had before every route was guarded)."""
        self.requests_refused.labels(refused.route.value, refused.reason).inc()
        if refused.route is Route.WS:
            self.refused.labels(refused.reason).inc()


def respond(
    conn: ServerConnection,
    status: int,
    body: bytes | str,
    content_type: str = "text/plain; charset=utf-8",
    extra: tuple[tuple[str, str], ...] = (),
) -> Response:
    """An HTTP answer with the security headers and ``extra``."""
    data = body.encode() if isinstance(body, str) else body
    response = conn.respond(HTTPStatus(status), "")
    headers = Headers(response.headers)
    del headers["Content-Type"]
    del headers["Content-Length"]
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(data))
    for name, value in (*SECURITY_HEADERS, *extra):
        headers[name] = value
    return Response(response.status_code, response.reason_phrase, headers, data)


def respond_json(
    conn: ServerConnection, payload: Any, extra: tuple[tuple[str, str], ...] = ()
) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return respond(conn, HTTPStatus.OK, body, "application/json", extra)


def refusal(conn: ServerConnection, refused: Refused, body: str | None = None) -> Response:
    """The answer to a refused request: ``Phrase: reason`` (or ``body``), ``Retry-After`` on a
    slow-down, ``WWW-Authenticate: Bearer`` on a 401 (RFC 9110 section 15.5.2, RFC 6750)."""
    status = HTTPStatus(refused.status)
    extra: list[tuple[str, str]] = []
    if refused.retry_after_s is not None:
        extra.append(("Retry-After", str(refused.retry_after_s)))
    if status == HTTPStatus.UNAUTHORIZED:
        extra.append(("WWW-Authenticate", 'Bearer realm="rtx-analytics"'))
    text = f"{status.phrase}: {refused.reason}\n" if body is None else body
    return respond(conn, status, text, extra=tuple(extra))
