"""Tests of ``streams.lp.tracker``: LP status transitions, observed uptime, and the rolling window
of
A-book decisions (reject rate, fill latency percentiles), de-duplication and snapshots."""

from __future__ import annotations

import json
import math
import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import default_codec
from streams import events
from streams.lp.tracker import DECISION_FIELDS, LpConfig, LpStateError, LpTracker
from streams.settings import ConfigError

CODEC = default_codec()
S = 1_000_000
T0 = 1_768_818_600 * S  # 2026-01-19T10:30:00Z
PERFORMANCE_FIELDS = [f["name"] for f in CODEC.schema("LpPerformance").parsed["fields"]]

PROPERTY = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Record = dict[str, Any]


def status(
    t: int, state: str = "connected", *, lp: str = "OANDA", event_id: str | None = None, **kw: Any
) -> Record:
    return events.lp_status(
        lp_name=lp,
        status=state,
        avg_spread=kw.get("avg_spread", 0.0001),
        execution_quality=kw.get("execution_quality", 0.95),
        latency_ms=kw.get("latency_ms", 12.0),
        quotes_per_second=kw.get("quotes_per_second", 150.0),
        reject_rate=kw.get("reject_rate", 0.01),
        uptime=kw.get("uptime", 99.5),
        event_id=event_id or f"s-{lp}-{t}-{state}",
        event_time=t,
    )


def dec(
    t: int,
    event_id: str,
    *,
    lp: str | None = "OANDA",
    rejected: bool = False,
    exec_ms: float = 10.0,
) -> Record:
    """A routing decision, forwarded compactly (only the fields the tracker reads)."""
    full = events.routing_decision(
        symbol="EURUSD",
        side="SELL",
        volume=10_000.0,
        decision="ABOOK" if lp else "BBOOK",
        lp=lp,
        execution_time_ms=exec_ms,
        spread=0.0001,
        slippage=0.0,
        lp_rejected=rejected,
        event_id=event_id,
        event_time=t,
    )
    return {k: full[k] for k in DECISION_FIELDS}


def encodes(perf: Record | None) -> Record:
    assert perf is not None
    assert list(perf) == PERFORMANCE_FIELDS
    CODEC.encode("LpPerformance", perf)
    return perf


def exact_rank(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(Decimal(q) * len(ordered) / 100)) - 1]


# --- status: reported metrics, transitions, uptime --------------------------------------------


def test_transitions_and_observed_uptime_worked_example() -> None:
    """connected at 0 s, disconnected at 60 s, connected at 90 s; read at 120 s:
    connected 60 + 30 = 90 s of 120 s observed = 75 %, 2 transitions."""
    tracker = LpTracker()
    first = encodes(tracker.on_status(status(T0, "connected", latency_ms=11.0)))
    assert first["statusTransitions"] == 0
    assert first["observedUptimePct"] is None  # no time observed yet
    assert first["eventTime"] == T0 and first["latencyMs"] == 11.0

    down = encodes(tracker.on_status(status(T0 + 60 * S, "disconnected")))
    assert down["status"] == "disconnected"
    assert down["statusTransitions"] == 1
    assert down["observedUptimePct"] == 100.0  # 60 s connected of 60 s

    up = encodes(tracker.on_status(status(T0 + 90 * S, "connected")))
    assert up["statusTransitions"] == 2
    assert up["observedUptimePct"] == 60 * 100 / 90  # 66.67 %

    later = encodes(tracker.performance("OANDA", T0 + 120 * S))
    assert later["observedUptimePct"] == 75.0
    assert later["eventTime"] == T0 + 120 * S
    # A "now" before the latest input reads as of the latest input.
    assert encodes(tracker.performance("OANDA", T0))["eventTime"] == T0 + 90 * S


def test_reported_metrics_pass_through_from_the_latest_status() -> None:
    tracker = LpTracker()
    tracker.on_status(status(T0, reject_rate=0.02, uptime=98.0))
    perf = encodes(
        tracker.on_status(
            status(T0 + 5 * S, avg_spread=0.0002, execution_quality=0.9, latency_ms=30.5,
                   quotes_per_second=222.0, reject_rate=0.04, uptime=97.0)
        )
    )  # fmt: skip
    assert {k: perf[k] for k in PERFORMANCE_FIELDS[1:9]} == {
        "lpName": "OANDA",
        "status": "connected",
        "avgSpread": 0.0002,
        "executionQuality": 0.9,
        "latencyMs": 30.5,
        "quotesPerSecond": 222.0,
        "rejectRate": 0.04,
        "uptime": 97.0,
    }
    assert perf["statusTransitions"] == 0  # connected -> connected is not a transition


