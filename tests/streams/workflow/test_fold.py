"""The fold: each transition of docs/workflow.md's table, the canonical order against the alert
log, and (property tests) any interleaving and any redelivery of the same events gives the same
states."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.workflow import ActionEntry, LogEntry, Workflow, fold
from tests.helpers.workflow import MINUTE, T0, action, alert

ID = "20260119-103045-aaaaaa"


def state_of(*actions: dict[str, Any], resolved_at: int | None = None) -> Any:
    """The state of alert ID raised at seq 0, with ``actions`` at seqs 0.. and maybe a rule
    resolution at alert seq ``resolved_at``."""
    resolutions = []
    if resolved_at is not None:
        resolutions.append(LogEntry(resolved_at, alert("r1", resolves=ID, at=T0 + 5 * MINUTE)))
    entries = [ActionEntry(i, a) for i, a in enumerate(actions)]
    return fold(LogEntry(0, alert(ID), T0), resolutions, entries)


def test_a_raised_alert_is_open_and_unattended_since_it_was_logged() -> None:
    state = state_of()
    assert state.status == "open"
    assert (state.severity, state.category, state.alert_seq) == ("critical", "exposure", 0)
    assert state.attention_since_us == T0 and state.events == 1
    assert [s.kind for s in state.timeline] == ["raised"]


def test_acknowledge_records_who_and_when_and_a_second_one_does_not_apply() -> None:
    state = state_of(action("acknowledge", user="dana"), action("acknowledge", user="eve"))
    assert state.status == "acknowledged"
    assert (state.acknowledged_by, state.acknowledged_at_us) == ("dana", T0 + MINUTE)
    assert [s.applied for s in state.timeline] == [True, True, False]


def test_assign_comment_and_snooze() -> None:
    until = T0 + 30 * MINUTE
    state = state_of(
        action("assign", assignee="bob", user="dana"),
        action("comment", note="on it"),
        action("comment", note="hedging"),
        action("snooze", until=until),
    )
    assert (state.assignee, state.assigned_by, state.status) == ("bob", "dana", "open")
    assert state.comments == 2 and state.snoozed_until_us == until
    assert [s.note for s in state.timeline if s.kind == "comment"] == ["on it", "hedging"]


def test_resolve_by_hand_ends_a_snooze_and_refuses_later_actions_but_comments() -> None:
    state = state_of(
        action("snooze"),
        action("resolve", note="false alarm", user="rita"),
        action("acknowledge"),
        action("comment", note="for the record"),
    )
    assert (state.status, state.resolution, state.resolved_by) == ("resolved", "hand", "rita")
    assert state.reason == "false alarm" and state.snoozed_until_us is None
    assert [s.applied for s in state.timeline] == [True, True, True, False, True]


def test_reopen_clears_acknowledgement_and_resolution_and_restarts_the_clock() -> None:
    reopen_at = T0 + 9 * MINUTE
    state = state_of(action("acknowledge"), action("resolve"), action("reopen", at=reopen_at))
    assert state.status == "open"
    assert state.acknowledged_by is None and state.resolved_by is None and state.reason is None
    assert state.attention_since_us == reopen_at


def test_reopen_of_an_open_alert_does_not_apply() -> None:
    state = state_of(action("reopen"))
    assert state.status == "open" and state.timeline[-1].applied is False


def test_a_rule_resolution_resolves_by_its_source() -> None:
    state = state_of(resolved_at=5)
    assert (state.status, state.resolution, state.resolved_by) == (
        "resolved",
        "rule",
        "ExposureMonitor",
    )
    assert state.resolved_at_us == T0 + 5 * MINUTE


def test_an_action_sorts_after_the_log_entries_its_writer_had_read() -> None:
    """An acknowledge written having read the log up to seq 3 comes before a resolution at
    seq 5 (applied), one written having read seq 5 comes after it (already resolved)."""
    before = state_of(action("acknowledge", log_seq=3), resolved_at=5)
    assert before.acknowledged_by == "dana" and before.status == "resolved"
    after = state_of(action("acknowledge", log_seq=5), resolved_at=5)
    assert after.acknowledged_by is None
    assert [s.kind for s in after.timeline] == ["raised", "resolved", "acknowledge"]
    assert after.timeline[-1].applied is False


def test_escalations_count_every_level_and_stop_at_acknowledge() -> None:
    state = state_of(
        action("escalate", level=1), action("acknowledge"), action("escalate", level=2)
    )
    assert state.escalations == 2 and state.escalated_at_us == T0 + MINUTE
    assert [s.applied for s in state.timeline] == [True, True, True, False]


def test_wake_ends_only_the_snooze_it_names() -> None:
    until = T0 + 10 * MINUTE
    first = action("snooze", until=until, action_id="s1")
    stale = action("wake", refersTo="s0")
    woken = action("wake", refersTo="s1", at=until + 5)
    assert state_of(first, stale).snoozed_until_us == until
    state = state_of(first, stale, woken)
    assert state.snoozed_until_us is None and state.attention_since_us == until


def test_a_retried_action_written_twice_applies_once() -> None:
    ack = action("acknowledge", action_id="same")
    raised = LogEntry(0, alert(ID), T0)
    once = fold(raised, (), [ActionEntry(4, ack)])
    twice = fold(raised, (), [ActionEntry(9, ack), ActionEntry(4, ack)])
    assert once == twice and twice.events == 2


# -- property tests: order and redelivery never matter ------------------------------------------

ALERTS = ("20260119-103045-aaaaaa", "20260119-103045-bbbbbb", "20260119-103046-cccccc")
DESK = ("acknowledge", "assign", "comment", "snooze", "resolve", "reopen", "escalate", "wake")


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[tuple[str, int, dict[str, Any]]], int]:
    """Events of a few alerts: ("alert", seq, record) and ("action", seq, record), with retried
    actions (the same actionId at two seqs); and the highest alert seq."""
    events: list[tuple[str, int, dict[str, Any]]] = []
    seq = 0
    for alert_id in ALERTS[: draw(st.integers(1, len(ALERTS)))]:
        events.append(("alert", seq, alert(alert_id, at=T0 + seq)))
        seq += 1
    for _ in range(draw(st.integers(0, 2))):
        target = draw(st.sampled_from(ALERTS))
        events.append(("alert", seq, alert(f"r{seq}", resolves=target, at=T0 + seq)))
        seq += 1
    count = draw(st.integers(0, 14))
    action_seqs = draw(st.lists(st.integers(0, 60), min_size=count, max_size=count, unique=True))
    for n, action_seq in enumerate(action_seqs):
        kind = draw(st.sampled_from(DESK))
        extra = {"refersTo": f"x{draw(st.integers(0, count))}"} if kind == "wake" else {}
        if kind == "escalate":
            extra["level"] = draw(st.integers(1, 3))
        record = action(
            kind,
            draw(st.sampled_from(ALERTS)),
            action_id=f"x{draw(st.integers(0, n))}",  # some ids repeat: retries
            log_seq=draw(st.integers(-1, seq)),
            at=T0 + draw(st.integers(0, 60)) * MINUTE,
            user=draw(st.sampled_from(("dana", "eve"))),
            **extra,
        )
        events.append(("action", action_seq, record))
    return events, seq - 1


def _feed(workflow: Workflow, events: list[tuple[str, int, dict[str, Any]]]) -> None:
    for kind, seq, record in events:
        if kind == "alert":
            workflow.add_alert(seq, record, T0 + seq)
        else:
            workflow.add_action(seq, record)


def _reference(events: list[tuple[str, int, dict[str, Any]]]) -> dict[str, Any]:
    """The fold of each alert's events, taken straight from the set."""
    out = {}
    for alert_id in ALERTS:
        raised = [
            LogEntry(s, r, T0 + s) for k, s, r in events if k == "alert" and r["id"] == alert_id
        ]
        if not raised:
            continue
        resolutions = [
            LogEntry(s, r, T0 + s)
            for k, s, r in events
            if k == "alert" and r.get("resolvesId") == alert_id
        ]
        actions = [ActionEntry(s, r) for k, s, r in events if k == "action"]
        mine = _first_by_id(actions, alert_id)
        out[alert_id] = fold(raised[0], resolutions, mine)
    return out


