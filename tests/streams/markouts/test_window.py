"""Tests of ``streams.markouts.window``: rolling windows by count and time, independent of the
order items arrive in, with exact integer sums."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.markouts.window import (
    FIELDS,
    SCALE,
    RollingKeys,
    SampleWindow,
    SumWindow,
    TradeWindow,
    contribution,
    scaled,
)

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def markout(bps: list[float | None], usd: list[float | None], status: list[str]) -> Any:
    return {"markoutBps": bps, "markoutUsd": usd, "status": status}


def test_contribution_counts_known_unknown_usd_wins_losses_and_ties() -> None:
    c = contribution(
        markout(
            [-1.5, 2.0, 0.0, None, 3e-7],
            [-15.0, None, 0.0, None, 1.0],
            ["KNOWN", "KNOWN", "KNOWN", "TIMED_OUT", "KNOWN"],
        )
    )
    assert len(c) == 5 * FIELDS
    assert c[0:7] == (1, 0, -1_500_000, 1, -15_000_000, 1, 0)  # client won
    assert c[7:14] == (1, 0, 2_000_000, 0, 0, 0, 1)  # client lost, no USD rate
    assert c[14:21] == (1, 0, 0, 1, 0, 0, 0)  # a tie
    assert c[21:28] == (0, 1, 0, 0, 0, 0, 0)  # unknown
    assert c[28:35] == (1, 0, 0, 1, 1_000_000, 0, 0)  # rounds to 0 bps: a tie
    assert all(type(v) is int for v in c)


def test_scaled_rounds_to_the_unit_and_refuses_what_is_not_finite() -> None:
    assert scaled(1.2345674) == 1_234_567 and scaled(-0.0000005) == 0 and scaled(None) is None
    assert scaled(float("inf")) is None and scaled(float("nan")) is None


def test_rolling_keys_keep_the_newest_n_within_the_time_window() -> None:
    keys = RollingKeys(max_items=3, window_us=100)
    for t in (10, 20, 30):
        assert keys.insert(t, f"i{t}", t) == []
    assert keys.insert(40, "i40", 40) == ["i10"]  # count
    assert keys.insert(5, "i5", 40) is None  # older than the 3 kept: outside
    assert keys.expire(125) == ["i20"]  # time: 20 < 125 - 100
    assert keys.insert(24, "i24", 125) is None  # older than the window start
    assert [i for _, i in keys.keys] == ["i30", "i40"]


items = st.lists(
    st.tuples(st.integers(0, 1_000), st.integers(-5, 5), st.integers(-3, 3)),
    min_size=1,
    max_size=40,
    unique_by=lambda x: x[0],
)


@PROPERTY
@given(rows=items, order=st.randoms(use_true_random=False), n=st.integers(1, 10))
def test_the_window_depends_on_the_items_not_their_order(rows: Any, order: Any, n: int) -> None:
    """Any arrival order (the clock being the newest time seen) leaves the same items and
    sums: the newest n at or after clock - 300, summed exactly."""
    data = [(t, f"id{t}", (a, b)) for t, a, b in rows]
    shuffled = list(data)
    order.shuffle(shuffled)
    w = SumWindow(2, n, 300)
    clock = 0
    for t, i, c in shuffled:
        clock = max(clock, t)
        w.add(t, i, c, clock)
    kept = sorted(x for x in data if x[0] >= clock - 300)[-n:]
    assert w.state() == [[t, i, *c] for t, i, c in kept]
    assert w.sums == [sum(c[0] for *_, c in kept), sum(c[1] for *_, c in kept)]
    assert w.add(kept[0][0], kept[0][1], kept[0][2], clock) is False  # a redelivery


def test_trade_window_figures_are_exact_means_of_the_counted_values() -> None:
    w = TradeWindow(horizons=2, max_items=10, window_us=10**9)
    values = [(0.1, 1.0), (0.2, None), (-0.7, -3.0), (None, None)]
    for k, (bps, usd) in enumerate(values):
        status = "KNOWN" if bps is not None else "NO_QUOTE"
        m = markout([bps, 1.0], [usd, 2.0], [status, "KNOWN"])
        assert w.add(k, f"t{k}", contribution(m), k)
    f = w.figures((1_000, 5_000))
    assert f["knownCount"] == [3, 4]
    expected = Fraction(round(0.1 * SCALE) + round(0.2 * SCALE) + round(-0.7 * SCALE), 3 * SCALE)
    assert f["meanMarkoutBps"] == [float(expected), 1.0]
    assert f["meanMarkoutUsd"] == [-1.0, 2.0]  # (1 - 3) / 2: the one without a rate is left out
    assert f["sumMarkoutUsd"] == [-2.0, 8.0]
    assert f["clientFavourPct"] == [100 / 3, 0.0]
    assert (w.wins(0), w.losses(0), w.known(0)) == (1, 2, 3)


def test_sample_window_splits_decisions_by_the_move_and_counts_rejects() -> None:
    w = SampleWindow(max_items=10, window_us=10**9)
    for k, (rejected, adverse) in enumerate(
        [(True, True), (False, True), (True, False), (False, False), (False, None)]
    ):
        w.add_sample(k, f"s{k}", rejected, adverse, k)
    assert tuple(w.counts()) == (2, 1, 2, 1, 1)
    assert w.add_sample(0, "s0", True, True, 4) is False
