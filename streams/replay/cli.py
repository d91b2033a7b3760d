"""``rtx-analytics replay`` (a time range of stored alerts, alert actions, routing, trade
markouts, exposure, P&L or account risk, :mod:`.export`) and
``rtx-analytics tail`` (a topic's latest messages, :mod:`.tail`).

Registered through the ``rtx_analytics.commands`` entry point ``replay`` (pyproject.toml).
Errors print one ``error: ...`` line and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from streams.replay.errors import ReplayError
from streams.replay.export import run_cli
from streams.replay.tail import tail
from streams.settings import KafkaSettings
from streams.topics import BY_LOGICAL

EXIT_OK, EXIT_ERROR = 0, 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tail`` and ``replay``."""
    tail_p = subparsers.add_parser("tail", help="print a topic's messages as JSON lines")
    tail_p.add_argument("topic", help="logical topic name, e.g. exposure, alerts, routing_metrics")
    tail_p.add_argument("--from-beginning", action="store_true", help="start at the oldest message")
    tail_p.add_argument("--last", type=int, default=5, help="start N messages before the end")
    tail_p.add_argument("--limit", type=int, default=0, help="stop after N messages (0 = no limit)")
    tail_p.add_argument("-f", "--follow", action="store_true", help="keep waiting for new ones")
    tail_p.set_defaults(func=cmd_tail)

    replay = subparsers.add_parser(
        "replay",
        help=(
            "stored alerts, alert actions, routing decisions, trade markouts, exposure, P&L or "
            "account risk of a time range"
        ),
    )
    kinds = ("alerts", "alert-actions", "routing", "markouts", "exposure", "pnl", "accounts")
    replay.add_argument("kind", choices=kinds, help="what to replay")
    replay.add_argument("--from", dest="start", required=True, help="ISO-8601 start, inclusive")
    replay.add_argument("--to", dest="end", help="ISO-8601 end, exclusive (default: now)")
    replay.add_argument("--symbol", help="only this symbol (comma-separated: any of them)")
    replay.add_argument("--lp", help="only this LP (comma-separated: any of them)")
    replay.add_argument("--summaries", action="store_true", help="routing: window summaries")
    replay.add_argument("--format", choices=("jsonl", "csv", "parquet"), help="default jsonl")
    replay.add_argument("--out", help="output file (default stdout; parquet needs one)")
    replay.set_defaults(func=cmd_replay)


def _err(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def cmd_tail(args: argparse.Namespace) -> int:
    """Print a topic's messages as JSON lines (decoded with the codec; others as raw text)."""
    settings = KafkaSettings.from_env()
    if args.topic not in BY_LOGICAL:
        return _err(f"unknown topic {args.topic!r}; one of {', '.join(BY_LOGICAL)}")
    topic = BY_LOGICAL[args.topic].name(settings.topic_prefix)

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        asyncio.run(
            tail(
                settings,
                topic,
                from_beginning=args.from_beginning,
                last=args.last,
                limit=args.limit,
                follow=args.follow,
                out=out,
            )
        )
    except ReplayError as exc:
        return _err(str(exc))
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay stored alerts, alert actions, routing decisions, trade markouts, exposure, P&L or
    account risk of a time range (see streams/replay/)."""
    kind = "routing-summaries" if args.kind == "routing" and args.summaries else args.kind
    if args.summaries and args.kind != "routing":
        return _err("--summaries goes with routing")
    try:
        return run_cli(
            kind,
            args.start,
            args.end,
            symbol=args.symbol,
            lp=args.lp,
            fmt=args.format,
            out=args.out,
        )
    except ReplayError as exc:  # MissingExtra (pandas, pyarrow) is one too
        return _err(str(exc))
