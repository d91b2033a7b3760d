"""Tests of ``streams.risk.day``: the trading day of an event time, rolling at 17:00 New York
by default, around both 2026 clock changes and at the roll instant (docs/pnl.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.risk import RiskConfig, TradingCalendar
from streams.settings import ConfigError
from tests.helpers.risk import EPOCH, micros

NY = TradingCalendar()
US = 1
HOUR = 3_600_000_000


@pytest.mark.parametrize(
    ("day", "start", "end", "hours"),
    [
        ("2026-03-08", "2026-03-07T22:00:00Z", "2026-03-08T21:00:00Z", 23),
        ("2026-03-09", "2026-03-08T21:00:00Z", "2026-03-09T21:00:00Z", 24),
        ("2026-11-01", "2026-10-31T21:00:00Z", "2026-11-01T22:00:00Z", 25),
        ("2026-11-02", "2026-11-01T22:00:00Z", "2026-11-02T22:00:00Z", 24),
        ("2026-01-20", "2026-01-19T22:00:00Z", "2026-01-20T22:00:00Z", 24),
        ("2026-07-01", "2026-06-30T21:00:00Z", "2026-07-01T21:00:00Z", 24),
    ],
)
def test_trading_days_around_the_clock_changes(day: str, start: str, end: str, hours: int) -> None:
    """The day starts at its roll (inclusive) and ends at the next one (exclusive)."""
    t0, t1 = micros(start), micros(end)
    assert NY.label(NY.day_of(t0)) == day
    assert NY.label(NY.day_of(t0 - US)) != day
    assert NY.label(NY.day_of(t1 - US)) == day
    assert NY.label(NY.day_of(t1)) != day
    assert NY.start_of(NY.day_of(t0)) == t0
    assert t1 - t0 == hours * HOUR


def test_the_roll_on_monday_starts_tuesday() -> None:
    monday_1659 = micros("2026-01-19T16:59:59.999999-05:00")
    assert NY.label(NY.day_of(monday_1659)) == "2026-01-19"
    assert NY.label(NY.day_of(monday_1659 + US)) == "2026-01-20"


def test_a_roll_time_in_the_fall_back_fold_never_goes_backwards() -> None:
    """Roll 01:30 on 2026-11-01 (New York): 01:30 happens twice; the first one rolls, and the
    repeated 01:00-01:30 (EST, 06:00-06:30 UTC) stays in the new day."""
    cal = TradingCalendar("01:30")
    first = micros("2026-11-01T05:30:00Z")  # 01:30 EDT
    assert cal.label(cal.day_of(first - US)) == "2026-11-01"
    assert cal.label(cal.day_of(first)) == "2026-11-02"
    assert cal.label(cal.day_of(micros("2026-11-01T06:15:00Z"))) == "2026-11-02"  # 01:15 EST


def test_a_roll_time_in_the_spring_forward_gap_uses_the_offset_before() -> None:
    """Roll 02:30 on 2026-03-08 (New York) does not exist: taken as 02:30 EST = 07:30 UTC."""
    cal = TradingCalendar("02:30")
    assert cal.start_of(cal.day_of(micros("2026-03-08T12:00:00Z"))) == micros(
        "2026-03-08T07:30:00Z"
    )


zones = st.sampled_from(["America/New_York", "Europe/London", "Asia/Tokyo", "Australia/Sydney"])
rolls = st.sampled_from(["00:00", "01:30", "02:30", "17:00", "23:59"])
times = st.integers(micros("2020-01-01T00:00:00Z"), micros("2030-12-31T00:00:00Z"))


@settings(max_examples=300, deadline=None, database=None)
@given(zones, rolls, times, st.integers(0, 3 * 24 * HOUR))
def test_every_time_is_in_the_day_that_starts_before_it(
    zone: str, roll: str, t: int, later: int
) -> None:
    """start_of(day_of(t)) <= t < start_of(day_of(t) + 1); days never go backwards; a day
    starts at the local roll time (or just after a gap)."""
    cal = TradingCalendar(roll, zone)
    day = cal.day_of(t)
    assert cal.start_of(day) <= t < cal.start_of(day + 1)
    assert cal.day_of(t + later) >= day
    tz = ZoneInfo(zone)
    start = (EPOCH + timedelta(microseconds=cal.start_of(day))).astimezone(tz)
    assert start.date() == date.fromordinal(day) - timedelta(days=1)
    if start.strftime("%H:%M") != roll:  # only when the roll time does not exist that day
        wall = datetime.combine(start.date(), time.fromisoformat(roll), tzinfo=tz)
        assert wall.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall.replace(tzinfo=None)


def test_config_defaults_and_errors_name_the_key() -> None:
    config = RiskConfig.from_mapping({})
    assert (config.basis, config.top_n, config.day_roll, config.day_zone) == (
        "bbook-net",
        20,
        "17:00",
        "America/New_York",
    )
    assert RiskConfig.from_mapping({"day_roll": "09:05", "top_n": "5"}).top_n == 5
    for mapping, key in [
        ({"basis": "net"}, "risk.basis"),
        ({"top_n": 0}, "risk.top_n"),
        ({"day_roll": "25:00"}, "risk.day_roll"),
        ({"day_roll": "5pm"}, "risk.day_roll"),
        ({"day_zone": "Mars/Olympus"}, "risk.day_zone"),
        ({"day_zone": "../etc"}, "risk.day_zone"),
        ({"colour": 1}, "risk.colour"),
    ]:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            RiskConfig.from_mapping(mapping)
