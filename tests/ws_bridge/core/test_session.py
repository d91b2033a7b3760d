"""ClientSession's incoming side: the rate limit, bad and oversized frames, token expiry and
refresh, channel roles, subscriptions and snapshots, and what an old client sees. Time is a fake
clock. Batching and the queue: test_outgoing.py; the limiter itself: test_ratelimit.py."""

from __future__ import annotations

import json

import pytest

from tests.helpers.bridge import (
    SECRET,
    SUB,
    T0,
    context,
    exposure_record,
    identity,
    lp_record,
    routing_item,
    routing_record,
    session,
    settings,
)
from ws_bridge.core.access import ChannelPolicy
from ws_bridge.core.auth import mint_token
from ws_bridge.core.fanout import Fanout
from ws_bridge.core.protocol import encode, to_message
from ws_bridge.core.session import CLOSE_RATE_LIMITED, CLOSE_TOKEN_EXPIRED, Close


def test_session_rate_limit_error_then_close_1008() -> None:
    sess = session(context(settings(rate_limit_per_s=10, rate_limit_grace_s=0.5)))
    closes = [sess.receive(SUB, T0 + step / 100) for step in range(100)]  # 100 frames/s
    close_at = next(step for step, close in enumerate(closes) if close is not None)
    assert closes[close_at] == Close(CLOSE_RATE_LIMITED, "rate limit exceeded")
    assert 50 <= close_at <= 70
    errors = [i.message["data"]["code"] for i in sess._control]  # queued before the close
    assert errors == ["rate-limited"]
    assert [e.event for e in sess.take_events() if "rate" in e.event] == [
        "rate-limited", "rate-limit-close",
    ]  # fmt: skip
    assert sess.receive(SUB, T0 + 10) == sess.closed  # closed stays closed


def test_bad_frames_get_error_messages_and_the_connection_stays_open() -> None:
    sess = session()
    for frame in (
        "{bad",
        '{"action":"publish"}',
        '{"action":"subscribe","channels":["news"]}',
        b"\x00",
    ):
        assert sess.receive(frame, T0) is None
    codes = [m["data"]["code"] for m in sess.next_batch(T0) or []]
    assert codes == ["bad-json", "unknown-action", "unknown-channel", "binary-frame"]


def test_an_oversized_frame_closes_with_1009() -> None:
    sess = session()
    assert sess.receive("x" * 513, T0) == Close(1009, "message too big")


def test_the_token_expiry_closes_the_connection_with_4001() -> None:
    sess = session(ident=identity(expires_at=T0 + 60))
    assert sess.expires_deadline == T0 + 60 + 30  # exp plus the verification leeway
    assert sess.poll(T0 + 89.9) is None
    assert sess.poll(T0 + 90) == Close(CLOSE_TOKEN_EXPIRED, "token expired")
    assert sess.next_batch(T0 + 90) is None


def refresh_frame(token: str, rid: str = "r1") -> str:
    return json.dumps({"action": "refresh", "token": token, "id": rid})


def test_refresh_with_a_newer_token_for_the_same_user_extends_the_connection() -> None:
    sess = session(ident=identity(expires_at=T0 + 60))
    token = mint_token(SECRET, "alice", ["admin"], 3600, now=T0 + 50)
    assert sess.receive(refresh_frame(token), T0 + 50) is None
    assert sess.poll(T0 + 200) is None and sess.expires_deadline == int(T0 + 50 + 3600) + 30
    batch = sess.next_batch(T0 + 50) or []
    assert batch[0]["type"] == "refreshed" and batch[0]["data"]["id"] == "r1"
    assert token not in str(sess.take_events())


@pytest.mark.parametrize(
    ("sub", "ttl", "key", "why"),
    [
        ("mallory", 3600, SECRET, "another user"),
        ("alice", 10, SECRET, "does not expire later"),
        ("alice", 3600, "x" * 40, "token refused: bad-signature"),
    ],
)
def test_refresh_is_refused_for_another_user_an_older_token_or_a_bad_one(
    sub: str, ttl: int, key: str, why: str
) -> None:
    sess = session(ident=identity(expires_at=T0 + 60))
    sess.receive(refresh_frame(mint_token(key, sub, ["admin"], ttl, now=T0)), T0)
    error = (sess.next_batch(T0) or [])[0]["data"]
    assert error["code"] == "refresh-failed" and why in error["message"] and error["id"] == "r1"
    assert sess.poll(T0 + 90) == Close(CLOSE_TOKEN_EXPIRED, "token expired")


