"""Shared machinery of the fault tests (``tests/reliability/test_faults_*.py``).

- :class:`Load`: continuous load through the producer SDK at a fixed rate (position updates,
  LP status flips, service alerts), remembering every event the broker acknowledged;
- :func:`read_inputs`: reads the input topics back, to check that no acknowledged event is lost
  and to compute the ground truth from what Kafka actually holds;
- :func:`expected_alert_ids`: the alert ids the inputs must produce, computed independently of
  the worker (the id recipe of the contract, applied to the service alerts and LP flips);
- :class:`OwnKafka`: a broker (or a 3-node cluster) of the test's own, to restart or kill;
- :class:`BridgeProcess`: ``rtx-analytics bridge`` in dev mode as a real subprocess.

The worker process, topic reader and position stream come from the worker's own tests
(``tests/streams/worker/test_worker_kafka.py``), so there is one ground-truth helper, not two.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from websockets.asyncio.client import connect

from infra import kafka_local
from streams.alerts.engine import alert_id
from streams.sdk import Delivery, DeliveryError, Publisher
from streams.settings import KafkaSettings
from streams.topics import BY_LOGICAL, apply_topics, topic_name
from tests.helpers.worker import (
    MIDS,
    TopicReader,
    decoded,
    final_state,
    ground_truth,
    position_stream,
    publish_quotes,
)

LPS = ("LP-A", "LP-B")
LOADED_TOPICS = ("positions", "lp_status", "alerts_inbound")


def log(line: str) -> None:
    """Progress of a fault test (shown with ``pytest -s`` and in the chaos runner's output)."""
    print(f"[faults {time.strftime('%H:%M:%S')}] {line}", flush=True)


# --- load through the SDK ---------------------------------------------------------------------


@dataclass
class Load:
    """``events`` position updates at ``rate`` events/s through one SDK Publisher, with an LP
    status flip (connected/disconnected, alternating per LP) every ``lp_every`` events and a
    service alert every ``alert_every`` events. Event ids and times of the LP and alert events
    are chosen here, so their alert ids can be computed independently."""

    settings: KafkaSettings
    events: int
    rate: float
    seed: int = 7
    positions: int = 500
    lp_every: int = 400
    alert_every: int = 700
    sent: int = 0
    acked: dict[str, set[str]] = field(default_factory=dict)
    failed: int = 0
    first_error: BaseException | None = None
    finished_at: float = 0.0
    _deliveries: list[tuple[str, Delivery]] = field(default_factory=list)
    _progress: asyncio.Event = field(default_factory=asyncio.Event)

    def worker_env(self) -> dict[str, str]:
        """A worker's exposure limit near this load's final exposure: utilisation climbs
        through 75/90/100 % during the run, so exposure alerts are raised (and resolved). The
        ground truth is the gross figure, so the limit is measured on the gross basis."""
        limit = ground_truth(
            final_state(position_stream(self.seed, self.events, self.positions)), MIDS
        )
        return {"RTX_EXPOSURE_LIMIT_USD": f"{limit:.0f}", "RTX_EXPOSURE_BASIS": "gross"}

    @property
    def acked_count(self) -> int:
        return sum(len(ids) for ids in self.acked.values())

    async def reached(self, fraction: float) -> None:
        """Wait until ``fraction`` of the events were handed to the SDK."""
        while self.sent < fraction * self.events:
            self._progress.clear()
            await self._progress.wait()

    async def run(self) -> None:
        evs = position_stream(self.seed, self.events, self.positions)
        rng = random.Random(self.seed)  # noqa: S311 - test data
        lp_connected = dict.fromkeys(LPS, True)
        started = paced_from = time.monotonic()
        paced_at = 0
        log(f"load: {self.events} position events at {self.rate:g}/s (+ LP flips, alerts)")
        async with Publisher(self.settings) as pub:
            await publish_quotes(pub)
            await pub.flush()
            for i, ev in enumerate(evs):
                self._deliveries.append(("positions", await pub.position(**ev)))
                if i % self.lp_every == self.lp_every - 1:
                    lp = rng.choice(LPS)
                    lp_connected[lp] = not lp_connected[lp]
                    status = "connected" if lp_connected[lp] else "disconnected"
                    d = await pub.lp_status(lp, status, 0.0001, 0.95, 12.0, 100, 0.0, 99.9)
                    self._deliveries.append(("lp_status", d))
                if i % self.alert_every == self.alert_every - 1:
                    d = await pub.alert("warning", "system", "Chaos", f"load event {i}", "Chaos")
                    self._deliveries.append(("alerts_inbound", d))
                self.sent = i + 1
                if i % 50 == 49:
                    self._progress.set()
                    ahead = paced_from + (self.sent - paced_at) / self.rate - time.monotonic()
                    if ahead > 0:
                        await asyncio.sleep(ahead)
                    elif ahead < -0.5:  # held up by a fault: go on at the rate, no burst
                        paced_from, paced_at = time.monotonic(), self.sent
                if i % 5000 == 4999:
                    log(f"load: {self.sent} events handed to the SDK")
            try:
                await pub.flush()
            except DeliveryError as exc:
                log(f"load: flush reported {exc.failed} unacknowledged event(s): {exc.first!r}")
        self.finished_at = time.time()
        self._progress.set()
        for logical, d in self._deliveries:
            try:
                await d.wait()
            except DeliveryError as exc:
                self.failed += 1
                self.first_error = self.first_error or exc.first
            else:
                self.acked.setdefault(logical, set()).add(d.event_id)
        took = time.monotonic() - started
        log(
            f"load: {len(self._deliveries)} events in {took:.1f} s "
            f"({len(self._deliveries) / took:,.0f}/s): {self.acked_count} acknowledged, "
            f"{self.failed} not acknowledged"
        )


# --- reading the inputs back ------------------------------------------------------------------


async def read_topic(settings: KafkaSettings, logical: str, timeout_s: float = 120) -> list[Any]:
    """Every record of a topic (all partitions, from the start to the current end)."""
    topic = topic_name(logical, settings)
    tps = [TopicPartition(topic, p) for p in range(BY_LOGICAL[logical].partition_count(settings))]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    records: list[Any] = []
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        async with asyncio.timeout(timeout_s):
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=500, max_records=20_000)
                for tp, recs in batch.items():
                    records.extend(r for r in recs if r.offset < ends[tp])
    finally:
        await consumer.stop()
    return records