def test_duplicate_and_stale_statuses_are_ignored() -> None:
    tracker = LpTracker()
    tracker.on_status(status(T0, "connected", event_id="a"))
    tracker.on_status(status(T0 + 10 * S, "disconnected", event_id="b"))
    again = tracker.on_status(status(T0 + 10 * S, "disconnected", event_id="b"))  # redelivery
    stale = tracker.on_status(status(T0 + 5 * S, "connected", event_id="c"))  # older than b
    assert tracker.duplicate_statuses == 1 and tracker.stale_statuses == 1
    assert again["statusTransitions"] == stale["statusTransitions"] == 1
    assert stale["status"] == "disconnected"
    # A different event at the same time is applied (and a transition if the status differs).
    same_time = tracker.on_status(status(T0 + 10 * S, "connected", event_id="d"))
    assert same_time["statusTransitions"] == 2
    assert tracker.on_status(status(T0 + 10 * S, "connected", event_id="b")) == same_time
    assert tracker.duplicate_statuses == 2


def test_lps_and_performance_before_any_status() -> None:
    tracker = LpTracker()
    assert tracker.lps() == [] and tracker.performance("OANDA", T0) is None
    assert tracker.on_decision(dec(T0, "d1", lp="LMAX")) == "LMAX"
    assert tracker.performance("LMAX", T0) is None  # decisions alone: no record yet
    tracker.on_status(status(T0, lp="OANDA"))
    tracker.on_status(status(T0, lp="Currenex"))
    assert tracker.lps() == ["Currenex", "OANDA"]


# --- rolling window of decisions --------------------------------------------------------------


def test_rolling_reject_rate_and_fill_latencies_need_min_decisions() -> None:
    """min_decisions 4: nothing until the 4th decision; then 1 rejected of 4 = 0.25, and fill
    latencies over the 3 fills [10, 20, 30] (the rejected one's 500 ms is not a fill)."""
    tracker = LpTracker(LpConfig(rolling_window_s=300, min_decisions=4))
    tracker.on_status(status(T0))
    for i, (ms, rej) in enumerate([(10.0, False), (500.0, True), (30.0, False)]):
        assert tracker.on_decision(dec(T0 + i * S, f"d{i}", rejected=rej, exec_ms=ms)) == "OANDA"
        perf = encodes(tracker.performance("OANDA", T0 + i * S))
        assert perf["rollingRejectRate"] is None and perf["fillLatencyP50Ms"] is None
    assert tracker.on_decision(dec(T0 + 3 * S, "d3", exec_ms=20.0)) == "OANDA"
    perf = encodes(tracker.performance("OANDA", T0 + 3 * S))
    assert perf["rollingRejectRate"] == 0.25
    assert perf["fillLatencyP50Ms"] == pytest.approx(20.0, rel=1 / 128)  # rank 2 of 3
    assert perf["fillLatencyP95Ms"] == pytest.approx(30.0, rel=1 / 128)  # rank 3 of 3
    assert perf["fillLatencyP99Ms"] == pytest.approx(30.0, rel=1 / 128)


def test_all_rejected_gives_a_rate_but_no_fill_latency() -> None:
    tracker = LpTracker(LpConfig(min_decisions=2))
    tracker.on_status(status(T0))
    tracker.on_decision(dec(T0, "a", rejected=True))
    tracker.on_decision(dec(T0 + 1, "b", rejected=True))
    perf = encodes(tracker.performance("OANDA", T0))
    assert perf["rollingRejectRate"] == 1.0
    assert perf["fillLatencyP50Ms"] is None


def test_window_slides_with_the_newest_decision_of_any_lp() -> None:
    """Window 300 s: a decision for LMAX at 301 s moves the window start to 1 s, so OANDA's
    decision at 0 s leaves it (and OANDA drops below min_decisions)."""
    tracker = LpTracker(LpConfig(rolling_window_s=300, min_decisions=2))
    tracker.on_status(status(T0))
    tracker.on_decision(dec(T0, "o1", rejected=True))
    tracker.on_decision(dec(T0 + 1 * S, "o2"))
    assert encodes(tracker.performance("OANDA", T0))["rollingRejectRate"] == 0.5
    tracker.on_decision(dec(T0 + 300 * S, "l1", lp="LMAX"))  # start 0 s: o1 still in (>=)
    assert encodes(tracker.performance("OANDA", T0))["rollingRejectRate"] == 0.5
    tracker.on_decision(dec(T0 + 301 * S, "l2", lp="LMAX"))  # start 1 s: o1 leaves
    assert encodes(tracker.performance("OANDA", T0))["rollingRejectRate"] is None
    # A decision older than the window start is dropped, not counted.
    assert tracker.on_decision(dec(T0, "o3")) is None
    assert tracker.late_decisions == 1


