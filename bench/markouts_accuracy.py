"""Markouts accuracy: does the toxic-flow rule find the simulator's informed accounts, and only
them? And the last-look LP? (issue 15; docs/benchmarks.md, "Markouts").

    python bench/markouts_accuracy.py [--seed 7] [--minutes 60] [--accounts 200]
                                      [--hidden-informed 0.04] [--rate 200]

The simulator (``streams.simulator``, default settings unless given) generates ``--minutes``
simulated minutes of broker traffic at ``--rate`` events per simulated second; its events are
stamped with simulated time (``streams.simulator.timed``) and go, in order, through what
``rtx-analytics markouts`` runs for one partition (``PartitionStage``: the event-time merge and
the markout stage; the messages to the boards; ``BoardsFeed``), at the default ``[markouts]``
settings. No Kafka: the figures are a function of the seed.

Reported, against the simulator's labels (``Simulator.labels``: informed from a time, or noise;
``LpProfile.last_look``):

- precision and recall of the accounts with a RAISED "Toxic Flow" alert (the toxic level, the
  one that advises the A-book), and of those with any alert (watch or toxic). Recall is given
  over every informed account and over the *scorable* ones: informed accounts with at least
  ``min_trades`` trades marked out at the score horizon while informed (an account that trades
  less cannot be scored by design);
- for the accounts that turn informed during the run, the time (simulated seconds) and the
  number of their trades from turning informed to their first alert;
- the LPs suspected of last look against the labelled one;
- the cost of the pure pipeline: events per second through stage and boards on this machine.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from streams.markouts.config import MarkoutConfig
from streams.markouts.feed import BoardsFeed, Out
from streams.markouts.hop import MARKOUT
from streams.markouts.partition import DECISIONS, POSITIONS, QUOTES, PartitionStage
from streams.simulator.generator import Simulator
from streams.simulator.model import SimConfig
from streams.simulator.timed import timed_events
from streams.simulator.traders import INFORMED, TraderLabel
from streams.worker.markouts.rates import ProcessRates

T0 = 1_768_818_600_000_000  # 2026-01-19T10:30:00Z, micros
BATCH = 1000
SOURCE = {"quote": QUOTES, "routing_decision": DECISIONS, "position": POSITIONS}


@dataclass
class Outcome:
    """What the pipeline wrote, and the trades of each account while informed."""

    outputs: list[Out] = field(default_factory=list)
    trades: int = 0
    events: int = 0
    seconds: float = 0.0  # in the stage and the boards only
    known_while_informed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    trade_times: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))


def run(sim: Simulator, count: int, config: MarkoutConfig) -> Outcome:
    """Feed ``count`` simulated events through one partition stage and the boards."""
    rates = ProcessRates({})
    stage = PartitionStage(0, config, rates.usd_rate)
    stage.caught_up(QUOTES, True)
    stage.caught_up(DECISIONS, True)
    feed = BoardsFeed(config)
    out = Outcome()
    h = config.score_index
    clock = time.perf_counter
    for offset, (method, _, _, record) in enumerate(timed_events(sim, count, T0)):
        source = SOURCE.get(method)
        if source is None:
            continue
        started = clock()
        if source == QUOTES:
            rates.observe(record)
            rates.refresh()
        stage.offer(source, [(offset, record)])
        markouts, messages = stage.take()
        for m in markouts:
            feed.apply(MARKOUT, m)
        for message in messages:
            feed.apply(message.kind, message.record)
        if offset % BATCH == 0:  # the process drains once per batch of input
            out.outputs += feed.drain()
        out.seconds += clock() - started
        for m in markouts:
            account = m["accountId"]
            if account is not None:
                out.trade_times[account].append(m["eventTime"])
                if m["status"][h] == "KNOWN" and sim.labels[account].informed_at(
                    (m["eventTime"] - T0) / 1e6
                ):
                    out.known_while_informed[account] += 1
        out.trades += len(markouts)
        out.events += 1
    # Let the last trades settle (longest horizon + max wait), not so far that windows age.
    wait_s = config.horizons_ms[-1] / 1000 + config.max_wait_s + 1
    stage.advance(T0 + round((sim.now + wait_s) * 1e6))
    markouts, messages = stage.take()
    for m in markouts:
        feed.apply(MARKOUT, m)
    for message in messages:
        feed.apply(message.kind, message.record)
    out.outputs += feed.drain()
    return out


def first_alerts(outputs: list[Out], level: str | None) -> dict[str, int]:
    """Account -> event time of its first RAISED alert (of ``level``, or any level)."""
    first: dict[str, int] = {}
    for o in outputs:
        a = o.record
        if o.topic != "alerts" or a["state"] != "RAISED":
            continue
        if level is not None and not a["ruleId"].endswith("." + level):
            continue
        account = a["title"].rsplit(": ", 1)[1]
        first.setdefault(account, a["eventTime"])
    return first


def scores(found: set[str], truth: set[str], scorable: set[str]) -> dict[str, Any]:
    tp = found & truth
    return {
        "alerted": len(found),
        "true": len(tp),
        "false": sorted(found - truth),
        "precision": len(tp) / len(found) if found else float("nan"),
        "recall": len(tp) / len(truth) if truth else float("nan"),
        "recall_scorable": len(tp & scorable) / len(scorable) if scorable else float("nan"),
        "missed": sorted(truth - found),
    }


def delays(
    first: dict[str, int], labels: dict[str, TraderLabel], out: Outcome
) -> list[tuple[float, int]]:
    """(simulated seconds, trades) from turning informed to the first alert, per account that
    turned informed during the run and was alerted."""
    found = []
    for account, t in first.items():
        lb = labels[account]
        if lb.known or lb.informed_from_s is None:
            continue
        start = T0 + round(lb.informed_from_s * 1e6)
        trades = sum(1 for x in out.trade_times[account] if start <= x <= t)
        found.append(((t - start) / 1e6, trades))
    return sorted(found)


def report(args: argparse.Namespace, sim: Simulator, out: Outcome, config: MarkoutConfig) -> None:
    labels = sim.labels
    informed = {a for a, lb in labels.items() if lb.kind == INFORMED}
    scorable = {a for a in informed if out.known_while_informed[a] >= config.min_trades}
    lps = {o.key: o.record for o in out.outputs if o.topic == "lp_markouts"}
    suspected = {lp for lp, r in lps.items() if r["lastLookSuspected"]}
    last_look = {lp.name for lp in sim.lps if lp.profile.last_look}
    print(
        f"markouts accuracy: seed {args.seed}, {args.minutes:g} simulated minutes at {args.rate:g} "
        f"events/s, {args.accounts} accounts ({len(informed)} informed: "
        f"{sum(labels[a].known for a in informed)} known toxic from the start, "
        f"{sum(not labels[a].known for a in informed)} turning informed at 60-600 s; "
        f"{len(scorable)} scorable), default [markouts] settings"
    )
    print(f"  python {platform.python_version()}, {platform.machine()}")
    print(f"  {out.events:,} events, {out.trades:,} trades marked out")
    for name, level in (("toxic alerts", "toxic"), ("any alert", None)):
        s = scores(set(first_alerts(out.outputs, level)), informed, scorable)
        print(
            f"  {name}: precision {s['precision']:.3f} ({s['true']} of {s['alerted']}), recall "
            f"{s['recall']:.3f} of all informed, {s['recall_scorable']:.3f} of the scorable; "
            f"false: {s['false'] or 'none'}; missed: {s['missed'] or 'none'}"
        )
    for name, level in (("watch", None), ("toxic", "toxic")):
        d = delays(first_alerts(out.outputs, level), labels, out)
        if d:
            secs, trades = [x for x, _ in d], [n for _, n in d]
            print(
                f"  turning informed -> first {name} alert ({len(d)} accounts): median "
                f"{statistics.median(secs):.0f} s / {statistics.median(trades):.0f} trades, "
                f"max {max(secs):.0f} s / {max(trades)} trades"
            )
    print(f"  last look: suspected {sorted(suspected)}, labelled {sorted(last_look)}")
    print(
        f"  cost: {out.events / out.seconds:,.0f} events/s through the markout stage and boards "
        f"(quotes, decisions, positions; {out.seconds:.1f} s in them, the simulator not counted: "
        f"{out.seconds / out.events * 1e6:.1f} us an event)"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--accounts", type=int, default=200)
    p.add_argument("--hidden-informed", type=float, default=0.04)
    args = p.parse_args()
    sim = Simulator(
        SimConfig(
            seed=args.seed,
            rate=args.rate,
            accounts=args.accounts,
            hidden_informed=args.hidden_informed,
            run_id="bench",
        )
    )
    config = MarkoutConfig()
    print(f"simulating {args.minutes:g} minutes ...", file=sys.stderr)
    out = run(sim, round(args.minutes * 60 * args.rate), config)
    report(args, sim, out, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
