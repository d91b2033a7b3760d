"""A bridge on 127.0.0.1 with an in-memory source, tokens and frame helpers (real sockets)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.helpers.bridge import (
    SECRET,
    settings,
)
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.auth import mint_token
from ws_bridge.server.hub import Hub
from ws_bridge.server.server import BridgeServer

EPOCH = "test-epoch"


class MemorySource:
    """A source the test feeds by hand through ``server.hub``."""

    ready = True

    async def start(self, sink: Hub) -> None:
        sink.set_alert_log(AlertLog(EPOCH, capacity=100))

    async def stop(self) -> None:
        return None

    def status(self) -> dict[str, dict[str, int]]:
        return {"t.exposure": {"position": 1, "end": 1, "lag": 0}}


@asynccontextmanager
async def running(**overrides: Any) -> AsyncIterator[BridgeServer]:
    s = dataclasses.replace(settings(host="127.0.0.1", port=0), **overrides)
    server = BridgeServer(s, MemorySource())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def token(user: str = "alice", roles: tuple[str, ...] = ("admin",), ttl: float = 3600) -> str:
    return mint_token(SECRET, user, roles, ttl, account="acc-1")


def ws_url(server: BridgeServer, tok: str | None = None) -> str:
    url = f"ws://127.0.0.1:{server.port}/ws/analytics"
    return url if tok is None else f"{url}?token={tok}"


async def http_get(server: BridgeServer, path: str, bearer: str | None = None) -> tuple[int, str]:
    """GET ``path``; ``bearer``: a token sent as ``Authorization: Bearer`` (the status route
    lists clients only to a token with the status role, docs/bridge.md section 9)."""

    def get() -> tuple[int, str]:
        url = f"http://127.0.0.1:{server.port}{path}"
        headers = {} if bearer is None else {"Authorization": f"Bearer {bearer}"}
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our server
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    return await asyncio.to_thread(get)


async def recv_messages(ws: ClientConnection, count: int, wait_s: float = 5) -> list[Any]:
    """Frames until ``count`` messages arrived; every frame must be a JSON array."""
    out: list[Any] = []
    async with asyncio.timeout(wait_s):
        while len(out) < count:
            frame = json.loads(await ws.recv())
            assert isinstance(frame, list)
            out.extend(frame)
    return out


async def until(check: Callable[[], bool], wait_s: float = 10) -> None:
    """Poll ``check`` until it holds (fails the test after ``wait_s``)."""
    for _ in range(int(wait_s / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def subscribe(ws: ClientConnection, *channels: str, **extra: Any) -> None:
    await ws.send(json.dumps({"action": "subscribe", "channels": list(channels), **extra}))


async def refused_status(url: str, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, **kwargs):
            pass
    response = info.value.response
    return response.status_code, response.body.decode()
