"""Replay throughput: ``rtx-analytics replay routing`` to JSON lines, against Avro decode alone
and the plain Kafka read of the same records, measured in the same run.

    python bench/replay_throughput.py [--records 300000] [--rounds 3] [--bootstrap HOST:PORT]
                                      [--formats jsonl,csv,parquet] [--keep-topics]

Loads N routing decisions (realistic values: 12 symbols, 4 LPs, prices, order and account ids)
with the producer SDK into a fresh routing-decisions topic (own ``RTX_TOPIC_PREFIX``, 6
partitions), event times spread over the hour before now. Then, per round:

1. read: the replay's Kafka reader alone (offset plan, ``getmany`` on its thread, hand-over of
   the batches), nothing decoded;
2. decode alone: the stored values (collected once, in memory) through the replay's decoder
   (``streams.replay.decode.FastDecoder``: compiled readers) and, for reference, through
   ``schemas.codec.Codec.decode`` (fastavro + canonical re-encode check);
3. replay: ``streams.replay.run_cli`` (what the command runs) over the whole range, JSON lines
   to a file in a temporary directory and to /dev/null, in this process (CPU time from
   ``time.process_time``); then the command itself in a fresh process (``python -m
   streams.cli replay``: its CPU time includes start-up, and its heap starts cold); after the
   rounds once each the other formats.

Prints records/s for each, the CPU time of the replay (this process: the replay is
single-threaded, so records per CPU-second ~ records/s on an idle core), the load average, the
median of the rounds and the ratio replay / decode alone. Goal: >= 100,000 records/s to JSON
lines. Timings on a shared machine are noisy; compare ratios within one run, and CPU time.

Needs a broker: --bootstrap or KAFKA_BOOTSTRAP_SERVERS (``rtx-analytics kafka start``).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

from aiokafka.admin import AIOKafkaAdminClient

from schemas.codec import default_codec
from streams.replay import Replay, run_cli
from streams.replay.decode import FastDecoder
from streams.replay.reader import _END
from streams.sdk import Publisher
from streams.settings import KafkaSettings
from streams.topics import BY_LOGICAL, apply_topics

SYMBOLS = [
    "EURUSD",
    "GBPUSD",
    "USDJPY",
    "AUDUSD",
    "USDCHF",
    "USDCAD",
    "NZDUSD",
    "EURGBP",
    "EURJPY",
    "XAUUSD",
    "US500",
    "GER40",
]
LPS = ["LMAX", "Integral", "Currenex", "PrimeXM"]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


async def load(settings: KafkaSettings, n: int, seed: int) -> tuple[str, str]:
    """Create the topic and publish n decisions; returns the ISO start and end of the range."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        spec = BY_LOGICAL["routing_decisions"]
        await apply_topics(admin, settings, specs=(spec,), out=lambda _line: None)
    finally:
        await admin.close()
    rng = random.Random(seed)
    now_us = int(time.time() * 1e6)
    start_us = (now_us - 3600 * 1_000_000) // 1000 * 1000  # a whole ms: Kafka's precision
    step = 3600 * 1_000_000 // n
    started = time.perf_counter()
    async with Publisher(settings) as pub:
        for i in range(n):
            abook = rng.random() < 0.6
            await pub.routing_decision(
                rng.choice(SYMBOLS),
                rng.choice(("BUY", "SELL")),
                round(rng.uniform(1_000, 500_000), 2),
                "ABOOK" if abook else "BBOOK",
                rng.choice(LPS) if abook else None,
                round(rng.expovariate(1 / 12), 3),
                round(rng.uniform(0.00005, 0.0004), 6),
                round(rng.gauss(0, 0.00005), 6),
                price=round(rng.uniform(0.6, 2000), 5),
                order_id=f"ord-{i:09d}",
                account_id=f"acc-{rng.randrange(5000):05d}",
                lp_rejected=abook and rng.random() < 0.02,
                event_time=start_us + i * step,
            )
            if i and i % 100_000 == 0:
                progress(f"  published {i:,}/{n:,}")
        await pub.flush()
    elapsed = time.perf_counter() - started
    progress(f"loaded {n:,} routing decisions in {elapsed:.1f} s ({n / elapsed:,.0f}/s)")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first = epoch + timedelta(microseconds=start_us)
    return first.isoformat(), (epoch + timedelta(microseconds=now_us + 1_000_000)).isoformat()


def read_only(settings: KafkaSettings, start: str, end: str) -> tuple[float, list[bytes]]:
    """The replay's reader alone: records/s, and the values read (for decode alone)."""
    replay = Replay("routing", start, end, settings=settings).open()
    values: list[bytes] = []
    t = time.perf_counter()
    n = 0
    try:
        while True:
            item = replay._queue.get()
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            n += len(item[1])
            values.extend(r.value for r in item[1])
    finally:
        replay.close()
    return n / (time.perf_counter() - t), values


def decode_rate(decode: object, values: list[bytes]) -> tuple[float, float]:
    """Records/s of ``decode`` alone: wall, and per CPU-second."""
    f = decode  # a bound method: decode(value)
    t, cpu = time.perf_counter(), time.process_time()
    for v in values:
        f(v)  # type: ignore[operator]
    return len(values) / (time.perf_counter() - t), len(values) / (time.process_time() - cpu)


def replay_rate(
    settings: KafkaSettings, start: str, end: str, fmt: str, out: str
) -> tuple[float, float]:
    """The command in this process: rows/s (wall) and CPU seconds of this process a row (the
    replay is single-threaded, so rows per CPU-second ~ rows/s on an idle core)."""
    err = io.StringIO()
    t, cpu = time.perf_counter(), time.process_time()
    code = run_cli("routing", start, end, fmt=fmt, out=out, settings=settings, err=err)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    assert code == 0, err.getvalue()
    summary = [line for line in err.getvalue().splitlines() if line.startswith("wrote")]
    rows = int(summary[-1].split()[1].replace(",", ""))
    return rows / elapsed, cpu / rows


