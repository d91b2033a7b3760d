"""The state directory: where it is, the nodes of a cluster, ``cluster.json`` and its lock.

``cluster.json`` records the cluster id, Kafka version, heap and, per node, id, ports and pid (or
null); ``.lock`` is held (``flock``) while starting or stopping. Pids of JVMs that are gone are
read back as None, so a crashed node counts as stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from infra.kafka_local.model import (
    NODE_PORT_STRIDE,
    STATE_FILE,
    ClusterState,
    KafkaLauncherError,
    KafkaNode,
)
from infra.kafka_local.processes import refresh

# --- paths and the state file ---------------------------------------------------------------


def default_state_dir() -> Path:
    return Path(os.environ.get("RTX_KAFKA_STATE_DIR") or Path.cwd() / ".rtx" / "kafka")


def resolve_state_dir(state_dir: Path | None) -> Path:
    return Path(state_dir or default_state_dir()).expanduser().resolve()


def plan_nodes(state_dir: Path, nodes: int, port: int) -> tuple[KafkaNode, ...]:
    return tuple(
        make_node(state_dir, i, port + NODE_PORT_STRIDE * (i - 1), None)
        for i in range(1, nodes + 1)
    )


def make_node(state_dir: Path, node_id: int, port: int, pid: int | None) -> KafkaNode:
    node_dir = state_dir / f"node-{node_id}"
    return KafkaNode(
        node_id, port, port + 1, node_dir / "data", node_dir / "logs" / "server.log", pid
    )


def load_state(state_dir: Path) -> ClusterState | None:
    """Read ``cluster.json``; pids of JVMs that are gone come back as None."""
    path = state_dir / STATE_FILE
    try:
        raw: Any = json.loads(path.read_text())
        state = ClusterState(
            kafka_version=str(raw["kafka_version"]),
            cluster_id=str(raw["cluster_id"]),
            heap=str(raw["heap"]),
            nodes=tuple(
                make_node(
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
    return replace(state, nodes=tuple(refresh(n) for n in state.nodes))


def save_state(state_dir: Path, state: ClusterState) -> None:
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


def with_node(state: ClusterState, node: KafkaNode) -> ClusterState:
    return replace(
        state, nodes=tuple(node if n.node_id == node.node_id else n for n in state.nodes)
    )


@contextlib.contextmanager
def locked(state_dir: Path) -> Iterator[None]:
    """Serialise start/stop/restart on one state dir (another process may be starting it)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "a") as lock:  # not inherited by the JVMs (PEP 446)
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
