"""The slow-down of repeated failed authentications (``AuthFailures``): a bucket per address,
refilled at the configured rate, bounded in memory however many addresses fail."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ws_bridge.core.access import UNKNOWN_ADDRESS, AuthFailures, address_key

T0 = 1_000.0


def test_an_address_may_fail_burst_times_then_waits_for_a_refill() -> None:
    failures = AuthFailures(per_min=6, burst=3)  # one try every 10 s after the first three
    assert failures.retry_after("10.0.0.1", T0) == 0.0
    for _ in range(3):
        assert failures.retry_after("10.0.0.1", T0) == 0.0
        failures.failed("10.0.0.1", T0)
    assert failures.retry_after("10.0.0.1", T0) == pytest.approx(10.0)
    assert failures.retry_after("10.0.0.1", T0 + 4) == pytest.approx(6.0)
    assert failures.retry_after("10.0.0.2", T0) == 0.0  # another address is not slowed
    assert failures.retry_after("10.0.0.1", T0 + 10) == 0.0
    failures.failed("10.0.0.1", T0 + 10)
    assert failures.retry_after("10.0.0.1", T0 + 10) == pytest.approx(10.0)


def test_a_refilled_bucket_is_forgotten() -> None:
    failures = AuthFailures(per_min=60, burst=2)
    failures.failed("10.0.0.1", T0)
    assert len(failures) == 1
    assert failures.retry_after("10.0.0.1", T0 + 0.5) == 0.0 and len(failures) == 1
    assert failures.retry_after("10.0.0.1", T0 + 1) == 0.0 and len(failures) == 0


def test_a_clock_going_backwards_refills_nothing() -> None:
    failures = AuthFailures(per_min=60, burst=1)
    failures.failed("10.0.0.1", T0)
    assert failures.retry_after("10.0.0.1", T0 - 30) == pytest.approx(1.0)
    failures.failed("10.0.0.1", T0 - 30)
    assert failures.retry_after("10.0.0.1", T0) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2:bbbb::9]", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("not-an-address", UNKNOWN_ADDRESS),
        (None, UNKNOWN_ADDRESS),
    ],
)
def test_failures_count_against_an_ipv4_address_or_an_ipv6_64(
    address: str | None, key: str
) -> None:
    assert address_key(address) == key


def test_one_ipv6_host_cannot_escape_by_changing_its_address_in_its_64() -> None:
    failures = AuthFailures(per_min=1, burst=2)
    failures.failed("2001:db8::1", T0)
    failures.failed("2001:db8::2", T0)
    assert failures.retry_after("2001:db8::ffff", T0) > 0
    assert failures.retry_after("2001:db8:0:1::1", T0) == 0.0


def test_the_least_recently_failed_address_is_evicted_first() -> None:
    failures = AuthFailures(per_min=1, burst=1, max_addresses=2)
    failures.failed("10.0.0.1", T0)
    failures.failed("10.0.0.2", T0)
    failures.failed("10.0.0.1", T0)  # 10.0.0.1 failed again: now the most recent
    failures.failed("10.0.0.3", T0)
    assert len(failures) == 2
    assert failures.retry_after("10.0.0.2", T0) == 0.0  # evicted
    assert failures.retry_after("10.0.0.1", T0) > 0 and failures.retry_after("10.0.0.3", T0) > 0


@settings(max_examples=50, deadline=None)
@given(
    addresses=st.lists(st.ip_addresses().map(str), min_size=1, max_size=400),
    limit=st.integers(min_value=1, max_value=50),
)
def test_memory_stays_bounded_however_many_addresses_fail(addresses: list[str], limit: int) -> None:
    """Property: after any sequence of failures, at most ``max_addresses`` entries are held, and
    the address that failed last is always among them (it is slowed down)."""
    failures = AuthFailures(per_min=1, burst=1, max_addresses=limit)
    for n, address in enumerate(addresses):
        failures.failed(address, T0 + n * 0.001)
        assert len(failures) <= limit
    assert failures.retry_after(addresses[-1], T0 + len(addresses) * 0.001) > 0


def test_a_hundred_thousand_addresses_hold_at_most_the_limit() -> None:
    failures = AuthFailures(per_min=10, burst=10, max_addresses=1000)
    for n in range(100_000):
        failures.failed(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", T0)
    assert len(failures) == 1000


@pytest.mark.parametrize(("per_min", "burst", "limit"), [(0, 1, 1), (1, 0, 1), (1, 1, 0)])
def test_bad_limits_are_refused(per_min: float, burst: int, limit: int) -> None:
    with pytest.raises(ValueError):
        AuthFailures(per_min, burst, limit)
