"""Tests of ``streams.histogram``: bucket error bound, exact merge, nearest-rank percentiles."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streams.histogram import (
    RELATIVE_ERROR,
    Histogram,
    HistogramError,
    bucket_index,
    bucket_value,
    nearest_rank,
    percentile_of_buckets,
    percentiles_of_buckets,
)

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Latencies in the range that matters (0.001 ms .. 10^7 ms), plus exact zeros.
latency = st.one_of(
    st.just(0.0),
    st.floats(min_value=0.001, max_value=1e7, allow_nan=False, allow_infinity=False),
)
latencies = st.lists(latency, max_size=60)
percentile_q = st.one_of(
    st.sampled_from([0, 1, 25, 50, 90, 95, 99, 99.9, 100]),
    st.floats(min_value=0, max_value=100),
)


def exact_percentile(values: list[float], q: float) -> float:
    """Nearest-rank: the value of rank max(1, ceil(q/100 * n)) in the sorted values (q as the
    decimal it prints as)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(Decimal(repr(q)) * len(ordered) / 100))
    return ordered[rank - 1]


def within(estimate: float, exact: float, bound: float = RELATIVE_ERROR) -> bool:
    return abs(estimate - exact) <= bound * exact


# --- buckets ----------------------------------------------------------------------------------


@PROPERTY
@given(st.floats(min_value=5e-324, max_value=1.7e308, allow_nan=False, allow_infinity=False))
@example(0.001)
@example(1e7)
@example(1.0)
@example(0.9999999999999999)
@example(5e-324)
def test_bucket_midpoint_is_within_1_128_of_every_value_in_the_bucket(value: float) -> None:
    """For every positive double, |bucket midpoint - value| <= value / 128 (< 1 %)."""
    mid = bucket_value(bucket_index(value))
    assert abs(mid - value) <= value * RELATIVE_ERROR
    assert RELATIVE_ERROR < 0.01


def test_buckets_are_monotonic_and_powers_of_two_start_a_bucket() -> None:
    """Larger values never fall in a lower bucket; 2**k is the first value of its bucket."""
    values = [0.001 * 1.0007**i for i in range(0, 30_000, 7)]
    indices = [bucket_index(v) for v in values]
    assert indices == sorted(indices)
    for k in range(-12, 26):
        assert bucket_index(2.0**k) != bucket_index(math.nextafter(2.0**k, 0))
        assert bucket_index(2.0**k) == bucket_index(2.0**k * (1 + 1 / 128) * 0.999)


def test_bucket_count_over_the_latency_range_is_small() -> None:
    """0.001 ms .. 10^7 ms needs about 34 powers of two x 64 = ~2200 buckets at most."""
    span = bucket_index(1e7) - bucket_index(0.001)
    assert 2000 < span < 2300


# --- add / exact statistics -------------------------------------------------------------------


def test_exact_count_min_max_sum_and_zero_handling() -> None:
    """Zeros have their own bucket; -0.0 counts as 0.0; count, min, max and sum are exact."""
    h = Histogram.of([0.0, -0.0, 2.5, 0.1, 0.2, 1e7])
    assert h.count == 6
    assert h.zero_count == 2
    assert h.min == 0.0 and math.copysign(1, h.min) == 1.0
    assert h.max == 1e7
    assert h.sum == math.fsum([2.5, 0.1, 0.2, 1e7])
    assert h.mean == float(sum(map(Fraction, [2.5, 0.1, 0.2, 1e7])) / 6)  # rounded once
    assert h.percentile(0) == 0.0
    assert h.percentile(33) == 0.0  # rank 2 of 6 is the second zero
    assert h.percentile(100) == 1e7


def test_sum_is_exact_where_float_addition_is_not() -> None:
    """0.1 + 0.2 + 0.3 in any order sums to the correctly rounded 0.6."""
    a = Histogram.of([0.1, 0.2, 0.3])
    b = Histogram.of([0.3, 0.2, 0.1])
    assert a.sum == b.sum == math.fsum([0.1, 0.2, 0.3]) == 0.6
    assert (0.1 + 0.2) + 0.3 != 0.6  # what a float accumulator would have given


def test_empty_histogram() -> None:
    h = Histogram()
    assert h.count == 0 and h.min is None and h.max is None and h.mean is None
    assert h.sum == 0.0
    assert h.percentile(50) is None