def test_refresh_with_fewer_roles_drops_channels_no_longer_allowed() -> None:
    policy = ChannelPolicy({"alerts": ["admin"]})
    sess = session(context(policy=policy), channels=("alerts", "routing-metrics"))
    token = mint_token(SECRET, "alice", ["dealer"], 7200, now=T0)
    sess.receive(refresh_frame(token), T0)
    assert sess.subscriptions == {"routing-metrics"}
    types = [(m["type"], m["data"].get("code")) for m in sess.next_batch(T0) or []]
    assert types == [("error", "forbidden"), ("refreshed", None)]


def test_a_forbidden_subscription_gets_an_error_and_the_others_go_through() -> None:
    policy = ChannelPolicy({"alerts": ["admin", "risk"]})
    sess = session(context(policy=policy), ident=identity(roles=("dealer",)))
    frame = '{"action":"subscribe","channels":["alerts","routing-metrics"]}'
    sess.receive(frame, T0)
    assert sess.subscriptions == {"routing-metrics"}
    error = (sess.next_batch(T0) or [])[0]
    assert error["type"] == "error" and error["data"]["code"] == "forbidden"
    assert error["data"]["channel"] == "alerts"
    assert any(e.event == "forbidden" for e in sess.take_events())


def test_subscribe_logs_each_new_channel_like_the_old_hub() -> None:
    sess = session(channels=("routing-metrics", "alerts"))
    assert [e.message for e in sess.take_events()] == [
        "User alice subscribed to channel: routing-metrics",
        "User alice subscribed to channel: alerts",
    ]


def test_unsubscribe_stops_the_channel_and_discards_what_is_queued_for_it() -> None:
    sess = session(channels=("routing-metrics", "exposure-updates"))
    sess.deliver([routing_item(1), encode(to_message("ExposureChange", exposure_record()))], T0)
    sess.receive('{"action":"unsubscribe","channels":["routing-metrics"],"id":"u"}', T0)
    batch = sess.next_batch(T0) or []
    assert [m["type"] for m in batch] == ["unsubscribed", "exposure-change"]
    assert batch[0]["data"] == {"channels": ["exposure-updates"], "id": "u"}


def test_subscribing_sends_the_latest_exposure_and_every_lps_latest_metrics_first() -> None:
    fanout = Fanout()
    older = to_message("LpPerformance", lp_record("LMAX", latencyMs=10.0, eventTime=1))
    fanout.dispatch(
        [
            to_message("LpPerformance", lp_record("OANDA")),
            to_message("LpPerformance", lp_record("LMAX", latencyMs=99.0)),
            older,  # an older event for LMAX does not replace the newer
            to_message("ExposureChange", exposure_record()),
            to_message("RoutingDecision", routing_record()),
        ],
        [],
        T0,
    )
    sess = session(context(fanout=fanout), channels=("lp-performance", "exposure-updates"))
    batch = sess.next_batch(T0) or []
    assert [(m["type"], m["data"].get("lpName")) for m in batch] == [
        ("lp-metrics", "LMAX"),
        ("lp-metrics", "OANDA"),
        ("exposure-change", None),
    ]
    assert batch[0]["data"]["latencyMs"] == 99.0


CONTRACT_TYPES = {"routing-decision", "lp-metrics", "exposure-change", "alert"}


def test_an_old_client_that_only_subscribes_gets_exactly_the_contracts_frames() -> None:
    """No acks, no extension messages: each frame is a JSON array of contract messages, exactly
    the messages of the records published, in order."""
    sess = session()
    old_frame = (
        '{"action":"subscribe","channels":["routing-metrics","lp-performance","exposure-updates"]}'
    )
    assert sess.receive(old_frame, T0) is None
    messages = [
        to_message("RoutingDecision", routing_record()),
        to_message("LpPerformance", lp_record()),
        to_message("ExposureChange", exposure_record()),
    ]
    sess.deliver([encode(m) for m in messages], T0)
    frame = sess.next_frame(T0)
    assert frame is not None and json.loads(frame) == messages
    assert frame == json.dumps(messages, separators=(",", ":"))
    assert {m["type"] for m in json.loads(frame)} <= CONTRACT_TYPES
    assert sess.next_frame(T0 + 1) is None


def test_status_description() -> None:
    sess = session(channels=("alerts",))
    assert sess.describe() == {
        "user": "alice",
        "account": "acc-1",
        "subscriptions": ["alerts"],
        "queued": 0,
        "queuedBytes": 0,
        "dropped": {},
        "rateLimited": 0,
    }
