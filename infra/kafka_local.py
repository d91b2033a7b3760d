"""Run a real Apache Kafka cluster (KRaft) on this host from Maven Central jars, without Docker.

``rtx-analytics kafka start|stop|status`` (or ``python -m infra.kafka_local kafka ...``) and the
test fixtures call :func:`start`, :func:`stop` and :func:`status`; fault tests also use
:func:`kill_node` and :func:`restart_node`. Unix only (signals, process sessions, ``flock``).

How it works
    1. The broker jars are resolved once with ``mvn dependency:copy-dependencies`` on
       ``infra/kafka/pom.xml`` into ``$XDG_CACHE_HOME/rtx-analytics/kafka-<version>/libs``
       (``~/.cache`` by default). Maven writes into a temporary folder that is renamed into place
       with a ``.complete`` marker, so an interrupted download is never taken for a complete one.
    2. Each node's storage is formatted once with ``kafka.tools.StorageTool format`` (skipped when
       ``meta.properties`` exists): a single node with ``--standalone`` (dynamic KRaft quorum,
       ``controller.quorum.bootstrap.servers``), a multi-node cluster without it, with a static
       ``controller.quorum.voters`` list and one cluster id shared by all nodes.
    3. Every node is one JVM (``kafka.Kafka``) with ``process.roles=broker,controller``, started in
       its own session so that it outlives the caller; ``stop`` sends SIGTERM (Kafka shuts down
       cleanly on it) and SIGKILL after a timeout.
    4. ``start`` returns once every node answers a Metadata request that lists all the brokers.

Port scheme
    Node ``i`` (1-based) listens on ``127.0.0.1`` only: PLAINTEXT (clients) on
    ``port + 100 * (i - 1)`` and CONTROLLER (KRaft) on the next port up. Defaults: one node
    9092/9093; three nodes 9092/9093, 9192/9193, 9292/9293, bootstrap
    ``127.0.0.1:9092,127.0.0.1:9192,127.0.0.1:9292``. All of them sit below Linux's ephemeral
    range (32768-60999) for the default port, so an outgoing connection cannot hold one.

State directory (``$RTX_KAFKA_STATE_DIR``, default ``./.rtx/kafka``)
    ``cluster.json`` (cluster id, Kafka version, heap, per node: id, ports, pid or null),
    ``.lock`` (``flock`` held while starting or stopping), and per node ``node-<id>/``:
    ``server.properties`` (rewritten on every start), ``data/`` (``log.dirs``) and
    ``logs/server.log`` (the JVM's stdout and stderr, log4j output included; appended to,
    rotated once to ``server.log.1`` past 64 MiB). A cluster keeps its node count and ports for
    the life of its data: a different ``--nodes``/``--port`` needs another state dir.

Environment
    ===================== ==================================================================
    RTX_KAFKA_STATE_DIR   default state directory (else ``<cwd>/.rtx/kafka``)
    XDG_CACHE_HOME        root of the jar cache (else ``~/.cache``)
    JAVA_HOME             Java 17+ to use (else ``java`` on ``PATH``)
    MAVEN_OPTS            passed through to ``mvn`` (e.g. ``-Dmaven.repo.local=...``)
    ===================== ==================================================================

Errors (every one is a :class:`KafkaLauncherError`)::

    KafkaLauncherError
    ├── PrerequisiteMissing   no java (17+) or, with a cold jar cache, no mvn
    ├── DownloadFailed        mvn failed (message ends with the tail of its output); retriable
    ├── PortInUse             a port of the scheme above is taken by another process
    ├── ConfigMismatch        the state dir holds a cluster of another shape
    ├── StorageFormatFailed   kafka.tools.StorageTool format failed
    └── StartupFailed         (message ends with the last lines of the node's log)
        ├── BrokerExited      a JVM exited while starting
        └── StartupTimeout    not ready within timeout_s; retriable
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import functools
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

__all__ = [
    "BrokerExited",
    "ClusterStatus",
    "ConfigMismatch",
    "DownloadFailed",
    "KafkaLauncherError",
    "KafkaNode",
    "PortInUse",
    "PrerequisiteMissing",
    "StartupFailed",
    "StartupTimeout",
    "StorageFormatFailed",
    "kill_node",
    "register_cli",
    "restart_node",
    "start",
    "status",
    "stop",
]

DEFAULT_KAFKA_VERSION = "4.3.1"
DEFAULT_PORT = 9092
NODE_PORT_STRIDE = 100
HOST = "127.0.0.1"
STATE_FILE = "cluster.json"
_KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
_POM = _KAFKA_DIR / "pom.xml"
_LOG4J_CONFIG = _KAFKA_DIR / "log4j2.yaml"
_COMPLETE_MARKER = ".complete"
_LOG_ROTATE_BYTES = 64 * 1024 * 1024
_LOG_TAIL_LINES = 20
_USE_EXISTING = (
    "or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker, or run Kafka with Docker: "
    "docker compose -f infra/docker-compose.yml up -d"
)
# Kafka's bin/kafka-server-start.sh and kafka-run-class.sh defaults.
_BROKER_JVM_OPTS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
)
# Short-lived tool JVMs: Kafka's -Xmx256M; C1 only starts faster.
_TOOL_JVM_OPTS = ("-Xmx256M", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")

Out = Callable[[str], None]
_T = TypeVar("_T")


class KafkaLauncherError(Exception):
    """Root of the launcher's errors; ``retriable`` says whether trying again may help."""

    retriable = False


