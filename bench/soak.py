"""Soak: the whole pipeline at a steady rate for a long time; memory, descriptors and lag over time.

    python bench/soak.py [--minutes 30] [--rate 2000] [--clients 200] [--sample-s 10]
        [--out-dir docs]

Needs a broker: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092; ``rtx-analytics kafka start``).
Creates topics under a fresh prefix, then runs, each as its own process:

- ``rtx-analytics worker`` (metrics on a free port: its consumer lag gauge is read from there);
- ``rtx-analytics bridge`` (dev mode; its ``/api/analytics/status`` gives its consumer lag);
- ``rtx-analytics simulate --rate R`` (realistic traffic through the SDK);
- ``--clients`` WebSocket clients subscribed to all four channels (the Go load client of
  bench/bridge_load.py, one process).

Every ``--sample-s`` seconds it records, for the worker and the bridge: resident memory (VmRSS),
open file descriptors (``/proc/PID/fd``), and consumer lag (worker: the sum of its
``rtx_worker_consumer_lag`` gauges; bridge: the sum of ``lag`` per derived topic), the two
bounded stores that fill during a run (the worker's remembered closed position ids,
``rtx_worker_closed_ids_remembered``; the alerts the bridge holds for resume, ``alertLog.held``),
and prints a progress line. At the end: the CSV of samples and a plot (``soak.csv``, ``soak.png`` in
``--out-dir``; the plot needs matplotlib: ``pip install matplotlib``), and a summary: RSS at
the end of the first third vs at the end (growth and slope of a least-squares line over the last
two thirds, KiB per minute), descriptors at start and end, the largest lag, events sent, and
messages the clients received. "Flat" means the slope over the last two thirds is under 1% of
the RSS per 10 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from loadclients import GoFleet  # bench/ is sys.path[0] when run
from loadkit import (
    ROOT,
    bench_env,
    create_topics,
    delete_topics,
    dev_token,
    free_port,
    machine,
    progress,
    rss_kib,
)

RTX = [sys.executable, "-m", "streams.cli"]


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def http_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local
        return str(response.read().decode())


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(name: str, args: list[str], env: dict[str, str], logs: Path) -> Proc:
    log = logs / f"soak-{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*RTX, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    progress(f"started {name} (pid {proc.pid}, log {log})")
    return Proc(name, proc, log)


def wait_for(what: str, check: object, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"soak: {what} not ready within {timeout_s:g} s")


@dataclass
class Sample:
    t_s: float
    worker_rss_kib: int
    bridge_rss_kib: int
    worker_fds: int
    bridge_fds: int
    worker_lag: int
    bridge_lag: int
    worker_closed_ids: int  # closed position ids remembered (bounded: RTX_WORKER_MAX_CLOSED)
    bridge_alerts_held: int  # alerts in the bridge's history (bounded: RTX_BRIDGE_ALERT_HISTORY)


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)


def worker_gauges(metrics_url: str) -> tuple[int, int]:
    """The worker's consumer lag (summed over partitions) and remembered closed ids."""
    lag = closed = 0.0
    for line in http_text(metrics_url).splitlines():
        if line.startswith("rtx_worker_consumer_lag{"):
            lag += float(line.rsplit(" ", 1)[1])
        elif line.startswith("rtx_worker_closed_ids_remembered "):
            closed = float(line.rsplit(" ", 1)[1])
    return int(lag), int(closed)


def bridge_gauges(status_url: str) -> tuple[int, int]:
    """The bridge's consumer lag (summed over derived topics) and alerts held for resume."""
    status = json.loads(http_text(status_url))
    lag = int(sum(t.get("lag", 0) for t in status.get("consumer", {}).values()))
    return lag, int((status.get("alertLog") or {}).get("held", 0))


def slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope, per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return 0.0 if den == 0 else 60.0 * sum((x - mx) * (y - my) for x, y in points) / den


