"""The Python client against a real bridge and broker: every message type arrives; across a
bridge restart (a new server on the same port) each alert arrives exactly once, in order;
token refresh over the header transport; the time-range alert replay (``replay_alerts``)."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.settings import KafkaSettings
from tests.helpers.bridge import (
    SECRET,
    T0_US,
    alert_record,
    exposure_record,
    lp_record,
    routing_record,
    settings,
    summary_record,
)
from tests.helpers.bridge_kafka import producer, send
from tests.helpers.bridge_server import until
from ws_bridge.client import AnalyticsClient, Backoff, ClientError, ServerError
from ws_bridge.core.auth import mint_token
from ws_bridge.server.kafka_source import KafkaSource
from ws_bridge.server.server import BridgeServer

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def bridge(kafka: KafkaSettings, port: int, **overrides: Any) -> AsyncIterator[BridgeServer]:
    s = dataclasses.replace(
        settings(host="127.0.0.1", port=port), **{"alert_history": 100, **overrides}
    )
    server = BridgeServer(s, KafkaSource(kafka, alert_history=s.alert_history))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def token(sub: str = "alice", ttl: int = 3600, roles: tuple[str, ...] = ("admin",)) -> str:
    return mint_token(SECRET, sub, list(roles), ttl, account="acc-1")


async def test_every_message_type_reaches_its_callback(topics: KafkaSettings) -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws/analytics"
    got: dict[str, list[dict[str, Any]]] = {}
    channels = ["routing-metrics", "lp-performance", "exposure-updates", "alerts"]
    async with producer(topics) as p, bridge(topics, port) as server:
        await until(lambda: server.source.ready, wait_s=30)
        client = AnalyticsClient(url, token(), channels=channels)
        for kind in ("routing-decision", "routing-summary", "lp-metrics", "exposure-change",
                     "alert", "subscribed"):  # fmt: skip
            client.on(kind, lambda m, k=kind: got.setdefault(k, []).append(m))
        async with client:
            await client.wait_open(10)
            await until(lambda: "subscribed" in got, wait_s=30)
            await send(p, topics, "routing_metrics", "RoutingDecision", routing_record())
            await send(p, topics, "routing_metrics", "RoutingSummary", summary_record())
            await send(p, topics, "lp_performance", "LpPerformance", lp_record("LMAX"))
            await send(p, topics, "exposure", "ExposureChange", exposure_record())
            await send(p, topics, "alerts", "Alert", alert_record(0))
            await until(lambda: len(got) == 6, wait_s=30)
    assert got["routing-decision"][0]["data"]["lpSelected"] == "OANDA"
    assert got["routing-summary"][0]["data"]["count"] == 10
    assert got["lp-metrics"][0]["data"]["lpName"] == "LMAX"
    assert got["exposure-change"][0]["data"]["utilizationPct"] == 80.0
    assert got["alert"][0]["data"]["seq"] == 0
    assert client.state == "closed"


async def test_alerts_exactly_once_in_order_across_a_bridge_restart(
    topics: KafkaSettings,
) -> None:
    """Alerts 0-2 before, 3-6 while the bridge is down, 7 after it is back on the same port:
    the client reconnects by itself, resumes after seq 2, and sees 0..7 once each, in order."""
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws/analytics"
    seqs: list[int] = []
    ids: list[str] = []
    states: list[str] = []
    errors: list[ClientError] = []
    client = AnalyticsClient(
        url, token(), channels=["alerts"], resume_from=(-1, None),
        backoff=Backoff(0.05, 0.5), on_state=lambda new, old: states.append(new),
        on_error=errors.append,
    )  # fmt: skip
    client.on("alert", lambda m: (seqs.append(m["data"]["seq"]), ids.append(m["data"]["id"])))
    async with producer(topics) as p:
        for n in range(3):
            await send(p, topics, "alerts", "Alert", alert_record(n))
        async with bridge(topics, port):
            await client.connect()
            await until(lambda: seqs == [0, 1, 2], wait_s=30)
        await until(lambda: client.state == "reconnecting", wait_s=30)
        for n in range(3, 7):
            await send(p, topics, "alerts", "Alert", alert_record(n))
        async with bridge(topics, port) as server:
            await until(lambda: seqs[-1:] == [6], wait_s=30)
            await send(p, topics, "alerts", "Alert", alert_record(7))
            await until(lambda: seqs[-1:] == [7], wait_s=30)
            assert server.hub.alert_log is not None
        await client.close()
    assert seqs == list(range(8))
    assert ids == [alert_record(n)["id"] for n in range(8)]
    assert states[:2] == ["connecting", "open"] and "reconnecting" in states
    assert states.count("open") == 2 and states[-1] == "closed"
    assert any(e.code == "closed" and getattr(e, "close_code", None) == 1001 for e in errors)


async def test_refresh_over_the_header_transport(topics: KafkaSettings) -> None:
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws/analytics"
    async with bridge(topics, port):
        client = AnalyticsClient(url, token(ttl=600), token_transport="header")  # noqa: S106
        async with client:
            await client.wait_open(10)
            answer = await client.refresh(token(ttl=7200))
            assert answer is not None
            expires = time.mktime(time.strptime(answer["expiresAt"][:19], "%Y-%m-%dT%H:%M:%S"))
            assert expires - time.mktime(time.gmtime()) > 3600
            with pytest.raises(ServerError) as refused:
                await client.refresh(token(sub="mallory", ttl=9000))
            assert refused.value.code == "refresh-failed"
            assert client.state == "open"


def at(n: int, micros: int = 0) -> str:
    """The event time of ``alert_record(n)`` (T0 + n s) plus ``micros``, as RFC 3339."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=T0_US + n * 1_000_000)
    return (moment + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_replay_alerts_of_a_time_range(topics: KafkaSettings) -> None:
    """Alerts 0-9 one second apart in the log: ``[from, to)`` to the microsecond, oldest first;
    ``limit`` and ``truncated``; the replay leaves live alerts and the cursor alone."""
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws/analytics"
    live: list[int] = []
    async with producer(topics) as p:
        for n in range(10):
            await send(p, topics, "alerts", "Alert", alert_record(n))
        async with bridge(topics, port) as server:

            def held() -> int:
                log = server.hub.alert_log
                return -1 if log is None else log.last_seq

            await until(lambda: server.source.ready and held() == 9, wait_s=30)
            client = AnalyticsClient(url, token(), channels=["alerts"])
            client.on("alert", lambda m: live.append(m["data"]["seq"]))
            async with client:
                await client.wait_open(10)
                # from 1 s + 1 us excludes alert 1; to 7 s (exclusive) excludes alert 7
                to = datetime.fromisoformat(at(7))
                alerts, done = await client.replay_alerts(at(1, 1), to)
                first3, cut = await client.replay_alerts(at(0), limit=3)
                exact, whole = await client.replay_alerts(at(0), at(10), limit=10)
                assert live == [] and client.cursor.seq is None
                await send(p, topics, "alerts", "Alert", alert_record(100))
                await until(lambda: live == [10], wait_s=30)
                later, _ = await client.replay_alerts(at(9))
    assert [m["data"]["seq"] for m in alerts] == [2, 3, 4, 5, 6]
    assert [m["timestamp"] for m in alerts] == [at(n) for n in range(2, 7)]
    assert all(m["type"] == "alert" and m["replay"] is True for m in alerts)
    assert (done["count"], done["truncated"], done["complete"], done["dropped"]) == (
        5,
        False,
        True,
        0,
    )
    assert [m["data"]["seq"] for m in first3] == [0, 1, 2] and cut["truncated"] is True
    assert len(exact) == 10 and whole["truncated"] is False  # exactly limit matched
    assert [m["data"]["seq"] for m in later] == [9, 10]  # open-ended: up to the newest
    assert live == [10] and client.cursor.seq == 10


async def test_replay_alerts_refused_by_the_bridge(topics: KafkaSettings) -> None:
    """``forbidden`` (alerts need a role the token lacks) and ``replay-unavailable`` (no alert
    history) raise ServerError naming the request; the connection stays open."""
    ports = free_port(), free_port()
    roles = (("alerts", frozenset({"admin"})),)
    async with (
        bridge(topics, ports[0], channel_roles=roles) as guarded,
        bridge(topics, ports[1], alert_history=0) as no_history,
    ):
        await until(lambda: guarded.source.ready and no_history.source.ready, wait_s=30)
        viewer = token("victor", roles=("viewer",))
        async with AnalyticsClient(f"ws://127.0.0.1:{ports[0]}/ws/analytics", viewer) as v:
            await v.wait_open(10)
            with pytest.raises(ServerError) as forbidden:
                await v.replay_alerts(at(0))
        async with AnalyticsClient(f"ws://127.0.0.1:{ports[1]}/ws/analytics", token()) as n:
            for _ in range(2):
                with pytest.raises(ServerError) as unavailable:
                    await n.replay_alerts(at(0))
                assert unavailable.value.code == "replay-unavailable"
            assert n.state == "open"
    assert forbidden.value.code == "forbidden" and forbidden.value.channel == "alerts"
    assert str(forbidden.value.request_id).startswith("q")
