"""An alert's state as JSON data (the bridge's alert-state message, the notifier's bodies)."""

from __future__ import annotations

from streams.workflow import Workflow
from streams.workflow.wire import state_data
from tests.helpers.workflow import MINUTE, T0, action, alert

ID = "20260119-103045-aaaaaa"


def test_state_data_has_camel_case_keys_formatted_times_and_the_timeline() -> None:
    flow = Workflow()
    flow.add_alert(7, alert(ID), T0)
    flow.add_action(0, action("assign", ID, assignee="bob", log_seq=7))
    flow.add_action(1, action("snooze", ID, until=T0 + 9 * MINUTE, log_seq=7, note="lunch"))
    state = flow.state(ID)
    assert state is not None
    data = state_data(state, lambda us: f"t{us - T0}")
    assert data["id"] == ID and data["alertSeq"] == 7 and data["status"] == "open"
    assert (data["assignee"], data["assignedBy"]) == ("bob", "dana")
    assert data["snoozedUntil"] == f"t{9 * MINUTE}" and data["acknowledgedAt"] is None
    assert data["lastActionSeq"] == 1 and data["events"] == 3
    kinds = [(s["kind"], s.get("assignee"), s.get("note")) for s in data["timeline"]]
    assert kinds == [("raised", None, None), ("assign", "bob", None), ("snooze", None, "lunch")]
    assert data["timeline"][2]["until"] == f"t{9 * MINUTE}"
    assert "timeline" not in state_data(state, str, timeline=False)


def test_touched_since_lists_the_alerts_actions_changed_after_a_seq_in_action_order() -> None:
    """A reader that saw every action up to seq N resyncs with the states of these alerts."""
    flow = Workflow()
    for n, alert_id in enumerate(("a", "b", "c")):
        flow.add_alert(n, alert(alert_id), T0)
    flow.add_action(0, action("comment", "a", log_seq=2))
    flow.add_action(1, action("comment", "b", log_seq=2))
    flow.add_action(2, action("acknowledge", "a", log_seq=2))
    flow.add_action(3, action("acknowledge", "a", log_seq=2))  # not applied: still a change seen
    assert flow.touched_since(-1) == ["b", "a"]
    assert flow.touched_since(1) == ["a"] and flow.touched_since(3) == []
    state = flow.state("a")
    assert state is not None and (state.action_seq, state.last_action_seq) == (3, 2)