class PrerequisiteMissing(KafkaLauncherError):
    """``java`` (17+) is missing, or ``mvn`` is missing while the jar cache is cold."""


class DownloadFailed(KafkaLauncherError):
    """Maven could not fetch the Kafka jars."""

    retriable = True


class PortInUse(KafkaLauncherError):
    """A port that a node needs is taken by another process."""


class ConfigMismatch(KafkaLauncherError):
    """The state dir holds a cluster with another node count or ports."""


class StorageFormatFailed(KafkaLauncherError):
    """``kafka.tools.StorageTool format`` failed."""


class StartupFailed(KafkaLauncherError):
    """A node did not become ready; the message ends with the tail of its log."""

    def __init__(self, message: str, log_file: Path | None = None) -> None:
        tail = _log_tail(log_file) if log_file is not None else ""
        if log_file is not None:
            message = f"{message}; last lines of {log_file}:\n{tail}"
        super().__init__(message)
        self.log_file = log_file


class BrokerExited(StartupFailed):
    """A node's JVM exited before the node was ready."""


class StartupTimeout(StartupFailed):
    """The cluster was not ready within the timeout."""

    retriable = True


@dataclass(frozen=True)
class KafkaNode:
    """One broker+controller JVM; ``pid`` is None when it is not running."""

    node_id: int
    port: int
    controller_port: int
    data_dir: Path
    log_file: Path
    pid: int | None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def properties_file(self) -> Path:
        return self.data_dir.parent / "server.properties"


@dataclass(frozen=True)
class ClusterStatus:
    """``running`` is True when every node of the cluster is up."""

    running: bool
    bootstrap_servers: str
    nodes: tuple[KafkaNode, ...]
    state_dir: Path


@dataclass(frozen=True)
class _State:
    """What ``cluster.json`` records."""

    kafka_version: str
    cluster_id: str
    heap: str
    nodes: tuple[KafkaNode, ...]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.address for n in self.nodes)


# --- paths and the state file ---------------------------------------------------------------


def default_state_dir() -> Path:
    return Path(os.environ.get("RTX_KAFKA_STATE_DIR") or Path.cwd() / ".rtx" / "kafka")


def _resolve_state_dir(state_dir: Path | None) -> Path:
    return Path(state_dir or default_state_dir()).expanduser().resolve()


def libs_dir(kafka_version: str = DEFAULT_KAFKA_VERSION) -> Path:
    """Where the jars of ``kafka_version`` are cached."""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "rtx-analytics" / f"kafka-{kafka_version}" / "libs"


def _plan_nodes(state_dir: Path, nodes: int, port: int) -> tuple[KafkaNode, ...]:
    return tuple(
        _node(state_dir, i, port + NODE_PORT_STRIDE * (i - 1), None) for i in range(1, nodes + 1)
    )


def _node(state_dir: Path, node_id: int, port: int, pid: int | None) -> KafkaNode:
    node_dir = state_dir / f"node-{node_id}"
    return KafkaNode(
        node_id, port, port + 1, node_dir / "data", node_dir / "logs" / "server.log", pid
    )


