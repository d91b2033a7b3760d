"""Fanout: one encoding per message and one frame per subscription set; sessions with a backlog
get their own batches; a shared frame is exactly what the session's own batch would have been."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.helpers.bridge import (
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
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.fanout import Fanout
from ws_bridge.core.outbox import Chunk
from ws_bridge.core.protocol import CHANNELS, encode, to_message
from ws_bridge.core.session import ClientSession


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


def test_with_the_limits_a_tick_larger_than_batch_max_shares_its_first_batch() -> None:
    """The first batch_max messages are the group's frame; the rest waits in the session's
    queue as a shared chunk and leaves right after (catching up), as if queued whole."""
    s = settings(batch_max=2)
    fanout = Fanout(s)
    sess = session(context(s, fanout=fanout), channels=("routing-metrics",))
    result = fanout.dispatch([routing_item(i).message for i in range(5)], [sess], T0)
    assert [(d.sessions, d.count) for d in result.deliveries] == [((sess,), 2)]
    assert volumes(json.loads(result.deliveries[0].frame)) == [0, 1]
    assert result.queued == [sess] and sess.next_send_at(T0) == T0
    assert volumes(sess.next_batch(T0) or []) == [2, 3]
    assert volumes(sess.next_batch(T0) or []) == [4]


def test_a_tick_that_would_not_fit_an_empty_queue_is_not_shared() -> None:
    s = settings(batch_max=2, queue_max_messages=4)
    fanout = Fanout(s)
    sess = session(context(s, fanout=fanout), channels=("routing-metrics",))
    result = fanout.dispatch([routing_item(i).message for i in range(5)], [sess], T0)
    assert result.deliveries == [] and result.queued == [sess]


def test_closed_and_unsubscribed_sessions_get_nothing() -> None:
    fanout = Fanout()
    closed = session(channels=("routing-metrics",))
    closed.poll(T0 + 10**6)
    nothing = session()
    result = fanout.dispatch([routing_item(1).message], [closed, nothing], T0)
    assert result.deliveries == [] and result.queued == []


class _NoSharing(Fanout):
    """The reference: every session queues the tick's selection and batches on its own."""

    @staticmethod
    def _split(
        chunk: Chunk,
        members: Sequence[ClientSession],
        now: float,
        queued: list[ClientSession],
    ) -> list[ClientSession]:
        for session_ in members:
            session_.deliver_chunk(chunk, now)
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

    def run(make: Callable[[BridgeSettings], Fanout], drain: bool = False) -> list[list[str]]:
        """``drain``: each session sends frames while it has one to send, as the bridge's writer
        does (else one per step)."""
        s = settings(batch_max=batch_max, queue_max_messages=queue, queue_max_batches=2)
        fanout = make(s)
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
                while (frame := sess.next_frame(now)) is not None:
                    frames[index].append(frame)
                    unsent[index] += 1
                    if not drain:
                        break
                if writes[index % 4] and unsent[index]:
                    sess.frame_sent()
                    unsent[index] -= 1
            now += advance_ms / 1000
        return frames

    assert run(lambda _s: Fanout()) == run(lambda _s: _NoSharing())
    # With the sessions' limits ticks larger than a batch are shared too, and their rest leaves
    # right after: the same frames as a session that queued the tick and sent while it could.
    assert run(Fanout, drain=True) == run(lambda _s: _NoSharing(), drain=True)


def test_snapshot_state_follows_the_newest_event_time() -> None:
    fanout = Fanout()
    newer = encode(to_message("ExposureChange", exposure_record(totalExposure=2.0)))
    older = encode(to_message("ExposureChange", exposure_record(totalExposure=1.0, eventTime=1)))
    fanout.dispatch([newer.message, older.message], [], T0)
    assert [i.message["data"]["totalExposure"] for i in fanout.snapshot(["exposure-updates"])] == [
        2.0
    ]
    assert fanout.snapshot(["alerts", "routing-metrics"]) == []


def test_lagging_sessions_of_a_group_queue_the_same_encoded_frame() -> None:
    fanout = Fanout()
    ctx = context(settings(queue_max_batches=1), fanout=fanout)
    slow = [session(ctx, channels=("routing-metrics",)) for _ in range(3)]
    first = fanout.dispatch([routing_item(1).message], slow, T0)
    assert [len(d.sessions) for d in first.deliveries] == [3]  # now each has a frame in flight
    second = fanout.dispatch([routing_item(2).message, routing_item(3).message], slow, T0 + 1)
    assert second.deliveries == [] and second.queued == slow
    assert fanout.frames_built == 1 and fanout.messages_encoded == 3
    queued = [s._outbox._chunks[0] for s in slow]
    assert all(chunk is queued[0] for chunk in queued) and [len(s._outbox) for s in slow] == [2] * 3
    for sess in slow:
        sess.frame_sent()
    frames = [s.next_frame(T0 + 1) for s in slow]
    assert frames[0] == "[" + routing_item(2).text + "," + routing_item(3).text + "]"
    assert all(frame is frames[0] for frame in frames)  # the chunk's text, not a new join


def test_an_overflowing_lagging_session_drops_whole_oldest_frames_and_reports_them() -> None:
    fanout = Fanout()
    s = settings(queue_max_batches=1, queue_max_messages=4)
    sess = session(context(s, fanout=fanout), channels=("routing-metrics",))
    fanout.dispatch([routing_item(0).message], [sess], T0)  # in flight
    for tick in range(1, 5):
        items = [routing_item(2 * tick).message, routing_item(2 * tick + 1).message]
        fanout.dispatch(items, [sess], T0 + tick)
    assert len(sess._outbox) == 4 and sess._outbox.chunks == 2  # ticks 3 and 4 remain
    assert [e.event for e in sess.take_events() if e.event == "buffer-full"] == ["buffer-full"]
    sess.frame_sent()
    batch = sess.next_batch(T0 + 5) or []
    assert batch[0]["type"] == "gap" and batch[0]["data"]["dropped"] == 4
    assert batch[0]["data"]["channel"] == "routing-metrics"
    assert volumes(batch[1:]) == [6, 7, 8, 9]
    assert sess.describe()["dropped"] == {"routing-metrics": 4}


@hsettings(max_examples=150, deadline=None)
@given(
    subscriptions=st.lists(CHANNEL_SETS, min_size=1, max_size=4),
    steps=st.lists(STEP, max_size=30),
    batch_max=st.integers(1, 8),
    max_messages=st.integers(1, 12),
    max_bytes=st.integers(300, 4000),
)
def test_lagging_queues_stay_within_limits_and_gaps_account_for_every_dropped_message(
    subscriptions: list[set[str]],
    steps: list[tuple[list[str], int, list[bool]]],
    batch_max: int,
    max_messages: int,
    max_bytes: int,
) -> None:
    """Every message of a session's channels is either received (once, in order) or counted in
    a gap message of its channel; for alerts the gap's seq span is exactly what was dropped."""
    s = settings(batch_max=batch_max, queue_max_messages=max_messages,
                 queue_max_bytes=max_bytes, queue_max_batches=1)  # fmt: skip
    log = AlertLog("e1", capacity=1000)
    fanout = Fanout()
    ctx = context(s, log=log, fanout=fanout)
    sessions = [session(ctx, channels=tuple(sorted(chans))) for chans in subscriptions]
    produced: list[dict[str, int]] = [dict.fromkeys(CHANNELS, 0) for _ in sessions]
    received: list[list[dict[str, Any]]] = [[] for _ in sessions]
    unsent = [0 for _ in sessions]
    now, seq = T0, 0
    for kinds, advance_ms, writes in steps:
        messages, seq = _tick_messages(kinds, log, seq)
        encoded = fanout.encode_all(messages)
        for index, chans in enumerate(subscriptions):
            for item in encoded:
                if item.channel in chans:
                    produced[index][str(item.channel)] += 1
        for delivery in fanout.dispatch(encoded, sessions, now).deliveries:
            for sess in delivery.sessions:
                received[sessions.index(sess)].extend(json.loads(delivery.frame))
                unsent[sessions.index(sess)] += 1
        _check_bounds(sessions, max_messages, max_bytes)
        for index, sess in enumerate(sessions):
            if writes[index % 4] and unsent[index]:
                sess.frame_sent()
                unsent[index] -= 1
            frame = sess.next_frame(now)
            if frame is not None:
                batch = json.loads(frame)
                assert 1 <= len(batch) <= batch_max
                received[index].extend(batch)
                unsent[index] += 1
        _check_bounds(sessions, max_messages, max_bytes)
        now += advance_ms / 1000
    for index, sess in enumerate(sessions):
        for _ in range(unsent[index]):
            sess.frame_sent()
        while (frame := sess.next_frame(now)) is not None or sess.next_send_at(now) is not None:
            received[index].extend(json.loads(frame or "[]"))
            sess.frame_sent()
            now += 1
        assert len(sess._outbox) == 0 and not sess._outbox.in_burst
        got, dropped, alert_seqs = _tally(received[index])
        for chan in CHANNELS:
            assert got[chan] + dropped[chan] == produced[index][chan], chan
        assert alert_seqs == sorted(set(alert_seqs))
        assert sess.describe()["dropped"] == {c: n for c, n in dropped.items() if n}


