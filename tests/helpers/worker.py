"""Worker processes, topic readers and the ground truth of exposure, for tests that run
``rtx-analytics worker`` against a real broker."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.codec import default_codec
from streams.sdk import Publisher
from streams.settings import KafkaSettings
from streams.topics import BY_LOGICAL, topic_name

CODEC = default_codec()


EURUSD_MID = 1.085


async def wait_group_members(
    settings: KafkaSettings, group: str, members: int, timeout_s: float = 90.0
) -> None:
    """Until consumer group ``group`` is Stable with ``members`` members (each worker's input
    consumer has joined and holds its share of the partitions)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        seen: list[Any] = []
        while loop.time() < deadline:
            described = await admin.describe_consumer_groups([group])
            seen = [g for resp in described for g in resp.groups if g[1] == group]
            if seen and seen[0][2] == "Stable" and len(seen[0][5]) == members:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"group {group} not Stable with {members} members: {seen}")
    finally:
        await admin.close()


class WorkerProcess:
    command: tuple[str, ...] = ("worker", "--loglevel", "info")  # of rtx-analytics

    def __init__(self, settings: KafkaSettings, tmp: Path, app_id: str, **env: str) -> None:
        self.log_path = tmp / f"{app_id}-{uuid.uuid4().hex[:6]}.log"
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "RTX_TOPIC_PREFIX": settings.topic_prefix,
            "RTX_APP_ID": app_id,
            "RTX_WORKER_METRICS_PORT": "0",
            "RTX_WORKER_DATA_DIR": str(tmp / "worker-data"),
            "RTX_EXPOSURE_HEARTBEAT_S": "1",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.app_id = app_id

    def start(self) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(  # noqa: S603 - our own command
                [sys.executable, "-m", "streams.cli", *self.command],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class TopicReader:
    """Reads a topic from the start (all partitions), decoding values with the codec."""

    def __init__(self, settings: KafkaSettings, logical: str) -> None:
        self.settings = settings
        self.topic = topic_name(logical, settings)
        self.partitions = BY_LOGICAL[logical].partition_count(settings)
        self.records: list[Any] = []
        self.consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicReader:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self.consumer.start()
        self.consumer.assign([TopicPartition(self.topic, p) for p in range(self.partitions)])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.consumer is not None
        await self.consumer.stop()

    async def poll(self, timeout_s: float = 0.2) -> list[Any]:
        assert self.consumer is not None
        batch = await self.consumer.getmany(timeout_ms=int(timeout_s * 1000))
        new = [r for msgs in batch.values() for r in msgs]
        self.records.extend(new)
        return new

    async def until(self, predicate: Any, timeout_s: float, what: str, worker: Any) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            for r in await self.poll():
                if predicate(r):
                    return r
        raise AssertionError(
            f"{what} did not appear within {timeout_s} s; worker log:\n{worker.log()}"
        )


def decoded(r: Any) -> dict[str, Any]:
    return CODEC.decode(r.value).record


def ground_truth(positions: dict[str, dict[str, Any]], mids: dict[str, float]) -> float:
    """Gross USD notional computed independently: volume x USD value of the base currency."""
    usd = {"USD": 1.0, "EUR": mids["EURUSD"], "GBP": mids["GBPUSD"], "JPY": 1 / mids["USDJPY"]}
    total = 0.0
    for p in positions.values():
        if p["status"] == "OPEN":
            total += p["volume"] * usd[p["symbol"][:3]]
    return total


def position_stream(seed: int, n: int, ids: int) -> list[dict[str, Any]]:
    """``n`` position events over ``ids`` positions: opens, updates and closes, in order."""
    rng = random.Random(seed)  # noqa: S311
    mids = {"EURUSD": 1.085, "GBPUSD": 1.27, "USDJPY": 151.2}
    state: dict[str, dict[str, Any]] = {}
    out = []
    for _ in range(n):
        pid = f"s{seed}-{rng.randrange(ids)}"
        prev = state.get(pid)
        version = prev["version"] + 1 if prev else 1
        if prev and prev["status"] == "OPEN" and rng.random() < 0.15:
            ev = dict(prev, version=version, status="CLOSED", volume=0.0)
        else:
            symbol = prev["symbol"] if prev else rng.choice(list(mids))
            ev = {
                "position_id": pid,
                "account_id": "a",
                "symbol": symbol,
                "side": rng.choice(("BUY", "SELL")),
                "volume": float(rng.choice((1000, 5000, 20000))),
                "open_price": mids[symbol],
                "book": "BBOOK",
                "version": version,
                "status": "OPEN",
            }
        state[pid] = ev
        out.append(ev)
    return out


def final_state(evs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    state: dict[str, dict[str, Any]] = {}
    for ev in evs:
        state[ev["position_id"]] = ev
    return state


MIDS = {"EURUSD": 1.085, "GBPUSD": 1.27, "USDJPY": 151.2}


async def publish_quotes(pub: Publisher) -> None:
    for symbol, mid in MIDS.items():
        await pub.quote(symbol, mid * 0.9999, mid * 1.0001)