def test_bbook_and_duplicate_decisions_do_not_count() -> None:
    tracker = LpTracker(LpConfig(min_decisions=1))
    tracker.on_status(status(T0))
    assert tracker.on_decision(dec(T0, "b", lp=None)) is None  # B-book: no LP
    assert tracker.on_decision(dec(T0, "a", rejected=True)) == "OANDA"
    assert tracker.on_decision(dec(T0, "a", rejected=True)) is None  # redelivered
    assert tracker.duplicate_decisions == 1
    assert encodes(tracker.performance("OANDA", T0))["rollingRejectRate"] == 1.0


decision_lists = st.lists(
    st.tuples(
        st.integers(0, 900 * S),
        st.sampled_from(["OANDA", "LMAX"]),
        st.booleans(),
        st.one_of(st.just(0.0), st.floats(0.001, 1e7, allow_nan=False)),
    ),
    min_size=1,
    max_size=80,
)


@PROPERTY
@given(decision_lists, st.randoms(use_true_random=False))
def test_rolling_window_matches_brute_force_in_any_arrival_order(
    rows: list[tuple[int, str, bool, float]], rnd: random.Random
) -> None:
    """After any arrival order (with redeliveries), each LP's reject rate and fill latencies
    are those of its decisions with eventTime >= newest - window, percentiles within 1/128."""
    config = LpConfig(rolling_window_s=300, min_decisions=3)
    decisions = [
        dec(T0 + t, f"e{i}", lp=lp, rejected=rej, exec_ms=ms)
        for i, (t, lp, rej, ms) in enumerate(rows)
    ]
    arrivals = decisions + rnd.sample(decisions, k=min(5, len(decisions)))
    results = []
    for order in (arrivals, rnd.sample(arrivals, k=len(arrivals))):
        tracker = LpTracker(config)
        for lp in ("OANDA", "LMAX"):
            tracker.on_status(status(T0, lp=lp))
        for d in order:
            tracker.on_decision(d)
        results.append([encodes(tracker.performance(lp, T0)) for lp in ("OANDA", "LMAX")])
        start = max(d["eventTime"] for d in decisions) - 300 * S
        for lp, perf in zip(("OANDA", "LMAX"), results[-1], strict=True):
            window = [d for d in decisions if d["lpSelected"] == lp and d["eventTime"] >= start]
            fills = [d["executionTimeMs"] for d in window if not d["lpRejected"]]
            if len(window) < 3:
                assert perf["rollingRejectRate"] is None and perf["fillLatencyP50Ms"] is None
                continue
            assert perf["rollingRejectRate"] == (len(window) - len(fills)) / len(window)
            for q in (50, 95, 99):
                got = perf[f"fillLatencyP{q}Ms"]
                if not fills:
                    assert got is None
                else:
                    exact = exact_rank(fills, q)
                    assert abs(got - exact) <= exact / 128
    assert results[0] == results[1]


# --- snapshots --------------------------------------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("status"),
            st.integers(0, 600),
            st.sampled_from(["OANDA", "LMAX"]),
            st.sampled_from(["connected", "disconnected"]),
        ),
        st.tuples(
            st.just("decision"),
            st.integers(0, 600),
            st.sampled_from(["OANDA", "LMAX", None]),
            st.booleans(),
        ),
    ),
    min_size=1,
    max_size=60,
)


