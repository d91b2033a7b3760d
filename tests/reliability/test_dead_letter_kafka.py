"""Fuzzed bad events on every input topic, interleaved with good ones, through a real worker
process and a real broker: every bad event lands in the dead-letter topic, unchanged, with
headers naming its source topic, partition, offset and the error; every good one is processed."""

from __future__ import annotations

import asyncio
import random
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from schemas.codec import DecodeError
from streams import events
from streams.settings import KafkaSettings
from streams.topics import topic_name
from tests.helpers.avro_mutations import CODEC, INPUTS, RandomChooser, generate
from tests.helpers.worker import TopicReader, WorkerProcess, decoded

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]

BAD_PER_TOPIC = 200
GOOD_EVERY = 4  # one good event after every 4 bad ones
REASONS = (
    b"not-single-object",
    b"unknown-fingerprint",
    b"unexpected-schema",
    b"truncated",
    b"corrupt",
    b"invalid",
)
T0 = 1_768_818_645_000_000


def _is_bad(logical: str, data: bytes) -> bool:
    schema = INPUTS[logical]
    try:
        events.validate(schema, CODEC.decode(data, expect=(schema,)).record)
    except (DecodeError, events.InvalidEvent):
        return True
    return False


def bad_events(logical: str, seed: int) -> list[bytes | None]:
    """Fuzzed events that must be refused: every class of bad input, a tombstone, and the
    inputs that used to crash the global stage (numbers near the largest double)."""
    chooser = RandomChooser(random.Random(seed))
    out: list[bytes | None] = [None]
    schema = INPUTS[logical]
    if logical == "quotes":
        out.append(
            CODEC.encode(
                schema,
                events.quote(symbol="EURUSD", bid=1.0, ask=1.0, event_time=T0)
                | {"ask": 1.7976931348623157e308},
            )
        )
    while len(out) < BAD_PER_TOPIC:
        sample = generate(chooser, logical=logical)
        if _is_bad(logical, sample.data):
            out.append(sample.data)
    return out


