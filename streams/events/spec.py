"""The input events, described once: each event's fields, how each is checked, its topic and key.

Everything else comes from this description: the builders and ``validate``
(``streams/events/builders.py``) and the SDK's typed calls (``streams/sdk/methods.py``) are
generated from it by ``python -m streams.events.codegen``. The ``.avsc`` files in
``schemas/avro`` stay the wire contract; tests/streams/events/test_spec.py checks that this
description and those files agree (field names, order, Avro types, defaults) and that the
generated modules are what the generator writes today.

A field is ``Field(argument, schema name, rule, ...)``, in the order of the ``.avsc``:

- ``default``: the argument's default when it has one; with ``schema_default=True`` the
  ``.avsc`` gives the field the same default, so ``validate`` accepts a record without it.
- ``after``: the argument comes after that other argument (an argument order that predates
  the schema's field order); otherwise arguments follow the fields, event id and time last.

An event's ``check_first`` fields are checked before the others (which are checked in field
order), and each ``Relation`` right after the last of its fields: this order decides which
problem is reported when there are several.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streams.events.checks import (
    MAX_ACTION_ITEMS,
    MAX_NAME,
    MAX_TEXT,
    lp_for_book,
    not_below,
    open_has_volume,
)

SIDES = ("BUY", "SELL")
BOOKS = ("ABOOK", "BBOOK")
LP_STATUSES = ("connected", "disconnected")
SEVERITIES = ("info", "warning", "error", "critical")
CATEGORIES = ("exposure", "lp", "routing", "system")
POSITION_STATUSES = ("OPEN", "CLOSED")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of an argument without one


# --- rules: how a value is checked, and the Avro type it is written as -----------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """A field's check, ``streams.events.checks.<check>(event, field, value, *args)`` (without
    ``field`` when ``named`` is false); ``items``: a list's items are then each checked with
    ``as_text_items(event, field, items, *items)``. ``avro`` is the field's Avro type as the
    ``.avsc`` writes it (without docs), ``annotation`` the argument's Python type."""

    check: str
    avro: Any
    annotation: str
    args: tuple[Any, ...] = ()
    named: bool = True
    items: tuple[Any, ...] | None = None


def text(max_len: int = MAX_NAME, *, nullable: bool = False) -> Rule:
    """Non-blank text of at most ``max_len`` characters (valid Unicode)."""
    if nullable:
        return Rule("as_optional_text", ["null", "string"], "str | None", (max_len,))
    return Rule("as_text", "string", "str", (max_len,))


def number(
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    positive: bool = False,
    nullable: bool = False,
) -> Rule:
    """A finite double of magnitude at most ``MAX_MAGNITUDE``, within the bounds."""
    bounds = (minimum, maximum, positive)
    if nullable:
        return Rule("as_optional_number", ["null", "double"], "float | None", bounds)
    return Rule("as_number", "double", "float", bounds)


def choice(enum: str, symbols: tuple[str, ...], *, upper: bool) -> Rule:
    """One of ``symbols`` (the Avro enum ``enum``); other cases are accepted and normalised."""
    avro = {"type": "enum", "name": enum, "symbols": list(symbols)}
    return Rule("as_choice", avro, "str", (symbols, upper))


def text_list(max_items: int, item_max_len: int) -> Rule:
    avro = {"type": "array", "items": "string"}
    return Rule("as_text_list", avro, "Iterable[str]", (max_items,), items=(item_max_len,))


SYMBOL = Rule("as_symbol", "string", "str")  # letters, digits and . _ # / -, up to 32
FLAG = Rule("as_flag", "boolean", "bool")
REVISION = Rule("as_revision", "long", "int")  # a version number, 1 to 2^63-1
# Any text; None draws a fresh UUID. An aware datetime or int microseconds; None means now.
EVENT_ID = Rule("as_event_id", "string", "str | None", named=False)
EVENT_TIME = Rule(
    "to_micros",
    {"type": "long", "logicalType": "timestamp-micros"},
    "datetime | int | None",
    named=False,
)


@dataclass(frozen=True, slots=True)
class Field:
    arg: str
    avro: str
    rule: Rule
    default: Any = REQUIRED
    schema_default: bool = False
    after: str | None = None


@dataclass(frozen=True, slots=True)
class Relation:
    """A rule between fields: ``check(event, name1, value1, name2, value2, *args)``."""

    check: Callable[..., None]
    fields: tuple[str, ...]
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    name: str  # the schema's name
    builder: str  # the function in streams.events
    method: str  # the Publisher's method
    doc: str  # the method's docstring
    topic: str  # logical topic (streams.topics)
    key: str  # the field that is the Kafka key
    positional: int  # leading arguments the SDK method takes positionally
    fields: tuple[Field, ...]
    check_first: tuple[str, ...] = ()
    relations: tuple[Relation, ...] = ()

    def field(self, avro: str) -> Field:
        return next(f for f in self.fields if f.avro == avro)

    @property
    def arguments(self) -> list[Field]:
        """The builder's arguments in order (see the module docstring)."""
        order = [f for f in self.fields if f not in ENVELOPE]
        for f in [f for f in order if f.after is not None]:
            order.remove(f)
            order.insert(order.index(next(g for g in order if g.arg == f.after)) + 1, f)
        return order + [f for f in self.fields if f in ENVELOPE]


SIDE = choice("Side", SIDES, upper=True)
BOOK = choice("Book", BOOKS, upper=True)
NAME = text()
OPTIONAL_NAME = text(nullable=True)
AT_LEAST_0 = number(minimum=0)
ENVELOPE = (
    Field("event_id", "eventId", EVENT_ID, default=None),
    Field("event_time", "eventTime", EVENT_TIME, default=None),
)

