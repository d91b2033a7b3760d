"""``rtx-analytics markouts`` against a real broker: the process, a scenario published with its
own event ids and times (so the results can be compared with the pure reference run), and a
wait for a topic's records to reach a state."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from schemas.codec import default_codec
from streams.sdk import Publisher
from streams.settings import KafkaSettings
from tests.helpers.faults import read_topic
from tests.helpers.markouts import Event
from tests.helpers.worker import WorkerProcess

CODEC = default_codec()


class MarkoutsProcess(WorkerProcess):
    """``python -m streams.cli markouts`` with the test's topics; its output in a log file."""

    command = ("markouts",)

    def __init__(self, settings: KafkaSettings, tmp: Path, app_id: str, **env: str) -> None:
        super().__init__(settings, tmp, app_id, RTX_MARKOUTS_METRICS_PORT="0", **env)
        self.log_path = tmp / f"markouts-{app_id}-{uuid.uuid4().hex[:6]}.log"

    def start(self) -> MarkoutsProcess:  # type: ignore[override]
        super().start()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Send ``sig`` and wait for the exit (SIGKILL after 60 s); the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    async def logged(self, text: str, timeout_s: float = 60.0) -> str:
        """The log once it holds ``text`` (polled every 0.1 s)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            log = self.log_path.read_text(errors="replace")
            if text in log:
                return log
            if self.proc is not None and self.proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        raise AssertionError(f"{text!r} not logged; log:\n{self.log()}")


def recent(hours: float = 1.0) -> int:
    """A time ``hours`` ago (int micros, whole seconds). Events are stamped in Kafka with their
    event time: a scenario dated months ago would be deleted by the topics' retention (the broker
    checks every five minutes) while a test reads it."""
    return (int(time.time()) - round(hours * 3600)) * 1_000_000


def as_published(events: Iterable[Event], start_us: int | None = None) -> list[Event]:
    """A scenario's events as Kafka can carry them, moved in time to start at ``start_us``
    (default: :func:`recent`): the final ``advance`` becomes a EURUSD quote at that time (what
    moves event time on Kafka). Feed the reference run these too."""
    out: list[Event] = []
    events = list(events)
    shift = (recent() if start_us is None else start_us) - events[0][1]["eventTime"]
    for kind, r in events:
        r = {**r, "eventTime": r["eventTime"] + shift}
        if kind == "advance":
            r = {"eventId": "advance", "eventTime": r["eventTime"], "symbol": "EURUSD",
                 "bid": 1.0, "ask": 1.0001, "lp": None}  # fmt: skip
            kind = "quote"
        out.append((kind, r))
    return out


async def publish(settings: KafkaSettings, events: Iterable[Event]) -> int:
    """Publish events (:func:`as_published`) through the SDK with their own ids and times."""
    sent = 0
    async with Publisher(settings) as pub:
        for kind, r in events:
            ident = {"event_id": r.get("eventId"), "event_time": r["eventTime"]}
            if kind == "quote":
                await pub.quote(r["symbol"], r["bid"], r["ask"], **ident)
            elif kind == "decision":
                await pub.routing_decision(
                    r["symbol"], r["side"], r["volume"], r["routingDecision"], r["lpSelected"],
                    r["executionTimeMs"], r["spread"], r["slippage"], price=r["price"],
                    order_id=r["orderId"], account_id=r["accountId"], lp_rejected=r["lpRejected"],
                    **ident,
                )  # fmt: skip
            elif kind == "position":
                await pub.position(
                    r["positionId"], r["accountId"], r["symbol"], r["side"], r["volume"], 1.0,
                    "BBOOK", r["version"], status=r["status"], **ident,
                )  # fmt: skip
            sent += 1
        await pub.flush()
    return sent


def decoded(records: list[Any]) -> list[dict[str, Any]]:
    return [CODEC.decode(r.value).record for r in records if r.value is not None]


async def wait_for(
    settings: KafkaSettings,
    logical: str,
    done: Callable[[list[dict[str, Any]]], bool],
    what: str,
    process: MarkoutsProcess,
    timeout_s: float = 240.0,
) -> list[dict[str, Any]]:
    """The decoded records of ``logical`` once ``done(records)`` holds (polled every 0.5 s)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    records: list[dict[str, Any]] = []
    while loop.time() < deadline:
        records = decoded(await read_topic(settings, logical))
        if done(records):
            return records
        if process.proc is not None and process.proc.poll() is not None:
            break
        await asyncio.sleep(0.5)
    raise AssertionError(
        f"{what}: not reached ({len(records)} records of {logical}); log:\n{process.log()}"
    )
