"""Tests of ``streams.routing.windows`` and ``streams.routing.partial``: two-stage event-time
windows of
routing decisions.

Stage 1 (:class:`PartitionWindows`, one per input partition) builds per-window partials; stage 2
(:class:`WindowMerger`, one instance) merges them and emits one ``RoutingSummary`` per closed
window. The properties: any split of the decisions over partitions, any drain points and any
interleaving of partials give the single-partition summaries; duplicates never count twice;
replays are identical; the figures match a brute-force oracle (percentiles within 1 %).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import default_codec
from streams import events
from streams.routing.partial import Contribution, PartialError, WindowPartial, base_currency
from streams.routing.windows import NO_WATERMARK, PartitionWindows, RoutingConfig, WindowMerger
from streams.settings import ConfigError

CODEC = default_codec()
S = 1_000_000  # micros per second
T0 = 1_768_818_600 * S  # 2026-01-19T10:30:00Z, a multiple of 60 s
RATES = {"USD": 1.0, "EUR": 1.085, "GBP": 1.27, "XAU": 2350.0}
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "US500", "EURGBP")
LPS = ("OANDA", "LMAX", "Currenex")
SUMMARY_FIELDS = [f["name"] for f in CODEC.schema("RoutingSummary").parsed["fields"]]

PROPERTY = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Record = dict[str, Any]
Message = tuple[int, int, Record, int]  # partition, window start, partial record, watermark


def usd_rate(currency: str) -> float | None:
    return RATES.get(currency)


def decision(
    t: int,
    *,
    event_id: str,
    symbol: str = "EURUSD",
    volume: float = 100_000.0,
    book: str = "BBOOK",
    lp: str | None = None,
    exec_ms: float = 10.0,
    slippage: float = 0.0,
    rejected: bool = False,
) -> Record:
    """A validated RoutingDecision, as the worker hands it to stage 1."""
    return events.validate(
        "RoutingDecision",
        events.routing_decision(
            symbol=symbol,
            side="BUY",
            volume=volume,
            decision=book,
            lp=lp,
            execution_time_ms=exec_ms,
            spread=0.0001,
            slippage=slippage,
            lp_rejected=rejected,
            event_id=event_id,
            event_time=t,
        ),
    )


def encodes(summary: Record) -> None:
    """Every emitted record has exactly the schema's fields and passes the codec."""
    assert list(summary) == SUMMARY_FIELDS
    CODEC.encode("RoutingSummary", summary)


def run_stage1(
    config: RoutingConfig,
    records: Sequence[Record],
    partitions: Sequence[int],
    drain_after: Sequence[bool],
    delta: bool = False,
) -> list[Message]:
    """Feed each record to its partition, draining where asked and at the end; the messages
    each partition would publish, in its own order."""
    stages: dict[int, PartitionWindows] = {}
    out: list[Message] = []

    def drain(p: int) -> None:
        w = stages[p]
        out.extend((p, start, partial, w.watermark) for start, partial in w.drain(delta=delta))

    for rec, p, flush in zip(records, partitions, drain_after, strict=True):
        stages.setdefault(p, PartitionWindows(config)).add(rec, usd_rate)
        if flush:
            drain(p)
    for p in sorted(stages):
        drain(p)
    return out


def run_stage2(config: RoutingConfig, messages: Sequence[Message]) -> list[Record]:
    merger = WindowMerger(config)
    for p, start, partial, wm in messages:
        merger.update(p, start, json.loads(json.dumps(partial)), wm)  # through JSON text
    return merger.close_ready()


def single(config: RoutingConfig, records: Sequence[Record]) -> list[Record]:
    n = len(records)
    return run_stage2(config, run_stage1(config, records, [0] * n, [False] * n))


# --- strategies -------------------------------------------------------------------------------

CONFIG = RoutingConfig(window_s=10, allowed_lateness_s=3)

