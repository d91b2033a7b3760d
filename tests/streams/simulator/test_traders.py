"""Labelled trader types of the simulator (streams/simulator/traders.py): informed accounts whose
flow anticipates the market, noise accounts, a last-look LP; the labels, and the records stamped
with simulated time that the markouts benchmark reads."""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

from streams.markouts.config import MarkoutConfig
from streams.markouts.records import LastLookSample, TradeMarkout
from streams.markouts.stage import MarkoutStage
from streams.simulator.cli import _write_labels
from streams.simulator.generator import Simulator
from streams.simulator.market import LP_PROFILES
from streams.simulator.model import SimConfig
from streams.simulator.timed import timed_events
from streams.simulator.traders import INFORMED, NOISE, hidden_from, labels_document

T0 = 1_768_818_600_000_000


def test_labels_are_a_function_of_seed_and_account_and_cover_known_and_hidden_informed() -> None:
    config = SimConfig(seed=5, accounts=2000)
    labels = Simulator(config).labels
    assert labels == Simulator(config).labels
    sim = Simulator(config)
    for account in sim.accounts:
        lb = labels[account.id]
        if account.toxic:
            assert (lb.kind, lb.informed_from_s, lb.known) == (INFORMED, 0.0, True)
        elif lb.kind == INFORMED:
            assert lb.informed_from_s is not None and 60 <= lb.informed_from_s < 600
            assert lb.informed_from_s == hidden_from(5, account.id, 0.04, 60.0, 600.0)
        else:
            assert (lb.kind, lb.informed_from_s) == (NOISE, None)
    hidden = sum(lb.kind == INFORMED and not lb.known for lb in labels.values())
    assert 0.02 * 2000 < hidden < 0.06 * 2000
    assert labels != Simulator(SimConfig(seed=6, accounts=2000)).labels


def test_the_labels_take_nothing_from_the_event_sequence() -> None:
    """Without market impact, any share of hidden informed accounts gives the same events."""
    plain = Simulator(SimConfig(seed=3, impact=0.0, hidden_informed=0.0)).take(5000)
    many = Simulator(SimConfig(seed=3, impact=0.0, hidden_informed=0.5)).take(5000)
    assert plain == many


def test_every_routing_decision_carries_the_account_and_the_price() -> None:
    decisions = [
        kw for m, kw in Simulator(SimConfig(seed=4)).take(20_000) if m == "routing_decision"
    ]
    assert decisions
    assert all(kw["account_id"] and kw["price"] and kw["price"] > 0 for kw in decisions)


@cache
def marked_out() -> tuple[Simulator, list[TradeMarkout], list[LastLookSample]]:
    """A simulated run of 250,000 events (1,250 simulated seconds), marked out."""
    sim = Simulator(SimConfig(seed=7))
    stage = MarkoutStage(MarkoutConfig(), lambda _symbol, _mid: None)
    markouts: list[TradeMarkout] = []
    samples: list[LastLookSample] = []
    for method, _, _, record in timed_events(sim, 250_000, T0):
        if method == "quote":
            stage.on_quote(record)
        elif method == "routing_decision":
            stage.on_decision(record)
        m, s = stage.drain()
        markouts += m
        samples += s
    return sim, markouts, samples


def test_informed_flow_anticipates_the_mid_and_noise_flow_does_not() -> None:
    sim, markouts, _ = marked_out()
    wins: Counter[tuple[bool, bool]] = Counter()
    for m in markouts:
        bps = m["markoutBps"][1]  # at 5 s
        if bps is None or bps == 0 or m["accountId"] is None:
            continue
        informed = sim.labels[m["accountId"]].informed_at((m["eventTime"] - T0) / 1e6)
        wins[(informed, bps < 0)] += 1
    informed_share = wins[(True, True)] / (wins[(True, True)] + wins[(True, False)])
    noise_share = wins[(False, True)] / (wins[(False, True)] + wins[(False, False)])
    assert wins[(True, True)] > 1000
    assert informed_share > 0.6 > 0.5 > noise_share


def test_the_last_look_lp_rejects_after_adverse_moves_and_the_others_do_not() -> None:
    _, _, samples = marked_out()
    counts: Counter[tuple[str, bool, bool]] = Counter()
    for s in samples:
        if s["moveAgainstLpBps"] is not None:
            counts[(s["lpName"], s["moveAgainstLpBps"] > 0, s["rejected"])] += 1

    def rate(lp: str, adverse: bool) -> float:
        return counts[(lp, adverse, True)] / (
            counts[(lp, adverse, True)] + counts[(lp, adverse, False)]
        )

    last_look = [p.name for p in LP_PROFILES if p.last_look]
    assert last_look == ["Hotspot"]
    assert rate("Hotspot", True) > 0.8 and rate("Hotspot", False) < 0.2
    honest = [
        p.name
        for p in LP_PROFILES
        if not p.last_look and counts[(p.name, True, True)] + counts[(p.name, True, False)] >= 20
    ]
    assert honest  # at least one other LP filled enough orders to tell
    assert all(rate(lp, True) < 0.2 for lp in honest)


def test_timed_events_are_valid_records_stamped_with_simulated_time() -> None:
    sim = Simulator(SimConfig(seed=2, run_id="t"))
    out = list(timed_events(sim, 3000, T0))
    times = [record["eventTime"] for _, _, _, record in out]
    assert times == sorted(times) and times[0] > T0 and times[-1] == T0 + round(sim.now * 1e6)
    assert [kw["event_id"] for _, _, kw, _ in out][:2] == ["t-e0", "t-e1"]
    assert {schema for _, schema, _, _ in out} == {
        "Quote", "LpStatus", "RoutingDecision", "PositionState", "ServiceAlert",
    } - ({"ServiceAlert"} if not any(m == "alert" for m, *_ in out) else set())  # fmt: skip


def test_the_labels_file(tmp_path: Path) -> None:
    config = SimConfig(seed=9, accounts=50)
    path = tmp_path / "labels.json"
    _write_labels(str(path), config)
    doc: dict[str, Any] = json.loads(path.read_text())
    sim = Simulator(config)
    assert doc == json.loads(
        json.dumps(
            labels_document(9, sim.labels.values(), {p.name: p.last_look for p in LP_PROFILES})
        )
    )
    assert set(doc["accounts"]) == {a.id for a in sim.accounts}
    assert doc["lps"]["Hotspot"] == {"lastLook": True}
