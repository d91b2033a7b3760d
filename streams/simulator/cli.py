"""``rtx-analytics produce`` (a few deterministic sample events, :mod:`.samples`) and
``rtx-analytics simulate`` (realistic traffic, :mod:`.runner`; docs/simulator.md).

Registered through the ``rtx_analytics.commands`` entry point ``simulator`` (pyproject.toml).
Both exit 0 once the broker acknowledged every event sent, 2 on an error (one ``error: ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from streams.sdk import Publisher, SdkError
from streams.settings import ConfigError, KafkaSettings
from streams.simulator.generator import SimConfig, Simulator
from streams.simulator.runner import (
    NOMINAL_MAX_RATE,
    Pacing,
    SimulateError,
    describe_counts,
    simulate,
)
from streams.simulator.samples import sample_events
from streams.simulator.traders import labels_document

EXIT_OK, EXIT_ERROR = 0, 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``produce`` and ``simulate``."""
    produce = subparsers.add_parser("produce", help="send sample events through the producer SDK")
    produce.add_argument("--count", type=int, default=200, help="events to send (default 200)")
    produce.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    produce.set_defaults(func=cmd_produce)

    sim = subparsers.add_parser("simulate", help="send realistic broker traffic through the SDK")
    add_arguments(sim)
    sim.set_defaults(func=cmd_simulate)


def _err(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _say(line: str) -> None:
    print(line, flush=True)


# -- produce -----------------------------------------------------------------------------------


def cmd_produce(args: argparse.Namespace) -> int:
    """Send ``--count`` sample events and wait until the broker acknowledged them."""
    settings = KafkaSettings.from_env()
    print(
        f"producing {args.count} sample events (seed {args.seed}) to {settings.bootstrap_servers}"
    )
    try:
        return asyncio.run(_produce(settings, args.count, args.seed))
    except SdkError as exc:
        return _err(str(exc))


async def _produce(settings: KafkaSettings, count: int, seed: int) -> int:
    counts: dict[str, int] = {}
    started = time.monotonic()
    last_report = started
    async with Publisher(settings) as pub:
        for i, (method, kwargs) in enumerate(sample_events(count, seed), 1):
            await getattr(pub, method)(**kwargs)
            counts[method] = counts.get(method, 0) + 1
            now = time.monotonic()
            if now - last_report >= 1.0:
                _say(f"  queued {i}/{count} events")
                last_report = now
        await pub.flush()
    elapsed = time.monotonic() - started
    detail = ", ".join(f"{n} {m}" for m, n in sorted(counts.items()))
    print(f"sent and acknowledged {sum(counts.values())} events in {elapsed:.2f} s: {detail}")
    return EXIT_OK


# -- simulate ----------------------------------------------------------------------------------


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
    p.add_argument(
        "--hidden-informed",
        type=_share,
        default=0.04,
        metavar="SHARE",
        help="share of the accounts (besides the known toxic ones) that turn informed within "
        "60-600 simulated seconds (default 0.04; 0 = none)",
    )
    p.add_argument(
        "--labels",
        metavar="FILE",
        help="write the trader labels (informed or noise accounts, last-look LPs) as JSON",
    )


def _share(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {raw!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be 0..1, got {raw}")
    return value


def _default_limit() -> float:
    from streams.worker.run import load_document, pipeline_config
    from streams.worker.settings import WorkerSettings

    settings = WorkerSettings.from_env()
    return pipeline_config(settings, load_document(settings.config_file)).limits.global_usd


def _config(args: argparse.Namespace) -> SimConfig:
    """The generator's config from the options; a bad combination is a ConfigError."""
    limit = args.limit_usd if args.limit_usd is not None else _default_limit()
    run_id = args.run_id or f"r{time.time_ns() % 0xFFFFFF:06x}"
    try:
        return SimConfig(
            seed=args.seed,
            rate=args.rate or NOMINAL_MAX_RATE,
            limit_usd=limit,
            accounts=args.accounts,
            run_id=run_id,
            breach_every_s=args.breach_every,
            first_breach_s=min(30.0, args.breach_every),
            hidden_informed=args.hidden_informed,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _write_labels(path: str, config: SimConfig) -> None:
    """The trader labels of ``config``, as JSON (they need no run: docs/simulator.md)."""
    sim = Simulator(config)
    doc = labels_document(
        config.seed, sim.labels.values(), {lp.name: lp.profile.last_look for lp in sim.lps}
    )
    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
    except OSError as exc:
        raise ConfigError(f"--labels {path}: cannot write: {exc.strerror or exc}") from exc
    informed = sum(lb.kind == "informed" for lb in sim.labels.values())
    _say(f"labels: {informed} informed of {len(sim.labels)} accounts, written to {path}")


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run ``rtx-analytics simulate``; exit 0 after a clean stop, 2 on an error."""
    settings = KafkaSettings.from_env()
    config = _config(args)
    pace = "as fast as possible" if args.rate is None else f"{args.rate:g} events/s"
    ends = (
        f"{args.duration:g} s" if args.duration else None,
        f"{args.events} events" if args.events else None,
    )
    limits = " or ".join(e for e in ends if e) or "Ctrl-C"
    if args.labels:
        _write_labels(args.labels, config)
    _say(
        f"simulating broker traffic to {settings.bootstrap_servers} (prefix "
        f"{settings.topic_prefix!r}): seed {args.seed}, run id {config.run_id}, {pace}, until "
        f"{limits}; {args.accounts} accounts, exposure limit {config.limit_usd:,.0f} USD, "
        f"a breach every ~{args.breach_every:g} s"
    )
    try:
        pacing = Pacing(args.rate, args.duration, args.events, args.report_every)
        report = asyncio.run(simulate(settings, config, pacing, _say))
    except (SdkError, SimulateError) as exc:
        return _err(str(exc))
    _say(
        f"stopped ({report.stopped_by}): sent and acknowledged {report.sent} events in "
        f"{report.elapsed_s:.1f} s ({report.rate:,.0f}/s): {describe_counts(report.by_type)}"
    )
    return EXIT_OK
