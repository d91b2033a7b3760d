"""The fan-out floor for bench/bridge_load.py ``--server floor``: a Go server (bench/fanoutfloor)
that does only what any bridge must do on this machine (batch 2,000 messages/s into frames every
16 ms and write each frame to every connection), with no Kafka, no auth and no Python.

Run against the same Go load clients, on the same machine, with the same Kafka load running
beside it (bridge_load.py still publishes to the broker), it shows how far the hardware itself
lets the latency goal go: if a compiled hub cannot hold p99 <= 50 ms at a client count, no
bridge can on this machine with its clients beside it.

The messages are the bridge's own: one of each kind is made as the bench's producer makes them
(``Records``), decoded and encoded with ``ws_bridge.core.messages``, and handed to the server as a
template split around the timestamp's value, which the server fills in as it makes each message.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from loadkit import MIX, ROOT, Records, ServerProcess, free_port, progress, raise_nofile

SOURCE = ROOT / "bench" / "fanoutfloor"
BINARY = ROOT / ".rtx" / "bin" / "fanoutfloor"
SCHEMAS = {"routing": "RoutingDecision", "lp": "LpPerformance", "exposure": "ExposureChange",
           "alert": "Alert"}  # fmt: skip


def build() -> Path:
    newest = max(f.stat().st_mtime for f in SOURCE.iterdir())
    if not BINARY.exists() or BINARY.stat().st_mtime < newest:
        progress(f"building the fan-out floor server into {BINARY} (go build)")
        BINARY.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(  # noqa: S603 - the go toolchain on our own source
            ["go", "build", "-o", str(BINARY), "."],  # noqa: S607
            cwd=SOURCE,
            check=True,
        )
    return BINARY


def write_templates(env: dict[str, str], path: Path) -> None:
    """One template per kind of the bench's mix, encoded exactly as the bridge encodes it."""
    from schemas.codec import default_codec
    from ws_bridge.core.messages import encode, format_timestamp, to_message

    codec, records = default_codec(), Records(env)
    lines = []
    for kind, share in MIX:
        now_us = int(time.time() * 1e6)
        _, _, value = records.make(kind, now_us)
        record = codec.decode(value, expect=(SCHEMAS[kind],)).record
        extra = {"seq": 123_456, "epoch": "0f3c9a2e1b7d"} if kind == "alert" else {}
        text = encode(to_message(SCHEMAS[kind], record, **extra)).text  # type: ignore[arg-type]
        stamp = format_timestamp(now_us)
        before, sep, after = text.partition(stamp)
        if not sep:
            raise RuntimeError(f"no timestamp {stamp} in the {kind} message: {text[:200]}")
        lines.append(json.dumps({"kind": kind, "share": share, "before": before, "after": after}))
    path.write_text("\n".join(lines) + "\n")


class FloorServer(ServerProcess):
    """One fanoutfloor process."""

    @classmethod
    def start(cls, env: dict[str, str], rate: int, threads: int) -> FloorServer:
        binary = build()
        port = free_port()
        templates = Path(f"/tmp/fanoutfloor-{port}.jsonl")  # noqa: S108 - bench scratch
        write_templates(env, templates)
        log_path = Path(f"/tmp/fanoutfloor-{port}.log")  # noqa: S108 - bench scratch
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own binary
                [
                    str(binary),
                    "--addr",
                    f"127.0.0.1:{port}",
                    "--templates",
                    str(templates),
                    "--rate",
                    str(rate),
                ],  # fmt: skip
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "GOMAXPROCS": str(threads)},
                preexec_fn=raise_nofile,  # noqa: PLW1509 - before exec, no threads yet
            )
        server = cls(port, proc, log_path)
        server.wait_ready("fanoutfloor", every_s=0.1)
        return server

    def stats(self) -> dict[str, int]:
        url = f"http://127.0.0.1:{self.port}/stats"
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - local http
            return dict(json.loads(resp.read()))


@contextlib.contextmanager
def floor_servers(env: dict[str, str], rate: int, threads: int) -> Iterator[list[FloorServer]]:
    server = FloorServer.start(env, rate, threads)
    progress(f"fan-out floor ready on port {server.port} (pid {server.pid}, GOMAXPROCS {threads})")
    try:
        yield [server]
    finally:
        with contextlib.suppress(OSError):
            progress(f"fan-out floor counters: {server.stats()}")
        server.stop()
