"""Bridge memory: resident memory per idle authenticated WebSocket connection.

    python bench/bridge_memory.py [--connections 1000] [--client-procs 2] [--subscribe]
        [--compression deflate|none]

Needs a broker: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092; ``rtx-analytics kafka start``).
Creates topics under a fresh ``RTX_TOPIC_PREFIX`` (nothing is produced to them), starts one
``python -m streams.cli bridge`` (``RTX_BRIDGE_DEV_MODE=1``, a free port, limits raised) and waits
for ``/readyz``. Warm-up: 20 connections are opened and closed, so code paths loaded on first use
are not charged to the connections. Then VmRSS of the bridge (``/proc/<pid>/status``) is read
with 0 connections, ``--connections`` idle connections are opened from separate client
processes (dev token in the ``Authorization`` header; no subscription, or with ``--subscribe``
all four channels, which stay quiet as nothing is produced), and VmRSS is read again after
``--settle`` seconds. Prints (RSS with N - RSS with 0) / N in KiB and the goal (<= 20 KiB).

Clients offer permessage-deflate by default (as browsers do); the bridge accepts it, and each
deflate context costs memory on the server: ``--compression none`` shows the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from loadclients import ClientFleet  # bench/ is sys.path[0] when run
from loadkit import (
    bench_env,
    bridges,
    create_topics,
    delete_topics,
    dev_token,
    machine,
    progress,
    raise_nofile,
    rss_kib,
)

GOAL_KIB = 20.0
WARMUP_CONNECTIONS = 20


def hold(url: str, n: int, procs: int, subscribe: bool, compression: str | None) -> ClientFleet:
    fleet = ClientFleet.start([url], n, procs, subscribe, compression, dev_token("bench"))
    connected = fleet.wait_connected()
    if connected != n:
        progress(f"only {connected}/{n} connections opened")
    return fleet


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--connections", type=int, default=1000, help="idle connections (N)")
    p.add_argument("--client-procs", type=int, default=2, help="client processes")
    p.add_argument("--subscribe", action="store_true", help="subscribe to all four channels")
    p.add_argument("--settle", type=float, default=3.0, help="seconds before reading RSS")
    p.add_argument("--compression", choices=("deflate", "none"), default="deflate")
    return p.parse_args()


async def main(args: argparse.Namespace) -> None:
    prefix = f"bench.bridge.{uuid.uuid4().hex[:8]}."
    env = bench_env(prefix)
    nofile = raise_nofile()
    compression = None if args.compression == "none" else args.compression
    print(f"machine: {machine()}; RLIMIT_NOFILE {nofile}", flush=True)
    print(
        f"bridge memory: {args.connections} idle connections from {args.client_procs} processes, "
        f"subscribed: {'all channels' if args.subscribe else 'none'}, "
        f"client compression {args.compression}",
        flush=True,
    )
    await create_topics(env)
    try:
        server_side = {"RTX_BRIDGE_COMPRESSION": args.compression}
        with bridges(env, 1, args.connections + 100, server_side) as (bridge,):
            loop = asyncio.get_running_loop()
            warm = await loop.run_in_executor(
                None, hold, bridge.url, WARMUP_CONNECTIONS, 1, args.subscribe, compression
            )
            await loop.run_in_executor(None, warm.finish)
            await asyncio.sleep(args.settle)
            before = rss_kib(bridge.pid)
            progress(f"RSS with 0 connections: {before} KiB")
            fleet = await loop.run_in_executor(
                None,
                hold,
                bridge.url,
                args.connections,
                args.client_procs,
                args.subscribe,
                compression,
            )
            await asyncio.sleep(args.settle)
            after = rss_kib(bridge.pid)
            progress(f"RSS with {args.connections} connections: {after} KiB")
            await loop.run_in_executor(None, fleet.finish)
            await asyncio.sleep(args.settle)
            closed = rss_kib(bridge.pid)
    finally:
        await delete_topics(env)
    per = (after - before) / args.connections
    print(
        f"RSS: {before} KiB with 0, {after} KiB with {args.connections}, "
        f"{closed} KiB after closing them",
        flush=True,
    )
    print(
        f"per idle connection: {per:.1f} KiB; goal <= {GOAL_KIB:g} KiB: "
        f"{'met' if per <= GOAL_KIB else 'missed'}",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