def _load_state(state_dir: Path) -> _State | None:
    """Read ``cluster.json``; pids of JVMs that are gone come back as None."""
    path = state_dir / STATE_FILE
    try:
        raw: Any = json.loads(path.read_text())
        state = _State(
            kafka_version=str(raw["kafka_version"]),
            cluster_id=str(raw["cluster_id"]),
            heap=str(raw["heap"]),
            nodes=tuple(
                _node(
                    state_dir,
                    int(n["node_id"]),
                    int(n["port"]),
                    None if n["pid"] is None else int(n["pid"]),
                )
                for n in raw["nodes"]
            ),
        )
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise KafkaLauncherError(
            f"state file {path} is unreadable ({exc!r}); delete it (the data stays)"
        ) from exc
    return replace(state, nodes=tuple(_refresh(n) for n in state.nodes))


def _save_state(state_dir: Path, state: _State) -> None:
    doc = {
        "kafka_version": state.kafka_version,
        "cluster_id": state.cluster_id,
        "heap": state.heap,
        "nodes": [
            {
                "node_id": n.node_id,
                "port": n.port,
                "controller_port": n.controller_port,
                "pid": n.pid,
            }
            for n in state.nodes
        ],
    }
    tmp = state_dir / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(state_dir / STATE_FILE)