@PROPERTY
@given(operations, st.data())
def test_state_restore_is_exact_and_changes_no_output(
    ops: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    """Snapshot at any point (state -> JSON text -> restore into a new tracker): the rest of
    the run gives identical outputs; restore(state()).state() == state(); replays agree."""
    config = LpConfig(rolling_window_s=120, min_decisions=2)
    records: list[tuple[str, Record]] = []
    for i, (kind, sec, lp, x) in enumerate(ops):
        t = T0 + sec * S
        if kind == "status":
            records.append(("status", status(t, x, lp=lp, event_id=f"s{sec % 7}")))
        else:
            records.append(("decision", dec(t, f"d{i % 40}", lp=lp, rejected=x, exec_ms=sec / 7)))
    cut = data.draw(st.integers(0, len(records)))

    def run(snapshot_at: int | None) -> list[Any]:
        tracker = LpTracker(config)
        out: list[Any] = []
        for i, (kind, rec) in enumerate(records):
            if i == snapshot_at:
                text = json.dumps(tracker.state(), sort_keys=True)
                tracker = LpTracker(config)
                tracker.restore(json.loads(text))
                assert json.dumps(tracker.state(), sort_keys=True) == text
            if kind == "status":
                out.append(encodes(tracker.on_status(rec)))
            else:
                lp = tracker.on_decision(rec)
                out.append(lp)
                if lp is not None:
                    perf = tracker.performance(lp, rec["eventTime"])
                    out.append(perf if perf is None else encodes(perf))
        out.append([tracker.performance(lp, T0 + 700 * S) for lp in tracker.lps()])
        out.append(tracker.state())
        return out

    reference = run(None)
    assert run(None) == reference
    assert run(cut) == reference


@pytest.mark.parametrize(
    "state",
    [
        {"format": 2},
        {"format": 1, "newestDecision": None, "lps": [], "counters": {}},
        {"format": 1, "newestDecision": "x", "lps": {}, "counters": {}},
        {"format": 1, "newestDecision": None, "lps": {}, "counters": {"staleStatuses": -1}},
    ],
)
def test_restore_refuses_malformed_state(state: Record) -> None:
    with pytest.raises(LpStateError):
        LpTracker().restore(state)


def test_restore_refuses_a_malformed_lp() -> None:
    tracker = LpTracker(LpConfig(min_decisions=1))
    tracker.on_status(status(T0))
    tracker.on_decision(dec(T0, "a"))
    good = tracker.state()
    for path, value in [
        (("metrics",), {"status": "connected"}),
        (("firstTime",), 1.5),
        (("idsAtLast",), [1]),
        (("decisions",), [[T0, "a", False, 1.0], [T0, "a", False, 1.0]]),
        (("decisions",), [[T0, "a", "no", 1.0]]),
        (("decisions",), [[T0, "a", False, -1.0]]),
    ]:
        bad = json.loads(json.dumps(good))
        bad["lps"]["OANDA"][path[0]] = value
        with pytest.raises(LpStateError, match="OANDA"):
            LpTracker().restore(bad)


# --- configuration ----------------------------------------------------------------------------


def test_config_from_mapping() -> None:
    assert LpConfig.from_mapping({}) == LpConfig(300, 20)
    assert LpConfig.from_mapping({"rolling_window_s": "60", "min_decisions": 5}) == LpConfig(60, 5)


@pytest.mark.parametrize(
    ("mapping", "names"),
    [
        ({"window_s": 60}, r"lp\.window_s: unknown key"),
        ({"rolling_window_s": 0}, r"lp\.rolling_window_s=0"),
        ({"rolling_window_s": 2.5}, r"lp\.rolling_window_s=2\.5"),
        ({"min_decisions": 0}, r"lp\.min_decisions=0"),
        ({"min_decisions": False}, r"lp\.min_decisions=False"),
    ],
)
def test_config_errors_name_the_key(mapping: Record, names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        LpConfig.from_mapping(mapping)
    with pytest.raises(ConfigError, match="expected a mapping"):
        LpConfig.from_mapping([])  # type: ignore[arg-type]


def test_a_bounded_snapshot_keeps_each_lps_newest_decisions_and_restores() -> None:
    """The worker writes the snapshot as one Kafka message: ``max_decisions`` bounds it, each LP
    keeping its newest share, and a tracker restored from it works on those."""
    config = LpConfig(rolling_window_s=3600, min_decisions=2)
    tracker = LpTracker(config)
    for i in range(3000):
        lp = ("OANDA", "LMAX", "Currenex")[i % 3]
        tracker.on_decision(dec(T0 + i * S // 10, f"d{i}", lp=lp, rejected=i % 10 == 0))
    full = tracker.state()
    bounded = tracker.state(max_decisions=600)
    assert [len(full["lps"][n]["decisions"]) for n in sorted(full["lps"])] == [1000] * 3
    kept = {n: bounded["lps"][n]["decisions"] for n in bounded["lps"]}
    assert [len(v) for v in kept.values()] == [200] * 3
    for name, rows in kept.items():
        assert rows == full["lps"][name]["decisions"][-200:], "the newest of each LP"
    assert len(json.dumps(bounded)) < len(json.dumps(full)) / 4
    restored = LpTracker(config)
    restored.restore(json.loads(json.dumps(bounded)))
    assert restored.state() == bounded
