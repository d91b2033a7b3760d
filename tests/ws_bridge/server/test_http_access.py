"""Every route of a real bridge on 127.0.0.1 behind the one access policy: the route matrix
(every route x caller x allowed or refused address x Origin), what the status shows to whom,
the open or guarded health checks, and what a refusal leaves behind (a log line with route,
address and reason but no token; a counter by route and reason; no metric label naming a user,
an account or an address)."""

from __future__ import annotations

import itertools
import json
import logging
import re
import time

import pytest
from websockets.asyncio.client import connect

from tests.helpers.bridge_routes import (
    BAD_ORIGIN,
    CALLERS,
    FULL,
    GOOD_ORIGIN,
    PATHS,
    expected,
    jwt_for,
    raw_request,
    upgrade_headers,
)
from tests.helpers.bridge_server import http_get, running, subscribe, token, until, ws_url
from ws_bridge.core.refusal_log import RefusalLog
from ws_bridge.core.routes import Route

pytestmark = pytest.mark.timeout(30)

LOOPBACK, ELSEWHERE = ("127.0.0.0/8",), ("10.0.0.0/8",)
MATRIX = list(itertools.product(Route, CALLERS, (True, False)))


@pytest.mark.parametrize(("route", "caller", "address_allowed"), MATRIX)
async def test_every_route_for_every_caller_address_and_origin(
    route: Route, caller: str, address_allowed: bool
) -> None:
    """One bridge per route x caller x address; each Origin case (none, allowed, refused) is one
    request to it. Refusals carry their status and reason; allowed requests their answer."""
    ips = LOOPBACK if address_allowed else ELSEWHERE
    async with running(allowed_ips=ips, allowed_origins=(GOOD_ORIGIN,)) as server:
        for origin in (None, GOOD_ORIGIN, BAD_ORIGIN):
            headers = upgrade_headers() if route is Route.WS else {}
            credential = jwt_for(caller, time.time())
            if credential is not None:
                headers["Authorization"] = f"Bearer {credential}"
            if origin is not None:
                headers["Origin"] = origin
            status, answer, body = await raw_request(server.port, PATHS[route], headers)
            want = expected(route, caller, address_allowed, origin)
            case = (route, caller, address_allowed, origin, status, body[:80])
            if isinstance(want, tuple):
                assert (status, body.decode()) == (want[0], f"{_phrase(want[0])}: {want[1]}\n"), (
                    case
                )
            elif route is Route.WS:
                assert status == 101, case
            elif route is Route.OTHER:
                assert status == 404, case
            else:
                assert status == 200, case
                if route is Route.STATUS:
                    keys = set(json.loads(body))
                    assert ("clientList" in keys) is (want == FULL), case
            if status != 101:
                assert answer["x-content-type-options"] == "nosniff", case
                assert answer["referrer-policy"] == "no-referrer", case


def _phrase(status: int) -> str:
    return {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}[status]


async def test_status_names_clients_only_to_the_status_role() -> None:
    """With one dashboard connected: no token and a viewer's token see the contract's two fields
    exactly; an admin's token (header or query) sees the client list, with user and account."""
    async with running() as server:
        async with connect(ws_url(server, token("dana", roles=("admin",)))) as ws:
            await subscribe(ws, "alerts")
            await until(lambda: len(server.hub.connections) == 1)
            for bearer in (None, jwt_for("viewer", time.time())):
                status, body = await http_get(server, "/api/analytics/status", bearer=bearer)
                assert (status, json.loads(body)) == (200, {"running": True, "clients": 1})
            admin = jwt_for("admin", time.time())
            for path, bearer in (
                ("/api/analytics/status", admin),
                (f"/api/analytics/status?token={admin}", None),
            ):
                status, body = await http_get(server, path, bearer=bearer)
                (client,) = json.loads(body)["clientList"]
                assert (client["user"], client["account"], client["peer"]) == (
                    "dana",
                    "acc-1",
                    "127.0.0.1",
                )


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_checks_are_open_unless_the_operator_closes_them(path: str) -> None:
    async with running(allowed_ips=ELSEWHERE) as server:
        assert (await http_get(server, path))[0] == 200
    async with running(allowed_ips=ELSEWHERE, health_public=False) as server:
        assert await http_get(server, path) == (403, "Forbidden: ip-not-allowed\n")
    async with running(allowed_ips=LOOPBACK, health_public=False) as server:
        assert (await http_get(server, path))[0] == 200


