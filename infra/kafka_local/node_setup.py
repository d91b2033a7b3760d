"""Before a node's JVM starts: its cluster id, its ``server.properties``, its storage, its ports.

Each node's storage is formatted once with ``kafka.tools.StorageTool format`` (skipped when
``meta.properties`` exists): a single node with ``--standalone`` (dynamic KRaft quorum,
``controller.quorum.bootstrap.servers``), a multi-node cluster without it, with a static
``controller.quorum.voters`` list and one cluster id shared by all nodes. ``server.properties``
is rewritten on every start, with the extra broker properties of ``RTX_KAFKA_SERVER_PROPERTIES``
(:func:`extra_properties`) at its end.
"""

from __future__ import annotations

import base64
import re
import socket
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from infra.kafka_local.jars import TOOL_JVM_OPTS, java_argv
from infra.kafka_local.model import (
    HOST,
    LOG_TAIL_LINES,
    NODE_PORT_STRIDE,
    BadExtraProperties,
    KafkaNode,
    Out,
    PortInUse,
    StorageFormatFailed,
)

# --- node configuration and storage ---------------------------------------------------------


def new_cluster_id() -> str:
    """Same form as ``kafka.tools.StorageTool random-uuid`` (Uuid.randomUuid), without a JVM."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):  # Kafka rejects ids that would read as a CLI flag
            return cid


def formatted_cluster_id(node: KafkaNode) -> str | None:
    try:
        text = (node.data_dir / "meta.properties").read_text()
    except FileNotFoundError:
        return None
    found = re.search(r"^cluster\.id=(\S+)", text, re.MULTILINE)
    return found[1] if found else None


EXTRA_PROPERTIES_ENV = "RTX_KAFKA_SERVER_PROPERTIES"
# Keys server_properties writes itself: an extra property may not change them.
_OWN_KEYS = frozenset(
    {
        "process.roles",
        "node.id",
        "controller.quorum.bootstrap.servers",
        "controller.quorum.voters",
        "listeners",
        "advertised.listeners",
        "inter.broker.listener.name",
        "controller.listener.names",
        "listener.security.protocol.map",
        "log.dirs",
    }
)
_KEY = re.compile(r"[a-z][a-z0-9._-]*")
# What the test suite's brokers run with (run-tests.sh and tests/conftest.py put it in the
# environment): no deletion by retention for a day. Tests write worked examples with fixed event
# times from January 2026, which the SDK and replay tests send as Kafka timestamps, older than
# the topics' 7-31-day retention. Kafka deletes such segments in two places: the retention
# sweep (30 s after start, then every log.retention.check.interval.ms, 5 minutes) for every
# topic, and the log cleaner, which for cleanup.policy=compact,delete topics deletes them each
# time it wakes (log.cleaner.backoff.ms, 15 s, when it has nothing to compact). Either could
# delete what a test had just written before it read it back. "log.initial.task.delay.ms" is
# Kafka's own for testing; it also defers the other log tasks (flush, checkpoints, removing
# deleted topics' files), which a test broker does without. The cleaner still compacts.
TEST_BROKER_PROPERTIES = (
    "log.retention.check.interval.ms=86400000,log.initial.task.delay.ms=86400000,"
    "log.cleaner.backoff.ms=86400000"
)


def extra_properties(env: Mapping[str, str]) -> dict[str, str]:
    """Extra broker properties from ``RTX_KAFKA_SERVER_PROPERTIES``: ``key=value`` items separated
    by commas or whitespace, e.g. ``log.retention.check.interval.ms=86400000``. They go at the end
    of every node's ``server.properties`` (a later line wins in Java properties), so they can
    change a default written above (``num.partitions``, ``auto.create.topics.enable``), but not
    the node's identity, listeners, quorum or data directory."""
    text = env.get(EXTRA_PROPERTIES_ENV, "")
    out: dict[str, str] = {}
    for item in text.replace(",", " ").split():
        key, eq, value = item.partition("=")
        if not eq or not value or not _KEY.fullmatch(key):
            raise BadExtraProperties(
                f"{EXTRA_PROPERTIES_ENV}: {item!r} is not key=value (a lower-case property "
                "name, '=', a value without spaces or commas)"
            )
        if key in _OWN_KEYS:
            raise BadExtraProperties(
                f"{EXTRA_PROPERTIES_ENV}: {key} is written by the launcher itself "
                "(ports, node ids and data directories come from kafka start's options)"
            )
        out[key] = value
    return out


def server_properties(
    node: KafkaNode, nodes: Sequence[KafkaNode], extra: Mapping[str, str] | None = None
) -> str:
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
# Written by infra/kafka_local (node_setup.py) on every start; edits are lost.
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
""" + (
        f"# From {EXTRA_PROPERTIES_ENV}:\n" + "".join(f"{k}={v}\n" for k, v in extra.items())
        if extra
        else ""
    )


def format_storage(
    java: str, libs: Path, nodes: Sequence[KafkaNode], cluster_id: str, standalone: bool, out: Out
) -> None:
    """Format the nodes' storage in parallel (one short JVM each)."""
    procs = []
    for n in nodes:
        out(f"Formatting storage of node {n.node_id} (cluster id {cluster_id}): {n.data_dir}")
        args = ["format", "-t", cluster_id, "-c", str(n.properties_file)]
        argv = java_argv(
            java,
            libs,
            (*TOOL_JVM_OPTS, "-Drtx.kafka.log.level=WARN", "-Drtx.kafka.log.target=SYSTEM_ERR"),
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
            text = output.decode("utf-8", "replace").strip().splitlines()[-LOG_TAIL_LINES:]
            raise StorageFormatFailed(
                f"formatting {n.data_dir} failed (status {proc.returncode}):\n"
                + "\n".join("    " + t for t in text)
            )


def check_ports(nodes: Sequence[KafkaNode]) -> None:
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