def _with_node(state: _State, node: KafkaNode) -> _State:
    return replace(
        state, nodes=tuple(node if n.node_id == node.node_id else n for n in state.nodes)
    )


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """Serialise start/stop/restart on one state dir (another process may be starting it)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "a") as lock:  # not inherited by the JVMs (PEP 446)
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --- processes ------------------------------------------------------------------------------

# JVMs started by this process, so that they are reaped (no zombies) and polled cheaply.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _is_running(node: KafkaNode) -> bool:
    """Whether ``node.pid`` is a live JVM running this node (not a reused pid, not a zombie)."""
    pid = node.pid
    if pid is None:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, but belongs to another user: it cannot be ours
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():  # no procfs (macOS): trust the pid
        return True
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[:1] == ["Z"]:
        return False
    return b"kafka.Kafka" in cmdline and str(node.properties_file).encode() in cmdline


def _refresh(node: KafkaNode) -> KafkaNode:
    return node if _is_running(node) else replace(node, pid=None)


def _signal(node: KafkaNode, sig: int) -> None:
    if node.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(node.pid, sig)


def _wait_gone(nodes: Sequence[KafkaNode], timeout_s: float) -> list[KafkaNode]:
    """Wait until the nodes' JVMs have exited; return those still running at the deadline."""
    deadline = time.monotonic() + timeout_s
    alive = [n for n in nodes if _is_running(n)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [n for n in alive if _is_running(n)]
    return alive


def _terminate(nodes: Sequence[KafkaNode], timeout_s: float, out: Out) -> None:
    """SIGTERM (clean shutdown), then SIGKILL whatever is left after ``timeout_s``."""
    for n in nodes:
        _signal(n, signal.SIGTERM)
    for n in _wait_gone(nodes, timeout_s):
        out(f"node {n.node_id} (pid {n.pid}) still running after {timeout_s:g} s; sending SIGKILL")
        _signal(n, signal.SIGKILL)
        if _wait_gone([n], 10.0):
            raise KafkaLauncherError(f"node {n.node_id} (pid {n.pid}) survived SIGKILL")


def _log_tail(log_file: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with log_file.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"    (cannot read it: {exc})"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


# --- prerequisites and jars -----------------------------------------------------------------


def _find_java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    java = shutil.which("java", path=str(Path(java_home) / "bin")) if java_home else None
    java = java or shutil.which("java")
    if java is None:
        raise PrerequisiteMissing(
            "java not found (JAVA_HOME unset or without bin/java, none on PATH): install a "
            "Java 17+ runtime, e.g. `apt-get install openjdk-17-jre-headless`, " + _USE_EXISTING
        )
    proc = subprocess.run(  # noqa: S603 - argv list, no shell
        [java, "-version"], capture_output=True, text=True, check=False
    )
    found = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr)
    if found:
        major = int(found[1]) if found[1] != "1" else int(found[2] or 0)
        if major < 17:
            raise PrerequisiteMissing(
                f"{java} is Java {major}; Kafka 4 needs Java 17 or newer: install one and set "
                "JAVA_HOME, " + _USE_EXISTING
            )
    return java


def _ensure_libs(kafka_version: str, out: Out) -> Path:
    """The jar folder for ``kafka_version``, fetched with Maven on first use."""
    libs = libs_dir(kafka_version)
    if (libs / _COMPLETE_MARKER).is_file():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteMissing(
            f"mvn not found on PATH; it is needed once to fetch the Kafka {kafka_version} jars "
            f"into {libs}: install Maven 3.8+, e.g. `apt-get install maven`, " + _USE_EXISTING
        )
    libs.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    out(f"Fetching Kafka {kafka_version} jars from Maven Central into {libs} (first run only)")
    partial = Path(tempfile.mkdtemp(prefix="libs.partial-", dir=libs.parent))
    try:
        _run_mvn(mvn, kafka_version, partial, out)
        jars = sorted(p.name for p in partial.glob("*.jar"))
        if f"kafka_2.13-{kafka_version}.jar" not in jars:
            raise DownloadFailed(f"mvn finished but kafka_2.13-{kafka_version}.jar is not there")
        size_mb = sum(p.stat().st_size for p in partial.glob("*.jar")) / 1e6
        (partial / _COMPLETE_MARKER).write_text(json.dumps({"jars": jars}, indent=1) + "\n")
        partial.chmod(0o755)  # mkdtemp made it private; the cache may be shared
        if libs.exists() and not (libs / _COMPLETE_MARKER).is_file():
            shutil.rmtree(libs)  # left by an older, interrupted fetch
        try:
            partial.rename(libs)
        except OSError:
            if not (libs / _COMPLETE_MARKER).is_file():  # else: another process won the race
                raise
        out(f"Fetched {len(jars)} jars ({size_mb:.0f} MB) in {time.monotonic() - started:.1f} s")
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return libs


def _run_mvn(mvn: str, kafka_version: str, dest: Path, out: Out) -> None:
    argv = [
        mvn,
        "-B",
        "-f",
        str(_POM),
        f"-Dkafka.version={kafka_version}",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={dest}",
    ]
    tail: deque[str] = deque(maxlen=30)
    downloaded = copied = 0
    last_report = time.monotonic()
    proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None  # noqa: S101 - for mypy; stdout=PIPE
    with proc:
        for line in proc.stdout:
            tail.append(line.rstrip())
            downloaded += "Downloaded from" in line
            copied += "Copying " in line
            if time.monotonic() - last_report >= 2.0:
                out(f"  ... downloaded {downloaded} artifacts, copied {copied} jars")
                last_report = time.monotonic()
    if proc.returncode != 0:
        raise DownloadFailed(
            f"mvn exited with status {proc.returncode} while fetching Kafka {kafka_version} "
            f"(is Maven Central reachable? is {kafka_version} a Kafka release?); "
            "last lines of its output:\n" + "\n".join("    " + t for t in tail)
        )
    out(f"  downloaded {downloaded} artifacts, copied {copied} jars")


def _java_argv(java: str, libs: Path, opts: Sequence[str], main: str, *args: str) -> list[str]:
    return [
        java,
        *opts,
        f"-Dlog4j2.configurationFile={_LOG4J_CONFIG}",
        "-cp",
        str(libs / "*"),
        main,
        *args,
    ]


# --- node configuration and storage ---------------------------------------------------------


def _new_cluster_id() -> str:
    """Same form as ``kafka.tools.StorageTool random-uuid`` (Uuid.randomUuid), without a JVM."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):  # Kafka rejects ids that would read as a CLI flag
            return cid


def _formatted_cluster_id(node: KafkaNode) -> str | None:
    try:
        text = (node.data_dir / "meta.properties").read_text()
    except FileNotFoundError:
        return None
    found = re.search(r"^cluster\.id=(\S+)", text, re.MULTILINE)
    return found[1] if found else None


def _server_properties(node: KafkaNode, nodes: Sequence[KafkaNode]) -> str:
    def esc(path: Path) -> str:
        return str(path).replace("\\", "\\\\")

    rf, min_isr = (1, 1) if len(nodes) == 1 else (min(3, len(nodes)), 2)
    if len(nodes) == 1:
        # Dynamic quorum (KIP-853): the node was formatted with --standalone.
        quorum = f"controller.quorum.bootstrap.servers={HOST}:{node.controller_port}"
    else:
        # Static quorum: formatting with --standalone/--initial-controllers is refused then.
        voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in nodes)
        quorum = f"controller.quorum.voters={voters}"
    listeners = f"PLAINTEXT://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}"
    return f"""\
# Written by infra/kafka_local.py on every start; edits are lost.
process.roles=broker,controller
node.id={node.node_id}
{quorum}
listeners={listeners}
advertised.listeners={listeners}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={esc(node.data_dir)}
num.partitions=1
offsets.topic.replication.factor={rf}
share.coordinator.state.topic.replication.factor={rf}
share.coordinator.state.topic.min.isr={min_isr}
transaction.state.log.replication.factor={rf}
transaction.state.log.min.isr={min_isr}
group.initial.rebalance.delay.ms=0
# Topics come from the topic table (rtx-analytics topics apply); a typo in a topic name must
# not silently create a topic with broker defaults.
auto.create.topics.enable=false
"""


def _format_storage(
    java: str, libs: Path, nodes: Sequence[KafkaNode], cluster_id: str, standalone: bool, out: Out
) -> None:
    """Format the nodes' storage in parallel (one short JVM each)."""
    procs = []
    for n in nodes:
        out(f"Formatting storage of node {n.node_id} (cluster id {cluster_id}): {n.data_dir}")
        args = ["format", "-t", cluster_id, "-c", str(n.properties_file)]
        argv = _java_argv(
            java,
            libs,
            (*_TOOL_JVM_OPTS, "-Drtx.kafka.log.level=WARN", "-Drtx.kafka.log.target=SYSTEM_ERR"),
            "kafka.tools.StorageTool",
            *args,
            *(["--standalone"] if standalone else []),
        )
        procs.append(
            (n, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))  # noqa: S603
        )
    for n, proc in procs:
        output, _ = proc.communicate()
        if proc.returncode != 0:
            text = output.decode("utf-8", "replace").strip().splitlines()[-_LOG_TAIL_LINES:]
            raise StorageFormatFailed(
                f"formatting {n.data_dir} failed (status {proc.returncode}):\n"
                + "\n".join("    " + t for t in text)
            )