def _tick_messages(kinds: list[str], log: AlertLog, seq: int) -> tuple[list[Any], int]:
    """One tick's messages of these kinds (alerts appended to ``log`` from ``seq``), and the
    next alert seq."""
    messages: list[Any] = []
    for kind in kinds:
        if kind == "alert":
            messages.append(log.append(seq, alert_record(seq)))
            seq += 1
        elif kind == "routing":
            messages.append(routing_item(len(messages)).message)
        elif kind == "exposure":
            messages.append(to_message("ExposureChange", exposure_record()))
        else:
            messages.append(to_message("LpPerformance", lp_record()))
    return messages, seq


def _check_bounds(sessions: list[ClientSession], max_messages: int, max_bytes: int) -> None:
    for sess in sessions:
        outbox = sess._outbox
        assert len(outbox) <= max_messages and outbox.nbytes <= max_bytes
        assert len(outbox) == sum(1 for _ in outbox)
        assert outbox.nbytes == sum(item.nbytes for item in outbox)


_DATA_CHANNELS = {
    "routing-decision": "routing-metrics",
    "exposure-change": "exposure-updates",
    "lp-metrics": "lp-performance",
}


def _tally(received: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, int], list[int]]:
    """Per channel, the data messages received and those a gap message reported dropped; the
    alerts' seqs in order. Each alert gap's seq span is exactly its count, and comes after
    every alert received before it."""
    got = dict.fromkeys(CHANNELS, 0)
    dropped = dict.fromkeys(CHANNELS, 0)
    alert_seqs: list[int] = []
    for message in received:
        if message["type"] == "gap":
            data = message["data"]
            dropped[data["channel"]] += data["dropped"]
            if data["channel"] == "alerts":
                assert data["lastSeq"] - data["firstSeq"] + 1 == data["dropped"]
                assert all(n < data["firstSeq"] for n in alert_seqs)
        elif message["type"] == "alert":
            got["alerts"] += 1
            alert_seqs.append(message["data"]["seq"])
        elif message["type"] in _DATA_CHANNELS:
            got[_DATA_CHANNELS[message["type"]]] += 1
    return got, dropped, alert_seqs


def test_a_lagging_session_sends_its_queued_group_frames_back_to_back() -> None:
    fanout = Fanout()
    s = settings(batch_max=2, queue_max_batches=1)
    sess = session(context(s, fanout=fanout), channels=("routing-metrics",))
    fanout.dispatch([routing_item(0).message], [sess], T0)  # shared, in flight
    for tick in range(1, 4):
        items = [routing_item(2 * tick).message, routing_item(2 * tick + 1).message]
        fanout.dispatch(items, [sess], T0)
    assert sess.next_frame(T0) is None  # one frame in flight already
    sess.frame_sent()
    got = []
    while (frame := sess.next_frame(T0)) is not None:  # same instant: no interval between
        got.extend(volumes(json.loads(frame)))
        sess.frame_sent()
    assert got == [2, 3, 4, 5, 6, 7]
    assert sess.next_send_at(T0) is None
