"""Tests of ``streams.events``: the input-event builders and ``validate``.

Each builder either returns a record the codec writes and reads back unchanged, or raises
``InvalidEvent`` naming the offending field in the schema's camelCase.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from schemas.codec import SCHEMA_DIR, default_codec
from streams import events
from streams.events import InvalidEvent
from tests.helpers.strategies import MAX_TIMESTAMP_MICROS, comparable

CODEC = default_codec()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T = datetime(2026, 1, 19, 10, 30, 45, 123456, tzinfo=UTC)
T_MICROS = 1_768_818_645_123_456

# database=None: no .hypothesis directory in the work tree; failures print their example.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

Builder = Callable[..., dict[str, Any]]

# builder name -> (function, schema name, valid keyword arguments with every optional one set)
BUILDERS: dict[str, tuple[Builder, str, dict[str, Any]]] = {
    "routing_decision": (
        events.routing_decision,
        "RoutingDecision",
        {
            "symbol": "EURUSD",
            "side": "BUY",
            "volume": 100_000.0,
            "decision": "ABOOK",
            "lp": "OANDA",
            "execution_time_ms": 12.5,
            "spread": 0.0001,
            "slippage": -0.00002,
            "price": 1.085,
            "order_id": "ord-1",
            "account_id": "acc-1",
            "event_id": "evt-routing-1",
            "event_time": T,
        },
    ),
    "lp_status": (
        events.lp_status,
        "LpStatus",
        {
            "lp_name": "OANDA",
            "status": "connected",
            "avg_spread": 0.00012,
            "execution_quality": 0.95,
            "latency_ms": 25.5,
            "quotes_per_second": 120.0,
            "reject_rate": 0.02,
            "uptime": 99.9,
            "event_id": "evt-lp-1",
            "event_time": T,
        },
    ),
    "position": (
        events.position,
        "PositionState",
        {
            "position_id": "pos-1",
            "account_id": "acc-1",
            "symbol": "GBPUSD",
            "side": "SELL",
            "volume": 10_000.0,
            "open_price": 1.27,
            "book": "ABOOK",
            "version": 3,
            "lp": "OANDA",
            "current_price": 1.2712,
            "status": "OPEN",
            "event_id": "evt-pos-1",
            "event_time": T,
        },
    ),
    "quote": (
        events.quote,
        "Quote",
        {
            "symbol": "EURUSD",
            "bid": 1.08495,
            "ask": 1.08505,
            "lp": "OANDA",
            "event_id": "evt-quote-1",
            "event_time": T,
        },
    ),
    "service_alert": (
        events.service_alert,
        "ServiceAlert",
        {
            "severity": "warning",
            "category": "exposure",
            "title": "Exposure Limit Approaching",
            "message": "Utilization at 80%",
            "source": "AlertEngine",
            "action_items": ["Review open positions", "Consider hedging"],
            "event_id": "evt-alert-1",
            "event_time": T,
        },
    ),
}
REQUIRED = {
    "routing_decision": ["symbol", "side", "volume", "decision", "lp"],  # lp: ABOOK needs it
    "lp_status": ["lp_name", "status"],
    "position": [
        "position_id",
        "account_id",
        "symbol",
        "side",
        "volume",
        "open_price",
        "book",
        "version",
        "lp",
    ],
    "quote": ["symbol", "bid", "ask"],
    "service_alert": ["severity", "category", "title", "message", "source"],
}
RAW = {
    schema: json.loads((SCHEMA_DIR / f"{schema}.avsc").read_text(encoding="utf-8"))
    for _, schema, _ in BUILDERS.values()
}


def build(builder: str, **overrides: Any) -> dict[str, Any]:
    function, _, valid = BUILDERS[builder]
    return function(**{**valid, **overrides})


def round_trip(schema: str, record: dict[str, Any]) -> dict[str, Any]:
    decoded = CODEC.decode(CODEC.encode(schema, record), expect=[schema])
    return decoded.record


# --- valid input ------------------------------------------------------------------------------


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_valid_input_gives_a_record_the_codec_round_trips(builder: str) -> None:
    _, schema, _ = BUILDERS[builder]
    record = build(builder)
    assert set(record) == {f["name"] for f in RAW[schema]["fields"]}
    assert record["eventTime"] == T_MICROS
    assert comparable(RAW[schema], round_trip(schema, record)) == comparable(RAW[schema], record)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_defaults_give_a_fresh_uuid4_event_id_and_the_current_time(builder: str) -> None:
    function, schema, valid = BUILDERS[builder]
    kwargs = {k: valid[k] for k in REQUIRED[builder]}
    before = events.now_micros()
    first, second = function(**kwargs), function(**kwargs)
    after = events.now_micros()
    assert uuid.UUID(first["eventId"]).version == 4
    assert str(uuid.UUID(first["eventId"])) == first["eventId"]  # lowercase, with dashes
    assert first["eventId"] != second["eventId"]
    assert before <= first["eventTime"] <= second["eventTime"] <= after
    CODEC.encode(schema, first)


def test_routing_decision_maps_arguments_onto_contract_fields() -> None:
    record = build("routing_decision", side="sell", decision="abook", volume=5000)
    assert record["side"] == "SELL"
    assert record["routingDecision"] == "ABOOK"
    assert record["lpSelected"] == "OANDA"
    assert record["volume"] == 5000.0 and isinstance(record["volume"], float)
    assert record["executionTimeMs"] == 12.5


def test_bbook_routing_decision_has_no_lp() -> None:
    record = build("routing_decision", decision="BBOOK", lp=None)
    assert record["lpSelected"] is None
    assert round_trip("RoutingDecision", record)["lpSelected"] is None


def test_lp_status_normalises_status_to_lowercase() -> None:
    assert build("lp_status", status="DISCONNECTED")["status"] == "disconnected"


@pytest.mark.parametrize(
    ("builder", "overrides"),
    [
        pytest.param(
            "lp_status", {"reject_rate": 0, "uptime": 0, "execution_quality": 0}, id="lp-0"
        ),
        pytest.param(
            "lp_status", {"reject_rate": 1, "uptime": 100, "execution_quality": 1}, id="lp-1"
        ),
        pytest.param("position", {"status": "CLOSED", "volume": 0}, id="closed-position-volume-0"),
        pytest.param("position", {"book": "BBOOK", "lp": None}, id="bbook-position"),
        pytest.param("quote", {"bid": 1.1, "ask": 1.1}, id="ask-equals-bid"),
        pytest.param("quote", {"symbol": "XAU/USD"}, id="symbol-with-slash"),
        pytest.param("quote", {"symbol": "BRK.B"}, id="symbol-with-dot"),
        pytest.param("quote", {"symbol": "EURUSD#"}, id="symbol-with-hash"),
        pytest.param("quote", {"lp": None}, id="aggregated-quote"),
        pytest.param("service_alert", {"action_items": ()}, id="no-action-items"),
        pytest.param("service_alert", {"action_items": ["a"] * 32}, id="32-action-items"),
        pytest.param(
            "service_alert", {"action_items": (f"step {i}" for i in range(3))}, id="generator-items"
        ),
        pytest.param("routing_decision", {"event_time": 0}, id="epoch-as-int"),
        pytest.param("routing_decision", {"slippage": -5.0}, id="negative-slippage"),
    ],
)
def test_boundary_values_are_accepted(builder: str, overrides: dict[str, Any]) -> None:
    _, schema, _ = BUILDERS[builder]
    record = build(builder, **overrides)
    assert comparable(RAW[schema], round_trip(schema, record)) == comparable(RAW[schema], record)


@pytest.mark.parametrize(
    "when",
    [
        pytest.param(T, id="2026-utc"),
        pytest.param(T.astimezone(timezone(timedelta(hours=2))), id="2026-plus-2h"),
        pytest.param(
            T.astimezone(timezone(timedelta(hours=-5, minutes=-30))), id="2026-minus-5h30"
        ),
        pytest.param(datetime(2040, 3, 4, 4, 54, 26, 868097, tzinfo=UTC), id="2040-utc"),
    ],
)
def test_aware_event_time_becomes_exact_utc_micros(when: datetime) -> None:
    expected = (when - EPOCH) // timedelta(microseconds=1)
    assert build("quote", event_time=when)["eventTime"] == expected


@PROPERTY
@given(
    when=st.datetimes(
        min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - bounds of st.datetimes are naive
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
        timezones=st.builds(
            timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
        ),
    )
)
@example(when=datetime(2040, 3, 4, 4, 54, 26, 868097, tzinfo=UTC))
def test_any_aware_event_time_is_converted_to_micros_without_rounding(when: datetime) -> None:
    """No float arithmetic: the record's micros equal the datetime's exact offset from epoch."""
    expected = (when - EPOCH) // timedelta(microseconds=1)
    assert build("quote", event_time=when)["eventTime"] == expected


# --- invalid input ----------------------------------------------------------------------------

NAN, INF = math.nan, math.inf

INVALID = [
    # routing decision
    ("routing_decision", {"side": "HOLD"}, "side"),
    ("routing_decision", {"side": None}, "side"),
    ("routing_decision", {"side": ""}, "side"),
    ("routing_decision", {"volume": 0}, "volume"),
    ("routing_decision", {"volume": -1.0}, "volume"),
    ("routing_decision", {"volume": NAN}, "volume"),
    ("routing_decision", {"volume": INF}, "volume"),
    ("routing_decision", {"volume": -INF}, "volume"),
    ("routing_decision", {"volume": True}, "volume"),
    ("routing_decision", {"volume": "100"}, "volume"),
    ("routing_decision", {"volume": None}, "volume"),
    ("routing_decision", {"volume": 10**400}, "volume"),
    ("routing_decision", {"decision": "ABOOK", "lp": None}, "lpSelected"),
    ("routing_decision", {"decision": "BBOOK", "lp": "OANDA"}, "lpSelected"),
    ("routing_decision", {"decision": "ABOOK", "lp": ""}, "lpSelected"),
    ("routing_decision", {"decision": "CBOOK"}, "routingDecision"),
    ("routing_decision", {"execution_time_ms": -0.1}, "executionTimeMs"),
    ("routing_decision", {"execution_time_ms": False}, "executionTimeMs"),
    ("routing_decision", {"spread": -0.0001}, "spread"),
    ("routing_decision", {"slippage": NAN}, "slippage"),
    ("routing_decision", {"price": 0}, "price"),
    ("routing_decision", {"order_id": ""}, "orderId"),
    ("routing_decision", {"account_id": "   "}, "accountId"),
    ("routing_decision", {"symbol": ""}, "symbol"),
    ("routing_decision", {"symbol": "EUR USD"}, "symbol"),
    ("routing_decision", {"symbol": "EURUSD\n"}, "symbol"),
    ("routing_decision", {"symbol": "A" * 33}, "symbol"),
    ("routing_decision", {"symbol": 7}, "symbol"),
    ("routing_decision", {"event_id": ""}, "eventId"),
    ("routing_decision", {"event_time": datetime(2026, 1, 19, 10, 30)}, "eventTime"),  # noqa: DTZ001
    ("routing_decision", {"event_time": -1}, "eventTime"),
    ("routing_decision", {"event_time": True}, "eventTime"),
    ("routing_decision", {"event_time": 1.5e15}, "eventTime"),
    ("routing_decision", {"event_time": "2026-01-19T10:30:45Z"}, "eventTime"),
    ("routing_decision", {"event_time": 2**63}, "eventTime"),
    ("routing_decision", {"event_time": MAX_TIMESTAMP_MICROS + 1}, "eventTime"),
    # LP status
    ("lp_status", {"reject_rate": 1.01}, "rejectRate"),
    ("lp_status", {"reject_rate": -0.01}, "rejectRate"),
    ("lp_status", {"uptime": 100.1}, "uptime"),
    ("lp_status", {"uptime": -1}, "uptime"),
    ("lp_status", {"execution_quality": -0.01}, "executionQuality"),
    ("lp_status", {"execution_quality": 1.5}, "executionQuality"),
    ("lp_status", {"avg_spread": -1}, "avgSpread"),
    ("lp_status", {"latency_ms": NAN}, "latencyMs"),
    ("lp_status", {"latency_ms": True}, "latencyMs"),
    ("lp_status", {"quotes_per_second": -1}, "quotesPerSecond"),
    ("lp_status", {"status": "up"}, "status"),
    ("lp_status", {"lp_name": ""}, "lpName"),
    ("lp_status", {"lp_name": "L" * 129}, "lpName"),
    ("lp_status", {"lp_name": "\ud800"}, "lpName"),
    # position
    ("position", {"status": "OPEN", "volume": 0}, "volume"),
    ("position", {"volume": -1}, "volume"),
    ("position", {"version": 0}, "version"),
    ("position", {"version": -3}, "version"),
    ("position", {"version": 1.0}, "version"),
    ("position", {"version": True}, "version"),
    ("position", {"version": "1"}, "version"),
    ("position", {"version": 2**63}, "version"),
    ("position", {"book": "ABOOK", "lp": None}, "lp"),
    ("position", {"book": "BBOOK", "lp": "OANDA"}, "lp"),
    ("position", {"book": "XBOOK"}, "book"),
    ("position", {"open_price": 0}, "openPrice"),
    ("position", {"current_price": -1.0}, "currentPrice"),
    ("position", {"status": "PENDING"}, "status"),
    ("position", {"side": "LONG"}, "side"),
    ("position", {"account_id": ""}, "accountId"),
    ("position", {"position_id": ""}, "positionId"),
    # quote
    ("quote", {"bid": 1.2, "ask": 1.1}, "ask"),
    ("quote", {"bid": 0, "ask": 1.1}, "bid"),
    ("quote", {"bid": NAN}, "bid"),
    ("quote", {"ask": INF}, "ask"),
    ("quote", {"bid": False}, "bid"),
    ("quote", {"lp": ""}, "lp"),
    ("quote", {"symbol": "-EURUSD"}, "symbol"),
    # service alert
    ("service_alert", {"action_items": "Review open positions"}, "actionItems"),
    ("service_alert", {"action_items": None}, "actionItems"),
    ("service_alert", {"action_items": 5}, "actionItems"),
    ("service_alert", {"action_items": ["a"] * 33}, "actionItems"),
    ("service_alert", {"action_items": ["ok", ""]}, "actionItems[1]"),
    ("service_alert", {"action_items": ["ok", 5]}, "actionItems[1]"),
    ("service_alert", {"action_items": ["x" * 513]}, "actionItems[0]"),
    ("service_alert", {"severity": "fatal"}, "severity"),
    ("service_alert", {"severity": None}, "severity"),
    ("service_alert", {"category": "risk"}, "category"),
    ("service_alert", {"title": ""}, "title"),
    ("service_alert", {"title": "t" * 257}, "title"),
    ("service_alert", {"title": "Spike \ud83d"}, "title"),
    ("service_alert", {"message": " "}, "message"),
    ("service_alert", {"message": "m" * 4097}, "message"),
    ("service_alert", {"source": ""}, "source"),
]


def _case_id(builder: str, overrides: dict[str, Any]) -> str:
    def show(v: Any) -> str:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 10**12:
            return f"{'-' if v < 0 else ''}{str(abs(v))[0]}e{len(str(abs(v))) - 1}"
        return repr(v)[:20]

    return f"{builder}:" + ",".join(f"{k}={show(v)}" for k, v in overrides.items())


@pytest.mark.parametrize(
    ("builder", "overrides", "field"),
    [pytest.param(*case, id=_case_id(case[0], case[1])) for case in INVALID],
)
def test_invalid_input_raises_invalid_event_naming_the_field(
    builder: str, overrides: dict[str, Any], field: str
) -> None:
    _, schema, _ = BUILDERS[builder]
    with pytest.raises(InvalidEvent) as err:
        build(builder, **overrides)
    assert err.value.field == field
    assert err.value.event == schema
    assert str(err.value).startswith(f"{schema}.{field}: ")


@pytest.mark.parametrize(
    ("builder", "overrides", "field"),
    [
        ("routing_decision", {"lp_rejected": 1, "decision": "CBOOK", "symbol": ""}, "lpRejected"),
        ("routing_decision", {"decision": "ABOOK", "lp": None, "side": "HOLD"}, "lpSelected"),
        ("routing_decision", {"symbol": "", "volume": -1}, "symbol"),
        ("position", {"book": "ABOOK", "lp": None, "status": "PENDING"}, "lp"),
        ("position", {"status": "OPEN", "volume": 0, "position_id": ""}, "volume"),
        ("position", {"version": 0, "volume": -1, "side": "LONG"}, "version"),
        ("quote", {"bid": 0, "symbol": ""}, "bid"),
        ("quote", {"bid": 2.0, "ask": 1.0, "event_id": ""}, "ask"),
        ("service_alert", {"action_items": "one", "severity": "fatal"}, "actionItems"),
        ("service_alert", {"action_items": ["ok", ""], "title": ""}, "title"),
        ("lp_status", {"uptime": 101, "lp_name": ""}, "lpName"),
    ],
)
def test_with_several_problems_the_first_in_check_order_is_reported(
    builder: str, overrides: dict[str, Any], field: str
) -> None:
    """The order is part of the contract (other SDKs report the same field): the fields in
    the spec's check_first, each relation right after its fields, then the record's order."""
    with pytest.raises(InvalidEvent) as err:
        build(builder, **overrides)
    assert err.value.field == field


def test_invalid_event_is_a_value_error() -> None:
    assert issubclass(InvalidEvent, ValueError)


# --- validate ---------------------------------------------------------------------------------


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_validate_accepts_a_decoded_record_with_int_or_datetime_event_time(builder: str) -> None:
    """The codec decodes eventTime as int micros; a datetime (e.g. from another reader) is
    accepted too and gives the same normalised record."""
    _, schema, _ = BUILDERS[builder]
    record = build(builder)
    decoded = round_trip(schema, record)
    assert type(decoded["eventTime"]) is int
    assert events.validate(schema, decoded) == record
    as_datetime = dict(decoded, eventTime=EPOCH + timedelta(microseconds=decoded["eventTime"]))
    assert events.validate(schema, as_datetime) == record


def test_validate_keeps_the_exact_event_time_of_a_decoded_record() -> None:
    micros = (datetime(2040, 3, 4, 4, 54, 26, 868097, tzinfo=UTC) - EPOCH) // timedelta(
        microseconds=1
    )
    decoded = round_trip("Quote", build("quote", event_time=micros))
    assert events.validate("Quote", decoded)["eventTime"] == micros


@pytest.mark.parametrize(
    ("schema", "builder", "corrupt", "field"),
    [
        pytest.param("RoutingDecision", "routing_decision", {"volume": NAN}, "volume", id="nan"),
        pytest.param("RoutingDecision", "routing_decision", {"side": "HOLD"}, "side", id="side"),
        pytest.param(
            "RoutingDecision", "routing_decision", {"lpSelected": None}, "lpSelected", id="no-lp"
        ),
        pytest.param("LpStatus", "lp_status", {"rejectRate": 2.0}, "rejectRate", id="reject"),
        pytest.param("PositionState", "position", {"version": 0}, "version", id="version"),
        pytest.param("Quote", "quote", {"ask": 1.0, "bid": 2.0}, "ask", id="crossed"),
        pytest.param("ServiceAlert", "service_alert", {"title": ""}, "title", id="title"),
        pytest.param("Quote", "quote", {"eventId": ""}, "eventId", id="event-id"),
    ],
)
def test_validate_rejects_a_corrupted_record_naming_the_field(
    schema: str, builder: str, corrupt: dict[str, Any], field: str
) -> None:
    decoded = round_trip(schema, build(builder))
    with pytest.raises(InvalidEvent) as err:
        events.validate(schema, {**decoded, **corrupt})
    assert err.value.field == field


@pytest.mark.parametrize("missing", ["symbol", "eventId", "eventTime", "bid"])
def test_validate_names_a_missing_field(missing: str) -> None:
    record = build("quote")
    del record[missing]
    with pytest.raises(InvalidEvent) as err:
        events.validate("Quote", record)
    assert err.value.field == missing


def test_validate_refuses_a_schema_that_is_not_an_input_event() -> None:
    with pytest.raises(InvalidEvent) as err:
        events.validate("Alert", {})
    assert err.value.field == "*"


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_validate_is_idempotent_on_builder_output(builder: str) -> None:
    _, schema, _ = BUILDERS[builder]
    record = build(builder)
    assert events.validate(schema, record) == record


# --- properties -------------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
AWARE = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
NAIVE = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1))  # noqa: DTZ001
NUMBER = st.one_of(
    st.floats(),
    st.floats(min_value=-1, max_value=2),
    st.floats(min_value=0, max_value=1e6),
    st.integers(-10, 10**6),
)
OPTIONAL_TEXT = st.one_of(st.none(), st.sampled_from(["OANDA", "LMAX"]), TEXT)


def _choice(*symbols: str) -> st.SearchStrategy[Any]:
    cased = {v for s in symbols for v in (s, s.lower(), s.upper(), s.title())}
    return st.one_of(st.sampled_from(sorted(cased)), TEXT)


EVENT_TIME = st.one_of(st.none(), AWARE, NAIVE, st.integers(-10, MAX_TIMESTAMP_MICROS))
SYMBOL = st.one_of(st.sampled_from(["EURUSD", "XAU/USD", "BRK.B", "EURUSD#"]), TEXT)

# In-range arguments: right types mostly, values on both sides of every limit.
PLAUSIBLE: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "routing_decision": {
        "symbol": SYMBOL,
        "side": _choice("BUY", "SELL"),
        "volume": NUMBER,
        "decision": _choice("ABOOK", "BBOOK"),
        "lp": OPTIONAL_TEXT,
        "execution_time_ms": NUMBER,
        "spread": NUMBER,
        "slippage": NUMBER,
        "price": st.one_of(st.none(), NUMBER),
        "order_id": OPTIONAL_TEXT,
        "account_id": OPTIONAL_TEXT,
        "event_id": st.one_of(st.none(), TEXT),
        "event_time": EVENT_TIME,
    },
    "lp_status": {
        "lp_name": OPTIONAL_TEXT,
        "status": _choice("connected", "disconnected"),
        "avg_spread": NUMBER,
        "execution_quality": NUMBER,
        "latency_ms": NUMBER,
        "quotes_per_second": NUMBER,
        "reject_rate": NUMBER,
        "uptime": st.one_of(NUMBER, st.floats(min_value=99, max_value=101)),
        "event_id": st.one_of(st.none(), TEXT),
        "event_time": EVENT_TIME,
    },
    "position": {
        "position_id": TEXT,
        "account_id": TEXT,
        "symbol": SYMBOL,
        "side": _choice("BUY", "SELL"),
        "volume": NUMBER,
        "open_price": NUMBER,
        "book": _choice("ABOOK", "BBOOK"),
        "version": st.integers(-2, 2**63 - 1),
        "lp": OPTIONAL_TEXT,
        "current_price": st.one_of(st.none(), NUMBER),
        "status": _choice("OPEN", "CLOSED"),
        "event_id": st.one_of(st.none(), TEXT),
        "event_time": EVENT_TIME,
    },
    "quote": {
        "symbol": SYMBOL,
        "bid": NUMBER,
        "ask": NUMBER,
        "lp": OPTIONAL_TEXT,
        "event_id": st.one_of(st.none(), TEXT),
        "event_time": EVENT_TIME,
    },
    "service_alert": {
        "severity": _choice("info", "warning", "error", "critical"),
        "category": _choice("exposure", "lp", "routing", "system"),
        "title": TEXT,
        "message": TEXT,
        "source": TEXT,
        "action_items": st.lists(TEXT, max_size=34),
        "event_id": st.one_of(st.none(), TEXT),
        "event_time": EVENT_TIME,
    },
}
# Values of the wrong kind altogether.
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    st.floats(),
    TEXT,
    st.lists(TEXT, max_size=3),
    AWARE,
    NAIVE,
    st.binary(max_size=4),
)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
@PROPERTY
@given(data=st.data())
def test_builder_raises_nothing_but_invalid_event(builder: str, data: st.DataObject) -> None:
    function, _, _ = BUILDERS[builder]
    kwargs = data.draw(
        st.fixed_dictionaries({k: st.one_of(v, JUNK) for k, v in PLAUSIBLE[builder].items()})
    )
    try:
        function(**kwargs)
    except InvalidEvent as exc:
        assert re.fullmatch(r"[a-z][A-Za-z]*(\[\d+\])?|\*", exc.field)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
@PROPERTY
@given(data=st.data())
def test_whatever_a_builder_accepts_the_codec_round_trips_and_validate_accepts(
    builder: str, data: st.DataObject
) -> None:
    function, schema, _ = BUILDERS[builder]
    kwargs = data.draw(st.fixed_dictionaries(PLAUSIBLE[builder]))
    try:
        record = function(**kwargs)
    except InvalidEvent:
        return
    decoded = round_trip(schema, record)
    assert comparable(RAW[schema], decoded) == comparable(RAW[schema], record)
    # eventTime after validate() is checked exactly, and deterministically, by
    # test_validate_keeps_the_exact_event_time_of_a_decoded_record
    revalidated = events.validate(schema, decoded)
    assert {k: v for k, v in revalidated.items() if k != "eventTime"} == {
        k: v for k, v in record.items() if k != "eventTime"
    }
