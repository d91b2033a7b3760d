"""Cluster operations: start, stop and status of a cluster, and the fault injections on one node.

The public API of the launcher (re-exported by :mod:`infra.kafka_local`): :func:`start`,
:func:`stop`, :func:`status`, :func:`kill_node` and :func:`restart_node`. Each holds the state
dir's lock while it changes anything, and prints what it does through ``out``.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import replace
from pathlib import Path

from infra.kafka_local.jars import ensure_libs, find_java
from infra.kafka_local.model import (
    DEFAULT_KAFKA_VERSION,
    DEFAULT_PORT,
    NODE_PORT_STRIDE,
    STATE_FILE,
    ClusterState,
    ClusterStatus,
    ConfigMismatch,
    KafkaLauncherError,
    KafkaNode,
    Out,
)
from infra.kafka_local.node_setup import (
    EXTRA_PROPERTIES_ENV,
    check_ports,
    extra_properties,
    format_storage,
    formatted_cluster_id,
    new_cluster_id,
    server_properties,
)
from infra.kafka_local.processes import (
    refresh,
    send_signal,
    spawn,
    terminate,
    wait_gone,
    wait_ready,
)
from infra.kafka_local.state import (
    load_state,
    locked,
    plan_nodes,
    resolve_state_dir,
    save_state,
    with_node,
)

# --- public API -----------------------------------------------------------------------------


def describe(state: ClusterState, out: Out) -> None:
    for n in state.nodes:
        pid = f"pid {n.pid}" if n.pid is not None else "not running"
        out(f"  node {n.node_id}: {pid}, {n.address} (controller :{n.controller_port})")
        out(f"    data {n.data_dir}")
        out(f"    log  {n.log_file}")


def _say_extra(extra: dict[str, str], out: Out) -> None:
    if extra:
        listed = ", ".join(f"{k}={v}" for k, v in extra.items())
        out(f"Extra broker properties from {EXTRA_PROPERTIES_ENV}: {listed}")


def _status_of(state_dir: Path, state: ClusterState) -> ClusterStatus:
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
    _check_shape(nodes, port, heap)
    extra = extra_properties(os.environ)  # a bad value stops start before anything runs
    sd = resolve_state_dir(state_dir)
    with locked(sd):
        state = load_state(sd)
        planned = plan_nodes(sd, nodes, port)
        if state is not None:
            _check_same_shape(sd, state, planned)
            if all(n.pid is not None for n in state.nodes):
                out(f"Kafka already running at {state.bootstrap_servers}")
                describe(state, out)
                return _status_of(sd, state)
            if state.kafka_version != kafka_version:
                out(f"Note: this data was last run by Kafka {state.kafka_version}")
        _say_extra(extra, out)
        java = find_java()
        nodes_now = state.nodes if state is not None else planned
        to_start = [n for n in nodes_now if n.pid is None]
        check_ports(to_start)  # before a first-run download, which takes a while
        libs = ensure_libs(kafka_version, out)
        if state is not None:
            ids = ", ".join(str(n.node_id) for n in to_start)
            out(f"Kafka node(s) {ids} of {sd} not running; starting them on their existing data")
        cluster_id = (
            state.cluster_id
            if state is not None
            else next(filter(None, map(formatted_cluster_id, planned)), None) or new_cluster_id()
        )
        for n in nodes_now:
            n.properties_file.parent.mkdir(parents=True, exist_ok=True)
            n.properties_file.write_text(server_properties(n, nodes_now, extra))
        unformatted = [n for n in to_start if formatted_cluster_id(n) is None]
        if unformatted:
            format_storage(java, libs, unformatted, cluster_id, nodes == 1, out)
        state = ClusterState(kafka_version, cluster_id, heap, nodes_now)
        state = _spawn_all(sd, state, java, libs, to_start, began + timeout_s, timeout_s, out)
        out(
            f"Kafka {kafka_version} running at {state.bootstrap_servers} "
            f"({len(nodes_now)} node{'s' if len(nodes_now) > 1 else ''}, "
            f"ready in {time.monotonic() - began:.1f} s)"
        )
        describe(state, out)
        return _status_of(sd, state)


def _check_shape(nodes: int, port: int, heap: str) -> None:
    if nodes < 1 or not 1024 <= port <= 65534 - NODE_PORT_STRIDE * (nodes - 1):
        raise KafkaLauncherError(f"bad cluster shape: nodes={nodes} port={port}")
    if not re.fullmatch(r"[1-9]\d*[kKmMgG]?", heap):
        raise KafkaLauncherError(f"bad heap size {heap!r}; use e.g. 512M or 1G")


def _check_same_shape(sd: Path, state: ClusterState, planned: tuple[KafkaNode, ...]) -> None:
    """The state dir's cluster has the node ids and ports asked for, or ConfigMismatch."""
    shape = [(n.node_id, n.port) for n in state.nodes]
    if shape != [(n.node_id, n.port) for n in planned]:
        raise ConfigMismatch(
            f"{sd} holds a {len(state.nodes)}-node cluster on port "
            f"{state.nodes[0].port}; start it with --nodes {len(state.nodes)} --port "
            f"{state.nodes[0].port}, or use another --state-dir (or delete {sd})"
        )


