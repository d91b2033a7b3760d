"""``AnalyticsClient.replay_alerts`` against scripted WebSocket servers on 127.0.0.1 (real
sockets): what the real bridge cannot be made to do on demand (never answer, drop the connection
mid-replay), one replay on the wire at a time, replayed alerts kept out of the cursor, callbacks
and streams; and the argument checks (pure)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.helpers.bridge_server import until
from ws_bridge.client import (
    AnalyticsClient,
    Backoff,
    ClientError,
    ConnectionFailed,
    InvalidArgument,
    ServerError,
)
from ws_bridge.client.state import replay_frame

pytestmark = pytest.mark.timeout(30)

Frame = dict[str, Any]
OnFrame = Callable[[ServerConnection, Frame, int], Awaitable[None]]
FROM = "2026-01-19T10:00:00Z"


class Server:
    """Calls ``on_frame(ws, frame, n)`` for each client frame of its n-th connection."""

    def __init__(self, on_frame: OnFrame) -> None:
        self.on_frame = on_frame
        self.received: list[Frame] = []
        self.connections: list[ServerConnection] = []
        self.url = ""

    async def handler(self, ws: ServerConnection) -> None:
        n = len(self.connections)
        self.connections.append(ws)
        async for raw in ws:
            frame = json.loads(raw)
            self.received.append(frame)
            await self.on_frame(ws, frame, n)

    def replays(self) -> list[Frame]:
        return [f for f in self.received if f.get("action") == "replay"]


@asynccontextmanager
async def server(on_frame: OnFrame) -> AsyncIterator[Server]:
    s = Server(on_frame)
    async with serve(s.handler, "127.0.0.1", 0) as ws_server:
        s.url = f"ws://127.0.0.1:{ws_server.sockets[0].getsockname()[1]}/ws/analytics"
        yield s


def alert(seq: int, replay: bool = False) -> Frame:
    message: Frame = {"type": "alert", "timestamp": f"2026-01-19T10:00:{seq % 60:02d}.000000Z",
                      "data": {"id": f"a{seq}", "seq": seq, "epoch": "E"}}  # fmt: skip
    return {**message, "replay": True} if replay else message


def done(request_id: Any, count: int, **extra: Any) -> Frame:
    data = {"channel": "alerts", "count": count, "dropped": 0, "truncated": False,
            "complete": True, "id": request_id, **extra}  # fmt: skip
    return {"type": "replay-done", "timestamp": "2026-01-19T10:01:00.000000Z", "data": data}


async def send(ws: ServerConnection, *messages: Frame) -> None:
    await ws.send(json.dumps(list(messages)))


async def test_returns_the_replayed_alerts_and_keeps_them_out_of_cursor_callbacks_and_streams() -> (
    None
):
    async def on_frame(ws: ServerConnection, frame: Frame, n: int) -> None:
        if frame["action"] == "replay":  # live alert 7 interleaves, as on the bridge
            await send(ws, alert(1, True), alert(7), alert(2, True))
            await send(ws, alert(3, True), done(frame["id"], 3, truncated=True))

    async with server(on_frame) as srv:
        client = AnalyticsClient(srv.url, "tok", channels=["alerts"])
        typed: list[int] = []
        tapped: list[bool] = []
        client.on("alert", lambda m: typed.append(m["data"]["seq"]))
        client.on("*", lambda m: tapped.append(bool(m.get("replay"))))
        stream = client.stream()
        async with client:
            await client.wait_open(10)
            until_ = datetime(2026, 1, 19, 11, tzinfo=UTC)
            alerts, answer = await client.replay_alerts(FROM, until_, limit=3)
            streamed = [await anext(stream), await anext(stream)]
        assert srv.replays() == [{"action": "replay", "channel": "alerts", "fromTime": FROM,
                                  "toTime": "2026-01-19T11:00:00.000000Z", "limit": 3,
                                  "id": answer["id"]}]  # fmt: skip
        assert [m["data"]["seq"] for m in alerts] == [1, 2, 3]
        assert all(m["replay"] is True and m["timestamp"].endswith("Z") for m in alerts)
        assert answer["truncated"] is True and answer["count"] == 3
        assert typed == [7] and client.cursor.seq == 7
        assert tapped == [True, False, True, True, False]  # "*" sees everything (+ replay-done)
        assert [m["type"] for m in streamed] == ["alert", "replay-done"]


async def test_deliver_passes_replayed_alerts_to_callbacks_but_not_to_the_cursor() -> None:
    async def on_frame(ws: ServerConnection, frame: Frame, n: int) -> None:
        if frame["action"] == "replay":
            await send(ws, alert(4, True), alert(5, True), done(frame["id"], 2))

    async with server(on_frame) as srv:
        client = AnalyticsClient(srv.url, "tok")
        typed: list[int] = []
        client.on("alert", lambda m: typed.append(m["data"]["seq"]))
        async with client:
            start = datetime(2026, 1, 19, 11, tzinfo=timezone(timedelta(hours=1)))
            alerts, _ = await client.replay_alerts(start, deliver=True)
        assert srv.replays()[0]["fromTime"] == "2026-01-19T10:00:00.000000Z"
        assert [m["data"]["seq"] for m in alerts] == typed == [4, 5]
        assert client.cursor.seq is None


async def test_one_replay_on_the_wire_at_a_time() -> None:
    outstanding, most = 0, 0
    answering: set[asyncio.Task[None]] = set()

    async def answer(ws: ServerConnection, frame: Frame) -> None:
        nonlocal outstanding
        await asyncio.sleep(0.03)
        outstanding -= 1
        base = frame["limit"]
        await send(ws, alert(base, True), alert(base + 1, True), done(frame["id"], 2))

    async def on_frame(ws: ServerConnection, frame: Frame, n: int) -> None:
        nonlocal outstanding, most
        if frame["action"] == "replay":  # answered in the background: the server reads on
            outstanding += 1
            most = max(most, outstanding)
            answering.add(asyncio.create_task(answer(ws, frame)))

    async with server(on_frame) as srv, AnalyticsClient(srv.url, "tok") as client:
        results = await asyncio.gather(*(client.replay_alerts(FROM, limit=n) for n in (10, 20, 30)))
    assert [[m["data"]["seq"] for m in alerts] for alerts, _ in results] == [
        [10, 11],
        [20, 21],
        [30, 31],
    ]
    assert most == 1 and len({f["id"] for f in srv.replays()}) == 3


async def test_the_bridge_error_for_its_id_raises_and_the_next_replay_runs() -> None:
    async def on_frame(ws: ServerConnection, frame: Frame, n: int) -> None:
        if frame["action"] != "replay":
            return
        if frame.get("limit") == 1:
            error = {"code": "replay-busy", "message": "a replay is already running",
                     "id": frame["id"]}  # fmt: skip
            await send(ws, {"type": "error", "timestamp": "t", "data": error})
        else:
            await send(ws, done(frame["id"], 0))

    errors: list[ClientError] = []
    async with server(on_frame) as srv:
        async with AnalyticsClient(srv.url, "tok", on_error=errors.append) as client:
            with pytest.raises(ServerError) as refused:
                await client.replay_alerts(FROM, limit=1)
            alerts, answer = await client.replay_alerts(FROM, limit=2)
    assert refused.value.code == "replay-busy"
    assert refused.value.request_id == srv.replays()[0]["id"]
    assert alerts == [] and answer["count"] == 0
    assert [e.code for e in errors] == ["replay-busy"]  # on_error hears it too


async def test_a_timed_out_replay_is_waited_for_and_its_alerts_discarded() -> None:
    first: list[tuple[ServerConnection, Any]] = []

    async def on_frame(ws: ServerConnection, frame: Frame, n: int) -> None:
        if frame["action"] != "replay":
            return
        if not first:
            first.append((ws, frame["id"]))  # answered late, below
        else:
            await send(ws, alert(9, True), done(frame["id"], 1))

    async with server(on_frame) as srv, AnalyticsClient(srv.url, "tok") as client:
        await client.wait_open(10)
        with pytest.raises(ClientError) as slow:
            await client.replay_alerts(FROM, timeout_s=0.05)
        assert slow.value.code == "timeout" and not isinstance(slow.value, ConnectionFailed)
        later = asyncio.create_task(client.replay_alerts(FROM))
        await asyncio.sleep(0.05)
        assert len(srv.replays()) == 1, "the next replay waits for the timed-out one"
        ws, first_id = first[0]
        await send(ws, alert(1, True), alert(2, True), done(first_id, 2))
        alerts, _ = await later
    assert [m["data"]["seq"] for m in alerts] == [9]
    assert client.stats["replay_discarded"] == 2


async def test_a_drop_fails_the_replay_and_a_call_made_meanwhile_goes_after_reconnect() -> None:
    async def on_frame(ws: ServerConnection, frame: Frame, n: int) -> None:
        if frame["action"] != "replay":
            return
        if n == 0:
            await send(ws, alert(1, True))
            await ws.close(1011, "boom")
        else:
            await send(ws, alert(2, True), done(frame["id"], 1))

    async with server(on_frame) as srv:
        client = AnalyticsClient(srv.url, "tok", backoff=Backoff(0.05, 0.1))
        async with client:
            with pytest.raises(ConnectionFailed) as dropped:
                await client.replay_alerts(FROM)
            assert dropped.value.code == "closed" and "1 alerts received" in str(dropped.value)
            assert client.state != "open"
            alerts, _ = await client.replay_alerts(FROM)
    assert [m["data"]["seq"] for m in alerts] == [2]
    assert len(srv.connections) == 2


async def test_not_connected_and_close_raise_connection_failed() -> None:
    async def silent(ws: ServerConnection, frame: Frame, n: int) -> None:
        return None

    async with server(silent) as srv:
        client = AnalyticsClient(srv.url, "tok")
        with pytest.raises(ConnectionFailed, match="connect"):
            await client.replay_alerts(FROM)
        await client.connect()
        calls = [asyncio.create_task(client.replay_alerts(FROM)) for _ in range(2)]
        await until(lambda: len(srv.replays()) == 1)
        await client.close()
        for call in calls:
            with pytest.raises(ConnectionFailed):
                await call


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("2026-01-19T10:00:00",), {}),  # no offset
        (("2026-01-19",), {}),
        (("2026-13-45T10:00:00Z",), {}),
        ((1768816800,), {}),
        ((datetime(2026, 1, 19, 10),), {}),  # noqa: DTZ001 - naive on purpose
        (("2026-01-19T10:00:00.000002Z", "2026-01-19T10:00:00.000001Z"), {}),
        ((FROM, "2026-01-19T10:30:00+01:00"), {}),  # 09:30Z: before from
        ((FROM,), {"limit": 0}),
        ((FROM,), {"limit": 10_001}),
        ((FROM,), {"limit": 2.0}),
        ((FROM,), {"limit": True}),
    ],
)
def test_bad_replay_arguments_are_refused_with_a_clear_error(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgument) as bad:
        replay_frame(*args, **kwargs)
    assert len(str(bad.value)) > 20


def test_replay_frame_keeps_strings_as_given_and_writes_datetimes_in_utc() -> None:
    frame = replay_frame("2026-01-19T10:00:00.123456789Z", "2026-01-19T12:00:00+01:00", 10_000)
    assert frame == {"action": "replay", "channel": "alerts",
                     "fromTime": "2026-01-19T10:00:00.123456789Z",
                     "toTime": "2026-01-19T12:00:00+01:00", "limit": 10_000}  # fmt: skip
    start = datetime(2026, 1, 19, 10, 0, 0, 5, tzinfo=UTC)
    assert replay_frame(start)["fromTime"] == "2026-01-19T10:00:00.000005Z"


async def test_bad_timeout_is_refused_before_anything_is_sent() -> None:
    client = AnalyticsClient("ws://127.0.0.1:9/ws/analytics", "tok")
    for timeout_s in (0, -1, float("nan"), float("inf")):
        with pytest.raises(InvalidArgument):
            await client.replay_alerts(FROM, timeout_s=timeout_s)
