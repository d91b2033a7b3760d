"""Alert actions: from a dealer's action to every connected dashboard's ``alert-state``.

Real pieces: ``rtx-analytics bridge`` subprocesses (dev mode) on the broker of
``KAFKA_BOOTSTRAP_SERVERS``, topics of a fresh prefix, WebSocket clients on 127.0.0.1. One
dealer client sends ``comment`` actions (always allowed, so every action changes the state) to
alerts produced beforehand, one at a time at ``--rate`` per second; ``--dashboards`` clients
subscribed to ``alerts`` (spread over ``--bridges`` bridges; the dealer is on the first) record
when each sees the alert's state with the new comment count. Latency = receipt - send, one
clock (all clients in this process).

Reported: per action, the time until *every* dashboard had the new state (the issue's figure:
p99 <= 100 ms), and per (action, dashboard) the distribution; the dealer's ``confirmed`` too.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 .venv/bin/python bench/alert_actions.py \
        --dashboards 100 --actions 300 --bridges 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import AIOKafkaProducer  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from bench.loadkit import (  # noqa: E402
    Bridge,
    bench_env,
    bridges,
    create_topics,
    delete_topics,
    machine,
    progress,
)
from schemas.codec import default_codec  # noqa: E402
from streams.settings import KafkaSettings  # noqa: E402
from streams.topics import topic_name  # noqa: E402


def token(sub: str, roles: list[str]) -> str:
    from ws_bridge.core.auth import mint_token
    from ws_bridge.core.config import DEV_SECRET

    return mint_token(DEV_SECRET, sub, roles, 6 * 3600)


async def produce_alerts(env: dict[str, str], count: int) -> list[str]:
    settings = KafkaSettings.from_env(env)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    ids = []
    try:
        now_us = int(time.time() * 1_000_000)
        for n in range(count):
            alert_id = f"bench-{n:06d}"
            record = {
                "id": alert_id,
                "eventTime": now_us + n,
                "severity": "warning",
                "category": "exposure",
                "title": "Bench alert",
                "message": "an alert to act on",
                "source": "Bench",
                "actionItems": [],
            }
            value = default_codec().encode("Alert", record)
            await producer.send_and_wait(
                topic_name("alerts", settings), value, key=alert_id.encode()
            )
            ids.append(alert_id)
    finally:
        await producer.stop()
    return ids


class Dashboard:
    """One client subscribed to alerts; notes when it sees each (alert, comments) state."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: dict[tuple[str, int], float] = {}
        self.wanted: set[tuple[str, int]] | None = None  # set once every action was sent
        self.done = asyncio.Event()

    def check(self) -> None:
        if self.wanted is not None and self.wanted <= self.seen.keys():
            self.done.set()

    async def read(self) -> None:
        async for frame in self.ws:
            now = time.perf_counter()
            for message in json.loads(frame):
                if message["type"] == "alert-state":
                    data = message["data"]
                    self.seen.setdefault((data["id"], data["comments"]), now)
            self.check()


async def open_dashboards(urls: list[str], count: int) -> list[Dashboard]:
    out = []
    for n in range(count):
        url = f"{urls[n % len(urls)]}?token={token(f'dash-{n}', ['viewer'])}"
        ws = await connect(url, max_size=None)
        await ws.send(json.dumps({"action": "subscribe", "channels": ["alerts"]}))
        out.append(Dashboard(ws))
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    env = bench_env(f"bench-actions-{uuid.uuid4().hex[:8]}.")
    await create_topics(env)
    try:
        ids = await produce_alerts(env, args.alerts)
        with bridges(env, args.bridges, args.dashboards + 10) as started:
            return await measure(args, started, ids)
    finally:
        await delete_topics(env)


async def measure(
    args: argparse.Namespace, started: list[Bridge], ids: list[str]
) -> dict[str, Any]:
    dashboards = await open_dashboards([b.url for b in started], args.dashboards)
    readers = [asyncio.create_task(d.read()) for d in dashboards]
    dealer = await connect(f"{started[0].url}?token={token('dealer', ['dealer'])}")
    answers: dict[str, float] = {}

    async def read_dealer() -> None:
        async for frame in dealer:
            now = time.perf_counter()
            for message in json.loads(frame):
                if message["type"] in ("confirmed", "error"):
                    answers[str(message["data"].get("id"))] = now

    dealer_reader = asyncio.create_task(read_dealer())
    await asyncio.sleep(1.0)  # subscriptions and snapshots settle before the first action
    comments: dict[str, int] = defaultdict(int)
    sent: list[tuple[str, int, float, str]] = []
    progress(f"{len(dashboards)} dashboards on {len(started)} bridge(s); {args.actions} actions")
    for n in range(args.actions):
        alert_id = ids[n % len(ids)]
        comments[alert_id] += 1
        rid = f"c{n}"
        frame = {"action": "comment", "alertId": alert_id, "note": f"note {n}", "id": rid}
        t0 = time.perf_counter()
        await dealer.send(json.dumps(frame))
        sent.append((alert_id, comments[alert_id], t0, rid))
        await asyncio.sleep(1.0 / args.rate)
    wanted = {(a, c) for a, c, _, _ in sent}
    for d in dashboards:
        d.wanted = wanted
        d.check()
    try:
        async with asyncio.timeout(30):
            await asyncio.gather(*(d.done.wait() for d in dashboards))
    except TimeoutError:
        progress("some dashboards did not see every action within 30 s (counted as missing)")
    for task in (*readers, dealer_reader):
        task.cancel()
    await dealer.close()
    for d in dashboards:
        await d.ws.close()
    return summarise(sent, dashboards, answers)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def summarise(
    sent: list[tuple[str, int, float, str]], dashboards: list[Dashboard], answers: dict[str, float]
) -> dict[str, Any]:
    every, per_client, missing = [], [], 0
    for alert_id, count, t0, _ in sent:
        times = [d.seen.get((alert_id, count)) for d in dashboards]
        missing += sum(1 for t in times if t is None)
        got = [t - t0 for t in times if t is not None]
        per_client.extend(got)
        if len(got) == len(dashboards):
            every.append(max(got))
    confirmed = [answers[rid] - t0 for _, _, t0, rid in sent if rid in answers]

    def dist(values: list[float]) -> dict[str, float]:
        if not values:
            return {}
        return {
            "p50_ms": round(pct(values, 0.50), 1),
            "p99_ms": round(pct(values, 0.99), 1),
            "max_ms": round(max(values) * 1000, 1),
            "mean_ms": round(statistics.fmean(values) * 1000, 1),
        }

    return {
        "actions": len(sent),
        "dashboards": len(dashboards),
        "missing": missing,
        "all_dashboards": dist(every),
        "per_dashboard": dist(per_client),
        "confirmed": dist(confirmed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dashboards", type=int, default=100)
    parser.add_argument("--actions", type=int, default=300)
    parser.add_argument("--alerts", type=int, default=20, help="alerts acted on, in turn")
    parser.add_argument("--bridges", type=int, default=1)
    parser.add_argument("--rate", type=float, default=20.0, help="actions per second")
    args = parser.parse_args()
    print(f"alert actions: {machine()}", flush=True)
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2), flush=True)
    return 0 if result["missing"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
