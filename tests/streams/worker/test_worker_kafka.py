"""The worker as a real process against a real broker: inputs through the SDK, derived topics
read back raw and decoded with the codec."""

from __future__ import annotations

import asyncio
import random
import signal
import socket
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from streams import events
from streams.sdk import Publisher
from streams.settings import KafkaSettings
from streams.topics import topic_name
from streams.worker.pipeline import PositionsStage
from tests.helpers.faults import wait_logged
from tests.helpers.worker import (
    CODEC,
    EURUSD_MID,
    MIDS,
    TopicReader,
    WorkerProcess,
    decoded,
    final_state,
    ground_truth,
    position_stream,
    publish_quotes,
    wait_group_members,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def start_worker(topics: KafkaSettings, tmp_path: Path) -> Iterator[Any]:
    started: list[WorkerProcess] = []
    app_id = f"rtx-test-{uuid.uuid4().hex[:8]}"

    def start(**env: str) -> WorkerProcess:
        w = WorkerProcess(topics, tmp_path, app_id, **env)
        w.start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.kill(signal.SIGTERM)


async def test_guide_scenario_raises_exactly_one_critical_alert(
    topics: KafkaSettings, start_worker: Any
) -> None:
    """Five 50,000 EURUSD buys against the 100,000 USD limit: exposure 271,250 USD and one
    critical alert (the old hub's reference test), not one per order."""
    worker = start_worker()
    async with Publisher(topics) as pub:
        await pub.quote("EURUSD", EURUSD_MID - 0.0001, EURUSD_MID + 0.0001)
        await pub.flush()
        for i in range(5):
            await pub.position(f"guide-{i}", "acc-1", "EURUSD", "BUY", 50_000, 1.0850, "BBOOK", 1)
            await pub.flush()
            await asyncio.sleep(0.2)
    async with TopicReader(topics, "exposure") as exposure:
        last = await exposure.until(
            lambda r: abs(decoded(r)["totalExposure"] - 271_250) < 1e-6,
            90,
            "exposure 271,250",
            worker,
        )
        rec = decoded(last)
        assert rec["utilizationPct"] == pytest.approx(271.25)
        assert rec["riskLevel"] == "critical"
        assert rec["bySymbol"] == {"EURUSD": pytest.approx(271_250)}
        assert rec["positionCount"] == 5
    async with TopicReader(topics, "alerts") as alerts:
        await alerts.until(lambda r: decoded(r)["severity"] == "critical", 30, "alert", worker)
        for _ in range(10):  # give a second alert time to show up, if one were coming
            await alerts.poll(0.3)
    critical = [decoded(r) for r in alerts.records if decoded(r)["severity"] == "critical"]
    assert len(critical) == 1, [c["title"] for c in critical]
    assert critical[0]["category"] == "exposure"
    assert critical[0]["id"] == alerts.records[0].key.decode()


async def test_a_normal_start_and_stop_logs_no_error(
    topics: KafkaSettings, start_worker: Any
) -> None:
    """A healthy worker that starts, works and is stopped with SIGTERM logs no ERROR line:
    expected start-up states (a coordinator not available yet, no leader topic) are at most
    WARNINGs, and it closes every producer it opened (no "Unclosed AIOKafkaProducer")."""
    worker = start_worker()
    await wait_logged(worker, "consuming")
    async with Publisher(topics) as pub:
        await pub.quote("EURUSD", EURUSD_MID - 0.0001, EURUSD_MID + 0.0001)
        await pub.position("calm-1", "acc-1", "EURUSD", "BUY", 10_000, 1.0850, "BBOOK", 1)
    async with TopicReader(topics, "exposure") as exposure:
        await exposure.until(lambda r: decoded(r)["positionCount"] == 1, 60, "exposure", worker)
    await wait_logged(worker, "global stage started")
    worker.kill(signal.SIGTERM)
    assert worker.proc is not None and worker.proc.returncode is not None, "stopped"
    lines = worker.log_path.read_text(errors="replace").splitlines()
    assert any("Stopping" in line for line in lines), "a clean stop, not a kill"
    errors = [line for line in lines if "[ERROR]" in line or "[CRITICAL]" in line]
    assert errors == [], "\n".join(lines[-60:])
    assert not any("Unclosed" in line for line in lines), "\n".join(lines[-60:])


async def test_exposure_equals_ground_truth_with_updates_closes_and_duplicates(
    topics: KafkaSettings, start_worker: Any
) -> None:
    worker = start_worker()
    rng = random.Random(11)  # noqa: S311
    evs = position_stream(11, 400, 60)
    async with Publisher(topics) as pub:
        await publish_quotes(pub)
        for i, ev in enumerate(evs):
            await pub.position(**ev)
            if rng.random() < 0.1:  # a redelivery of an older event changes nothing
                await pub.position(**rng.choice(evs[: i + 1]))
    await expect_ground_truth(topics, evs, worker)


async def test_bad_events_go_to_the_dead_letter_topic_and_the_worker_carries_on(
    topics: KafkaSettings, start_worker: Any
) -> None:
    worker = start_worker()
    producer = AIOKafkaProducer(bootstrap_servers=topics.bootstrap_servers)
    await producer.start()
    positions = topic_name("positions", topics)
    good = CODEC.encode(
        "PositionState",
        {
            "eventId": "e1",
            "eventTime": 1,
            "positionId": "x",
            "version": 1,
            "accountId": "a",
            "symbol": "EURUSD",
            "side": "BUY",
            "volume": float("nan"),
            "openPrice": 1.1,
            "currentPrice": None,
            "book": "BBOOK",
            "lp": None,
            "status": "OPEN",
        },
    )
    try:
        await producer.send_and_wait(positions, b"not avro at all", key=b"x")
        await producer.send_and_wait(positions, good, key=b"x")  # decodes, fails validation
    finally:
        await producer.stop()
    async with Publisher(topics) as pub:
        await pub.quote("EURUSD", 1.0849, 1.0851)
        await pub.position("ok-1", "a", "EURUSD", "BUY", 10_000, 1.085, "BBOOK", 1)
    async with TopicReader(topics, "dead_letter") as dlq:
        for _ in range(200):
            await dlq.poll()
            if len(dlq.records) >= 2:
                break
        assert len(dlq.records) == 2, worker.log()
        by_value = {r.value: dict(r.headers) for r in dlq.records}
        assert by_value[b"not avro at all"]["rtx.error"].startswith(b"not-single-object")
        assert by_value[good]["rtx.error"].startswith(b"invalid")
        assert b"volume" in by_value[good]["rtx.error"]
        for headers in by_value.values():
            assert headers["rtx.source.topic"] == positions.encode()
            assert int(headers["rtx.source.offset"]) >= 0
    async with TopicReader(topics, "exposure") as exposure:
        await exposure.until(
            lambda r: decoded(r)["totalExposure"] == pytest.approx(10_850), 60, "exposure", worker
        )


async def test_routing_decisions_pass_through_and_service_alerts_are_merged(
    topics: KafkaSettings, start_worker: Any
) -> None:
    worker = start_worker()
    async with Publisher(topics) as pub:
        d = await pub.routing_decision("EURUSD", "BUY", 10_000, "ABOOK", "OANDA", 45, 0.0001, 0.0)
        a = await pub.alert("warning", "system", "Disk", "90% full", "AlertEngine", ["Clean up"])
        await pub.alert(
            "warning",
            "system",
            "Disk",
            "90% full",
            "AlertEngine",
            ["Clean up"],
            event_id=a.event_id,
        )  # a redelivered service alert
    async with TopicReader(topics, "routing_metrics") as routing:
        rec = await routing.until(
            lambda r: decoded(r).get("eventId") == d.event_id, 60, "routing decision", worker
        )
        assert decoded(rec)["lpSelected"] == "OANDA"
    async with TopicReader(topics, "alerts") as alerts:
        await alerts.until(lambda r: decoded(r)["source"] == "AlertEngine", 60, "alert", worker)
        for _ in range(5):
            await alerts.poll(0.3)
    merged = [decoded(r) for r in alerts.records if decoded(r)["source"] == "AlertEngine"]
    assert len(merged) == 1
    assert merged[0]["title"] == "Disk" and merged[0]["actionItems"] == ["Clean up"]


async def expect_ground_truth(
    topics: KafkaSettings, evs: list[dict[str, Any]], worker: WorkerProcess
) -> None:
    """Wait until an exposure-change equals the independent ground truth of ``evs``."""
    expected = ground_truth(final_state(evs), MIDS)
    async with TopicReader(topics, "exposure") as exposure:
        await exposure.until(
            lambda r: decoded(r)["totalExposure"] == pytest.approx(expected, rel=1e-9),
            120,
            f"exposure {expected}",
            worker,
        )


async def publish_positions(topics: KafkaSettings, evs: list[dict[str, Any]]) -> None:
    async with Publisher(topics) as pub:
        await publish_quotes(pub)
        for ev in evs:
            await pub.position(**ev)


async def test_kill_9_mid_stream_then_restart_recovers_exact_exposure_and_unique_alerts(
    topics: KafkaSettings, start_worker: Any
) -> None:
    """kill -9 while events flow; the restarted worker rebuilds its state from Kafka: exposure
    equals the ground truth and no alert id appears twice in the alert log."""
    first = start_worker(RTX_EXPOSURE_LIMIT_USD="500000")
    evs = position_stream(21, 3000, 400)
    async with Publisher(topics) as pub:
        await publish_quotes(pub)
        await pub.flush()
        for i, ev in enumerate(evs[:2000]):
            await pub.position(**ev)
            if i % 200 == 0:
                await pub.flush()
                await asyncio.sleep(0.05)
            if i == 1200:
                first.kill(signal.SIGKILL)  # mid-stream, no clean shutdown
        await pub.flush()
        second = start_worker(RTX_EXPOSURE_LIMIT_USD="500000")
        for ev in evs[2000:]:
            await pub.position(**ev)
    await expect_ground_truth(topics, evs, second)
    async with TopicReader(topics, "alerts") as alerts:
        for _ in range(10):
            await alerts.poll(0.3)
    ids = [r.key for r in alerts.records]
    assert len(ids) == len(set(ids))


async def test_two_workers_give_the_same_exposure_as_the_ground_truth(
    topics: KafkaSettings, start_worker: Any
) -> None:
    workers = [start_worker(), start_worker()]
    evs = position_stream(33, 2000, 300)
    # Both input consumers in the group before the data arrives, so both take a share.
    await wait_group_members(topics, f"{workers[0].app_id}.inputs", 2)
    await publish_positions(topics, evs)
    await expect_ground_truth(topics, evs, workers[0])
    for w in workers:
        assert w.proc is not None and w.proc.poll() is None, w.log()


async def test_routing_summaries_lp_performance_and_metrics(
    topics: KafkaSettings, start_worker: Any
) -> None:
    """With 1 s windows: a routing-summary per closed window with the right counts; LP status
    comes out as lp-metrics with derived fields; /metrics counts events per topic."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    worker = start_worker(RTX_ROUTING_WINDOW_S="1", RTX_WORKER_METRICS_PORT=str(port))
    base = (int(time.time()) - 30) * 1_000_000  # event times in the past: windows close at once
    async with Publisher(topics) as pub:
        await pub.lp_status("OANDA", "connected", 0.0001, 0.95, 12.0, 200, 0.01, 99.0)
        for i in range(10):
            await pub.routing_decision(
                "EURUSD",
                "BUY",
                1000,
                "ABOOK" if i < 4 else "BBOOK",
                "OANDA" if i < 4 else None,
                10.0 + i,
                0.0001,
                0.00001 if i % 2 else -0.00001,
                price=1.085,
                event_time=base + i * 10_000,  # all in one 1 s window
            )
        # A later decision moves event time on, so the first window closes.
        await pub.routing_decision(
            "EURUSD",
            "SELL",
            1000,
            "BBOOK",
            None,
            5.0,
            0.0001,
            0.0,
            price=1.085,
            event_time=base + 10_000_000,
        )
    async with TopicReader(topics, "routing_metrics") as routing:
        rec = await routing.until(
            lambda r: CODEC.decode(r.value).schema == "RoutingSummary", 60, "summary", worker
        )
    summary = decoded(rec)
    assert summary["windowStart"] == base - base % 1_000_000
    assert summary["count"] == 10
    assert (summary["abookCount"], summary["bbookCount"]) == (4, 6)
    assert summary["abookShareByCountPct"] == pytest.approx(40.0)
    assert summary["byLP"] == {"OANDA": 4}
    assert summary["notionalUsd"] == pytest.approx(10 * 1000 * 1.085)
    assert (summary["slippagePositiveCount"], summary["slippageNegativeCount"]) == (5, 5)
    async with TopicReader(topics, "lp_performance") as lp:
        perf = decoded(await lp.until(lambda r: True, 30, "lp-metrics", worker))
    assert perf["lpName"] == "OANDA" and perf["status"] == "connected"
    assert perf["latencyMs"] == 12.0 and perf["uptime"] == 99.0
    body = ""
    want = ('rtx_worker_events_total{topic="routing_decisions"} 11.0', "rtx_worker_consumer_lag{")
    for _ in range(100):
        body = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
        if all(w in body for w in want):
            break
        await asyncio.sleep(0.2)
    for w in want:
        assert w in body
    assert 'rtx_worker_derived_total{topic="routing_metrics"}' in body


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - our own 127.0.0.1 server
        return str(resp.read().decode())


async def test_closed_ids_memory_is_bounded_by_the_setting_and_exported(
    topics: KafkaSettings, start_worker: Any
) -> None:
    """RTX_WORKER_MAX_CLOSED bounds the closed ids each positions partition remembers; the
    gauge shows what the books hold, and exposure is still the ground truth (forgetting an old
    close changes no sum)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bound = 3
    worker = start_worker(RTX_WORKER_MAX_CLOSED=str(bound), RTX_WORKER_METRICS_PORT=str(port))
    evs = position_stream(23, 600, 80)
    await publish_positions(topics, evs)
    await expect_ground_truth(topics, evs, worker)
    # The book's own logic (unit-tested in test_exposure.py) over the same events, partitioned
    # as the SDK does: what the worker process must report.
    model = PositionsStage(max_closed=bound)
    for i, ev in enumerate(evs):
        p = (murmur2(ev["position_id"].encode()) & 0x7FFFFFFF) % topics.input_partitions
        model.apply(p, events.position(**ev, event_time=1_796_000_000_000_000 + i))
    per_book = [book.remembered_closed for book in model.books.values()]
    assert max(per_book) == bound and sum(per_book) > 0
    remembered = sum(per_book)
    want = f"rtx_worker_closed_ids_remembered {float(remembered)}"
    body = ""
    for _ in range(100):  # the gauge is refreshed every 2 s
        body = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
        if want in body:
            break
        await asyncio.sleep(0.2)
    assert want in body, [line for line in body.splitlines() if "closed_ids" in line]


async def test_split_roles_inputs_and_global_processes_compute_the_same_exposure(
    topics: KafkaSettings, start_worker: Any
) -> None:
    """RTX_WORKER_ROLE: one process runs stage 1 only, another the global stage only."""
    workers = [start_worker(RTX_WORKER_ROLE="inputs"), start_worker(RTX_WORKER_ROLE="global")]
    evs = position_stream(44, 800, 150)
    await publish_positions(topics, evs)
    await expect_ground_truth(topics, evs, workers[1])
