"""The simulator's positions carry realised P&L as a position keeper writes it (docs/pnl.md):
each version's cumulative ``realized_pnl`` is the previous one plus its ``realized_pnl_delta``,
a delta is the closed volume's P&L at the price it closed at, and closes happen in profit and
in loss; the events are otherwise the ones the seed always gave."""

from __future__ import annotations

from streams import events
from streams.simulator.generator import SimConfig, Simulator


def test_realized_pnl_is_cumulative_and_comes_from_partial_closes_and_closes() -> None:
    sim = Simulator(SimConfig(seed=5))
    last: dict[str, dict[str, float]] = {}
    deltas: list[float] = []
    partial_closes = 0
    for kind, kw in sim.take(30_000):
        if kind != "position":
            continue
        events.validate("PositionState", events.position(**kw))  # the SDK takes them
        prev = last.get(kw["position_id"])
        before = 0.0 if prev is None else prev["realized_pnl"]
        assert kw["realized_pnl"] == before + kw["realized_pnl_delta"]
        if kw["realized_pnl_delta"]:
            deltas.append(kw["realized_pnl_delta"])
            if kw["status"] == "OPEN":
                partial_closes += 1
                assert prev is not None and kw["volume"] < prev["volume"]
        if prev is None or kw["status"] == "CLOSED" or kw["volume"] >= prev["volume"]:
            if kw["status"] == "OPEN" and prev is not None:
                assert kw["realized_pnl_delta"] == 0.0, "a mark or an add realises nothing"
        last[kw["position_id"]] = {"realized_pnl": kw["realized_pnl"], "volume": kw["volume"]}
    assert partial_closes > 10
    assert sum(d > 0 for d in deltas) > 10 and sum(d < 0 for d in deltas) > 10


def test_a_close_realises_the_remaining_volume_at_the_price_it_closed_at() -> None:
    sim = Simulator(SimConfig(seed=9))
    checked = 0
    for kind, kw in sim.take(20_000):
        if kind != "position":
            continue
        if kw["status"] == "CLOSED":
            sign = 1.0 if kw["side"] == "BUY" else -1.0
            expected = sign * (kw["current_price"] - kw["open_price"]) * kw["volume"]
            assert kw["realized_pnl_delta"] == expected
            checked += 1
    assert checked > 10
