"""The trading day: realised P&L "today" resets at a configurable local roll time (pure).

FX convention: the day rolls at 17:00 New York time, and the day that starts at the roll is
named after the next calendar date (the roll on Monday 17:00 New York starts Tuesday's trading
day). The zone's daylight-saving rules come from ``zoneinfo``, so the roll is 21:00 UTC in
summer and 22:00 UTC in winter, and a trading day is 23 or 25 hours long on the days the clocks
change. A roll time that does not exist on some date (inside a spring-forward gap) or exists
twice (in a fall-back fold) is resolved as Python does for ``fold=0``: the earlier offset.
Days are ints (``date.toordinal()``) inside; records carry the ISO date (``label``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.settings import ConfigError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
ONE_DAY = timedelta(days=1)
DEFAULT_ROLL = "17:00"
DEFAULT_ZONE = "America/New_York"


def parse_roll(key: str, value: object) -> time:
    """``HH:MM`` (24-hour) or ConfigError naming ``key``."""
    if isinstance(value, str):
        hours, sep, minutes = value.partition(":")
        if sep and len(hours) == 2 and len(minutes) == 2 and (hours + minutes).isdigit():
            h, m = int(hours), int(minutes)
            if h < 24 and m < 60:
                return time(h, m)
    raise ConfigError(f"{key}={value!r}: expected a local time HH:MM, e.g. 17:00")


def parse_zone(key: str, value: object) -> ZoneInfo:
    """An IANA time zone (``America/New_York``) or ConfigError naming ``key``."""
    if not isinstance(value, str) or not value or value.startswith(("/", ".")):
        raise ConfigError(f"{key}={value!r}: expected an IANA time zone, e.g. America/New_York")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"{key}={value!r}: unknown time zone") from exc


class TradingCalendar:
    """Which trading day an event time (microseconds since the epoch, UTC) belongs to.

    The last day looked up is cached as an interval ``[start, end)``, so the usual call (an
    event of the current day) costs two comparisons."""

    __slots__ = ("_day", "_end", "_start", "roll", "zone")

    def __init__(self, roll: str = DEFAULT_ROLL, zone: str = DEFAULT_ZONE) -> None:
        self.roll = parse_roll("risk.day_roll", roll)
        self.zone = parse_zone("risk.day_zone", zone)
        self._start = self._end = self._day = 0

    def __repr__(self) -> str:
        return f"TradingCalendar({self.roll:%H:%M}, {self.zone.key})"

    def roll_instant(self, local_date: date) -> int:
        """The roll on ``local_date`` (the start of the next date's trading day), in micros."""
        local = datetime.combine(local_date, self.roll, tzinfo=self.zone)
        return (local - EPOCH) // MICROSECOND

    def day_of(self, event_time: int) -> int:
        """The trading day (a date ordinal) of an event time in micros."""
        if self._start <= event_time < self._end:
            return self._day
        local = (EPOCH + event_time * MICROSECOND).astimezone(self.zone).date()
        roll = self.roll_instant(local)
        if event_time >= roll:
            day, start, end = local + timedelta(days=1), roll, self.roll_instant(local + ONE_DAY)
        else:
            day, start, end = local, self.roll_instant(local - ONE_DAY), roll
        self._day, self._start, self._end = day.toordinal(), start, end
        return self._day

    def start_of(self, day: int) -> int:
        """When trading day ``day`` starts (micros): the roll of the calendar day before."""
        return self.roll_instant(date.fromordinal(day) - ONE_DAY)

    @staticmethod
    def label(day: int) -> str:
        """The ISO date that names a trading day, as records carry it."""
        return date.fromordinal(day).isoformat()