def _first_by_id(actions: list[ActionEntry], alert_id: str) -> list[ActionEntry]:
    """Each actionId belongs to the alert of its lowest seq (where the Workflow files it)."""
    lowest: dict[str, ActionEntry] = {}
    for entry in sorted(actions, key=lambda e: e.seq):
        lowest.setdefault(entry.action_id, entry)
    return [e for e in lowest.values() if e.record["alertId"] == alert_id]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), history=histories())
def test_any_interleaving_and_redelivery_gives_the_same_states(
    data: st.DataObject, history: tuple[list[tuple[str, int, dict[str, Any]]], int]
) -> None:
    events, _ = history
    redelivered = events + data.draw(
        st.lists(st.sampled_from(events), max_size=8) if events else st.just([])
    )
    shuffled = data.draw(st.permutations(redelivered), label="arrival order")
    workflow = Workflow()
    _feed(workflow, shuffled)
    expected = _reference(events)
    assert {s.alert_id: s for s in workflow.states()} == expected


@settings(max_examples=100, deadline=None)
@given(data=st.data(), history=histories())
def test_two_readers_in_different_orders_agree_and_report_each_change(
    data: st.DataObject, history: tuple[list[tuple[str, int, dict[str, Any]]], int]
) -> None:
    """Two readers (a bridge and the notifier) reading the two topics at different paces end
    with the same states, and report a change exactly when their state changed."""
    events, _ = history
    first, second = Workflow(), Workflow()
    for reader, order in ((first, events), (second, data.draw(st.permutations(events)))):
        seen: dict[str, Any] = {}
        for kind, seq, record in order:
            if kind == "alert":
                changed = reader.add_alert(seq, record, T0 + seq)
            else:
                changed = reader.add_action(seq, record)
            now = {s.alert_id: s for s in reader.states()}
            assert set(changed) == {a for a in now if now[a] != seen.get(a)}
            seen = now
    assert {s.alert_id: s for s in first.states()} == {s.alert_id: s for s in second.states()}
