"""Tests of the local Kafka launcher (infra/kafka_local/) with real JVMs and real clients.

They need java 17+ (and mvn when the jar cache is cold). Ports are picked free at import time
(20000-29999) so they keep clear of a broker that the rest of the suite or anyone else uses;
every test has its own state dir and stops what it started, even when it fails.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from infra import kafka_local as kl


def _free_base(span: int) -> int:
    """A base port b with b, b+1, b+100, b+101, ... b+100*(span-1)+1 all free now, so the tests
    do not collide with a broker someone else runs on this machine."""
    rng = random.Random()  # noqa: S311 - port choice, not security
    for _ in range(200):
        base = rng.randrange(20_000, 30_000)
        ports = [base + 100 * i + j for i in range(span) for j in (0, 1)]
        socks = []
        try:
            for port in ports:
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return base
    raise RuntimeError("no free ports for the launcher tests")


SINGLE_PORT = _free_base(1)
CLUSTER_PORT = _free_base(3)

needs_java = pytest.mark.skipif(
    shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
    reason="needs java 17+ on PATH or JAVA_HOME",
)


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh state dir; whatever still runs from it is stopped at teardown."""
    sd = tmp_path / "kafka"
    yield sd
    kl.stop(state_dir=sd, timeout_s=10, out=lambda _line: None)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rpartition(")")[2].split()[0] == "Z")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "infra.kafka_local", "kafka", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )


async def _create_topic(bootstrap: str, name: str, partitions: int = 1, rf: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        configs = {"min.insync.replicas": "2"} if rf > 1 else {}
        await admin.create_topics([NewTopic(name, partitions, rf, topic_configs=configs)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, value: bytes, partition: int = 0) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, partition=partition)
    finally:
        await producer.stop()


async def _consume_all(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(values) < expected:
                batches = await consumer.getmany(timeout_ms=1000)
                values += [r.value for records in batches.values() for r in records]
    finally:
        await consumer.stop()
    return values


@needs_java
@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_single_node_lifecycle_start_twice_produce_consume_stop(state_dir: Path) -> None:
    """start -> running; start again -> "already running", same pids; a message round-trips;
    stop -> not running; stop again -> False; the CLI's status exits 0 then 3."""
    lines: list[str] = []
    st = await asyncio.to_thread(
        kl.start, port=SINGLE_PORT, state_dir=state_dir, heap="512M", out=lines.append
    )
    assert st.running
    assert st.bootstrap_servers == f"127.0.0.1:{SINGLE_PORT}"
    (node,) = st.nodes
    assert node.pid is not None and _pid_alive(node.pid)
    assert (node.port, node.controller_port) == (SINGLE_PORT, SINGLE_PORT + 1)
    assert (node.data_dir / "meta.properties").is_file()
    assert "Kafka Server started" in node.log_file.read_text()
    assert any(st.bootstrap_servers in line for line in lines)  # told the user where it runs
    assert kl.status(state_dir=state_dir) == st

    again: list[str] = []
    st2 = await asyncio.to_thread(
        kl.start, port=SINGLE_PORT, state_dir=state_dir, heap="512M", out=again.append
    )
    assert again[0] == f"Kafka already running at {st.bootstrap_servers}"
    assert st2.nodes == st.nodes

    assert _cli("status", "--state-dir", str(state_dir)).returncode == 0

    topic = f"lifecycle-{uuid.uuid4().hex[:8]}"
    await _create_topic(st.bootstrap_servers, topic)
    await _produce(st.bootstrap_servers, topic, b"hello")
    assert await _consume_all(st.bootstrap_servers, topic, 1) == [b"hello"]

    assert await asyncio.to_thread(kl.stop, state_dir=state_dir, out=lines.append) is True
    assert not _pid_alive(node.pid)
    stopped = kl.status(state_dir=state_dir)
    assert not stopped.running
    assert [n.pid for n in stopped.nodes] == [None]

    again.clear()
    assert kl.stop(state_dir=state_dir, out=again.append) is False
    assert again == ["Kafka is not running"]
    done = _cli("status", "--state-dir", str(state_dir))
    assert done.returncode == 3
    assert "not running" in done.stdout


@needs_java
@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_start_after_kill_9_restarts_on_same_data_without_reformat(state_dir: Path) -> None:
    """kill -9 leaves a stale state file; start notices, restarts the node on its data (no
    re-format, same cluster id), and a message written before the kill is still there."""
    st = await asyncio.to_thread(
        kl.start, port=SINGLE_PORT, state_dir=state_dir, heap="512M", out=lambda _line: None
    )
    (node,) = st.nodes
    assert node.pid is not None
    meta_before = (node.data_dir / "meta.properties").read_text()
    topic = f"durable-{uuid.uuid4().hex[:8]}"
    await _create_topic(st.bootstrap_servers, topic)
    await _produce(st.bootstrap_servers, topic, b"survives kill -9")

    os.kill(node.pid, signal.SIGKILL)  # behind the launcher's back: its state file goes stale
    for _ in range(100):
        if not kl.status(state_dir=state_dir).running:
            break
        await asyncio.sleep(0.1)
    assert not kl.status(state_dir=state_dir).running

    lines: list[str] = []
    st2 = await asyncio.to_thread(
        kl.start, port=SINGLE_PORT, state_dir=state_dir, heap="512M", out=lines.append
    )
    assert st2.running
    assert st2.nodes[0].pid not in (None, node.pid)
    assert not any(line.startswith("Formatting") for line in lines)
    assert any("existing data" in line for line in lines)
    assert (node.data_dir / "meta.properties").read_text() == meta_before
    assert await _consume_all(st2.bootstrap_servers, topic, 1) == [b"survives kill -9"]
    assert await asyncio.to_thread(kl.stop, state_dir=state_dir, out=lambda _line: None)


@pytest.mark.timeout(30)
def test_missing_java_names_java_and_the_alternatives(
    state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without java the error says what to install and how to do without (an existing broker
    via KAFKA_BOOTSTRAP_SERVERS, or Docker), and nothing is started."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(kl.PrerequisiteMissing) as excinfo:
        kl.start(port=SINGLE_PORT, state_dir=state_dir, out=lambda _line: None)
    message = str(excinfo.value)
    assert "java" in message
    assert "KAFKA_BOOTSTRAP_SERVERS" in message
    assert "infra/docker-compose.yml" in message
    assert kl.status(state_dir=state_dir).nodes == ()


@needs_java
@pytest.mark.timeout(30)
def test_cold_cache_without_mvn_names_mvn(
    state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With java but no mvn, a cold jar cache is a PrerequisiteMissing that names mvn."""
    java = (
        shutil.which("java", path=str(Path(os.environ["JAVA_HOME"]) / "bin"))
        if (os.environ.get("JAVA_HOME"))
        else shutil.which("java")
    )
    assert java is not None
    only_java = tmp_path / "only-java"
    only_java.mkdir()
    (only_java / "java").symlink_to(Path(java).resolve())
    monkeypatch.setenv("PATH", str(only_java))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cold-cache"))
    with pytest.raises(kl.PrerequisiteMissing) as excinfo:
        kl.start(port=SINGLE_PORT, state_dir=state_dir, out=lambda _line: None)
    assert "mvn" in str(excinfo.value)
    assert "KAFKA_BOOTSTRAP_SERVERS" in str(excinfo.value)


@needs_java
@pytest.mark.timeout(60)
def test_port_in_use_is_a_clear_error_in_the_api_and_the_cli(state_dir: Path) -> None:
    """A port taken by another socket: PortInUse naming the port; the CLI prints one
    `error: ...` line and exits 2 without a traceback; nothing is started."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", SINGLE_PORT))
        squatter.listen()
        with pytest.raises(kl.PortInUse) as excinfo:
            kl.start(port=SINGLE_PORT, state_dir=state_dir, out=lambda _line: None)
        assert f"port {SINGLE_PORT}" in str(excinfo.value)
        assert "--port" in str(excinfo.value)

        cli = _cli("start", "--port", str(SINGLE_PORT), "--state-dir", str(state_dir))
    assert cli.returncode == 2
    assert cli.stderr.startswith(f"error: port {SINGLE_PORT} ")
    assert len(cli.stderr.strip().splitlines()) == 1
    assert "Traceback" not in cli.stderr
    assert not kl.status(state_dir=state_dir).running


@needs_java
@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_three_node_cluster_keeps_acks_all_writes_through_one_node_loss(
    state_dir: Path,
) -> None:
    """Three broker+controller JVMs: all in the metadata; a RF=3 min.insync=2 topic takes
    acks=all writes before, during (node 2 killed) and after (node 2 restarted) a node loss."""
    st = await asyncio.to_thread(
        kl.start, nodes=3, port=CLUSTER_PORT, state_dir=state_dir, out=lambda _line: None
    )
    assert st.running
    assert [(n.node_id, n.port, n.controller_port) for n in st.nodes] == [
        (1, CLUSTER_PORT, CLUSTER_PORT + 1),
        (2, CLUSTER_PORT + 100, CLUSTER_PORT + 101),
        (3, CLUSTER_PORT + 200, CLUSTER_PORT + 201),
    ]
    bootstrap = st.bootstrap_servers
    assert bootstrap == ",".join(f"127.0.0.1:{CLUSTER_PORT + d}" for d in (0, 100, 200))

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        assert sorted(b["node_id"] for b in cluster["brokers"]) == [1, 2, 3]
        topic = f"replicated-{uuid.uuid4().hex[:8]}"
        await admin.create_topics(
            [NewTopic(topic, 3, 3, topic_configs={"min.insync.replicas": "2"})]
        )
        (described,) = await admin.describe_topics([topic])
        assert all(len(p["replicas"]) == 3 for p in described["partitions"])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for partition in range(3):
            await producer.send_and_wait(topic, b"before", partition=partition)

        await asyncio.to_thread(kl.kill_node, 2, state_dir=state_dir)
        degraded = kl.status(state_dir=state_dir)
        assert not degraded.running
        assert [n.pid is None for n in degraded.nodes] == [False, True, False]
        # Partitions led by node 2 move once the controller fences it (broker.session.timeout.ms).
        async with asyncio.timeout(60):
            for partition in range(3):
                await producer.send_and_wait(topic, b"during", partition=partition)

        await asyncio.to_thread(kl.restart_node, 2, state_dir=state_dir, out=lambda _line: None)
        assert kl.status(state_dir=state_dir).running
        for partition in range(3):
            await producer.send_and_wait(topic, b"after", partition=partition)
    finally:
        await producer.stop()

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        assert sorted(b["node_id"] for b in cluster["brokers"]) == [1, 2, 3]
    finally:
        await admin.close()

    pids = [n.pid for n in kl.status(state_dir=state_dir).nodes]
    assert await asyncio.to_thread(kl.stop, state_dir=state_dir, out=lambda _line: None)
    assert not any(pid is not None and _pid_alive(pid) for pid in pids)


async def _broker_config(bootstrap: str, name: str) -> str | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")])
    finally:
        await admin.close()
    ((_err, _msg, _type, _name, entries),) = response.resources
    return next((str(e[1]) for e in entries if e[0] == name), None)


async def _log_start(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return int((await consumer.beginning_offsets([tp]))[tp])
    finally:
        await consumer.stop()


@needs_java
@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_extra_properties_reach_every_start_and_the_sweep_they_defer_deletes_old_records(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RTX_KAFKA_SERVER_PROPERTIES goes into the node's properties at start and at restart.
    With a retention sweep every 200 ms, a record whose Kafka timestamp (January 2026, as the
    tests write) is older than its topic's retention is deleted at once while a recent one
    stays: what made tests flaky on a broker with the default 5-minute sweep. Restarted with
    TEST_BROKER_PROPERTIES (what make test uses), the broker runs without the sweep for a day."""
    sweep = "log.retention.check.interval.ms=200,log.initial.task.delay.ms=0"
    monkeypatch.setenv(kl.EXTRA_PROPERTIES_ENV, sweep)
    lines: list[str] = []
    st = await asyncio.to_thread(
        kl.start, port=SINGLE_PORT, state_dir=state_dir, heap="512M", out=lines.append
    )
    assert (
        f"Extra broker properties from {kl.EXTRA_PROPERTIES_ENV}: {sweep.replace(',', ', ')}"
        in (lines)
    )
    bootstrap = st.bootstrap_servers
    assert await _broker_config(bootstrap, "log.retention.check.interval.ms") == "200"
    old, recent = (f"{kind}-{uuid.uuid4().hex[:8]}" for kind in ("old", "recent"))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        day = {"retention.ms": str(24 * 3600 * 1000)}
        await admin.create_topics([NewTopic(t, 1, 1, topic_configs=day) for t in (old, recent)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(old, b"2026-01-20", timestamp_ms=1_768_899_600_000)
        await producer.send_and_wait(recent, b"now")
    finally:
        await producer.stop()
    async with asyncio.timeout(30):
        for _ in range(150):  # the sweep runs every 200 ms
            if await _log_start(bootstrap, old) == 1:
                break
            await asyncio.sleep(0.2)
    assert await _log_start(bootstrap, old) == 1, "the record older than retention is deleted"
    assert await _log_start(bootstrap, recent) == 0
    assert await _consume_all(bootstrap, recent, 1) == [b"now"]

    monkeypatch.setenv(kl.EXTRA_PROPERTIES_ENV, kl.TEST_BROKER_PROPERTIES)
    await asyncio.to_thread(kl.restart_node, 1, state_dir=state_dir, out=lambda _line: None)
    assert await _broker_config(bootstrap, "log.retention.check.interval.ms") == "86400000"
    assert await _broker_config(bootstrap, "log.initial.task.delay.ms") == "86400000"
    assert await _broker_config(bootstrap, "log.cleaner.backoff.ms") == "86400000"
