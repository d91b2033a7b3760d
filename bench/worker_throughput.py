"""Worker throughput: one ``rtx-analytics worker`` process, input topics to derived topics, on a
local broker, against the raw consumer ceiling measured in the same run.

    python bench/worker_throughput.py [--events 200000] [--rounds 1] [--keep-topics] [--log-dir D]

Each round uses topics and a consumer group of its own (fresh ``RTX_TOPIC_PREFIX`` and
``RTX_APP_ID``), applies the topic table, and pre-loads N input events with the SDK in a
realistic mix: positions ~45% (opens, updates and closes of a pool of position ids), routing
decisions ~45%, quotes ~8%, LP status ~1%, service alerts ~1%. Then:

1. ceiling: a plain AIOKafkaConsumer (no group, all input partitions assigned, from the start)
   that ``getmany()``s and decodes every value with ``schemas.codec`` until it has read all N;
   timed from its first ``getmany()`` call. No processing, nothing written.
2. worker: ``python -m streams.cli worker`` is started as a subprocess *after* the inputs are
   loaded; the bench polls the committed offsets of its consumer group (committed only once a
   batch's outputs are acknowledged, so committed = processed) against the end offsets of the
   input topics. Start-up is excluded by measuring from the first commit: the *sustained*
   rate is the slope of the committed offsets from the first commit to the last commit before
   all N are committed (Faust commits every 10,000 acks or 2.8 s, so the commit that completes
   the run can come up to 2.8 s after the last batch). The plain "first commit -> all
   committed" rate, start-up time and a cross-check from the derived output (pass-through
   routing decisions in routing.metrics: count, and their Kafka CreateTime span) are printed
   too.

The worker gets ``RTX_EXPOSURE_LIMIT_USD=1e9`` (the generated book stays well below it, so
alert rules see a normal day) and ``RTX_WORKER_METRICS_PORT=0``; everything else comes from the
environment as for any worker (batching: ``RTX_WORKER_BATCH_MAX``, ``RTX_WORKER_BATCH_WITHIN_MS``).
Its log goes to a temporary directory (``--log-dir`` keeps it); the round's topics are deleted at
the end (``--keep-topics`` keeps them). Progress lines go to stderr. The worker is stopped with
SIGTERM (SIGKILL after 20 s).

Needs a broker: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092; ``rtx-analytics kafka start``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from schemas.codec import default_codec
from streams.sdk import Publisher
from streams.settings import KafkaSettings
from streams.simulator.samples import LPS, MIDS
from streams.topics import BY_LOGICAL, TOPICS, apply_topics, topic_name

ROOT = Path(__file__).resolve().parents[1]
INPUTS = ("positions", "routing_decisions", "quotes", "lp_status", "alerts_inbound")
# Share of each input in the mix, in percent (see the module docstring).
MIX = (("position", 45), ("routing_decision", 45), ("quote", 8), ("lp_status", 1), ("alert", 1))
EXPOSURE_LIMIT_USD = "1e9"
GOAL_EVENTS_S = 20_000

Sample = tuple[str, dict[str, Any]]


# --- input events -----------------------------------------------------------------------------


class EventMix:
    """A deterministic stream of SDK calls ``(method, kwargs)`` in the mix above.

    Positions come from a pool of ``position_ids`` ids: an id not open is opened (version + 1),
    an open one is updated (new volume and current price, version + 1) or, one time in four,
    closed; so the book holds a few thousand open positions and every event changes it.
    """

    def __init__(self, seed: int = 7, position_ids: int = 5_000, tag: str = "bench") -> None:
        self.rng = random.Random(seed)
        self.tag = tag
        self.position_ids = position_ids
        self.symbols = list(MIDS)
        self.mids = dict(MIDS)
        self.open: dict[int, dict[str, Any]] = {}
        self.versions: dict[int, int] = {}
        self.orders = 0
        self.alerts = 0
        self.kinds = [kind for kind, _ in MIX]
        self.cum_weights = list(itertools.accumulate(weight for _, weight in MIX))

    def __iter__(self) -> Iterator[Sample]:
        return self

    def __next__(self) -> Sample:
        kind = self.rng.choices(self.kinds, cum_weights=self.cum_weights)[0]
        return kind, getattr(self, f"_{kind}")()

    def _mid(self, symbol: str) -> float:
        # A small random walk, so quotes and prices move.
        mid = self.mids[symbol] * (1 + self.rng.gauss(0, 0.0002))
        self.mids[symbol] = mid
        return mid

    def _volume(self, symbol: str) -> float:
        if symbol == "XAUUSD":
            return float(self.rng.choice((1, 5, 10, 25)))
        return float(self.rng.choice((1_000, 5_000, 10_000, 25_000, 50_000, 100_000)))

    def _position(self) -> dict[str, Any]:
        i = self.rng.randrange(self.position_ids)
        version = self.versions.get(i, 0) + 1
        self.versions[i] = version
        prev = self.open.get(i)
        if prev is None:
            symbol = self.rng.choice(self.symbols)
            abook = self.rng.random() < 0.4
            state = {
                "position_id": f"{self.tag}-pos-{i}",
                "account_id": f"acc-{self.rng.randint(1, 500)}",
                "symbol": symbol,
                "side": self.rng.choice(("BUY", "SELL")),
                "volume": self._volume(symbol),
                "open_price": round(self._mid(symbol), 6),
                "book": "ABOOK" if abook else "BBOOK",
                "lp": self.rng.choice(LPS) if abook else None,
            }
            self.open[i] = state
            return {**state, "version": version}
        if self.rng.random() < 0.25:
            del self.open[i]
            return {**prev, "volume": 0.0, "status": "CLOSED", "version": version}
        prev["volume"] = self._volume(prev["symbol"])
        current = round(self._mid(prev["symbol"]), 6)
        return {**prev, "current_price": current, "version": version}

    def _routing_decision(self) -> dict[str, Any]:
        self.orders += 1
        symbol = self.rng.choice(self.symbols)
        mid = self._mid(symbol)
        abook = self.rng.random() < 0.4
        return {
            "symbol": symbol,
            "side": self.rng.choice(("BUY", "SELL")),
            "volume": self._volume(symbol),
            "decision": "ABOOK" if abook else "BBOOK",
            "lp": self.rng.choice(LPS) if abook else None,
            "execution_time_ms": round(self.rng.lognormvariate(3, 0.5), 2),
            "spread": round(mid * 0.0001, 7),
            "slippage": round(self.rng.gauss(0, mid * 0.00002), 7),
            "price": round(mid, 6),
            "order_id": f"{self.tag}-ord-{self.orders}",
            "account_id": f"acc-{self.rng.randint(1, 500)}",
            "lp_rejected": abook and self.rng.random() < 0.01,
        }

    def _quote(self) -> dict[str, Any]:
        symbol = self.rng.choice(self.symbols)
        mid = self._mid(symbol)
        return {"symbol": symbol, "bid": mid * 0.99995, "ask": mid * 1.00005}

    def _lp_status(self) -> dict[str, Any]:
        return {
            "lp_name": self.rng.choice(LPS),
            "status": "connected",
            "avg_spread": round(self.rng.uniform(0.00005, 0.0002), 6),
            "execution_quality": round(self.rng.uniform(0.9, 0.99), 3),
            "latency_ms": round(self.rng.uniform(5, 60), 1),
            "quotes_per_second": round(self.rng.uniform(50, 400), 1),
            "reject_rate": round(self.rng.uniform(0, 0.03), 4),
            "uptime": 100.0,
        }

    def _alert(self) -> dict[str, Any]:
        self.alerts += 1
        token = f"{self.tag}-alert-{self.alerts}"
        return {
            "severity": "info",
            "category": "system",
            "title": f"Bench alert {token}",
            "message": f"Synthetic service alert {token}",
            "source": "bench",
            "action_items": ["No action needed: benchmark data"],
        }


def progress(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


async def create_topics(settings: KafkaSettings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await apply_topics(admin, settings, out=lambda _line: None)
    finally:
        await admin.close()


async def delete_topics(settings: KafkaSettings) -> None:
    """Best effort: the run's topics are of no use afterwards and only fill the broker's disk."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        await admin.start()
        await admin.delete_topics([t.name(settings.topic_prefix) for t in TOPICS])
    except Exception as exc:  # noqa: BLE001 - cleanup only
        progress(f"could not delete the run's topics: {exc!r}")
    finally:
        await admin.close()


