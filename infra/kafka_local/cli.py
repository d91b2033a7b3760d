"""The command line: ``rtx-analytics kafka start|stop|status``, ``python -m infra.kafka_local``.

:func:`register_cli` adds the ``kafka`` subcommands to a parser (``rtx-analytics`` finds it
through the ``rtx_analytics.commands`` entry point ``kafka``, pyproject.toml); launcher errors
become ``error: ...`` on stderr and exit status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from infra.kafka_local.cluster import describe, start, status, stop
from infra.kafka_local.model import (
    DEFAULT_KAFKA_VERSION,
    DEFAULT_PORT,
    NODE_PORT_STRIDE,
    KafkaLauncherError,
)
from infra.kafka_local.state import load_state

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
    state = load_state(st.state_dir)
    if state is not None:
        describe(state, _print)
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
