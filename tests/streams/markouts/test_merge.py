"""The event-time merge of several sources (streams/markouts/merge.py): order, waiting for a
source that may still have older records, idle sources, bounded buffers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.markouts.merge import EventTimeMerge, release_limit


def test_releases_by_event_time_when_every_source_has_records() -> None:
    m: EventTimeMerge[str] = EventTimeMerge(("a", "b"))
    m.add("a", [(1, "a1"), (5, "a5"), (9, "a9")])
    m.add("b", [(2, "b2"), (3, "b3")])
    # b runs out after b3: a5 and a9 wait, b may still have records older than them
    assert [item for _, item in m.release()] == ["a1", "b2", "b3"]
    assert len(m) == 2
    m.add("b", [(7, "b7")])
    assert [item for _, item in m.release()] == ["a5", "b7"]
    m.caught_up("b", True)
    assert m.release() == [("a", "a9")]


def test_a_source_that_is_caught_up_does_not_hold_the_others() -> None:
    m: EventTimeMerge[str] = EventTimeMerge(("quotes", "decisions"))
    m.add("quotes", [(t, f"q{t}") for t in range(5)])
    assert m.release() == []  # decisions: nothing buffered, not known to be caught up
    m.caught_up("decisions", True)
    assert [item for _, item in m.release()] == [f"q{t}" for t in range(5)]


def test_a_source_keeps_its_offset_order_even_when_its_times_go_back() -> None:
    m: EventTimeMerge[str] = EventTimeMerge(("a", "b"))
    m.add("a", [(10, "a10"), (2, "a2")])
    m.add("b", [(5, "b5")])
    m.caught_up("b", True)
    assert [item for _, item in m.release()] == ["b5", "a10", "a2"]


def test_beyond_max_buffered_records_go_anyway_and_are_counted() -> None:
    m: EventTimeMerge[int] = EventTimeMerge(("a", "b"), max_buffered=3)
    m.add("a", [(t, t) for t in range(5)])
    assert [item for _, item in m.release()] == [0, 1]
    assert m.forced == 2 and len(m) == 3


def test_clear_drops_everything_and_forgets_idle_sources() -> None:
    m: EventTimeMerge[int] = EventTimeMerge(("a", "b"))
    m.caught_up("b", True)
    m.add("a", [(1, 1)])
    m.clear()
    assert len(m) == 0 and m.buffered("a") == 0
    m.add("a", [(2, 2)])
    assert m.release() == []


@given(
    st.lists(st.integers(0, 1000), max_size=40),
    st.lists(st.integers(0, 1000), max_size=40),
    st.lists(st.tuples(st.booleans(), st.integers(1, 10)), max_size=30),
)
def test_any_fetch_pattern_releases_each_source_in_order_and_sorted_when_sources_are(
    a_times: list[int], b_times: list[int], fetches: list[tuple[bool, int]]
) -> None:
    """Each source in offset order, nothing lost or doubled; sorted sources merge sorted."""
    a, b = sorted(a_times), sorted(b_times)
    m: EventTimeMerge[tuple[str, int]] = EventTimeMerge(("a", "b"))
    taken = {"a": 0, "b": 0}
    out: list[tuple[str, tuple[str, int]]] = []
    for from_a, n in [*fetches, (True, 10**6), (False, 10**6)]:
        name, times = ("a", a) if from_a else ("b", b)
        chunk = times[taken[name] : taken[name] + n]
        m.add(name, [(t, (name, t)) for t in chunk])
        taken[name] += len(chunk)
        m.caught_up(name, taken[name] == len(times))
        out += m.release()
    assert len(m) == 0
    assert [t for s, (_, t) in out if s == "a"] == a
    assert [t for s, (_, t) in out if s == "b"] == b
    assert [t for _, (_, t) in out] == sorted(a + b)


def test_the_release_limit_is_the_slowest_partitions_newest_time_plus_the_slack() -> None:
    # quotes read to 100 s, 103 s and 112 s on three partitions catching up; slack 5 s
    s = 1_000_000
    assert release_limit({0: 100 * s, 1: 103 * s, 2: 112 * s}, 5 * s) == 105 * s
    # one of them has read nothing yet: nothing with a time may go
    assert release_limit({0: None, 1: 103 * s}, 5 * s) == -1
    # all caught up (none given): no limit
    assert release_limit({}, 5 * s) is None


def test_release_until_holds_the_newer_records_and_lets_them_go_later() -> None:
    m: EventTimeMerge[str] = EventTimeMerge(("quotes", "decisions"))
    m.add("quotes", [(1, "q1"), (4, "q4"), (9, "q9")])
    m.caught_up("decisions", True)
    assert [item for _, item in m.release(until=4)] == ["q1", "q4"]
    assert m.release(until=8) == []
    assert len(m) == 1
    assert m.release() == [("quotes", "q9")]


def test_release_until_minus_one_lets_only_invalid_records_go() -> None:
    m: EventTimeMerge[str] = EventTimeMerge(("a", "b"))
    m.add("a", [(-1, "bad"), (3, "a3")])
    m.caught_up("b", True)
    assert m.release(until=-1) == [("a", "bad")]


def test_over_max_buffered_the_limit_gives_way() -> None:
    m: EventTimeMerge[str] = EventTimeMerge(("a", "b"), max_buffered=2)
    m.add("a", [(5, "a5"), (6, "a6"), (7, "a7")])
    m.caught_up("b", True)
    assert [item for _, item in m.release(until=0)] == ["a5"]  # back to max_buffered
    assert len(m) == 2


@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 100)), max_size=60),
    st.lists(st.integers(0, 110), min_size=1, max_size=8),
)
def test_released_in_steps_of_any_limits_equals_released_at_once(
    records: list[tuple[int, int]], limits: list[int]
) -> None:
    """Raising the limit step by step (then lifting it) releases the same records in the same
    order as one release without a limit, and never one past the limit of its step."""

    def merge() -> EventTimeMerge[int]:
        m: EventTimeMerge[int] = EventTimeMerge(("a", "b"))
        for i, (src, t) in enumerate(records):
            m.add("ab"[src], [(t, i)])
        m.caught_up("a", True)
        m.caught_up("b", True)
        return m

    whole = merge().release()
    stepped, m = [], merge()
    times = {i: t for i, (_, t) in enumerate(records)}
    for limit in sorted(limits):
        out = m.release(until=limit)
        assert all(times[i] <= limit for _, i in out)
        stepped += out
    stepped += m.release()
    assert stepped == whole
