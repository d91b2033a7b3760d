"""The figures of bench/bridge_load.py: one step's result, its row, and the medians and ratios
of a series (several servers, steps and repeats measured in one run).

A module of its own so that bridge_load.py keeps the steps and the processes, this the report.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loadclients import BIN_MS, MAX_MS

GOAL_P99_MS = 50.0
GOAL_CLIENTS = 1000


def percentile_from_hist(hist: list[int], total: int, p: float) -> float:
    if total == 0:
        return float("nan")
    rank = max(1, int(-(-p / 100 * total // 1)))
    seen = 0
    for i, c in enumerate(hist):
        seen += c
        if seen >= rank:
            return (i + 0.5) * BIN_MS
    return MAX_MS


@dataclass
class StepResult:
    server: str
    clients: int
    connected: int
    seconds: float
    rate: int
    sent: int
    messages: int
    timed: int
    frames: int
    gap_frames: int
    p50: float
    p95: float
    p99: float
    max_ms: float
    cpu_s: float
    client_cpu_s: float
    errors: list[str]

    @property
    def delivered_per_s(self) -> float:
        return self.messages / self.seconds

    def passes(self) -> bool:
        """p99 within the goal and (nearly) everything delivered."""
        expected = self.rate * self.connected * self.seconds
        return self.p99 <= GOAL_P99_MS and self.messages >= 0.99 * expected

    @property
    def per_core(self) -> float:
        """Data messages delivered per server CPU-second."""
        return self.messages / self.cpu_s if self.cpu_s > 0 else float("nan")

    @property
    def us_per_kafka_message(self) -> float:
        """Server CPU per message consumed from Kafka (all of it: with one client this is the
        fixed cost of consuming, decoding and encoding a message)."""
        return self.cpu_s / (self.rate * self.seconds) * 1e6


HEADER = (
    f"  {'server':>10} {'step':>6} {'conn':>6} {'delivered/s':>12} {'ofexp':>6} {'p50 ms':>8}"
    f" {'p95 ms':>8} {'p99 ms':>8} {'max ms':>9} {'gaps':>6} {'cpu s':>7} {'cpu':>5}"
    f" {'msg/cpu-s':>12} {'us/kmsg':>8} {'cli cpu':>8}"
)


def print_step(s: StepResult) -> None:
    expected = s.rate * s.connected
    share = s.delivered_per_s / expected if expected else float("nan")
    print(
        f"  {s.server:>10} {s.clients:>6} {s.connected:>6} {s.delivered_per_s:>12,.0f}"
        f" {share:>6.0%} {s.p50:>8.1f} {s.p95:>8.1f} {s.p99:>8.1f} {s.max_ms:>9.1f}"
        f" {s.gap_frames:>6} {s.cpu_s:>7.2f} {s.cpu_s / s.seconds:>5.0%} {s.per_core:>12,.0f}"
        f" {s.us_per_kafka_message:>8.1f} {s.client_cpu_s:>8.1f}",
        flush=True,
    )
    for e in s.errors[:3]:
        print(f"         client error: {e}", flush=True)


def _median(rows: Sequence[StepResult], value: Callable[[StepResult], float]) -> float:
    return statistics.median(value(r) for r in rows)


def print_medians(rows: Sequence[StepResult], servers: Sequence[str]) -> None:
    """Per server and step, the median of the repeats (each figure's own median)."""
    steps = sorted({r.clients for r in rows})
    print(
        f"medians of the repeats:\n  {'server':>10} {'step':>6} {'n':>3} {'delivered/s':>12}"
        f" {'p50 ms':>8} {'p99 ms':>8} {'cpu s':>7} {'msg/cpu-s':>12} {'us/kmsg':>8}",
        flush=True,
    )
    for clients in steps:
        for server in servers:
            mine = [r for r in rows if r.server == server and r.clients == clients]
            if not mine:
                continue
            print(
                f"  {server:>10} {clients:>6} {len(mine):>3}"
                f" {_median(mine, lambda r: r.delivered_per_s):>12,.0f}"
                f" {_median(mine, lambda r: r.p50):>8.1f} {_median(mine, lambda r: r.p99):>8.1f}"
                f" {_median(mine, lambda r: r.cpu_s):>7.2f}"
                f" {_median(mine, lambda r: r.per_core):>12,.0f}"
                f" {_median(mine, lambda r: r.us_per_kafka_message):>8.1f}",
                flush=True,
            )


def print_ratios(rows: Sequence[StepResult], servers: Sequence[str], reference: str) -> None:
    """Each server's medians against ``reference``'s, step by step: messages per CPU-second
    (higher is better) and CPU per Kafka message (lower is better)."""
    steps = sorted({r.clients for r in rows})
    for server in servers:
        if server == reference:
            continue
        for clients in steps:
            mine = [r for r in rows if r.server == server and r.clients == clients]
            ref = [r for r in rows if r.server == reference and r.clients == clients]
            if not mine or not ref:
                continue
            per_core = _median(mine, lambda r: r.per_core) / _median(ref, lambda r: r.per_core)
            cost = _median(mine, lambda r: r.cpu_s) / _median(ref, lambda r: r.cpu_s)
            print(
                f"  {server} / {reference} at {clients} clients: msg per CPU-second "
                f"{per_core:.2f}x, CPU {cost:.2f}x",
                flush=True,
            )


def print_summary(rows: Sequence[StepResult], servers: Sequence[str], repeats: int) -> None:
    print(
        "columns: cpu = server CPU / wall time (100% = one core; summed over bridges); "
        "msg/cpu-s = delivered data messages per server CPU-second; us/kmsg = server CPU per "
        "Kafka message (CPU-seconds / messages produced, in microseconds); cli cpu = CPU seconds "
        "of all client processes while measuring; gaps = frames holding a gap (drop) message",
        flush=True,
    )
    if repeats > 1 or len(servers) > 1:
        print_medians(rows, servers)
    if "centrifugo" in servers and len(servers) > 1:
        print("ratios to Centrifugo (medians):", flush=True)
        print_ratios(rows, servers, "centrifugo")
    for server in servers:
        mine = [r for r in rows if r.server == server]
        over = sorted({r.clients for r in mine if not r.passes()})
        at_goal = [r for r in mine if r.clients == GOAL_CLIENTS]
        verdict = (
            "not measured"
            if not at_goal
            else ("met" if all(r.passes() for r in at_goal) else "missed")
        )
        print(
            f"{server}: p99 passes {GOAL_P99_MS:g} ms (or < 99% delivered) at: "
            f"{over[0] if over else 'none of the steps'} clients; goal ({GOAL_CLIENTS} clients "
            f"on all channels, p99 <= {GOAL_P99_MS:g} ms): {verdict}",
            flush=True,
        )
