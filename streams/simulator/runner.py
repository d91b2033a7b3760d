"""The simulation's I/O shell: the generator's events through the producer SDK (the command line
is :mod:`streams.simulator.cli`).

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

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams.errors import StreamsError
from streams.sdk import Publisher
from streams.settings import KafkaSettings
from streams.simulator.generator import EVENT_TYPES, SimConfig, Simulator

CHUNK = 500
MIN_SLEEP_S = 0.002
NOMINAL_MAX_RATE = 2000.0
"""Simulated events per second with ``--rate max`` (the generator's time base)."""

INPUT_TOPICS = ("routing_decisions", "lp_status", "positions", "quotes", "alerts_inbound")


class SimulateError(StreamsError):
    """The simulation could not start or its events were not all delivered."""


@dataclass(frozen=True, slots=True)
class Pacing:
    """How fast and how long to send: ``rate`` events per second (None: as fast as the SDK
    goes) until ``duration_s`` or ``max_events`` (None: no such limit), a progress line every
    ``report_every_s``."""

    rate: float | None = 200.0
    duration_s: float | None = None
    max_events: int | None = None
    report_every_s: float = 5.0


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


async def simulate(
    settings: KafkaSettings, config: SimConfig, pacing: Pacing, out: Callable[[str], None] = print
) -> RunReport:
    """Check the input topics, then :func:`run` a :class:`Simulator` of ``config`` through a
    :class:`streams.sdk.Publisher` at ``pacing`` until a limit or SIGINT/SIGTERM (then flush
    what is queued: ``stopped_by`` names the signal). Raises SimulateError or SdkError."""
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
                rate=pacing.rate,
                duration_s=pacing.duration_s,
                max_events=pacing.max_events,
                stop=stop,
                report_every_s=pacing.report_every_s,
                out=out,
            )
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if caught:
        report.stopped_by = caught[0]
    return report
