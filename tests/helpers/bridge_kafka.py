"""A bridge fed by a real broker: a producer of derived records, the server, its URL."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from websockets.asyncio.client import ClientConnection

from schemas.codec import default_codec
from streams.settings import KafkaSettings
from streams.topics import topic_name
from tests.helpers.bridge import (
    SECRET,
    settings,
)
from ws_bridge.core.auth import mint_token
from ws_bridge.server.kafka_source import KafkaSource
from ws_bridge.server.server import BridgeServer

CODEC = default_codec()


@asynccontextmanager
async def producer(kafka: KafkaSettings) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=1)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def send(
    p: AIOKafkaProducer, kafka: KafkaSettings, logical: str, schema: str, record: dict[str, Any]
) -> None:
    key = str(record.get("lpName") or record.get("id") or record.get("symbol") or "global")
    await p.send_and_wait(
        topic_name(logical, kafka), CODEC.encode(schema, record), key=key.encode()
    )


@asynccontextmanager
async def bridge(kafka: KafkaSettings, **overrides: Any) -> AsyncIterator[BridgeServer]:
    """A bridge on a free port reading ``kafka``; ``overrides``: BridgeSettings fields."""
    s = dataclasses.replace(
        settings(host="127.0.0.1", port=0), **{"alert_history": 100, **overrides}
    )
    server = BridgeServer(s, KafkaSource(kafka, alert_history=s.alert_history))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def url(server: BridgeServer) -> str:
    tok = mint_token(SECRET, "alice", ["admin"], 3600, account="acc-1")
    return f"ws://127.0.0.1:{server.port}/ws/analytics?token={tok}"


async def nothing_more(ws: ClientConnection, wait_s: float = 1.0) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(wait_s):
            await ws.recv()
