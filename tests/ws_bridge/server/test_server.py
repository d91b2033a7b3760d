"""The bridge's I/O shell over real WebSocket connections on 127.0.0.1 (no Kafka: the hub is fed
directly through a small in-memory source): what connected clients get (contract frames,
errors, closes, snapshots, shared frames, gaps), status and metrics, shutdown. The handshake's
checks are in test_handshake.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.helpers.bridge import (
    SECRET,
    alert_record,
    exposure_record,
    lp_record,
    routing_record,
    settings,
)
from tests.helpers.bridge_server import (
    EPOCH,
    MemorySource,
    http_get,
    recv_messages,
    running,
    subscribe,
    token,
    ws_url,
)
from ws_bridge.core.protocol import to_message
from ws_bridge.server.server import BridgeServer

pytestmark = pytest.mark.timeout(30)


async def test_old_hub_client_gets_contract_frames_on_all_four_channels() -> None:
    """The old hub's example client: subscribe to the four channels, receive JSON arrays of
    ``{type, timestamp, data}`` with the contract's fields (no acknowledgement)."""
    async with running() as server:
        async with connect(ws_url(server, token())) as ws:
            await subscribe(ws, "routing-metrics", "lp-performance", "exposure-updates", "alerts")
            await asyncio.sleep(0.1)
            hub = server.hub
            hub.publish(to_message("RoutingDecision", routing_record()))
            hub.publish(to_message("LpPerformance", lp_record()))
            hub.publish(to_message("ExposureChange", exposure_record()))
            hub.publish_alert(0, alert_record(0))
            messages = await recv_messages(ws, 4)
    by_type = {m["type"]: m for m in messages}
    assert set(by_type) == {"routing-decision", "lp-metrics", "exposure-change", "alert"}
    for m in messages:
        assert set(m) == {"type", "timestamp", "data"}
        assert m["timestamp"].endswith("Z") and len(m["timestamp"]) == 27
    assert by_type["routing-decision"]["data"]["lpSelected"] == "OANDA"
    assert by_type["exposure-change"]["data"] == {
        "totalExposure": 80000.0,
        "netExposure": 80000.0,
        "exposureLimit": 100000.0,
        "utilizationPct": 80.0,
        "riskLevel": "medium",
        "bySymbol": {"EURUSD": 50000.0, "GBPUSD": 30000.0},
        "byLP": {"OANDA": 80000.0},
    }
    assert {"lpName", "status", "uptime", "rejectRate"} <= set(by_type["lp-metrics"]["data"])
    alert = by_type["alert"]["data"]
    assert alert["seq"] == 0 and alert["epoch"] == EPOCH and alert["severity"] == "critical"


async def test_forbidden_channel_gets_an_error_and_the_others_still_work() -> None:
    async with running(channel_roles=(("alerts", frozenset({"admin"})),)) as server:
        async with connect(ws_url(server, token("carol", roles=("trader",)))) as ws:
            await subscribe(ws, "alerts", "exposure-updates")
            (error,) = await recv_messages(ws, 1)
            assert error["type"] == "error"
            assert error["data"]["code"] == "forbidden"
            assert error["data"]["channel"] == "alerts"
            server.hub.publish_alert(0, alert_record(0))
            server.hub.publish(to_message("ExposureChange", exposure_record()))
            (exposure,) = await recv_messages(ws, 1)
            assert exposure["type"] == "exposure-change"


async def test_oversized_frame_closes_with_1009() -> None:
    async with running() as server:
        async with connect(ws_url(server, token())) as ws:
            await ws.send(json.dumps({"action": "subscribe", "channels": ["x" * 600]}))
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 5)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009


async def test_flood_gets_rate_limited_error_then_close_1008() -> None:
    async with running(rate_limit_per_s=20, rate_limit_grace_s=0.2) as server:
        async with connect(ws_url(server, token())) as ws:
            frame = json.dumps({"action": "unsubscribe", "channels": []})
            errors: list[Any] = []

            async def read() -> None:
                while True:
                    errors.extend(json.loads(await ws.recv()))

            reader = asyncio.create_task(read())
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(10):
                    while True:
                        await ws.send(frame)
                        await asyncio.sleep(0.001)
            with pytest.raises(ConnectionClosed):
                await reader
            assert ws.close_code == 1008
            assert [e["data"]["code"] for e in errors] == ["rate-limited"]


async def test_bad_json_gets_an_error_message_and_the_connection_stays() -> None:
    async with running() as server:
        async with connect(ws_url(server, token())) as ws:
            await ws.send("{not json")
            (error,) = await recv_messages(ws, 1)
            assert error["type"] == "error" and error["data"]["code"] == "bad-json"
            await subscribe(ws, "alerts", id="ok")
            assert (await recv_messages(ws, 1))[0]["type"] == "subscribed"


