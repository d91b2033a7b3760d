"""Tests of ``streams.markouts.stage``: the sign convention (the worked example of
docs/markouts.md), event-time waiting, the bounded wait, exactly-once, lateness, bounded memory
and snapshots."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import StateError
from streams.markouts.config import MarkoutConfig
from streams.markouts.stage import MarkoutStage
from streams.markouts.usd import quote_usd
from tests.helpers.markouts import (
    MS,
    SCENARIO_PROPERTY,
    T0,
    USD_RATE,
    Event,
    Params,
    S,
    decision,
    quote,
    scenario,
    step,
)


def stage(**config: Any) -> MarkoutStage:
    if "horizons_ms" in config:  # the score horizon must be one of them
        config.setdefault("score_horizon_ms", config["horizons_ms"][0])
    return MarkoutStage(MarkoutConfig(**config), USD_RATE)


def feed(s: MarkoutStage, events: list[Event]) -> list[dict[str, Any]]:
    """Feed events; returns everything drained, markouts and samples, in order."""
    out: list[dict[str, Any]] = []
    for kind, rec in events:
        step(s, kind, rec)
        markouts, samples = s.drain()
        out += [dict(m) for m in markouts] + [dict(x) for x in samples]
    return out


# --- the sign convention ----------------------------------------------------------------------


def test_worked_example_of_the_docs_client_buy() -> None:
    """docs/markouts.md, "Worked example": a client BUY of 100,000 EURUSD at 1.0851 (the ask);
    the broker sold, so its markout is price - mid: -0.0002 at 5 s and 30 s (the market rose:
    the client was right), +0.0002 at 60 s. The trade settles with the first quote after
    fill + 60 s."""
    s = stage()
    s.on_quote(quote(T0, 1.0849, 1.0851))
    s.on_decision(decision(T0 + 500 * MS, "BUY", 1.0851, event_id="trade-1"))
    for t, bid, ask in [
        (T0 + 1_200 * MS, 1.0850, 1.0852),
        (T0 + 5_400 * MS, 1.0852, 1.0854),
        (T0 + 31 * S, 1.0848, 1.0850),
        (T0 + 60_500 * MS, 1.0847, 1.0849),  # exactly fill + 60 s: the 60 s mid, not final yet
    ]:
        s.on_quote(quote(t, bid, ask))
    assert s.drain() == ([], [])
    s.on_quote(quote(T0 + 61 * S, 1.0846, 1.0848))
    markouts, samples = s.drain()
    assert samples == []
    assert markouts == [
        {
            "tradeId": "trade-1",
            "orderId": "o-1768818600500000",
            "eventTime": 1768818600500000,
            "symbol": "EURUSD",
            "side": "BUY",
            "volume": 100000.0,
            "book": "BBOOK",
            "lpName": None,
            "accountId": "acc-1",
            "price": 1.0851,
            "midAtFill": 1.085,
            "horizonsMs": [1000, 5000, 30000, 60000],
            "midAtHorizon": [1.0851, 1.0853, 1.0853, 1.0848],
            "markout": [
                0.0, -0.00019999999999997797, -0.00019999999999997797, 0.00029999999999996696
            ],
            "markoutBps": [0.0, -1.8431480969493867, -1.8431480969493867, 2.7647221454240802],
            "markoutUsd": [0.0, -19.999999999997797, -19.999999999997797, 29.999999999996696],
            "status": ["KNOWN", "KNOWN", "KNOWN", "KNOWN"],
        }
    ]  # fmt: skip


def test_client_sell_is_marked_mid_minus_price_and_usd_uses_the_symbols_own_mid() -> None:
    """A client SELL of 50,000 USDJPY at 151.196, the mid falls to 151.15: the broker bought
    above the market, markout 151.15 - 151.196 = -0.046 JPY a unit, x 50,000 / 151.15 USD."""
    s = stage(horizons_ms=(1_000,))
    s.on_quote(quote(T0, 151.196, 151.204, "USDJPY"))
    s.on_decision(
        decision(T0 + 500 * MS, "SELL", 151.196, symbol="USDJPY", volume=50_000.0, lp="LP-A")
    )
    s.on_quote(quote(T0 + 1_000 * MS, 151.146, 151.154, "USDJPY"))
    s.on_quote(quote(T0 + 2_000 * MS, 151.146, 151.154, "USDJPY"))
    (m,), (sample,) = s.drain()
    mid = 151.146 / 2 + 151.154 / 2  # 151.14999999999998: the stage's mid, as floats go
    assert m["midAtHorizon"] == [mid]
    assert m["markout"] == [mid - 151.196]
    assert m["markoutBps"] == [(mid - 151.196) / 151.196 * 10_000]
    assert m["markoutUsd"] == [(mid - 151.196) * 50_000.0 * (1 / mid)]
    assert m["book"] == "ABOOK" and m["lpName"] == "LP-A"
    assert sample["lpName"] == "LP-A" and sample["rejected"] is False
    assert sample["requestTime"] == T0 + 475 * MS  # 25 ms of execution time
    assert sample["moveAgainstLpBps"] == 0.0  # no quote between request and decision


def test_last_look_sample_measures_the_move_between_request_and_decision() -> None:
    """Client BUY; the mid rises 1 pip while the LP holds the order: against the LP, > 0."""
    s = stage()
    s.on_quote(quote(T0, 1.0849, 1.0851))
    s.on_quote(quote(T0 + 490 * MS, 1.0850, 1.0852))
    s.on_decision(decision(T0 + 500 * MS, "BUY", 1.0852, lp="LP-LL", rejected=True, exec_ms=30))
    assert s.drain() == ([], [])  # the decision time is not passed yet
    s.on_quote(quote(T0 + 600 * MS, 1.0850, 1.0852))
    markouts, (sample,) = s.drain()
    assert markouts == []  # a reject is not a trade
    assert sample["midAtRequest"] == 1.085 and sample["midAtDecision"] == 1.0851
    assert sample["moveAgainstLpBps"] == (1.0851 - 1.085) / 1.085 * 10_000
    assert sample["rejected"] is True and sample["status"] == "KNOWN"


# --- event time -------------------------------------------------------------------------------


def test_each_horizon_waits_for_a_quote_after_it_and_uses_the_last_at_or_before() -> None:
    s = stage(horizons_ms=(1_000, 5_000))
    s.on_quote(quote(T0, 1.0849, 1.0851))
    s.on_decision(decision(T0, "SELL", 1.0849))
    s.on_quote(quote(T0 + S, 1.0859, 1.0861))  # exactly t + 1 s
    s.on_quote(quote(T0 + 5 * S, 1.0869, 1.0871))  # exactly t + 5 s: passes 1 s only
    assert s.drain() == ([], [])
    assert s.memory()["pendingTrades"] == 1
    s.on_quote(quote(T0 + 5 * S + 1, 1.0879, 1.0881))
    (m,), _ = s.drain()
    assert m["midAtHorizon"] == [1.086, 1.087]
    assert m["status"] == ["KNOWN", "KNOWN"]


def test_a_trade_arriving_after_its_horizons_settles_at_once() -> None:
    s = stage(horizons_ms=(1_000,))
    for k in range(5):
        s.on_quote(quote(T0 + k * S, 1.0849 + k * 1e-4, 1.0851 + k * 1e-4))
    s.on_decision(decision(T0 + 500 * MS, "BUY", 1.0851))
    (m,), _ = s.drain()
    assert m["midAtHorizon"] == [1.0851] and m["midAtFill"] == 1.085


def test_quotes_that_stop_time_out_after_max_wait_of_any_input() -> None:
    """GBPUSD stops quoting after 2 s; EURUSD goes on. Horizons passed before the stop are
    KNOWN; the others time out once EURUSD's time passes fill + h + max_wait."""
    s = stage(horizons_ms=(1_000, 5_000), max_wait_s=10)
    s.on_quote(quote(T0, 1.2699, 1.2701, "GBPUSD"))
    s.on_decision(decision(T0, "BUY", 1.2701, symbol="GBPUSD"))
    s.on_quote(quote(T0 + 2 * S, 1.2709, 1.2711, "GBPUSD"))
    s.on_quote(quote(T0 + 15 * S, 1.0849, 1.0851))  # = fill + 5 s + 10 s: not past it
    assert s.drain() == ([], [])
    s.on_quote(quote(T0 + 15 * S + 1, 1.0849, 1.0851))
    (m,), _ = s.drain()
    assert m["status"] == ["KNOWN", "TIMED_OUT"]
    assert m["midAtHorizon"] == [1.27, None] and m["markoutUsd"][1] is None
    assert m["midAtFill"] == 1.27
    assert s.counters["markoutsKnown"] == 1 and s.counters["markoutsTimedOut"] == 1
    assert s.memory()["pendingTrades"] == 0