def input_partitions(settings: KafkaSettings) -> list[TopicPartition]:
    return [
        TopicPartition(topic_name(logical, settings), p)
        for logical in INPUTS
        for p in range(BY_LOGICAL[logical].partition_count(settings))
    ]


async def load(settings: KafkaSettings, n: int, seed: int) -> dict[str, int]:
    """Publish N events of the mix through the SDK; returns how many of each kind."""
    counts: dict[str, int] = {}
    mix = EventMix(seed=seed, tag=settings.topic_prefix.rstrip("."))
    start = time.perf_counter()
    async with Publisher(settings) as pub:
        for i, (method, kwargs) in enumerate(mix, start=1):
            await getattr(pub, method)(**kwargs)
            counts[method] = counts.get(method, 0) + 1
            if i % 50_000 == 0:
                progress(f"loaded {i:,}/{n:,}")
            if i >= n:
                break
    progress(f"loaded {n:,} events in {time.perf_counter() - start:.1f} s: {counts}")
    return counts


async def end_offsets(settings: KafkaSettings) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(input_partitions(settings))
        return ends
    finally:
        await consumer.stop()


# --- the ceiling ------------------------------------------------------------------------------


async def run_ceiling(settings: KafkaSettings, n: int) -> float:
    """Raw aiokafka getmany() + Avro decode of every value, no group, no processing."""
    codec = default_codec()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tps = input_partitions(settings)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        read = 0
        next_report = 50_000
        start = time.perf_counter()
        while read < n:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for r in records:
                    codec.decode(r.value)
                read += len(records)
            if read >= next_report:
                progress(f"ceiling: read {read:,}/{n:,}")
                next_report += 50_000
        return n / (time.perf_counter() - start)
    finally:
        await consumer.stop()


