"""``rtx-analytics markouts``: run the markout stages and boards (:mod:`.run`).

Registered by the worker's entry point (:mod:`streams.worker.cli`): the markouts process is a
stream processor of its own, started beside the workers.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``markouts``."""
    markouts = subparsers.add_parser(
        "markouts",
        help="run the flow-toxicity processor: trade markouts, account toxicity, LP markouts, "
        "curves, routing advice, toxic-flow alerts",
    )
    markouts.set_defaults(func=cmd_markouts)


def cmd_markouts(args: argparse.Namespace) -> int:
    # Imported here: aiokafka and prometheus are not needed by --help or other commands.
    from streams.worker.markouts.run import run

    return run()
