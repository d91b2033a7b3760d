"""Building and validating the input events (pure: no I/O).

The producer SDK builds records with these functions before anything is sent, and the stream
processor runs the same ``validate`` on every decoded event, so a rule lives in one place.
Each function returns a record ready for :mod:`schemas.codec` or raises :class:`InvalidEvent`
naming the field (in the schema's camelCase).
"""

from __future__ import annotations

import math
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.errors import StreamsError

Record = dict[str, Any]

SIDES = ("BUY", "SELL")
BOOKS = ("ABOOK", "BBOOK")
LP_STATUSES = ("connected", "disconnected")
SEVERITIES = ("info", "warning", "error", "critical")
CATEGORIES = ("exposure", "lp", "routing", "system")
POSITION_STATUSES = ("OPEN", "CLOSED")

_SYMBOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._#/-]{0,31}")  # used with fullmatch
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


class _Checker:
    """Field checks for one event type; each raises InvalidEvent naming the field."""

    __slots__ = ("event",)

    def __init__(self, event: str) -> None:
        self.event = event

    def fail(self, field: str, problem: str) -> InvalidEvent:
        return InvalidEvent(self.event, field, problem)

    def number(
        self,
        field: str,
        value: Any,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
    ) -> float:
        # Fast path for the common case (plain float/int in range); anything else, including
        # subclasses such as numpy floats, takes the full check below, which is the rule.
        t = type(value)
        if t is float or (t is int and -(2**53) <= value <= 2**53):
            v = float(value)
            if (
                -MAX_MAGNITUDE <= v <= MAX_MAGNITUDE  # finite, and not absurdly large
                and (not positive or v > 0)
                and (minimum is None or v >= minimum)
                and (maximum is None or v <= maximum)
            ):
                return v
        return self._number_slow(field, value, minimum, maximum, positive)

    def _number_slow(
        self,
        field: str,
        value: Any,
        minimum: float | None,
        maximum: float | None,
        positive: bool,
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, f"expected a number, got {type(value).__name__} {value!r}")
        try:
            v = float(value)
        except OverflowError:
            raise self.fail(field, "too large for a double") from None
        if not math.isfinite(v):
            raise self.fail(field, f"must be finite, got {value!r}")
        if abs(v) > MAX_MAGNITUDE:
            raise self.fail(field, f"magnitude above {MAX_MAGNITUDE:g}, got {value!r}")
        if positive and v <= 0:
            raise self.fail(field, f"must be > 0, got {value!r}")
        if minimum is not None and v < minimum:
            raise self.fail(field, f"must be >= {minimum:g}, got {value!r}")
        if maximum is not None and v > maximum:
            raise self.fail(field, f"must be <= {maximum:g}, got {value!r}")
        return v

    def optional_number(self, field: str, value: Any, *, positive: bool = False) -> float | None:
        return None if value is None else self.number(field, value, positive=positive)

    def text(self, field: str, value: Any, *, max_len: int = MAX_NAME) -> str:
        if (
            type(value) is str
            and 0 < len(value) <= max_len
            and value.isascii()
            and not value.isspace()
        ):
            return value
        if not isinstance(value, str):
            raise self.fail(field, f"expected a string, got {type(value).__name__}")
        if not value.strip():
            raise self.fail(field, "must not be empty")
        if len(value) > max_len:
            raise self.fail(field, f"longer than {max_len} characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.fail(field, "not valid Unicode text (lone surrogate)") from None
        return value

    def optional_text(self, field: str, value: Any) -> str | None:
        return None if value is None else self.text(field, value)

    def symbol(self, field: str, value: Any) -> str:
        s = self.text(field, value, max_len=32)
        if not _SYMBOL_RE.fullmatch(s):
            raise self.fail(field, f"{s!r} is not a symbol (letters, digits, . _ # / -)")
        return s

    def choice(self, field: str, value: Any, choices: tuple[str, ...], *, upper: bool) -> str:
        if value in choices and type(value) is str:
            return value
        if not isinstance(value, str):
            raise self.fail(field, f"expected one of {', '.join(choices)}, got {value!r}")
        v = value.upper() if upper else value.lower()
        if v not in choices:
            raise self.fail(field, f"expected one of {', '.join(choices)}, got {value!r}")
        return v

    def event_id(self, value: Any) -> str:
        if value is None:
            return new_event_id()
        return self.text("eventId", value)


def routing_decision(
    *,
    symbol: str,
    side: str,
    volume: float,
    decision: str,
    lp: str | None = None,
    execution_time_ms: float = 0.0,
    spread: float = 0.0,
    slippage: float = 0.0,
    price: float | None = None,
    order_id: str | None = None,
    account_id: str | None = None,
    lp_rejected: bool = False,
    event_id: str | None = None,
    event_time: datetime | int | None = None,
) -> Record:
    c = _Checker("RoutingDecision")
    if type(lp_rejected) is not bool:
        raise c.fail("lpRejected", f"expected true or false, got {lp_rejected!r}")
    book = c.choice("routingDecision", decision, BOOKS, upper=True)
    lp_name = c.optional_text("lpSelected", lp)
    if book == "ABOOK" and lp_name is None:
        raise c.fail("lpSelected", "an ABOOK decision needs the LP it was routed to")
    if book == "BBOOK" and lp_name is not None:
        raise c.fail("lpSelected", f"a BBOOK decision has no LP, got {lp_name!r}")
    return {
        "eventId": c.event_id(event_id),
        "eventTime": to_micros(c.event, event_time),
        "symbol": c.symbol("symbol", symbol),
        "side": c.choice("side", side, SIDES, upper=True),
        "volume": c.number("volume", volume, positive=True),
        "routingDecision": book,
        "lpSelected": lp_name,
        "executionTimeMs": c.number("executionTimeMs", execution_time_ms, minimum=0),
        "spread": c.number("spread", spread, minimum=0),
        "slippage": c.number("slippage", slippage),
        "price": c.optional_number("price", price, positive=True),
        "orderId": c.optional_text("orderId", order_id),
        "accountId": c.optional_text("accountId", account_id),
        "lpRejected": lp_rejected,
    }


def lp_status(
    *,
    lp_name: str,
    status: str,
    avg_spread: float = 0.0,
    execution_quality: float = 1.0,
    latency_ms: float = 0.0,
    quotes_per_second: float = 0.0,
    reject_rate: float = 0.0,
    uptime: float = 100.0,
    event_id: str | None = None,
    event_time: datetime | int | None = None,
) -> Record:
    c = _Checker("LpStatus")
    return {
        "eventId": c.event_id(event_id),
        "eventTime": to_micros(c.event, event_time),
        "lpName": c.text("lpName", lp_name),
        "status": c.choice("status", status, LP_STATUSES, upper=False),
        "avgSpread": c.number("avgSpread", avg_spread, minimum=0),
        "executionQuality": c.number("executionQuality", execution_quality, minimum=0, maximum=1),
        "latencyMs": c.number("latencyMs", latency_ms, minimum=0),
        "quotesPerSecond": c.number("quotesPerSecond", quotes_per_second, minimum=0),
        "rejectRate": c.number("rejectRate", reject_rate, minimum=0, maximum=1),
        "uptime": c.number("uptime", uptime, minimum=0, maximum=100),
    }


def position(
    *,
    position_id: str,
    account_id: str,
    symbol: str,
    side: str,
    volume: float,
    open_price: float,
    book: str,
    version: int,
    lp: str | None = None,
    current_price: float | None = None,
    status: str = "OPEN",
    event_id: str | None = None,
    event_time: datetime | int | None = None,
) -> Record:
    c = _Checker("PositionState")
    book_v = c.choice("book", book, BOOKS, upper=True)
    lp_name = c.optional_text("lp", lp)
    if book_v == "ABOOK" and lp_name is None:
        raise c.fail("lp", "an ABOOK position needs the LP covering it")
    if book_v == "BBOOK" and lp_name is not None:
        raise c.fail("lp", f"a BBOOK position has no LP, got {lp_name!r}")
    status_v = c.choice("status", status, POSITION_STATUSES, upper=True)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_LONG:
        raise c.fail("version", f"expected an integer from 1 to 2^63-1, got {version!r}")
    vol = c.number("volume", volume, minimum=0)
    if status_v == "OPEN" and vol == 0:
        raise c.fail("volume", "an OPEN position needs volume > 0 (send status CLOSED to close)")
    return {
        "eventId": c.event_id(event_id),
        "eventTime": to_micros(c.event, event_time),
        "positionId": c.text("positionId", position_id),
        "version": version,
        "accountId": c.text("accountId", account_id),
        "symbol": c.symbol("symbol", symbol),
        "side": c.choice("side", side, SIDES, upper=True),
        "volume": vol,
        "openPrice": c.number("openPrice", open_price, positive=True),
        "currentPrice": c.optional_number("currentPrice", current_price, positive=True),
        "book": book_v,
        "lp": lp_name,
        "status": status_v,
    }


def quote(
    *,
    symbol: str,
    bid: float,
    ask: float,
    lp: str | None = None,
    event_id: str | None = None,
    event_time: datetime | int | None = None,
) -> Record:
    c = _Checker("Quote")
    bid_v = c.number("bid", bid, positive=True)
    ask_v = c.number("ask", ask, positive=True)
    if ask_v < bid_v:
        raise c.fail("ask", f"ask {ask_v} is below bid {bid_v}")
    return {
        "eventId": c.event_id(event_id),
        "eventTime": to_micros(c.event, event_time),
        "symbol": c.symbol("symbol", symbol),
        "bid": bid_v,
        "ask": ask_v,
        "lp": c.optional_text("lp", lp),
    }


def service_alert(
    *,
    severity: str,
    category: str,
    title: str,
    message: str,
    source: str,
    action_items: Iterable[str] = (),
    event_id: str | None = None,
    event_time: datetime | int | None = None,
) -> Record:
    c = _Checker("ServiceAlert")
    if isinstance(action_items, str | bytes):
        raise c.fail("actionItems", "expected a list of strings, got one string")
    try:
        items = list(action_items)
    except TypeError:
        raise c.fail(
            "actionItems", f"expected a list of strings, got {type(action_items).__name__}"
        ) from None
    if len(items) > MAX_ACTION_ITEMS:
        raise c.fail("actionItems", f"more than {MAX_ACTION_ITEMS} items")
    return {
        "eventId": c.event_id(event_id),
        "eventTime": to_micros(c.event, event_time),
        "severity": c.choice("severity", severity, SEVERITIES, upper=False),
        "category": c.choice("category", category, CATEGORIES, upper=False),
        "title": c.text("title", title, max_len=256),
        "message": c.text("message", message, max_len=MAX_TEXT),
        "source": c.text("source", source),
        "actionItems": [
            c.text(f"actionItems[{i}]", item, max_len=512) for i, item in enumerate(items)
        ],
    }


def _micros_of(value: Any) -> Any:
    """A decoded eventTime (int micros from schemas.codec, or an aware datetime) as int micros;
    anything else is passed on for to_micros to reject."""
    return (value - EPOCH) // ONE_MICRO if isinstance(value, datetime) and value.tzinfo else value


# Re-validation of decoded records (for the stream processor): map the record's camelCase fields
# back onto the builder's arguments and run the same checks. The result is the normalised record.
_REBUILD: dict[str, Callable[[Mapping[str, Any]], Record]] = {
    "RoutingDecision": lambda r: routing_decision(
        symbol=r["symbol"],
        side=r["side"],
        volume=r["volume"],
        decision=r["routingDecision"],
        lp=r.get("lpSelected"),
        execution_time_ms=r["executionTimeMs"],
        spread=r["spread"],
        slippage=r["slippage"],
        price=r.get("price"),
        order_id=r.get("orderId"),
        account_id=r.get("accountId"),
        lp_rejected=r.get("lpRejected", False),
        event_id=r["eventId"],
        event_time=_micros_of(r["eventTime"]),
    ),
    "LpStatus": lambda r: lp_status(
        lp_name=r["lpName"],
        status=r["status"],
        avg_spread=r["avgSpread"],
        execution_quality=r["executionQuality"],
        latency_ms=r["latencyMs"],
        quotes_per_second=r["quotesPerSecond"],
        reject_rate=r["rejectRate"],
        uptime=r["uptime"],
        event_id=r["eventId"],
        event_time=_micros_of(r["eventTime"]),
    ),
    "PositionState": lambda r: position(
        position_id=r["positionId"],
        account_id=r["accountId"],
        symbol=r["symbol"],
        side=r["side"],
        volume=r["volume"],
        open_price=r["openPrice"],
        book=r["book"],
        version=r["version"],
        lp=r.get("lp"),
        current_price=r.get("currentPrice"),
        status=r["status"],
        event_id=r["eventId"],
        event_time=_micros_of(r["eventTime"]),
    ),
    "Quote": lambda r: quote(
        symbol=r["symbol"],
        bid=r["bid"],
        ask=r["ask"],
        lp=r.get("lp"),
        event_id=r["eventId"],
        event_time=_micros_of(r["eventTime"]),
    ),
    "ServiceAlert": lambda r: service_alert(
        severity=r["severity"],
        category=r["category"],
        title=r["title"],
        message=r["message"],
        source=r["source"],
        action_items=r.get("actionItems", ()),
        event_id=r["eventId"],
        event_time=_micros_of(r["eventTime"]),
    ),
}


def validate(schema: str, record: Mapping[str, Any]) -> Record:
    """Check a decoded input event with the same rules the SDK applies before sending."""
    try:
        rebuild = _REBUILD[schema]
    except KeyError:
        raise InvalidEvent(schema, "*", "not an input event type") from None
    try:
        return rebuild(record)
    except KeyError as exc:
        raise InvalidEvent(schema, str(exc.args[0]), "missing") from None
