"""Tests of ``streams.market``: exact sums, instruments, rates, bases and the shorthand net
open position, the closed-id memory. (The exposure tests check the same functions through
their re-exports from ``streams.exposure``.)"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import market
from streams.exposure import usd as exposure_usd
from streams.market import (
    SCALE,
    ClosedIds,
    ExactSum,
    instrument,
    net_open_position,
    parse_basis,
    scaled,
    usd_rates,
    usd_value,
)
from streams.settings import ConfigError

PROPERTY = settings(max_examples=200, deadline=None, database=None)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
amounts = st.integers(min_value=-(10**18), max_value=10**18)


def test_exposure_keeps_its_names_for_the_moved_functions() -> None:
    """Existing importers of streams.exposure.usd keep working: the very same objects."""
    assert exposure_usd.instrument is market.instrument
    assert exposure_usd.usd_rates is market.usd_rates
    assert exposure_usd.Instrument is market.Instrument
    assert exposure_usd.quote_mid is market.quote_mid


@PROPERTY
@given(st.lists(st.tuples(amounts, finite, finite), max_size=8), st.randoms())
def test_exact_sum_is_the_exact_rational_rounded_once_whatever_the_order(
    terms: list[tuple[int, float, float]], rnd: object
) -> None:
    exact = sum((Fraction(a) * Fraction(x) * Fraction(y) for a, x, y in terms), Fraction(0))
    shuffled = list(terms)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    forward, backward = ExactSum(), ExactSum()
    for a, x, y in terms:
        forward.add(a, x, y)
    for a, x, y in shuffled:
        backward.add(a, x, y)
    assert forward.rounded() == backward.rounded()
    assert forward.rounded() == round(exact)  # Python's round: half to even, like ours
    assert forward.sign() == (exact > 0) - (exact < 0)


def test_exact_sum_rounds_half_to_even_and_prints_clean_decimals() -> None:
    assert ExactSum().add(1, 0.5).rounded() == 0
    assert ExactSum().add(3, 0.5).rounded() == 2
    assert ExactSum().add(-3, 0.5).rounded() == -2
    assert ExactSum().add(100_000 * SCALE, 1.1).value() == 110_000.0
    assert ExactSum().add(5, 1.5).negated().rounded() == -8  # -7.5 -> -8 (even)


def test_scaled_is_exact_and_ties_to_even() -> None:
    assert scaled(1.1) == 1_100_000
    assert scaled(100_000.0, 1.08) == 108_000_000_000
    # 1/128 and 3/128 are exact doubles: 7,812.5 and 23,437.5 millionths, ties to even
    assert (scaled(1 / 128), scaled(3 / 128)) == (7_812, 23_438)
    for x in (2.5e-6, 0.1, 157.123456789, 1e-7):
        assert scaled(x) == round(Fraction(x) * SCALE)


def test_usd_value_converts_each_currency_at_its_rate_and_rounds_once() -> None:
    rates = {"USD": 1.0, "EUR": 1.1, "JPY": 1 / 160}
    amounts_u = {"EUR": 100_000 * SCALE, "JPY": -7_500_000 * SCALE, "USD": 1}
    assert usd_value(amounts_u, rates) == 110_000.0 - 46_875.0 + 0.000001


def test_instrument_and_rates_through_crosses() -> None:
    assert instrument("EURCHF").quote == "CHF"
    mids = {"EURUSD": 1.1, "EURCHF": 0.95, "USDJPY": 160.0}
    insts = {s: instrument(s) for s in mids}
    rates = usd_rates(mids, insts)
    assert rates == {"USD": 1.0, "EUR": 1.1, "JPY": 1 / 160.0, "CHF": 1.1 / 0.95}


def test_parse_basis_accepts_the_three_names_and_names_the_key_otherwise() -> None:
    assert [parse_basis("k", b) for b in market.BASES] == ["bbook-net", "bbook-gross", "gross"]
    assert market.DEFAULT_BASIS == "bbook-net"
    with pytest.raises(ConfigError, match="exposure.basis='net'"):
        parse_basis("exposure.basis", "net")


def test_net_open_position_excludes_the_reporting_currency() -> None:
    """Long EUR 100,000 (110,000 USD) and JPY 7.5 m (46,875 USD), short CHF 20,000 (at 1.1/0.95
    USD) and USD: long 156,875, short 23,157.894737, NOP = the larger."""
    rates = {"USD": 1.0, "EUR": 1.1, "JPY": 1 / 160, "CHF": 1.1 / 0.95}
    legs = {
        "EUR": 100_000 * SCALE,
        "JPY": 7_500_000 * SCALE,
        "CHF": -20_000 * SCALE,
        "USD": -999_999 * SCALE,
        "GBP": 5 * SCALE,  # no rate: left out
    }
    n = net_open_position(legs, rates)
    assert (n.long, n.short, n.nop) == (156_875.0, 23_157.894737, 156_875.0)


def test_closed_ids_forget_by_age_and_by_count_oldest_first() -> None:
    closed = ClosedIds(retention_us=100, max_ids=2)
    closed.remember("a", 3, closed_at=1_000, last_event_time=1_000)
    closed.remember("old", 1, closed_at=10, last_event_time=1_000)  # older than the window
    assert closed.version("a") == 3 and "old" not in closed
    closed.remember("b", 2, closed_at=1_050, last_event_time=1_050)
    closed.remember("c", 2, closed_at=1_060, last_event_time=1_060)
    closed.prune(1_060)
    assert [pid for pid, _, _ in closed.items()] == ["b", "c"]
    closed.prune(1_151)
    assert [pid for pid, _, _ in closed.items()] == ["c"]
    with pytest.raises(ConfigError):
        ClosedIds(retention_us=-1)