def plot(samples: list[Sample], path: Path, title: str) -> bool:
    try:
        import matplotlib  # noqa: PLC0415 - optional, only for the picture

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        progress("matplotlib not installed: no plot (pip install matplotlib)")
        return False
    minutes = [s.t_s / 60 for s in samples]
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    ax1.plot(minutes, [s.worker_rss_kib / 1024 for s in samples], label="worker")
    ax1.plot(minutes, [s.bridge_rss_kib / 1024 for s in samples], label="bridge")
    ax1.set_ylabel("RSS (MiB)")
    ax1.set_ylim(bottom=0)
    ax1.legend()
    ax1.set_title(title)
    ax2.plot(minutes, [s.worker_fds for s in samples], label="worker")
    ax2.plot(minutes, [s.bridge_fds for s in samples], label="bridge")
    ax2.set_ylabel("open fds")
    ax2.set_ylim(bottom=0)
    ax2.legend()
    ax3.plot(minutes, [s.worker_lag for s in samples], label="worker (inputs + internal)")
    ax3.plot(minutes, [s.bridge_lag for s in samples], label="bridge (derived topics)")
    ax3.set_ylabel("consumer lag (messages)")
    ax3.set_xlabel("minutes")
    ax3.set_ylim(bottom=0)
    ax3.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def run(args: argparse.Namespace) -> int:
    prefix = f"soak.{uuid.uuid4().hex[:8]}."
    env = bench_env(prefix)
    out_dir = Path(args.out_dir)
    logs = Path(args.log_dir)
    logs.mkdir(parents=True, exist_ok=True)
    print(
        f"soak: {args.minutes:g} min at {args.rate}/s with {args.clients} clients; machine "
        f"{machine()}; broker {env['KAFKA_BOOTSTRAP_SERVERS']}, prefix {prefix}; bridge alert "
        f"history {args.bridge_alert_history or 'default'}",
        flush=True,
    )
    asyncio.run(create_topics(env))
    metrics_port, bridge_port = free_port(), free_port()
    wenv = dict(env, RTX_WORKER_METRICS_PORT=str(metrics_port), RTX_APP_ID=f"soak-{prefix}")
    wenv["RTX_WORKER_DATA_DIR"] = str(logs / "soak-worker-data")
    benv = dict(env, RTX_BRIDGE_DEV_MODE="1", RTX_BRIDGE_HOST="127.0.0.1")
    limit = str(args.clients + 100)  # every client has the same dev user
    benv.update(RTX_BRIDGE_MAX_CONNECTIONS=limit, RTX_BRIDGE_MAX_CONNECTIONS_PER_USER=limit)
    benv["RTX_BRIDGE_PORT"] = str(bridge_port)
    if args.bridge_alert_history is not None:
        benv["RTX_BRIDGE_ALERT_HISTORY"] = str(args.bridge_alert_history)
    for name, penv in (("worker", wenv), ("bridge", benv)):
        if name in args.memprobe:
            probe_path = [str(ROOT / "bench" / "memprobe"), penv.get("PYTHONPATH", "")]
            penv.update(RTX_MEMPROBE=name, RTX_MEMPROBE_DIR=str(logs))
            penv["PYTHONPATH"] = os.pathsep.join(p for p in probe_path if p)
            progress(f"memprobe on the {name}: {logs}/memprobe-{name}-<pid>.jsonl")
    procs: list[Proc] = []
    fleet: GoFleet | None = None
    soak = Soak()
    sent = 0
    try:
        worker = start("worker", ["worker"], wenv, logs)
        procs.append(worker)
        wait_for("worker", lambda: "Worker]: Ready" in worker.log.read_text(errors="replace"))
        bridge = start("bridge", ["bridge"], benv, logs)
        procs.append(bridge)
        base = f"http://127.0.0.1:{bridge_port}"
        wait_for("bridge", lambda: http_text(f"{base}/readyz") is not None)
        url = f"ws://127.0.0.1:{bridge_port}/ws/analytics"
        fleet = GoFleet.start([url], args.clients, 1, dev_token("soak"), probes=20)
        connected = fleet.wait_connected()
        progress(f"{connected}/{args.clients} clients connected and subscribed")
        if connected < args.clients:
            raise SystemExit(f"soak: only {connected} of {args.clients} clients connected")
        seconds = args.minutes * 60
        sim = start(
            "simulator",
            ["simulate", "--rate", str(args.rate), "--duration", f"{seconds:g}",
             "--report-every", "60"],
            env,
            logs,
        )  # fmt: skip
        procs.append(sim)
        t0 = time.monotonic()
        fleet.begin(time.time() + 5)
        next_sample = t0
        while sim.alive():
            now = time.monotonic()
            if now >= next_sample:
                for p in (worker, bridge):
                    if not p.alive():
                        raise SystemExit(f"soak: the {p.name} exited; see {p.log}")
                w_lag, w_closed = worker_gauges(f"http://127.0.0.1:{metrics_port}/metrics")
                # The consumer lag and alert log are for the status role (admin) only.
                status_url = f"{base}/api/analytics/status?token={dev_token('soak-status')}"
                b_lag, b_alerts = bridge_gauges(status_url)
                sample = Sample(
                    now - t0,
                    rss_kib(worker.proc.pid),
                    rss_kib(bridge.proc.pid),
                    fds(worker.proc.pid),
                    fds(bridge.proc.pid),
                    w_lag,
                    b_lag,
                    w_closed,
                    b_alerts,
                )
                soak.samples.append(sample)
                progress(
                    f"{sample.t_s / 60:5.1f} min: worker {sample.worker_rss_kib / 1024:6.1f} MiB "
                    f"{sample.worker_fds} fds lag {sample.worker_lag}; bridge "
                    f"{sample.bridge_rss_kib / 1024:6.1f} MiB {sample.bridge_fds} fds lag "
                    f"{sample.bridge_lag}"
                )
                next_sample += args.sample_s
            time.sleep(0.5)
        text = sim.log.read_text(errors="replace")
        m = re.findall(r"acknowledged (\d+) events", text)
        sent = int(m[-1]) if m else 0
    finally:
        results = fleet.finish() if fleet is not None else []
        for p in reversed(procs):
            p.stop()
        asyncio.run(delete_topics(env))
    received = sum(r.messages for r in results)
    return report(args, soak, sent, received, out_dir)


