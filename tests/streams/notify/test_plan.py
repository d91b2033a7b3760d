"""The notifier's planner (pure, injected time): which transitions become notifications for
which webhooks, the idempotency key per alert transition, the ledger and age cut-offs, the
escalation and wake actions it asks to write, the reminders; and the [notify] config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streams.notify.config import NotifyConfig, Webhook, notify_config
from streams.notify.plan import Planner
from streams.settings import ConfigError
from streams.workflow import EscalationPolicy
from tests.helpers.workflow import MINUTE, T0, action, alert

ID = "20260119-103045-aaaaaa"
HOOK = Webhook("desk", "http://127.0.0.1:9/h")
ALL = Webhook(
    "audit",
    "http://127.0.0.1:9/a",
    events=frozenset({"raised", "acknowledged", "resolved", "escalated", "woken", "reopened"}),
)


def planner(*hooks: Webhook) -> Planner:
    return Planner(NotifyConfig(webhooks=hooks or (HOOK,)), EscalationPolicy())


def keys(notes: list[Any]) -> list[str]:
    return [n.ledger_key for n in notes]


def test_a_raised_alert_is_notified_once_per_webhook_with_its_key_and_body() -> None:
    p = planner(HOOK, ALL)
    notes = p.on_alert(0, alert(ID), T0, T0)
    assert keys(notes) == [f"desk|{ID}/raised", f"audit|{ID}/raised"]
    body = json.loads(notes[0].body)
    assert body["type"] == "alert.raised" and body["idempotencyKey"] == f"{ID}/raised"
    assert body["alert"]["status"] == "open" and body["alert"]["severity"] == "critical"
    assert p.on_alert(0, alert(ID), T0, T0) == []  # a redelivery


def test_webhooks_filter_by_severity_category_and_event() -> None:
    only_lp = Webhook("lp", "http://127.0.0.1:9/l", categories=frozenset({"lp"}))
    only_warn = Webhook("w", "http://127.0.0.1:9/w", severities=frozenset({"warning"}))
    p = planner(only_lp, only_warn, HOOK)
    assert keys(p.on_alert(0, alert(ID), T0, T0)) == [f"desk|{ID}/raised"]
    assert p.on_action(0, action("acknowledge", ID), T0) == []  # not among desk's events


def test_applied_actions_and_rule_resolutions_are_transitions_with_stable_keys() -> None:
    p = planner(ALL)
    p.on_alert(0, alert(ID), T0, T0)
    ack = action("acknowledge", ID, action_id="k1")
    assert keys(p.on_action(0, ack, T0)) == [f"audit|{ID}/acknowledged/k1"]
    assert p.on_action(1, action("acknowledge", ID, action_id="k2"), T0) == []  # not applied
    resolution = alert("r1", resolves=ID)
    assert keys(p.on_alert(1, resolution, T0, T0)) == [f"audit|{ID}/resolved/r1"]


def test_keys_in_the_ledger_and_old_transitions_are_not_notified() -> None:
    p = planner()
    p.mark(f"desk|{ID}/raised")
    assert p.on_alert(0, alert(ID), T0, T0) == []
    late = planner()
    assert late.on_alert(0, alert(ID), T0, T0 + 61 * MINUTE) == []
    assert late.skipped_old == 1


def test_an_unacknowledged_critical_alert_is_escalated_once_then_reminded() -> None:
    p = planner()
    p.on_alert(0, alert(ID), T0, T0)
    assert p.due(T0 + 2 * MINUTE - 1) == ([], [])
    writes, notes = p.due(T0 + 2 * MINUTE)
    assert notes == [] and [w["actionId"] for w in writes] == [f"escalate:{ID}:1"]
    (write,) = writes
    assert (write["action"], write["user"], write["level"], write["logSeq"]) == (
        "escalate",
        "system",
        1,
        0,
    )
    assert p.due(T0 + 3 * MINUTE) == ([], [])  # in flight: not asked for again
    escalated = p.on_action(0, write, T0 + 2 * MINUTE)
    assert keys(escalated) == [f"desk|{ID}/escalated/1"]
    assert json.loads(escalated[0].body)["transition"]["level"] == 1
    writes, reminders = p.due(T0 + 2 * MINUTE + 5 * MINUTE)
    assert writes == [] and keys(reminders) == [f"desk|{ID}/renotified/1/1"]
    assert p.due(T0 + 8 * MINUTE) == ([], [])  # the same round is not sent twice
    assert p.wake_at(T0 + 8 * MINUTE) == T0 + 12 * MINUTE


def test_a_failed_escalation_write_is_asked_for_again() -> None:
    p = planner()
    p.on_alert(0, alert(ID), T0, T0)
    (write,), _ = p.due(T0 + 2 * MINUTE)
    p.write_failed(write["actionId"])
    (again,), _ = p.due(T0 + 2 * MINUTE + 1)
    assert again["actionId"] == write["actionId"]


def test_an_acknowledgement_read_before_the_escalation_stops_it() -> None:
    p = planner()
    p.on_alert(0, alert(ID), T0, T0)
    p.on_action(0, action("acknowledge", ID), T0 + MINUTE)
    assert p.due(T0 + 60 * MINUTE) == ([], [])
    assert p.wake_at(T0) is None


def test_a_snooze_that_ends_is_woken_by_a_wake_action_and_notified() -> None:
    p = planner()
    p.on_alert(0, alert(ID, severity="warning"), T0, T0)
    until = T0 + 10 * MINUTE
    p.on_action(0, action("snooze", ID, until=until, action_id="s1"), T0 + MINUTE)
    (write,), _ = p.due(until)
    assert (write["action"], write["refersTo"], write["actionId"]) == ("wake", "s1", "wake:s1")
    assert keys(p.on_action(1, write, until)) == [f"desk|{ID}/woken/s1"]


def test_the_config_reads_webhooks_and_names_a_bad_key() -> None:
    doc = {
        "notify": {
            "max_attempts": 3,
            "webhooks": [
                {"name": "desk", "url": "https://hooks.example.com/T0/secret", "format": "slack"},
                {"name": "audit", "url": "http://127.0.0.1:8080/h", "events": ["resolved"]},
            ],
        }
    }
    config = notify_config(doc)
    assert config.max_attempts == 3 and [h.name for h in config.webhooks] == ["desk", "audit"]
    assert config.webhooks[0].format == "slack" and config.webhooks[1].events == {"resolved"}
    assert config.webhooks[0].where == "https://hooks.example.com/..."
    assert notify_config({}) == NotifyConfig()
    bad = [
        ({"notify": {"retries": 3}}, "notify.retries"),
        ({"notify": {"webhooks": [{"name": "a", "url": "ftp://x"}]}}, "notify.webhooks[0].url"),
        ({"notify": {"webhooks": [{"name": "a", "url": "http://x", "format": "xml"}]}}, "format"),
        ({"notify": {"webhooks": [{"name": "a", "url": "http://x", "events": ["x"]}]}}, "events"),
        ({"notify": {"backoff_max_s": 0.1}}, "notify.backoff_max_s"),
    ]
    for doc_bad, named in bad:
        with pytest.raises(ConfigError, match=named.replace(".", r"\.").replace("[", r"\[")):
            notify_config(doc_bad)


def test_a_slack_body_is_one_line_of_text() -> None:
    slack = Webhook("s", "http://127.0.0.1:9/s", format="slack")
    p = planner(slack)
    (note,) = p.on_alert(0, alert(ID), T0, T0)
    text = json.loads(note.body)["text"]
    assert list(json.loads(note.body)) == ["text"]
    assert text.startswith("*CRITICAL* Alert " + ID) and "raised" in text


def test_the_example_config_file_gives_the_defaults() -> None:
    """infra/rtx.example.toml documents every [notify] and [workflow.escalation] key."""
    from streams.worker.pipeline.config import load_document
    from streams.workflow.config import escalation_policy

    doc = load_document(str(Path(__file__).resolve().parents[3] / "infra" / "rtx.example.toml"))
    assert notify_config(doc) == NotifyConfig()
    assert escalation_policy(doc) == EscalationPolicy()