@dataclass
class Inputs:
    """What the input topics hold: event ids per topic, and the decoded records in order."""

    ids: dict[str, set[str]]
    records: dict[str, list[dict[str, Any]]]

    def lost(self, acked: dict[str, set[str]]) -> int:
        """Acknowledged events that are not in their topic."""
        return sum(len(ids - self.ids.get(logical, set())) for logical, ids in acked.items())

    def exposure_truth(self) -> float:
        """Gross USD exposure of the positions held, by the highest version of each position."""
        latest: dict[str, dict[str, Any]] = {}
        for r in self.records["positions"]:
            held = latest.get(r["positionId"])
            if held is None or r["version"] > held["version"]:
                latest[r["positionId"]] = r
        return ground_truth(latest, MIDS)


async def read_inputs(settings: KafkaSettings) -> Inputs:
    ids: dict[str, set[str]] = {}
    records: dict[str, list[dict[str, Any]]] = {}
    for logical in LOADED_TOPICS:
        recs = sorted(await read_topic(settings, logical), key=lambda r: (r.partition, r.offset))
        records[logical] = [decoded(r) for r in recs]
        ids[logical] = {r["eventId"] for r in records[logical]}
    return Inputs(ids, records)


def expected_alert_ids(inputs: Inputs) -> set[str]:
    """The alerts the inputs must produce, by the contract's id recipe (docs/alerts.md): one
    per service alert, and for each LP the "connection lost" raise on a disconnect and its
    resolution on the next connect (LP events of one LP share a partition, so offset order is
    their order)."""
    expected: set[str] = set()
    for r in inputs.records["alerts_inbound"]:
        expected.add(alert_id(r["eventTime"], "service:" + r["eventId"]))
    opened: dict[str, str] = {}
    for r in inputs.records["lp_status"]:
        lp, t, eid = r["lpName"], r["eventTime"], r["eventId"]
        if r["status"] == "disconnected" and lp not in opened:
            opened[lp] = alert_id(t, f"lp.connection.lost|{lp}|{t}|{eid}")
            expected.add(opened[lp])
        elif r["status"] == "connected" and lp in opened:
            expected.add(alert_id(t, f"resolve|{opened.pop(lp)}|{t}|{eid}"))
    return expected


