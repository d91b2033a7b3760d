"""Fuzzed client frames against a running bridge (real server and sockets on 127.0.0.1): each bad
frame gets a documented error message or close code, the bridge never crashes or hangs, and a
well-behaved client connected at the same time receives every one of its messages."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.helpers.bridge import SECRET, routing_record, settings
from tests.helpers.ws_frames import ERROR_CODES, closing_frames, frame
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.auth import mint_token
from ws_bridge.core.protocol import to_message
from ws_bridge.server.hub import Hub
from ws_bridge.server.server import BridgeServer

pytestmark = pytest.mark.timeout(180)

FRAMES = 3000
ANSWER_TIMEOUT_S = 10.0  # a hang, not a speed goal
# Message types a fuzzing client may legitimately receive (it may subscribe by chance).
TYPES = ERROR_CODES | {
    "error",
    "gap",
    "subscribed",
    "unsubscribed",
    "refreshed",
    "replay-done",
    "routing-decision",
    "routing-summary",
    "lp-metrics",
    "exposure-change",
    "alert",
}


class MemorySource:
    ready = True

    async def start(self, sink: Hub) -> None:
        sink.set_alert_log(AlertLog("fuzz-epoch", capacity=100))

    async def stop(self) -> None:
        return None

    def status(self) -> dict[str, dict[str, int]]:
        return {}


@asynccontextmanager
async def running() -> AsyncIterator[BridgeServer]:
    # A high rate limit and a short batch interval: the fuzzer sends two frames per input
    # and waits for the answer (with the default 16 ms, 3,000 inputs take a minute).
    s = dataclasses.replace(
        settings(host="127.0.0.1", port=0), rate_limit_per_s=100_000, batch_interval_ms=1
    )
    server = BridgeServer(s, MemorySource())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def url(server: BridgeServer, user: str) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/analytics?token={mint_token(SECRET, user, [], 3600)}"


class GoodClient:
    """Subscribed to routing-metrics while the fuzzing goes on; records every volume it gets."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.volumes: list[int] = []
        self.other: list[Any] = []

    async def read(self) -> None:
        async for text in self.ws:
            for message in json.loads(text):
                if message["type"] == "routing-decision":
                    self.volumes.append(int(message["data"]["volume"]))
                else:
                    self.other.append(message)


async def publish(server: BridgeServer, stop: asyncio.Event) -> int:
    base = routing_record()
    n = 0
    while not stop.is_set():
        n += 1
        server.hub.publish(to_message("RoutingDecision", {**base, "volume": float(n)}))
        await asyncio.sleep(0.005)
    return n


async def answer_to(ws: ClientConnection, probe_id: str) -> list[dict[str, Any]]:
    """Messages received up to the probe's ``unsubscribed`` answer (that one excluded)."""
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        while True:
            for message in json.loads(await ws.recv()):
                if message["type"] == "unsubscribed" and message["data"].get("id") == probe_id:
                    return out
                out.append(message)


def no_handler_crash(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad][:5]


async def test_fuzzed_frames_get_documented_errors_and_a_neighbour_loses_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rng = random.Random(20260119)
    tried: Counter[str] = Counter()
    answered: Counter[str] = Counter()
    caplog.set_level(logging.INFO)
    async with running() as server:
        async with connect(url(server, "good")) as good_ws:
            await good_ws.send(json.dumps({"action": "subscribe", "channels": ["routing-metrics"]}))
            await asyncio.sleep(0.1)
            good = GoodClient(good_ws)
            reader = asyncio.create_task(good.read())
            stop = asyncio.Event()
            publisher = asyncio.create_task(publish(server, stop))
            async with connect(url(server, "fuzzer"), max_size=None) as ws:
                for i in range(FRAMES):
                    cls, data, expected = frame(rng)
                    tried[cls] += 1
                    await ws.send(data)
                    await ws.send(json.dumps({"action": "unsubscribe", "channels": [], "id": i}))
                    messages = await answer_to(ws, i)  # type: ignore[arg-type]
                    for m in messages:
                        assert m["type"] in TYPES, (cls, data, m)
                        if m["type"] == "error":
                            assert m["data"]["code"] in ERROR_CODES, (cls, data, m)
                            answered[m["data"]["code"]] += 1
                    codes = {m["data"]["code"] for m in messages if m["type"] == "error"}
                    if expected is not None:
                        assert expected in codes, (cls, data, messages)
                    if i % 100 == 0:  # a few resubscriptions must not pile up a replay
                        await ws.send(json.dumps({"action": "unsubscribe", "channels": []}))
            stop.set()
            published = await publisher
            await asyncio.sleep(0.3)
            status = server.status()
        reader.cancel()
    assert sum(tried.values()) == FRAMES
    assert len(tried) == 10 and min(tried.values()) >= FRAMES // 30, tried
    assert {"bad-json", "not-an-object", "bad-field", "unknown-action", "binary-frame"} <= set(
        answered
    ), answered
    # The neighbour got every message, in order, and no gap.
    assert good.volumes == list(range(1, published + 1)), (len(good.volumes), published)
    assert not [m for m in good.other if m["type"] == "gap"]
    assert status["running"] is True
    no_handler_crash(caplog)


@pytest.mark.parametrize(
    ("cls", "data", "as_text", "code"), closing_frames(), ids=lambda v: str(v)[:30]
)
async def test_frames_that_must_close_get_the_documented_close_code(
    cls: str, data: str | bytes, as_text: bool, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Oversized frames (also 10^5 '[') close with 1009, invalid UTF-8 in a text frame with
    1007; the bridge keeps serving the next client."""
    caplog.set_level(logging.INFO)
    async with running() as server:
        async with connect(url(server, "fuzzer"), max_size=None) as ws:
            await ws.send(data, text=as_text)
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(ANSWER_TIMEOUT_S):
                    while True:
                        await ws.recv()
            assert ws.close_code == code, (cls, ws.close_code, ws.close_reason)
        async with connect(url(server, "next")) as ws:
            await ws.send(json.dumps({"action": "subscribe", "channels": ["alerts"], "id": "n"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_TIMEOUT_S))
            assert reply[0]["type"] == "subscribed"
    no_handler_crash(caplog)


async def test_a_refresh_token_with_a_lone_surrogate_is_refused_not_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by the fuzzer: ``{"action":"refresh","token":"\\ud800"}`` made PyJWT raise
    UnicodeEncodeError and the handler fail (close 1011). Now: ``refresh-failed``, and the
    connection stays open."""
    caplog.set_level(logging.INFO)
    async with running() as server:
        async with connect(url(server, "fuzzer")) as ws:
            await ws.send('{"action":"refresh","token":"\\ud800.e30.x","id":"r"}')
            await ws.send(json.dumps({"action": "unsubscribe", "channels": [], "id": "p"}))
            (error,) = await answer_to(ws, "p")
            assert error["data"]["code"] == "refresh-failed" and error["data"]["id"] == "r"
            assert "malformed" in error["data"]["message"]
    no_handler_crash(caplog)
