"""Alert actions on real bridges and a real broker: a dealer's action on one bridge is written to
the actions topic (AlertAction, idempotent, acks=all), confirmed with its seq, and every
dashboard of every bridge gets the alert's new state; refusals are error frames; a bridge that
starts later folds the actions it finds; a retried action id is confirmed, not written twice."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect

from schemas.codec import default_codec
from streams.settings import KafkaSettings
from tests.helpers.bridge import alert_record
from tests.helpers.bridge_actions_kafka import Reader, action_bridge, answer_to, state_of, user_url
from tests.helpers.bridge_kafka import producer, send
from tests.helpers.faults import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


async def written_actions(kafka: KafkaSettings) -> list[dict[str, object]]:
    """Every AlertAction on the topic, in order."""
    records = sorted(await read_topic(kafka, "alert_actions"), key=lambda r: r.offset)
    return [default_codec().decode(r.value).record for r in records]


async def test_an_action_on_one_bridge_reaches_every_dashboard_of_every_bridge(
    topics: KafkaSettings,
) -> None:
    alert = alert_record(0)
    async with producer(topics) as p:
        await send(p, topics, "alerts", "Alert", alert)
    async with action_bridge(topics) as first, action_bridge(topics) as second:
        async with (
            connect(user_url(first, "dana", "dealer")) as dealer_ws,
            connect(user_url(second, "vic", "viewer")) as viewer_ws,
        ):
            dealer, viewer = Reader(dealer_ws), Reader(viewer_ws)
            for client in (dealer, viewer):
                await client.send(action="subscribe", channels=["alerts"], since=-1)
                await client.until(state_of(alert["id"], status="open"))
            await dealer.send(
                action="acknowledge", alertId=alert["id"], seq=0, note="mine", id="a1"
            )
            confirmed = await dealer.until(answer_to("a1"))
            assert confirmed["type"] == "confirmed" and confirmed["data"]["actionSeq"] == 0
            for client in (dealer, viewer):
                seen = await client.until(state_of(alert["id"], status="acknowledged"))
                assert seen["data"]["acknowledgedBy"] == "dana"
            await viewer.send(action="acknowledge", alertId=alert["id"], id="v1")
            refused = await viewer.until(answer_to("v1"))
            assert refused["data"]["code"] == "not-allowed"
    (written,) = await written_actions(topics)
    assert (written["action"], written["user"], written["alertId"]) == (
        "acknowledge",
        "dana",
        alert["id"],
    )
    assert written["note"] == "mine" and written["roles"] == ["dealer"]


async def test_refusals_and_a_bridge_started_later_folds_the_actions(
    topics: KafkaSettings,
) -> None:
    first, second = alert_record(0), alert_record(1)
    async with producer(topics) as p:
        await send(p, topics, "alerts", "Alert", first)
        await send(p, topics, "alerts", "Alert", second)
    async with action_bridge(topics) as server, connect(user_url(server, "rita", "risk")) as ws:
        risk = Reader(ws)
        await risk.send(action="resolve", alertId=first["id"], note="hedged", id="r1")
        assert (await risk.until(answer_to("r1")))["type"] == "confirmed"
        await risk.send(action="acknowledge", alertId=first["id"], id="r2")
        assert (await risk.until(answer_to("r2")))["data"]["code"] == "already-resolved"
        await risk.send(action="acknowledge", alertId="20260119-000000-ffffff", id="r3")
        assert (await risk.until(answer_to("r3")))["data"]["code"] == "unknown-alert"
        await risk.send(action="assign", alertId=second["id"], assignee="bob", id="r4")
        assert (await risk.until(answer_to("r4")))["data"]["actionSeq"] == 1
    async with action_bridge(topics) as later, connect(user_url(later, "vic", "viewer")) as ws:
        viewer = Reader(ws)
        await viewer.send(action="subscribe", channels=["alerts"])
        snapshot = await viewer.until(state_of(second["id"]))
        assert (snapshot["data"]["assignee"], snapshot["data"]["assignedBy"]) == ("bob", "rita")
        await viewer.send(
            action="replay", channel="alerts", fromTime="2026-01-19T00:00:00Z", id="q1"
        )
        resolved = await viewer.until(state_of(first["id"], status="resolved"))
        assert resolved["data"]["resolvedBy"] == "rita" and resolved["data"]["reason"] == "hedged"


async def test_a_retried_action_id_is_confirmed_with_the_first_seq_on_any_bridge(
    topics: KafkaSettings,
) -> None:
    alert = alert_record(0)
    async with producer(topics) as p:
        await send(p, topics, "alerts", "Alert", alert)
    async with action_bridge(topics) as first, action_bridge(topics) as second:
        frame = {"action": "comment", "alertId": alert["id"], "note": "n", "actionId": "k-1"}
        async with connect(user_url(first, "dana", "dealer")) as ws:
            client = Reader(ws)
            await client.send(**frame, id="c1")
            assert (await client.until(answer_to("c1")))["data"]["duplicate"] is False
        async with connect(user_url(second, "dana", "dealer")) as ws:
            client = Reader(ws)
            await client.send(action="subscribe", channels=["alerts"])
            await client.until(state_of(alert["id"], comments=1))
            await client.send(**frame, id="c2")
            again = await client.until(answer_to("c2"))
            assert again["data"]["duplicate"] is True and again["data"]["actionSeq"] == 0
    assert len(await written_actions(topics)) == 1
