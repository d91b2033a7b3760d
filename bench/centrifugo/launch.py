"""Centrifugo for bench/bridge_load.py ``--server centrifugo``: the open-source server dashboards
would otherwise sit behind, fed by its own Kafka consumer, measured with the same load, clients
and figures as the bridge.

- Built once from the Go module proxy at a pinned version (``build.sh`` beside this file:
  ``go install github.com/centrifugal/centrifugo/v6@v6.9.1`` into ``.rtx/cache/centrifugo-v6.9.1``;
  ``CENTRIFUGO_VERSION`` picks another).
- Configured from ``config.json`` beside this file, with the run's values filled in: a free
  port, the run's broker and topics (the same four derived topics the bridge reads, under a
  prefix of their own), a consumer group of the run, and the HMAC key of the bench's tokens.
  The Kafka consumer runs in *publication data mode*: a record's value is published as is to the
  channels named in its ``centrifugo-channels`` header. The bench's producer therefore writes,
  for Centrifugo, the bridge's own message JSON (decoded from the Avro record the bridge would
  get and encoded by ``ws_bridge.core.messages``) with the message's channel in that header.
- Everything else is Centrifugo's defaults, as a new user would run it (GOMAXPROCS = both cores).

A module of the bench (``bench/`` is on ``sys.path``), imported as ``centrifugo.launch``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loadkit import ROOT, ServerProcess, free_port, progress, raise_nofile

HERE = Path(__file__).resolve().parent
VERSION = os.environ.get("CENTRIFUGO_VERSION", "v6.9.1")
BINARY = ROOT / ".rtx" / "cache" / f"centrifugo-{VERSION}" / "centrifugo"
CHANNELS_HEADER = "centrifugo-channels"
LOGICAL_TOPICS = ("exposure", "routing_metrics", "lp_performance", "alerts")


def build() -> Path:
    """The pinned Centrifugo binary, built by ``build.sh`` on first use."""
    if not BINARY.exists():
        progress(f"building Centrifugo {VERSION} (go install; once, into {BINARY.parent})")
        subprocess.run(  # noqa: S603 - our own build script
            ["bash", str(HERE / "build.sh")],  # noqa: S607
            env={**os.environ, "CENTRIFUGO_VERSION": VERSION},
            check=True,
        )
    return BINARY


def topics(env: dict[str, str]) -> list[str]:
    from streams.settings import KafkaSettings
    from streams.topics import topic_name

    settings = KafkaSettings.from_env(env)
    return [topic_name(logical, settings) for logical in LOGICAL_TOPICS]


def config(env: dict[str, str], port: int, secret: str) -> dict[str, Any]:
    """``config.json`` with this run's port, broker, topics, consumer group and token key."""
    cfg: dict[str, Any] = json.loads((HERE / "config.json").read_text())
    cfg["http_server"]["port"] = port
    cfg["client"]["token"]["hmac_secret_key"] = secret
    kafka = cfg["consumers"][0]["kafka"]
    kafka["brokers"] = env["KAFKA_BOOTSTRAP_SERVERS"].split(",")
    kafka["topics"] = topics(env)
    kafka["consumer_group"] = group_of(env)
    return cfg


def group_of(env: dict[str, str]) -> str:
    return f"{env['RTX_TOPIC_PREFIX']}centrifugo"


class CentrifugoServer(ServerProcess):
    """One Centrifugo process (``/connection/websocket``, ready when ``/health`` answers)."""

    ws_path = "/connection/websocket"
    ready_path = "/health"
    protocol = "centrifugo"

    @classmethod
    def start(cls, env: dict[str, str], secret: str) -> CentrifugoServer:
        binary = build()
        port = free_port()
        path = Path(f"/tmp/centrifugo-bench-{port}.json")  # noqa: S108 - bench scratch
        path.write_text(json.dumps(config(env, port, secret), indent=2))
        path.chmod(0o600)
        log_path = Path(f"/tmp/centrifugo-bench-{port}.log")  # noqa: S108 - bench scratch
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - the binary built above
                [str(binary), "--config", str(path)],
                cwd=path.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=raise_nofile,  # noqa: PLW1509 - before exec, no threads yet
            )
        server = cls(port, proc, log_path)
        server.wait_ready("centrifugo", every_s=0.1)
        # The caller's event loop may be running: wait on a loop of our own in a thread.
        try:
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, wait_group_stable(env, group_of(env))).result()
        except BaseException:
            server.stop()
            raise
        return server


async def wait_group_stable(env: dict[str, str], group: str, timeout_s: float = 60.0) -> None:
    """Until Centrifugo's consumer group holds its partitions (Kafka delays the first join of a
    group by ``group.initial.rebalance.delay.ms``, 3 s by default)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            described = await admin.describe_consumer_groups([group])
            states = [g[2] for resp in described for g in resp.groups if g[1] == group]
            if states == ["Stable"]:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"Centrifugo's consumer group {group} not stable in {timeout_s:g}s")
    finally:
        await admin.close()


@contextlib.contextmanager
def centrifugo_servers(env: dict[str, str], secret: str) -> Iterator[list[CentrifugoServer]]:
    server = CentrifugoServer.start(env, secret)
    progress(f"centrifugo {VERSION} ready on port {server.port} (pid {server.pid})")
    try:
        yield [server]
    finally:
        server.stop()