def report(args: argparse.Namespace, soak: Soak, sent: int, received: int, out: Path) -> int:
    samples = soak.samples
    if len(samples) < 3:
        print("soak: too few samples", flush=True)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    with (out / "soak.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(Sample.__dataclass_fields__))
        for s in samples:
            w.writerow([f"{s.t_s:.1f}", *list(vars(s).values())[1:]])
    title = f"soak: {args.minutes:g} min, {args.rate}/s, {args.clients} clients"
    plotted = plot(samples, out / "soak.png", title)
    third = len(samples) // 3
    tail = samples[third:]
    ok = True
    print(f"\nsoak: {args.minutes:g} min, {args.rate} events/s, {args.clients} clients", flush=True)
    for name in ("worker", "bridge"):
        rss = [getattr(s, f"{name}_rss_kib") for s in samples]
        slope = slope_per_min([(s.t_s, getattr(s, f"{name}_rss_kib")) for s in tail])
        flat = abs(slope) * 10 <= 0.01 * rss[-1]
        ok &= flat or slope < 0  # memory given back is not a failure
        verdict = "flat" if flat else "GROWING" if slope > 0 else "falling"
        fd = [getattr(s, f"{name}_fds") for s in samples]
        lag = max(getattr(s, f"{name}_lag") for s in samples)
        print(
            f"  {name}: RSS {rss[0] / 1024:.1f} MiB at start, {rss[third] / 1024:.1f} after the "
            f"first third, {rss[-1] / 1024:.1f} at the end; slope over the last two thirds "
            f"{slope:+.1f} KiB/min ({verdict}); fds {fd[0]} -> {fd[-1]} "
            f"(max {max(fd)}); max consumer lag {lag:,}",
            flush=True,
        )
    print(
        f"  bounded state: worker closed ids remembered {samples[third].worker_closed_ids:,} "
        f"after the first third, {samples[-1].worker_closed_ids:,} at the end; bridge alerts "
        f"held {samples[third].bridge_alerts_held:,} -> {samples[-1].bridge_alerts_held:,}",
        flush=True,
    )
    print(f"  events acknowledged by the simulator: {sent:,}", flush=True)
    print(f"  data messages received by the clients: {received:,}", flush=True)
    print(f"  samples: {out / 'soak.csv'}" + (f", plot: {out / 'soak.png'}" if plotted else ""))
    return 0 if ok else 1


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--rate", type=int, default=2000, help="simulated events/s")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--sample-s", type=float, default=10.0)
    p.add_argument(
        "--bridge-alert-history",
        type=int,
        default=None,
        help="RTX_BRIDGE_ALERT_HISTORY for the bridge (default: the bridge's, 10,000; at the "
        "simulator's ~0.6 alerts/s that store fills for hours, so a smaller one shows the "
        "steady state within the run)",
    )
    p.add_argument(
        "--memprobe",
        choices=("worker", "bridge"),
        action="append",
        default=[],
        help="sample that process's memory breakdown once a minute (bench/memprobe) into the "
        "log dir; may be given twice",
    )
    p.add_argument("--out-dir", default=str(ROOT / "docs"), help="where soak.csv/soak.png go")
    p.add_argument("--log-dir", default="/tmp/rtx-soak", help="the processes' logs")  # noqa: S108
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(run(parse_args()))
