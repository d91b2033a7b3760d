"""``rtx-analytics worker``: run the stream processor (:mod:`streams.worker.run`).

Registered through the ``rtx_analytics.commands`` entry point ``worker`` (pyproject.toml),
with the other stream processor, ``rtx-analytics markouts`` (:mod:`streams.worker.markouts`).
"""

from __future__ import annotations

import argparse

from streams.worker.markouts import cli as markouts_cli


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``worker`` and ``markouts``."""
    worker = subparsers.add_parser(
        "worker", help="run the stream processor (Faust): exposure, alerts, routing, LP metrics"
    )
    worker.add_argument(
        "--loglevel",
        default="info",
        choices=("debug", "info", "warn", "error"),
        help="log level (default info)",
    )
    worker.set_defaults(func=cmd_worker)
    markouts_cli.register(subparsers)


def cmd_worker(args: argparse.Namespace) -> int:
    # Imported here: Faust is heavy, and every other command (and --help) goes without it.
    from streams.worker.run import run

    return run(loglevel=args.loglevel)
