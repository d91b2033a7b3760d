"""Bridge load: Kafka -> WebSocket latency and bridge CPU with many subscribed clients.

    python bench/bridge_load.py [--steps 100,250,500,1000] [--seconds 20] [--warmup 3]
        [--rate 2000] [--bridges 1|2] [--client-procs 2] [--probes 25] [--compression deflate|none]

Needs a broker: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092; ``rtx-analytics kafka start``).
Creates topics under a fresh ``RTX_TOPIC_PREFIX`` (``bench.bridge.<random>.``), starts
``--bridges`` ``python -m streams.cli bridge`` processes (``RTX_BRIDGE_DEV_MODE=1``, free ports,
connection limits raised) and waits for their ``/readyz``. Then, per step of ``--steps``:

- ``--client-procs`` client processes (multiprocessing, spawn) open the step's connections
  between them (``websockets.asyncio.client``, a dev token with role ``admin`` in the
  ``Authorization`` header; with ``--bridges 2`` the processes alternate between the bridges),
  and subscribe to all four channels;
- this process publishes ``--rate`` derived messages/s for ``--warmup`` + ``--seconds`` seconds
  (aiokafka, codec-encoded, in slices every 10 ms): routing-decision on routing.metrics 70%,
  lp-metrics 15%, exposure-change 10%, alert 5%;
- latency, per message received after the warm-up = the client's ``time.time()`` at receipt minus
  the message's ``timestamp`` field. The bridge sets ``timestamp`` from the record's
  ``eventTime``; this script sets eventTime = ``time.time()`` just before the send, and the Kafka
  record timestamp to the same instant (ms), so the latency covers producer linger, broker, the
  bridge's consumer, batching (up to 16 ms) and delivery, and the client's own scheduling;
- bridge CPU = utime + stime from ``/proc/<pid>/stat`` over the measured window, summed over the
  bridges.

Timing every message of every connection costs the clients more CPU than the bridge spends, on
the same two cores; so ``--probes`` connections per client process (default 25) time every
message they get, and the others only count the data messages of the frames they receive
after the warm-up (all connections receive the same stream). Probes keep latencies in a
histogram (0.1 ms bins) and send it back over a queue. Prints per
step: clients, delivered msgs/s (and the fraction of rate x clients), p50/p95/p99/max, gap
(dropped) messages, bridge CPU seconds and messages delivered per bridge CPU-second, then the
client count where p99 first passes 50 ms. Everything (broker, bridges, clients, producer) shares
this machine, so the client processes compete with the bridge for the cores.

To see where a bridge spends its time, sample it while a step runs (its pid is on stderr):
``.venv/bin/py-spy record -d 10 -r 200 -p PID -f raw -o /tmp/bridge.raw --nonblocking``.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import contextlib
import json
import multiprocessing as mp
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from queue import Empty
from typing import Any, Protocol

GOAL_P99_MS = 50.0
GOAL_CLIENTS = 1000
BIN_MS = 0.1
MAX_MS = 60_000.0
N_BINS = int(MAX_MS / BIN_MS) + 1
CHANNELS = ["routing-metrics", "lp-performance", "exposure-updates", "alerts"]
MIX = (("routing", 0.70), ("lp", 0.15), ("exposure", 0.10), ("alert", 0.05))
LPS = ("OANDA", "LMAX", "CURRENEX", "INTEGRAL")
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF", "EURGBP")
ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0
# Data messages only: extension messages (gap, error, acks) carry the server's time instead.
TS_RE = re.compile(
    rb'\{"type":"(?:routing-decision|routing-summary|lp-metrics|exposure-change|alert)",'
    rb'"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})Z"'
)
GAP_RE = re.compile(rb'"type":"gap"')


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


class Server(Protocol):
    """What a step needs of a server: a bridge, or the fan-out floor (bench/floor.py)."""

    @property
    def pid(self) -> int: ...

    @property
    def url(self) -> str: ...


@dataclass
class Bridge:
    """One ``rtx-analytics bridge`` subprocess."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/analytics"

    @classmethod
    def start(cls, env: dict[str, str], max_connections: int, extra: dict[str, str]) -> Bridge:
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
                cwd=ROOT,
                env=benv,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=raise_nofile,  # noqa: PLW1509 - before exec, no threads yet
            )
        bridge = cls(port, proc, log_path)
        bridge.wait_ready()
        return bridge

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        url = f"http://127.0.0.1:{self.port}/readyz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bridge exited ({self.proc.returncode}); see {self.log_path}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - local http
                    if resp.status == 200:
                        return
            time.sleep(0.2)
        raise RuntimeError(f"bridge on {self.port} not ready in {READY_TIMEOUT_S:g}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def bridges(
    env: dict[str, str], count: int, max_connections: int, extra: dict[str, str] | None = None
) -> Iterator[list[Bridge]]:
    started: list[Bridge] = []
    try:
        for _ in range(count):
            started.append(Bridge.start(env, max_connections, extra or {}))
            progress(f"bridge ready on port {started[-1].port} (pid {started[-1].pid})")
        yield started
    finally:
        for b in started:
            b.stop()


