"""The escalation policy with an injected clock: escalate a critical alert not acknowledged in
time, remind every M minutes until acknowledged, wake a snooze that ended; stable keys; the
[workflow.escalation] config."""

from __future__ import annotations

from typing import Any

import pytest

from streams.settings import ConfigError
from streams.workflow import EscalationPolicy, Workflow, due, next_due, wake_at
from streams.workflow.config import escalation_policy
from tests.helpers.workflow import MINUTE, T0, action, alert

ID = "20260119-103045-aaaaaa"
POLICY = EscalationPolicy()  # critical, 2 minutes, reminders every 5


def workflow(*actions: dict[str, Any], severity: str = "critical") -> Workflow:
    flow = Workflow()
    flow.add_alert(0, alert(ID, severity=severity), T0)
    for seq, record in enumerate(actions):
        flow.add_action(seq, record)
    return flow


def state(*actions: dict[str, Any], severity: str = "critical") -> Any:
    found = workflow(*actions, severity=severity).state(ID)
    assert found is not None
    return found


def test_a_critical_alert_escalates_two_minutes_after_it_was_logged() -> None:
    s = state()
    assert due(s, POLICY, T0 + 2 * MINUTE - 1) is None
    found = due(s, POLICY, T0 + 2 * MINUTE)
    assert found is not None and (found.kind, found.level, found.at_us) == (
        "escalate",
        1,
        T0 + 2 * MINUTE,
    )
    assert found.key == f"{ID}/escalated/1" and found.action_id == f"escalate:{ID}:1"
    assert due(s, POLICY, T0 + 60 * MINUTE) == found  # the same due however late it is asked


@pytest.mark.parametrize("severity", ["info", "warning", "error"])
def test_other_severities_do_not_escalate_by_default(severity: str) -> None:
    assert due(state(severity=severity), POLICY, T0 + 60 * MINUTE) is None


def test_an_acknowledged_or_resolved_alert_does_not_escalate() -> None:
    assert due(state(action("acknowledge")), POLICY, T0 + 60 * MINUTE) is None
    assert due(state(action("resolve")), POLICY, T0 + 60 * MINUTE) is None


def test_after_an_escalation_it_is_notified_again_every_five_minutes_until_acknowledged() -> None:
    escalated_at = T0 + 2 * MINUTE + 7
    s = state(action("escalate", level=1, at=escalated_at))
    assert due(s, POLICY, escalated_at + 5 * MINUTE - 1) is None
    first = due(s, POLICY, escalated_at + 5 * MINUTE)
    assert first is not None and (first.kind, first.level, first.round) == ("renotify", 1, 1)
    assert first.key == f"{ID}/renotified/1/1"
    late = due(s, POLICY, escalated_at + 17 * MINUTE)  # a notifier that was down: latest round
    assert late is not None and (late.round, late.at_us) == (3, escalated_at + 15 * MINUTE)
    assert wake_at(s, POLICY, escalated_at + 17 * MINUTE) == escalated_at + 20 * MINUTE
    acked = state(action("escalate", level=1, at=escalated_at), action("acknowledge"))
    assert due(acked, POLICY, escalated_at + 60 * MINUTE) is None


def test_a_snooze_holds_escalation_and_its_end_wakes_the_alert() -> None:
    until = T0 + 30 * MINUTE
    s = state(action("snooze", until=until, action_id="s1"))
    assert due(s, POLICY, until - 1) is None
    woken = due(s, POLICY, until)
    assert woken is not None and (woken.kind, woken.refers_to) == ("wake", "s1")
    assert woken.key == f"{ID}/woken/s1" and woken.action_id == "wake:s1"
    after = state(action("snooze", until=until, action_id="s1"), action("wake", refersTo="s1"))
    assert due(after, POLICY, until + 2 * MINUTE - 1) is None
    again = due(after, POLICY, until + 2 * MINUTE)
    assert again is not None and (again.kind, again.level) == ("escalate", 1)


def test_a_snooze_of_an_acknowledged_alert_still_wakes_it() -> None:
    until = T0 + 30 * MINUTE
    s = state(action("acknowledge"), action("snooze", until=until, action_id="s1"))
    woken = due(s, POLICY, until)
    assert woken is not None and woken.kind == "wake"


def test_a_reopened_alert_escalates_again_at_the_next_level() -> None:
    reopened = T0 + 20 * MINUTE
    s = state(
        action("escalate", level=1, at=T0 + 2 * MINUTE),
        action("resolve"),
        action("reopen", at=reopened),
    )
    found = due(s, POLICY, reopened + 2 * MINUTE)
    assert found is not None and (found.kind, found.level) == ("escalate", 2)


def test_next_due_and_wake_at_name_the_time_to_sleep_until() -> None:
    s = state()
    upcoming = next_due(s, POLICY)
    assert upcoming is not None and upcoming.at_us == T0 + 2 * MINUTE
    assert wake_at(s, POLICY, T0) == T0 + 2 * MINUTE
    assert wake_at(s, POLICY, T0 + 3 * MINUTE) is None  # due now: its action changes the state
    assert wake_at(state(action("acknowledge")), POLICY, T0) is None


def test_the_policy_comes_from_the_config_file() -> None:
    doc = {
        "workflow": {"escalation": {"severities": ["error", "critical"], "ack_within_min": 0.5}},
        "rules": {"exposure": {}},  # other components' tables are not ours to check
    }
    policy = escalation_policy(doc)
    assert policy.severities == frozenset({"error", "critical"})
    assert policy.ack_within_us == 30_000_000 and policy.renotify_every_us == 5 * MINUTE
    assert escalation_policy({}) == POLICY


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ({"ack_within_min": 0}, "workflow.escalation.ack_within_min"),
        ({"renotify_every_min": "5"}, "workflow.escalation.renotify_every_min"),
        ({"renotify_every_min": float("nan")}, "workflow.escalation.renotify_every_min"),
        ({"severities": ["fatal"]}, "workflow.escalation.severities"),
        ({"after_min": 3}, "workflow.escalation.after_min"),
    ],
)
def test_a_bad_key_is_named(table: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        escalation_policy({"workflow": {"escalation": table}})
