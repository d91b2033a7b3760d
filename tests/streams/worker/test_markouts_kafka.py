"""``rtx-analytics markouts`` against a real broker, on the labelled scenario of
``tests/helpers/markouts.py`` published with its own event ids and times:

- the trade markouts topic holds exactly the reference run's markouts (each trade once), the
  informed accounts get "Toxic Flow" alerts and A-book advice, the last-look LP is suspected;
- ``kill -9`` mid-stream, then a restart: still each trade once, equal to the reference, and
  no alert twice.
"""

from __future__ import annotations

import re
import signal
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from streams.settings import KafkaSettings
from tests.helpers.markouts import Params, Run, Scenario, run, scenario
from tests.helpers.markouts_kafka import MarkoutsProcess, as_published, publish, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(900)]

PARAMS = Params(minutes=12)
CROSSES = ("EURGBP",)  # USD via the GBP rate: the reference fixes it, the process has its mids


@cache
def reference() -> tuple[Scenario, list[Any], Run]:
    sc = scenario(PARAMS)
    events = as_published(sc.events)  # moved to the last hour: within the topics' retention
    return sc, events, run(events)


def comparable(markout: dict[str, Any]) -> dict[str, Any]:
    """A markout without the USD of a cross (the process converts with the quotes' rates)."""
    if markout["symbol"] in CROSSES:
        return {**markout, "markoutUsd": None}
    return markout


def check_markouts(records: list[dict[str, Any]], ref: Run) -> None:
    counts = Counter(r["tradeId"] for r in records)
    assert [t for t, n in counts.items() if n > 1] == [], "a trade marked out twice"
    got = {r["tradeId"]: comparable(r) for r in records}
    want = {m["tradeId"]: comparable(dict(m)) for m in ref.markouts}
    assert got.keys() == want.keys()
    assert [t for t in want if got[t] != want[t]] == []
    # The cross's USD: GBP at the newest GBPUSD mid the process had read when the trade settled.
    # Catching up on a backlog, no stage goes more than 5 s past the slowest quotes partition
    # still catching up, so every cross settles with GBPUSD read (whatever the fetches' order).
    crosses = [r for r in records if r["symbol"] in CROSSES and r["status"][1] == "KNOWN"]
    converted = [r for r in crosses if r["markoutUsd"][1] is not None]
    assert len(converted) == len(crosses) > 0
    for r in converted:
        if r["markout"][1]:
            assert 1.2 < r["markoutUsd"][1] / (r["markout"][1] * r["volume"]) < 1.35


def raised_accounts(alerts: list[dict[str, Any]]) -> set[str]:
    return {
        a["title"].rsplit(": ", 1)[1]
        for a in alerts
        if a["source"] == "FlowMonitor" and a["state"] == "RAISED"
    }


def latest(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        out[r[key]] = r
    return out


async def test_the_scenario_through_kafka_equals_the_reference_and_finds_the_informed(
    topics: KafkaSettings, tmp_path: Path
) -> None:
    sc, events, ref = reference()
    await publish(topics, events)
    proc = MarkoutsProcess(topics, tmp_path, "mk-e2e").start()
    try:
        records = await wait_for(
            topics, "trade_markouts", lambda rs: len(rs) >= len(ref.markouts), "markouts", proc
        )

        def advised(rs: list[dict[str, Any]]) -> bool:
            abook = {
                a for a, r in latest(rs, "accountId").items() if r["recommendedBook"] == "ABOOK"
            }
            return abook == sc.informed

        await wait_for(topics, "routing_advice", advised, "A-book advice", proc)
        alerts = await wait_for(
            topics, "alerts", lambda rs: raised_accounts(rs) >= sc.informed, "alerts", proc
        )
        lps = await wait_for(
            topics,
            "lp_markouts",
            lambda rs: any(r["lastLookSuspected"] for r in rs),
            "a suspected LP",
            proc,
        )
    finally:
        code = proc.stop(signal.SIGTERM)
    assert code == 0, proc.log()
    check_markouts(records, ref)
    assert raised_accounts(alerts) == sc.informed
    suspected = {lp for lp, r in latest(lps, "lpName").items() if r["lastLookSuspected"]}
    assert suspected == sc.last_look_lps
    toxicity = latest(
        await wait_for(topics, "account_toxicity", bool, "accounts", proc), "accountId"
    )
    assert set(toxicity) == sc.informed | sc.noise
    assert {a for a, r in toxicity.items() if r["level"] == "toxic"} == sc.informed
    assert "stopping (snapshots first)" in proc.log() and "markouts stopped" in proc.log()


@pytest.mark.parametrize("snapshot_s", ["1", "600"], ids=["snapshots-every-1s", "first-only"])
async def test_kill_9_mid_stream_still_marks_each_trade_out_once(
    topics: KafkaSettings, tmp_path: Path, snapshot_s: str
) -> None:
    """Half the scenario, ``kill -9`` once a third of its trades are out, the other half, a
    restart. With snapshots every second the restart continues from a recent one; with only
    the first (taken before any output) it settles every trade again and must write none of
    the written ones twice, nor any alert."""
    sc, events, ref = reference()
    half = len(events) // 2
    env = {"RTX_MARKOUTS_STATE_SNAPSHOT_S": snapshot_s}
    await publish(topics, events[:half])
    first = MarkoutsProcess(topics, tmp_path, "mk-kill", **env).start()
    await wait_for(
        topics, "trade_markouts", lambda rs: len(rs) >= len(ref.markouts) // 3, "markouts", first
    )
    first.stop(signal.SIGKILL)
    await publish(topics, events[half:])
    second = MarkoutsProcess(topics, tmp_path, "mk-kill", **env).start()
    try:
        await second.logged("markout boards started")
        log = await second.logged("from snapshots)")
        await wait_for(
            topics, "trade_markouts", lambda rs: len(rs) >= len(ref.markouts), "all", second
        )
        await wait_for(
            topics, "alerts", lambda rs: raised_accounts(rs) >= sc.informed, "alerts", second
        )
    finally:
        code = second.stop(signal.SIGTERM)  # what it would still write is written now
    assert code == 0, second.log()
    records = await wait_for(topics, "trade_markouts", bool, "markouts", second)
    check_markouts(records, ref)
    alerts = await wait_for(topics, "alerts", bool, "alerts", second)
    assert [i for i, n in Counter(a["id"] for a in alerts).items() if n > 1] == []
    assert raised_accounts(alerts) == sc.informed
    restored = re.search(r"restored \((\d) from snapshots\), (\d+) trade ids written", log)
    assert restored is not None and restored.group(1) == "3", log
    if snapshot_s == "600":  # every trade the first process wrote is known as written
        assert int(restored.group(2)) >= len(ref.markouts) // 3