def test_advance_times_out_a_symbol_without_any_later_input() -> None:
    s = stage(horizons_ms=(1_000,), max_wait_s=5)
    s.on_decision(decision(T0, "BUY", 1.0851))
    s.advance(T0 + 6 * S)
    assert s.drain() == ([], [])
    s.advance(T0 + 6 * S + 1)
    (m,), _ = s.drain()
    assert m["status"] == ["TIMED_OUT"] and m["midAtFill"] is None


def test_a_trade_before_the_first_quote_has_no_quote_at_its_horizon() -> None:
    s = stage(horizons_ms=(1_000, 5_000))
    s.on_decision(decision(T0, "BUY", 1.085))
    s.on_quote(quote(T0 + 2 * S, 1.0849, 1.0851))
    s.on_quote(quote(T0 + 6 * S, 1.0849, 1.0851))
    (m,), _ = s.drain()
    assert m["status"] == ["NO_QUOTE", "KNOWN"]
    assert m["markout"] == [None, 0.0] and m["midAtFill"] is None
    assert s.counters["markoutsNoQuote"] == 1


def test_rejects_and_unpriced_decisions_are_not_trades() -> None:
    s = stage(horizons_ms=(1_000,))
    s.on_quote(quote(T0, 1.0849, 1.0851))
    s.on_decision(decision(T0, "BUY", 1.0851, lp="LP-A", rejected=True, event_id="rej"))
    s.on_decision(decision(T0 + 1, "BUY", None, event_id="b-unpriced"))
    s.on_decision(decision(T0 + 2, "BUY", None, lp="LP-A", event_id="a-unpriced"))
    s.on_quote(quote(T0 + 2 * S, 1.0849, 1.0851))
    markouts, samples = s.drain()
    assert markouts == []
    assert [x["sampleId"] for x in samples] == ["rej", "a-unpriced"]
    assert s.counters["unpricedDecisions"] == 2


