"""ClientSession: batching, the bounded queue and its gap messages, rate limiting, token expiry
and refresh, channel roles, snapshots, and what an old client sees. Time is a fake clock."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.helpers.bridge import (
    SECRET,
    T0,
    context,
    exposure_record,
    identity,
    lp_record,
    routing_item,
    routing_record,
    session,
    settings,
    volumes,
)
from ws_bridge.core.access import ChannelPolicy
from ws_bridge.core.auth import mint_token
from ws_bridge.core.fanout import Fanout
from ws_bridge.core.protocol import encode, to_message
from ws_bridge.core.ratelimit import RateLimiter, TokenBucket, Verdict
from ws_bridge.core.session import CLOSE_RATE_LIMITED, CLOSE_TOKEN_EXPIRED, Close

SUB = '{"action":"subscribe","channels":["routing-metrics"]}'


def drain(sess: Any, now: float, step: float = 1.0) -> list[dict[str, Any]]:
    """Every message still queued, taking batches one interval apart."""
    out: list[dict[str, Any]] = []
    for _ in range(10_000):
        batch = sess.next_batch(now)
        if batch is None and sess.next_send_at(now) is None:
            return out
        if batch is not None:
            out.extend(batch)
            sess.frame_sent()
        now += step
    raise AssertionError("queue never drained")


def test_a_client_receives_nothing_until_it_subscribes() -> None:
    sess = session()
    sess.deliver([routing_item(1)], T0)
    assert sess.next_batch(T0) is None and sess.next_send_at(T0) is None


def test_first_message_after_idle_goes_at_once_then_batches_respect_the_interval() -> None:
    sess = session(channels=("routing-metrics",))
    sess.deliver([routing_item(1)], T0)
    assert volumes(sess.next_batch(T0) or []) == [1]
    sess.frame_sent()
    sess.deliver([routing_item(2)], T0 + 0.005)
    assert sess.next_batch(T0 + 0.005) is None  # within 16 ms of the last batch
    assert sess.next_send_at(T0 + 0.005) == pytest.approx(T0 + 0.016)
    assert volumes(sess.next_batch(T0 + 0.016) or []) == [2]
    sess.frame_sent()
    sess.deliver([routing_item(3)], T0 + 5)
    assert volumes(sess.next_batch(T0 + 5) or []) == [3]  # idle: at once


def test_batches_hold_at_most_batch_max_messages_and_next_frame_is_a_json_array() -> None:
    sess = session(channels=("routing-metrics",))
    sess.deliver([routing_item(i) for i in range(120)], T0)
    sizes = []
    now = T0
    while (frame := sess.next_frame(now)) is not None:
        batch = json.loads(frame)
        assert isinstance(batch, list)
        sizes.append(len(batch))
        sess.frame_sent()
        now += 0.016
    assert sizes == [50, 50, 20]


def test_frames_in_flight_are_bounded_by_queue_max_batches() -> None:
    ctx = context(settings(queue_max_batches=2, batch_max=1))
    sess = session(ctx, channels=("routing-metrics",))
    sess.deliver([routing_item(i) for i in range(5)], T0)
    assert sess.next_batch(T0) and sess.next_batch(T0 + 1)
    assert sess.next_batch(T0 + 2) is None and sess.next_send_at(T0 + 2) is None
    sess.frame_sent()
    assert sess.next_batch(T0 + 2) is not None


@hsettings(max_examples=150, deadline=None)
@given(
    batch_max=st.integers(1, 20),
    interval_ms=st.integers(1, 50),
    ops=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 40)),  # (messages to add, ms to advance)
        max_size=60,
    ),
)
def test_batching_never_exceeds_batch_max_and_respects_the_interval(
    batch_max: int, interval_ms: int, ops: list[tuple[int, int]]
) -> None:
    s = settings(batch_max=batch_max, batch_interval_ms=interval_ms, queue_max_messages=100_000,
                 queue_max_batches=1000)  # fmt: skip
    sess = session(context(s), channels=("routing-metrics",))
    now, sent_at, got, n = T0, [], [], 0
    for add, advance_ms in ops:
        sess.deliver([routing_item(n + i) for i in range(add)], now)
        n += add
        now += advance_ms / 1000
        batch = sess.next_batch(now)
        if batch is not None:
            assert 1 <= len(batch) <= batch_max
            sent_at.append(now)
            got.extend(volumes(batch))
            sess.frame_sent()
        else:  # nothing waiting, or not yet: never withheld once the interval has passed
            assert not sess.queued or now - sent_at[-1] < interval_ms / 1000
    for earlier, later in zip(sent_at, sent_at[1:], strict=False):
        assert later - earlier >= interval_ms / 1000 - 1e-9
    got.extend(volumes(drain(sess, now, interval_ms / 1000)))
    assert got == list(range(n))  # all of them, in order


@hsettings(max_examples=200, deadline=None)
@given(
    max_messages=st.integers(1, 12),
    max_bytes=st.integers(300, 3000),
    ops=st.lists(st.one_of(st.integers(0, 400), st.just(-1)), max_size=80),
)
def test_the_queue_stays_bounded_in_messages_and_bytes_and_drops_the_oldest(
    max_messages: int, max_bytes: int, ops: list[int]
) -> None:
    """ops: n >= 0 adds a message padded by n bytes; -1 takes a batch."""
    s = settings(queue_max_messages=max_messages, queue_max_bytes=max_bytes, batch_max=5,
                 queue_max_batches=1000)  # fmt: skip
    sess = session(context(s), channels=("routing-metrics",))
    now, n = T0, 0
    received: list[int] = []
    gaps: list[dict[str, Any]] = []
    for op in ops:
        if op >= 0:
            item = routing_item(n, pad=op)
            sess.deliver([item], now)
            if item.nbytes <= max_bytes:  # the newest is kept: drops take the oldest
                assert list(sess._outbox)[-1] is item
            n += 1
        else:
            batch = sess.next_batch(now) or []
            received.extend(volumes(batch))
            gaps.extend(m["data"] for m in batch if m["type"] == "gap")
            sess.frame_sent()
        outbox = sess._outbox
        assert len(outbox) <= max_messages and outbox.nbytes <= max_bytes
        assert outbox.nbytes == sum(item.nbytes for item in outbox)
        now += 1
    for m in drain(sess, now):
        received.extend(volumes([m]))
        if m["type"] == "gap":
            gaps.append(m["data"])
    assert received == sorted(received)  # order kept; only the oldest were dropped
    assert len(received) + sum(g["dropped"] for g in gaps) == n  # every drop reported
    assert all(g["channel"] == "routing-metrics" for g in gaps)


def test_overflow_drops_the_oldest_logs_once_per_burst_and_sends_a_gap_first() -> None:
    sess = session(context(settings(queue_max_messages=3)), channels=("routing-metrics",))
    sess.take_events()
    sess.deliver([routing_item(i) for i in range(8)], T0)
    events = [e for e in sess.take_events() if e.event == "buffer-full"]
    assert len(events) == 1 and events[0].level == logging.WARNING
    assert "alice" in events[0].message
    batch = sess.next_batch(T0) or []
    assert batch[0]["type"] == "gap"
    assert batch[0]["data"] == {
        "channel": "routing-metrics",
        "dropped": 5,
        "reason": "slow-client",
        "firstTimestamp": "2026-01-19T10:30:45.123456Z",
        "lastTimestamp": "2026-01-19T10:30:45.123456Z",
    }
    assert volumes(batch) == [5, 6, 7]
    assert sess.describe()["dropped"] == {"routing-metrics": 5}
    sess.frame_sent()
    sess.deliver([routing_item(i) for i in range(8, 13)], T0 + 1)  # a new burst: logged again
    assert [e.event for e in sess.take_events()] == ["buffer-full"]


def test_a_message_larger_than_the_byte_limit_alone_is_dropped_and_reported() -> None:
    sess = session(context(settings(queue_max_bytes=400)), channels=("routing-metrics",))
    assert routing_item(2).nbytes < 400 < routing_item(1, pad=500).nbytes
    sess.deliver([routing_item(1, pad=500), routing_item(2)], T0)
    batch = sess.next_batch(T0) or []
    assert batch[0]["type"] == "gap" and batch[0]["data"]["dropped"] == 1
    assert volumes(batch) == [2]


def test_token_bucket_refills_at_its_rate_and_caps_at_capacity() -> None:
    bucket = TokenBucket(rate_per_s=10, capacity=10, now=0.0)
    assert all(bucket.take(0.0) for _ in range(10)) and not bucket.take(0.0)
    assert bucket.take(0.1) and not bucket.take(0.1)
    assert not bucket.take(0.05)  # a clock going backwards adds nothing
    bucket.take(100.0)
    assert bucket.tokens == pytest.approx(9.0)


def test_rate_limiter_warns_once_then_closes_if_the_excess_goes_on() -> None:
    """A client sending 100 frames/s against a limit of 10/s: one warning at the first
    rejection, silent rejections, then a close once the excess has lasted the grace period."""
    limiter = RateLimiter(rate_per_s=10, grace_s=1.0, now=0.0)
    verdicts = [(step / 100, limiter.check(step / 100)) for step in range(300)]
    first = next(t for t, v in verdicts if v is Verdict.FIRST_EXCESS)
    close = next(t for t, v in verdicts if v is Verdict.CLOSE)
    assert [v for _, v in verdicts].count(Verdict.FIRST_EXCESS) == 1
    assert close - first == pytest.approx(1.0, abs=0.011)
    assert all(v in (Verdict.ACCEPT, Verdict.EXCESS) for t, v in verdicts if first < t < close)


def test_rate_limiter_episode_ends_after_a_quiet_second() -> None:
    limiter = RateLimiter(rate_per_s=5, grace_s=1.0, now=0.0)
    assert [limiter.check(0.0) for _ in range(6)][-1] is Verdict.FIRST_EXCESS
    assert limiter.check(3.0) is Verdict.ACCEPT and not limiter.limited
    assert [limiter.check(3.0) for _ in range(5)][-1] is Verdict.FIRST_EXCESS  # warned again


def test_rate_limiter_with_no_grace_closes_at_the_second_rejection() -> None:
    limiter = RateLimiter(rate_per_s=1, grace_s=0.0, now=0.0)
    assert [limiter.check(0.0) for _ in range(3)] == [
        Verdict.ACCEPT, Verdict.FIRST_EXCESS, Verdict.CLOSE,
    ]  # fmt: skip


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