# --- the worker -------------------------------------------------------------------------------


class WorkerProcess:
    """``python -m streams.cli worker`` in a session of its own, its output in a log file."""

    def __init__(self, settings: KafkaSettings, app_id: str, workdir: Path, **env: str) -> None:
        self.app_id = app_id
        self.log_path = workdir / f"{app_id}.log"
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "RTX_TOPIC_PREFIX": settings.topic_prefix,
            "RTX_INPUT_PARTITIONS": str(settings.input_partitions),
            "RTX_APP_ID": app_id,
            "RTX_WORKER_METRICS_PORT": "0",
            "RTX_WORKER_DATA_DIR": str(workdir / "worker-data"),
            "RTX_EXPOSURE_LIMIT_USD": EXPOSURE_LIMIT_USD,
            **env,
        }
        self.proc: asyncio.subprocess.Process | None = None
        self._log: TextIO | None = None
        self.started_at = 0.0

    async def start(self) -> None:
        self._log = self.log_path.open("a")
        self.started_at = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "streams.cli",
            "worker",
            "--loglevel",
            "info",
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        progress(f"worker {self.app_id}: pid {self.proc.pid}, log {self.log_path}")

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.returncode is not None:
            raise SystemExit(
                f"worker exited with code {self.proc.returncode}; log {self.log_path}:\n"
                + self.log_tail()
            )

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    async def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM to the worker's process group, SIGKILL if it is still there after grace_s."""
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), grace_s)
            except TimeoutError:
                progress(f"worker {proc.pid} still running {grace_s:g} s after SIGTERM: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclasses.dataclass
class WorkerRun:
    to_first_commit_s: float  # worker spawned -> first commit seen
    committed_first: int  # events committed at the first commit seen
    sustained: float | None  # slope of committed offsets, first commit -> last partial commit
    first_to_all: float  # (N - committed_first) / (first commit -> all committed)
    commits: int  # distinct commits seen

    @property
    def rate(self) -> float:
        return self.sustained if self.sustained is not None else self.first_to_all

    @property
    def startup_s(self) -> float:
        """Spawn -> first commit, less the time the events committed then took at ``rate``."""
        return self.to_first_commit_s - self.committed_first / self.rate


async def run_worker(
    settings: KafkaSettings, app_id: str, workdir: Path, ends: dict[TopicPartition, int]
) -> WorkerRun:
    n = sum(ends.values())
    worker = WorkerProcess(settings, app_id, workdir)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    await worker.start()
    try:
        points: list[tuple[float, int]] = []  # (time seen, committed) at each change
        deadline = time.monotonic() + 120 + n / 1_000
        last_report = 0.0
        while True:
            try:
                offsets = await admin.list_consumer_group_offsets(f"{app_id}.inputs")
            except KafkaError as exc:
                if not exc.retriable:  # e.g. no coordinator yet: __consumer_offsets is created
                    raise
                offsets = {}
            now = time.monotonic()
            committed = sum(
                min(md.offset, ends[tp])
                for tp, md in offsets.items()
                if tp in ends and md.offset > 0
            )
            if committed > 0 and (not points or committed != points[-1][1]):
                points.append((now, committed))
            if committed >= n:
                break
            worker.check_alive()
            if now > deadline:
                raise SystemExit(
                    f"worker committed {committed:,}/{n:,} before the deadline; log "
                    f"{worker.log_path}:\n{worker.log_tail()}"
                )
            if now - last_report >= 2:
                last_report = now
                progress(f"worker: committed {committed:,}/{n:,}")
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
        await worker.stop()
    if len(points) < 2:
        raise SystemExit("all events were committed at the first commit seen: use more --events")
    (t_first, c_first), (t_done, _) = points[0], points[-1]
    sustained = None
    if len(points) >= 3:  # first commit, at least one partial commit, the completing commit
        t_last, c_last = points[-2]
        sustained = (c_last - c_first) / (t_last - t_first)
    return WorkerRun(
        to_first_commit_s=t_first - worker.started_at,
        committed_first=c_first,
        sustained=sustained,
        first_to_all=(n - c_first) / (t_done - t_first),
        commits=len(points),
    )


async def routing_output_check(settings: KafkaSettings) -> tuple[int, float | None]:
    """Pass-through routing decisions in routing.metrics: how many, and how many per second
    between the first and the last one's CreateTime (set by the worker's producer)."""
    codec = default_codec()
    fingerprint = codec.schema("RoutingDecision").fingerprint
    topic = topic_name("routing_metrics", settings)
    tps = [
        TopicPartition(topic, p)
        for p in range(BY_LOGICAL["routing_metrics"].partition_count(settings))
    ]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        count, first, last = 0, None, None
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for r in records:
                    if r.value is not None and r.value[2:10] == fingerprint:
                        count += 1
                        first = r.timestamp if first is None else min(first, r.timestamp)
                        last = r.timestamp if last is None else max(last, r.timestamp)
        rate = None
        if first is not None and last is not None and last > first:
            rate = (count - 1) / ((last - first) / 1000)
        return count, rate
    finally:
        await consumer.stop()


# --- main -------------------------------------------------------------------------------------


async def run_round(
    base: KafkaSettings, n: int, r: int, seed: int, args: argparse.Namespace
) -> tuple[float, WorkerRun]:
    run_id = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(base, topic_prefix=f"bench-worker-{run_id}.")
    app_id = f"bench-worker-{run_id}"
    await create_topics(settings)
    try:
        counts = await load(settings, n, seed)
        ends = await end_offsets(settings)
        if sum(ends.values()) != n:
            raise SystemExit(f"input topics hold {sum(ends.values()):,} records, expected {n:,}")
        ceiling = await run_ceiling(settings, n)
        print(f"  round {r}: ceiling (getmany + decode)       {ceiling:>9,.0f} events/s")
        if args.log_dir:
            run = await run_worker(settings, app_id, Path(args.log_dir), ends)
        else:
            with tempfile.TemporaryDirectory(prefix="bench-worker-") as tmp:
                run = await run_worker(settings, app_id, Path(tmp), ends)
        if run.sustained is not None:
            print(f"  round {r}: worker sustained (commit slope) {run.sustained:>9,.0f} events/s")
        else:
            print(f"  round {r}: worker sustained: too few commits to take a slope")
        print(
            f"  round {r}: worker first commit -> all       {run.first_to_all:>9,.0f} events/s "
            f"({run.commits} commits seen; first after {run.to_first_commit_s:.1f} s with "
            f"{run.committed_first:,} committed, so start-up ~{run.startup_s:.1f} s)"
        )
        passed, routing_rate = await routing_output_check(settings)
        expected = counts.get("routing_decision", 0)
        span = f", {routing_rate:,.0f} decisions/s by CreateTime" if routing_rate else ""
        check = "ok" if passed >= expected else "MISSING"
        print(f"  round {r}: routing.metrics pass-through {passed:,}/{expected:,} {check}{span}")
        return ceiling, run
    finally:
        if args.keep_topics:
            progress(f"kept the round's topics: {settings.topic_prefix}*")
        else:
            await delete_topics(settings)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep-topics", action="store_true", help="keep each round's topics for inspection"
    )
    parser.add_argument("--log-dir", help="keep the worker logs here (default: a temporary dir)")
    args = parser.parse_args()
    if args.log_dir:
        Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    return args


