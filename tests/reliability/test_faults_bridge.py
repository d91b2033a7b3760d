"""Bridge faults (reliability issue, faults 2 and 5), with a real broker and the bridge as a real
process:

2. ``kill -9`` of the bridge, twice, while alerts keep arriving: the Python client
   (``ws_bridge.client``) and the TypeScript client (``clients/typescript/dist``, in node)
   reconnect by themselves and each sees every alert exactly once, in order.
5. A stalled client (a process under ``SIGSTOP``) and a client on a slow link, beside a normal
   one, with 2,000 messages/s of about 1 KB: the normal client gets every message with no gap;
   the slow one gets ``gap`` messages; the stalled one is disconnected by the write timeout;
   the bridge's memory stays bounded (its per-client queues are bounded).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from websockets.asyncio.client import connect

from schemas.codec import default_codec
from streams.settings import KafkaSettings
from streams.topics import topic_name
from tests.helpers.bridge import alert_record, routing_record
from tests.helpers.faults import BridgeProcess, log
from ws_bridge.client import AnalyticsClient, Backoff

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
TS_DIST = ROOT / "clients" / "typescript" / "dist" / "index.js"
CODEC = default_codec()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


async def until(check: Any, wait_s: float, why: Any) -> None:
    deadline = time.monotonic() + wait_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(why())
        await asyncio.sleep(0.05)


class TsCollector:
    """The TypeScript client in node (tests/reliability/ts_alert_collector.mjs)."""

    def __init__(self, url: str) -> None:
        base, _, token = url.partition("?token=")
        env = dict(os.environ, RTX_URL=base, RTX_TOKEN=token)
        node = shutil.which("node")
        assert node is not None, "node (>= 20) is needed for the TypeScript client"
        assert TS_DIST.exists(), f"build the TypeScript client first: {TS_DIST} is missing"
        self.proc = subprocess.Popen(  # noqa: S603 - node on our own script
            [node, str(Path(__file__).with_name("ts_alert_collector.mjs"))],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.alerts: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await asyncio.to_thread(self.proc.stdout.readline):
            event = json.loads(line)
            self.events.append(event)
            if "alert" in event:
                self.alerts.append(event["alert"])

    async def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if self.proc.stdout.closed:
            return
        self.proc.stdin.close()
        try:
            await asyncio.to_thread(self.proc.wait, 20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait, 10)
        await self._task
        self.proc.stdout.close()


async def test_both_clients_see_every_alert_once_across_two_bridge_kills(
    topics: KafkaSettings, tmp_path: Path
) -> None:
    assert TS_DIST.exists(), f"build the TypeScript client first: {TS_DIST} is missing"
    bridge = BridgeProcess(topics, tmp_path)
    url = await bridge.start()
    base, _, token = url.partition("?token=")
    py_seqs: list[int] = []
    client = AnalyticsClient(
        base, token, channels=["alerts"], resume_from=(-1, None), backoff=Backoff(0.05, 0.5)
    )
    client.on("alert", lambda m: py_seqs.append(m["data"]["seq"]))
    total = 300
    producer = AIOKafkaProducer(bootstrap_servers=topics.bootstrap_servers, linger_ms=1)
    await producer.start()
    ts = TsCollector(url)
    try:
        async with client:
            await client.wait_open(30)
            await until(
                lambda: {"state": "open"} in ts.events, 30, lambda: f"ts client: {ts.events}"
            )
            alerts_topic = topic_name("alerts", topics)
            for n in range(total):
                record = alert_record(n, id=f"20260119-103045-{n:06x}")
                await producer.send_and_wait(
                    alerts_topic, CODEC.encode("Alert", record), key=record["id"].encode()
                )
                if n in (80, 180):  # kill -9 mid-stream; alerts keep coming while it is down
                    assert bridge.proc is not None
                    bridge.proc.kill()
                    bridge.proc.wait(10)
                    log(f"bridge killed after alert {n}")
                if n in (120, 220):
                    await bridge.start()
                    log(f"bridge restarted after alert {n}")
                await asyncio.sleep(0.01)
            expected = list(range(total))
            await until(
                lambda: (
                    py_seqs[-1:] == [total - 1]
                    and [a["seq"] for a in ts.alerts][-1:] == [total - 1]
                ),
                90,
                lambda: f"python last {py_seqs[-3:]}, ts last {ts.alerts[-3:]}\n{bridge.log()}",
            )
    finally:
        await ts.close()
        await producer.stop()
        bridge.stop()
    assert py_seqs == expected, "the Python client missed or repeated an alert"
    assert [a["seq"] for a in ts.alerts] == expected, "the TypeScript client missed or repeated"
    assert len({a["id"] for a in ts.alerts}) == total
    assert not [e for e in ts.events if "gap" in e], "no gap: the bridge kept every alert"
    reconnects = [e for e in ts.events if e.get("state") == "reconnecting"]
    assert len(reconnects) >= 2, "the TypeScript client reconnected after each kill"


STALLED = r"""
import asyncio, json, socket, sys
from websockets.asyncio.client import connect

