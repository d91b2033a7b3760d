"""Go SDK publish throughput against raw franz-go and against the Python SDK, in one run.

    python bench/go_sdk_throughput.py [--events 1000000] [--python-events 200000] [--rounds 3]

Three ways of publishing the same routing decisions (``sdk_throughput.decision_args``) from one
process to a broker, each to topics of its own created for the run:

- raw franz-go: ``Produce`` of bytes Avro-encoded before the clock starts (bench/go_sdk, mode
  raw), with the Go SDK's producer settings (idempotent, acks=all, linger, batch size);
- the Go SDK (``clients/go``): validate, fill in id and time, encode, send (mode sdk);
- the Python SDK (``streams.sdk.Publisher``), as ``bench/sdk_throughput.py`` times it.

Rounds alternate (raw, Go SDK, Python SDK, raw, ...) so all see the same machine state; the
median of each is reported with the ratios Go SDK / raw and Go SDK / Python SDK, and the spread
of the rounds. Connecting is not timed; flushing is. The Go runs send more events (a second or
two each at Go's rates: shorter runs swing with whatever else the machine runs); rates are
events per second either way.

Needs Go and a broker: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from sdk_throughput import run_sdk

from streams.settings import KafkaSettings
from streams.topics import apply_topics

GO_BENCH = Path(__file__).resolve().parent / "go_sdk"


def build_go(out: Path) -> str:
    """Build bench/go_sdk into ``out``; returns the Go version."""
    go = shutil.which("go")
    if go is None:
        sys.exit("error: 'go' not found on PATH (the Go SDK benchmark needs Go >= 1.26)")
    print(f"building bench/{GO_BENCH.name} with {go} ...", flush=True)
    subprocess.run([go, "build", "-o", str(out), "."], cwd=GO_BENCH, check=True)  # noqa: S603
    version = subprocess.run(  # noqa: S603
        [go, "version"], capture_output=True, text=True, check=True
    ).stdout
    return version.removeprefix("go version ").strip()


def run_go(binary: Path, mode: str, settings: KafkaSettings, n: int) -> float:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "RTX_TOPIC_PREFIX": settings.topic_prefix,
    }
    result = subprocess.run(  # noqa: S603 - the benchmark program built above
        [str(binary), "-mode", mode, "-events", str(n)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"go_sdk -mode {mode} failed: {result.stderr}")
    rate: float = json.loads(result.stdout)["rate"]
    return rate


def spread(xs: list[float]) -> str:
    return f"{min(xs):,.0f} .. {max(xs):,.0f} ({(max(xs) - min(xs)) / statistics.median(xs):.0%})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="per Go run")
    parser.add_argument("--python-events", type=int, default=200_000, help="per Python run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    base = KafkaSettings.from_env()
    run_id = uuid.uuid4().hex[:8]
    ways = {
        name: dataclasses.replace(base, topic_prefix=f"bench-{name}-{run_id}.")
        for name in ("goraw", "gosdk", "pysdk")
    }
    print(
        f"broker {base.bootstrap_servers}; routing decisions per run: {args.events:,} (Go), "
        f"{args.python_events:,} (Python); {args.rounds} rounds"
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=base.bootstrap_servers)
    await admin.start()
    try:
        for s in ways.values():
            await apply_topics(admin, s, out=lambda _line: None)
    finally:
        await admin.close()

    load_before = os.getloadavg()
    raw: list[float] = []
    go: list[float] = []
    py: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "go_sdk"
        go_version = await asyncio.to_thread(build_go, binary)
        for r in range(1, args.rounds + 1):
            raw.append(await asyncio.to_thread(run_go, binary, "raw", ways["goraw"], args.events))
            print(f"  round {r}: raw franz-go, pre-encoded      {raw[-1]:>10,.0f} events/s")
            go.append(await asyncio.to_thread(run_go, binary, "sdk", ways["gosdk"], args.events))
            print(f"  round {r}: Go SDK (validate+encode+send)  {go[-1]:>10,.0f} events/s")
            py.append(await run_sdk(ways["pysdk"], args.python_events))
            print(f"  round {r}: Python SDK                     {py[-1]:>10,.0f} events/s")
    raw_m, go_m, py_m = (statistics.median(x) for x in (raw, go, py))
    print()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, Go {go_version}; load average 1 min "
        f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(f"raw franz-go median:  {raw_m:>10,.0f} events/s   rounds {spread(raw)}")
    print(f"Go SDK median:        {go_m:>10,.0f} events/s   rounds {spread(go)}")
    print(f"Python SDK median:    {py_m:>10,.0f} events/s   rounds {spread(py)}")
    print(f"ratio Go SDK / raw franz-go: {go_m / raw_m:.2f} (goal >= 0.70)")
    print(f"ratio Go SDK / Python SDK:   {go_m / py_m:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
