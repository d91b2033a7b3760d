"""How long ``rtx-analytics markouts`` takes to catch up on a backlog, against another commit
(docs/benchmarks.md, "Markouts: catching up on a backlog").

    python bench/markouts_catchup.py [--minutes 180] [--rounds 3] [--against HEAD~1]

Needs a broker (``KAFKA_BOOTSTRAP_SERVERS``, default 127.0.0.1:9092: ``rtx-analytics kafka
start``). Each round and side: fresh topics under a prefix of their own (3 input partitions),
the labelled markouts scenario of ``tests/helpers/markouts.py`` (``--minutes`` of four symbols,
EURGBP a cross) published before the process starts, then a markouts process started and timed
until the trade markouts topic holds every trade of the reference run. Also counted: the EURGBP
markouts KNOWN at 5 s and how many of them have a USD figure.

``--against REV`` checks REV out in a temporary ``git worktree`` and runs its markouts process
(and its test helpers) the same way, rounds interleaved A, B, A, B; without it only this tree is
measured. Reported: each round, then the median per side and the ratio this / REV.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


async def one(minutes: int, bootstrap: str) -> dict[str, Any]:
    """One round in the tree of the current directory (run by a child with that cwd)."""
    sys.path.insert(0, os.getcwd())
    from aiokafka.admin import AIOKafkaAdminClient

    from streams.settings import KafkaSettings
    from streams.topics.admin import apply_topics
    from tests.helpers.markouts import Params, run, scenario
    from tests.helpers.markouts_kafka import (
        MarkoutsProcess,
        as_published,
        publish,
        recent,
        wait_for,
    )

    settings = KafkaSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "RTX_TOPIC_PREFIX": f"bench{uuid.uuid4().hex[:8]}.",
            "RTX_INPUT_PARTITIONS": "3",
            "RTX_PRODUCER_LINGER_MS": "1",
        }
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await apply_topics(admin, settings, out=lambda _line: None)
    finally:
        await admin.close()
    sc = scenario(Params(minutes=minutes))
    events = as_published(sc.events, recent(minutes / 60 + 0.2))
    want = len(run(events).markouts)
    print(f"  publishing {len(events):,} events ({minutes} min of scenario)", flush=True)
    await publish(settings, events)
    tmp = Path(tempfile.mkdtemp(prefix="markouts-catchup-"))
    proc = MarkoutsProcess(settings, tmp, "bench-catchup").start()
    start = time.monotonic()
    try:
        records = await wait_for(
            settings, "trade_markouts", lambda rs: len(rs) >= want, "every markout", proc
        )
        elapsed = time.monotonic() - start
    finally:
        proc.stop(signal.SIGTERM)
    crosses = [r for r in records if r["symbol"] == "EURGBP" and r["status"][1] == "KNOWN"]
    return {
        "events": len(events),
        "markouts": len(records),
        "seconds": elapsed,
        "crosses": len(crosses),
        "crossesInUsd": sum(r["markoutUsd"][1] is not None for r in crosses),
    }


def round_in(tree: Path, minutes: int, bootstrap: str) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 - this script, in another tree
        [sys.executable, __file__, "--one", "--minutes", str(minutes), "--bootstrap", bootstrap],
        cwd=tree,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    lines = out.rstrip().splitlines()
    for line in lines[:-1]:
        print(line, flush=True)
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def git(*args: str) -> None:
    exe = shutil.which("git")
    if exe is None:
        sys.exit("error: --against needs git on PATH")
    subprocess.run([exe, "-C", str(ROOT), *args], check=True)  # noqa: S603 - our own arguments


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--minutes", type=int, default=180)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--against", help="a git revision to compare with (a temporary worktree)")
    ap.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(one(args.minutes, args.bootstrap))), flush=True)
        return

    sides: dict[str, Path] = {"this tree": ROOT}
    worktree: Path | None = None
    if args.against:
        worktree = Path(tempfile.mkdtemp(prefix="markouts-catchup-ref-")) / "tree"
        print(f"==> checking out {args.against} in {worktree}", flush=True)
        git("worktree", "add", "-q", "--detach", str(worktree), args.against)
        sides[args.against] = worktree
    print(
        f"==> markouts catch-up: {args.rounds} round(s) per side, broker {args.bootstrap}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        flush=True,
    )
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    try:
        for i in range(args.rounds):
            for name, tree in sides.items():
                print(f"==> round {i + 1}/{args.rounds}: {name}", flush=True)
                r = round_in(tree, args.minutes, args.bootstrap)
                results[name].append(r)
                print(
                    f"  {r['markouts']:,} markouts in {r['seconds']:.1f} s "
                    f"({r['events'] / r['seconds']:,.0f} events/s); EURGBP known at 5 s: "
                    f"{r['crossesInUsd']:,} of {r['crosses']:,} in USD",
                    flush=True,
                )
    finally:
        if worktree is not None:
            git("worktree", "remove", "--force", str(worktree))
    medians = {n: statistics.median(r["seconds"] for r in rs) for n, rs in results.items()}
    print("==> medians")
    for name, rs in results.items():
        usd = min(r["crossesInUsd"] / r["crosses"] for r in rs if r["crosses"])
        print(
            f"  {name}: {medians[name]:.1f} s "
            f"({[round(r['seconds'], 1) for r in rs]}); EURGBP in USD, worst round: {usd:.0%}"
        )
    if args.against:
        ratio = medians["this tree"] / medians[args.against]
        print(f"  ratio this tree / {args.against}: {ratio:.2f}")


if __name__ == "__main__":
    main()