# -- clients (run in child processes) -----------------------------------------------------------


@dataclass
class ClientJob:
    url: str
    token: str
    connections: int
    subscribe: bool
    compression: str | None
    probes: int = 25  # connections of this process that time every message
    connect_concurrency: int = 100


@dataclass
class ClientResult:
    connected: int = 0
    failed: int = 0
    messages: int = 0  # data messages received while measuring, all connections
    probe_messages: int = 0  # those timed (probe connections, timestamp >= measure_from)
    frames: int = 0
    gap_frames: int = 0
    max_ms: float = 0.0
    cpu_s: float = 0.0  # this client process's CPU time while measuring
    hist: list[int] = field(default_factory=list)  # sparse: bin -> count, as pairs
    errors: list[str] = field(default_factory=list)


class Timestamps:
    """Parse the bridge's fixed timestamp format fast (whole seconds cached)."""

    def __init__(self) -> None:
        self._secs: dict[bytes, int] = {}

    def seconds(self, whole: bytes, micros: bytes) -> float:
        base = self._secs.get(whole)
        if base is None:
            t = time.strptime(whole.decode(), "%Y-%m-%dT%H:%M:%S")
            base = calendar.timegm(t)
            if len(self._secs) > 10_000:
                self._secs.clear()
            self._secs[whole] = base
        return base + int(micros) / 1e6


async def _client_main(
    job: ClientJob,
    ready: Any,
    go: MpEvent,
    stop: MpEvent,
    measure_from: Any,
    results: Any,
) -> None:
    from websockets.asyncio.client import ClientConnection, connect

    hist = [0] * N_BINS
    res = ClientResult()
    stamps = Timestamps()
    sem = asyncio.Semaphore(job.connect_concurrency)
    conns: list[ClientConnection] = []

    async def open_one(i: int) -> None:
        async with sem:
            try:
                ws = await connect(
                    job.url,
                    additional_headers={"Authorization": f"Bearer {job.token}"},
                    max_size=None,
                    ping_interval=None,
                    compression="deflate" if job.compression == "deflate" else None,
                    open_timeout=60,
                )
            except Exception as exc:  # noqa: BLE001 - counted and reported
                res.failed += 1
                if len(res.errors) < 5:
                    res.errors.append(f"connect {i}: {exc!r}")
                return
            if job.subscribe:
                await ws.send('{"action":"subscribe","channels":' + _json_list(CHANNELS) + "}")
            conns.append(ws)

    await asyncio.gather(*(open_one(i) for i in range(job.connections)))
    res.connected = len(conns)
    ready.put(len(conns))
    start = [float("inf")]  # set once the parent says go

    async def probe(ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            while True:
                frame = await ws.recv(decode=False)
                now = time.time()
                res.frames += 1
                if GAP_RE.search(frame):
                    res.gap_frames += 1
                for whole, micros in TS_RE.findall(frame):
                    ts = stamps.seconds(whole, micros)
                    if ts < start[0]:
                        continue  # snapshots and warm-up
                    ms = (now - ts) * 1000.0
                    res.messages += 1
                    res.probe_messages += 1
                    if ms > res.max_ms:
                        res.max_ms = ms
                    hist[min(N_BINS - 1, max(0, int(ms / BIN_MS)))] += 1

    async def count(ws: ClientConnection) -> None:
        # Cheaper than timing: counts data messages of frames received after the warm-up.
        with contextlib.suppress(Exception):
            while True:
                frame = await ws.recv(decode=False)
                res.frames += 1
                if GAP_RE.search(frame):
                    res.gap_frames += 1
                if time.time() >= start[0]:
                    res.messages += len(TS_RE.findall(frame))

    def reader(i: int, ws: ClientConnection) -> Coroutine[Any, Any, None]:
        return probe(ws) if i < job.probes else count(ws)

    tasks = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(conns)]
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, go.wait)
    start[0] = measure_from.value
    cpu0 = time.process_time()
    await loop.run_in_executor(None, stop.wait)
    res.cpu_s = time.process_time() - cpu0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    res.hist = [x for i, c in enumerate(hist) if c for x in (i, c)]
    results.put(res)


