"""Bridges with alert actions on, fed by a real broker, and WebSocket clients that act."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection

from streams.settings import KafkaSettings
from tests.helpers.bridge import SECRET, settings
from ws_bridge.core.auth import mint_token
from ws_bridge.server.actions import ActionLog
from ws_bridge.server.kafka_source import KafkaSource
from ws_bridge.server.server import BridgeServer

Message = dict[str, Any]


@asynccontextmanager
async def action_bridge(kafka: KafkaSettings, **overrides: Any) -> AsyncIterator[BridgeServer]:
    s = dataclasses.replace(settings(host="127.0.0.1", port=0, alert_history=100), **overrides)
    source = KafkaSource(kafka, alert_history=s.alert_history, settings=s)
    server = BridgeServer(s, source, actions=ActionLog(kafka, s))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def user_url(server: BridgeServer, user: str, *roles: str) -> str:
    tok = mint_token(SECRET, user, list(roles), 3600, account="acc-1")
    return f"ws://127.0.0.1:{server.port}/ws/analytics?token={tok}"


class Reader:
    """Every message a client receives, and waiting for one that matches."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[Message] = []

    async def until(self, match: Callable[[Message], bool], wait_s: float = 20) -> Message:
        for message in self.seen:
            if match(message):
                return message
        async with asyncio.timeout(wait_s):
            while True:
                frame = json.loads(await self.ws.recv())
                self.seen.extend(frame)
                for message in frame:
                    if match(message):
                        return message

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))


def answer_to(rid: str) -> Callable[[Message], bool]:
    """The confirmed or error message answering request ``rid``."""
    return lambda m: m["type"] in ("confirmed", "error") and m["data"].get("id") == rid


def state_of(alert_id: str, **wanted: Any) -> Callable[[Message], bool]:
    """An alert-state message of ``alert_id`` with the ``wanted`` data values."""
    return lambda m: (
        m["type"] == "alert-state"
        and m["data"]["id"] == alert_id
        and all(m["data"].get(k) == v for k, v in wanted.items())
    )