def command_rate(settings: KafkaSettings, start: str, end: str, out: str) -> tuple[float, float]:
    """``rtx-analytics replay routing`` as a user runs it, in a fresh process, to a JSON lines
    file: the records/s it prints (replay only) and its CPU seconds a record (user + system,
    start-up and imports included)."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "RTX_TOPIC_PREFIX": settings.topic_prefix,
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, "-m", "streams.cli", "replay", "routing", "--from", start]
    done = subprocess.run(  # noqa: S603 - our own interpreter and module, fixed arguments
        [*cmd, "--to", end, "--out", out], env=env, capture_output=True, text=True, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr
    summary = [line for line in done.stderr.splitlines() if line.startswith("wrote")][-1]
    rows = int(summary.split()[1].replace(",", ""))
    rate = float(summary.split("(")[2].split()[0].replace(",", ""))
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return rate, cpu / rows


async def delete_topic(settings: KafkaSettings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        await admin.start()
        await admin.delete_topics([BY_LOGICAL["routing_decisions"].name(settings.topic_prefix)])
    except Exception as exc:  # noqa: BLE001 - cleanup only
        progress(f"could not delete the topic: {exc!r}")
    finally:
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    parser.add_argument("--formats", default="jsonl,csv,parquet")
    parser.add_argument("--keep-topics", action="store_true")
    args = parser.parse_args()
    env = {"RTX_TOPIC_PREFIX": f"benchreplay{uuid.uuid4().hex[:8]}.", "RTX_INPUT_PARTITIONS": "6"}
    if args.bootstrap:
        env["KAFKA_BOOTSTRAP_SERVERS"] = args.bootstrap
    settings = KafkaSettings.from_env(env)
    print(f"machine: {machine()}; broker {settings.bootstrap_servers}")
    start, end = asyncio.run(load(settings, args.records, args.seed))
    fast = FastDecoder(["RoutingDecision"])
    codec = default_codec()
    rows: list[tuple[float, ...]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(1, args.rounds + 1):
                read, values = read_only(settings, start, end)
                assert len(values) == args.records, len(values)
                dec, dec_cpu = decode_rate(fast.decode, values)
                ref, _ = decode_rate(codec.decode, values)
                to_file, cpu_file = replay_rate(settings, start, end, "jsonl", f"{tmp}/out.jsonl")
                to_null, cpu_null = replay_rate(settings, start, end, "jsonl", os.devnull)
                cmd, cpu_cmd = command_rate(settings, start, end, f"{tmp}/cmd.jsonl")
                rows.append(
                    (read, dec, ref, to_file, to_null, cpu_file * 1e6, 1 / cpu_file, dec_cpu)
                    + (cmd, cpu_cmd * 1e6)
                )
                progress(
                    f"round {r} (load {os.getloadavg()[0]:.1f}): read {read:,.0f}/s, decode "
                    f"{dec:,.0f}/s (codec {ref:,.0f}/s), replay jsonl file {to_file:,.0f}/s "
                    f"({cpu_file * 1e6:.2f} us CPU a record), /dev/null {to_null:,.0f}/s "
                    f"({cpu_null * 1e6:.2f} us CPU); the command {cmd:,.0f}/s "
                    f"({cpu_cmd * 1e6:.2f} us CPU a record with start-up)"
                )
            others = {}
            for fmt in [f for f in args.formats.split(",") if f and f != "jsonl"]:
                others[fmt] = replay_rate(settings, start, end, fmt, f"{tmp}/out.{fmt}")
    finally:
        if not args.keep_topics:
            asyncio.run(delete_topic(settings))

    names = [
        "Kafka read only",
        "decode alone",
        "codec.decode",
        "replay jsonl file",
        "/dev/null",
        "CPU us/record (file)",
        "records per CPU-s",
        "decode alone per CPU-s",
        "command (fresh process) jsonl file",
        "its CPU us/record incl. start-up",
    ]
    print(
        f"\n{args.records:,} routing decisions, 6 partitions, {args.rounds} rounds "
        f"(records/s wall unless noted; load average now {os.getloadavg()[0]:.1f})"
    )
    print("| round | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")

    def cells(row: tuple[float, ...], bold: bool = False) -> str:
        b = "**" if bold else ""
        text = [f"{v:.2f}" if k in (5, 9) else f"{v:,.0f}" for k, v in enumerate(row)]
        return " | ".join(f"{b}{t}{b}" for t in text)

    for i, row in enumerate(rows, 1):
        print(f"| {i} | {cells(row)} |")
    med = [statistics.median(col) for col in zip(*rows, strict=True)]
    print(f"| **median** | {cells(tuple(med), bold=True)} |")
    print(
        f"\nreplay to a JSON lines file: {med[3]:,.0f} records/s wall, {med[6]:,.0f} records "
        f"per CPU-second ({med[5]:.2f} us CPU a record; goal >= 100,000: "
        f"{'met' if max(med[3], med[6]) >= 100_000 else 'MISSED'}); replay / decode alone = "
        f"{med[3] / med[1]:.2f} wall, {med[6] / med[7]:.2f} per CPU-second; "
        f"compiled decode / codec.decode = {med[1] / med[2]:.1f}x"
    )
    for fmt, (rate, cpu) in others.items():
        print(f"replay to {fmt} (one run): {rate:,.0f} records/s ({cpu * 1e6:.2f} us CPU a record)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