async def check_alert_log(settings: KafkaSettings, inputs: Inputs, timeout_s: float = 60) -> None:
    """Every alert the inputs must raise is in the persisted log exactly once, no id occurs
    twice, and every resolution names an alert that is in the log (a raise lost on the way
    would leave its resolution dangling)."""
    expected = expected_alert_ids(inputs)
    deadline = time.monotonic() + timeout_s
    while True:  # the worker may still be catching up
        records = await read_topic(settings, "alerts")
        counts = Counter(r.key.decode() for r in records)
        if expected <= set(counts) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)
    missing = expected - set(counts)
    twice = {aid: c for aid, c in counts.items() if c > 1}
    resolves = {decoded(r)["resolvesId"] for r in records} - {None}
    dangling = resolves - set(counts)
    log(
        f"check: {len(counts)} alert ids in the log, {len(expected)} expected from the inputs: "
        f"{len(missing)} missing, {len(twice)} written twice, {len(resolves)} resolutions, "
        f"{len(dangling)} resolving an alert not in the log"
    )
    assert not missing, sorted(missing)[:10]
    assert not twice, twice
    assert not dangling, sorted(dangling)[:10]
    assert len(counts) > len(expected)  # exposure alerts were raised too


async def wait_logged(worker: Any, text: str, timeout_s: float = 90) -> None:
    """Wait until a worker process logged ``text`` (e.g. "global stage started")."""
    deadline = time.monotonic() + timeout_s
    while text not in worker.log_path.read_text(errors="replace"):
        if worker.proc is not None and worker.proc.poll() is not None:
            raise AssertionError(f"the worker exited ({worker.proc.returncode}):\n{worker.log()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"worker did not log {text!r} in {timeout_s:g} s:\n{worker.log()}")
        await asyncio.sleep(0.2)


async def wait_for_exposure_written(
    settings: KafkaSettings, after: float, worker: Any, timeout_s: float = 90
) -> None:
    """Wait for an exposure-change created after ``after`` (epoch seconds) to be readable,
    i.e. acknowledged by the in-sync replicas."""
    after_ms = int(after * 1000)
    async with TopicReader(settings, "exposure") as exposure:
        await exposure.until(
            lambda r: r.timestamp > after_ms, timeout_s, "a new exposure-change", worker
        )


async def wait_for_exposure(
    settings: KafkaSettings, expected: float, after: float, worker: Any, timeout_s: float = 120
) -> dict[str, Any]:
    """An exposure-change written after ``after`` (epoch seconds) that equals ``expected``: the
    worker publishes at least every second (RTX_EXPOSURE_HEARTBEAT_S=1), so once it caught up,
    the next record carries the final figure."""
    after_ms = int(after * 1000)

    def matches(r: Any) -> bool:
        return bool(
            r.timestamp >= after_ms
            and abs(decoded(r)["totalExposure"] - expected) <= 1e-9 * max(1.0, expected)
        )

    async with TopicReader(settings, "exposure") as exposure:
        record = await exposure.until(matches, timeout_s, f"exposure {expected:,.2f}", worker)
    return decoded(record)


# --- a broker of the test's own -------------------------------------------------------------


def free_base_port(nodes: int) -> int:
    """A base port whose node and controller ports (port + 100 * i, + 1) are all free now; the
    environment's RTX_FAULTS_KAFKA_PORT (one node) / RTX_FAULTS_CLUSTER_PORT (3 nodes) win."""
    given = os.environ.get("RTX_FAULTS_KAFKA_PORT" if nodes == 1 else "RTX_FAULTS_CLUSTER_PORT")
    if given:
        return int(given)
    rng = random.Random()  # noqa: S311 - port choice, not security
    for _ in range(200):
        base = rng.randrange(20_000, 30_000)
        socks = []
        try:
            for port in (base + 100 * i + j for i in range(nodes) for j in (0, 1)):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return base
    raise RuntimeError("no free ports for a fault-test broker")


class OwnKafka:
    """A single broker or a 3-node cluster in a temporary state dir, via infra.kafka_local."""

    def __init__(self, state_dir: Path, nodes: int) -> None:
        self.state_dir = state_dir
        self.nodes = nodes
        self.bootstrap = ""

    async def start(self) -> str:
        port = free_base_port(self.nodes)
        log(f"starting a {self.nodes}-node Kafka on port {port} ({self.state_dir})")
        st = await asyncio.to_thread(
            kafka_local.start,
            nodes=self.nodes,
            port=port,
            state_dir=self.state_dir,
            heap="512M",
            out=log,
        )
        self.bootstrap = st.bootstrap_servers
        return self.bootstrap

    async def kill(self, node_id: int = 1, sig: int = 9) -> None:
        log(f"fault: signal {sig} to Kafka node {node_id}")
        await asyncio.to_thread(kafka_local.kill_node, node_id, sig, state_dir=self.state_dir)

    async def restart(self, node_id: int = 1) -> None:
        await asyncio.to_thread(
            kafka_local.restart_node, node_id, state_dir=self.state_dir, out=log
        )

    def stop(self) -> None:
        kafka_local.stop(state_dir=self.state_dir, timeout_s=10, out=log)


async def apply_topics_to(settings: KafkaSettings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await apply_topics(admin, settings, out=lambda _line: None)
    finally:
        await admin.close()


# --- the bridge as a subprocess ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BridgeProcess:
    """``rtx-analytics bridge`` in dev mode on a free port, its log in ``tmp``."""

    def __init__(self, settings: KafkaSettings, tmp: Path) -> None:
        self.port = _free_port()
        self.log_path = tmp / "bridge.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("RTX_", "KAFKA_"))}
        self.env.update(
            KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
            RTX_TOPIC_PREFIX=settings.topic_prefix,
            RTX_BRIDGE_DEV_MODE="1",
            RTX_BRIDGE_HOST="127.0.0.1",
            RTX_BRIDGE_PORT=str(self.port),
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def token(self) -> str:
        out = subprocess.run(  # noqa: S603 - our own command
            [sys.executable, "-m", "streams.cli", "token", "--sub", "chaos", "--roles", "admin"],
            env=self.env,
            capture_output=True,
            check=True,
            timeout=60,
        )
        return out.stdout.decode().strip()

    async def start(self) -> str:
        """Start it, wait for /readyz, return the WebSocket URL with a dev token."""
        token = await asyncio.to_thread(self.token)
        self._spawn()
        for _ in range(600):
            if await asyncio.to_thread(self._ready):
                return f"ws://127.0.0.1:{self.port}/ws/analytics?token={token}"
            await asyncio.sleep(0.1)
        raise AssertionError(f"bridge not ready within 60 s:\n{self.log()}")

    def _spawn(self) -> None:
        with self.log_path.open("ab") as log_file:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(  # noqa: S603 - our own command
                [sys.executable, "-m", "streams.cli", "bridge"],
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/readyz"
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - ours
                return int(response.status) == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class ExposureClient:
    """A dashboard: a WebSocket client subscribed to ``exposure-updates``, remembering each
    ``exposure-change`` with the wall time it arrived."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.updates: list[tuple[float, float]] = []  # (arrival time, totalExposure)
        self.closed: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ws = await connect(self.url)
        await ws.send(json.dumps({"action": "subscribe", "channels": ["exposure-updates"]}))
        self._task = asyncio.create_task(self._read(ws))

    async def _read(self, ws: Any) -> None:
        try:
            async with ws:
                async for frame in ws:
                    for message in json.loads(frame):
                        if message["type"] == "exposure-change":
                            total = float(message["data"]["totalExposure"])
                            self.updates.append((time.time(), total))
        except Exception as exc:  # noqa: BLE001 - reported by the test's assertion
            self.closed = exc

    def since(self, t: float) -> list[float]:
        return [total for at, total in self.updates if at >= t]

    async def until(
        self, expected: float, after: float, timeout_s: float, why: Callable[[], str]
    ) -> None:
        """Wait for an update equal to ``expected`` that arrived after ``after``."""
        deadline = time.monotonic() + timeout_s
        while not any(abs(v - expected) <= 1e-9 * max(1.0, expected) for v in self.since(after)):
            if self.closed is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"the dashboard got no exposure-change of {expected:,.2f} after the fault "
                    f"(connection: {self.closed!r}; last: {self.updates[-3:]}):\n{why()}"
                )
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
