"""The kit the bridge benchmarks share (bench/bridge_load.py, bench/floor.py,
bench/bridge_memory.py, bench/soak.py): the machine and process helpers, the run's topics, dev
tokens, ``rtx-analytics bridge`` subprocesses, and the producer of the derived records the
bridge serves (``Records``: the mix, eventTime = now, codec-encoded).

A module of its own so that the benchmark scripts import it and never each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHANNELS = ["routing-metrics", "lp-performance", "exposure-updates", "alerts"]
MIX = (("routing", 0.70), ("lp", 0.15), ("exposure", 0.10), ("alert", 0.05))
LPS = ("OANDA", "LMAX", "CURRENEX", "INTEGRAL")
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF", "EURGBP")
ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0


def progress(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def raise_nofile() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


# -- topics and the bridge process --------------------------------------------------------------


def bench_env(prefix: str) -> dict[str, str]:
    env = dict(os.environ)
    env["RTX_TOPIC_PREFIX"] = prefix
    env.setdefault("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    return env


async def create_topics(env: dict[str, str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    from streams.settings import KafkaSettings
    from streams.topics import apply_topics

    settings = KafkaSettings.from_env(env)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await apply_topics(admin, settings, out=lambda _line: None)
    finally:
        await admin.close()


async def delete_topics(env: dict[str, str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    from streams.settings import KafkaSettings
    from streams.topics import TOPICS

    settings = KafkaSettings.from_env(env)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        await admin.start()
        await admin.delete_topics([t.name(settings.topic_prefix) for t in TOPICS])
    except Exception as exc:  # noqa: BLE001 - cleanup only
        progress(f"could not delete the run's topics: {exc!r}")
    finally:
        await admin.close()


def dev_token(sub: str) -> str:
    from ws_bridge.core.auth import mint_token
    from ws_bridge.core.config import DEV_SECRET

    return mint_token(DEV_SECRET, sub, ["admin"], 6 * 3600)


@dataclass
class ServerProcess:
    """A server subprocess on ``port`` serving ``/ws/analytics`` and ``/readyz``, its output in
    ``log_path``: a bridge (:class:`Bridge`), the fan-out floor (bench/floor.py), or Centrifugo
    (bench/centrifugo/launch.py: its own paths and client protocol)."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    ws_path = "/ws/analytics"
    ready_path = "/readyz"
    protocol = "bridge"  # the load client's protocol (bench/loadclient --protocol)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.ws_path}"

    def wait_ready(self, name: str, every_s: float) -> None:
        """Until ``ready_path`` answers 200; RuntimeError (the process stopped) if it exits or
        is not ready within READY_TIMEOUT_S."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        url = f"http://127.0.0.1:{self.port}{self.ready_path}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({self.proc.returncode}); see {self.log_path}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - local http
                    if resp.status == 200:
                        return
            time.sleep(every_s)
        self.stop()
        raise RuntimeError(f"{name} on {self.port} not ready in {READY_TIMEOUT_S:g}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Bridge(ServerProcess):
    """One ``rtx-analytics bridge`` subprocess."""

    @classmethod
    def start(
        cls, env: dict[str, str], max_connections: int, extra: dict[str, str], root: Path = ROOT
    ) -> Bridge:
        """A bridge from the checkout at ``root`` (another one than this: a baseline measured
        in the same run, e.g. ``git worktree add /tmp/before <commit>``)."""
        port = free_port()
        benv = dict(env)
        benv.update(
            RTX_BRIDGE_DEV_MODE="1",
            RTX_BRIDGE_HOST="127.0.0.1",
            RTX_BRIDGE_PORT=str(port),
            RTX_BRIDGE_MAX_CONNECTIONS=str(max_connections),
            RTX_BRIDGE_MAX_CONNECTIONS_PER_USER=str(max_connections),
        )
        benv.update(extra)
        log_path = Path(f"/tmp/bridge-bench-{port}.log")  # noqa: S108 - bench scratch log
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "streams.cli", "bridge"],
                cwd=root,
                env=benv,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=raise_nofile,  # noqa: PLW1509 - before exec, no threads yet
            )
        bridge = cls(port, proc, log_path)
        bridge.wait_ready("bridge", every_s=0.2)
        return bridge


@contextlib.contextmanager
def bridges(
    env: dict[str, str],
    count: int,
    max_connections: int,
    extra: dict[str, str] | None = None,
    root: Path = ROOT,
) -> Iterator[list[Bridge]]:
    started: list[Bridge] = []
    try:
        for _ in range(count):
            started.append(Bridge.start(env, max_connections, extra or {}, root))
            progress(f"bridge ready on port {started[-1].port} (pid {started[-1].pid})")
        yield started
    finally:
        for b in started:
            b.stop()


# -- producer -----------------------------------------------------------------------------------


class Records:
    """Derived records with eventTime = now, codec-encoded, with their topic and key."""

    def __init__(self, env: dict[str, str]) -> None:
        from schemas.codec import default_codec
        from streams.settings import KafkaSettings
        from streams.topics import topic_name

        settings = KafkaSettings.from_env(env)
        self.codec = default_codec()
        self.topics = {
            "routing": topic_name("routing_metrics", settings),
            "lp": topic_name("lp_performance", settings),
            "exposure": topic_name("exposure", settings),
            "alert": topic_name("alerts", settings),
        }
        self.n = 0
        self.run_id = uuid.uuid4().hex[:6]

    def make(self, kind: str, now_us: int) -> tuple[str, bytes, bytes]:
        self.n += 1
        n = self.n
        if kind == "routing":
            sym = SYMBOLS[n % len(SYMBOLS)]
            abook = n % 3 == 0
            rec: dict[str, Any] = {
                "eventId": f"{self.run_id}-{n}",
                "eventTime": now_us,
                "symbol": sym,
                "side": "BUY" if n % 2 else "SELL",
                "volume": 10000.0 + n % 100,
                "routingDecision": "ABOOK" if abook else "BBOOK",
                "lpSelected": LPS[n % len(LPS)] if abook else None,
                "executionTimeMs": 45.0,
                "spread": 0.0001,
                "slippage": -0.00002,
            }
            return self.topics[kind], sym.encode(), self.codec.encode("RoutingDecision", rec)
        if kind == "lp":
            lp = LPS[n % len(LPS)]
            rec = {
                "eventTime": now_us,
                "lpName": lp,
                "status": "connected",
                "avgSpread": 0.00012,
                "executionQuality": 0.97,
                "latencyMs": 42.0,
                "quotesPerSecond": 120.0,
                "rejectRate": 0.01,
                "uptime": 99.9,
            }
            return self.topics[kind], lp.encode(), self.codec.encode("LpPerformance", rec)
        if kind == "exposure":
            rec = {
                "eventTime": now_us,
                "totalExposure": 80000.0 + n % 1000,
                "netExposure": 80000.0,
                "exposureLimit": 100000.0,
                "utilizationPct": 80.0,
                "riskLevel": "medium",
                "bySymbol": {"EURUSD": 50000.0, "GBPUSD": 30000.0},
                "byLP": {"OANDA": 80000.0},
            }
            return self.topics[kind], b"global", self.codec.encode("ExposureChange", rec)
        alert_id = f"bench-{self.run_id}-{n:08d}"
        rec = {
            "id": alert_id,
            "eventTime": now_us,
            "severity": "warning",
            "category": "system",
            "title": "Bench alert",
            "message": f"bench alert {n}",
            "source": "bridge_load",
            "actionItems": ["none"],
        }
        return self.topics[kind], alert_id.encode(), self.codec.encode("Alert", rec)

    def as_json(self, value: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
        """What Centrifugo's Kafka consumer gets instead of ``value`` (publication data mode):
        the bridge's own message JSON of the record, and the header naming its channel. An
        alert's ``seq`` is its number in this run (the bridge uses the Kafka offset)."""
        from ws_bridge.core.messages import channel_of, encode, to_message

        decoded = self.codec.decode(value)
        if decoded.schema == "Alert":
            message = to_message("Alert", decoded.record, seq=self.n, epoch=self.run_id)
        else:
            message = to_message(decoded.schema, decoded.record)
        header = ("centrifugo-channels", channel_of(decoded.schema).encode())
        return encode(message).text.encode(), [header]


