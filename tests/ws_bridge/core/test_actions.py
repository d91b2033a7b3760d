"""Alert actions in the bridge's core: the frames and their size limit, the roles (defaults and
RTX_BRIDGE_ACTION_ROLES), an error frame for every refusal, the confirmation with the action's
seq, idempotent retries, and alert-state in the snapshot, in resume and in replay."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.settings import ConfigError
from streams.workflow import DESK_ACTIONS
from tests.helpers.bridge import T0, drain, identity, session
from tests.helpers.bridge_actions import EPOCH, act, desk_context
from ws_bridge.core.access import ChannelPolicy
from ws_bridge.core.actions import MAX_ACTION_FRAME_BYTES, Act, ActionPolicy, parse_action_roles
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.errors import ProtocolError, TooLarge
from ws_bridge.core.protocol import MAX_FRAME_BYTES, parse_client_frame
from ws_bridge.core.session import CLOSE_TOO_LARGE

UNTIL = "2026-01-19T11:00:00Z"


def answers(sess: Any, now: float = T0) -> list[dict[str, Any]]:
    return [m for m in drain(sess, now) if m["type"] in ("confirmed", "error")]


# -- frames -------------------------------------------------------------------------------------


def test_each_action_frame_parses_with_its_fields() -> None:
    frame = act("snooze", "x-1", seq=4, epoch="e", until=UNTIL, note="lunch", actionId="k1")
    parsed = parse_client_frame(frame)
    assert parsed == Act("snooze", "x-1", 4, "e", "lunch", None, UNTIL, "k1", "a1")
    assert parse_client_frame(act("assign", "x-1", assignee="bob")) == Act(
        "assign", "x-1", assignee="bob", request_id="a1"
    )


@pytest.mark.parametrize(
    ("frame", "named"),
    [
        (act("acknowledge", ""), "alertId"),
        ('{"action":"acknowledge"}', "alertId"),
        (act("assign", "x"), "assignee"),
        (act("comment", "x"), "note"),
        (act("comment", "x", note="  "), "note"),
        (act("resolve", "x"), "note"),
        (act("snooze", "x"), "until"),
        (act("snooze", "x", until="tomorrow"), "until"),
        (act("acknowledge", "x", seq=-1), "seq"),
        (act("acknowledge", "x", actionId="has space"), "actionId"),
        (act("comment", "x", note="n" * 501), "note"),
    ],
)
def test_a_bad_action_frame_is_a_bad_field_naming_it(frame: str, named: str) -> None:
    parsed = parse_client_frame(frame)
    assert isinstance(parsed, ProtocolError) and parsed.code == "bad-field"
    assert named in parsed.message


def test_only_action_frames_may_exceed_512_bytes_up_to_4096() -> None:
    long_note = "é" * 500  # 1000 bytes of UTF-8; \\u-escaped it is 3000
    escaped = act("comment", "x", note=long_note).replace("é", "\\u00e9")
    assert MAX_FRAME_BYTES < len(escaped.encode()) <= MAX_ACTION_FRAME_BYTES
    assert isinstance(parse_client_frame(escaped), Act)
    padded = json.dumps({"action": "subscribe", "channels": ["alerts"], "pad": "x" * 600})
    assert isinstance(parse_client_frame(padded), TooLarge)
    too_long = json.dumps({"action": "comment", "alertId": "x", "note": "n", "pad": "x" * 4096})
    assert isinstance(parse_client_frame(too_long), TooLarge)


def test_an_action_frame_over_its_limit_closes_with_1009() -> None:
    d = desk_context()
    sess = session(d.ctx)
    close = sess.receive(act("comment", "x", note="n", pad="x" * 5000), T0)
    assert close is not None and close.code == CLOSE_TOO_LARGE


def test_unknown_action_lists_the_alert_actions() -> None:
    parsed = parse_client_frame('{"action":"ack"}')
    assert isinstance(parsed, ProtocolError) and parsed.code == "unknown-action"
    assert all(a in parsed.message for a in DESK_ACTIONS)


# -- roles ---------------------------------------------------------------------------------------


def test_by_default_dealer_risk_and_admin_act_and_a_viewer_only_reads() -> None:
    policy = ActionPolicy()
    for role in ("dealer", "risk", "admin"):
        assert policy.allowed_actions([role]) == DESK_ACTIONS
    assert policy.allowed_actions(["viewer"]) == ()
    assert policy.allowed_actions([]) == ()


def test_roles_are_configurable_per_action() -> None:
    raw = "resolve=risk|admin; reopen=admin; comment=*"
    s = BridgeSettings.from_env({"RTX_BRIDGE_DEV_MODE": "1", "RTX_BRIDGE_ACTION_ROLES": raw})
    policy = ActionPolicy(dict(s.action_roles))
    assert policy.allows(["dealer"], "acknowledge") and not policy.allows(["dealer"], "resolve")
    assert policy.allows(["viewer"], "comment") and not policy.allows(["risk"], "reopen")
    assert s.describe()["action_roles"]["reopen"] == ["admin"]


@pytest.mark.parametrize("raw", ["ack=dealer", "resolve", "resolve=", "resolve=|"])
def test_a_bad_action_roles_setting_names_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="RTX_BRIDGE_ACTION_ROLES"):
        parse_action_roles("RTX_BRIDGE_ACTION_ROLES", raw)


# -- decisions and answers ------------------------------------------------------------------------


def test_an_accepted_action_is_written_then_confirmed_with_its_seq() -> None:
    d = desk_context()
    alert_id = d.raise_alert(0)
    sess = session(d.ctx, ident=identity("dana", ("dealer",)))
    assert sess.receive(act("acknowledge", alert_id, seq=0, epoch=EPOCH, note="mine"), T0) is None
    assert answers(sess) == []  # nothing until the broker acknowledged the write
    ((accepted, _),) = d.written
    record = accepted.record
    assert (record["action"], record["user"], record["roles"]) == (
        "acknowledge",
        "dana",
        ["dealer"],
    )
    assert (record["alertSeq"], record["alertEpoch"], record["logSeq"]) == (0, EPOCH, 0)
    assert record["time"] == int(T0 * 1_000_000) and record["note"] == "mine"
    assert d.confirm_all(T0) == [0]
    (confirmed,) = answers(sess)
    assert confirmed["type"] == "confirmed"
    assert confirmed["data"] == {
        "action": "acknowledge",
        "alertId": alert_id,
        "actionId": record["actionId"],
        "actionSeq": 0,
        "duplicate": False,
        "id": "a1",
    }
    state = d.desk.workflow.state(alert_id)
    assert state is not None and state.acknowledged_by == "dana"


def refusal_of(d: Any, frame: str, roles: tuple[str, ...] = ("dealer",)) -> dict[str, Any]:
    sess = session(d.ctx, ident=identity("dana", roles))
    sess.receive(frame, T0)
    (error,) = answers(sess)
    assert error["type"] == "error" and d.written == []
    data: dict[str, Any] = error["data"]
    return data


def test_every_refusal_has_an_error_frame_that_says_why() -> None:
    d = desk_context()
    alert_id = d.raise_alert(0)
    other = d.raise_alert(1)
    d.resolve_alert(2, other)
    cases = {
        "not-allowed": (act("acknowledge", alert_id), ("viewer",)),
        "unknown-alert": (act("acknowledge", "20260119-000000-ffffff"), ("dealer",)),
        "already-resolved": (act("acknowledge", other), ("dealer",)),
        "not-resolved": (act("reopen", alert_id), ("dealer",)),
    }
    for code, (frame, roles) in cases.items():
        data = refusal_of(d, frame, roles)
        assert data["code"] == code and data["id"] == "a1"
        assert data["alertId"] in (alert_id, other, "20260119-000000-ffffff")
        assert data["action"] in ("acknowledge", "reopen") and data["message"]


def test_a_stale_position_is_an_unknown_alert() -> None:
    d = desk_context()
    alert_id = d.raise_alert(3)
    assert refusal_of(d, act("acknowledge", alert_id, seq=4))["code"] == "unknown-alert"
    assert refusal_of(d, act("acknowledge", alert_id, epoch="old"))["code"] == "unknown-alert"


def test_acknowledging_twice_is_already_acknowledged() -> None:
    d = desk_context()
    alert_id = d.raise_alert(0)
    session(d.ctx, ident=identity("dana", ("dealer",))).receive(act("acknowledge", alert_id), T0)
    d.confirm_all(T0)
    assert refusal_of(d, act("acknowledge", alert_id))["code"] == "already-acknowledged"


def test_a_snooze_must_end_in_the_future_within_30_days() -> None:
    d = desk_context()
    alert_id = d.raise_alert(0)
    past = refusal_of(d, act("snooze", alert_id, until="2026-01-19T10:00:00Z"))
    assert past["code"] == "bad-field" and "until" in past["message"]
    far = refusal_of(d, act("snooze", alert_id, until="2026-03-19T10:00:00Z"))
    assert far["code"] == "bad-field"


def test_a_role_that_may_not_read_alerts_may_not_act() -> None:
    d = desk_context(channels=ChannelPolicy({"alerts": ["risk"]}))
    alert_id = d.raise_alert(0)
    assert refusal_of(d, act("acknowledge", alert_id))["code"] == "not-allowed"


def test_without_an_action_writer_actions_are_unavailable() -> None:
    d = desk_context()
    alert_id = d.raise_alert(0)
    d.desk.writer = None
    assert refusal_of(d, act("acknowledge", alert_id))["code"] == "actions-unavailable"


def test_a_failed_write_is_an_action_failed_error_and_changes_nothing() -> None:
    d = desk_context()
    alert_id = d.raise_alert(0)
    sess = session(d.ctx, ident=identity("dana", ("dealer",)))
    sess.receive(act("acknowledge", alert_id), T0)
    ((accepted, responder),) = d.written
    responder.action_failed(accepted, "Kafka did not acknowledge the write", T0)
    (error,) = answers(sess)
    assert error["data"]["code"] == "action-failed" and error["data"]["id"] == "a1"
    state = d.desk.workflow.state(alert_id)
    assert state is not None and state.status == "open"


def test_a_retried_action_id_is_confirmed_again_and_not_written_twice() -> None:
    d = desk_context()
    alert_id = d.raise_alert(0)
    sess = session(d.ctx, ident=identity("dana", ("dealer",)))
    sess.receive(act("acknowledge", alert_id, actionId="k-1"), T0)
    d.confirm_all(T0)
    retry = session(d.ctx, ident=identity("dana", ("dealer",)))
    retry.receive(act("acknowledge", alert_id, rid="a2", actionId="k-1"), T0 + 1)
    assert d.written == []
    (confirmed,) = answers(retry, T0 + 1)
    assert confirmed["data"]["actionSeq"] == 0 and confirmed["data"]["duplicate"] is True


# -- alert-state on the alerts channel ----------------------------------------------------------


def states(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["data"] for m in messages if m["type"] == "alert-state"]


def test_subscribing_to_alerts_sends_the_open_alerts_states_first() -> None:
    d = desk_context()
    first, second = d.raise_alert(0), d.raise_alert(1)
    d.resolve_alert(2, second)
    sess = session(d.ctx, channels=("alerts",))
    sent = states(drain(sess, T0))
    assert [(s["id"], s["status"], s["epoch"]) for s in sent] == [(first, "open", EPOCH)]
    assert sent[0]["timeline"][0]["kind"] == "raised"


def test_the_state_message_is_on_the_alerts_channel_with_its_last_change_as_timestamp() -> None:
    d = desk_context()
    alert_id = d.raise_alert(0)
    session(d.ctx, ident=identity("dana", ("dealer",))).receive(
        act("assign", alert_id, assignee="bob"), T0 + 5
    )
    d.confirm_all(T0 + 5)
    encoded = d.desk.state_message(alert_id)
    assert encoded is not None and encoded.channel == "alerts" and encoded.seq is None
    message = encoded.message
    assert (
        message["type"] == "alert-state" and message["timestamp"] == "2026-01-19T10:30:50.123456Z"
    )
    assert message["data"]["assignee"] == "bob" and message["data"]["lastActionSeq"] == 0


def test_a_resume_brings_each_alerts_state_after_it() -> None:
    d = desk_context()
    ids = [d.raise_alert(n) for n in range(3)]
    sess = session(d.ctx)
    sess.receive(json.dumps({"action": "subscribe", "channels": ["alerts"], "since": 0}), T0)
    order = [(m["type"], m["data"].get("id")) for m in drain(sess, T0) if m["type"] != "subscribed"]
    snapshot, replayed = order[:3], order[3:]
    assert snapshot == [("alert-state", i) for i in ids]
    assert replayed == [
        ("alert", ids[1]),
        ("alert-state", ids[1]),
        ("alert", ids[2]),
        ("alert-state", ids[2]),
    ]


def test_a_time_range_replay_brings_each_alerts_state_after_it() -> None:
    d = desk_context()
    ids = [d.raise_alert(n) for n in range(2)]
    sess = session(d.ctx)
    replay = {"action": "replay", "channel": "alerts", "fromTime": "2026-01-19T00:00:00Z"}
    sess.receive(json.dumps({**replay, "id": "q1"}), T0)
    got = [(m["type"], m["data"].get("id"), m.get("replay")) for m in drain(sess, T0)]
    assert got[:4] == [
        ("alert", ids[0], True),
        ("alert-state", ids[0], None),
        ("alert", ids[1], True),
        ("alert-state", ids[1], None),
    ]
    assert got[4][0] == "replay-done" and len(got) == 5


def test_the_snapshot_is_bounded() -> None:
    d = desk_context()
    d.desk.snapshot_max = 2
    ids = [d.raise_alert(n) for n in range(5)]
    assert [s.message["data"]["id"] for s in d.desk.snapshot(["alerts"])] == ids[-2:]
    assert d.desk.snapshot(["exposure-updates"]) == []


def test_old_clients_frames_are_unchanged_by_actions_on() -> None:
    """A client that only subscribes to exposure gets no alert-state and no new message."""
    d = desk_context()
    d.raise_alert(0)
    sess = session(d.ctx, channels=("exposure-updates",))
    assert drain(sess, T0) == []


@pytest.mark.parametrize(
    ("roles", "allowed"), [(("dealer",), list(DESK_ACTIONS)), (("viewer",), [])]
)
def test_subscribed_names_the_actions_the_token_may_take(
    roles: tuple[str, ...], allowed: list[str]
) -> None:
    d = desk_context()
    sess = session(d.ctx, ident=identity("dana", roles))
    sess.receive(json.dumps({"action": "subscribe", "channels": ["alerts"], "id": "s1"}), T0)
    (subscribed,) = [m for m in drain(sess, T0) if m["type"] == "subscribed"]
    assert subscribed["data"]["actions"] == allowed
    plain = session(d.ctx, ident=identity("dana", roles))
    plain.receive(
        json.dumps({"action": "subscribe", "channels": ["lp-performance"], "id": "s2"}), T0
    )
    assert all("actions" not in m["data"] for m in drain(plain, T0))


def test_a_subscribe_with_actions_since_resends_the_states_changed_after_it() -> None:
    """A client back from a disconnect gets the states actions changed while it was away, even
    of alerts the snapshot leaves out (resolved), paced like a resume."""
    d = desk_context()
    first, second = d.raise_alert(0), d.raise_alert(1)
    dealer = session(d.ctx, ident=identity("dana", ("dealer",)))
    dealer.receive(act("comment", first, note="seen"), T0)
    dealer.receive(act("resolve", second, rid="a2", note="closed"), T0)
    assert d.confirm_all(T0) == [0, 1]
    frame = {"action": "subscribe", "channels": ["alerts"], "actionsSince": 0}
    back = session(d.ctx)
    back.receive(json.dumps(frame), T0)
    got = [(s["id"], s["status"]) for s in states(drain(back, T0))]
    assert got == [(first, "open"), (second, "resolved")]  # the snapshot, then the resync
    since_all = session(d.ctx)
    since_all.receive(json.dumps({**frame, "actionsSince": -1}), T0)
    resync = states(drain(since_all, T0))[1:]
    assert [(s["id"], s["actionSeq"]) for s in resync] == [(first, 0), (second, 1)]
    bad = parse_client_frame(
        json.dumps({"action": "subscribe", "channels": ["lp-performance"], "actionsSince": 1})
    )
    assert isinstance(bad, ProtocolError) and "actionsSince" in bad.message
