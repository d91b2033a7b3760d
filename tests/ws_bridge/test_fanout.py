"""Fanout: one encoding per message and one frame per subscription set; sessions with a backlog
get their own batches; a shared frame is exactly what the session's own batch would have been."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from ws_bridge.alertlog import AlertLog
from ws_bridge.fanout import Fanout
from ws_bridge.protocol import CHANNELS, Encoded, encode, to_message
from ws_bridge.session import ClientSession

from .helpers import (
    T0,
    alert_record,
    context,
    exposure_record,
    identity,
    lp_record,
    routing_item,
    session,
    settings,
    volumes,
)


def tick_messages() -> list[dict[str, Any]]:
    return [
        routing_item(1).message,
        to_message("ExposureChange", exposure_record()),
        routing_item(2).message,
        to_message("LpPerformance", lp_record()),
    ]


def test_each_message_is_encoded_once_and_each_subscription_set_gets_one_frame() -> None:
    fanout = Fanout()
    ctx = context(fanout=fanout)
    routing = [session(ctx, channels=("routing-metrics",)) for _ in range(3)]
    mixed = [session(ctx, channels=("exposure-updates", "routing-metrics")) for _ in range(2)]
    mixed.append(session(ctx, channels=("routing-metrics", "exposure-updates")))  # same set
    idle = session(ctx, channels=("alerts",))
    result = fanout.dispatch(tick_messages(), [*routing, *mixed, idle], T0)
    assert fanout.messages_encoded == 4 and fanout.frames_built == 2
    assert result.queued == []
    by_size = {len(d.sessions): d for d in result.deliveries}
    assert set(by_size[3].sessions) in (set(routing), set(mixed))
    frames = {d.channels: json.loads(d.frame) for d in result.deliveries}
    assert volumes(frames[frozenset({"routing-metrics"})]) == [1, 2]
    both = frames[frozenset({"routing-metrics", "exposure-updates"})]
    assert [m["type"] for m in both] == ["routing-decision", "exposure-change", "routing-decision"]
    assert all(s.in_flight == 1 for s in [*routing, *mixed]) and idle.in_flight == 0


def test_a_session_with_a_backlog_gets_its_own_batches_in_order() -> None:
    fanout = Fanout()
    ctx = context(settings(batch_max=2), fanout=fanout)
    fast = session(ctx, channels=("routing-metrics",))
    slow = session(ctx, channels=("routing-metrics",))
    slow.deliver([routing_item(i) for i in range(10, 15)], T0)  # 5 queued: a backlog
    result = fanout.dispatch([routing_item(1).message, routing_item(2).message], [fast, slow], T0)
    assert [d.sessions for d in result.deliveries] == [(fast,)] and result.queued == [slow]
    got = []
    now = T0
    while (batch := slow.next_batch(now)) is not None or slow.next_send_at(now) is not None:
        got.extend(volumes(batch or []))
        slow.frame_sent()
        now += 0.016
    assert got == [10, 11, 12, 13, 14, 1, 2]


def test_a_tick_larger_than_batch_max_goes_through_the_sessions_queue() -> None:
    fanout = Fanout()
    sess = session(context(settings(batch_max=2), fanout=fanout), channels=("routing-metrics",))
    result = fanout.dispatch([routing_item(i).message for i in range(3)], [sess], T0)
    assert result.deliveries == [] and result.queued == [sess]
    assert volumes(sess.next_batch(T0) or []) == [0, 1]


def test_closed_and_unsubscribed_sessions_get_nothing() -> None:
    fanout = Fanout()
    closed = session(channels=("routing-metrics",))
    closed.poll(T0 + 10**6)
    nothing = session()
    result = fanout.dispatch([routing_item(1).message], [closed, nothing], T0)
    assert result.deliveries == [] and result.queued == []


class _NoSharing(Fanout):
    """The reference: every session batches on its own."""

    @staticmethod
    def _split(
        selected: Sequence[Encoded],
        members: Sequence[ClientSession],
        now: float,
        queued: list[ClientSession],
    ) -> list[ClientSession]:
        for session_ in members:
            session_.deliver(selected, now)
            queued.append(session_)
        return []


CHANNEL_SETS = st.sets(st.sampled_from(CHANNELS), min_size=1)
STEP = st.tuples(
    st.lists(st.sampled_from(["routing", "exposure", "lp", "alert"]), max_size=8),
    st.integers(0, 40),  # ms to the next tick
    st.lists(st.booleans(), min_size=4, max_size=4),  # which sessions write their frame now
)


@hsettings(max_examples=150, deadline=None)
@given(
    subscriptions=st.lists(CHANNEL_SETS, min_size=1, max_size=4),
    steps=st.lists(STEP, max_size=25),
    batch_max=st.integers(1, 6),
    queue=st.integers(2, 20),
)
def test_shared_frames_are_exactly_what_each_session_would_have_sent_alone(
    subscriptions: list[set[str]],
    steps: list[tuple[list[str], int, list[bool]]],
    batch_max: int,
    queue: int,
) -> None:
    """Run the same ticks through the fanout and through per-session batching only: every
    session receives the same frames, byte for byte, in the same order."""

    def run(fanout: Fanout) -> list[list[str]]:
        s = settings(batch_max=batch_max, queue_max_messages=queue, queue_max_batches=2)
        log = AlertLog("e1", capacity=100)
        ctx = context(s, log=log, fanout=fanout)
        sessions = []
        for chans in subscriptions:
            sess = ClientSession(identity(), ctx, now=T0)
            sess.receive(json.dumps({"action": "subscribe", "channels": sorted(chans)}), T0)
            sessions.append(sess)
        frames: list[list[str]] = [[] for _ in sessions]
        unsent: list[int] = [0 for _ in sessions]  # frames handed out, not yet written
        now, seq = T0, 0
        for kinds, advance_ms, writes in steps:
            messages: list[Any] = []
            for kind in kinds:
                if kind == "alert":
                    item = log.append(seq, alert_record(seq))
                    seq += 1
                    messages.append(item)
                elif kind == "routing":
                    messages.append(routing_item(seq).message)
                elif kind == "exposure":
                    messages.append(to_message("ExposureChange", exposure_record()))
                else:
                    messages.append(to_message("LpPerformance", lp_record()))
            for delivery in fanout.dispatch(messages, sessions, now).deliveries:
                for sess in delivery.sessions:
                    frames[sessions.index(sess)].append(delivery.frame)
                    unsent[sessions.index(sess)] += 1
            for index, sess in enumerate(sessions):
                frame = sess.next_frame(now)
                if frame is not None:
                    frames[index].append(frame)
                    unsent[index] += 1
                if writes[index % 4] and unsent[index]:
                    sess.frame_sent()
                    unsent[index] -= 1
            now += advance_ms / 1000
        return frames

    assert run(Fanout()) == run(_NoSharing())


def test_snapshot_state_follows_the_newest_event_time() -> None:
    fanout = Fanout()
    newer = encode(to_message("ExposureChange", exposure_record(totalExposure=2.0)))
    older = encode(to_message("ExposureChange", exposure_record(totalExposure=1.0, eventTime=1)))
    fanout.dispatch([newer.message, older.message], [], T0)
    assert [i.message["data"]["totalExposure"] for i in fanout.snapshot(["exposure-updates"])] == [
        2.0
    ]
    assert fanout.snapshot(["alerts", "routing-metrics"]) == []
