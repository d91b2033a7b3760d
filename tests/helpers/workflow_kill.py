"""Pieces of the alert workflow's kill -9 test (tests/reliability/test_workflow_kill.py): the
notifier as a subprocess, dashboards that keep the latest state of every alert, dealers that
act and record what was confirmed, and the states the topics fold to."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.codec import default_codec
from streams.events.builders import service_alert
from streams.settings import KafkaSettings
from streams.topics import topic_name
from streams.workflow import Workflow
from tests.helpers.faults import BridgeProcess, read_topic
from ws_bridge.client import AnalyticsClient, ServerError
from ws_bridge.core.auth import mint_token
from ws_bridge.core.config import DEV_SECRET

CODEC = default_codec()
COMPARED = ("status", "comments", "acknowledgedBy", "escalations", "events", "actionSeq")


def kill_9(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL the process group (each child runs in a session of its own)."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


async def restart_bridge(bridge: BridgeProcess) -> None:
    """A new bridge on the same port (clients reconnect to the same URL)."""
    bridge._spawn()  # noqa: SLF001 - the helper's own start, without a new port
    for _ in range(600):
        if await asyncio.to_thread(bridge._ready):  # noqa: SLF001
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"bridge not ready again:\n{bridge.log()}")


class NotifierProcess:
    """``rtx-analytics notify`` with a config file, its log in ``tmp``."""

    def __init__(self, settings: KafkaSettings, tmp: Path, config: str) -> None:
        self.log_path = tmp / "notify.log"
        path = tmp / "rtx.toml"
        path.write_text(config)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("RTX_", "KAFKA_"))}
        self.env.update(
            KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
            RTX_TOPIC_PREFIX=settings.topic_prefix,
            RTX_CONFIG_FILE=str(path),
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log_file:
            self.proc = subprocess.Popen(  # noqa: S603 - our own command
                [sys.executable, "-m", "streams.cli", "notify"],
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


async def raise_service_alerts(settings: KafkaSettings, count: int, tag: str) -> None:
    """``count`` critical service alerts into the inbound topic (the worker logs them)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for n in range(count):
            record = service_alert(
                severity="critical",
                category="system",
                title=f"Kill test {tag}-{n}",
                message="an alert for the workflow kill test",
                source="KillTest",
            )
            value = CODEC.encode("ServiceAlert", record)
            await producer.send_and_wait(topic_name("alerts_inbound", settings), value, key=b"k")
    finally:
        await producer.stop()


def client(url: str, user: str, role: str) -> AnalyticsClient:
    token = mint_token(DEV_SECRET, user, [role], 3600)
    return AnalyticsClient(url, token, channels=["alerts"], resume_from=(-1, None))


class Dashboard:
    """A client that keeps the latest alert-state of every alert (by events)."""

    def __init__(self, url: str, name: str) -> None:
        self.client = client(url, name, "viewer")
        self.states: dict[str, dict[str, Any]] = {}
        self.alerts: set[str] = set()
        self.client.on("alert-state", self._state)
        self.client.on("alert", lambda m: self.alerts.add(m["data"]["id"]))

    def _state(self, message: dict[str, Any]) -> None:
        data = message["data"]
        held = self.states.get(data["id"])
        if held is None or data["events"] >= held["events"]:
            self.states[data["id"]] = data

    def view(self, alert_id: str) -> tuple[Any, ...] | None:
        data = self.states.get(alert_id)
        return None if data is None else tuple(data[k] for k in COMPARED)


class Dealer:
    """A client that comments on and acknowledges random alerts, recording each outcome."""

    def __init__(self, url: str, name: str, seed: int) -> None:
        self.client = client(url, name, "dealer")
        self.rng = random.Random(seed)  # noqa: S311 - test data
        self.confirmed: dict[str, dict[str, Any]] = {}  # actionId -> confirmed data
        self.refused: Counter[str] = Counter()
        self.done = 0

    async def act(self, alert_id: str, kind: str) -> None:
        try:
            if kind == "comment":
                data = await self.client.comment(alert_id, f"note {self.done}")
            else:
                data = await self.client.acknowledge(alert_id)
            self.confirmed[data["actionId"]] = data
        except ServerError as exc:  # e.g. already-acknowledged: a refusal, not a loss
            self.refused[exc.code] += 1
        self.done += 1

    async def burst(self, alert_ids: list[str], count: int) -> None:
        for _ in range(count):
            kind = "acknowledge" if self.rng.random() < 0.15 else "comment"
            await self.act(self.rng.choice(alert_ids), kind)


async def folded(settings: KafkaSettings) -> tuple[Workflow, list[dict[str, Any]]]:
    """The workflow the topics fold to now, and every action record in topic order."""
    flow = Workflow()
    for record in sorted(await read_topic(settings, "alerts"), key=lambda r: r.offset):
        flow.add_alert(record.offset, CODEC.decode(record.value).record, record.timestamp * 1000)
    actions = []
    for record in sorted(await read_topic(settings, "alert_actions"), key=lambda r: r.offset):
        decoded = CODEC.decode(record.value).record
        flow.add_action(record.offset, decoded)
        actions.append({**decoded, "_seq": record.offset})
    return flow, actions


def expected_view(flow: Workflow, alert_id: str) -> tuple[Any, ...] | None:
    from streams.workflow.wire import state_data

    state = flow.state(alert_id)
    if state is None:
        return None
    data = state_data(state, str)
    return tuple(data[k] for k in COMPARED)
