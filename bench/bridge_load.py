"""Bridge load: Kafka -> WebSocket latency and server CPU with many subscribed clients, for the
bridge and, in the same run, the servers it is compared with.

    python bench/bridge_load.py [--steps 100,250,500,1000] [--seconds 20] [--warmup 3]
        [--rate 2000] [--server bridge[,centrifugo,baseline,floor]] [--repeat 1]
        [--baseline DIR] [--bridges 1|2] [--client-procs 2] [--go-probes 100]
        [--compression deflate|none]

Needs a broker: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092; ``rtx-analytics kafka start``).
Creates topics under a fresh ``RTX_TOPIC_PREFIX`` per server (``bench.bridge.<random>.<server>.``)
and starts every server of ``--server`` once, each waiting until it is ready:

- ``bridge``: ``--bridges`` ``python -m streams.cli bridge`` processes of this checkout
  (``RTX_BRIDGE_DEV_MODE=1``, free ports, connection limits raised), ready at ``/readyz``;
- ``baseline``: the same, from the checkout at ``--baseline`` (e.g. ``git worktree add /tmp/before
  <commit>``), to compare a change with the code before it in one run;
- ``centrifugo``: Centrifugo (pinned version, built once from the Go module proxy) consuming its
  topics with its own Kafka consumer in publication data mode (bench/centrifugo/launch.py);
- ``floor``: bench/fanoutfloor, a Go hub doing only the fan-out (no Kafka, no Python).

Then, ``--repeat`` times, per step of ``--steps`` and per server (the servers' order rotates from
one repeat to the next), with only that server's topics getting messages:

- the load clients open the step's connections and subscribe to all four channels: Go processes
  (``bench/loadclient``; the bridge's protocol with a dev token in the ``Authorization`` header, or
  Centrifugo's with the same token in its connect command), or ``--clients python``;
- this process publishes ``--rate`` derived messages/s for ``--warmup`` + ``--seconds`` seconds
  (aiokafka, codec-encoded, in slices every 10 ms): routing-decision on routing.metrics 70%,
  lp-metrics 15%, exposure-change 10%, alert 5%; for Centrifugo the same records as the bridge's
  message JSON with a ``centrifugo-channels`` header;
- latency, per message received after the warm-up = the client's clock at receipt minus the
  message's ``timestamp`` field. The bridge sets ``timestamp`` from the record's ``eventTime``;
  this script sets eventTime = ``time.time()`` just before the send, and the Kafka record
  timestamp to the same instant (ms), so the latency covers producer linger, broker, the
  server's consumer, batching (up to 16 ms) and delivery, and the client's own scheduling;
- server CPU = utime + stime from ``/proc/<pid>/stat`` over the measured window, summed over the
  server's processes; ``us/kmsg`` divides it by the Kafka messages of the window (with one client
  that is the fixed cost per message: consume, decode, encode).

Timing every message of every connection costs the clients more CPU than the server spends, on
the same two cores; so ``--go-probes`` connections per client process time every message they
get, and the others only count the data messages of the frames they receive after the warm-up.
Prints a row per step and server, then (with several servers or repeats) the medians per server
and step, the ratios to Centrifugo, and the client count where p99 first passes 50 ms.
Everything (broker, servers, clients, producer) shares this machine.

To see where a bridge spends its time, sample it while a step runs (its pid is on stderr):
``py-spy record -d 10 -r 200 -p PID -f raw -o /tmp/bridge.raw --nonblocking``.

This script holds the steps; the report is ``bench/loadreport.py``, the bridges, topics and
producer ``bench/loadkit.py``, the client fleets ``bench/loadclients.py`` (shared with
``bench/floor.py``, ``bench/bridge_memory.py`` and ``bench/soak.py``), Centrifugo
``bench/centrifugo/``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from loadclients import N_BINS, ClientFleet, GoFleet
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
from loadreport import HEADER, StepResult, percentile_from_hist, print_step, print_summary
from profiles import Sampler, summarize

SERVERS = ("bridge", "baseline", "centrifugo", "floor")


def _fleet(
    args: argparse.Namespace, running: Sequence[ServerProcess], clients: int, token: str
) -> ClientFleet | GoFleet:
    procs = max(args.client_procs, len(running))
    urls = [b.url for b in running]
    protocol = running[0].protocol
    if args.clients == "go":
        return GoFleet.start(urls, clients, procs, token, args.go_probes, protocol)
    if protocol != "bridge":
        raise SystemExit(f"--clients python speaks only the bridge's protocol, not {protocol}'s")
    compression = None if args.compression == "none" else args.compression
    return ClientFleet.start(urls, clients, procs, True, compression, token, args.probes)


async def run_step(
    args: argparse.Namespace,
    env: dict[str, str],
    server: str,
    running: Sequence[ServerProcess],
    clients: int,
) -> StepResult:
    fleet = _fleet(args, running, clients, dev_token("bench"))
    loop = asyncio.get_running_loop()
    connected = await loop.run_in_executor(None, fleet.wait_connected)
    progress(f"{server}: {connected}/{clients} clients connected and subscribed")
    await asyncio.sleep(1.0)
    measure_from = time.time() + args.warmup
    fleet.begin(measure_from)
    as_json = server == "centrifugo"
    producing = asyncio.create_task(produce(env, args.rate, args.warmup + args.seconds, as_json))
    await asyncio.sleep(max(0.0, measure_from - time.time()))
    sampler = _sampler(args, server, running, clients)
    cpu0 = sum(cpu_seconds(b.pid) for b in running)
    t0 = time.monotonic()
    sent = await producing
    await asyncio.sleep(1.0)  # drain
    cpu_s = sum(cpu_seconds(b.pid) for b in running) - cpu0
    window = time.monotonic() - t0
    results = await loop.run_in_executor(None, fleet.finish)
    if sampler is not None:
        profile = await loop.run_in_executor(None, sampler.finish)
        if profile is not None:
            print(f"  profile of {server} at {clients} clients:\n{summarize(profile)}", flush=True)
    hist = [0] * N_BINS
    for r in results:
        it = iter(r.hist)
        for i, c in zip(it, it, strict=True):
            hist[i] += c
    timed = sum(r.probe_messages for r in results)
    return StepResult(
        server=server,
        clients=clients,
        connected=connected,
        seconds=args.seconds,
        rate=args.rate,
        sent=sent,
        messages=sum(r.messages for r in results),
        timed=timed,
        frames=sum(r.frames for r in results),
        gap_frames=sum(r.gap_frames for r in results),
        p50=percentile_from_hist(hist, timed, 50),
        p95=percentile_from_hist(hist, timed, 95),
        p99=percentile_from_hist(hist, timed, 99),
        max_ms=max((r.max_ms for r in results), default=float("nan")),
        cpu_s=cpu_s * args.seconds / window if window > 0 else cpu_s,  # per measured second
        client_cpu_s=sum(r.cpu_s for r in results),
        errors=[e for r in results for e in r.errors],
    )


def _sampler(
    args: argparse.Namespace, server: str, running: Sequence[ServerProcess], clients: int
) -> Sampler | None:
    """py-spy on the (first) bridge process over the measured window, with ``--profile``."""
    if not args.profile or server not in ("bridge", "baseline"):
        return None
    out = Path(f"/tmp/bridge-profile-{server}-{clients}-{time.time():.0f}.txt")  # noqa: S108
    return Sampler(args.py_spy, running[0].pid, args.seconds, out)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", default="100,250,500,1000", help="client counts, comma separated")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per step")
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds per step")
    p.add_argument("--rate", type=int, default=2000, help="derived messages/s into Kafka")
    p.add_argument("--bridges", type=int, choices=(1, 2), default=1, help="bridge processes")
    p.add_argument(
        "--server",
        default="bridge",
        help=f"servers measured in this run, comma separated, of {', '.join(SERVERS)} "
        "(see above; default bridge)",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs of every step and server")
    p.add_argument(
        "--bridge-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the 'bridge' server (repeatable), e.g. "
        "RTX_BRIDGE_FETCH_MAX_WAIT_MS=0",
    )
    p.add_argument("--baseline", type=Path, help="checkout of the 'baseline' server's bridge")
    p.add_argument(
        "--profile",
        action="store_true",
        help="sample the bridge with py-spy while measuring; print its top functions",
    )
    p.add_argument("--py-spy", default=shutil.which("py-spy"), help="the py-spy binary")
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
        "(websockets; about half a core per 100 connections; the bridge's protocol only)",
    )
    p.add_argument(
        "--compression",
        choices=("deflate", "none"),
        default="deflate",
        help="what clients offer (browsers offer permessage-deflate; default deflate)",
    )
    args = p.parse_args()
    args.servers = [s.strip() for s in args.server.split(",") if s.strip()]
    unknown = set(args.servers) - set(SERVERS)
    if unknown or not args.servers:
        p.error(f"--server: unknown {sorted(unknown)}; choose from {', '.join(SERVERS)}")
    if args.profile and not args.py_spy:
        p.error("--profile needs py-spy (pip install py-spy, or --py-spy PATH)")
    if "baseline" in args.servers and args.baseline is None:
        p.error("--server baseline needs --baseline DIR (a checkout of the bridge to compare)")
    return args


def start_server(
    name: str, args: argparse.Namespace, env: dict[str, str], max_connections: int
) -> contextlib.AbstractContextManager[Sequence[ServerProcess]]:
    # The bridge accepts permessage-deflate only when told to (RTX_BRIDGE_COMPRESSION).
    server_side = {"RTX_BRIDGE_COMPRESSION": args.compression}
    if name == "bridge":
        server_side.update(item.split("=", 1) for item in args.bridge_env)
    if name == "floor":
        from floor import floor_servers  # the sibling script (bench/ is sys.path[0])

        return floor_servers(env, args.rate, args.floor_threads)
    if name == "centrifugo":
        from centrifugo.launch import centrifugo_servers

        from ws_bridge.core.config import DEV_SECRET

        return centrifugo_servers(env, DEV_SECRET)
    root = args.baseline.resolve() if name == "baseline" else None
    if root is None:
        return bridges(env, args.bridges, max_connections, server_side)
    return bridges(env, args.bridges, max_connections, server_side, root)


async def main(args: argparse.Namespace) -> None:
    steps = [int(x) for x in args.steps.split(",") if x.strip()]
    servers: list[str] = args.servers
    prefix = f"bench.bridge.{uuid.uuid4().hex[:8]}."
    envs = {name: bench_env(f"{prefix}{name}.") for name in servers}
    nofile = raise_nofile()
    print(f"machine: {machine()}; RLIMIT_NOFILE {nofile}", flush=True)
    print(
        f"bridge load: servers {', '.join(servers)} ({args.bridges} process(es) per bridge), "
        f"{args.client_procs} client processes, {args.repeat} repeat(s), rate {args.rate}/s, "
        f"{args.warmup:g}s warm-up + {args.seconds:g}s measured per step, client compression "
        f"{args.compression}, broker {envs[servers[0]]['KAFKA_BOOTSTRAP_SERVERS']}, "
        f"prefix {prefix}",
        flush=True,
    )
    for env in envs.values():
        await create_topics(env)
    rows: list[StepResult] = []
    try:
        with contextlib.ExitStack() as stack:
            limit = max(steps) * 2 + 100
            running = {
                name: stack.enter_context(start_server(name, args, envs[name], limit))
                for name in servers
            }
            print(HEADER, flush=True)
            for repeat in range(args.repeat):
                order = servers[repeat % len(servers) :] + servers[: repeat % len(servers)]
                for clients in steps:
                    for name in order:
                        progress(f"run {repeat + 1}, step: {clients} clients, {name}")
                        step = await run_step(args, envs[name], name, running[name], clients)
                        rows.append(step)
                        print_step(step)
    finally:
        for env in envs.values():
            await delete_topics(env)
    print_summary(rows, servers, args.repeat)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