def test_a_cross_without_a_usd_rate_has_no_usd_markout_and_is_counted() -> None:
    config = MarkoutConfig(horizons_ms=(1_000,), score_horizon_ms=1_000)
    no_rates: dict[str, float] = {}
    s = MarkoutStage(config, quote_usd(lambda symbol: ("EUR", "CHF"), no_rates.get))
    s.on_quote(quote(T0, 0.9399, 0.9401, "EURCHF"))
    s.on_decision(decision(T0, "BUY", 0.9401, symbol="EURCHF"))
    s.on_quote(quote(T0 + 2 * S, 0.9399, 0.9401, "EURCHF"))
    (m,), _ = s.drain()
    assert m["markout"] == [0.9401 - 0.94] and m["markoutUsd"] == [None]
    assert s.counters["usdUnknown"] == 1


# --- exactly once, lateness -------------------------------------------------------------------


def test_redelivered_decisions_and_quotes_change_nothing() -> None:
    events = scenario(Params(seed=3, minutes=2, noise=3, informed=1)).events
    once = stage()
    expected = feed(once, events)
    twice = stage()
    doubled = [e for e in events for _ in range(2)]
    assert feed(twice, doubled) == expected
    assert twice.counters["duplicateQuotes"] == sum(k == "quote" for k, _ in events)
    assert twice.counters["duplicateDecisions"] == sum(k == "decision" for k, _ in events)
    assert {k: v for k, v in twice.state().items() if k != "counters"} == {
        k: v for k, v in once.state().items() if k != "counters"
    }


def test_a_decision_older_than_the_lateness_is_dropped_and_a_late_quote_too() -> None:
    s = stage(horizons_ms=(1_000,), allowed_lateness_s=10)
    s.on_quote(quote(T0 + 20 * S, 1.0849, 1.0851))
    s.on_decision(decision(T0 + 9 * S, "BUY", 1.0851))  # 11 s behind: late
    s.on_decision(decision(T0 + 10 * S, "BUY", 1.0851))  # 10 s behind: in time
    s.on_quote(quote(T0 + 19 * S, 1.0849, 1.0851))  # older than the symbol's newest
    assert s.counters["lateDecisions"] == 1 and s.counters["lateQuotes"] == 1
    assert s.memory()["pendingTrades"] == 0  # the in-time one settled on the 20 s quote
    (m,), _ = s.drain()
    assert m["eventTime"] == T0 + 10 * S


def test_ids_are_forgotten_once_late_so_a_redelivery_is_still_dropped() -> None:
    s = stage(horizons_ms=(1_000,), allowed_lateness_s=10)
    s.on_quote(quote(T0, 1.0849, 1.0851))
    s.on_decision(decision(T0, "BUY", 1.0851, event_id="d1"))
    s.on_decision(decision(T0 + 11 * S, "BUY", 1.0851, event_id="d2"))
    assert "d1" not in s.seen
    s.on_decision(decision(T0, "BUY", 1.0851, event_id="d1"))
    assert s.counters["lateDecisions"] == 1 and s.counters["duplicateDecisions"] == 0


# --- memory -----------------------------------------------------------------------------------


