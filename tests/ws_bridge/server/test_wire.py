"""Prebuilt shared frames, written straight to the transports, reach every client in order
(their bytes are checked against ``websockets`` in tests/ws_bridge/core/test_frames.py)."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from tests.helpers.bridge import routing_record
from tests.helpers.bridge_server import (
    recv_messages,
    running,
    subscribe,
    token,
    until,
    ws_url,
)
from ws_bridge.core.frames import text_frame
from ws_bridge.core.protocol import to_message
from ws_bridge.server import wire


def test_the_wire_module_writes_the_cores_frames() -> None:
    assert wire.text_frame is text_frame


async def test_shared_frames_written_directly_reach_every_client_in_order() -> None:
    """Five clients on one group get the same 200 messages, in order, through the direct path
    (and, under a burst that fills a socket's buffer, through ``send``'s flow control)."""
    async with running() as server:
        url = ws_url(server, token())
        clients = [await connect(url).__aenter__() for _ in range(5)]
        try:
            for ws in clients:
                await subscribe(ws, "routing-metrics")
            await until(lambda: len(server.hub.connections) == 5)
            await asyncio.sleep(0.1)
            for n in range(200):
                record = routing_record(volume=float(n), lpSelected="x" * 500)
                server.hub.publish(to_message("RoutingDecision", record))
                if n % 50 == 49:
                    await asyncio.sleep(0.02)
            for ws in clients:
                got = await recv_messages(ws, 200)
                assert [m["data"]["volume"] for m in got] == [float(n) for n in range(200)]
                assert json.loads(json.dumps(got[0]))["type"] == "routing-decision"
        finally:
            for ws in clients:
                await ws.close()