async def main(args: argparse.Namespace) -> None:

    base = KafkaSettings.from_env()
    print(
        f"broker {base.bootstrap_servers}; {args.events:,} input events x {args.rounds} rounds "
        f"(mix: {', '.join(f'{k} {w}%' for k, w in MIX)}; {base.input_partitions} partitions)"
    )
    ceilings: list[float] = []
    runs: list[WorkerRun] = []
    for r in range(1, args.rounds + 1):
        ceiling, run = await run_round(base, args.events, r, args.seed + r, args)
        ceilings.append(ceiling)
        runs.append(run)

    ceiling_m = statistics.median(ceilings)
    worker_m = statistics.median(x.rate for x in runs)
    how = (
        "slope of committed offsets from the first commit to the last one before all were "
        "committed (excludes start-up and the wait for Faust's 2.8 s commit timer at the end)"
    )
    if any(x.sustained is None for x in runs):
        how += "; rounds with too few commits for a slope: first commit -> all committed"
    print()
    print(f"machine: {machine()}")
    print(f"events per round:             {args.events:>9,}")
    print(f"ceiling median:               {ceiling_m:>9,.0f} events/s")
    print(f"worker median:                {worker_m:>9,.0f} events/s")
    print(f"  measured as: {how}")
    print(
        "worker first commit -> all:   "
        f"{statistics.median(x.first_to_all for x in runs):>9,.0f} events/s"
    )
    startup = statistics.median(x.startup_s for x in runs)
    print(f"worker start-up median:       {startup:>9.1f} s (to first commit, less its events)")
    print(f"ratio worker / ceiling:       {worker_m / ceiling_m:>9.2f}")
    print(f"goal: worker >= {GOAL_EVENTS_S:,} events/s sustained (one worker, local broker)")


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