def _check_ports(nodes: Sequence[KafkaNode]) -> None:
    for n in nodes:
        for port in (n.port, n.controller_port):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                # As Kafka's own listener does, so a port in TIME_WAIT does not count as taken.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((HOST, port))
                except OSError as exc:
                    raise PortInUse(
                        f"port {port} on {HOST} (node {n.node_id}) is already in use by another "
                        f"process ({exc.strerror}); stop that process or choose other ports with "
                        f"--port (node i uses port+{NODE_PORT_STRIDE}*(i-1) and the port after it)"
                    ) from exc


def _spawn(java: str, libs: Path, node: KafkaNode, heap: str, kafka_version: str) -> KafkaNode:
    node.log_file.parent.mkdir(parents=True, exist_ok=True)
    node.data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if node.log_file.stat().st_size > _LOG_ROTATE_BYTES:
            node.log_file.replace(node.log_file.with_name(node.log_file.name + ".1"))
    argv = _java_argv(
        java,
        libs,
        (
            f"-Xmx{heap}",
            f"-Xms{heap}",
            *_BROKER_JVM_OPTS,
            f"-Dkafka.logs.dir={node.log_file.parent}",
        ),
        "kafka.Kafka",
        str(node.properties_file),
    )
    with node.log_file.open("ab") as log:
        stamp = datetime.now(tz=UTC).isoformat(timespec="seconds")
        header = f"=== {stamp} kafka_local: starting Kafka {kafka_version} node {node.node_id}\n"
        log.write(header.encode())
        log.flush()
        proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=node.data_dir.parent,
            # Own session: it outlives us, and Ctrl-C in the caller's terminal does not reach it.
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    return replace(node, pid=proc.pid)


# --- readiness ------------------------------------------------------------------------------


