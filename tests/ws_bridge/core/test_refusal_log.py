"""The log limit of refusals (ws_bridge/core/refusal_log.py): a burst, then about a line a second
per route and reason; what is left out is summarised, never lost from the count. No I/O."""

from __future__ import annotations

import math
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from ws_bridge.core.refusal_log import BURST, LINES_PER_S, LeftOut, RefusalLog

KEY = ("/ws/analytics", "bad-signature")
OTHER = ("/metrics", "ip-not-allowed")


def test_the_worked_example_of_the_module_docstring() -> None:
    limit = RefusalLog(burst=2, lines_per_s=1.0)
    got = [limit.admit(KEY, t) for t in (0.0, 0.1, 0.2, 0.3, 1.5)]
    assert [logged for logged, _ in got] == [True, True, False, False, True]
    assert [left for _, left in got] == [None, None, None, None, LeftOut(KEY, 2, 0.2, 0.3)]
    assert limit.flush() == []


def test_keys_have_buckets_of_their_own_and_flush_hands_over_the_rest_once() -> None:
    limit = RefusalLog(burst=1, lines_per_s=0.5)
    assert limit.admit(KEY, 10.0) == (True, None)
    assert limit.admit(KEY, 10.5) == (False, None)
    assert limit.admit(OTHER, 10.6) == (True, None), "another key is not limited by KEY's flood"
    assert limit.admit(OTHER, 10.7) == (False, None)
    assert limit.admit(KEY, 11.0) == (False, None)
    assert limit.flush() == [LeftOut(KEY, 2, 10.5, 11.0), LeftOut(OTHER, 1, 10.7, 10.7)]
    assert limit.flush() == []
    assert limit.admit(KEY, 20.0) == (True, None), "summarised already: nothing comes with it"


def test_the_summary_line_names_the_route_reason_count_and_the_counter() -> None:
    line = LeftOut(KEY, 7, 3.0, 4.25).line()
    assert line.startswith("7 more refusals of /ws/analytics (bad-signature) not logged over 1.2 s")
    assert f"{BURST} lines, then {LINES_PER_S:g}/s" in line
    assert "rtx_bridge_requests_refused_total" in line
    assert LeftOut(KEY, 1, 3.0, 3.0).line().startswith("1 more refusal of ")


@given(
    st.lists(
        st.tuples(st.sampled_from([KEY, OTHER]), st.floats(0, 5, allow_nan=False)), max_size=300
    ),
    st.integers(1, 5),
    st.floats(0.1, 4.0),
)
def test_every_refusal_is_logged_or_summarised_once_and_the_lines_respect_the_bucket(
    steps: list[tuple[tuple[str, str], float]], burst: int, rate: float
) -> None:
    limit = RefusalLog(burst=burst, lines_per_s=rate)
    now = 0.0
    logged: dict[tuple[str, str], list[float]] = {KEY: [], OTHER: []}
    summarised: Counter[tuple[str, str]] = Counter()
    for key, gap in steps:
        now += gap
        ok, left = limit.admit(key, now)
        if ok:
            logged[key].append(now)
        if left is not None:
            assert ok and left.key == key and left.first <= left.last <= now
            summarised[key] += left.count
    for left in limit.flush():
        summarised[left.key] += left.count
    sent = Counter(key for key, _ in steps)
    for key, times in logged.items():
        assert len(times) + summarised[key] == sent[key]
        # A token bucket: over any span of s seconds, at most burst + s * rate lines.
        for i, start in enumerate(times):
            for j in range(i, len(times)):
                assert j - i + 1 <= burst + math.floor((times[j] - start) * rate + 1e-9)
