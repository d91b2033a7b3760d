"""Tests of ``ws_bridge.client``: backoff and alert cursor (pure), options, and the client's
dispatch, dedupe, resume and reconnects against a scripted WebSocket server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from tests.helpers.bridge_server import until
from ws_bridge.client import (
    AlertCursor,
    AnalyticsClient,
    Backoff,
    ClientError,
    InvalidArgument,
    ProtocolViolation,
)

pytestmark = pytest.mark.timeout(30)

# -- backoff -------------------------------------------------------------------------------------


def test_backoff_ceiling_doubles_from_the_base_up_to_the_cap() -> None:
    b = Backoff(base_s=0.5, max_s=30.0)
    assert [b.ceiling(n) for n in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert b.ceiling(10_000) == 30.0  # no overflow
    assert b.ceiling(-3) == 0.5


def test_backoff_delay_is_full_jitter_over_zero_to_the_ceiling() -> None:
    b = Backoff(base_s=1.0, max_s=8.0)
    assert b.delay(3, lambda: 0.0) == 0.0
    assert b.delay(3, lambda: 0.5) == 4.0
    assert b.delay(3, lambda: 0.999999) < 8.0
    rng = random.Random(1)
    draws = [b.delay(2, rng.random) for _ in range(2000)]
    assert all(0.0 <= d < 4.0 for d in draws)
    # spread over the whole range, not clustered at the ceiling (that would be no jitter)
    assert min(draws) < 0.1 and max(draws) > 3.9
    assert 1.8 < sum(draws) / len(draws) < 2.2


@pytest.mark.parametrize(
    "kwargs", [{"base_s": 0}, {"base_s": -1}, {"base_s": float("nan")}, {"base_s": 2, "max_s": 1},
               {"max_s": float("inf")}],
)  # fmt: skip
def test_bad_backoff_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidArgument, match="backoff"):
        Backoff(**kwargs)


# -- alert cursor --------------------------------------------------------------------------------


def test_cursor_accepts_each_seq_once_per_epoch() -> None:
    c = AlertCursor()
    assert c.resume_fields() == {}
    assert c.accept({"seq": 4, "epoch": "E"})
    assert not c.accept({"seq": 4, "epoch": "E"})
    assert not c.accept({"seq": 2, "epoch": "E"})
    assert c.accept({"seq": 5, "epoch": "E"})
    assert c.resume_fields() == {"since": 5, "epoch": "E"}
    assert c.accept({"seq": 0, "epoch": "F"})  # a recreated log starts over
    assert c.duplicates == 2


def test_cursor_from_a_saved_position_without_epoch() -> None:
    c = AlertCursor(-1)
    assert c.resume_fields() == {"since": -1}
    assert c.accept({"seq": 0, "epoch": "E"})
    assert not c.accept({"seq": 0, "epoch": "E"})


def test_cursor_turns_an_unrecovered_resume_into_a_gap() -> None:
    c = AlertCursor(10, "E")
    assert c.apply_subscribed({"channels": ["alerts"]}) is None  # not a resume answer
    assert c.apply_subscribed({"recovered": True, "epoch": "E", "resumeAfter": 10}) is None
    gap = c.apply_subscribed({"recovered": False, "epoch": "E", "resumeAfter": 40})
    assert gap is not None
    assert (gap["reason"], gap["firstSeq"], gap["lastSeq"], gap["dropped"]) == (
        "not-recovered", 11, 40, 30
    )  # fmt: skip
    assert c.resume_fields() == {"since": 40, "epoch": "E"}
    other = c.apply_subscribed({"recovered": False, "epoch": "F", "resumeAfter": 3})
    assert other is not None and other["epoch"] == "F" and other["firstSeq"] is None


@pytest.mark.parametrize("bad", [(-2, None), (1.5, None), (1, "")])
def test_bad_resume_position_is_refused(bad: tuple[Any, Any]) -> None:
    with pytest.raises(InvalidArgument, match="resume"):
        AlertCursor(*bad)


@pytest.mark.parametrize(
    ("url", "token", "channels", "match"),
    [
        ("http://x/ws", "t", [], "ws://"),
        ("ws://x/ws?token=abc", "t", [], "token argument"),
        ("ws://x/ws", "", [], "token"),
        ("ws://x/ws", "a b", [], "token"),
        ("ws://x/ws", "t", ["alerts", "news"], "unknown channel 'news'"),
        ("ws://x/ws", "t", "alerts", "not one string"),
    ],
)
def test_bad_options_are_refused_with_a_clear_error(
    url: str, token: str, channels: Any, match: str
) -> None:
    with pytest.raises(InvalidArgument, match=match):
        AnalyticsClient(url, token, channels=channels)


def test_invalid_argument_is_a_client_error_and_a_value_error_with_code_bad_option() -> None:
    with pytest.raises(InvalidArgument) as bad:
        AnalyticsClient("ws://x/ws", "t", connect_timeout_s=0)
    assert isinstance(bad.value, ClientError) and isinstance(bad.value, ValueError)
    assert (bad.value.code, bad.value.retriable) == ("bad-option", False)
    with pytest.raises(InvalidArgument, match="max_queue"):
        AnalyticsClient("ws://x/ws", "t").stream(max_queue=0)


def test_the_old_name_config_error_still_works_with_a_deprecation_warning() -> None:
    import ws_bridge.client as client_package

    with pytest.warns(DeprecationWarning, match="use InvalidArgument"):
        old = client_package.ConfigError
    assert old is InvalidArgument  # ``except ConfigError`` catches what it caught
    assert "ConfigError" not in client_package.__all__
    with pytest.raises(AttributeError):
        _ = client_package.NoSuchName


# -- against a scripted server -------------------------------------------------------------------

Script = Callable[[ServerConnection, int], Awaitable[None]]


class Scripted:
    """A WebSocket server on 127.0.0.1 that runs ``script(ws, n)`` for its n-th connection and
    records what clients send and how they authenticated."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.received: list[list[dict[str, Any]]] = []
        self.auth: list[tuple[str, str | None]] = []
        self.server: Server | None = None

    async def handler(self, ws: ServerConnection) -> None:
        n = len(self.received)
        self.received.append([])
        assert ws.request is not None
        self.auth.append((ws.request.path, ws.request.headers.get("Authorization")))
        reader = asyncio.create_task(self._read(ws, n))
        try:
            await self.script(ws, n)
        finally:
            reader.cancel()

    async def _read(self, ws: ServerConnection, n: int) -> None:
        async for frame in ws:
            self.received[n].append(json.loads(frame))

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/ws/analytics"


@asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[Scripted]:
    s = Scripted(script)
    async with serve(s.handler, "127.0.0.1", 0) as server:
        s.server = server
        yield s


def alert(seq: int, epoch: str = "E") -> dict[str, Any]:
    return {"type": "alert", "timestamp": "2026-01-19T10:30:45.123456Z",
            "data": {"id": f"a{seq}", "seq": seq, "epoch": epoch}}  # fmt: skip


async def test_messages_go_to_type_callbacks_catch_all_and_streams_duplicates_dropped() -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await ws.send(json.dumps([alert(1), alert(2), {"type": "exposure-change", "data": {}}]))
        await ws.send(json.dumps([alert(2), alert(3), {**alert(1), "replay": True}]))
        await ws.send("not json")
        await ws.send(json.dumps([{"type": "future-type", "data": {"x": 1}}]))
        await ws.wait_closed()

    errors: list[ClientError] = []
    async with scripted(script) as srv:
        client = AnalyticsClient(srv.url, "tok", channels=["alerts"], on_error=errors.append)
        alerts: list[int] = []
        everything: list[str] = []
        client.on("alert", lambda m: alerts.append(m["data"]["seq"]))
        client.on("*", lambda m: everything.append(m["type"]))
        client.on("exposure-change", lambda m: 1 / 0)  # a failing callback is reported
        stream = client.stream()
        async with client:
            got = [m async for m in _take(stream, 5)]
        # The duplicate 2 is dropped; the replayed 1 (no replay_alerts asked for it) reaches "*"
        # only: neither the alert callbacks nor the streams, nor the cursor.
        assert alerts == [1, 2, 3]
        assert everything == ["alert", "alert", "exposure-change", "alert", "alert", "future-type"]
        streamed = ["alert", "alert", "exposure-change", "alert", "future-type"]
        assert [m["type"] for m in got] == streamed
        assert client.cursor.duplicates == 1 and client.stats["frames"] == 3
        assert client.cursor.seq == 3 and client.stats["replay_discarded"] == 1
        assert any(isinstance(e, ProtocolViolation) for e in errors)
        assert any(e.code == "handler-failed" for e in errors)
        assert srv.received[0][0]["action"] == "subscribe"
        assert srv.auth[0][0].startswith("/ws/analytics?token=tok")