def _run_coro(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion from sync code, also when called inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _broker_ids(bootstrap: str, timeout_s: float) -> set[int]:
    """Ids of the brokers listed in a Metadata response from ``bootstrap``."""
    timeout_ms = max(1000, int(timeout_s * 1000))
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="rtx-kafka-launcher", request_timeout_ms=timeout_ms
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        cluster: dict[str, Any] = await asyncio.wait_for(admin.describe_cluster(), timeout_s)
    finally:
        await admin.close()
    return {int(b["node_id"]) for b in cluster["brokers"]}


@contextlib.contextmanager
def _quiet_aiokafka() -> Iterator[None]:
    """aiokafka logs every refused connection at ERROR; while polling those are expected."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _wait_ready(
    waiting: Sequence[KafkaNode], expected_ids: set[int], deadline: float, timeout_s: float
) -> None:
    """Until each node in ``waiting`` answers a Metadata request listing ``expected_ids``."""
    with _quiet_aiokafka():
        for node in waiting:
            while True:
                for n in waiting:
                    if not _is_running(n):
                        raise BrokerExited(
                            f"Kafka node {n.node_id} (pid {n.pid}) exited while starting",
                            n.log_file,
                        )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StartupTimeout(
                        f"Kafka node {node.node_id} was not ready within {timeout_s:g} s",
                        node.log_file,
                    )
                try:
                    if expected_ids <= _run_coro(_broker_ids(node.address, min(remaining, 5.0))):
                        break
                except (KafkaError, OSError, TimeoutError):
                    pass
                time.sleep(0.2)


# --- public API -----------------------------------------------------------------------------


def _describe(state: _State, out: Out) -> None:
    for n in state.nodes:
        pid = f"pid {n.pid}" if n.pid is not None else "not running"
        out(f"  node {n.node_id}: {pid}, {n.address} (controller :{n.controller_port})")
        out(f"    data {n.data_dir}")
        out(f"    log  {n.log_file}")


def _status_of(state_dir: Path, state: _State) -> ClusterStatus:
    running = all(n.pid is not None for n in state.nodes)
    return ClusterStatus(running, state.bootstrap_servers, state.nodes, state_dir)


def start(
    *,
    nodes: int = 1,
    port: int = DEFAULT_PORT,
    state_dir: Path | None = None,
    kafka_version: str = DEFAULT_KAFKA_VERSION,
    heap: str = "1G",
    timeout_s: float = 90.0,
    out: Out = print,
) -> ClusterStatus:
    """Start the cluster (or its stopped nodes) and return once every node is ready.

    Returns at once, printing "Kafka already running at ...", if every node is up.
    """
    began = time.monotonic()
    if nodes < 1 or not 1024 <= port <= 65534 - NODE_PORT_STRIDE * (nodes - 1):
        raise KafkaLauncherError(f"bad cluster shape: nodes={nodes} port={port}")
    if not re.fullmatch(r"[1-9]\d*[kKmMgG]?", heap):
        raise KafkaLauncherError(f"bad heap size {heap!r}; use e.g. 512M or 1G")
    sd = _resolve_state_dir(state_dir)
    with _locked(sd):
        state = _load_state(sd)
        planned = _plan_nodes(sd, nodes, port)
        if state is not None:
            shape = [(n.node_id, n.port) for n in state.nodes]
            if shape != [(n.node_id, n.port) for n in planned]:
                raise ConfigMismatch(
                    f"{sd} holds a {len(state.nodes)}-node cluster on port "
                    f"{state.nodes[0].port}; start it with --nodes {len(state.nodes)} --port "
                    f"{state.nodes[0].port}, or use another --state-dir (or delete {sd})"
                )
            if all(n.pid is not None for n in state.nodes):
                out(f"Kafka already running at {state.bootstrap_servers}")
                _describe(state, out)
                return _status_of(sd, state)
            if state.kafka_version != kafka_version:
                out(f"Note: this data was last run by Kafka {state.kafka_version}")
        java = _find_java()
        nodes_now = state.nodes if state is not None else planned
        to_start = [n for n in nodes_now if n.pid is None]
        _check_ports(to_start)  # before a first-run download, which takes a while
        libs = _ensure_libs(kafka_version, out)
        if state is not None:
            ids = ", ".join(str(n.node_id) for n in to_start)
            out(f"Kafka node(s) {ids} of {sd} not running; starting them on their existing data")
        cluster_id = (
            state.cluster_id
            if state is not None
            else next(filter(None, map(_formatted_cluster_id, planned)), None) or _new_cluster_id()
        )
        for n in nodes_now:
            n.properties_file.parent.mkdir(parents=True, exist_ok=True)
            n.properties_file.write_text(_server_properties(n, nodes_now))
        unformatted = [n for n in to_start if _formatted_cluster_id(n) is None]
        if unformatted:
            _format_storage(java, libs, unformatted, cluster_id, nodes == 1, out)
        state = _State(kafka_version, cluster_id, heap, nodes_now)
        spawned: list[KafkaNode] = []
        try:
            # All nodes first: with a static quorum none finishes starting without a majority.
            for n in to_start:
                spawned.append(_spawn(java, libs, n, heap, kafka_version))
                out(f"Started Kafka {kafka_version} node {n.node_id} (pid {spawned[-1].pid})")
                state = _with_node(state, spawned[-1])
                _save_state(sd, state)
            expected = {n.node_id for n in nodes_now}
            _wait_ready(spawned, expected, began + timeout_s, timeout_s)
        except BaseException:
            if spawned:
                out("Start failed; stopping the nodes it started")
                _terminate(spawned, 10.0, out)
                for n in spawned:
                    state = _with_node(state, replace(n, pid=None))
                _save_state(sd, state)
            raise
        out(
            f"Kafka {kafka_version} running at {state.bootstrap_servers} "
            f"({len(nodes_now)} node{'s' if len(nodes_now) > 1 else ''}, "
            f"ready in {time.monotonic() - began:.1f} s)"
        )
        _describe(state, out)
        return _status_of(sd, state)


def stop(*, state_dir: Path | None = None, timeout_s: float = 30.0, out: Out = print) -> bool:
    """Stop every running node; True if there was something to stop."""
    sd = _resolve_state_dir(state_dir)
    if not (sd / STATE_FILE).is_file():
        out("Kafka is not running")
        return False
    with _locked(sd):
        state = _load_state(sd)
        if state is None:
            out("Kafka is not running")
            return False
        live = [n for n in state.nodes if n.pid is not None]
        if not live:
            _save_state(sd, state)  # drop stale pids
            out("Kafka is not running")
            return False
        began = time.monotonic()
        pids = ", ".join(str(n.pid) for n in live)
        out(f"Stopping Kafka at {state.bootstrap_servers} (pid {pids})")
        grace = timeout_s
        if 2 * len(live) <= len(state.nodes):
            # Without a controller quorum a broker's controlled shutdown never completes and the
            # JVM ignores SIGTERM for good (seen with 1 of 3 nodes left): do not wait long.
            grace = min(timeout_s, 5.0)
            out(
                f"Only {len(live)} of {len(state.nodes)} nodes up (no controller quorum): "
                f"they cannot shut down cleanly; SIGKILL after {grace:g} s"
            )
        try:
            _terminate(live, grace, out)
        finally:
            _save_state(sd, replace(state, nodes=tuple(_refresh(n) for n in state.nodes)))
        out(f"Kafka stopped in {time.monotonic() - began:.1f} s")
        return True


def status(*, state_dir: Path | None = None) -> ClusterStatus:
    """What runs from ``state_dir``; an empty status if no cluster was ever started there."""
    sd = _resolve_state_dir(state_dir)
    state = _load_state(sd)
    if state is None:
        return ClusterStatus(False, "", (), sd)
    return _status_of(sd, state)


def _find_node(state: _State | None, node_id: int, sd: Path) -> KafkaNode:
    for n in state.nodes if state is not None else ():
        if n.node_id == node_id:
            return n
    raise KafkaLauncherError(f"no Kafka node {node_id} in {sd}")


def kill_node(node_id: int, sig: int = signal.SIGKILL, *, state_dir: Path | None = None) -> None:
    """Send ``sig`` to one node's JVM (a fault injection).

    After SIGKILL or SIGTERM, waits until the JVM has exited (30 s at most) and records it as
    stopped; other signals (SIGSTOP, SIGCONT, ...) are only sent.
    """
    sd = _resolve_state_dir(state_dir)
    with _locked(sd):
        state = _load_state(sd)
        node = _find_node(state, node_id, sd)
        if state is None or node.pid is None:
            raise KafkaLauncherError(f"Kafka node {node_id} is not running")
        _signal(node, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            if _wait_gone([node], 30.0):
                raise KafkaLauncherError(
                    f"node {node_id} (pid {node.pid}) still runs 30 s after signal {sig} (a node "
                    "without a controller quorum cannot shut down cleanly; use SIGKILL)"
                )
            _save_state(sd, _with_node(state, replace(node, pid=None)))


def restart_node(
    node_id: int, *, state_dir: Path | None = None, timeout_s: float = 90.0, out: Out = print
) -> None:
    """Stop one node if it runs (SIGTERM), start it again and wait until it is ready."""
    began = time.monotonic()
    sd = _resolve_state_dir(state_dir)
    with _locked(sd):
        state = _load_state(sd)
        node = _find_node(state, node_id, sd)
        assert state is not None  # noqa: S101 - _find_node raised otherwise
        if node.pid is not None:
            out(f"Stopping Kafka node {node_id} (pid {node.pid})")
            _terminate([node], 30.0, out)
            node = replace(node, pid=None)
            state = _with_node(state, node)
            _save_state(sd, state)
        java = _find_java()
        _check_ports([node])
        libs = _ensure_libs(state.kafka_version, out)
        node.properties_file.write_text(_server_properties(node, state.nodes))
        node = _spawn(java, libs, node, state.heap, state.kafka_version)
        state = _with_node(state, node)
        _save_state(sd, state)
        out(f"Started Kafka node {node_id} (pid {node.pid})")
        try:
            _wait_ready([node], {node_id}, began + timeout_s, timeout_s)
        except BaseException:
            _terminate([node], 10.0, out)
            _save_state(sd, _with_node(state, replace(node, pid=None)))
            raise
        out(f"Kafka node {node_id} ready at {node.address} in {time.monotonic() - began:.1f} s")


# --- command line ---------------------------------------------------------------------------

_print = functools.partial(print, flush=True)


def _cli(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Launcher errors become ``error: ...`` on stderr and exit status 2, with no traceback."""

    @functools.wraps(func)
    def handler(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except KafkaLauncherError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 2

    return handler


@_cli
def _cmd_start(args: argparse.Namespace) -> int:
    # Unless given, node count and port are those of the cluster already in the state dir.
    recorded = status(state_dir=args.state_dir).nodes
    start(
        nodes=args.nodes or len(recorded) or 1,
        port=args.port or (recorded[0].port if recorded else DEFAULT_PORT),
        state_dir=args.state_dir,
        kafka_version=args.kafka_version,
        heap=args.heap,
        timeout_s=args.timeout,
        out=_print,
    )
    return 0


@_cli
def _cmd_stop(args: argparse.Namespace) -> int:
    stop(state_dir=args.state_dir, timeout_s=args.timeout, out=_print)
    return 0


@_cli
def _cmd_status(args: argparse.Namespace) -> int:
    st = status(state_dir=args.state_dir)
    if not st.nodes:
        _print(f"Kafka is not running (no cluster in {st.state_dir})")
        return 3
    up = sum(n.pid is not None for n in st.nodes)
    verdict = "running" if st.running else ("degraded" if up else "not running")
    _print(f"Kafka is {verdict} at {st.bootstrap_servers} ({up}/{len(st.nodes)} nodes up)")
    state = _load_state(st.state_dir)
    if state is not None:
        _describe(state, _print)
    return 0 if st.running else 3


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``kafka start|stop|status``; each handler returns the exit status."""
    kafka = subparsers.add_parser(
        "kafka",
        help="run a local Apache Kafka cluster (KRaft, no Docker)",
        description="Run a local Apache Kafka cluster from Maven Central jars (needs java 17+; "
        "mvn on first use).",
    )
    commands = kafka.add_subparsers(dest="kafka_command", required=True, metavar="COMMAND")

    def add(name: str, help_: str, handler: Callable[[argparse.Namespace], int]) -> None:
        p = commands.add_parser(name, help=help_, description=help_)
        p.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="cluster state and data (default: $RTX_KAFKA_STATE_DIR or ./.rtx/kafka)",
        )
        if name == "start":
            p.add_argument("--nodes", type=int, default=None, help="1 (default) or 3 for a quorum")
            p.add_argument(
                "--port",
                type=int,
                default=None,
                help=f"client port of node 1 (default {DEFAULT_PORT}); node i uses "
                f"port+{NODE_PORT_STRIDE}*(i-1), its controller the port after",
            )
            p.add_argument("--heap", default="1G", help="JVM heap per node (default 1G)")
            p.add_argument(
                "--version",
                dest="kafka_version",
                default=DEFAULT_KAFKA_VERSION,
                help=f"Kafka release from Maven Central (default {DEFAULT_KAFKA_VERSION})",
            )
        if name in ("start", "stop"):
            p.add_argument(
                "--timeout",
                type=float,
                default=90.0 if name == "start" else 30.0,
                help="seconds to wait (default %(default)s)",
            )
        p.set_defaults(func=handler)

    add("start", "start Kafka (or its stopped nodes); no-op if it runs", _cmd_start)
    add("stop", "stop Kafka (SIGTERM, then SIGKILL after --timeout)", _cmd_stop)
    add("status", "show whether Kafka runs (exit status 0 if so, 3 if not)", _cmd_status)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.kafka_local")
    register_cli(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