def _json_list(items: list[str]) -> str:
    return "[" + ",".join(f'"{c}"' for c in items) + "]"


def client_process(
    job: ClientJob, ready: Any, go: MpEvent, stop: MpEvent, measure_from: Any, results: Any
) -> None:
    raise_nofile()
    sys.path.insert(0, str(ROOT))
    asyncio.run(_client_main(job, ready, go, stop, measure_from, results))


@dataclass
class ClientFleet:
    """Client processes holding ``total`` connections spread over ``urls``."""

    ctx: Any
    procs: list[Any]
    ready: Any
    go: MpEvent
    stop: MpEvent
    measure_from: Any
    results: Any

    @classmethod
    def start(
        cls,
        urls: list[str],
        total: int,
        procs: int,
        subscribe: bool,
        compression: str | None,
        token: str,
        probes: int = 25,
    ) -> ClientFleet:
        ctx = mp.get_context("spawn")
        ready, results = ctx.Queue(), ctx.Queue()
        go, stop = ctx.Event(), ctx.Event()
        measure_from = ctx.Value("d", 0.0)
        running = []
        for i in range(procs):
            n = total // procs + (1 if i < total % procs else 0)
            job = ClientJob(urls[i % len(urls)], token, n, subscribe, compression, probes)
            p = ctx.Process(
                target=client_process,
                args=(job, ready, go, stop, measure_from, results),
                daemon=True,
            )
            p.start()
            running.append(p)
        return cls(ctx, running, ready, go, stop, measure_from, results)

    def wait_connected(self, timeout_s: float = 300.0) -> int:
        deadline = time.monotonic() + timeout_s
        connected = 0
        for _ in self.procs:
            left = max(0.1, deadline - time.monotonic())
            connected += int(self.ready.get(timeout=left))
        return connected

    def begin(self, measure_from: float) -> None:
        self.measure_from.value = measure_from
        self.go.set()

    def finish(self, timeout_s: float = 120.0) -> list[ClientResult]:
        self.stop.set()
        self.go.set()  # a fleet that never began (bridge_memory.py) must get past go.wait
        out: list[ClientResult] = []
        deadline = time.monotonic() + timeout_s
        for _ in self.procs:
            try:
                out.append(self.results.get(timeout=max(0.1, deadline - time.monotonic())))
            except Empty:
                progress("a client process sent no result")
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join()
        return out


