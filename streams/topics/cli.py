"""``rtx-analytics topics apply|list``: the topic table applied to the cluster, or printed.

Registered through the ``rtx_analytics.commands`` entry point ``topics`` (pyproject.toml).
``apply`` exits 0 when the cluster matches the table (or was fixed to), 1 when drift remains,
2 on an error (one ``error: ...`` line).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from streams.settings import KafkaSettings
from streams.topics.admin import TopicError, apply_topics, open_admin
from streams.topics.table import table_rows

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``topics apply`` and ``topics list``."""
    topics = subparsers.add_parser("topics", help="apply or list the topic table")
    tsub = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    apply_p = tsub.add_parser(
        "apply", help="create missing topics, report drift (never deletes anything)"
    )
    apply_p.add_argument("--fix", action="store_true", help="set drifted configs back")
    apply_p.add_argument(
        "--add-partitions",
        action="store_true",
        help="increase partition counts below the table's (moves keys to other partitions)",
    )
    apply_p.set_defaults(func=cmd_apply)
    list_p = tsub.add_parser("list", help="print the topic table")
    list_p.add_argument("-v", "--verbose", action="store_true", help="also configs and purpose")
    list_p.set_defaults(func=cmd_list)


def cmd_apply(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env()
    print(
        f"applying {len(table_rows(settings))} topics to {settings.bootstrap_servers} "
        f"(prefix {settings.topic_prefix!r}, replication {settings.replication_factor}, "
        f"min.insync.replicas {settings.min_insync_replicas})"
    )
    try:
        return asyncio.run(_apply(settings, fix=args.fix, add_partitions=args.add_partitions))
    except TopicError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


async def _apply(settings: KafkaSettings, *, fix: bool, add_partitions: bool) -> int:
    admin = await open_admin(settings)
    try:
        report = await apply_topics(
            admin, settings, fix=fix, allow_partition_increase=add_partitions
        )
    finally:
        await admin.close()
    unfixed = [d for d in report.drift if d not in report.fixed]
    print(
        f"topics: {len(report.created)} created, {len(report.unchanged)} unchanged, "
        f"{len(report.drift)} drifted settings, {len(report.fixed)} fixed"
    )
    if unfixed:
        print(
            "drift remains: re-run with --fix to set configs back to the table"
            + (
                " and --add-partitions to add partitions"
                if any(d.setting == "partitions" for d in unfixed)
                else ""
            )
            + "; replication factor changes need a partition reassignment",
            file=sys.stderr,
        )
        return EXIT_DRIFT
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env()
    rows = table_rows(settings)
    header = ("topic", "kind", "parts", "repl", "key", "value schema")
    table = [
        (r["topic"], r["kind"], str(r["partitions"]), str(r["replication"]), r["key"], r["value"])
        for r in rows
    ]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths, strict=True)))
    if args.verbose:
        for r in rows:
            configs = ", ".join(f"{k}={v}" for k, v in r["configs"].items())
            print(f"\n{r['topic']}: {r['doc']}\n  configs: {configs}")
    return EXIT_OK