latency = st.one_of(
    st.just(0.0),
    st.floats(min_value=0.001, max_value=1e7, allow_nan=False, allow_infinity=False),
    st.sampled_from([1.5, 12.25, 40.0]),
)
slippage = st.one_of(
    st.just(0.0), st.floats(min_value=-0.01, max_value=0.01, allow_nan=False), st.just(-0.0)
)
volume = st.one_of(
    st.sampled_from([1.0, 1_000.0, 10_000.0, 100_000.0]),
    st.floats(min_value=0.01, max_value=1e7, allow_nan=False),
)


@st.composite
def decision_streams(draw: st.DrawFn, config: RoutingConfig = CONFIG) -> list[Record]:
    """Decisions whose event times are out of order by at most the allowed lateness (so no
    partition ever drops one as late), followed anywhere later by exact redeliveries."""
    n = draw(st.integers(1, 40))
    nominal = T0 + draw(st.integers(0, config.window_us))
    originals: list[Record] = []
    for i in range(n):
        # Mostly small steps; sometimes a jump that closes the open windows.
        nominal += draw(st.integers(0, 3 * S) | st.integers(config.window_us, 2 * config.window_us))
        abook = draw(st.booleans())
        originals.append(
            decision(
                nominal - draw(st.integers(0, config.lateness_us)),
                event_id=f"e{i:03d}",
                symbol=draw(st.sampled_from(SYMBOLS)),
                volume=draw(volume),
                book="ABOOK" if abook else "BBOOK",
                lp=draw(st.sampled_from(LPS)) if abook else None,
                exec_ms=draw(latency),
                slippage=draw(slippage),
            )
        )
    keyed: list[tuple[int, int, Record]] = [(i, 0, r) for i, r in enumerate(originals)]
    for j, (k, later) in enumerate(
        draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n)), max_size=8))
    ):
        keyed.append((min(n, k + 1 + later), 1 + j, dict(originals[k])))
    keyed.sort(key=lambda x: (x[0], x[1]))
    return [r for _, _, r in keyed]


# --- the oracle -------------------------------------------------------------------------------


def nearest_rank_value(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(Decimal(q) * len(ordered) / 100)) - 1]