async def test_a_refusal_is_logged_with_route_address_and_reason_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The log line names the route template (never the path with its query), the address and
    the reason, never the token; /metrics counts it by route and reason."""
    expired = jwt_for("expired", time.time())
    assert expired is not None
    async with running(allowed_origins=(GOOD_ORIGIN,)) as server:
        with caplog.at_level(logging.INFO, logger="ws_bridge.server"):
            await http_get(server, f"/api/analytics/status?token={expired}")
            await raw_request(server.port, "/metrics", {"Origin": BAD_ORIGIN})
            await raw_request(server.port, "/ws/analytics", upgrade_headers())
        _, text = await http_get(server, "/metrics")
    lines = [r.getMessage() for r in caplog.records]
    assert any(
        line.startswith("Authentication failed from 127.0.0.1: expired (")
        and line.endswith(" on /api/analytics/status")
        for line in lines
    ), lines
    assert "Refused /metrics from 127.0.0.1: origin-not-allowed" in lines
    assert any("missing-token" in line and line.endswith("on /ws/analytics") for line in lines)
    assert not any(expired.split(".")[1] in line for line in lines)
    refused = "rtx_bridge_requests_refused_total"
    assert f'{refused}{{reason="expired",route="/api/analytics/status"}} 1.0' in text
    assert f'{refused}{{reason="origin-not-allowed",route="/metrics"}} 1.0' in text
    assert f'{refused}{{reason="missing-token",route="/ws/analytics"}} 1.0' in text
    assert 'rtx_bridge_handshakes_refused_total{reason="missing-token"} 1.0' in text


async def test_no_metric_label_names_a_user_an_account_or_an_address() -> None:
    """After connections, drops, disconnects and refusals on every route, the label values of
    /metrics are reasons, codes, topics and route templates only."""
    async with running(allowed_origins=(GOOD_ORIGIN,), max_connections_per_user=1) as server:
        async with connect(ws_url(server, token("frank"))) as ws:
            await subscribe(ws, "alerts")
            await raw_request(
                server.port, "/ws/analytics", upgrade_headers()
            )  # user-limit? no: 401
            bad = {"Authorization": f"Bearer {jwt_for('bad', time.time())}", **upgrade_headers()}
            await raw_request(server.port, "/ws/analytics?x=/secret/path", bad)
            await raw_request(server.port, "/dashboards/../etc", {"Origin": BAD_ORIGIN})
            headers = {"Authorization": f"Bearer {token('frank')}", **upgrade_headers()}
            status, _, _ = await raw_request(server.port, "/ws/analytics", headers)
            assert status == 429  # frank's second connection: user-limit
        await until(lambda: not server.hub.connections)
        _, text = await http_get(server, "/metrics")
    values = set(re.findall(r'="([^"]*)"', text))
    assert values, text
    for value in values:
        assert not re.search(r"frank|acc-1|127\.0\.0\.1|secret|etc|\d+\.\d+\.\d+\.\d+", value), (
            value
        )
    assert {"/ws/analytics", "user-limit", "bad-signature"} <= values


async def test_a_flood_of_refusals_is_counted_in_full_but_logged_in_a_burst_and_a_summary(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """60 requests from a refused origin: each answered 403 and counted; with a log limit of 5
    lines (and a refill too slow to matter), 5 are logged and a summary (when the bridge stops)
    counts the other 55, naming the route and the reason; the peer is not part of the key."""
    flood, burst = 60, 5
    line = "Refused /metrics from 127.0.0.1: origin-not-allowed"
    with caplog.at_level(logging.INFO, logger="ws_bridge.server"):
        async with running(allowed_origins=(GOOD_ORIGIN,)) as server:
            server.refusal_log = RefusalLog(burst=burst, lines_per_s=1e-9)
            for _ in range(flood):
                status, _, _ = await raw_request(server.port, "/metrics", {"Origin": BAD_ORIGIN})
                assert status == 403
            _, text = await http_get(server, "/metrics")
    refused = "rtx_bridge_requests_refused_total"
    assert f'{refused}{{reason="origin-not-allowed",route="/metrics"}} {flood}.0' in text
    messages = [r.getMessage() for r in caplog.records if r.name == "ws_bridge.server"]
    assert messages.count(line) == burst
    (summary,) = [r for r in caplog.records if "more refusal" in r.getMessage()]
    assert summary.getMessage().startswith(
        f"{flood - burst} more refusals of /metrics (origin-not-allowed) not logged over "
    )
    assert summary.rtx_fields == {
        "route": "/metrics",
        "reason": "origin-not-allowed",
        "left_out": flood - burst,
    }
