"""The alert workflow under ``kill -9``: the bridge the dealers act on, the worker and the
notifier are each killed during a burst of actions and started again.

Real pieces: the broker, ``rtx-analytics worker``, two ``rtx-analytics bridge`` processes,
``rtx-analytics notify`` (escalating after 3 s, so escalations happen during the burst) and a
webhook on 127.0.0.1; dealers and dashboards are the Python client. Afterwards, from the topics:

- no action lost: every action a dealer saw confirmed is on ``alert.actions``, and nothing else
  from the desk is;
- none applied twice: each alert's comment count in the fold equals the distinct comments
  confirmed for it (a retry after the kill was answered, not applied again);
- every dashboard, on either bridge, converges to the state the topics fold to;
- each notification is delivered once per idempotency key (a key sent twice could only come
  from the notifier dying between the webhook's answer and its ledger write, and then carries
  the same body) and every transition that must be notified was.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from streams.settings import KafkaSettings
from tests.helpers.bridge_server import until
from tests.helpers.faults import BridgeProcess, log
from tests.helpers.webhook import receiver
from tests.helpers.worker import WorkerProcess
from tests.helpers.workflow_kill import (
    Dashboard,
    Dealer,
    NotifierProcess,
    expected_view,
    folded,
    kill_9,
    raise_service_alerts,
    restart_bridge,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(300)]

EVENTS = '["raised", "escalated", "acknowledged", "commented", "renotified"]'


def config(url: str) -> str:
    return f"""
[workflow.escalation]
ack_within_min = 0.05
renotify_every_min = 0.1

[notify]
backoff_initial_s = 0.1
backoff_max_s = 1.0

[[notify.webhooks]]
name = "desk"
url = "{url}"
events = {EVENTS}
"""


def expected_keys(flow: Any, actions: list[dict[str, Any]]) -> set[str]:
    """The notifications the fold says must have been sent (reminders aside: time decides)."""
    keys = {f"{s.alert_id}/raised" for s in flow.states()}
    first: dict[str, dict[str, Any]] = {}
    for a in actions:
        first.setdefault(a["actionId"], a)
    events = {"acknowledge": "acknowledged", "comment": "commented"}
    for a in first.values():
        state = flow.state(a["alertId"])
        if state is None or not any(s.seq == a["_seq"] and s.applied for s in state.timeline):
            continue
        if a["action"] == "escalate":
            keys.add(f"{a['alertId']}/escalated/{a['level']}")
        elif a["action"] in events:
            keys.add(f"{a['alertId']}/{events[a['action']]}/{a['actionId']}")
    return keys


async def test_kill_9_of_bridge_worker_and_notifier_during_a_burst_of_actions(
    topics: KafkaSettings, tmp_path: Path
) -> None:
    with receiver() as hook:
        worker = WorkerProcess(topics, tmp_path, "rtx-workflow-kill")
        notifier = NotifierProcess(topics, tmp_path, config(hook.url))
        (tmp_path / "b").mkdir()
        acted_on, other = BridgeProcess(topics, tmp_path), BridgeProcess(topics, tmp_path / "b")
        try:
            await run(topics, hook, worker, notifier, acted_on, other)
        finally:
            for proc in (worker.proc, notifier.proc, acted_on.proc, other.proc):
                kill_9(proc)


async def run(
    topics: KafkaSettings,
    hook: Any,
    worker: WorkerProcess,
    notifier: NotifierProcess,
    acted_on: BridgeProcess,
    other: BridgeProcess,
) -> None:
    worker.start()
    await raise_service_alerts(topics, 8, "before")
    url_a, url_b = await acted_on.start(), await other.start()
    base_a, base_b = url_a.split("?")[0], url_b.split("?")[0]
    notifier.start()
    dashboards = [Dashboard(base_a, "dash-a1"), Dashboard(base_a, "dash-a2")]
    dashboards += [Dashboard(base_b, "dash-b1"), Dashboard(base_b, "dash-b2")]
    dealers = [Dealer(base_a, f"dealer-{n}", seed=n) for n in range(3)]
    for c in [*dashboards, *dealers]:
        await c.client.connect()
    await until(lambda: all(len(d.alerts) >= 8 for d in dashboards), wait_s=90)
    alert_ids = sorted(dashboards[0].alerts)
    burst = asyncio.gather(*(d.burst(alert_ids, 40) for d in dealers))
    await until(lambda: sum(d.done for d in dealers) >= 30, wait_s=60)
    log("fault: kill -9 of the bridge the dealers act on, the worker and the notifier")
    for proc in (acted_on.proc, worker.proc, notifier.proc):
        kill_9(proc)
    await raise_service_alerts(topics, 3, "during")  # the worker catches up after its restart
    worker.start()
    notifier.start()
    await restart_bridge(acted_on)
    await burst
    refused = sum((d.refused for d in dealers), Counter())
    log(f"burst done: {sum(len(d.confirmed) for d in dealers)} confirmed, refused {refused}")
    await until(lambda: all(len(d.alerts) >= 11 for d in dashboards), wait_s=120)
    for alert_id in sorted(dashboards[0].alerts):  # stop the escalations: everything acknowledged
        await dealers[0].act(alert_id, "acknowledge")
    await converge(topics, hook, dashboards, dealers)
    for c in [*dashboards, *dealers]:
        await c.client.close()


async def converge(
    topics: KafkaSettings, hook: Any, dashboards: list[Dashboard], dealers: list[Dealer]
) -> None:
    confirmed = {k: v for d in dealers for k, v in d.confirmed.items()}
    for _ in range(120):  # the topics are re-read until every reader caught up (or 2 minutes)
        flow, actions = await folded(topics)
        ids = [s.alert_id for s in flow.states()]
        views = {i: expected_view(flow, i) for i in ids}
        keys = expected_keys(flow, actions)
        caught_up = all(d.view(i) == views[i] for d in dashboards for i in ids)
        if caught_up and keys <= set(hook.keys):
            break
        await asyncio.sleep(1.0)
    desk = {a["actionId"] for a in actions if a["user"] != "system"}
    assert set(confirmed) <= desk, "an action confirmed to a dealer is missing from the topic"
    assert desk <= set(confirmed), "an action nobody saw confirmed is on the topic"
    comments: dict[str, set[str]] = defaultdict(set)
    for action_id, data in confirmed.items():
        if data["action"] == "comment":
            comments[data["alertId"]].add(action_id)
    for state in flow.states():
        assert state.comments == len(comments[state.alert_id]), f"{state.alert_id}: comments"
    for d in dashboards:
        for alert_id in ids:
            assert d.view(alert_id) == views[alert_id], f"{d.client.url}: {alert_id} differs"
    assert keys <= set(hook.keys), f"not notified: {sorted(keys - set(hook.keys))[:5]}"
    bodies: dict[str, set[str]] = defaultdict(set)
    for key, body in hook.requests:
        bodies[key].add(json.dumps({k: v for k, v in body.items() if k != "_status"}))
    twice = [k for k, n in hook.keys.items() if n > 1]
    log(f"notifications: {len(hook.keys)} keys, {len(twice)} sent twice (crash window)")
    assert all(len(bodies[k]) == 1 for k in twice), "a repeated key with another body"
    assert len(twice) <= 4, f"keys sent twice: {twice}"
