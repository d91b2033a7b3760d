"""The launcher's vocabulary: port scheme constants, the error hierarchy, node and cluster records.

The errors (all :class:`KafkaLauncherError`) are drawn in the package docstring
(:mod:`infra.kafka_local`). :class:`KafkaNode` describes one broker+controller JVM,
:class:`ClusterStatus` what :func:`infra.kafka_local.status` returns, and :class:`ClusterState`
what the state file ``cluster.json`` records (:mod:`infra.kafka_local.state` reads and writes it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_KAFKA_VERSION = "4.3.1"
DEFAULT_PORT = 9092
NODE_PORT_STRIDE = 100
HOST = "127.0.0.1"
STATE_FILE = "cluster.json"
LOG_TAIL_LINES = 20

Out = Callable[[str], None]


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


class BadExtraProperties(KafkaLauncherError):
    """``RTX_KAFKA_SERVER_PROPERTIES`` is malformed or sets a property the launcher owns."""


class ConfigMismatch(KafkaLauncherError):
    """The state dir holds a cluster with another node count or ports."""


class StorageFormatFailed(KafkaLauncherError):
    """``kafka.tools.StorageTool format`` failed."""


class StartupFailed(KafkaLauncherError):
    """A node did not become ready; the message ends with the tail of its log."""

    def __init__(self, message: str, log_file: Path | None = None) -> None:
        tail = log_tail(log_file) if log_file is not None else ""
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
class ClusterState:
    """What ``cluster.json`` records."""

    kafka_version: str
    cluster_id: str
    heap: str
    nodes: tuple[KafkaNode, ...]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.address for n in self.nodes)


def log_tail(log_file: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with log_file.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"    (cannot read it: {exc})"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])
