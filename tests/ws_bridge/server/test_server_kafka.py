"""The bridge against a real broker: derived records produced with the codec arrive on real
WebSocket clients; snapshots on subscribe; alert resume across a reconnect."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from schemas.codec import default_codec
from streams.settings import KafkaSettings
from streams.topics import apply_topics, topic_name
from tests.helpers.bridge import (
    alert_record,
    exposure_record,
    lp_record,
    routing_record,
)
from tests.helpers.bridge_kafka import bridge, nothing_more, producer, send, url
from tests.helpers.bridge_server import until

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

CODEC = default_codec()


async def recv_messages(ws: ClientConnection, count: int, wait_s: float = 15) -> list[Any]:
    out: list[Any] = []
    async with asyncio.timeout(wait_s):
        while len(out) < count:
            frame = json.loads(await ws.recv())
            assert isinstance(frame, list)
            out.extend(frame)
    return out


async def test_derived_records_reach_clients_and_exposure_snapshot_comes_on_subscribe(
    topics: KafkaSettings,
) -> None:
    """An exposure produced before the bridge starts is the snapshot a new subscriber gets
    first; records produced afterwards arrive live on every channel."""
    now_us = int(time.time() * 1_000_000)
    async with producer(topics) as p:
        await send(p, topics, "exposure", "ExposureChange", exposure_record(totalExposure=1.0))
        latest = exposure_record(eventTime=now_us, totalExposure=2.0)
        await send(p, topics, "exposure", "ExposureChange", latest)
        await send(p, topics, "lp_performance", "LpPerformance", lp_record("LMAX"))
        async with bridge(topics) as server:
            # read, and dispatched (the snapshot knows a message from its tick on)
            await until(lambda: server.source.ready and server.hub.pending == 0, wait_s=20)
            async with connect(url(server)) as ws:
                await ws.send(
                    json.dumps(
                        {
                            "action": "subscribe",
                            "channels": ["exposure-updates", "lp-performance", "routing-metrics"],
                        }
                    )
                )
                snapshot = await recv_messages(ws, 2)
                assert [m["type"] for m in snapshot] == ["lp-metrics", "exposure-change"]
                assert snapshot[0]["data"]["lpName"] == "LMAX"
                assert snapshot[1]["data"]["totalExposure"] == 2.0
                await send(p, topics, "routing_metrics", "RoutingDecision", routing_record())
                await send(p, topics, "lp_performance", "LpPerformance", lp_record("OANDA"))
                live = await recv_messages(ws, 2)
                assert sorted(m["type"] for m in live) == ["lp-metrics", "routing-decision"]
                routing = next(m for m in live if m["type"] == "routing-decision")
                assert routing["data"]["symbol"] == "EURUSD"
                assert routing["data"]["lpSelected"] == "OANDA"
            status = server.status()
            assert status["ready"] is True
            assert status["consumer"][topic_name("exposure", topics)]["lag"] == 0


async def test_status_polled_while_records_flow_reports_them_all_read(
    topics: KafkaSettings,
) -> None:
    """The status route, called again and again on the event loop while the consumer thread
    takes batches, never waits on that thread (a call into librdkafka from the loop could
    deadlock with a callback wanting the GIL), and ends with every record read: positions at
    the end, lag 0, every record delivered to a subscriber."""
    routing = topic_name("routing_metrics", topics)
    # The subject is the status route under flow, not the client queue's limits (256 messages,
    # 10 batches; test_outgoing.py): on a loaded machine the test's one event loop, shared with
    # the bridge and the poller, could let 300 records outrun them.
    roomy = {"queue_max_messages": 1000, "queue_max_batches": 1000}
    async with producer(topics) as p, bridge(topics, **roomy) as server:
        await until(lambda: server.source.ready, wait_s=20)
        async with connect(url(server)) as ws:
            await ws.send(json.dumps({"action": "subscribe", "channels": ["routing-metrics"]}))
            await asyncio.sleep(0.2)  # subscribed (no snapshot on this channel, no reply)
            polls = 0

            async def poll() -> None:
                nonlocal polls
                while True:
                    server.status()
                    polls += 1
                    await asyncio.sleep(0.001)

            got: list[Any] = []

            async def read() -> None:
                # Read while the records are produced, as a dashboard does.
                while len(got) < 300:
                    got.extend(json.loads(await ws.recv()))

            poller, reader = asyncio.create_task(poll()), asyncio.create_task(read())
            sends = [
                await p.send(
                    routing,
                    CODEC.encode("RoutingDecision", routing_record(volume=float(n + 1))),
                    key=b"EURUSD",
                )
                for n in range(300)
            ]
            await asyncio.gather(*sends)
            async with asyncio.timeout(30):
                await reader
            poller.cancel()
            assert sorted(m["data"]["volume"] for m in got) == [float(n + 1) for n in range(300)]
            assert polls > 0
        # The high watermarks are noted about once a second by the consumer thread.
        await asyncio.sleep(1.5)
        row = server.status()["consumer"][routing]
        assert row["position"] == row["end"] >= 300 and row["lag"] == 0


async def test_alert_resume_after_reconnect_gets_exactly_the_missed_alerts(
    topics: KafkaSettings,
) -> None:
    """Connect, receive alerts with seq, disconnect, more alerts are produced, reconnect with
    ``since`` = the last seq: exactly the missed ones arrive, then live ones, no duplicate."""
    async with producer(topics) as p:
        for n in range(3):
            await send(p, topics, "alerts", "Alert", alert_record(n))
        async with bridge(topics) as server:
            async with connect(url(server)) as ws:
                sub = {"action": "subscribe", "channels": ["alerts"], "since": -1}
                await ws.send(json.dumps(sub))
                first = await recv_messages(ws, 4)
                assert first[0]["type"] == "subscribed"
                assert first[0]["data"]["recovered"] is True
                alerts = [m["data"] for m in first[1:]]
                assert [a["seq"] for a in alerts] == [0, 1, 2]
                epoch = alerts[-1]["epoch"]
                assert epoch and first[0]["data"]["epoch"] == epoch
                await send(p, topics, "alerts", "Alert", alert_record(3))
                (live,) = await recv_messages(ws, 1)
                assert live["data"]["seq"] == 3
                last_seq = live["data"]["seq"]
            for n in (4, 5, 6):
                await send(p, topics, "alerts", "Alert", alert_record(n))
            alert_log = server.hub.alert_log
            assert alert_log is not None
            await until(lambda: alert_log.last_seq >= 6, wait_s=20)
            async with connect(url(server)) as ws:
                sub = {"action": "subscribe", "channels": ["alerts"], "since": last_seq}
                await ws.send(json.dumps({**sub, "epoch": epoch}))
                again = await recv_messages(ws, 4)
                assert again[0]["type"] == "subscribed"
                assert again[0]["data"]["recovered"] is True
                assert [m["data"]["seq"] for m in again[1:]] == [4, 5, 6]
                assert [m["data"]["id"] for m in again[1:]] == [
                    alert_record(n)["id"] for n in (4, 5, 6)
                ]
                await send(p, topics, "alerts", "Alert", alert_record(7))
                (seventh,) = await recv_messages(ws, 1)
                assert seventh["data"]["seq"] == 7
                await nothing_more(ws, 0.5)
        # A second bridge loads the same log and names it with the same epoch.
        async with bridge(topics) as server:
            assert server.hub.alert_log is not None
            assert server.hub.alert_log.epoch == epoch
            assert server.hub.alert_log.last_seq == 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _ready(port: int) -> bool:
    def get() -> bool:
        try:
            url = f"http://127.0.0.1:{port}/readyz"
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our server
                return int(response.status) == 200
        except OSError:
            return False

    return await asyncio.to_thread(get)


async def test_cli_bridge_serves_until_sigterm_then_closes_clients_with_1001(
    topics: KafkaSettings, tmp_path: Path
) -> None:
    """``rtx-analytics bridge`` in dev mode with a token from ``rtx-analytics token``: prints the
    URL and the dev warning, serves, and on SIGTERM closes clients with 1001 and exits 0."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RTX_", "KAFKA_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=topics.bootstrap_servers,
        RTX_TOPIC_PREFIX=topics.topic_prefix,
        RTX_BRIDGE_DEV_MODE="1",
        RTX_BRIDGE_HOST="127.0.0.1",
        RTX_BRIDGE_PORT=str(port),
        RTX_BRIDGE_LOG_FORMAT="json",
    )
    minted = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streams.cli", "token", "--sub", "alice", "--roles", "admin",
        env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await minted.communicate()
    tok = out.decode().strip()
    assert minted.returncode == 0 and tok.count(".") == 2
    log_path = tmp_path / "bridge.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "streams.cli", "bridge",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=log_file,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert first.decode().strip() == f"bridge: ws://127.0.0.1:{port}/ws/analytics"
        for _ in range(300):
            if await _ready(port):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(log_path.read_text())
        url = f"ws://127.0.0.1:{port}/ws/analytics?token={tok}"
        async with connect(url) as ws:
            await ws.send(json.dumps({"action": "subscribe", "channels": ["alerts"], "id": 1}))
            assert (await recv_messages(ws, 1))[0]["type"] == "subscribed"
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 15)
            assert ws.close_code == 1001
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = log_path.read_text()
    assert "DEV MODE" in text
    assert tok not in text and tok.split(".")[2] not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert any(m.startswith("Analytics hub started") for m in messages)
    assert any(m == "Client connected: alice (account None), total 1" for m in messages)


async def test_recreated_alert_topic_gets_a_new_epoch(
    topics: KafkaSettings, admin: AIOKafkaAdminClient
) -> None:
    """The epoch names the log: the same for every bridge reading it, different once the
    topic is deleted and created again (its offsets restart at 0)."""
    name = topic_name("alerts", topics)
    async with producer(topics) as p:
        await send(p, topics, "alerts", "Alert", alert_record(0))
    async with bridge(topics) as server:
        assert server.hub.alert_log is not None
        old_epoch = server.hub.alert_log.epoch
    await admin.delete_topics([name])
    for _ in range(100):
        if name not in await admin.list_topics():
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    await apply_topics(admin, topics, out=lambda _line: None)
    async with producer(topics) as p:
        await send(p, topics, "alerts", "Alert", alert_record(1))
    async with bridge(topics) as server:
        assert server.hub.alert_log is not None
        assert server.hub.alert_log.last_seq == 0
        assert server.hub.alert_log.epoch != old_epoch