class GoFleet:
    """The same fleet as :class:`ClientFleet`, held by ``bench/loadclient`` (Go) processes.

    A Python client takes about half a core per 100 connections here, so on two cores the
    clients, not the bridge, set the ceiling. The Go client does the same work (Bearer token,
    subscribe to all channels, time every data message from its ``timestamp``) for a fraction
    of the CPU; ``--go-probes`` connections per process time every message, the others count.
    Built with ``go build`` on first use.
    """

    SOURCE = ROOT / "bench" / "loadclient"
    BINARY = ROOT / ".rtx" / "bin" / "loadclient"

    def __init__(self, procs: list[subprocess.Popen[str]], token_file: Path) -> None:
        self.procs = procs
        self.token_file = token_file

    @classmethod
    def build(cls) -> Path:
        newest = max(f.stat().st_mtime for f in cls.SOURCE.iterdir())
        if not cls.BINARY.exists() or cls.BINARY.stat().st_mtime < newest:
            progress(f"building the Go load client into {cls.BINARY} (go build)")
            cls.BINARY.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(  # noqa: S603 - the go toolchain on our own source
                ["go", "build", "-o", str(cls.BINARY), "."],  # noqa: S607
                cwd=cls.SOURCE,
                check=True,
            )
        return cls.BINARY

    @classmethod
    def start(cls, urls: list[str], total: int, procs: int, token: str, probes: int) -> GoFleet:
        binary = cls.build()
        token_file = Path(f"/tmp/bridge-bench-token-{os.getpid()}")  # noqa: S108 - bench scratch
        token_file.write_text(token)
        token_file.chmod(0o600)
        running = []
        for i in range(procs):
            n = total // procs + (1 if i < total % procs else 0)
            running.append(
                subprocess.Popen(  # noqa: S603 - our own binary
                    [
                        str(binary),
                        "--urls",
                        ",".join(urls[i % len(urls) :] + urls[: i % len(urls)]),
                        "--connections",
                        str(n),
                        "--token-file",
                        str(token_file),
                        "--probes",
                        str(probes),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    # One OS thread each: Go's idle threads spinning for work cost more CPU
                    # than they save on a 2-core machine shared with the bridge.
                    env={"GOMAXPROCS": "1", **os.environ},
                    preexec_fn=raise_nofile,  # noqa: PLW1509 - before exec, no threads yet
                )
            )
        return cls(running, token_file)

    def _tell(self, line: str) -> None:
        for p in self.procs:
            assert p.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                p.stdin.write(line + "\n")
                p.stdin.flush()

    def wait_connected(self, timeout_s: float = 300.0) -> int:
        connected = 0
        for p in self.procs:
            assert p.stdout is not None
            words = p.stdout.readline().split()
            if len(words) != 3 or words[0] != "ready":
                raise RuntimeError(f"load client {p.pid} did not get ready: {words!r}")
            connected += int(words[1])
        return connected

    def begin(self, measure_from: float) -> None:
        self._tell(f"go {measure_from:.6f}")

    def finish(self, timeout_s: float = 120.0) -> list[ClientResult]:
        self._tell("stop")
        out: list[ClientResult] = []
        for p in self.procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            p.wait(timeout=timeout_s)
            if not line.startswith("result "):
                progress(f"load client {p.pid} sent no result")
                continue
            raw = json.loads(line[len("result ") :])
            out.append(
                ClientResult(
                    connected=raw["connected"],
                    failed=raw["failed"],
                    messages=raw["messages"],
                    probe_messages=raw["timed"],
                    frames=raw["frames"],
                    gap_frames=raw["gap_frames"],
                    max_ms=raw["max_ms"],
                    cpu_s=raw["cpu_s"],
                    hist=raw["hist"] or [],
                    errors=raw["errors"] or [],
                )
            )
        self.token_file.unlink(missing_ok=True)
        return out


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


async def produce(env: dict[str, str], rate: int, seconds: float) -> int:
    """Publish ``rate`` messages/s of the mix for ``seconds``; return how many were sent."""
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
                futures.append(
                    await producer.send(topic, value, key=key, timestamp_ms=int(now * 1000))
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


# -- one step -----------------------------------------------------------------------------------


def percentile_from_hist(hist: list[int], total: int, p: float) -> float:
    if total == 0:
        return float("nan")
    rank = max(1, int(-(-p / 100 * total // 1)))
    seen = 0
    for i, c in enumerate(hist):
        seen += c
        if seen >= rank:
            return (i + 0.5) * BIN_MS
    return MAX_MS


@dataclass
class StepResult:
    clients: int
    connected: int
    seconds: float
    sent: int
    messages: int
    timed: int
    frames: int
    gap_frames: int
    p50: float
    p95: float
    p99: float
    max_ms: float
    cpu_s: float
    client_cpu_s: float
    errors: list[str]

    @property
    def delivered_per_s(self) -> float:
        return self.messages / self.seconds

    def passes(self, rate: int) -> bool:
        """p99 within the goal and (nearly) everything delivered."""
        expected = rate * self.connected * self.seconds
        return self.p99 <= GOAL_P99_MS and self.messages >= 0.99 * expected

    @property
    def per_core(self) -> float:
        return self.messages / self.cpu_s if self.cpu_s > 0 else float("nan")


async def run_step(
    args: argparse.Namespace, env: dict[str, str], running: Sequence[Server], clients: int
) -> StepResult:
    token = dev_token("bench")
    procs = max(args.client_procs, len(running))
    fleet: ClientFleet | GoFleet
    if args.clients == "go":
        fleet = GoFleet.start([b.url for b in running], clients, procs, token, args.go_probes)
    else:
        fleet = ClientFleet.start(
            [b.url for b in running],
            clients,
            procs,
            True,
            None if args.compression == "none" else args.compression,
            token,
            args.probes,
        )
    loop = asyncio.get_running_loop()
    connected = await loop.run_in_executor(None, fleet.wait_connected)
    progress(f"{connected}/{clients} clients connected and subscribed")
    await asyncio.sleep(1.0)
    measure_from = time.time() + args.warmup
    fleet.begin(measure_from)
    producing = asyncio.create_task(produce(env, args.rate, args.warmup + args.seconds))
    await asyncio.sleep(max(0.0, measure_from - time.time()))
    cpu0 = sum(cpu_seconds(b.pid) for b in running)
    t0 = time.monotonic()
    sent = await producing
    await asyncio.sleep(1.0)  # drain
    cpu_s = sum(cpu_seconds(b.pid) for b in running) - cpu0
    window = time.monotonic() - t0
    results = await loop.run_in_executor(None, fleet.finish)
    hist = [0] * N_BINS
    for r in results:
        it = iter(r.hist)
        for i, c in zip(it, it, strict=True):
            hist[i] += c
    total = sum(r.messages for r in results)
    timed = sum(r.probe_messages for r in results)
    errors = [e for r in results for e in r.errors]
    return StepResult(
        clients=clients,
        connected=connected,
        seconds=args.seconds,
        sent=sent,
        messages=total,
        timed=timed,
        frames=sum(r.frames for r in results),
        gap_frames=sum(r.gap_frames for r in results),
        p50=percentile_from_hist(hist, timed, 50),
        p95=percentile_from_hist(hist, timed, 95),
        p99=percentile_from_hist(hist, timed, 99),
        max_ms=max((r.max_ms for r in results), default=float("nan")),
        cpu_s=cpu_s * args.seconds / window if window > 0 else cpu_s,  # per measured second
        client_cpu_s=sum(r.cpu_s for r in results),
        errors=errors,
    )


def print_step(s: StepResult, rate: int) -> None:
    expected = rate * s.connected
    share = s.delivered_per_s / expected if expected else float("nan")
    print(
        f"  {s.clients:>6} {s.connected:>6} {s.delivered_per_s:>12,.0f} {share:>6.0%}"
        f" {s.p50:>8.1f} {s.p95:>8.1f} {s.p99:>8.1f} {s.max_ms:>9.1f} {s.gap_frames:>6}"
        f" {s.cpu_s:>7.1f} {s.cpu_s / s.seconds:>5.0%} {s.per_core:>12,.0f}"
        f" {s.client_cpu_s:>8.1f}",
        flush=True,
    )
    for e in s.errors[:3]:
        print(f"         client error: {e}", flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", default="100,250,500,1000", help="client counts, comma separated")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per step")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per step")
    p.add_argument("--rate", type=int, default=2000, help="derived messages/s into Kafka")
    p.add_argument("--bridges", type=int, choices=(1, 2), default=1, help="bridge processes")
    p.add_argument(
        "--server",
        choices=("bridge", "floor"),
        default="bridge",
        help="bridge: rtx-analytics bridge; floor: bench/fanoutfloor, a Go hub doing only the "
        "fan-out (no Kafka, no Python), to see what this machine allows (bench/floor.py)",
    )
    p.add_argument(
        "--floor-threads", type=int, default=2, help="GOMAXPROCS of the floor server (default 2)"
    )
    p.add_argument("--client-procs", type=int, default=2, help="client processes per step")
    p.add_argument(
        "--probes", type=int, default=25, help="connections per client process that time messages"
    )
    p.add_argument(
        "--go-probes",
        type=int,
        default=100,
        help="connections per Go client process that time every message (the others count)",
    )
    p.add_argument(
        "--clients",
        choices=("go", "python"),
        default="go" if shutil.which("go") else "python",
        help="load client: go (bench/loadclient, cheap; default when go is on PATH) or python "
        "(websockets; about half a core per 100 connections)",
    )
    p.add_argument(
        "--compression",
        choices=("deflate", "none"),
        default="deflate",
        help="what clients offer (browsers offer permessage-deflate; default deflate)",
    )
    return p.parse_args()


async def main(args: argparse.Namespace) -> None:
    steps = [int(x) for x in args.steps.split(",") if x.strip()]
    prefix = f"bench.bridge.{uuid.uuid4().hex[:8]}."
    env = bench_env(prefix)
    nofile = raise_nofile()
    print(f"machine: {machine()}; RLIMIT_NOFILE {nofile}", flush=True)
    print(
        f"bridge load: {args.bridges if args.server == 'bridge' else 'no'} bridge(s)"
        f"{' (the Go fan-out floor instead)' if args.server == 'floor' else ''}, "
        f"{args.client_procs} client processes, "
        f"rate {args.rate}/s, {args.warmup:g}s warm-up + {args.seconds:g}s measured per step, "
        f"client compression {args.compression}, broker {env['KAFKA_BOOTSTRAP_SERVERS']}, "
        f"prefix {prefix}",
        flush=True,
    )
    await create_topics(env)
    rows: list[StepResult] = []
    try:
        # The bridge accepts permessage-deflate only when told to (RTX_BRIDGE_COMPRESSION).
        server_side = {"RTX_BRIDGE_COMPRESSION": args.compression}
        servers: contextlib.AbstractContextManager[Sequence[Server]]
        if args.server == "floor":
            from floor import floor_servers  # the sibling script (bench/ is sys.path[0])

            servers = floor_servers(env, args.rate, args.floor_threads)
        else:
            servers = bridges(env, args.bridges, max(steps) * 2 + 100, server_side)
        with servers as running:
            print(
                f"  {'step':>6} {'conn':>6} {'delivered/s':>12} {'ofexp':>6} {'p50 ms':>8}"
                f" {'p95 ms':>8} {'p99 ms':>8} {'max ms':>9} {'gaps':>6} {'cpu s':>7} {'cpu':>5}"
                f" {'msg/cpu-s':>12} {'cli cpu':>8}",
                flush=True,
            )
            for clients in steps:
                progress(f"step: {clients} clients")
                step = await run_step(args, env, running, clients)
                rows.append(step)
                print_step(step, args.rate)
    finally:
        await delete_topics(env)
    over = [r.clients for r in rows if not r.passes(args.rate)]
    print(
        "columns: cpu = bridge CPU / wall time (100% = one core; summed over bridges); "
        "msg/cpu-s = delivered data messages per bridge CPU-second; cli cpu = CPU seconds of all "
        "client processes while measuring; gaps = frames holding a gap (drop) message",
        flush=True,
    )
    print(
        f"p99 passes {GOAL_P99_MS:g} ms (or < 99% delivered) at: "
        f"{over[0] if over else 'none of the steps'} clients ({args.bridges} bridge(s))",
        flush=True,
    )
    at_goal = [r for r in rows if r.clients == GOAL_CLIENTS]
    verdict = (
        "not measured"
        if not at_goal
        else ("met" if at_goal[0].passes(args.rate) else f"missed (p99 {at_goal[0].p99:.1f} ms)")
    )
    print(
        f"goal: {GOAL_CLIENTS} clients on all channels, p99 <= {GOAL_P99_MS:g} ms "
        f"Kafka timestamp -> client receipt at {args.rate} msgs/s: {verdict}",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
