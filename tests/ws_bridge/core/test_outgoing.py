"""A session's outgoing side (:mod:`ws_bridge.core.outgoing`): batching, the interval, frames
in flight, the bounded queue and its gap messages. Time is a fake clock."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.helpers.bridge import (
    T0,
    context,
    drain,
    routing_item,
    session,
    settings,
    volumes,
)


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