async def main() -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.connect(("127.0.0.1", int(sys.argv[2])))
    messages = gaps = 0
    close = None
    async with connect(sys.argv[1], sock=sock, max_queue=1, ping_interval=None) as ws:
        await ws.send(json.dumps({"action": "subscribe", "channels": ["routing-metrics"]}))
        print("ready", flush=True)
        try:
            async for frame in ws:
                for m in json.loads(frame):
                    messages += 1
                    gaps += m["type"] == "gap"
        except Exception as exc:
            close = repr(exc)
    print(json.dumps({"messages": messages, "gaps": gaps, "closed": close}), flush=True)

asyncio.run(main())
"""


class _Readers:
    """What the normal client and the client on a slow link receive."""

    def __init__(self) -> None:
        self.normal: list[float] = []
        self.normal_gaps = 0
        self.slow: list[tuple[str, float]] = []  # ("gap", dropped) or ("msg", volume), in order
        self.slow_closed: list[BaseException] = []
        self.producing = True

    async def read_normal(self, ws: Any) -> None:
        async for frame in ws:
            for m in json.loads(frame):
                if m["type"] == "gap":
                    self.normal_gaps += 1
                elif m["type"] == "routing-decision":
                    self.normal.append(m["data"]["volume"])

    async def read_slow(self, ws: Any) -> None:
        try:
            async for frame in ws:  # a slow link: 10 frames a second while the burst lasts
                for m in json.loads(frame):
                    if m["type"] == "gap":
                        self.slow.append(("gap", m["data"]["dropped"]))
                    elif m["type"] == "routing-decision":
                        self.slow.append(("msg", m["data"]["volume"]))
                if self.producing:
                    await asyncio.sleep(0.1)
        except Exception as exc:  # noqa: BLE001 - a disconnect is one of the allowed outcomes
            self.slow_closed.append(exc)

    def slow_done(self) -> bool:
        return bool(self.slow_closed) or any(kind == "gap" for kind, _ in self.slow)


async def _produce_burst(
    producer: AIOKafkaProducer, topic: str, total: int, rate: int, bridge_pid: int
) -> tuple[int, int]:
    """``total`` routing decisions of ~1 KB at ``rate``/s; the bridge's RSS before and at most."""
    pad = "x" * 900
    rss_before = rss_kib(bridge_pid)
    rss_max = rss_before
    start = time.monotonic()
    for n in range(total):
        record = routing_record(volume=float(n), lpSelected=pad)
        await producer.send(topic, CODEC.encode("RoutingDecision", record), key=b"k")
        if n % 100 == 99:
            await asyncio.sleep(max(0.0, start + (n + 1) / rate - time.monotonic()))
            rss_max = max(rss_max, rss_kib(bridge_pid))
    await producer.flush()
    log(f"{total} messages of ~1 KB produced in {time.monotonic() - start:.1f} s")
    return rss_before, rss_max


