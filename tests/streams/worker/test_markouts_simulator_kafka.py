"""The simulator's labelled traders through Kafka, ``rtx-analytics markouts`` and the worker:
every informed account (known toxic from the start, or turning informed during the run) gets a
"Toxic Flow" alert in the alert log and A-book advice, no noise account does, and the worker
dead-letters nothing (every event the simulator sends, accountId and price included, is valid).

The simulator's events are published with simulated event times (``streams.simulator.timed``),
so the run is the same however fast the broker takes them; the markouts process runs with short
horizons (1 s and 5 s) so that a few simulated minutes suffice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streams.sdk import Publisher
from streams.settings import KafkaSettings
from streams.simulator.generator import Simulator
from streams.simulator.model import SimConfig
from streams.simulator.timed import timed_events
from streams.simulator.traders import INFORMED
from tests.helpers.faults import read_topic
from tests.helpers.markouts_kafka import MarkoutsProcess, decoded, recent, wait_for
from tests.helpers.worker import WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(900)]

EVENTS = 120_000  # 600 simulated seconds at 200 events/s
# 40 accounts, 3 of them informed (one from the start, two turning informed at 30-120 s): a
# density of informed flow the rule separates cleanly within 10 simulated minutes
# (bench/markouts_accuracy.py measures the default population).
CONFIG = SimConfig(
    seed=9,
    accounts=40,
    hidden_informed=0.1,
    informed_after_s=30,
    informed_before_s=120,
    run_id="e2e",
)
MARKOUTS_TOML = """
[markouts]
horizons_ms = [1000, 5000]
score_horizon_ms = 5000
max_wait_s = 10
"""


async def publish_simulation(settings: KafkaSettings) -> tuple[Simulator, int]:
    """The simulator's events through the SDK, stamped with simulated time from an hour ago
    (within the topics' retention); the decisions sent."""
    sim = Simulator(CONFIG)
    decisions = 0
    async with Publisher(settings) as pub:
        for method, _, kwargs, _ in timed_events(sim, EVENTS, recent()):
            await getattr(pub, method)(**kwargs)
            decisions += method == "routing_decision"
        await pub.flush()
    return sim, decisions


def toxic_accounts(alerts: list[dict[str, Any]]) -> set[str]:
    return {
        a["title"].rsplit(": ", 1)[1]
        for a in alerts
        if a["source"] == "FlowMonitor"
        and a["state"] == "RAISED"
        and a["ruleId"] == "markouts.toxic_flow.toxic"
    }


async def test_the_simulators_informed_accounts_are_found_and_advised_to_the_a_book(
    topics: KafkaSettings, tmp_path: Path
) -> None:
    config = tmp_path / "rtx.toml"
    config.write_text(MARKOUTS_TOML)
    sim, decisions = await publish_simulation(topics)
    informed = {a for a, lb in sim.labels.items() if lb.kind == INFORMED}
    assert len(informed) >= 2 and any(lb.informed_from_s for lb in sim.labels.values())
    markouts = MarkoutsProcess(topics, tmp_path, "mk-sim", RTX_CONFIG_FILE=str(config)).start()
    worker = WorkerProcess(topics, tmp_path, "mk-sim-worker")
    worker.start()
    try:
        await wait_for(
            topics, "alerts", lambda rs: toxic_accounts(rs) >= informed, "toxic alerts", markouts
        )

        def advised(rs: list[dict[str, Any]]) -> bool:
            latest = {r["accountId"]: r["recommendedBook"] for r in rs}
            return all(latest.get(a) == "ABOOK" for a in informed)

        await wait_for(topics, "routing_advice", advised, "A-book advice", markouts)
        # The worker passes every decision through: once all are there, it has read them all.
        await wait_for(
            topics, "routing_metrics", lambda rs: len(rs) >= decisions, "pass-through", markouts
        )
    finally:
        code = markouts.stop()
        worker.kill()
    assert code == 0, markouts.log()
    # Everything written by the end (the process stopped cleanly): no noise account alerted or
    # advised to the A-book, and the latest advice of every informed account is the A-book.
    assert toxic_accounts(decoded(await read_topic(topics, "alerts"))) == informed
    latest = {r["accountId"]: r for r in decoded(await read_topic(topics, "routing_advice"))}
    assert {a for a, r in latest.items() if r["recommendedBook"] == "ABOOK"} == informed
    assert decoded(await read_topic(topics, "dead_letter")) == []