@pytest.mark.parametrize("bad", [-1.0, -1e-300, math.nan, math.inf, -math.inf, True, "1", None])
def test_add_refuses_negative_non_finite_and_non_numbers(bad: object) -> None:
    with pytest.raises(HistogramError):
        Histogram().add(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("q", [-0.1, 100.01, math.nan, True, "50"])
def test_percentile_refuses_q_outside_0_100(q: object) -> None:
    with pytest.raises(HistogramError):
        Histogram.of([1.0]).percentile(q)  # type: ignore[arg-type]
    with pytest.raises(HistogramError):
        Histogram().percentile(q)  # type: ignore[arg-type]


def test_nearest_rank() -> None:
    """max(1, ceil(q/100 * n)), exactly: 95 % of 20 is rank 19, of 21 is rank 20."""
    assert nearest_rank(0, 10) == 1
    assert nearest_rank(50, 10) == 5
    assert nearest_rank(50, 11) == 6
    assert nearest_rank(95, 20) == 19
    assert nearest_rank(95, 21) == 20
    assert nearest_rank(100, 7) == 7
    assert nearest_rank(99.9, 1000) == 999


# --- properties -------------------------------------------------------------------------------


@PROPERTY
@given(st.lists(latency, min_size=1, max_size=200), percentile_q)
@example([1.0, 2.0, 3.0, 4.0], 50)
@example([0.0, 0.0, 5.0], 66.67)
def test_percentile_is_within_1_percent_of_exact_nearest_rank(
    values: list[float], q: float
) -> None:
    h = Histogram.of(values)
    exact = exact_percentile(values, q)
    estimate = h.percentile(q)
    assert estimate is not None
    assert within(estimate, exact)
    assert h.min is not None and h.max is not None and h.min <= estimate <= h.max


@PROPERTY
@given(latencies, latencies, latencies)
def test_merge_is_associative_commutative_and_equals_adding_all(
    a: list[float], b: list[float], c: list[float]
) -> None:
    ha, hb, hc = Histogram.of(a), Histogram.of(b), Histogram.of(c)
    ab_c = ha.copy()
    ab_c.merge(hb)
    ab_c.merge(hc)
    bc = hb.copy()
    bc.merge(hc)
    a_bc = ha.copy()
    a_bc.merge(bc)
    c_b_a = hc.copy()
    c_b_a.merge(hb)
    c_b_a.merge(ha)
    everything = Histogram.of(a + b + c)
    reversed_order = Histogram.of(list(reversed(a + b + c)))
    assert ab_c == a_bc == c_b_a == everything == reversed_order
    assert ab_c.to_record() == everything.to_record()
    assert ha == Histogram.of(a)  # merging into a copy leaves the original alone


@PROPERTY
@given(latencies)
def test_record_round_trips_exactly_through_json(values: list[float]) -> None:
    h = Histogram.of(values)
    text = json.dumps(h.to_record(), sort_keys=True)
    back = Histogram.from_record(json.loads(text))
    assert back == h
    assert back.to_record() == h.to_record()
    assert back.sum == h.sum
    for q in (0, 50, 95, 99, 100):
        assert back.percentile(q) == h.percentile(q)


@PROPERTY
@given(latencies, percentile_q)
def test_percentile_of_buckets_matches_the_histogram_within_the_bound(
    values: list[float], q: float
) -> None:
    """The bucket-only percentile (for rolling windows) is within 1/128 of exact too."""
    h = Histogram.of(values)
    rec = h.to_record()
    buckets = dict(map(tuple, rec["buckets"]))
    estimate = percentile_of_buckets(q, rec["zeroCount"], buckets)
    qs = [q, 99, 0, 50, q, 100]
    assert percentiles_of_buckets(qs, rec["zeroCount"], buckets) == [
        percentile_of_buckets(x, rec["zeroCount"], buckets) for x in qs
    ]
    if not values:
        assert estimate is None
    else:
        assert estimate is not None
        assert within(estimate, exact_percentile(values, q))


@pytest.mark.parametrize(
    "change",
    [
        {"format": 2},
        {"count": 99},
        {"zeroCount": -1},
        {"buckets": [[1, 0]]},
        {"buckets": "x"},
        {"min": -1.0},
        {"max": 0.5},
        {"min": 3.0, "max": 2.0},
        {"sumExact": "1/3"},
        {"sumExact": "-1"},
        {"sumExact": "abc"},
        {"sumExact": 1.5},
    ],
)
def test_from_record_refuses_inconsistent_records(change: dict[str, object]) -> None:
    rec = Histogram.of([0.0, 1.0, 2.0]).to_record()
    rec.update(change)
    with pytest.raises(HistogramError):
        Histogram.from_record(rec)


def test_from_record_of_an_empty_histogram() -> None:
    rec = Histogram().to_record()
    assert rec == {
        "format": 1,
        "count": 0,
        "zeroCount": 0,
        "min": None,
        "max": None,
        "sumExact": "0",
        "buckets": [],
    }
    assert Histogram.from_record(rec) == Histogram()
