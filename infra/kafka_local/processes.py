"""The JVMs: whether a node runs, spawning one, signalling and stopping, waiting until it is ready.

Every node is one JVM (``kafka.Kafka``) with ``process.roles=broker,controller``, started in its
own session so that it outlives the caller; :func:`terminate` sends SIGTERM (Kafka shuts down
cleanly on it) and SIGKILL after a timeout. :func:`wait_ready` polls until every node answers a
Metadata request that lists all the expected brokers. Unix only (signals, process sessions).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from infra.kafka_local.jars import BROKER_JVM_OPTS, java_argv
from infra.kafka_local.model import BrokerExited, KafkaLauncherError, KafkaNode, Out, StartupTimeout

_LOG_ROTATE_BYTES = 64 * 1024 * 1024
_T = TypeVar("_T")

# --- processes ------------------------------------------------------------------------------

# JVMs started by this process, so that they are reaped (no zombies) and polled cheaply.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def is_running(node: KafkaNode) -> bool:
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


def refresh(node: KafkaNode) -> KafkaNode:
    return node if is_running(node) else replace(node, pid=None)


def send_signal(node: KafkaNode, sig: int) -> None:
    if node.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(node.pid, sig)


def wait_gone(nodes: Sequence[KafkaNode], timeout_s: float) -> list[KafkaNode]:
    """Wait until the nodes' JVMs have exited; return those still running at the deadline."""
    deadline = time.monotonic() + timeout_s
    alive = [n for n in nodes if is_running(n)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [n for n in alive if is_running(n)]
    return alive


def terminate(nodes: Sequence[KafkaNode], timeout_s: float, out: Out) -> None:
    """SIGTERM (clean shutdown), then SIGKILL whatever is left after ``timeout_s``."""
    for n in nodes:
        send_signal(n, signal.SIGTERM)
    for n in wait_gone(nodes, timeout_s):
        out(f"node {n.node_id} (pid {n.pid}) still running after {timeout_s:g} s; sending SIGKILL")
        send_signal(n, signal.SIGKILL)
        if wait_gone([n], 10.0):
            raise KafkaLauncherError(f"node {n.node_id} (pid {n.pid}) survived SIGKILL")


def spawn(java: str, libs: Path, node: KafkaNode, heap: str, kafka_version: str) -> KafkaNode:
    node.log_file.parent.mkdir(parents=True, exist_ok=True)
    node.data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if node.log_file.stat().st_size > _LOG_ROTATE_BYTES:
            node.log_file.replace(node.log_file.with_name(node.log_file.name + ".1"))
    argv = java_argv(
        java,
        libs,
        (
            f"-Xmx{heap}",
            f"-Xms{heap}",
            *BROKER_JVM_OPTS,
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


def wait_ready(
    waiting: Sequence[KafkaNode], expected_ids: set[int], deadline: float, timeout_s: float
) -> None:
    """Until each node in ``waiting`` answers a Metadata request listing ``expected_ids``."""
    with _quiet_aiokafka():
        for node in waiting:
            while True:
                for n in waiting:
                    if not is_running(n):
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
