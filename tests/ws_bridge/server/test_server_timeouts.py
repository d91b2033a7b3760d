"""Keepalive and write timeouts over real sockets on 127.0.0.1.

The peers here are raw TCP sockets that complete the WebSocket handshake by hand and then
misbehave the way real broken clients do: one never answers pings, one never reads. A normal
``websockets`` client connected at the same time must keep receiving its messages.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket

import pytest
from websockets.asyncio.client import connect

from tests.helpers.bridge import routing_record
from tests.helpers.bridge_server import (
    http_get,
    recv_messages,
    running,
    subscribe,
    token,
    until,
    ws_url,
)
from ws_bridge.core.protocol import to_message
from ws_bridge.server.server import BridgeServer

pytestmark = pytest.mark.timeout(60)


async def raw_client(
    server: BridgeServer, user: str, *, rcvbuf: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection that has completed the WebSocket handshake and does nothing else."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**16)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws/analytics?token={token(user)} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head[:80]
    return reader, writer


def masked_text(text: str) -> bytes:
    """One client-to-server text frame (clients must mask; the mask here is zero)."""
    payload = text.encode()
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + b"\x00\x00\x00\x00" + payload


async def clients(server: BridgeServer) -> list[str]:
    status = json.loads((await http_get(server, "/api/analytics/status", bearer=token()))[1])
    return [c["user"] for c in status["clientList"]]


async def test_a_client_that_never_answers_pings_is_closed_after_the_pong_timeout() -> None:
    """Ping every 1 s, pong due within 4 s of the previous one: a peer that reads the pings but
    never answers is closed with 1011, counted by close code, while a normal client stays. (The
    normal client has 3 s to answer each ping: with 1 s it was itself closed, rarely, on a
    loaded machine.)"""
    async with running(ping_interval_s=1.0, pong_timeout_s=4.0) as server:
        reader, writer = await raw_client(server, "mute")
        async with connect(ws_url(server, token("alive"))) as ws:
            await until(lambda: len(server.hub.connections) == 2)
            received = b""
            async with asyncio.timeout(15):
                while chunk := await reader.read(4096):  # the server's pings, then its close
                    received += chunk
            assert received[:1] == b"\x89", "the first thing the server sends is a ping"
            close = received[received.index(b"\x88") :]
            assert int.from_bytes(close[2:4], "big") == 1011
            await until(lambda: len(server.hub.connections) == 1)
            assert await clients(server) == ["alive"]
            _, text = await http_get(server, "/metrics")
            assert 'rtx_bridge_disconnects_total{code="1011"} 1.0' in text
            await subscribe(ws, "routing-metrics")
            await asyncio.sleep(0.1)
            server.hub.publish(to_message("RoutingDecision", routing_record(volume=7)))
            assert [m["data"]["volume"] for m in await recv_messages(ws, 1)] == [7.0]
        writer.close()


async def test_a_client_that_stops_reading_is_dropped_after_the_write_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A subscriber whose socket never drains blocks the bridge's write; after the write timeout
    the bridge aborts that connection and logs why. A fast client gets every message meanwhile."""
    async with running(write_timeout_s=0.5, queue_max_bytes=10_000_000) as server:
        reader, writer = await raw_client(server, "stuck", rcvbuf=4096)
        writer.write(masked_text('{"action":"subscribe","channels":["routing-metrics"]}'))
        await writer.drain()
        async with connect(ws_url(server, token("fast"))) as ws:
            await subscribe(ws, "routing-metrics")
            await until(lambda: len(server.hub.connections) == 2)
            await asyncio.sleep(0.2)
            pad = "x" * 2000
            sent = 0
            with caplog.at_level(logging.WARNING, logger="ws_bridge.server"):
                received: list[float] = []
                async with asyncio.timeout(30):
                    while "stuck" in await clients(server):
                        for _ in range(20):
                            record = routing_record(volume=float(sent), lpSelected=pad)
                            server.hub.publish(to_message("RoutingDecision", record))
                            sent += 1
                        messages = await recv_messages(ws, 20)
                        received += [m["data"]["volume"] for m in messages]
            assert received == [float(n) for n in range(sent)], "the fast client lost nothing"
            assert await clients(server) == ["fast"]
            lines = [r.getMessage() for r in caplog.records]
            assert "Write timeout: dropping client stuck" in lines
        writer.close()
