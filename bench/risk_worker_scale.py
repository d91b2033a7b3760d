"""Risk at full scale through the worker: memory, P&L after a quote, the top-N refresh, CPU.

    python bench/risk_worker_scale.py [--positions 1000000] [--accounts 100000] [--symbols 30]
                                      [--quote-rate 1000] [--seconds 30]

Starts ``python -m streams.cli worker`` on topics of its own (as bench/worker_latency.py does,
the broker stamping this run's topics with their append time), waits until it is ready, then:

1. **load**: publishes ``--positions`` open positions over ``--accounts`` accounts and
   ``--symbols`` symbols (the population of bench/risk_scale.py: 70 % B-book) with the SDK at
   ``--load-rate`` a second (10,000: about half what one worker takes in here; a burst of a
   million at once makes the worker's internal topic lag by minutes), and
   waits until the exposure record counts them all and the worker's CPU has settled (the
   account-risk records of every account written once);
2. **quotes**: ``--quote-rate`` quotes a second (a random walk, every symbol in turn) for
   ``--seconds``, and measures:

- P&L after a quote: for each quote, the first pnl-change whose eventTime >= the quote's,
  its broker append time minus the quote's eventTime (p50/p99/max, ms);
- the top-N refresh: the gaps between consecutive account-risk-top records (append times) and
  how far each one's eventTime trails its append (the age of its figures);
- the worker's CPU (utime + stime from ``/proc/<pid>/stat``) over the quote phase, as a share
  of one core;
- the worker's memory: resident set size (``VmRSS``) when ready (empty) and after the load,
  the difference per open position and per account; the peak (``VmHWM``).

Needs a broker: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092; ``rtx-analytics kafka start``).
Linux only (``/proc``). Results: docs/benchmarks.md, "P&L and account risk".
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import random
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from risk_scale import SYMBOLS, position  # the sibling scripts: bench/ is sys.path[0] when run
from worker_latency import now_us, percentile, use_log_append_time, wait_until_ready
from worker_throughput import WorkerProcess, create_topics, delete_topics, machine, progress

from schemas.codec import default_codec
from streams.sdk import Publisher
from streams.settings import KafkaSettings
from streams.topics import BY_LOGICAL, topic_name

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (``/proc/<pid>/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


class Outputs:
    """What the run reads back: exposure's position count, pnl-change after each quote, the
    account-risk-top records."""

    def __init__(self) -> None:
        self.codec = default_codec()
        self.position_count = 0
        self.quotes: list[int] = []  # eventTimes of the measured quotes, ascending
        self.next_quote = 0
        self.pnl_ms: list[float] = []
        self.top_append_ms: list[float] = []  # append times of the AccountRiskTop records
        self.top_age_ms: list[float] = []  # append time - eventTime of each
        self.top_accounts = 0
        self.measuring = False
        # The routing and alert probes of worker_latency.wait_until_ready.
        self.routing: dict[str, int] = {}
        self.alerts: dict[str, int] = {}
        self.max_position_count = 0

    def outstanding(self) -> dict[str, int]:
        return {"probes": len(self.routing) + len(self.alerts)}

    def on_exposure(self, record: dict[str, object], _at_ms: float) -> None:
        self.position_count = int(record["positionCount"])  # type: ignore[call-overload]
        self.max_position_count = max(self.max_position_count, self.position_count)

    def on_pnl(self, record: dict[str, object], at_ms: float) -> None:
        t = int(record["eventTime"])  # type: ignore[call-overload]
        while self.next_quote < len(self.quotes) and self.quotes[self.next_quote] <= t:
            self.pnl_ms.append(at_ms - self.quotes[self.next_quote] / 1000)
            self.next_quote += 1

    def on_top(self, record: dict[str, object], at_ms: float) -> None:
        if self.measuring:
            self.top_append_ms.append(at_ms)
            self.top_age_ms.append(at_ms - int(record["eventTime"]) / 1000)  # type: ignore[call-overload]
            self.top_accounts = int(record["accounts"])  # type: ignore[call-overload]

    def on_routing(self, record: dict[str, object], _at_ms: float) -> None:
        self.routing.pop(str(record.get("eventId")), None)

    def on_alert(self, record: dict[str, object], _at_ms: float) -> None:
        self.alerts.pop(str(record.get("title")), None)


async def read_outputs(settings: KafkaSettings, out: Outputs, stop: asyncio.Event) -> None:
    handlers = {
        "exposure": out.on_exposure,
        "pnl": out.on_pnl,
        "account_risk_top": out.on_top,
        "routing_metrics": out.on_routing,
        "alerts": out.on_alert,
    }
    by_topic = {topic_name(logical, settings): h for logical, h in handlers.items()}
    tps = [
        TopicPartition(topic_name(logical, settings), p)
        for logical in handlers
        for p in range(BY_LOGICAL[logical].partition_count(settings))
    ]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            for tp, records in batch.items():
                handle = by_topic[tp.topic]
                for r in records:
                    decode(out, handle, r)
    finally:
        await consumer.stop()


def decode(out: Outputs, handle: object, r: ConsumerRecord[bytes, bytes]) -> None:
    if r.value is None:
        return
    record = out.codec.decode(r.value).record
    handle(record, float(r.timestamp))  # type: ignore[operator]


async def load_positions(pub: Publisher, args: argparse.Namespace) -> None:
    rnd = random.Random(14)
    symbols = list(SYMBOLS)[: args.symbols]
    started = time.monotonic()
    last = started
    for i in range(args.positions):
        if i % 1000 == 0:  # paced: --load-rate positions a second
            ahead = started + i / args.load_rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
        p = position(i, rnd, args.accounts, symbols)
        await pub.position(
            p["positionId"],
            p["accountId"],
            p["symbol"],
            p["side"],
            p["volume"],
            p["openPrice"],
            p["book"],
            1,
            lp=p["lp"],
            realized_pnl=0.0,
        )
        if time.monotonic() - last >= 5:
            last = time.monotonic()
            progress(f"load: {i + 1:,} of {args.positions:,} positions published")
    await pub.flush()
    progress(f"load: {args.positions:,} positions published in {time.monotonic() - started:.0f} s")


async def wait_loaded(
    out: Outputs, worker: WorkerProcess, pid: int, target: int, timeout_s: float
) -> float:
    """Until exposure counts ``target`` positions, then until the worker's CPU over 5 s is
    under half a core (the account records of the load written). Returns seconds waited."""
    started = time.monotonic()
    last = started
    while out.position_count < target:
        worker.check_alive()
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"exposure counts {out.position_count:,} of {target:,} positions")
        if time.monotonic() - last >= 5:
            last = time.monotonic()
            progress(f"worker: exposure counts {out.position_count:,} of {target:,} positions")
        await asyncio.sleep(0.2)
    progress(f"worker: all {target:,} positions counted after {time.monotonic() - started:.0f} s")
    while time.monotonic() - started < timeout_s:
        before = cpu_seconds(pid)
        await asyncio.sleep(5)
        share = (cpu_seconds(pid) - before) / 5
        progress(f"worker: settling, CPU {share:.0%} of a core over 5 s")
        if share < 0.5:
            break
    return time.monotonic() - started


@dataclasses.dataclass
class QuotePhase:
    sent: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    behind_ms: float = 0.0


async def publish_quotes(
    pub: Publisher, out: Outputs, args: argparse.Namespace, pid: int
) -> QuotePhase:
    rnd = random.Random(7)
    symbols = list(SYMBOLS)[: args.symbols]
    mids = {s: SYMBOLS[s] for s in symbols}
    batch = max(1, round(args.quote_rate / 200))
    interval = batch / args.quote_rate
    phase = QuotePhase()
    loop = asyncio.get_running_loop()
    out.measuring = True
    cpu_before = cpu_seconds(pid)
    start = loop.time()
    end = start + args.seconds
    k = 0
    last = start
    while True:
        due = start + k * interval
        now = loop.time()
        if due >= end:
            break
        if due > now:
            await asyncio.sleep(due - now)
        else:
            phase.behind_ms = max(phase.behind_ms, (now - due) * 1000)
        k += 1
        for _ in range(batch):
            symbol = symbols[phase.sent % len(symbols)]
            mid = mids[symbol] = mids[symbol] * (1 + rnd.gauss(0, 5e-5))
            t = now_us()
            out.quotes.append(t)
            await pub.quote(symbol, mid * 0.99995, mid * 1.00005, event_time=t)
            phase.sent += 1
        if now - last >= 5:
            last = now
            progress(f"quotes: {phase.sent:,} sent, {len(out.pnl_ms):,} answered by pnl-change")
    await pub.flush()
    phase.seconds = loop.time() - start
    phase.cpu_s = cpu_seconds(pid) - cpu_before
    return phase


def summary(values: list[float]) -> str:
    if not values:
        return "n=0"
    v = sorted(values)
    return (
        f"n={len(v):,}  p50 {percentile(v, 50):.1f}  p99 {percentile(v, 99):.1f}  "
        f"max {v[-1]:.1f} ms"
    )


async def main(args: argparse.Namespace) -> None:
    base = KafkaSettings.from_env()
    run_id = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(base, topic_prefix=f"bench-riskscale-{run_id}.")
    print(
        f"risk through the worker: {args.positions:,} positions, {args.accounts:,} accounts, "
        f"{args.symbols} symbols; then {args.quote_rate:,} quotes/s for {args.seconds:g} s; "
        f"broker {base.bootstrap_servers}"
    )
    await create_topics(settings)
    await use_log_append_time(settings)
    out = Outputs()
    stop = asyncio.Event()
    reader = asyncio.create_task(read_outputs(settings, out, stop))
    with tempfile.TemporaryDirectory(prefix="bench-riskscale-") as tmp:
        worker = WorkerProcess(settings, f"bench-riskscale-{run_id}", Path(tmp))
        try:
            await worker.start()
            assert worker.proc is not None  # noqa: S101 - started just above
            pid = worker.proc.pid
            async with Publisher(settings) as pub:
                ready_s = await wait_until_ready(pub, out, settings)  # type: ignore[arg-type]
                empty = memory_kib(pid)
                probes = out.position_count
                progress(f"worker ready after {ready_s:.1f} s, RSS {empty['VmRSS'] / 1024:.0f} MiB")
                await load_positions(pub, args)
                target = probes + args.positions
                loaded_s = await wait_loaded(out, worker, pid, target, args.load_timeout)
                loaded = memory_kib(pid)
                phase = await publish_quotes(pub, out, args, pid)
            deadline = time.monotonic() + 15
            while out.next_quote < len(out.quotes) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.1)  # polls what the reader task has seen
            final = memory_kib(pid)
        finally:
            stop.set()
            await reader
            await worker.stop()
            await delete_topics(settings)

    grown = (loaded["VmRSS"] - empty["VmRSS"]) * 1024
    gaps = [b - a for a, b in zip(out.top_append_ms, out.top_append_ms[1:], strict=False)]
    print()
    print(f"machine: {machine()}")
    print(f"load: counted and settled {loaded_s:.0f} s after publishing began")
    print(
        f"memory: RSS {empty['VmRSS'] / 1024:,.0f} MiB empty, {loaded['VmRSS'] / 1024:,.0f} MiB "
        f"loaded, {final['VmRSS'] / 1024:,.0f} MiB after the quotes, "
        f"peak {final['VmHWM'] / 1024:,.0f} MiB: "
        f"{grown / args.positions:,.0f} bytes per open position = "
        f"{grown / max(out.top_accounts, 1):,.0f} bytes per account ({out.top_accounts:,} accounts)"
    )
    print(
        f"quotes: {phase.sent:,} in {phase.seconds:.1f} s = {phase.sent / phase.seconds:,.0f}/s "
        f"(publishing fell behind by at most {phase.behind_ms:.0f} ms)"
    )
    print(f"P&L after a quote (pnl-change append - quote eventTime): {summary(out.pnl_ms)}")
    print(
        f"  quotes never answered: {len(out.quotes) - out.next_quote:,}"
        f"{'' if out.pnl_ms else ' (none answered)'}"
    )
    print(f"top-N refresh, gap between records: {summary(gaps)}")
    print(f"top-N age of its figures at append: {summary(out.top_age_ms)}")
    print(
        f"worker CPU during the quotes: {phase.cpu_s:.1f} s in {phase.seconds:.1f} s = "
        f"{phase.cpu_s / phase.seconds:.0%} of a core"
    )
    met = bool(gaps) and percentile(sorted(gaps), 50) <= 1_000 * 1.1
    print(f"top-N at least once a second (median gap <= 1.1 s): {'met' if met else 'MISSED'}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--symbols", type=int, default=30, choices=range(1, len(SYMBOLS) + 1))
    parser.add_argument("--quote-rate", type=int, default=1_000, help="quotes per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of quotes measured")
    parser.add_argument(
        "--load-rate",
        type=float,
        default=10_000.0,
        help="positions published per second in the load (the worker's steady rate, not a burst)",
    )
    parser.add_argument(
        "--load-timeout", type=float, default=900.0, help="max seconds for the load to be counted"
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