async def _take(stream: AsyncIterator[dict[str, Any]], n: int) -> AsyncIterator[dict[str, Any]]:
    async with asyncio.timeout(10):
        async for message in stream:
            yield message
            n -= 1
            if n == 0:
                return


async def test_reconnects_after_a_drop_and_resumes_alerts_after_the_last_seq() -> None:
    """The server drops the first connection (1011) after two alerts; the client reconnects
    (backoff with jitter 0) and its new subscribe asks for alerts since seq 2 of epoch E;
    the replay overlapping what it had is deduped."""

    async def script(ws: ServerConnection, n: int) -> None:
        if n == 0:
            await ws.send(json.dumps([alert(1), alert(2)]))
            await asyncio.sleep(0.2)
            await ws.close(1011, "boom")
            return
        await until(lambda: bool(servers[0].received[1]))  # the resuming subscribe arrived
        await ws.send(json.dumps([alert(2), alert(3)]))
        await ws.wait_closed()

    states: list[str] = []
    errors: list[ClientError] = []
    servers: list[Scripted] = []
    async with scripted(script) as srv:
        servers.append(srv)
        client = AnalyticsClient(
            srv.url, "tok", channels=["alerts", "exposure-updates"], token_transport="header",  # noqa: S106
            on_state=lambda new, old: states.append(new), on_error=errors.append,
            rand=lambda: 0.0,
        )  # fmt: skip
        seqs: list[int] = []
        client.on("alert", lambda m: seqs.append(m["data"]["seq"]))
        async with client:
            await until(lambda: seqs == [1, 2, 3])
        first, second = srv.received[0][0], srv.received[1][0]
        assert first["channels"] == ["alerts", "exposure-updates"] and "since" not in first
        assert second["since"] == 2 and second["epoch"] == "E"
        assert states == ["connecting", "open", "reconnecting", "open", "closed"]
        assert [e.code for e in errors] == ["closed"] and errors[0].close_code == 1011  # type: ignore[attr-defined]
        assert srv.auth[0] == ("/ws/analytics", "Bearer tok")  # header transport: no query


async def test_gives_up_after_max_attempts_when_nothing_listens() -> None:
    async with scripted(lambda ws, n: ws.wait_closed()) as srv:
        url = srv.url
    errors: list[ClientError] = []
    client = AnalyticsClient(
        url, "tok", max_reconnect_attempts=3, backoff=Backoff(0.01, 0.02), on_error=errors.append
    )
    await client.connect()
    await until(lambda: client.state == "closed" and len(errors) == 4)
    assert [e.code for e in errors] == ["connect-failed"] * 3 + ["gave-up"]
    assert all(e.retriable for e in errors)
    await client.close()


async def test_a_lost_resume_is_reported_as_a_gap() -> None:
    async def script(ws: ServerConnection, n: int) -> None:
        await asyncio.sleep(0.1)
        answer = {"channels": ["alerts"], "recovered": False, "epoch": "E", "resumeAfter": 50,
                  "lastSeq": 60, "id": "s1"}  # fmt: skip
        await ws.send(json.dumps([{"type": "subscribed", "data": answer}]))
        await ws.send(json.dumps([{"type": "gap", "data": {"channel": "routing-metrics"}}]))
        await ws.wait_closed()

    gaps: list[dict[str, Any]] = []
    async with scripted(script) as srv:
        async with AnalyticsClient(
            srv.url, "tok", channels=["alerts"], resume_from=(20, "E"), on_gap=gaps.append
        ):
            await until(lambda: len(gaps) == 2)
        assert srv.received[0][0]["since"] == 20
    assert (gaps[0]["reason"], gaps[0]["firstSeq"], gaps[0]["lastSeq"]) == ("not-recovered", 21, 50)
    assert gaps[1] == {"channel": "routing-metrics"}
