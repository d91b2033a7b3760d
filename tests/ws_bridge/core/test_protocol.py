"""Client frame parsing, and the contract messages built from each derived record type,
checked against docs/bridge.md section 1 (field names, types, example frame byte for byte)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers.bridge import (
    T0,
    T0_US,
    alert_record,
    exposure_record,
    lp_record,
    routing_record,
    summary_record,
)
from ws_bridge.core.protocol import (
    CHANNELS,
    MAX_FRAME_BYTES,
    SCHEMA_ROUTES,
    ProtocolError,
    Refresh,
    Replay,
    Subscribe,
    TooLarge,
    Unsubscribe,
    channel_of,
    encode,
    error_message,
    format_timestamp,
    frame_of,
    gap_message,
    parse_client_frame,
    parse_timestamp,
    refreshed_message,
    replay_done_message,
    subscribed_message,
    to_message,
)

EXAMPLE_FRAME = (
    '[{"type":"exposure-change","timestamp":"2026-01-19T10:30:45.123456Z","data":'
    '{"totalExposure":80000.0,"netExposure":80000.0,"exposureLimit":100000.0,'
    '"utilizationPct":80.0,"riskLevel":"medium","bySymbol":{"EURUSD":50000.0,"GBPUSD":30000.0},'
    '"byLP":{"OANDA":80000.0}}}]'
)  # docs/bridge.md section 1, the contract's example frame

OK: list[tuple[str, Any]] = [
    ('{"action":"subscribe","channels":["routing-metrics","alerts"]}',
     Subscribe(("routing-metrics", "alerts"))),
    ('{"action":"unsubscribe","channels":["routing-metrics"]}', Unsubscribe(("routing-metrics",))),
    ('{"action":"subscribe","channels":[]}', Subscribe(())),
    ('{"action":"subscribe","channels":["alerts","alerts"]}', Subscribe(("alerts",))),
    ('{"action":"subscribe","channels":["alerts","news"]}',
     Subscribe(("alerts",), unknown=("news",))),
    ('{"action":"subscribe","channels":["alerts"],"since":41,"epoch":"e1","id":"r1"}',
     Subscribe(("alerts",), since=41, epoch="e1", request_id="r1")),
    ('{"action":"subscribe","channels":["alerts"],"sinceTime":"2026-01-19T10:30:45Z"}',
     Subscribe(("alerts",), since_time="2026-01-19T10:30:45Z")),
    ('{"action":"subscribe","channels":["alerts"],"since":-1}', Subscribe(("alerts",), since=-1)),
    ('{"action":"refresh","token":"a.b.c","id":7}', Refresh("a.b.c", request_id=7)),
    ('{"action":"replay","channel":"alerts","fromTime":"2026-01-19T00:00:00Z",'
     '"toTime":"2026-01-20T00:00:00Z","limit":10}',
     Replay("2026-01-19T00:00:00Z", "2026-01-20T00:00:00Z", 10)),
    ('{"action":"replay","fromTime":"2026-01-19T00:00:00+01:00"}',
     Replay("2026-01-19T00:00:00+01:00")),
    ('{"action":"subscribe","channels":["alerts"],"extra":{"ignored":true}}',
     Subscribe(("alerts",))),
]  # fmt: skip


@pytest.mark.parametrize(("frame", "command"), OK)
def test_valid_frames(frame: str, command: Any) -> None:
    assert parse_client_frame(frame) == command
    assert parse_client_frame(frame.encode()) == ProtocolError(
        "binary-frame", "binary frames are not accepted: send JSON text"
    )


BAD: list[tuple[str | bytes, str, str]] = [
    (b'{"action":"subscribe"}', "binary-frame", "binary"),
    ("{not json", "bad-json", "not valid JSON"),
    ("", "bad-json", "not valid JSON"),
    ("[1,2]", "not-an-object", "an array"),
    ('"subscribe"', "not-an-object", "a string"),
    ("{}", "bad-field", 'missing "action"'),
    ('{"action":5}', "bad-field", '"action" must be a string'),
    ('{"action":"publish"}', "unknown-action", "unknown action 'publish'"),
    ('{"action":"subscribe"}', "bad-field", '"channels" must be an array of strings'),
    ('{"action":"subscribe","channels":"alerts"}', "bad-field", '"channels" must be an array'),
    ('{"action":"subscribe","channels":[1]}', "bad-field", '"channels" must be an array'),
    ('{"action":"subscribe","channels":["alerts"],"since":"5"}', "bad-field", '"since" must be'),
    ('{"action":"subscribe","channels":["alerts"],"since":true}', "bad-field", '"since" must be'),
    ('{"action":"subscribe","channels":["alerts"],"since":-2}', "bad-field", ">= -1"),
    ('{"action":"subscribe","channels":["alerts"],"since":1,"sinceTime":"2026-01-19T00:00:00Z"}',
     "bad-field", "not both"),
    ('{"action":"subscribe","channels":["routing-metrics"],"since":1}',
     "bad-field", "alerts channel only"),
    ('{"action":"subscribe","channels":["alerts"],"sinceTime":"yesterday"}',
     "bad-field", "RFC 3339"),
    ('{"action":"subscribe","channels":["alerts"],"sinceTime":"2026-01-19T00:00:00"}',
     "bad-field", "RFC 3339"),
    ('{"action":"subscribe","channels":["alerts"],"id":[1]}', "bad-field", '"id"'),
    ('{"action":"refresh"}', "bad-field", '"token" must be a non-empty string'),
    ('{"action":"refresh","token":""}', "bad-field", '"token"'),
    ('{"action":"replay","channel":"routing-metrics","fromTime":"2026-01-19T00:00:00Z"}',
     "unknown-channel", "alerts only"),
    ('{"action":"replay"}', "bad-field", '"fromTime"'),
    ('{"action":"replay","fromTime":"2026-01-19T00:00:00Z","toTime":"2026-01-18T00:00:00Z"}',
     "bad-field", "before"),
    ('{"action":"replay","fromTime":"2026-01-19T00:00:00Z","limit":0}', "bad-field", '"limit"'),
    ('{"action":"replay","fromTime":"2026-01-19T00:00:00Z","limit":10001}', "bad-field", '"limit"'),
]  # fmt: skip


@pytest.mark.parametrize(("frame", "code", "says"), BAD)
def test_bad_frames_get_an_error_saying_why(frame: str | bytes, code: str, says: str) -> None:
    result = parse_client_frame(frame)
    assert isinstance(result, ProtocolError) and not isinstance(result, TooLarge)
    assert result.code == code and says in result.message, result.message
    assert result.close_code is None


def test_frames_over_512_bytes_close_with_1009() -> None:
    pad = "x" * MAX_FRAME_BYTES
    for frame in (
        json.dumps({"action": "subscribe", "channels": ["alerts"], "pad": pad}),
        "{" + pad,  # not even JSON
        "é" * 300,  # 600 bytes in UTF-8, 300 characters
        pad.encode() + b"x",
    ):
        result = parse_client_frame(frame)
        assert isinstance(result, TooLarge) and result.close_code == 1009
    exact = json.dumps({"action": "subscribe", "channels": ["alerts"]})
    exact = exact[:-1] + "," + '"p":"' + "x" * (MAX_FRAME_BYTES - len(exact) - 7) + '"}'
    assert len(exact) == MAX_FRAME_BYTES and parse_client_frame(exact) == Subscribe(("alerts",))


def test_a_refresh_frame_may_carry_a_long_token_but_nothing_else_may() -> None:
    token = "eyJ" + "a" * 1500
    assert parse_client_frame(json.dumps({"action": "refresh", "token": token})) == Refresh(token)
    assert isinstance(
        parse_client_frame(json.dumps({"action": "refresh", "token": "a" * 9000})), TooLarge
    )


def test_refresh_repr_hides_the_token() -> None:
    assert "secret-token" not in repr(Refresh("secret-token"))


# -- messages ---------------------------------------------------------------------------------


def test_the_protocol_example_frame_is_reproduced_exactly_from_an_exposure_change_record() -> None:
    record = exposure_record(byBook={}, byCurrency={}, positionCount=0)
    assert frame_of([encode(to_message("ExposureChange", record))]) == EXAMPLE_FRAME


def test_exposure_extras_appear_when_the_record_has_breakdowns() -> None:
    record = exposure_record(
        byBook={"ABOOK": 80000.0}, byCurrency={"EUR": 50000.0}, positionCount=3
    )
    data = to_message("ExposureChange", record)["data"]
    assert list(data) == [
        "totalExposure", "netExposure", "exposureLimit", "utilizationPct", "riskLevel",
        "bySymbol", "byLP", "byBook", "byCurrency", "positionCount",
    ]  # fmt: skip
    assert (data["byBook"], data["byCurrency"], data["positionCount"]) == (
        {"ABOOK": 80000.0}, {"EUR": 50000.0}, 3,
    )  # fmt: skip


def test_routing_decision_message() -> None:
    message = to_message("RoutingDecision", routing_record())
    assert message == {
        "type": "routing-decision",
        "timestamp": "2026-01-19T10:30:45.123456Z",
        "data": {
            "symbol": "EURUSD",
            "side": "BUY",
            "volume": 10000.0,
            "routingDecision": "ABOOK",
            "lpSelected": "OANDA",
            "executionTimeMs": 45.0,
            "spread": 0.0001,
            "slippage": -0.00002,
        },
    }
    bbook = to_message("RoutingDecision", routing_record(routingDecision="BBOOK", lpSelected=None))
    assert bbook["data"]["lpSelected"] == ""  # a string, as the Go hub's field was


def test_lp_metrics_message_has_the_contract_fields_then_the_derived_extras() -> None:
    data = to_message("LpPerformance", lp_record(rollingRejectRate=0.02, fillLatencyP95Ms=88.0))[
        "data"
    ]
    assert list(data)[:8] == [
        "lpName", "status", "avgSpread", "executionQuality", "latencyMs", "quotesPerSecond",
        "rejectRate", "uptime",
    ]  # fmt: skip
    assert data["lpName"] == "OANDA" and data["status"] == "connected" and data["uptime"] == 99.9
    assert data["rollingRejectRate"] == 0.02 and data["fillLatencyP95Ms"] == 88.0
    assert data["observedUptimePct"] is None and data["statusTransitions"] == 0


def test_alert_message_carries_seq_and_epoch() -> None:
    message = to_message("Alert", alert_record(0), seq=41, epoch="e1")
    assert message["type"] == "alert" and message["timestamp"] == "2026-01-19T10:30:45.123456Z"
    assert message["data"] == {
        "id": "20260119-103045-000000",
        "severity": "critical",
        "category": "exposure",
        "title": "Exposure Limit Approaching",
        "message": "Current exposure is at 92.0% of limit",
        "source": "ExposureMonitor",
        "actionItems": ["Review open positions"],
        "state": "RAISED",
        "resolvesId": None,
        "seq": 41,
        "epoch": "e1",
    }
    with pytest.raises(ValueError, match="seq"):
        to_message("Alert", alert_record(0))


def test_routing_summary_is_a_new_type_on_routing_metrics() -> None:
    message = to_message("RoutingSummary", summary_record())
    assert message["type"] == "routing-summary" and message["timestamp"] == format_timestamp(T0_US)
    data = message["data"]
    assert data["windowStart"] == "2026-01-19T10:29:45.123456Z"
    assert data["byLP"] == {"OANDA": 3, "LMAX": 1} and data["count"] == 10
    assert channel_of("RoutingSummary") == "routing-metrics"


def test_every_published_schema_has_a_channel() -> None:
    assert {channel for channel, _ in SCHEMA_ROUTES.values()} == set(CHANNELS)
    with pytest.raises(ValueError):
        channel_of("Quote")
    with pytest.raises(ValueError):
        to_message("Quote", {})


def test_non_finite_numbers_become_null_so_frames_stay_json() -> None:
    data = to_message("ExposureChange", exposure_record(utilizationPct=math.inf))["data"]
    assert data["utilizationPct"] is None
    json.loads(encode({"type": "x", "timestamp": "t", "data": data}).text)


@given(st.integers(min_value=-62_135_596_800_000_000, max_value=253_402_300_799_999_999))
def test_timestamps_round_trip_at_microsecond_precision(micros: int) -> None:
    text = format_timestamp(micros)
    assert text.endswith("Z") and len(text) == 27
    assert parse_timestamp(text) == micros


def test_extension_messages_share_the_envelope() -> None:
    messages = [
        error_message("bad-json", "not valid JSON", now=T0),
        gap_message("alerts", 3, now=T0, first_seq=1, last_seq=3, epoch="e1"),
        gap_message("routing-metrics", 2, now=T0),
        subscribed_message(["alerts", "routing-metrics"], now=T0, request_id="r"),
        refreshed_message(T0 + 60, now=T0),
        replay_done_message(now=T0, count=1, dropped=0, truncated=False, complete=True),
    ]
    for message in messages:
        assert list(message) == ["type", "timestamp", "data"]
        assert message["timestamp"] == "2026-01-19T10:30:45.123456Z"
    assert messages[1]["data"]["firstSeq"] == 1 and "firstSeq" not in messages[2]["data"]
    assert messages[3]["data"] == {"channels": ["routing-metrics", "alerts"], "id": "r"}


@given(st.lists(st.sampled_from(["a", "é", "\u2028", '"', "\\", "x" * 10]), max_size=20))
def test_frame_of_equals_encoding_the_list_at_once(texts: list[str]) -> None:
    messages = [error_message("c", t, now=T0) for t in texts]
    items = [encode(m) for m in messages]
    frame = frame_of(items)
    assert frame == json.dumps(messages, separators=(",", ":"))
    assert json.loads(frame) == messages
    assert all(i.nbytes == len(i.text.encode()) for i in items)


def test_replayed_alerts_are_marked() -> None:
    item = encode(to_message("Alert", alert_record(1), seq=1, epoch="e"), replay=True)
    assert (
        item.replay and item.message["replay"] is True and json.loads(item.text)["replay"] is True
    )
    assert (item.channel, item.seq, item.epoch) == ("alerts", 1, "e")