def test_memory_stays_bounded_under_a_steady_stream() -> None:
    """Two symbols quoting every 50 ms and a trade every 250 ms for 20 minutes: the quotes
    kept stay within (longest horizon + lateness + 1 s) x 20 quotes/s per symbol, the pending
    trades within (longest horizon + 1 s) x 4 trades/s, and neither grows with time."""
    s = stage()  # longest horizon 60 s, lateness 30 s
    peaks: list[dict[str, int]] = []
    peak: dict[str, int] = {}
    for k in range(20 * 60 * 20):  # 50 ms steps
        t = T0 + k * 50 * MS
        for symbol in ("EURUSD", "GBPUSD"):
            s.on_quote(quote(t, 1.0849 + (k % 7) * 1e-5, 1.0851 + (k % 7) * 1e-5, symbol))
        if k % 5 == 0:
            symbol = ("EURUSD", "GBPUSD")[k // 5 % 2]
            s.on_decision(decision(t, "BUY", 1.0851, symbol=symbol, lp="LP-A" if k % 2 else None))
        s.drain()
        for key, value in s.memory().items():
            peak[key] = max(peak.get(key, 0), value)
        if k % (5 * 60 * 20) == 5 * 60 * 20 - 1:  # every 5 minutes
            peaks.append(peak)
            peak = {}
    for p in peaks:
        assert p["quotesKept"] <= 2 * (60 + 30 + 1) * 20
        assert p["quotesAllocated"] <= 2 * (2 * (60 + 30 + 1) * 20 + 4_096)
        assert p["pendingTrades"] <= (60 + 1) * 4
        assert p["pendingTargets"] == p["pendingTrades"]
        assert p["seenIds"] <= (30 + 1) * 4
    assert peaks[-1]["quotesKept"] <= peaks[1]["quotesKept"]
    assert peaks[-1]["pendingTrades"] <= peaks[1]["pendingTrades"]


# --- snapshots --------------------------------------------------------------------------------


@SCENARIO_PROPERTY
@given(seed=st.integers(0, 10_000), cut=st.floats(0.0, 1.0), dup=st.floats(0.0, 0.3))
def test_snapshot_and_restore_mid_stream_give_the_same_output(
    seed: int, cut: float, dup: float
) -> None:
    """Stop anywhere, snapshot through JSON, restore into a new stage and go on: the output
    and the final state equal an uninterrupted run's, also with redelivered events."""
    events = scenario(Params(seed=seed, minutes=1.5, noise=3, informed=1, stop_at=0.5)).events
    at = int(len(events) * cut)
    redelivered = events[at - int(at * dup) : at]  # what a restart re-reads after the snapshot
    whole = stage(max_wait_s=5, allowed_lateness_s=10)
    expected = feed(whole, events)
    first = stage(max_wait_s=5, allowed_lateness_s=10)
    out = feed(first, events[:at])
    second = stage(max_wait_s=5, allowed_lateness_s=10)
    second.restore(json.loads(json.dumps(first.state())))
    assert second.state() == first.state()
    out += feed(second, redelivered + events[at:])
    assert out == expected
    strip = ("counters",)
    assert {k: v for k, v in second.state().items() if k not in strip} == {
        k: v for k, v in whole.state().items() if k not in strip
    }


def test_undrained_output_is_part_of_the_snapshot() -> None:
    s = stage(horizons_ms=(1_000,))
    s.on_quote(quote(T0, 1.0849, 1.0851))
    s.on_decision(decision(T0, "BUY", 1.0851))
    s.on_quote(quote(T0 + 2 * S, 1.0849, 1.0851))
    restored = stage(horizons_ms=(1_000,))
    restored.restore(json.loads(json.dumps(s.state())))
    assert restored.drain() == s.drain()


@pytest.mark.parametrize(
    "damage",
    [
        lambda st: st.update(format=2),
        lambda st: st.update(horizonsMs=[1000]),
        lambda st: st.update(clock="x"),
        lambda st: st["pending"].append([1, "x"]),
        lambda st: st["tapes"].update(
            EURUSD={"times": [2, 1], "mids": [1.0, 1.0], "idsAtLatest": []}
        ),
        lambda st: st["counters"].pop("lateQuotes"),
        lambda st: st.update(seen=[["x", "id"]]),
    ],
)
def test_restore_rejects_a_malformed_snapshot(damage: Any) -> None:
    s = stage()
    s.on_quote(quote(T0, 1.0849, 1.0851))
    s.on_decision(decision(T0, "BUY", 1.0851))
    snapshot = json.loads(json.dumps(s.state()))
    damage(snapshot)
    with pytest.raises(StateError):
        stage().restore(snapshot)
