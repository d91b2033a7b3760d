"""Run a real Apache Kafka cluster (KRaft) on this host from Maven Central jars, without Docker.

``rtx-analytics kafka start|stop|status`` (or ``python -m infra.kafka_local kafka ...``) and the
test fixtures call :func:`start`, :func:`stop` and :func:`status`; fault tests also use
:func:`kill_node` and :func:`restart_node`. Unix only (signals, process sessions, ``flock``).

Modules (this package re-exports the public names, so ``from infra import kafka_local`` is the
API)::

    model        constants of the port scheme, the errors, KafkaNode / ClusterStatus / ClusterState
    jars         java 17+ lookup, the Maven fetch of the jars into the cache, JVM command lines
    state        the state dir: node plan, cluster.json, its lock
    node_setup   cluster ids, server.properties, storage format, free-port check
    processes    spawning, signalling and stopping the JVMs; waiting until they are ready
    cluster      start, stop, status, kill_node, restart_node
    cli          kafka start|stop|status (register_cli, main; __main__ runs main)

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
    RTX_KAFKA_SERVER_PROPERTIES
                          extra broker properties, ``key=value`` separated by commas, added
                          to every node's ``server.properties`` when it starts; ``make test``
                          sets it (docs/kafka-local.md, "The test broker")
    ===================== ==================================================================

Errors (every one is a :class:`KafkaLauncherError`)::

    KafkaLauncherError
    ├── PrerequisiteMissing   no java (17+) or, with a cold jar cache, no mvn
    ├── DownloadFailed        mvn failed (message ends with the tail of its output); retriable
    ├── PortInUse             a port of the scheme above is taken by another process
    ├── BadExtraProperties    RTX_KAFKA_SERVER_PROPERTIES is malformed or sets an owned key
    ├── ConfigMismatch        the state dir holds a cluster of another shape
    ├── StorageFormatFailed   kafka.tools.StorageTool format failed
    └── StartupFailed         (message ends with the last lines of the node's log)
        ├── BrokerExited      a JVM exited while starting
        └── StartupTimeout    not ready within timeout_s; retriable
"""

from __future__ import annotations

from infra.kafka_local.cli import main, register_cli
from infra.kafka_local.cluster import kill_node, restart_node, start, status, stop
from infra.kafka_local.jars import libs_dir
from infra.kafka_local.model import (
    DEFAULT_KAFKA_VERSION,
    DEFAULT_PORT,
    HOST,
    NODE_PORT_STRIDE,
    STATE_FILE,
    BadExtraProperties,
    BrokerExited,
    ClusterStatus,
    ConfigMismatch,
    DownloadFailed,
    KafkaLauncherError,
    KafkaNode,
    Out,
    PortInUse,
    PrerequisiteMissing,
    StartupFailed,
    StartupTimeout,
    StorageFormatFailed,
)
from infra.kafka_local.node_setup import EXTRA_PROPERTIES_ENV, TEST_BROKER_PROPERTIES
from infra.kafka_local.state import default_state_dir

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "DEFAULT_PORT",
    "EXTRA_PROPERTIES_ENV",
    "HOST",
    "NODE_PORT_STRIDE",
    "STATE_FILE",
    "BadExtraProperties",
    "BrokerExited",
    "ClusterStatus",
    "ConfigMismatch",
    "DownloadFailed",
    "KafkaLauncherError",
    "KafkaNode",
    "Out",
    "PortInUse",
    "PrerequisiteMissing",
    "StartupFailed",
    "StartupTimeout",
    "StorageFormatFailed",
    "TEST_BROKER_PROPERTIES",
    "default_state_dir",
    "kill_node",
    "libs_dir",
    "main",
    "register_cli",
    "restart_node",
    "start",
    "status",
    "stop",
]
