"""Alert history, resume (``since``/``sinceTime``) and time-range replay. The seam between replayed
and live alerts is checked as a property: no duplicate, no gap, whatever the interleaving."""

from __future__ import annotations

import json
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.helpers.bridge import T0, T0_US, alert_record, context, identity, session, settings
from ws_bridge.core.access import ChannelPolicy
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.fanout import Fanout
from ws_bridge.core.protocol import Encoded
from ws_bridge.core.session import ClientSession


def filled_log(count: int, *, capacity: int = 1000, epoch: str = "e1") -> AlertLog:
    log = AlertLog(epoch, capacity=capacity)
    for seq in range(count):
        assert log.append(seq, alert_record(seq)) is not None
    return log


def subscribe(sess: ClientSession, now: float = T0, **fields: Any) -> None:
    frame = json.dumps({"action": "subscribe", "channels": ["alerts"], **fields})
    assert sess.receive(frame, now) is None


def collect(sess: ClientSession, now: float = T0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        batch = sess.next_batch(now)
        if batch is None:
            if sess.next_send_at(now) is None:
                return out
        else:
            out.extend(batch)
            sess.frame_sent()
        now += 1


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [m["data"]["seq"] for m in messages if m["type"] == "alert"]


def test_the_log_keeps_the_newest_entries_and_knows_what_is_gone() -> None:
    log = filled_log(10, capacity=4)
    assert len(log) == 4 and (log.start_seq, log.last_seq) == (6, 9)
    assert log.holds_after(5) and not log.holds_after(4)
    entry = log.after(6)
    assert entry is not None and entry.seq == 7 and log.after(9) is None
    assert log.append(9, alert_record(9)) is None  # a redelivery
    assert log.position_after_time(T0_US + 7_500_000) == (7, True)  # seq 8 is the first after
    assert log.position_after_time(T0_US + 1_500_000) == (5, False)  # seqs 2..5 are gone


def test_the_log_holds_no_more_than_capacity_messages_in_memory() -> None:
    """An evicted alert's message is released at once, not at the next compaction (the soak
    found ~0.1 MiB a minute of evicted alerts still held). Memory is compared with itself in one
    run: the log full, then after five times its capacity more alerts went through it."""
    records = [alert_record(seq) for seq in range(1200)]  # built before measuring
    log = AlertLog("e", capacity=200)
    tracemalloc.start()
    try:
        for seq in range(200):
            log.append(seq, records[seq])
        full, _ = tracemalloc.get_traced_memory()
        for seq in range(200, 1200):
            log.append(seq, records[seq])
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(log) == 200 and log.start_seq == 1000
    # Held before the fix: 1,200 messages (nothing compacted below 1,024 evictions), ~6x.
    assert after < full * 1.3, (full, after)
    entry = log.after(999)
    assert entry is not None and entry.seq == 1000 and entry.encoded.message["data"]


def test_the_log_handles_offsets_with_holes_and_compacts() -> None:
    log = AlertLog("e", capacity=2000)
    for seq in range(0, 6000, 2):  # transaction markers take the odd offsets
        log.append(seq, alert_record(seq // 2))
    assert (log.start_seq, len(log)) == (1999, 2000)  # 1998 was evicted last; 1999 is a hole
    assert log.holds_after(1998) and not log.holds_after(1997)
    entry = log.after(1999)
    assert entry is not None and entry.seq == 2000 and log._head <= 2000


def test_resume_replays_what_came_after_since_then_goes_live() -> None:
    log = filled_log(10)
    fanout = Fanout()
    sess = session(context(log=log, fanout=fanout))
    subscribe(sess, since=6, epoch="e1", id="s1")
    new = log.append(10, alert_record(10))
    assert new is not None
    fanout.dispatch([new], [sess], T0)
    messages = collect(sess)
    assert messages[0]["type"] == "subscribed"
    assert messages[0]["data"] == {
        "channels": ["alerts"],
        "recovered": True,
        "epoch": "e1",
        "resumeAfter": 6,
        "lastSeq": 9,
        "id": "s1",
    }
    assert seqs(messages) == [7, 8, 9, 10]


def test_a_position_that_is_gone_is_reported_and_what_is_left_is_replayed() -> None:
    log = filled_log(10, capacity=3)
    sess = session(context(log=log))
    subscribe(sess, since=2)
    messages = collect(sess)
    assert messages[0]["data"]["recovered"] is False and seqs(messages) == [7, 8, 9]


def test_a_position_in_another_epoch_is_not_recovered() -> None:
    log = filled_log(5, epoch="e2")
    sess = session(context(log=log))
    subscribe(sess, since=3, epoch="e1")
    messages = collect(sess)
    assert messages[0]["data"]["recovered"] is False and seqs(messages) == [0, 1, 2, 3, 4]


def test_since_time_replays_alerts_after_that_time() -> None:
    log = filled_log(5)
    sess = session(context(log=log))
    subscribe(sess, sinceTime="2026-01-19T10:30:47.123456Z")  # the time of seq 2
    messages = collect(sess)
    assert messages[0]["data"]["recovered"] is True and seqs(messages) == [3, 4]


def test_since_beyond_the_log_end_skips_live_alerts_up_to_it() -> None:
    log = filled_log(3)
    fanout = Fanout()
    sess = session(context(log=log, fanout=fanout))
    subscribe(sess, since=4)
    items = [log.append(seq, alert_record(seq)) for seq in (3, 4, 5)]
    fanout.dispatch([i for i in items if i is not None], [sess], T0)
    assert seqs(collect(sess)) == [5]


def test_a_plain_subscribe_gets_live_alerts_only_without_an_ack() -> None:
    log = filled_log(5)
    fanout = Fanout()
    sess = session(context(log=log, fanout=fanout), channels=("alerts",))
    item = log.append(5, alert_record(5))
    assert item is not None
    result = fanout.dispatch([item], [sess], T0)
    frame = json.loads(result.deliveries[0].frame)
    assert [m["type"] for m in frame] == ["alert"] and seqs(frame) == [5]


def test_a_redelivered_alert_is_not_sent_twice() -> None:
    log = filled_log(2)
    sess = session(context(log=log), channels=("alerts",))
    item = log.append(2, alert_record(2))
    assert item is not None
    sess.deliver([item], T0)
    sess.deliver([item], T0)
    assert seqs(collect(sess)) == [2]


def test_a_long_resume_is_paced_by_the_queue_and_loses_nothing() -> None:
    log = filled_log(100)
    sess = session(context(settings(queue_max_messages=5, batch_max=3), log=log))
    subscribe(sess, since=-1)
    assert sess.queued <= 5
    assert seqs(collect(sess)) == list(range(100))


def test_alerts_evicted_before_a_slow_cursor_reads_them_are_reported_as_a_gap() -> None:
    log = filled_log(10, capacity=10)
    sess = session(context(settings(queue_max_messages=2, batch_max=2), log=log))
    subscribe(sess, since=-1)
    first = sess.next_batch(T0) or []
    sess.frame_sent()
    for seq in range(10, 20):  # ten more alerts push 0..9 out of the history
        log.append(seq, alert_record(seq))
    rest = collect(sess, T0 + 1)
    gap = next(m["data"] for m in rest if m["type"] == "gap")
    assert (gap["channel"], gap["epoch"]) == ("alerts", "e1")
    got = seqs(first) + seqs(rest)
    missing = set(range(gap["firstSeq"], gap["lastSeq"] + 1))
    assert sorted(set(got) | missing) == list(range(20)) and not set(got) & missing
    assert gap["dropped"] == len(missing)


@hsettings(max_examples=300, deadline=None)
@given(
    before=st.integers(0, 25),
    since_back=st.integers(0, 30),
    script=st.lists(st.sampled_from(["append", "dispatch", "drain", "redeliver"]), max_size=80),
    subscribe_at=st.integers(0, 80),
    queue=st.sampled_from([2, 3, 5, 256]),
)
def test_resume_seam_has_no_duplicate_and_no_gap(
    before: int, since_back: int, script: list[str], subscribe_at: int, queue: int
) -> None:
    """Alerts are appended to the log when consumed and dispatched at a later tick; the client
    reconnects with ``since`` at any point of that (even between append and dispatch, and while a
    small queue paces the replay); Kafka may redeliver. The client gets every alert after
    ``since`` once, in order; only a full queue may drop some, and a gap message names them."""
    rig = _SeamRig(queue)
    for _ in range(before):
        rig.append()
    rig.flush(T0)
    since = max(-1, before - 1 - since_back)
    now = T0
    for step, op in enumerate([*script, "end"]):
        now += 0.02
        if step == min(subscribe_at, len(script)):
            subscribe(rig.sess, now, since=since, epoch="e1")
        if op == "append":
            rig.append()
        elif op in ("dispatch", "end"):
            rig.flush(now)
        elif op == "redeliver" and rig.dispatched:
            rig.dispatch(now, [rig.dispatched[-1]])
        elif op == "drain":
            rig.messages.extend(rig.sess.next_batch(now) or [])
            rig.sess.frame_sent()
    messages = rig.messages + collect(rig.sess, now + 1)
    received = seqs(messages)
    gaps = [m["data"] for m in messages if m["type"] == "gap"]
    if not gaps:
        assert received == list(range(since + 1, rig.next_seq))
    else:
        assert received == sorted(set(received))
        missing = set(range(since + 1, rig.next_seq)) - set(received)
        for gap in gaps:
            missing -= set(range(gap["firstSeq"], gap["lastSeq"] + 1))
        assert not missing
        assert sum(g["dropped"] for g in gaps) == rig.next_seq - since - 1 - len(received)


class _SeamRig:
    """One session, an alert log and a fanout: alerts are appended to the log when consumed
    (``append``) and dispatched at a later tick (``flush``); what the session got is in
    ``messages``."""

    def __init__(self, queue: int) -> None:
        self.log = AlertLog("e1", capacity=1000)
        self.fanout = Fanout()
        s = settings(queue_max_messages=queue, batch_max=2)
        ctx = context(s, log=self.log, fanout=self.fanout)
        self.sess = ClientSession(identity(), ctx, now=T0)
        self.pending: list[Encoded] = []
        self.dispatched: list[Encoded] = []
        self.messages: list[dict[str, Any]] = []
        self.next_seq = 0

    def append(self) -> None:
        item = self.log.append(self.next_seq, alert_record(self.next_seq))
        assert item is not None
        self.pending.append(item)
        self.next_seq += 1

    def dispatch(self, now: float, items: list[Encoded]) -> None:
        sessions = [self.sess] if self.sess.subscriptions else []
        for delivery in self.fanout.dispatch(items, sessions, now).deliveries:
            self.messages.extend(json.loads(delivery.frame))
            self.sess.frame_sent()

    def flush(self, now: float) -> None:
        """Dispatch what was appended since the last flush."""
        self.dispatch(now, self.pending)
        self.dispatched.extend(self.pending)
        self.pending.clear()


@hsettings(max_examples=100, deadline=None)
@given(
    total=st.integers(1, 60),
    queue=st.integers(1, 6),
    script=st.lists(st.sampled_from(["append", "drain"]), max_size=60),
)
def test_with_a_tiny_queue_every_alert_is_delivered_once_or_reported_in_a_gap(
    total: int, queue: int, script: list[str]
) -> None:
    log = filled_log(total)
    fanout = Fanout()
    sess = session(context(settings(queue_max_messages=queue, batch_max=2), log=log, fanout=fanout))
    subscribe(sess, since=-1)
    messages: list[dict[str, Any]] = []
    seq, now = total, T0
    for op in script:
        now += 0.02
        if op == "append":
            item = log.append(seq, alert_record(seq))
            seq += 1
            assert item is not None
            for delivery in fanout.dispatch([item], [sess], now).deliveries:
                messages.extend(json.loads(delivery.frame))
                sess.frame_sent()
        else:
            messages.extend(sess.next_batch(now) or [])
            sess.frame_sent()
    messages.extend(collect(sess, now + 1))
    got = seqs(messages)
    assert got == sorted(set(got))  # in order, no duplicate
    missing = set(range(seq)) - set(got)
    for gap in (m["data"] for m in messages if m["type"] == "gap"):
        missing -= set(range(gap["firstSeq"], gap["lastSeq"] + 1))
    assert not missing


# -- time-range replay ------------------------------------------------------------------------


def replay(sess: ClientSession, **fields: Any) -> None:
    assert sess.receive(json.dumps({"action": "replay", "channel": "alerts", **fields}), T0) is None


def test_time_range_replay_sends_marked_alerts_then_replay_done() -> None:
    log = filled_log(10)
    sess = session(context(log=log))
    replay(sess, fromTime="2026-01-19T10:30:47Z", toTime="2026-01-19T10:30:51Z", id="q")
    messages = collect(sess)
    alerts = [m for m in messages if m["type"] == "alert"]
    assert seqs(alerts) == [2, 3, 4, 5] and all(m["replay"] is True for m in alerts)
    assert messages[-1] == {
        "type": "replay-done",
        "timestamp": messages[-1]["timestamp"],
        "data": {"channel": "alerts", "count": 4, "dropped": 0, "truncated": False,
                 "complete": True, "id": "q"},
    }  # fmt: skip


def test_replay_limit_truncates_and_a_long_replay_is_paced() -> None:
    log = filled_log(50)
    sess = session(context(settings(queue_max_messages=4, batch_max=3), log=log))
    replay(sess, fromTime="2026-01-19T00:00:00Z", limit=30)
    messages = collect(sess)
    assert seqs(messages) == list(range(30))
    assert messages[-1]["data"]["truncated"] is True and messages[-1]["data"]["dropped"] == 0


def test_replay_does_not_disturb_live_alerts_or_their_seam() -> None:
    log = filled_log(3)
    fanout = Fanout()
    sess = session(context(log=log, fanout=fanout), channels=("alerts",))
    replay(sess, fromTime="2026-01-19T00:00:00Z")
    item = log.append(3, alert_record(3))
    assert item is not None
    fanout.dispatch([item], [sess], T0)
    messages = collect(sess)
    live = [m["data"]["seq"] for m in messages if m["type"] == "alert" and "replay" not in m]
    replayed = [m["data"]["seq"] for m in messages if m.get("replay")]
    assert live == [3] and replayed == [0, 1, 2]  # the range is taken when asked for


def test_replay_refusals() -> None:
    frame = {"fromTime": "2026-01-19T00:00:00Z"}
    no_history = session(context())
    replay(no_history, **frame)
    forbidden = session(
        context(log=filled_log(1), policy=ChannelPolicy({"alerts": ["admin"]})),
        ident=identity(roles=("dealer",)),
    )
    replay(forbidden, **frame)
    busy = session(context(settings(queue_max_messages=1), log=filled_log(5)))
    replay(busy, **frame)
    replay(busy, **frame)
    codes = [
        [m["data"]["code"] for m in sess.next_batch(T0) or [] if m["type"] == "error"]
        for sess in (no_history, forbidden, busy)
    ]
    assert codes == [["replay-unavailable"], ["forbidden"], ["replay-busy"]]


@pytest.mark.parametrize("capacity", [0, 1])
def test_tiny_histories_still_resume_exactly_from_the_last_position(capacity: int) -> None:
    log = filled_log(5, capacity=capacity)
    sess = session(context(log=log))
    subscribe(sess, since=4)
    messages = collect(sess)
    assert messages[0]["data"]["recovered"] is True and seqs(messages) == []