def oracle(config: RoutingConfig, records: Sequence[Record]) -> list[Record]:
    """Brute force: distinct eventIds, grouped by aligned window, windows the final watermark
    has closed; percentiles exact (the real ones are compared within 1 %)."""
    distinct = {r["eventId"]: r for r in records}
    watermark = max(r["eventTime"] for r in records) - config.lateness_us
    windows: dict[int, list[Record]] = {}
    for r in distinct.values():
        windows.setdefault(r["eventTime"] // config.window_us * config.window_us, []).append(r)
    out = []
    for start in sorted(windows):
        if start + config.window_us > watermark:
            continue
        rs = windows[start]
        ab = [r for r in rs if r["routingDecision"] == "ABOOK"]
        vol = math.fsum(r["volume"] for r in rs)
        by_lp: dict[str, int] = {}
        for r in ab:
            by_lp[r["lpSelected"]] = by_lp.get(r["lpSelected"], 0) + 1
        exec_ms = [r["executionTimeMs"] for r in rs]
        notional = [
            r["volume"] * RATES[base_currency(r["symbol"])]
            for r in rs
            if base_currency(r["symbol"]) in RATES
        ]
        out.append(
            {
                "windowStart": start,
                "windowEnd": start + config.window_us,
                "count": len(rs),
                "volume": vol,
                "notionalUsd": math.fsum(notional) + 0.0,
                "abookCount": len(ab),
                "bbookCount": len(rs) - len(ab),
                "abookShareByCountPct": len(ab) * 100 / len(rs),
                "abookShareByVolumePct": math.fsum(r["volume"] for r in ab) * 100.0 / vol,
                "byLP": dict(sorted(by_lp.items())),
                "executionTimeP50Ms": nearest_rank_value(exec_ms, 50),
                "executionTimeP95Ms": nearest_rank_value(exec_ms, 95),
                "executionTimeP99Ms": nearest_rank_value(exec_ms, 99),
                "slippageMean": (math.fsum(r["slippage"] for r in rs) + 0.0) / len(rs),
                "slippagePositiveCount": sum(1 for r in rs if r["slippage"] > 0),
                "slippageNegativeCount": sum(1 for r in rs if r["slippage"] < 0),
            }
        )
    return out


def assert_matches_oracle(got: list[Record], expected: list[Record]) -> None:
    assert [g["windowStart"] for g in got] == [e["windowStart"] for e in expected]
    for g, e in zip(got, expected, strict=True):
        for key in ("executionTimeP50Ms", "executionTimeP95Ms", "executionTimeP99Ms"):
            assert abs(g[key] - e[key]) <= e[key] / 128, key
        exact = {k: v for k, v in g.items() if not k.startswith("executionTime")}
        assert exact == {k: v for k, v in e.items() if not k.startswith("executionTime")}


# --- properties -------------------------------------------------------------------------------


@PROPERTY
@given(records=decision_streams(), data=st.data())
def test_any_split_drain_points_and_interleaving_give_the_single_partition_summaries(
    records: list[Record], data: st.DataObject
) -> None:
    """1..4 partitions (a redelivery may even land on another partition), drains anywhere,
    full or delta partials, merged in any order (not even each partition's own): same
    summaries as one partition, and those match the brute-force oracle; duplicates never
    count twice."""
    n = len(records)
    parts = data.draw(st.integers(1, 4))
    partitions = data.draw(st.lists(st.integers(0, parts - 1), min_size=n, max_size=n))
    drains = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    messages = run_stage1(CONFIG, records, partitions, drains, delta=data.draw(st.booleans()))
    shuffled = data.draw(st.permutations(messages))
    split = run_stage2(CONFIG, shuffled)
    one = single(CONFIG, records)
    assert split == one
    assert_matches_oracle(one, oracle(CONFIG, records))
    assert sum(s["count"] for s in one) <= len({r["eventId"] for r in records})
    for summary in one:
        encodes(summary)


@PROPERTY
@given(records=decision_streams(), seed=st.integers(0, 2**32 - 1))
def test_replay_is_identical_and_snapshots_do_not_change_the_output(
    records: list[Record], seed: int
) -> None:
    """Replaying the same inputs gives identical records and states; snapshotting stage 1 and
    stage 2 at any point (state -> JSON -> restore into new objects) changes nothing."""
    rng = random.Random(seed)

    def run(snapshot_at: int | None) -> tuple[list[Record], Record, Record]:
        stage1 = PartitionWindows(CONFIG)
        merger = WindowMerger(CONFIG)
        out: list[Record] = []
        for i, rec in enumerate(records):
            if i == snapshot_at:
                s1 = json.loads(json.dumps(stage1.state()))
                s2 = json.loads(json.dumps(merger.state()))
                stage1, merger = PartitionWindows(CONFIG), WindowMerger(CONFIG)
                stage1.restore(s1)
                merger.restore(s2)
                assert stage1.state() == s1 and merger.state() == s2
            stage1.add(rec, usd_rate)
            if i % 3 == 0:
                for start, partial in stage1.drain():
                    merger.update(0, start, partial, stage1.watermark)
                out += merger.close_ready()
        for start, partial in stage1.drain():
            merger.update(0, start, partial, stage1.watermark)
        out += merger.close_ready()
        return out, stage1.state(), merger.state()

    first = run(None)
    assert run(None) == first
    assert run(rng.randrange(len(records))) == first


def test_duplicates_and_redelivered_partials_never_count_twice() -> None:
    """A redelivered decision is a duplicate in stage 1; a partial delivered twice, an older
    partial after a newer one, and the same decision in two partitions count once."""
    config = RoutingConfig(window_s=60, allowed_lateness_s=0)
    a = decision(T0 + 1 * S, event_id="a")
    b = decision(T0 + 2 * S, event_id="b")
    stage = PartitionWindows(config)
    stage.add(a, usd_rate)
    stage.add(a, usd_rate)
    assert stage.duplicate_events == 1
    [(start, first)] = stage.drain()
    stage.add(b, usd_rate)
    [(_, second)] = stage.drain()
    assert stage.drain() == []  # nothing changed since
    stage.add(decision(T0 + 3 * S, event_id="c"), usd_rate)
    [(_, delta)] = stage.drain(delta=True)
    assert [row[0] for row in delta["decisions"]] == ["c"]  # only what is new
    other = PartitionWindows(config)
    other.add(b, usd_rate)  # the same decision, seen by another partition
    [(_, third)] = other.drain()

    merger = WindowMerger(config)
    for partition, partial in [(0, second), (0, delta), (0, first), (0, second), (1, third)]:
        merger.update(partition, start, partial, T0 + 2 * S)
    merger.update(0, start, WindowPartial(start, start + config.window_us).to_record(), T0 + 61 * S)
    [summary] = merger.close_ready()
    assert summary["count"] == 3  # a, b, c
    assert summary["volume"] == 300_000.0


# --- worked examples --------------------------------------------------------------------------


def test_summary_worked_example() -> None:
    """Four decisions in one 60 s window (numbers worked out in docs/routing-and-lp.md)."""
    config = RoutingConfig()
    recs = [
        decision(T0 + 1 * S, event_id="1", volume=100_000.0, book="ABOOK", lp="OANDA",
                 exec_ms=10.0, slippage=0.00002),
        decision(T0 + 2 * S, event_id="2", symbol="GBPUSD", volume=50_000.0, book="ABOOK",
                 lp="LMAX", exec_ms=20.0, slippage=-0.00001),
        decision(T0 + 3 * S, event_id="3", volume=300_000.0, exec_ms=30.0, slippage=0.0),
        decision(T0 + 4 * S, event_id="4", symbol="US500", volume=50_000.0, exec_ms=40.0,
                 slippage=0.00003),
        decision(T0 + 66 * S, event_id="5"),  # next window; moves the watermark to 61 s
    ]  # fmt: skip
    stage, merger = PartitionWindows(config), WindowMerger(config)
    for r in recs:
        stage.add(r, usd_rate)
    assert stage.unpriced_events == 1  # US500: no USD rate known
    for start, partial in stage.drain():
        merger.update(3, start, partial, stage.watermark)
    [s] = merger.close_ready()
    encodes(s)
    assert s == {
        "windowStart": T0,
        "windowEnd": T0 + 60 * S,
        "count": 4,
        "volume": 500_000.0,
        # EUR 1.085 x (100k + 300k) + GBP 1.27 x 50k; US500 unpriced counts 0
        "notionalUsd": math.fsum([100_000 * 1.085, 50_000 * 1.27, 300_000 * 1.085]),
        "abookCount": 2,
        "bbookCount": 2,
        "abookShareByCountPct": 50.0,
        "abookShareByVolumePct": 30.0,  # 150k of 500k
        "byLP": {"LMAX": 1, "OANDA": 1},
        # Nearest ranks 2, 4, 4 of [10, 20, 30, 40]: 20 is estimated by its bucket's midpoint
        # 20.125 (within 1/128); rank n is the exact maximum.
        "executionTimeP50Ms": 20.125,
        "executionTimeP95Ms": 40.0,
        "executionTimeP99Ms": 40.0,
        "slippageMean": math.fsum([0.00002, -0.00001, 0.0, 0.00003]) / 4,
        "slippagePositiveCount": 2,  # client got a better price
        "slippageNegativeCount": 1,  # zero slippage is neither
    }
    assert merger.unpriced_emitted == 1
    assert s["notionalUsd"] == pytest.approx(497_500.0)


def test_windows_are_aligned_to_the_epoch_and_half_open() -> None:
    """An event exactly on a boundary starts the next window; starts are multiples of window_s."""
    config = RoutingConfig(window_s=60, allowed_lateness_s=60)
    stage = PartitionWindows(config)
    for i, t in enumerate([T0 + 59 * S + 999_999, T0 + 60 * S, T0 + 7 * S + 1]):
        stage.add(decision(t, event_id=str(i)), usd_rate)
    drained = stage.drain()
    assert [start for start, _ in drained] == [T0, T0 + 60 * S]
    assert [len(p["decisions"]) for _, p in drained] == [2, 1]
    assert all(p["windowEnd"] - p["windowStart"] == 60 * S for _, p in drained)
    assert config.window_start(T0 + 61 * S) == T0 + 60 * S
    assert RoutingConfig(window_s=7).window_start(100 * S) == 98 * S  # 14 x 7 s from the epoch


def test_window_closes_when_the_watermark_reaches_its_end() -> None:
    """Watermark = max event time - lateness; [0, 60) closes once an event at >= 65 s is seen."""
    config = RoutingConfig(window_s=60, allowed_lateness_s=5)
    stage, merger = PartitionWindows(config), WindowMerger(config)
    assert stage.watermark == NO_WATERMARK and merger.watermark == NO_WATERMARK

    def feed(t: int, event_id: str) -> list[Record]:
        stage.add(decision(t, event_id=event_id), usd_rate)
        for start, partial in stage.drain():
            merger.update(0, start, partial, stage.watermark)
        return merger.close_ready()

    assert feed(T0 + 10 * S, "a") == []
    assert feed(T0 + 64 * S + 999_999, "b") == []  # watermark 59.999999 s
    assert stage.watermark == merger.watermark == T0 + 59 * S + 999_999
    assert feed(T0 + 58 * S, "late-but-allowed") == []  # 1 s before the window ends: counted
    [summary] = feed(T0 + 65 * S, "c")  # watermark 60 s = end of the first window
    assert (summary["windowStart"], summary["count"]) == (T0, 2)
    assert merger.close_ready() == []  # emitted once
    assert stage.open_windows == [T0 + 60 * S]  # stage 1 forgot the closed window


def test_stage1_drops_and_counts_a_decision_for_a_window_it_has_closed() -> None:
    config = RoutingConfig(window_s=60, allowed_lateness_s=5)
    stage = PartitionWindows(config)
    stage.add(decision(T0 + 70 * S, event_id="new"), usd_rate)  # watermark 65 s
    stage.add(decision(T0 + 59 * S, event_id="late"), usd_rate)  # window [0, 60) has closed
    stage.add(decision(T0 + 60 * S, event_id="ok"), usd_rate)  # [60, 120) is open
    assert stage.late_events == 1
    assert [(s, len(p["decisions"])) for s, p in stage.drain()] == [(T0 + 60 * S, 2)]


def test_late_partial_is_counted_and_not_re_emitted() -> None:
    config = RoutingConfig(window_s=60, allowed_lateness_s=0)
    merger = WindowMerger(config)
    w0 = WindowPartial(T0, T0 + 60 * S)
    w0.add("a", Contribution(T0 + S, 1.0, 1.0, "BBOOK", None, 5.0, 0.0))
    merger.update(0, T0, w0.to_record(), T0 + 60 * S)
    [summary] = merger.close_ready()
    assert summary["count"] == 1
    w0.add("b", Contribution(T0 + 2 * S, 1.0, 1.0, "BBOOK", None, 5.0, 0.0))
    merger.update(1, T0, w0.to_record(), T0 + 10 * S)  # partition 1 lagged behind
    assert merger.late_partials == 1
    assert merger.close_ready() == []
    assert merger.emitted == 1


def test_an_idle_partition_does_not_stall_the_global_watermark() -> None:
    """The global watermark is the max over partitions: partition 1 going quiet after 10 s does
    not hold back windows that partition 0's traffic has closed."""
    config = RoutingConfig(window_s=60, allowed_lateness_s=5)
    stages = [PartitionWindows(config), PartitionWindows(config)]
    merger = WindowMerger(config)
    stages[1].add(decision(T0 + 10 * S, event_id="quiet"), usd_rate)
    stages[0].add(decision(T0 + 20 * S, event_id="x"), usd_rate)
    stages[0].add(decision(T0 + 130 * S, event_id="y"), usd_rate)
    for p, stage in enumerate(stages):
        for start, partial in stage.drain():
            merger.update(p, start, partial, stage.watermark)
    assert merger.partition_watermarks == {0: T0 + 125 * S, 1: T0 + 5 * S}
    assert merger.watermark == T0 + 125 * S
    summaries = merger.close_ready()
    assert [(s["windowStart"], s["count"]) for s in summaries] == [(T0, 2)]  # x and quiet
    assert merger.open_windows == [T0 + 120 * S]


def test_a_stale_watermark_never_moves_the_global_watermark_back() -> None:
    config = RoutingConfig(window_s=60, allowed_lateness_s=0)
    merger = WindowMerger(config)
    empty = WindowPartial(T0 + 120 * S, T0 + 180 * S).to_record()
    merger.update(0, T0 + 120 * S, empty, T0 + 130 * S)
    merger.update(0, T0 + 120 * S, empty, T0 + 30 * S)
    assert merger.watermark == T0 + 130 * S


@pytest.mark.parametrize(
    ("symbol", "base"),
    [("EURUSD", "EUR"), ("XAUUSD", "XAU"), ("USDJPY", "USD"), ("US500", "US500"),
     ("eurusd", "eurusd"), ("EUR/USD", "EUR/USD"), ("BTCUSDT", "BTCUSDT")],
)  # fmt: skip
def test_base_currency(symbol: str, base: str) -> None:
    assert base_currency(symbol) == base


def test_notional_is_volume_times_the_base_rate_else_zero_and_unpriced() -> None:
    config = RoutingConfig()
    rates: dict[str, float | None] = {"EUR": 1.1, "XAU": None, "GBP": 0.0}
    get: Callable[[str], float | None] = rates.get
    stage = PartitionWindows(config)
    stage.add(decision(T0, event_id="1", volume=10.0), get)
    stage.add(decision(T0, event_id="2", symbol="XAUUSD", volume=10.0), get)  # rate None
    stage.add(decision(T0, event_id="3", symbol="USDJPY", volume=10.0), get)  # USD unknown
    stage.add(decision(T0, event_id="4", symbol="GBPUSD", volume=10.0), get)  # rate 0: refused
    [(_, rec)] = stage.drain()
    partial = WindowPartial.from_record(rec)
    assert partial.notional_usd == 11.0
    assert partial.unpriced_count == stage.unpriced_events == 3


# --- partials and records ---------------------------------------------------------------------


def test_partial_record_round_trips_exactly_through_json() -> None:
    p = WindowPartial(T0, T0 + 60 * S)
    p.add("x", Contribution(T0, 0.1, None, "ABOOK", "OANDA", 0.0, -0.0))
    p.add("y", Contribution(T0 + 5, 1e-300, 1.7e308, "BBOOK", None, 1e7, 0.30000000000000004))
    back = WindowPartial.from_record(json.loads(json.dumps(p.to_record())))
    assert back == p
    assert back.to_record() == p.to_record()
    assert back.max_event_time == T0 + 5
    assert back.event_ids == {"x", "y"}


def test_conflicting_contents_under_one_event_id_resolve_the_same_in_any_order() -> None:
    """A producer bug (one eventId, two contents): the choice does not depend on the order."""
    one = Contribution(T0, 1.0, 1.0, "BBOOK", None, 5.0, 0.0)
    two = Contribution(T0, 2.0, 2.0, "BBOOK", None, 5.0, 0.0)
    a, b = WindowPartial(T0, T0 + 60 * S), WindowPartial(T0, T0 + 60 * S)
    a.add("e", one)
    assert a.add("e", two) is False  # "one" sorts first and stays
    b.add("e", two)
    assert b.add("e", one) is True
    assert a == b
    c = WindowPartial(T0, T0 + 60 * S)
    c.add("e", two)
    d = WindowPartial(T0, T0 + 60 * S)
    d.add("e", one)
    c.merge(d)
    assert c == a


@pytest.mark.parametrize(
    "change",
    [
        {"format": 9},
        {"windowStart": "0"},
        {"windowEnd": T0},
        {"decisions": {}},
        {"decisions": [["a", T0, 1.0, None, "ABOOK", "LP", 1.0]]},
        {"decisions": [["a", T0 + 60 * S, 1.0, None, "ABOOK", "LP", 1.0, 0.0]]},
        {"decisions": [["a", T0, 1.0, None, "CBOOK", None, 1.0, 0.0]]},
        {"decisions": [["a", T0, 1.0, None, "BBOOK", "LP", 1.0, 0.0]]},
        {"decisions": [["a", T0, "1", None, "BBOOK", None, 1.0, 0.0]]},
        {"decisions": [["a", T0, 1.0, None, "BBOOK", None, -1.0, 0.0]]},
        {"decisions": [["a", float(T0), 1.0, None, "BBOOK", None, 1.0, 0.0]]},
    ],
)
def test_from_record_refuses_malformed_partials(change: Record) -> None:
    rec = WindowPartial(T0, T0 + 60 * S).to_record()
    rec.update(change)
    with pytest.raises(PartialError):
        WindowPartial.from_record(rec)


def test_merger_refuses_a_partial_of_another_window_length_or_start() -> None:
    merger = WindowMerger(RoutingConfig(window_s=60))
    with pytest.raises(PartialError, match="window_s"):
        merger.update(0, T0, WindowPartial(T0, T0 + 30 * S).to_record(), T0)
    with pytest.raises(PartialError):
        merger.update(0, T0 + 60 * S, WindowPartial(T0, T0 + 60 * S).to_record(), T0)
    with pytest.raises(PartialError):
        WindowPartial(T0, T0 + 60 * S).merge(WindowPartial(T0, T0 + 30 * S))


@pytest.mark.parametrize(
    "state",
    [{"format": 2}, {"format": 1, "windows": "x"}, {"format": 1, "windows": [], "changed": [1]}],
)
def test_restore_refuses_malformed_state(state: Record) -> None:
    with pytest.raises(PartialError):
        PartitionWindows(CONFIG).restore(state)
    with pytest.raises(PartialError):
        WindowMerger(CONFIG).restore(state)


# --- configuration ----------------------------------------------------------------------------


def test_config_from_mapping() -> None:
    assert RoutingConfig.from_mapping({}) == RoutingConfig(60, 5)
    assert RoutingConfig.from_mapping({"window_s": 10, "allowed_lateness_s": "0"}) == (
        RoutingConfig(10, 0)
    )
    assert RoutingConfig().window_us == 60 * S and RoutingConfig().lateness_us == 5 * S


@pytest.mark.parametrize(
    ("mapping", "names"),
    [
        ({"window": 60}, "routing.window: unknown key"),
        ({"window_s": 0}, "routing.window_s=0"),
        ({"window_s": True}, "routing.window_s=True"),
        ({"window_s": 1.5}, "routing.window_s=1.5"),
        ({"window_s": 86_401}, "routing.window_s=86401"),
        ({"allowed_lateness_s": -1}, "routing.allowed_lateness_s=-1"),
        ({"allowed_lateness_s": "soon"}, "routing.allowed_lateness_s='soon'"),
    ],
)
def test_config_errors_name_the_key(mapping: Record, names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace(".", r"\.").replace("=", "=")):
        RoutingConfig.from_mapping(mapping)


def test_config_checks_direct_construction_too() -> None:
    with pytest.raises(ConfigError, match="routing.window_s"):
        RoutingConfig(window_s=-60)
