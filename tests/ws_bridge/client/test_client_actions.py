"""The Python client's alert actions against a real bridge and broker: each resolves on the
bridge's confirmation (actionSeq), a refusal raises ServerError with the bridge's code, another
client's "alert-state" handler sees the change, a call made before the connection is open is
sent once open, and a bad argument is refused before anything is sent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.settings import KafkaSettings
from tests.helpers.bridge import SECRET, alert_record
from tests.helpers.bridge_actions_kafka import action_bridge
from tests.helpers.bridge_kafka import producer, send
from ws_bridge.client import AnalyticsClient, InvalidArgument, ServerError
from ws_bridge.core.auth import mint_token

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def client(port: int, user: str, *roles: str) -> AnalyticsClient:
    token = mint_token(SECRET, user, list(roles), 3600)
    return AnalyticsClient(f"ws://127.0.0.1:{port}/ws/analytics", token, channels=["alerts"])


async def test_each_action_resolves_on_the_confirmation_and_others_see_the_state(
    topics: KafkaSettings,
) -> None:
    first, second = alert_record(0), alert_record(1)
    async with producer(topics) as p:
        await send(p, topics, "alerts", "Alert", first)
        await send(p, topics, "alerts", "Alert", second)
    async with action_bridge(topics) as server:
        dealer, viewer = client(server.port, "dana", "dealer"), client(server.port, "vic", "viewer")
        states: list[dict[str, Any]] = []
        seen = asyncio.Event()

        def on_state(message: dict[str, Any]) -> None:
            states.append(message["data"])
            if message["data"]["status"] == "acknowledged":
                seen.set()

        viewer.on("alert-state", on_state)
        async with viewer:
            await viewer.wait_open(10)
            async with dealer:  # the call below goes out once the connection is open
                confirmed = await dealer.acknowledge(first["id"], "mine", seq=0)
                assert confirmed["actionSeq"] == 0 and confirmed["duplicate"] is False
                async with asyncio.timeout(20):
                    await seen.wait()
                assert states[-1]["acknowledgedBy"] == "dana"
                until = datetime.now(UTC) + timedelta(minutes=10)
                seqs = [
                    (await dealer.assign(second["id"], "bob"))["actionSeq"],
                    (await dealer.comment(second["id"], "on it"))["actionSeq"],
                    (await dealer.snooze(second["id"], until))["actionSeq"],
                    (await dealer.resolve(second["id"], "hedged"))["actionSeq"],
                    (await dealer.reopen(second["id"]))["actionSeq"],
                ]
                assert seqs == [1, 2, 3, 4, 5]
                with pytest.raises(ServerError) as refused:
                    await dealer.acknowledge(first["id"])
                assert refused.value.code == "already-acknowledged"
            with pytest.raises(ServerError) as not_allowed:
                await viewer.acknowledge(second["id"])
            assert not_allowed.value.code == "not-allowed"


async def test_bad_arguments_are_refused_before_sending() -> None:
    c = AnalyticsClient("ws://127.0.0.1:9/ws/analytics", "t")
    with pytest.raises(InvalidArgument):
        await c.comment("a", "")
    with pytest.raises(InvalidArgument):
        await c.resolve("a", "x" * 501)
    with pytest.raises(InvalidArgument):
        await c.snooze("a", "tomorrow")
    with pytest.raises(InvalidArgument):
        await c.acknowledge("", seq=1)
    with pytest.raises(InvalidArgument):
        await c.acknowledge("a", seq=-1)