async def _start_stalled(url: str, port: int) -> subprocess.Popen[str]:
    """The STALLED client process, once it is connected and subscribed."""
    stalled = subprocess.Popen(  # noqa: S603, ASYNC220 - our script; read on a thread
        [sys.executable, "-c", STALLED, url, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert stalled.stdout is not None
    assert (await asyncio.to_thread(stalled.stdout.readline)).strip() == "ready"
    return stalled


async def test_a_stalled_and_a_slow_client_do_not_hurt_a_normal_one(
    topics: KafkaSettings, tmp_path: Path
) -> None:
    bridge = BridgeProcess(topics, tmp_path)
    bridge.env["RTX_BRIDGE_WRITE_TIMEOUT_S"] = "5"
    url = await bridge.start()
    assert bridge.proc is not None
    stalled = await _start_stalled(url, bridge.port)
    got = _Readers()
    total, rate = 24_000, 2000
    producer = AIOKafkaProducer(bootstrap_servers=topics.bootstrap_servers, linger_ms=5)
    await producer.start()
    try:
        async with connect(url) as fast_ws, connect(url, max_queue=1) as slow_ws:
            for ws in (fast_ws, slow_ws):
                await ws.send(json.dumps({"action": "subscribe", "channels": ["routing-metrics"]}))
            readers = [
                asyncio.create_task(got.read_normal(fast_ws)),
                asyncio.create_task(got.read_slow(slow_ws)),
            ]
            await asyncio.sleep(0.5)
            os.kill(stalled.pid, signal.SIGSTOP)
            topic = topic_name("routing_metrics", topics)
            rss_before, rss_max = await _produce_burst(
                producer, topic, total, rate, bridge.proc.pid
            )
            normal = got.normal
            await until(
                lambda: len(normal) >= total, 60, lambda: f"normal client: {len(normal)}/{total}"
            )
            got.producing = False  # the slow client drains what the kernel buffered, then its gap
            slow = got.slow
            await until(got.slow_done, 60, lambda: f"slow client: {len(slow)} events, {slow[-3:]}")
            os.kill(stalled.pid, signal.SIGCONT)
            for task in readers:
                task.cancel()
        out, _ = await asyncio.to_thread(stalled.communicate, timeout=60)
    finally:
        if stalled.poll() is None:
            os.kill(stalled.pid, signal.SIGCONT)
            stalled.kill()
        await producer.stop()
        bridge.stop()
    stalled_result = json.loads(out.strip().splitlines()[-1])
    log(
        f"normal {len(got.normal)} messages, {got.normal_gaps} gaps; slow {len(got.slow)} events, "
        f"{sum(k == 'gap' for k, _ in got.slow)} gaps, closed {got.slow_closed!r}; stalled "
        f"{stalled_result}; bridge RSS {rss_before} KiB before, {rss_max} KiB at most"
    )
    assert got.normal == [float(n) for n in range(total)], "the normal client lost or reordered"
    assert got.normal_gaps == 0
    _assert_no_silent_loss(got.slow)
    gaps = sum(1 for kind, _ in got.slow if kind == "gap")
    assert gaps > 0 or got.slow_closed, "the slow client was told it lagged, or disconnected"
    assert stalled_result["closed"] is not None, "the stalled client was disconnected"
    assert stalled_result["messages"] < total
    # Bounded: every lagging client holds at most queue_max_bytes (1 MiB) of frames; 24 MB went
    # through. The margin covers the interpreter's own growth under load.
    assert rss_max - rss_before < 40 * 1024, f"bridge RSS grew {rss_max - rss_before} KiB"


def _assert_no_silent_loss(slow: list[tuple[str, float]]) -> None:
    """The slow link never loses data silently: every jump in the sequence comes right after a
    gap message (or is the end of a connection the bridge dropped)."""
    last, told = -1.0, False
    for kind, value in slow:
        if kind == "gap":
            told = True
            continue
        assert value == last + 1 or told, f"silent loss before {value} (last {last})"
        last, told = value, False