def good_event(logical: str, n: int) -> tuple[bytes, str]:
    """A valid event and the marker to find its effect by."""
    eid = f"good-{logical}-{n}"
    t = T0 + n
    if logical == "positions":
        record = events.position(
            position_id=eid, account_id="acc", symbol="EURUSD", side="BUY", volume=1000,
            open_price=1.08, book="BBOOK", version=1, event_id=eid, event_time=t,
        )  # fmt: skip
    elif logical == "quotes":
        mid = 1.0 + n / 1000
        record = events.quote(symbol="EURUSD", bid=mid, ask=mid, event_id=eid, event_time=t)
    elif logical == "routing_decisions":
        record = events.routing_decision(
            symbol="EURUSD", side="BUY", volume=1000, decision="BBOOK", event_id=eid, event_time=t
        )
    elif logical == "lp_status":
        record = events.lp_status(lp_name=eid, status="connected", event_id=eid, event_time=t)
    else:
        record = events.service_alert(
            severity="info", category="system", title=eid, message="fuzz neighbour",
            source="fuzz", event_id=eid, event_time=t,
        )  # fmt: skip
    return CODEC.encode(INPUTS[logical], record), eid


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _metric(text: str, name: str, topic: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and f'topic="{topic}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def worker(topics: KafkaSettings, tmp_path: Path) -> Iterator[tuple[WorkerProcess, int]]:
    port = _free_port()
    app_id = f"rtx-fuzz-{uuid.uuid4().hex[:8]}"
    w = WorkerProcess(topics, tmp_path, app_id, RTX_WORKER_METRICS_PORT=str(port))
    w.start()
    yield w, port
    w.kill()


async def test_every_fuzzed_bad_event_is_dead_lettered_with_its_source_and_error(
    topics: KafkaSettings, worker: tuple[WorkerProcess, int]
) -> None:
    proc, metrics_port = worker
    sent_bad: dict[tuple[str, int, int], tuple[bytes, bytes | None]] = {}
    good: dict[str, list[str]] = {logical: [] for logical in INPUTS}
    producer = AIOKafkaProducer(bootstrap_servers=topics.bootstrap_servers, linger_ms=2)
    await producer.start()
    try:
        for seed, logical in enumerate(sorted(INPUTS)):
            topic = topic_name(logical, topics)
            pending: list[tuple[bytes, bytes | None, Any]] = []
            for i, value in enumerate(bad_events(logical, seed)):
                key = f"bad-{i}".encode()
                pending.append((key, value, await producer.send(topic, value, key=key)))
                if i % GOOD_EVERY == GOOD_EVERY - 1:
                    data, marker = good_event(logical, len(good[logical]))
                    good[logical].append(marker)
                    # Quotes keyed by symbol as the SDK does: one partition, so the last good
                    # quote is the latest mid.
                    key = b"EURUSD" if logical == "quotes" else marker.encode()
                    await producer.send(topic, data, key=key)
            for key, value, future in pending:
                meta = await future
                sent_bad[(topic, meta.partition, meta.offset)] = (key, value)
        await producer.flush()
    finally:
        await producer.stop()

    async with TopicReader(topics, "dead_letter") as dlq:
        for _ in range(600):
            await dlq.poll()
            if len(dlq.records) >= len(sent_bad):
                break
        await dlq.poll(1.0)  # anything extra (a good event dead-lettered) shows up too
        found: dict[tuple[str, int, int], Any] = {}
        for r in dlq.records:
            h = dict(r.headers)
            where = (
                h["rtx.source.topic"].decode(),
                int(h["rtx.source.partition"]),
                int(h["rtx.source.offset"]),
            )
            assert where not in found, f"dead-lettered twice: {where}"
            found[where] = r
    missing = set(sent_bad) - set(found)
    extra = set(found) - set(sent_bad)
    assert not missing, f"{len(missing)} bad events not dead-lettered; worker log:\n{proc.log()}"
    assert not extra, f"good events dead-lettered: {[found[w].headers for w in extra][:5]}"
    for where, (key, value) in sent_bad.items():
        r = found[where]
        error = dict(r.headers)["rtx.error"]
        assert r.key == key
        assert r.value == (value or b""), where  # unchanged (a tombstone as empty bytes)
        assert error.startswith(REASONS), (where, error)  # never the worker's catch-all

    # Nothing lost: the good ones were processed, by their effect on the derived topics ...
    async with TopicReader(topics, "routing_metrics") as routing:
        want = set(good["routing_decisions"])
        await routing.until(
            lambda r: not (want.difference_update({decoded(r).get("eventId")}) or want),
            90,
            "every good routing decision passed through",
            proc,
        )
    async with TopicReader(topics, "lp_performance") as lp:
        want_lp = set(good["lp_status"])
        await lp.until(
            lambda r: not (want_lp.difference_update({decoded(r)["lpName"]}) or want_lp),
            90,
            "lp-metrics of every good LP",
            proc,
        )
    async with TopicReader(topics, "alerts") as alerts:
        want_alerts = set(good["alerts_inbound"])
        await alerts.until(
            lambda r: not (want_alerts.difference_update({decoded(r)["title"]}) or want_alerts),
            90,
            "an alert for every good service alert",
            proc,
        )
    n_positions = len(good["positions"])
    last_mid = 1.0 + (len(good["quotes"]) - 1) / 1000
    async with TopicReader(topics, "exposure") as exposure:
        await exposure.until(
            lambda r: (
                decoded(r).get("positionCount") == n_positions
                and decoded(r)["totalExposure"] == pytest.approx(n_positions * 1000 * last_mid)
            ),
            90,
            f"exposure of {n_positions} positions at the last good quote",
            proc,
        )
    # ... and the worker counted every event, bad ones as dead letters.
    text = await asyncio.to_thread(
        lambda: (
            urllib.request.urlopen(  # noqa: S310 - our worker on 127.0.0.1
                f"http://127.0.0.1:{metrics_port}/metrics", timeout=5
            )
            .read()
            .decode()
        )
    )
    for logical in INPUTS:
        bad = sum(1 for (t, _, _) in sent_bad if t == topic_name(logical, topics))
        assert _metric(text, "rtx_worker_events_total", logical) == bad + len(good[logical])
        assert _metric(text, "rtx_worker_dead_lettered_total", logical) == bad