async def produce(env: dict[str, str], rate: int, seconds: float, as_json: bool = False) -> int:
    """Publish ``rate`` messages/s of the mix for ``seconds``; return how many were sent.
    ``as_json``: the bridge's message JSON for Centrifugo (:meth:`Records.as_json`)."""
    from aiokafka import AIOKafkaProducer

    from streams.settings import KafkaSettings

    settings = KafkaSettings.from_env(env)
    records = Records(env)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=2, acks=1)
    await producer.start()
    sent = 0
    try:
        slice_s = 0.01
        start = time.monotonic()
        owed = 0.0
        carry = {kind: 0.0 for kind, _ in MIX}
        futures = []
        while (elapsed := time.monotonic() - start) < seconds:
            owed = rate * (elapsed + slice_s) - sent
            count = int(owed)
            for _ in range(count):
                # weighted round-robin over the mix
                for kind, share in MIX:
                    carry[kind] += share
                kind = max(carry, key=lambda k: carry[k])
                carry[kind] -= 1.0
                now = time.time()
                topic, key, value = records.make(kind, int(now * 1e6))
                headers = None
                if as_json:
                    value, headers = records.as_json(value)
                futures.append(
                    await producer.send(
                        topic, value, key=key, timestamp_ms=int(now * 1000), headers=headers
                    )
                )
                sent += 1
            if len(futures) > 5000:
                await asyncio.gather(*futures)
                futures.clear()
            await asyncio.sleep(max(0.0, start + (sent / rate) - time.monotonic()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent
