"""The field checks the generated builders call (pure: no I/O).

Each check takes the event's schema name and the field's schema (camelCase) name, returns the
normalised value or raises :class:`InvalidEvent` naming the field. The messages are part of the
contract: tests, docs and the other SDKs compare them byte for byte.

Each check tries the common case first (a plain value of the right type, in range) and only
then the full rule, which decides; both give the same result for every input.
"""

from __future__ import annotations

import math
import os
import re
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.errors import StreamsError

SYMBOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._#/-]{0,31}")  # used with fullmatch
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICRO = timedelta(microseconds=1)
MAX_MICROS = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z, the last datetime
MAX_LONG = 2**63 - 1
MAX_TEXT = 4096
MAX_NAME = 128
MAX_ACTION_ITEMS = 32
# Largest magnitude of any number (volume, price, spread, time, rate...): far above any real
# instrument, and small enough that the exact-int exposure sums and their USD floats stay
# finite (an ask of 1.8e308 overflowed the global stage: tests/reliability/test_fuzz_decoder.py).
MAX_MAGNITUDE = 1e15
_EXACT_INT = 2**53  # ints up to this size convert to float exactly

Record = dict[str, Any]


class InvalidEvent(StreamsError, ValueError):
    """An event field is missing or out of range. ``field`` is the schema's field name."""

    def __init__(self, event: str, field: str, problem: str) -> None:
        super().__init__(f"{event}.{field}: {problem}")
        self.event = event
        self.field = field
        self.problem = problem


def new_event_id() -> str:
    return str(uuid.UUID(bytes=os.urandom(16), version=4))


def now_micros() -> int:
    return time.time_ns() // 1000


def to_micros(event: str, value: datetime | int | None) -> int:
    """Event time as microseconds since the epoch; None means now. Naive datetimes are refused.
    Exact integer arithmetic: ``timestamp() * 1e6`` loses a microsecond on some later dates."""
    if value is None:
        return now_micros()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidEvent(event, "eventTime", "naive datetime; give a timezone (UTC)")
        value = (value - EPOCH) // ONE_MICRO
    elif isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(event, "eventTime", f"expected datetime or int micros, got {value!r}")
    if not 0 <= value <= MAX_MICROS:
        raise InvalidEvent(
            event, "eventTime", f"{value} is outside 1970-01-01 .. 9999-12-31 (microseconds)"
        )
    return value


def micros_of(value: Any) -> Any:
    """A decoded eventTime (int micros from schemas.codec, or an aware datetime) as int micros;
    anything else is passed on for to_micros to reject."""
    return (value - EPOCH) // ONE_MICRO if isinstance(value, datetime) and value.tzinfo else value


def as_event_id(event: str, value: Any) -> str:
    if value is None:
        return new_event_id()
    return as_text(event, "eventId", value)


def as_number(
    event: str,
    field: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> float:
    # Subclasses such as numpy floats take the full check below, which is the rule.
    t = type(value)
    if t is float or (t is int and -_EXACT_INT <= value <= _EXACT_INT):
        v = float(value)
        if (
            -MAX_MAGNITUDE <= v <= MAX_MAGNITUDE  # finite, and not absurdly large
            and (not positive or v > 0)
            and (minimum is None or v >= minimum)
            and (maximum is None or v <= maximum)
        ):
            return v
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent(event, field, f"expected a number, got {t.__name__} {value!r}")
    try:
        v = float(value)
    except OverflowError:
        raise InvalidEvent(event, field, "too large for a double") from None
    if not math.isfinite(v):
        raise InvalidEvent(event, field, f"must be finite, got {value!r}")
    if abs(v) > MAX_MAGNITUDE:
        raise InvalidEvent(event, field, f"magnitude above {MAX_MAGNITUDE:g}, got {value!r}")
    if positive and v <= 0:
        raise InvalidEvent(event, field, f"must be > 0, got {value!r}")
    if minimum is not None and v < minimum:
        raise InvalidEvent(event, field, f"must be >= {minimum:g}, got {value!r}")
    if maximum is not None and v > maximum:
        raise InvalidEvent(event, field, f"must be <= {maximum:g}, got {value!r}")
    return v


def as_optional_number(event: str, field: str, value: Any, *bounds: Any) -> float | None:
    return None if value is None else as_number(event, field, value, *bounds)


def as_text(event: str, field: str, value: Any, max_len: int = MAX_NAME) -> str:
    if type(value) is str and 0 < len(value) <= max_len and value.isascii() and not value.isspace():
        return value
    if not isinstance(value, str):
        raise InvalidEvent(event, field, f"expected a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidEvent(event, field, "must not be empty")
    if len(value) > max_len:
        raise InvalidEvent(event, field, f"longer than {max_len} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent(event, field, "not valid Unicode text (lone surrogate)") from None
    return value


def as_optional_text(event: str, field: str, value: Any, max_len: int = MAX_NAME) -> str | None:
    return None if value is None else as_text(event, field, value, max_len)


def as_symbol(event: str, field: str, value: Any) -> str:
    s = as_text(event, field, value, 32)
    if not SYMBOL_RE.fullmatch(s):
        raise InvalidEvent(event, field, f"{s!r} is not a symbol (letters, digits, . _ # / -)")
    return s


def as_choice(event: str, field: str, value: Any, choices: tuple[str, ...], upper: bool) -> str:
    """One of ``choices``, after upper- or lower-casing the value."""
    if value in choices and type(value) is str:
        return value
    if not isinstance(value, str):
        raise InvalidEvent(event, field, f"expected one of {', '.join(choices)}, got {value!r}")
    v = value.upper() if upper else value.lower()
    if v not in choices:
        raise InvalidEvent(event, field, f"expected one of {', '.join(choices)}, got {value!r}")
    return v


def as_flag(event: str, field: str, value: Any) -> bool:
    if type(value) is not bool:
        raise InvalidEvent(event, field, f"expected true or false, got {value!r}")
    return value


def as_revision(event: str, field: str, value: Any) -> int:
    """A version number: an int from 1 to the largest Avro long."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LONG:
        raise InvalidEvent(event, field, f"expected an integer from 1 to 2^63-1, got {value!r}")
    return value


def as_text_list(event: str, field: str, value: Any, max_items: int) -> list[Any]:
    """The items of a list of strings, not yet checked one by one (see ``as_text_items``)."""
    if isinstance(value, str | bytes):
        raise InvalidEvent(event, field, "expected a list of strings, got one string")
    try:
        items = list(value)
    except TypeError:
        raise InvalidEvent(
            event, field, f"expected a list of strings, got {type(value).__name__}"
        ) from None
    if len(items) > max_items:
        raise InvalidEvent(event, field, f"more than {max_items} items")
    return items


def as_text_items(event: str, field: str, items: Iterable[Any], max_len: int) -> list[str]:
    return [as_text(event, f"{field}[{i}]", item, max_len) for i, item in enumerate(items)]


# --- rules between two fields: called with each field's name and checked value ---------------


def lp_for_book(
    event: str, book_field: str, book: str, lp_field: str, lp: str | None, noun: str, role: str
) -> None:
    """An ABOOK ``noun`` names its LP (``role``), a BBOOK one has none; errors name the LP."""
    if book == "ABOOK" and lp is None:
        raise InvalidEvent(event, lp_field, f"an ABOOK {noun} needs {role}")
    if book == "BBOOK" and lp is not None:
        raise InvalidEvent(event, lp_field, f"a BBOOK {noun} has no LP, got {lp!r}")


def not_below(event: str, field: str, value: float, floor_field: str, floor: float) -> None:
    if value < floor:
        raise InvalidEvent(event, field, f"{field} {value} is below {floor_field} {floor}")


def open_has_volume(
    event: str, status_field: str, status: str, volume_field: str, volume: float
) -> None:
    """An OPEN position has volume; the error names the volume field."""
    if status == "OPEN" and volume == 0:
        raise InvalidEvent(
            event, volume_field, "an OPEN position needs volume > 0 (send status CLOSED to close)"
        )