def _spawn_all(
    sd: Path,
    state: ClusterState,
    java: str,
    libs: Path,
    to_start: list[KafkaNode],
    deadline: float,
    timeout_s: float,
    out: Out,
) -> ClusterState:
    """Spawn ``to_start`` recording each pid, and wait until the whole cluster is ready; on any
    failure stop the nodes spawned here and record them as stopped."""
    spawned: list[KafkaNode] = []
    try:
        # All nodes first: with a static quorum none finishes starting without a majority.
        for n in to_start:
            spawned.append(spawn(java, libs, n, state.heap, state.kafka_version))
            out(f"Started Kafka {state.kafka_version} node {n.node_id} (pid {spawned[-1].pid})")
            state = with_node(state, spawned[-1])
            save_state(sd, state)
        wait_ready(spawned, {n.node_id for n in state.nodes}, deadline, timeout_s)
    except BaseException:
        if spawned:
            out("Start failed; stopping the nodes it started")
            terminate(spawned, 10.0, out)
            for n in spawned:
                state = with_node(state, replace(n, pid=None))
            save_state(sd, state)
        raise
    return state


def stop(*, state_dir: Path | None = None, timeout_s: float = 30.0, out: Out = print) -> bool:
    """Stop every running node; True if there was something to stop."""
    sd = resolve_state_dir(state_dir)
    if not (sd / STATE_FILE).is_file():
        out("Kafka is not running")
        return False
    with locked(sd):
        state = load_state(sd)
        if state is None:
            out("Kafka is not running")
            return False
        live = [n for n in state.nodes if n.pid is not None]
        if not live:
            save_state(sd, state)  # drop stale pids
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
            terminate(live, grace, out)
        finally:
            save_state(sd, replace(state, nodes=tuple(refresh(n) for n in state.nodes)))
        out(f"Kafka stopped in {time.monotonic() - began:.1f} s")
        return True


def status(*, state_dir: Path | None = None) -> ClusterStatus:
    """What runs from ``state_dir``; an empty status if no cluster was ever started there."""
    sd = resolve_state_dir(state_dir)
    state = load_state(sd)
    if state is None:
        return ClusterStatus(False, "", (), sd)
    return _status_of(sd, state)


def _find_node(state: ClusterState | None, node_id: int, sd: Path) -> KafkaNode:
    for n in state.nodes if state is not None else ():
        if n.node_id == node_id:
            return n
    raise KafkaLauncherError(f"no Kafka node {node_id} in {sd}")


def kill_node(node_id: int, sig: int = signal.SIGKILL, *, state_dir: Path | None = None) -> None:
    """Send ``sig`` to one node's JVM (a fault injection).

    After SIGKILL or SIGTERM, waits until the JVM has exited (30 s at most) and records it as
    stopped; other signals (SIGSTOP, SIGCONT, ...) are only sent.
    """
    sd = resolve_state_dir(state_dir)
    with locked(sd):
        state = load_state(sd)
        node = _find_node(state, node_id, sd)
        if state is None or node.pid is None:
            raise KafkaLauncherError(f"Kafka node {node_id} is not running")
        send_signal(node, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            if wait_gone([node], 30.0):
                raise KafkaLauncherError(
                    f"node {node_id} (pid {node.pid}) still runs 30 s after signal {sig} (a node "
                    "without a controller quorum cannot shut down cleanly; use SIGKILL)"
                )
            save_state(sd, with_node(state, replace(node, pid=None)))


def restart_node(
    node_id: int, *, state_dir: Path | None = None, timeout_s: float = 90.0, out: Out = print
) -> None:
    """Stop one node if it runs (SIGTERM), start it again and wait until it is ready."""
    began = time.monotonic()
    extra = extra_properties(os.environ)
    _say_extra(extra, out)
    sd = resolve_state_dir(state_dir)
    with locked(sd):
        state = load_state(sd)
        node = _find_node(state, node_id, sd)
        assert state is not None  # noqa: S101 - _find_node raised otherwise
        if node.pid is not None:
            out(f"Stopping Kafka node {node_id} (pid {node.pid})")
            terminate([node], 30.0, out)
            node = replace(node, pid=None)
            state = with_node(state, node)
            save_state(sd, state)
        java = find_java()
        check_ports([node])
        libs = ensure_libs(state.kafka_version, out)
        node.properties_file.write_text(server_properties(node, state.nodes, extra))
        node = spawn(java, libs, node, state.heap, state.kafka_version)
        state = with_node(state, node)
        save_state(sd, state)
        out(f"Started Kafka node {node_id} (pid {node.pid})")
        try:
            wait_ready([node], {node_id}, began + timeout_s, timeout_s)
        except BaseException:
            terminate([node], 10.0, out)
            save_state(sd, with_node(state, replace(node, pid=None)))
            raise
        out(f"Kafka node {node_id} ready at {node.address} in {time.monotonic() - began:.1f} s")
