"""``rtx-analytics simulate``: the generator's events through the producer SDK (the I/O shell).

Paces :class:`~streams.simulator.generator.Simulator` at ``--rate`` events per second (or as fast
as the SDK goes with ``--rate max``), until ``--duration``/``--events`` or SIGINT/SIGTERM, prints
a progress line every ``--report-every`` seconds, and on the way out flushes: every event it
counted as sent was acknowledged by the broker, or the command says how many were not.

Pacing: the events due since the start (``elapsed x rate``) are sent in one go, at most
:data:`CHUNK` at a time, then the loop sleeps until the next one is due but at least
:data:`MIN_SLEEP_S`, so a high rate costs a few wake-ups per millisecond, not one per event.
A run that falls behind (the broker is slow) catches up as fast as the SDK allows.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams.errors import StreamsError
from streams.settings import ConfigError, KafkaSettings
from streams.simulator.generator import EVENT_TYPES, SimConfig, Simulator

CHUNK = 500
MIN_SLEEP_S = 0.002
NOMINAL_MAX_RATE = 2000.0
"""Simulated events per second with ``--rate max`` (the generator's time base)."""

INPUT_TOPICS = ("routing_decisions", "lp_status", "positions", "quotes", "alerts_inbound")


class SimulateError(StreamsError):
    """The simulation could not start or its events were not all delivered."""


@dataclass(slots=True)
class RunReport:
    sent: int
    elapsed_s: float
    by_type: dict[str, int]
    stopped_by: str  # "events", "duration" or the signal's name

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


def describe_counts(by_type: dict[str, int]) -> str:
    return ", ".join(f"{by_type.get(t, 0)} {t}" for t in EVENT_TYPES)


def progress_line(sim: Simulator, sent: int, elapsed_s: float, window_rate: float) -> str:
    s = sim.stats
    lps = [f"{lp.name} {lp.state}" for lp in sim.lps if lp.state != "up"]
    return (
        f"  {elapsed_s:7.1f} s: {sent} events sent ({window_rate:,.0f}/s now, "
        f"{sent / elapsed_s if elapsed_s else 0:,.0f}/s avg) | {describe_counts(s.by_type)} | "
        f"exposure {sim.utilization * 100:.0f}% of limit ({sim.phase}), "
        f"{s.open_positions} open positions, {s.breaches} breaches, {s.rejects} LP rejects"
        + (f" | {', '.join(lps)}" if lps else "")
    )


async def run(
    sim: Simulator,
    publisher: Any,
    *,
    rate: float | None,
    duration_s: float | None = None,
    max_events: int | None = None,
    stop: asyncio.Event | None = None,
    report_every_s: float = 5.0,
    out: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
) -> RunReport:
    """Send ``sim``'s events through ``publisher`` (a started :class:`streams.sdk.Publisher`)
    at ``rate`` per second (None: unpaced) until a limit or ``stop``; then flush."""
    stop = stop or asyncio.Event()
    calls = {m: getattr(publisher, m) for m in EVENT_TYPES}
    start = clock()
    sent = 0
    last_report, last_sent = start, 0
    stopped_by = "signal"
    while not stop.is_set():
        now = clock()
        elapsed = now - start
        if duration_s is not None and elapsed >= duration_s:
            stopped_by = "duration"
            break
        if max_events is not None and sent >= max_events:
            stopped_by = "events"
            break
        due = CHUNK if rate is None else min(CHUNK, int(elapsed * rate) + 1 - sent)
        if max_events is not None:
            due = min(due, max_events - sent)
        if due <= 0:
            assert rate is not None  # noqa: S101 - unpaced runs always have events due
            await asyncio.sleep(max(MIN_SLEEP_S, (sent + 1) / rate - elapsed))
            continue
        for _ in range(due):
            method, kwargs = next(sim)
            await calls[method](**kwargs)
        sent += due
        await asyncio.sleep(0)  # let the SDK's sender tasks and the signal handlers run
        if now - last_report >= report_every_s:
            window = (sent - last_sent) / (now - last_report)
            out(progress_line(sim, sent, elapsed, window))
            last_report, last_sent = now, sent
    out(f"flushing: waiting for the broker to acknowledge {sent} events")
    await publisher.flush()
    return RunReport(sent, clock() - start, dict(sim.stats.by_type), stopped_by)


# -- command line ------------------------------------------------------------------------------


def _positive(kind: type[float] | type[int]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {raw!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be > 0, got {raw}")
        return value

    return parse


def _rate(raw: str) -> float | None:
    if raw.strip().lower() == "max":
        return None
    parsed: float = _positive(float)(raw)
    return parsed


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``simulate`` subcommand's options."""
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument(
        "--rate",
        type=_rate,
        default=200.0,
        metavar="EVENTS_PER_S",
        help="events per second (default 200); 'max' = as fast as the SDK goes",
    )
    p.add_argument("--duration", type=_positive(float), metavar="S", help="stop after S seconds")
    p.add_argument("--events", type=_positive(int), metavar="N", help="stop after N events")
    p.add_argument(
        "--limit-usd",
        type=_positive(float),
        help="exposure limit the breaches aim at (default: the worker's, from "
        "RTX_EXPOSURE_LIMIT_USD / RTX_CONFIG_FILE, else 100000)",
    )
    p.add_argument("--accounts", type=_positive(int), default=200, help="client accounts")
    p.add_argument(
        "--breach-every",
        type=_positive(float),
        default=120.0,
        metavar="S",
        help="mean simulated seconds between exposure-limit breaches (default 120)",
    )
    p.add_argument(
        "--run-id",
        default=None,
        help="id namespace of orders and positions (default: random, so runs never collide; "
        "give one to repeat a run id for id)",
    )
    p.add_argument(
        "--report-every", type=_positive(float), default=5.0, metavar="S", help="progress period"
    )


def _default_limit() -> float:
    from streams.worker.run import load_document, pipeline_config
    from streams.worker.settings import WorkerSettings

    settings = WorkerSettings.from_env()
    return pipeline_config(settings, load_document(settings.config_file)).limits.global_usd


async def _check_topics(settings: KafkaSettings) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    from streams.topics import topic_name

    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, client_id=settings.client_id
    )
    try:
        async with asyncio.timeout(settings.producer_connect_timeout_s):
            await admin.start()
            existing = set(await admin.list_topics())
    except (TimeoutError, KafkaError, OSError) as exc:
        raise SimulateError(
            f"no Kafka broker answered at {settings.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS; "
            f"'rtx-analytics kafka start'): {exc!r}"
        ) from exc
    finally:
        await admin.close()
    missing = [t for t in (topic_name(n, settings) for n in INPUT_TOPICS) if t not in existing]
    if missing:
        raise SimulateError(
            f"input topics missing: {', '.join(missing)} (run 'rtx-analytics topics apply')"
        )


def main(args: argparse.Namespace) -> int:
    """Run ``rtx-analytics simulate``; exit 0 after a clean stop, 2 on an error."""
    from streams.sdk import Publisher, SdkError

    settings = KafkaSettings.from_env()
    limit = args.limit_usd if args.limit_usd is not None else _default_limit()
    run_id = args.run_id or f"r{time.time_ns() % 0xFFFFFF:06x}"
    try:
        config = SimConfig(
            seed=args.seed,
            rate=args.rate or NOMINAL_MAX_RATE,
            limit_usd=limit,
            accounts=args.accounts,
            run_id=run_id,
            breach_every_s=args.breach_every,
            first_breach_s=min(30.0, args.breach_every),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    pace = "as fast as possible" if args.rate is None else f"{args.rate:g} events/s"
    ends = (
        f"{args.duration:g} s" if args.duration else None,
        f"{args.events} events" if args.events else None,
    )
    limits = " or ".join(e for e in ends if e) or "Ctrl-C"
    print(
        f"simulating broker traffic to {settings.bootstrap_servers} (prefix "
        f"{settings.topic_prefix!r}): seed {args.seed}, run id {run_id}, {pace}, until {limits}; "
        f"{args.accounts} accounts, exposure limit {limit:,.0f} USD, a breach every "
        f"~{args.breach_every:g} s",
        flush=True,
    )

    def out(line: str) -> None:
        print(line, flush=True)

    async def go() -> RunReport:
        await _check_topics(settings)
        stop = asyncio.Event()
        caught: list[str] = []
        loop = asyncio.get_running_loop()

        def on_signal(sig: signal.Signals) -> None:
            if not caught:
                out(f"{sig.name}: stopping, then flushing what is queued")
            caught.append(sig.name)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            async with Publisher(settings) as pub:
                report = await run(
                    Simulator(config),
                    pub,
                    rate=args.rate,
                    duration_s=args.duration,
                    max_events=args.events,
                    stop=stop,
                    report_every_s=args.report_every,
                    out=out,
                )
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        if caught:
            report.stopped_by = caught[0]
        return report

    try:
        report = asyncio.run(go())
    except (SdkError, SimulateError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"stopped ({report.stopped_by}): sent and acknowledged {report.sent} events in "
        f"{report.elapsed_s:.1f} s ({report.rate:,.0f}/s): {describe_counts(report.by_type)}",
        flush=True,
    )
    return 0
