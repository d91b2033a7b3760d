"""The worker's pipeline without Kafka (streams/worker/pipeline/), driven through its public
methods only: stage 1 (``InputStage``) turns validated input records into internal messages, the
global stage turns those (encoded, as the internal topic holds them) into outputs, and rebuilds
itself from the topic's history, telling its snapshot apart by the Kafka key."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest

from schemas.codec import DecodeError, default_codec
from streams import events
from streams.lp.tracker import LpConfig
from streams.routing.windows import RoutingConfig
from streams.worker.pipeline import (
    GlobalStage,
    InputStage,
    Internal,
    InternalMessageError,
    Output,
    PipelineConfig,
    StateSnapshot,
    decode_input,
    decode_internal,
    parse_input,
    service_alert,
)
from streams.worker.pipeline.records import SNAPSHOT_KEY, service_alert_message
from tests.helpers.exposure import pos

CODEC = default_codec()
S = 1_000_000
T0 = 1_768_818_600 * S  # 2026-01-19T10:30:00Z
NOW = 100.0  # the injected monotonic clock


@dataclass(frozen=True)
class Rec:
    """A record of the internal topic as the global loop reads it (key and value bytes)."""

    key: bytes | None
    value: bytes | None


def kafka(messages: list[Internal]) -> list[Rec]:
    return [Rec(m.key.encode(), m.encode()) for m in messages]


def values(messages: list[Internal]) -> list[bytes]:
    return [m.encode() for m in messages]


def quote(symbol: str, mid: float, t: int = T0) -> dict[str, Any]:
    return events.validate(
        "Quote", events.quote(symbol=symbol, bid=mid - 0.0001, ask=mid + 0.0001, event_time=t)
    )


def decision(
    t: int, *, lp: str | None = "OANDA", rejected: bool = False, ms: float = 10.0
) -> dict[str, Any]:
    record = events.routing_decision(
        symbol="EURUSD",
        side="BUY",
        volume=1000,
        decision="ABOOK" if lp else "BBOOK",
        lp=lp,
        execution_time_ms=ms,
        price=1.085,
        lp_rejected=rejected,
        event_time=t,
    )
    return events.validate("RoutingDecision", record)


def lp_status(t: int, status: str = "connected") -> dict[str, Any]:
    record = events.lp_status(lp_name="OANDA", status=status, latency_ms=12.0, event_time=t)
    return events.validate("LpStatus", record)


def exposures(outputs: list[Output]) -> list[dict[str, Any]]:
    return [o.record for o in outputs if o.topic == "exposure"]


# --- stage 1 ----------------------------------------------------------------------------------


def test_a_batch_gives_one_partial_per_changed_partition_in_partition_order() -> None:
    """One exposure partial per changed partition, then one account partial per changed
    (partition, account)."""
    stage = InputStage(RoutingConfig())
    apply = stage.applier("positions")
    apply(1, pos("a", 1), NOW)
    apply(1, pos("b", 1), NOW)
    apply(0, pos("c", 1), NOW)
    apply(1, pos("a", 1), NOW)  # a redelivery changes nothing
    keys = [m.key for m in stage.take(NOW)]
    assert [k for k in keys if k.startswith("pos:")] == ["pos:0", "pos:1"]
    assert keys == ["pos:0", "pos:1", "acct:0:acc-1", "acct:1:acc-1"]
    assert stage.take(NOW) == [], "taken: nothing changed since"
    apply(0, pos("c", 1), NOW)  # the same event again: no change, no message
    assert stage.take(NOW) == []


def test_positions_of_two_partitions_combine_into_the_ground_truth_exposure() -> None:
    """Partials of two partitions and the mids reach the global stage encoded, as the internal
    topic holds them; exposure is their sum at the mids (USD value of the base currency)."""
    stage, global_stage = InputStage(RoutingConfig()), GlobalStage(PipelineConfig())
    stage.applier("quotes")(0, quote("EURUSD", 1.085), NOW)
    stage.applier("quotes")(2, quote("GBPUSD", 1.27), NOW)
    stage.applier("positions")(0, pos("a", 1, volume=10_000), NOW)
    stage.applier("positions")(1, pos("b", 1, symbol="GBPUSD", volume=20_000), NOW)
    messages = stage.take(NOW)
    assert [m.key for m in messages if not m.key.startswith("acct:")] == [
        "pos:0",
        "pos:1",
        "mids:0",
        "mids:2",
    ]
    (exposure,) = exposures(global_stage.apply_encoded(values(messages), NOW))
    assert exposure["totalExposure"] == pytest.approx(10_000 * 1.085 + 20_000 * 1.27)
    assert exposure["positionCount"] == 2
    # A close in partition 0 and its redelivery: one partial, and exposure drops by its part.
    stage.applier("positions")(0, pos("a", 2, status="CLOSED", volume=0.0), NOW)
    stage.applier("positions")(0, pos("a", 2, status="CLOSED", volume=0.0), NOW)
    later = NOW + 1
    (exposure,) = exposures(global_stage.apply_encoded(values(stage.take(later)), later))
    assert exposure["totalExposure"] == pytest.approx(20_000 * 1.27)


def test_quotes_ignore_an_older_quote_and_an_unchanged_mid() -> None:
    stage = InputStage(RoutingConfig())
    apply = stage.applier("quotes")
    apply(0, quote("EURUSD", 1.085, T0 + 10), NOW)
    (message,) = stage.take(NOW)
    assert message.value["mids"] == {"EURUSD": pytest.approx(1.085)}
    apply(0, quote("EURUSD", 1.2, T0), NOW)  # older than the one we have: a redelivery
    apply(0, quote("EURUSD", 1.085, T0 + 20), NOW)  # newer, but the same mid
    assert stage.take(NOW) == []


def test_a_dropped_positions_partition_is_rebuilt_not_continued() -> None:
    stage = InputStage(RoutingConfig())
    stage.applier("positions")(3, pos("a", 1), NOW)
    stage.take(NOW)
    assert stage.positions.loaded(3)
    stage.drop("positions", 3)
    assert not stage.positions.loaded(3), "given up in a rebalance: rebuilt from Kafka"
    assert stage.positions.remembered_closed() == 0


def test_routing_decisions_give_digests_and_window_deltas() -> None:
    stage = InputStage(RoutingConfig(window_s=1, allowed_lateness_s=0))
    apply = stage.applier("routing_decisions")
    apply(0, decision(T0 + 100_000), NOW)
    apply(0, decision(T0 + 200_000, lp=None), NOW)  # B-book: no digest for the LP tracker
    digest, delta = stage.take(NOW)
    assert digest.key == "dec:OANDA" and digest.value["k"] == "dec"
    assert set(digest.value["r"]) >= {"eventId", "eventTime", "lpSelected", "lpRejected"}
    assert delta.key.startswith(f"route:0:{T0}:") and delta.value["w"] == T0
    assert delta.value["id"] == delta.key, "the key the global stage deletes once closed"


def test_a_late_decision_is_dropped_unless_its_partition_was_given_up() -> None:
    """Stage 1 drops a decision whose window ended before the partition's watermark. A
    partition given up forgets its windows and watermark: if it comes back, it starts
    afresh (and the global stage's merger decides what is late)."""
    stage = InputStage(RoutingConfig(window_s=1, allowed_lateness_s=0))
    apply = stage.applier("routing_decisions")
    apply(0, decision(T0 + 500_000, lp=None), NOW)
    apply(0, decision(T0 + 2_500_000, lp=None), NOW)  # watermark past the first window
    stage.take(NOW)
    apply(0, decision(T0 + 700_000, lp=None), NOW)
    assert stage.take(NOW) == [], "late: its window ended at or before the watermark"
    stage.drop("routing_decisions", 0)
    apply(0, decision(T0 + 700_000, lp=None), NOW)
    (delta,) = stage.take(NOW)
    assert delta.value["w"] == T0


def test_lp_status_becomes_lp_performance_in_the_global_stage() -> None:
    stage, global_stage = InputStage(RoutingConfig()), GlobalStage(PipelineConfig())
    stage.applier("lp_status")(0, lp_status(T0), NOW)
    (message,) = stage.take(NOW)
    assert message.key == "lps:OANDA"
    outputs = global_stage.apply_encoded(values([message]), NOW)
    (perf,) = [o for o in outputs if o.topic == "lp_performance"]
    assert perf.key == "OANDA" and perf.record["latencyMs"] == 12.0


def test_service_alerts_need_no_stage_and_their_id_comes_from_their_cause() -> None:
    record = events.validate(
        "ServiceAlert",
        events.service_alert(
            severity="warning", category="system", title="Disk", message="90%", source="Ops"
        ),
    )
    alert = service_alert(record)
    assert (alert.topic, alert.schema, alert.key) == ("alerts", "Alert", alert.record["id"])
    assert service_alert(record) == alert, "a redelivery gives the same id"
    # Through the global stage (accepted from the internal topic) it is the same alert.
    global_stage = GlobalStage(PipelineConfig())
    encoded = values([service_alert_message(record)])
    assert global_stage.apply_encoded(encoded, NOW) == [alert]
    with pytest.raises(KeyError):
        InputStage(RoutingConfig()).applier("alerts_inbound")


def test_decode_input_gives_the_record_or_the_reason() -> None:
    good = events.quote(symbol="EURUSD", bid=1.0, ask=1.1, event_time=T0)
    assert decode_input(CODEC, "Quote", CODEC.encode("Quote", good)) == parse_input(
        CODEC, "Quote", CODEC.encode("Quote", good)
    )
    assert str(decode_input(CODEC, "Quote", b"not avro")).startswith("not-single-object: ")
    with pytest.raises(DecodeError):
        parse_input(CODEC, "Quote", b"not avro")
    inverted = CODEC.encode("Quote", dict(good, bid=1.2))  # ask below bid: decodes, invalid
    assert str(decode_input(CODEC, "Quote", inverted)).startswith("invalid: ")
    with pytest.raises(events.InvalidEvent):
        parse_input(CODEC, "Quote", inverted)


# --- global stage -----------------------------------------------------------------------------


def test_closed_routing_windows_give_a_summary_and_their_deltas_tombstones_once() -> None:
    config = PipelineConfig(routing=RoutingConfig(window_s=1, allowed_lateness_s=0))
    stage, global_stage = InputStage(config.routing), GlobalStage(config)
    apply = stage.applier("routing_decisions")
    apply(0, decision(T0 + 100_000, lp=None), NOW)
    first = stage.take(NOW)
    apply(0, decision(T0 + 200_000, lp=None), NOW)
    second = stage.take(NOW)
    assert global_stage.apply_encoded(values(first + second), NOW) == []
    apply(0, decision(T0 + 1_500_000, lp=None), NOW)  # the first window closes
    outputs = global_stage.apply_encoded(values(stage.take(NOW)), NOW)
    (summary,) = [o for o in outputs if o.schema == "RoutingSummary"]
    assert summary.record["windowStart"] == T0 and summary.record["count"] == 2
    assert global_stage.take_tombstones() == [m.key for m in first + second]
    assert global_stage.take_tombstones() == []


def test_bad_internal_messages_are_logged_and_the_stage_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    global_stage = GlobalStage(PipelineConfig())
    good = Internal("lps:OANDA", {"k": "lps", "r": lp_status(T0)})
    with caplog.at_level(logging.ERROR, logger="rtx.worker"):
        outputs = global_stage.apply_encoded([b"not json", b"[1]", good.encode()], NOW)
        assert [o.topic for o in outputs] == ["lp_performance"]
        assert global_stage.apply_encoded([b'{"k": "what"}'], NOW) == []
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("global stage: undecodable internal message") == 2
    assert "global stage: cannot apply a batch of internal messages" in messages
    with pytest.raises(ValueError, match="unknown internal message kind"):
        global_stage.on_batch([{"k": "what"}], NOW)


def test_internal_messages_and_snapshots_decode_or_raise_a_state_error() -> None:
    snapshot = StateSnapshot(T0, {"format": 1}, {"open": []})
    message = snapshot.message()
    assert message.key.encode() == SNAPSHOT_KEY and message.value["k"] == "state"
    assert StateSnapshot.decode(message.encode()) == snapshot
    for bad in (b"[]", b'{"x": 1}', b"\xff"):
        with pytest.raises(InternalMessageError):
            decode_internal(bad)
    for bad in (b'{"k": "pos"}', b'{"k": "state", "lp": {}}', b'{"k": "state", "t": "1"}'):
        with pytest.raises(InternalMessageError):
            StateSnapshot.decode(bad)
    assert issubclass(InternalMessageError, ValueError)


def lp_history(config: PipelineConfig) -> tuple[GlobalStage, list[Rec]]:
    """A global stage fed an LP status and 30 decisions (every third rejected), with a
    snapshot after the 25th, and the internal topic's history of the same."""
    stage, global_stage = InputStage(config.routing), GlobalStage(config)
    history: list[Rec] = []

    def feed(messages: list[Internal]) -> None:
        history.extend(kafka(messages))
        global_stage.apply_encoded(values(messages), NOW)

    stage.applier("lp_status")(0, lp_status(T0), NOW)
    feed(stage.take(NOW))
    for i in range(30):
        t = T0 + (i + 1) * S
        stage.applier("routing_decisions")(i % 3, decision(t, rejected=i % 3 == 0), NOW)
        feed([m for m in stage.take(NOW) if m.key.startswith("dec:")])
        if i == 24:
            history.append(Rec(SNAPSHOT_KEY, global_stage.snapshot().message().encode()))
    return global_stage, history


def test_recovery_restores_the_snapshot_found_by_key_and_refills_the_lp_window() -> None:
    """The latest record keyed ``state`` is the snapshot, whatever other values look like; the
    decision digests before it refill the LP windows it leaves out (repeats ignored), the
    messages after it are applied: the rebuilt stage reports what the original does."""
    config = PipelineConfig(lp=LpConfig(rolling_window_s=300, min_decisions=20))
    original, history = lp_history(config)
    # A snapshot's value under another key, after the snapshot, is not the latest snapshot
    # (a search of the values would restore it: no LPs): applied, it is ignored.
    decoy = StateSnapshot(T0, {"format": 1, "lps": {}}, {}).message().encode()
    history.append(Rec(b"lps:decoy", decoy))
    rebuilt, alerts = GlobalStage.recover(config, history, NOW)
    now_micros = T0 + 31 * S
    expected = original.lp.performance("OANDA", now_micros)
    assert expected is not None and expected["rollingRejectRate"] == pytest.approx(10 / 30)
    assert rebuilt.lp.performance("OANDA", now_micros) == expected
    before, after = original.snapshot(), rebuilt.snapshot()
    assert after.lp["lps"] == before.lp["lps"] and after.rules == before.rules
    assert after.lp["counters"]["duplicateDecisions"] == 25, "the refill's repeats, ignored"
    assert all(o.schema == "Alert" for o in alerts), "only alerts are re-sent"


def test_recovery_without_a_snapshot_replays_everything_and_tombstones_are_skipped() -> None:
    config = PipelineConfig(lp=LpConfig(rolling_window_s=300, min_decisions=20))
    original, history = lp_history(config)
    without = [r for r in history if r.key != SNAPSHOT_KEY]
    without.insert(1, Rec(b"route:0:1:1", None))  # a tombstone of a closed window's delta
    rebuilt, _ = GlobalStage.recover(config, without, NOW)
    assert rebuilt.lp.performance("OANDA", T0) == original.lp.performance("OANDA", T0)
