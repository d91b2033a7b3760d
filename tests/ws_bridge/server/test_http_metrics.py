"""On a real bridge on 127.0.0.1: ``/metrics`` behind a bearer token (RTX_BRIDGE_METRICS_TOKEN_FILE)
and on a listener of its own (RTX_BRIDGE_METRICS_ADDR), and repeated failed authentications
slowed down with 429 and ``Retry-After`` before any token is checked."""

from __future__ import annotations

import logging
import time

import pytest
from websockets.asyncio.client import connect

from tests.helpers.bridge_routes import jwt_for, raw_request, upgrade_headers
from tests.helpers.bridge_server import http_get, recv_messages, running, subscribe, token, ws_url

pytestmark = pytest.mark.timeout(30)

METRICS_TOKEN = "scrape-token-0123456789abcdef"  # noqa: S105 - test token


async def test_metrics_with_a_token_answer_only_its_bearer() -> None:
    async with running(metrics_token=METRICS_TOKEN.encode()) as server:
        status, headers, body = await raw_request(server.port, "/metrics")
        assert (status, body) == (401, b"Unauthorized: missing-token\n")
        assert headers["www-authenticate"].startswith("Bearer")
        wrong = {"Authorization": "Bearer scrape-token-0123456789abcdeX"}
        status, _, body = await raw_request(server.port, "/metrics", wrong)
        assert (status, body) == (401, b"Unauthorized: bad-token\n")
        status, _, _ = await raw_request(server.port, f"/metrics?token={METRICS_TOKEN}")
        assert status == 401  # a bearer header only: a query string lands in scrape configs
        right = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        status, headers, body = await raw_request(server.port, "/metrics", right)
        assert status == 200 and headers["content-type"].startswith("text/plain")
        assert b'rtx_bridge_requests_refused_total{reason="bad-token",route="/metrics"} 1.0' in body
        assert (await http_get(server, "/healthz"))[0] == 200  # the token guards /metrics only


async def test_metrics_on_their_own_port_leave_the_bridge_port_and_serve_nothing_else() -> None:
    async with running(metrics_addr=("127.0.0.1", 0)) as server:
        assert server.metrics_port != server.port
        assert (await raw_request(server.port, "/metrics"))[0] == 404
        status, _, body = await raw_request(server.metrics_port, "/metrics")
        assert status == 200 and b"rtx_bridge_open_connections" in body
        for path in ("/ws/analytics", "/api/analytics/status", "/healthz", "/dashboard/"):
            assert (await raw_request(server.metrics_port, path))[0] == 404, path
        headers = {"Authorization": f"Bearer {token()}", **upgrade_headers()}
        assert (await raw_request(server.metrics_port, "/ws/analytics", headers))[0] == 404
        async with connect(ws_url(server, token())) as ws:  # the bridge itself is unchanged
            await subscribe(ws, "alerts", id="m")
            assert (await recv_messages(ws, 1))[0]["type"] == "subscribed"


async def test_the_metrics_port_follows_the_allow_list_and_the_token() -> None:
    async with running(
        metrics_addr=("127.0.0.1", 0),
        metrics_token=METRICS_TOKEN.encode(),
        allowed_ips=("10.0.0.0/8",),
    ) as server:
        right = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        status, _, body = await raw_request(server.metrics_port, "/metrics", right)
        assert (status, body) == (403, b"Forbidden: ip-not-allowed\n")
    async with running(
        metrics_addr=("127.0.0.1", 0), metrics_token=METRICS_TOKEN.encode()
    ) as server:
        assert (await raw_request(server.metrics_port, "/metrics"))[0] == 401
        assert (await raw_request(server.metrics_port, "/metrics", right))[0] == 200


async def test_repeated_failed_handshakes_get_429_with_retry_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Burst 3 at 1 a minute: three wrong tokens get 401, then even a valid token gets 429 with
    Retry-After before it is checked; the refusal is logged and counted; the status route (with
    a token) is slowed down too, without a token it still answers."""
    async with running(auth_failures_burst=3, auth_failures_per_min=1) as server:
        bad = {"Authorization": f"Bearer {jwt_for('bad', time.time())}", **upgrade_headers()}
        for _ in range(3):
            status, _, body = await raw_request(server.port, "/ws/analytics", bad)
            assert (status, body) == (401, b"Unauthorized: bad-signature\n")
        good = {"Authorization": f"Bearer {token()}", **upgrade_headers()}
        with caplog.at_level(logging.INFO, logger="ws_bridge.server"):
            status, headers, body = await raw_request(server.port, "/ws/analytics", good)
        assert (status, body) == (429, b"Too Many Requests: too-many-auth-failures\n")
        assert 1 <= int(headers["retry-after"]) <= 60
        lines = [r.getMessage() for r in caplog.records]
        assert "Refused /ws/analytics from 127.0.0.1: too-many-auth-failures" in lines
        status, _ = await http_get(server, "/api/analytics/status", bearer=token())
        assert status == 429
        assert (await http_get(server, "/api/analytics/status"))[0] == 200
        _, text = await http_get(server, "/metrics")
        refused = "rtx_bridge_requests_refused_total"
        assert f'{refused}{{reason="too-many-auth-failures",route="/ws/analytics"}} 1.0' in text
        assert f'{refused}{{reason="bad-signature",route="/ws/analytics"}} 3.0' in text
