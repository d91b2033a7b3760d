"""Prebuilt shared frames are byte for byte what ``websockets`` would have sent."""

from __future__ import annotations

import asyncio
import json

from hypothesis import given
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from tests.helpers.bridge import routing_record
from tests.helpers.bridge_server import (
    recv_messages,
    running,
    subscribe,
    token,
    until,
    ws_url,
)
from ws_bridge.core.protocol import to_message
from ws_bridge.server.wire import text_frame


@given(st.text(max_size=300))
def test_text_frame_equals_the_websockets_serialisation(text: str) -> None:
    assert text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def test_text_frame_uses_each_length_encoding_at_its_boundary() -> None:
    for size in (0, 125, 126, 65_535, 65_536, 70_000):
        text = "a" * size
        assert text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


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
