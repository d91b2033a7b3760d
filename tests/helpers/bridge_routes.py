"""The bridge's route matrix, shared by the policy's unit tests and the real-server tests: who
calls (no token, bad, expired, viewer, admin), from where (allowed or refused address, Origin),
and what each route must answer; plus one raw HTTP/1.1 request (no client library normalises
the target or adds headers the test did not ask for)."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

from tests.helpers.bridge import SECRET
from ws_bridge.core.auth import mint_token
from ws_bridge.core.routes import Route

GOOD_ORIGIN, BAD_ORIGIN = "https://dash.example.com", "https://evil.example.net"
CALLERS = ("none", "bad", "expired", "viewer", "admin")
ALLOWED = "allowed"
FULL = "full"  # the status with the client list
PATHS = {
    Route.WS: "/ws/analytics",
    Route.STATUS: "/api/analytics/status",
    Route.METRICS: "/metrics",
    Route.HEALTH: "/healthz",
    Route.READY: "/readyz",
    Route.DASHBOARD: "/dashboard/app.js",
    Route.OTHER: "/nope",
}
# route -> caller -> expected from an allowed address without Origin: ALLOWED, FULL or
# (HTTP status, reason)
EXPECTED: dict[Route, dict[str, Any]] = {
    Route.WS: {
        "none": (401, "missing-token"),
        "bad": (401, "bad-signature"),
        "expired": (401, "expired"),
        "viewer": ALLOWED,
        "admin": ALLOWED,
    },
    Route.STATUS: {
        "none": ALLOWED,
        "bad": (401, "bad-signature"),
        "expired": (401, "expired"),
        "viewer": ALLOWED,
        "admin": FULL,
    },
    **{
        route: dict.fromkeys(CALLERS, ALLOWED)
        for route in (Route.METRICS, Route.HEALTH, Route.READY, Route.DASHBOARD, Route.OTHER)
    },
}
ORIGIN_CHECKED = frozenset({Route.WS, Route.STATUS, Route.METRICS})
OPEN_HEALTH = frozenset({Route.HEALTH, Route.READY})


def expected(route: Route, caller: str, address_allowed: bool, origin: str | None) -> Any:
    """What the default policy answers: the IP allow-list first (health checks open), then the
    Origin on the data routes, then the token."""
    if not address_allowed and route not in OPEN_HEALTH:
        return (403, "ip-not-allowed")
    if origin == BAD_ORIGIN and route in ORIGIN_CHECKED:
        return (403, "origin-not-allowed")
    return EXPECTED[route][caller]


def jwt_for(kind: str, now: float) -> str | None:
    """The credential of each kind of caller at ``now`` (None: no token)."""
    if kind == "none":
        return None
    if kind == "bad":
        other = "another-secret-0123456789abcdef-0123456789"
        return mint_token(other, "eve", ["admin"], 600, now=now)
    if kind == "expired":
        return mint_token(SECRET, "alice", ["admin"], 60, now=now - 3600)
    return mint_token(SECRET, kind, [kind], 600, account=f"acct-{kind}", now=now)


def upgrade_headers() -> dict[str, str]:
    """The headers of a WebSocket opening handshake (RFC 6455 section 4.1)."""
    return {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }


async def raw_request(
    port: int, target: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 GET with the request target sent byte for byte; the status, the headers
    (lowercase names) and the body (none after a 101: the socket is closed at once)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        fields = {"Host": "127.0.0.1", **(headers or {})}
        lines = [f"GET {target} HTTP/1.1", *(f"{name}: {value}" for name, value in fields.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            answer: dict[str, str] = {}
            for line in header_lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    answer[name.strip().lower()] = value.strip()
            status = int(status_line.split()[1])
            length = 0 if status == 101 else int(answer.get("content-length", "0"))
            return status, answer, await reader.readexactly(length)
    finally:
        writer.close()
