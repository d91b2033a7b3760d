"""The load clients of bench/bridge_load.py and bench/bridge_memory.py: fleets of WebSocket
connections that subscribe to every channel and time or count what they receive.

- :class:`ClientFleet`: Python client processes (multiprocessing, spawn; ``websockets``), about
  half a core per 100 connections;
- :class:`GoFleet`: ``bench/loadclient`` (Go) processes doing the same work for a fraction of
  the CPU.

Probe connections time every data message from its ``timestamp`` into a histogram of
:data:`BIN_MS` bins; the others count the data messages of the frames they receive.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from queue import Empty
from typing import TYPE_CHECKING, Any

from loadkit import CHANNELS, ROOT, progress, raise_nofile

BIN_MS = 0.1
MAX_MS = 60_000.0
N_BINS = int(MAX_MS / BIN_MS) + 1
# Data messages only: extension messages (gap, error, acks) carry the server's time instead.
TS_RE = re.compile(
    rb'\{"type":"(?:routing-decision|routing-summary|lp-metrics|exposure-change|alert)",'
    rb'"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})Z"'
)
GAP_RE = re.compile(rb'"type":"gap"')

if TYPE_CHECKING:  # websockets is imported where the connections are opened
    from websockets.asyncio.client import ClientConnection


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


async def _open_all(job: ClientJob, res: ClientResult) -> list[ClientConnection]:
    """The job's connections, opened ``connect_concurrency`` at a time and subscribed; a failed
    one is counted (and its error kept, the first five) in ``res``."""
    from websockets.asyncio.client import connect

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
    return conns


class _Readers:
    """What the connections of one client process receive: timed by probes, counted by the
    others, into one :class:`ClientResult` and one latency histogram."""

    def __init__(self, res: ClientResult) -> None:
        self.res = res
        self.hist = [0] * N_BINS
        self.stamps = Timestamps()
        self.start = float("inf")  # set once the parent says go

    async def probe(self, ws: ClientConnection) -> None:
        res, hist, stamps = self.res, self.hist, self.stamps
        with contextlib.suppress(Exception):
            while True:
                frame = await ws.recv(decode=False)
                now = time.time()
                res.frames += 1
                if GAP_RE.search(frame):
                    res.gap_frames += 1
                for whole, micros in TS_RE.findall(frame):
                    ts = stamps.seconds(whole, micros)
                    if ts < self.start:
                        continue  # snapshots and warm-up
                    ms = (now - ts) * 1000.0
                    res.messages += 1
                    res.probe_messages += 1
                    if ms > res.max_ms:
                        res.max_ms = ms
                    hist[min(N_BINS - 1, max(0, int(ms / BIN_MS)))] += 1

    async def count(self, ws: ClientConnection) -> None:
        # Cheaper than timing: counts data messages of frames received after the warm-up.
        res = self.res
        with contextlib.suppress(Exception):
            while True:
                frame = await ws.recv(decode=False)
                res.frames += 1
                if GAP_RE.search(frame):
                    res.gap_frames += 1
                if time.time() >= self.start:
                    res.messages += len(TS_RE.findall(frame))


async def _client_main(
    job: ClientJob,
    ready: Any,
    go: MpEvent,
    stop: MpEvent,
    measure_from: Any,
    results: Any,
) -> None:
    res = ClientResult()
    conns = await _open_all(job, res)
    res.connected = len(conns)
    ready.put(len(conns))
    readers = _Readers(res)

    def reader(i: int, ws: ClientConnection) -> Coroutine[Any, Any, None]:
        return readers.probe(ws) if i < job.probes else readers.count(ws)

    tasks = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(conns)]
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, go.wait)
    readers.start = measure_from.value
    cpu0 = time.process_time()
    await loop.run_in_executor(None, stop.wait)
    res.cpu_s = time.process_time() - cpu0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    res.hist = [x for i, c in enumerate(readers.hist) if c for x in (i, c)]
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
    ``protocol`` ``centrifugo``: Centrifugo's client protocol (the token in a connect command).
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
    def start(
        cls,
        urls: list[str],
        total: int,
        procs: int,
        token: str,
        probes: int,
        protocol: str = "bridge",
    ) -> GoFleet:
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
                        "--protocol",
                        protocol,
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