async def test_status_lists_clients_and_metrics_count_traffic() -> None:
    async with running() as server:
        async with connect(ws_url(server, token("dave"))) as ws:
            await subscribe(ws, "exposure-updates")
            await asyncio.sleep(0.1)
            server.hub.publish(to_message("ExposureChange", exposure_record()), 1_000)
            await recv_messages(ws, 1)
            status, body = await http_get(server, "/api/analytics/status", bearer=token())
            assert status == 200
            data = json.loads(body)
            assert data["running"] is True and data["clients"] == 1
            (client,) = data["clientList"]
            assert client["user"] == "dave" and client["subscriptions"] == ["exposure-updates"]
            assert client["queued"] == 0 and client["dropped"] == {}
            assert data["consumer"]["t.exposure"]["lag"] == 0
            status, text = await http_get(server, "/metrics")
            assert status == 200
            assert "rtx_bridge_open_connections 1.0" in text
            assert "rtx_bridge_messages_sent_total 1.0" in text
            assert "rtx_bridge_event_to_send_seconds_count 1.0" in text
            assert 'rtx_bridge_consumer_lag{topic="t.exposure"} 0.0' in text
        assert (await http_get(server, "/healthz"))[0] == 200
        assert (await http_get(server, "/readyz"))[0] == 200
        assert (await http_get(server, "/nope"))[0] == 404
        await asyncio.sleep(0.1)
        _, text = await http_get(server, "/metrics")
        assert 'rtx_bridge_disconnects_total{code="1000"} 1.0' in text


async def test_snapshot_on_subscribe_comes_first() -> None:
    async with running() as server:
        server.hub.publish(to_message("ExposureChange", exposure_record()))
        server.hub.publish(to_message("LpPerformance", lp_record("LMAX")))
        await asyncio.sleep(0.1)
        async with connect(ws_url(server, token())) as ws:
            await subscribe(ws, "exposure-updates", "lp-performance")
            messages = await recv_messages(ws, 2)
            assert [m["type"] for m in messages] == ["lp-metrics", "exposure-change"]


async def test_graceful_shutdown_closes_clients_with_1001(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = dataclasses.replace(settings(host="127.0.0.1", port=0))
    server = BridgeServer(s, MemorySource())
    with caplog.at_level(logging.INFO, logger="ws_bridge.server"):
        await server.start()
        async with connect(ws_url(server, token("erin"))) as ws:
            await subscribe(ws, "alerts")
            await asyncio.sleep(0.1)
            await server.stop()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1001
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Analytics hub started" in text
    assert "Client connected: erin (account acc-1), total 1" in text
    assert "User erin subscribed to channel: alerts" in text
    assert "Client disconnected: erin (code 1001), total 0" in text


async def test_expired_token_closes_the_connection_with_4001() -> None:
    async with running(jwt_leeway_s=0.0) as server:
        async with connect(ws_url(server, token(ttl=1.5))) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 4001
            assert ws.close_reason == "token expired"


def test_token_command_prints_only_a_token_that_verifies(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streams.cli import main
    from ws_bridge.core.auth import TokenVerifier

    monkeypatch.setenv("RTX_JWT_SECRET", SECRET)
    code = main(
        ["token", "--sub", "ivy", "--roles", "risk,admin", "--ttl", "15m", "--account", "A"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("\n") == 1
    identity = TokenVerifier(settings()).verify(out.strip())
    assert identity.user == "ivy" and identity.roles == {"risk", "admin"}
    assert identity.account == "A"


async def test_slow_client_overflow_sends_a_gap_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """More messages in one tick than the client's queue holds: the oldest are dropped, the
    client gets one ``gap`` first, and the drop is logged once per burst."""
    async with running(queue_max_messages=5) as server:
        async with connect(ws_url(server, token("jack"))) as ws:
            await subscribe(ws, "routing-metrics")
            await asyncio.sleep(0.1)
            with caplog.at_level(logging.INFO, logger="ws_bridge.server"):
                for n in range(20):
                    server.hub.publish(to_message("RoutingDecision", routing_record(volume=n)))
                messages = await recv_messages(ws, 6)
            assert messages[0]["type"] == "gap"
            assert messages[0]["data"]["dropped"] == 15
            assert [m["data"]["volume"] for m in messages[1:]] == [15.0, 16.0, 17.0, 18.0, 19.0]
            status = json.loads(
                (await http_get(server, "/api/analytics/status", bearer=token()))[1]
            )
            assert status["clientList"][0]["dropped"] == {"routing-metrics": 15}
            _, text = await http_get(server, "/metrics")
            assert 'rtx_bridge_dropped_messages_total{reason="slow-client"} 15.0' in text
    lines = [r.getMessage() for r in caplog.records]
    assert lines.count("Client jack buffer full, dropping oldest messages") == 1


async def test_clients_with_the_same_subscriptions_get_one_shared_frame() -> None:
    """Encoding once: two idle clients on the same channels receive the same bytes, built once."""
    async with running() as server:
        url = ws_url(server, token())
        async with connect(url) as one, connect(url) as two:
            await subscribe(one, "exposure-updates")
            await subscribe(two, "exposure-updates")
            await asyncio.sleep(0.1)
            built = server.hub.fanout.frames_built
            server.hub.publish(to_message("ExposureChange", exposure_record()))
            frames = [await asyncio.wait_for(ws.recv(), 5) for ws in (one, two)]
            assert frames[0] == frames[1]
            assert server.hub.fanout.frames_built == built + 1


async def test_alert_history_off_still_streams_alerts_live_but_refuses_replay() -> None:
    async with running(alert_history=0) as server:
        async with connect(ws_url(server, token())) as ws:
            await subscribe(ws, "alerts")
            await asyncio.sleep(0.1)
            server.hub.publish_alert(0, alert_record(0))
            server.hub.publish_alert(0, alert_record(0))  # a redelivery: dropped
            server.hub.publish_alert(1, alert_record(1))
            assert [m["data"]["seq"] for m in await recv_messages(ws, 2)] == [0, 1]
            replay = {"action": "replay", "channel": "alerts", "fromTime": "2026-01-01T00:00:00Z"}
            await ws.send(json.dumps(replay))
            (error,) = await recv_messages(ws, 1)
            assert error["data"]["code"] == "replay-unavailable"
