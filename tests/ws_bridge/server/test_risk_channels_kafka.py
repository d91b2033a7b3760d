"""The bridge's risk channels against a real broker and real WebSocket clients: the latest
pnl-change and account-risk-top produced before the bridge starts are the snapshots on
subscribe, later ones arrive live; account-risk is refused to a viewer token and served to
risk and admin tokens (the default roles)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from streams.settings import KafkaSettings
from tests.helpers.bridge_kafka import bridge, producer, send
from tests.helpers.bridge_server import token, until
from tests.helpers.risk import pnl_record as pnl

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def top(accounts: int, t: int) -> dict[str, Any]:
    return {
        "eventTime": t,
        "tradingDay": "2026-01-20",
        "basis": "bbook-net",
        "n": 20,
        "accounts": accounts,
        "byExposure": [],
        "byFloatingPnl": [],
        "byRealizedToday": [],
    }


async def messages(ws: ClientConnection, count: int) -> list[Any]:
    out: list[Any] = []
    async with asyncio.timeout(15):
        while len(out) < count:
            out.extend(json.loads(await ws.recv()))
    return out


async def test_pnl_and_top_accounts_snapshots_live_messages_and_default_roles(
    topics: KafkaSettings,
) -> None:
    now = int(time.time() * 1_000_000)
    async with producer(topics) as p:
        await send(p, topics, "pnl", "PnlChange", pnl(-1.0, now - 2))
        await send(p, topics, "pnl", "PnlChange", pnl(-2.0, now - 1))
        await send(p, topics, "account_risk_top", "AccountRiskTop", top(7, now - 1))
        async with bridge(topics) as server:
            # read, and dispatched (the snapshot knows a message from its tick on)
            await until(lambda: server.source.ready and server.hub.pending == 0, wait_s=20)
            base = f"ws://127.0.0.1:{server.port}/ws/analytics?token="
            async with (
                connect(base + token("vic", ("viewer",))) as viewer,
                connect(base + token("rita", ("risk",))) as desk,
            ):
                subscribe = {"action": "subscribe", "channels": ["pnl-updates", "account-risk"]}
                await viewer.send(json.dumps(subscribe))
                await desk.send(json.dumps(subscribe))
                seen = {m["type"]: m for m in await messages(viewer, 2)}
                assert seen["error"]["data"]["code"] == "forbidden"
                assert seen["error"]["data"]["channel"] == "account-risk"
                assert seen["pnl-change"]["data"]["total"] == -2.0, "the latest is the snapshot"
                snapshot = await messages(desk, 2)
                assert [m["type"] for m in snapshot] == ["pnl-change", "account-risk-top"]
                assert snapshot[1]["data"]["accounts"] == 7
                await send(p, topics, "pnl", "PnlChange", pnl(-3.0, now))
                await send(p, topics, "account_risk_top", "AccountRiskTop", top(8, now))
                live = {m["type"]: m["data"] for m in await messages(desk, 2)}
                assert (
                    live["pnl-change"]["total"] == -3.0
                    and live["account-risk-top"]["accounts"] == 8
                )
                (only,) = await messages(viewer, 1)
                assert only["type"] == "pnl-change" and only["data"]["total"] == -3.0
