"""Bridge load: Kafka -> WebSocket latency and bridge CPU with many subscribed clients.

    python bench/bridge_load.py [--steps 100,250,500,1000] [--seconds 20] [--warmup 3]
        [--rate 2000] [--bridges 1|2] [--client-procs 2] [--probes 25] [--compression deflate|none]

Needs a broker: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092; ``rtx-analytics kafka start``).
Creates topics under a fresh ``RTX_TOPIC_PREFIX`` (``bench.bridge.<random>.``), starts
``--bridges`` ``python -m streams.cli bridge`` processes (``RTX_BRIDGE_DEV_MODE=1``, free ports,
connection limits raised) and waits for their ``/readyz``. Then, per step of ``--steps``:

- ``--client-procs`` client processes (multiprocessing, spawn) open the step's connections
  between them (``websockets.asyncio.client``, a dev token with role ``admin`` in the
  ``Authorization`` header; with ``--bridges 2`` the processes alternate between the bridges),
  and subscribe to all four channels;
- this process publishes ``--rate`` derived messages/s for ``--warmup`` + ``--seconds`` seconds
  (aiokafka, codec-encoded, in slices every 10 ms): routing-decision on routing.metrics 70%,
  lp-metrics 15%, exposure-change 10%, alert 5%;
- latency, per message received after the warm-up = the client's ``time.time()`` at receipt minus
  the message's ``timestamp`` field. The bridge sets ``timestamp`` from the record's
  ``eventTime``; this script sets eventTime = ``time.time()`` just before the send, and the Kafka
  record timestamp to the same instant (ms), so the latency covers producer linger, broker, the
  bridge's consumer, batching (up to 16 ms) and delivery, and the client's own scheduling;
- bridge CPU = utime + stime from ``/proc/<pid>/stat`` over the measured window, summed over the
  bridges.

Timing every message of every connection costs the clients more CPU than the bridge spends, on
the same two cores; so ``--probes`` connections per client process (default 25) time every
message they get, and the others only count the data messages of the frames they receive
after the warm-up (all connections receive the same stream). Probes keep latencies in a
histogram (0.1 ms bins) and send it back over a queue. Prints per
step: clients, delivered msgs/s (and the fraction of rate x clients), p50/p95/p99/max, gap
(dropped) messages, bridge CPU seconds and messages delivered per bridge CPU-second, then the
client count where p99 first passes 50 ms. Everything (broker, bridges, clients, producer) shares
this machine, so the client processes compete with the bridge for the cores.

To see where a bridge spends its time, sample it while a step runs (its pid is on stderr):
``.venv/bin/py-spy record -d 10 -r 200 -p PID -f raw -o /tmp/bridge.raw --nonblocking``.

This script holds the steps and the report; the bridges, topics and producer are in
``bench/loadkit.py``, the client fleets in ``bench/loadclients.py`` (shared with
``bench/floor.py``, ``bench/bridge_memory.py`` and ``bench/soak.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from loadclients import BIN_MS, MAX_MS, N_BINS, ClientFleet, GoFleet
from loadkit import (
    ServerProcess,
    bench_env,
    bridges,
    cpu_seconds,
    create_topics,
    delete_topics,
    dev_token,
    machine,
    produce,
    progress,
    raise_nofile,
)

GOAL_P99_MS = 50.0
GOAL_CLIENTS = 1000


# -- one step -----------------------------------------------------------------------------------


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
    clients: int
    connected: int
    seconds: float
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

    def passes(self, rate: int) -> bool:
        """p99 within the goal and (nearly) everything delivered."""
        expected = rate * self.connected * self.seconds
        return self.p99 <= GOAL_P99_MS and self.messages >= 0.99 * expected

    @property
    def per_core(self) -> float:
        return self.messages / self.cpu_s if self.cpu_s > 0 else float("nan")


async def run_step(
    args: argparse.Namespace, env: dict[str, str], running: Sequence[ServerProcess], clients: int
) -> StepResult:
    token = dev_token("bench")
    procs = max(args.client_procs, len(running))
    fleet: ClientFleet | GoFleet
    if args.clients == "go":
        fleet = GoFleet.start([b.url for b in running], clients, procs, token, args.go_probes)
    else:
        fleet = ClientFleet.start(
            [b.url for b in running],
            clients,
            procs,
            True,
            None if args.compression == "none" else args.compression,
            token,
            args.probes,
        )
    loop = asyncio.get_running_loop()
    connected = await loop.run_in_executor(None, fleet.wait_connected)
    progress(f"{connected}/{clients} clients connected and subscribed")
    await asyncio.sleep(1.0)
    measure_from = time.time() + args.warmup
    fleet.begin(measure_from)
    producing = asyncio.create_task(produce(env, args.rate, args.warmup + args.seconds))
    await asyncio.sleep(max(0.0, measure_from - time.time()))
    cpu0 = sum(cpu_seconds(b.pid) for b in running)
    t0 = time.monotonic()
    sent = await producing
    await asyncio.sleep(1.0)  # drain
    cpu_s = sum(cpu_seconds(b.pid) for b in running) - cpu0
    window = time.monotonic() - t0
    results = await loop.run_in_executor(None, fleet.finish)
    hist = [0] * N_BINS
    for r in results:
        it = iter(r.hist)
        for i, c in zip(it, it, strict=True):
            hist[i] += c
    total = sum(r.messages for r in results)
    timed = sum(r.probe_messages for r in results)
    errors = [e for r in results for e in r.errors]
    return StepResult(
        clients=clients,
        connected=connected,
        seconds=args.seconds,
        sent=sent,
        messages=total,
        timed=timed,
        frames=sum(r.frames for r in results),
        gap_frames=sum(r.gap_frames for r in results),
        p50=percentile_from_hist(hist, timed, 50),
        p95=percentile_from_hist(hist, timed, 95),
        p99=percentile_from_hist(hist, timed, 99),
        max_ms=max((r.max_ms for r in results), default=float("nan")),
        cpu_s=cpu_s * args.seconds / window if window > 0 else cpu_s,  # per measured second
        client_cpu_s=sum(r.cpu_s for r in results),
        errors=errors,
    )


def print_step(s: StepResult, rate: int) -> None:
    expected = rate * s.connected
    share = s.delivered_per_s / expected if expected else float("nan")
    print(
        f"  {s.clients:>6} {s.connected:>6} {s.delivered_per_s:>12,.0f} {share:>6.0%}"
        f" {s.p50:>8.1f} {s.p95:>8.1f} {s.p99:>8.1f} {s.max_ms:>9.1f} {s.gap_frames:>6}"
        f" {s.cpu_s:>7.1f} {s.cpu_s / s.seconds:>5.0%} {s.per_core:>12,.0f}"
        f" {s.client_cpu_s:>8.1f}",
        flush=True,
    )
    for e in s.errors[:3]:
        print(f"         client error: {e}", flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", default="100,250,500,1000", help="client counts, comma separated")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per step")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per step")
    p.add_argument("--rate", type=int, default=2000, help="derived messages/s into Kafka")
    p.add_argument("--bridges", type=int, choices=(1, 2), default=1, help="bridge processes")
    p.add_argument(
        "--server",
        choices=("bridge", "floor"),
        default="bridge",
        help="bridge: rtx-analytics bridge; floor: bench/fanoutfloor, a Go hub doing only the "
        "fan-out (no Kafka, no Python), to see what this machine allows (bench/floor.py)",
    )
    p.add_argument(
        "--floor-threads", type=int, default=2, help="GOMAXPROCS of the floor server (default 2)"
    )
    p.add_argument("--client-procs", type=int, default=2, help="client processes per step")
    p.add_argument(
        "--probes", type=int, default=25, help="connections per client process that time messages"
    )
    p.add_argument(
        "--go-probes",
        type=int,
        default=100,
        help="connections per Go client process that time every message (the others count)",
    )
    p.add_argument(
        "--clients",
        choices=("go", "python"),
        default="go" if shutil.which("go") else "python",
        help="load client: go (bench/loadclient, cheap; default when go is on PATH) or python "
        "(websockets; about half a core per 100 connections)",
    )
    p.add_argument(
        "--compression",
        choices=("deflate", "none"),
        default="deflate",
        help="what clients offer (browsers offer permessage-deflate; default deflate)",
    )
    return p.parse_args()


async def main(args: argparse.Namespace) -> None:
    steps = [int(x) for x in args.steps.split(",") if x.strip()]
    prefix = f"bench.bridge.{uuid.uuid4().hex[:8]}."
    env = bench_env(prefix)
    nofile = raise_nofile()
    print(f"machine: {machine()}; RLIMIT_NOFILE {nofile}", flush=True)
    print(
        f"bridge load: {args.bridges if args.server == 'bridge' else 'no'} bridge(s)"
        f"{' (the Go fan-out floor instead)' if args.server == 'floor' else ''}, "
        f"{args.client_procs} client processes, "
        f"rate {args.rate}/s, {args.warmup:g}s warm-up + {args.seconds:g}s measured per step, "
        f"client compression {args.compression}, broker {env['KAFKA_BOOTSTRAP_SERVERS']}, "
        f"prefix {prefix}",
        flush=True,
    )
    await create_topics(env)
    rows: list[StepResult] = []
    try:
        # The bridge accepts permessage-deflate only when told to (RTX_BRIDGE_COMPRESSION).
        server_side = {"RTX_BRIDGE_COMPRESSION": args.compression}
        servers: contextlib.AbstractContextManager[Sequence[ServerProcess]]
        if args.server == "floor":
            from floor import floor_servers  # the sibling script (bench/ is sys.path[0])

            servers = floor_servers(env, args.rate, args.floor_threads)
        else:
            servers = bridges(env, args.bridges, max(steps) * 2 + 100, server_side)
        with servers as running:
            print(
                f"  {'step':>6} {'conn':>6} {'delivered/s':>12} {'ofexp':>6} {'p50 ms':>8}"
                f" {'p95 ms':>8} {'p99 ms':>8} {'max ms':>9} {'gaps':>6} {'cpu s':>7} {'cpu':>5}"
                f" {'msg/cpu-s':>12} {'cli cpu':>8}",
                flush=True,
            )
            for clients in steps:
                progress(f"step: {clients} clients")
                step = await run_step(args, env, running, clients)
                rows.append(step)
                print_step(step, args.rate)
    finally:
        await delete_topics(env)
    print_summary(rows, args)


def print_summary(rows: list[StepResult], args: argparse.Namespace) -> None:
    over = [r.clients for r in rows if not r.passes(args.rate)]
    print(
        "columns: cpu = bridge CPU / wall time (100% = one core; summed over bridges); "
        "msg/cpu-s = delivered data messages per bridge CPU-second; cli cpu = CPU seconds of all "
        "client processes while measuring; gaps = frames holding a gap (drop) message",
        flush=True,
    )
    print(
        f"p99 passes {GOAL_P99_MS:g} ms (or < 99% delivered) at: "
        f"{over[0] if over else 'none of the steps'} clients ({args.bridges} bridge(s))",
        flush=True,
    )
    at_goal = [r for r in rows if r.clients == GOAL_CLIENTS]
    verdict = (
        "not measured"
        if not at_goal
        else ("met" if at_goal[0].passes(args.rate) else f"missed (p99 {at_goal[0].p99:.1f} ms)")
    )
    print(
        f"goal: {GOAL_CLIENTS} clients on all channels, p99 <= {GOAL_P99_MS:g} ms "
        f"Kafka timestamp -> client receipt at {args.rate} msgs/s: {verdict}",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