ROUTING_DECISION = Event(
    "RoutingDecision",
    builder="routing_decision",
    method="routing_decision",
    doc="NotifyRoutingDecision: keyed by symbol.",
    topic="routing_decisions",
    key="symbol",
    positional=8,
    fields=(
        *ENVELOPE,
        Field("symbol", "symbol", SYMBOL),
        Field("side", "side", SIDE),
        Field("volume", "volume", number(positive=True)),
        Field("decision", "routingDecision", BOOK),
        Field("lp", "lpSelected", OPTIONAL_NAME, default=None, schema_default=True),
        Field("execution_time_ms", "executionTimeMs", AT_LEAST_0, default=0.0),
        Field("spread", "spread", AT_LEAST_0, default=0.0),
        Field("slippage", "slippage", number(), default=0.0),
        Field(
            "price",
            "price",
            number(positive=True, nullable=True),
            default=None,
            schema_default=True,
        ),
        Field("order_id", "orderId", OPTIONAL_NAME, default=None, schema_default=True),
        Field("account_id", "accountId", OPTIONAL_NAME, default=None, schema_default=True),
        Field("lp_rejected", "lpRejected", FLAG, default=False, schema_default=True),
    ),
    check_first=("lpRejected", "routingDecision", "lpSelected"),
    relations=(
        Relation(
            lp_for_book,
            ("routingDecision", "lpSelected"),
            ("decision", "the LP it was routed to"),
        ),
    ),
)

LP_STATUS = Event(
    "LpStatus",
    builder="lp_status",
    method="lp_status",
    doc="NotifyLPStatusChange: keyed by LP name.",
    topic="lp_status",
    key="lpName",
    positional=8,
    fields=(
        *ENVELOPE,
        Field("lp_name", "lpName", NAME),
        Field("status", "status", choice("LpConnectionStatus", LP_STATUSES, upper=False)),
        Field("avg_spread", "avgSpread", AT_LEAST_0, default=0.0),
        Field("execution_quality", "executionQuality", number(minimum=0, maximum=1), default=1.0),
        Field("latency_ms", "latencyMs", AT_LEAST_0, default=0.0),
        Field("quotes_per_second", "quotesPerSecond", AT_LEAST_0, default=0.0),
        Field("reject_rate", "rejectRate", number(minimum=0, maximum=1), default=0.0),
        Field("uptime", "uptime", number(minimum=0, maximum=100), default=100.0),
    ),
)

POSITION = Event(
    "PositionState",
    builder="position",
    method="position",
    doc="The full current state of one position: keyed by position id (compacted topic).",
    topic="positions",
    key="positionId",
    positional=8,
    fields=(
        *ENVELOPE,
        Field("position_id", "positionId", NAME),
        Field("version", "version", REVISION, after="book"),
        Field("account_id", "accountId", NAME),
        Field("symbol", "symbol", SYMBOL),
        Field("side", "side", SIDE),
        Field("volume", "volume", AT_LEAST_0),
        Field("open_price", "openPrice", number(positive=True)),
        Field(
            "current_price",
            "currentPrice",
            number(positive=True, nullable=True),
            default=None,
            schema_default=True,
            after="lp",
        ),
        Field("book", "book", BOOK),
        Field("lp", "lp", OPTIONAL_NAME, default=None, schema_default=True),
        Field(
            "status",
            "status",
            choice("PositionStatus", POSITION_STATUSES, upper=True),
            default="OPEN",
        ),
        # The position keeper's realised P&L in quote currency (docs/pnl.md, "Realised P&L"):
        # cumulative since the position opened, and the part this change realised.
        Field(
            "realized_pnl",
            "realizedPnl",
            number(nullable=True),
            default=None,
            schema_default=True,
        ),
        Field(
            "realized_pnl_delta",
            "realizedPnlDelta",
            number(nullable=True),
            default=None,
            schema_default=True,
        ),
    ),
    check_first=("book", "lp", "status", "version", "volume"),
    relations=(
        Relation(lp_for_book, ("book", "lp"), ("position", "the LP covering it")),
        Relation(open_has_volume, ("status", "volume")),
    ),
)

QUOTE = Event(
    "Quote",
    builder="quote",
    method="quote",
    doc="A bid/ask quote: keyed by symbol.",
    topic="quotes",
    key="symbol",
    positional=3,
    fields=(
        *ENVELOPE,
        Field("symbol", "symbol", SYMBOL),
        Field("bid", "bid", number(positive=True)),
        Field("ask", "ask", number(positive=True)),
        Field("lp", "lp", OPTIONAL_NAME, default=None, schema_default=True),
    ),
    check_first=("bid", "ask"),
    relations=(Relation(not_below, ("ask", "bid")),),
)

SERVICE_ALERT = Event(
    "ServiceAlert",
    builder="service_alert",
    method="alert",
    doc="NotifyAlert: keyed by source; merged into the persisted alert log downstream.",
    topic="alerts_inbound",
    key="source",
    positional=6,
    fields=(
        *ENVELOPE,
        Field("severity", "severity", choice("AlertSeverity", SEVERITIES, upper=False)),
        Field("category", "category", choice("AlertCategory", CATEGORIES, upper=False)),
        Field("title", "title", text(max_len=256)),
        Field("message", "message", text(max_len=MAX_TEXT)),
        Field("source", "source", NAME),
        Field(
            "action_items",
            "actionItems",
            text_list(MAX_ACTION_ITEMS, item_max_len=512),
            default=(),
            schema_default=True,
        ),
    ),
    # A list's shape is checked here; its items are checked at the field's place.
    check_first=("actionItems",),
)

EVENTS = (ROUTING_DECISION, LP_STATUS, POSITION, QUOTE, SERVICE_ALERT)
