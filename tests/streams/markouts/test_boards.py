"""Tests of the aggregates: ``streams.markouts.accounts`` (windows, score, holding times),
``.lps`` (fill markouts, the last-look test), ``.curves``, ``.holding`` and ``.boards``
(snapshots)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import StateError
from streams.markouts.accounts import AccountBoard
from streams.markouts.boards import MarkoutBoards
from streams.markouts.config import MarkoutConfig
from streams.markouts.curves import CurveBoard
from streams.markouts.holding import PositionTimes
from streams.markouts.lps import LpBoard, last_look_z
from streams.markouts.records import ALL_SYMBOLS
from streams.markouts.stage import MarkoutStage
from streams.markouts.window import SampleCounts
from tests.helpers.markouts import (
    SCENARIO_PROPERTY,
    T0,
    USD_RATE,
    Params,
    Run,
    S,
    feed,
    markout_record,
    scenario,
)


def config(**kw: Any) -> MarkoutConfig:
    return MarkoutConfig(**kw)


# --- accounts ---------------------------------------------------------------------------------


def test_an_account_is_scored_from_min_trades_on_and_keeps_its_last_n() -> None:
    board = AccountBoard(config(min_trades=3, account_window_trades=4))
    for k in range(3):
        board.on_markout(markout_record(f"t{k}", T0 + k * S, [0.5, -1.0, -1.0, -1.0]))
        rec = board.record("acc-1")
        assert rec is not None and rec["trades"] == k + 1
        assert (rec["score"] is None) is (k < 2)
    assert rec is not None
    assert rec["z"] == 3 / math.sqrt(3) and rec["score"] == pytest.approx(20 * math.sqrt(3))
    for k in range(3, 6):  # the client loses these: they push the first ones out
        board.on_markout(markout_record(f"t{k}", T0 + k * S, [1.0, 2.0, 2.0, 2.0]))
    rec = board.record("acc-1")
    assert rec is not None and rec["trades"] == 4
    assert (rec["clientWins"], rec["clientLosses"]) == (1, 3)
    assert rec["meanMarkoutBps"] == [0.875, 1.25, 1.25, 1.25]
    assert rec["meanMarkoutUsd"] == [8.75, 12.5, 12.5, 12.5]
    assert rec["clientFavourPct"] == [0.0, 25.0, 25.0, 25.0]
    assert rec["level"] == "normal" and rec["score"] == 0.0
    changed, alerts, advice = board.drain()
    assert changed == ["acc-1"] and alerts == []
    assert [a["level"] for a in advice] == ["normal"]


def test_an_informed_account_raises_toxic_flow_and_gets_a_book_advice() -> None:
    board = AccountBoard(config(min_trades=30))
    for k in range(40):
        bps = -1.0 if k % 10 else 0.5  # the client wins 9 of 10
        board.on_markout(markout_record(f"t{k}", T0 + k * S, [0.2, bps, bps, bps]))
    _, alerts, advice = board.drain()
    raised = [a for a in alerts if a["state"] == "RAISED"]
    assert [a["ruleId"] for a in raised] == ["markouts.toxic_flow.toxic"]  # z 4.4 at 30 trades
    assert advice[-1]["recommendedBook"] == "ABOOK" and advice[-1]["level"] == "toxic"
    rec = board.record("acc-1")
    assert rec is not None and rec["level"] == "toxic"


def test_alerts_are_dated_when_the_longest_horizon_of_the_trade_ended() -> None:
    board = AccountBoard(config(min_trades=1, watch_score=15.0, score_margin=5.0))
    board.on_markout(markout_record("t0", T0, [-1.0, -1.0, -1.0, -1.0]))  # z = 1: score 20
    _, alerts, _ = board.drain()
    assert alerts[0]["eventTime"] == T0 + 60 * S  # fill + 60 s


def test_trades_age_out_of_the_time_window_and_idle_accounts_are_forgotten() -> None:
    board = AccountBoard(
        config(min_trades=1, account_window_s=60, watch_score=15.0, score_margin=5.0)
    )
    board.on_markout(markout_record("t0", T0, [-1.0, -1.0, -1.0, -1.0], account="a"))
    board.expire(T0 + 60 * S)
    assert board.record("a") is not None
    board.expire(T0 + 60 * S + 1)
    assert board.record("a") is None and board.trades == {}
    _, alerts, advice = board.drain()
    assert [a["state"] for a in alerts] == ["RAISED", "RESOLVED"]
    assert [a["level"] for a in advice] == ["watch", "unscored"]


def test_markouts_without_an_account_or_seen_twice_change_nothing() -> None:
    board = AccountBoard(config())
    board.on_markout(markout_record("t0", T0, [1.0, 1.0, 1.0, 1.0], account=None))
    board.on_markout(markout_record("t1", T0, [1.0, 1.0, 1.0, 1.0]))
    board.on_markout(markout_record("t1", T0, [1.0, 1.0, 1.0, 1.0]))
    assert board.counters == {"noAccount": 1, "ignoredMarkouts": 1, "ignoredHoldings": 0}


# --- holding times ----------------------------------------------------------------------------


def position(pid: str, version: int, t: int, status: str = "OPEN") -> dict[str, Any]:
    return {"positionId": pid, "version": version, "accountId": "acc-1", "eventTime": t,
            "status": status}  # fmt: skip


def test_holding_times_come_from_version_1_to_the_close() -> None:
    times = PositionTimes(retention_us=3_600 * S)
    assert times.on_position(position("p1", 1, T0)) is None
    assert times.on_position(position("p1", 2, T0 + 5 * S)) is None
    assert times.on_position(position("p1", 3, T0 + 30 * S, "CLOSED")) == (
        "acc-1", "p1", T0, T0 + 30 * S,
    )  # fmt: skip
    assert times.on_position(position("p1", 3, T0 + 30 * S, "CLOSED")) is None  # redelivered
    assert times.on_position(position("p1", 1, T0)) is None  # does not reopen it
    assert times.open == {}
    assert times.on_position(position("p2", 4, T0 + 40 * S)) is None  # joined mid-way
    assert times.on_position(position("p2", 5, T0 + 50 * S, "CLOSED")) is None
    assert times.unknown_opening == 1


def test_the_account_record_has_the_mean_holding_time() -> None:
    boards = MarkoutBoards(config())
    for pid, opened, closed in (("p1", 0, 10), ("p2", 5, 35)):
        boards.on_position(position(pid, 1, T0 + opened * S))
        boards.on_position(position(pid, 2, T0 + closed * S, "CLOSED"))
    rec = boards.accounts.record("acc-1")
    assert rec is not None and rec["closedPositions"] == 2 and rec["meanHoldingTimeS"] == 20.0
    assert rec["trades"] == 0 and rec["score"] is None and rec["level"] == "unscored"


# --- LPs --------------------------------------------------------------------------------------


def test_last_look_z_is_the_two_proportion_test_of_the_reject_rates() -> None:
    z = last_look_z(SampleCounts(40, 30, 200, 10, 0), min_decisions=20)
    p = 40 / 240
    expected = (30 / 40 - 10 / 200) / math.sqrt(p * (1 - p) * (1 / 40 + 1 / 200))
    assert z == pytest.approx(expected, rel=1e-15)
    assert last_look_z(SampleCounts(19, 19, 200, 10, 0), min_decisions=20) is None
    assert last_look_z(SampleCounts(40, 0, 200, 0, 0), min_decisions=20) is None


def sample(k: int, lp: str, rejected: bool, move: float | None) -> Any:
    return {"sampleId": f"s{k}", "eventTime": T0 + k * 1000, "requestTime": T0, "lpName": lp,
            "symbol": "EURUSD", "side": "BUY", "rejected": rejected, "midAtRequest": 1.0,
            "midAtDecision": 1.0, "moveAgainstLpBps": move, "status": "KNOWN"}  # fmt: skip


def test_an_lp_that_rejects_after_adverse_moves_is_suspected() -> None:
    board = LpBoard(config(lp_min_decisions=10))
    for k in range(200):
        adverse = k % 5 == 0
        board.on_sample(sample(k, "LL", adverse and k % 10 == 0, 0.5 if adverse else -0.1))
        board.on_sample(sample(1000 + k, "FAIR", k % 7 == 0, 0.5 if adverse else 0.0))
    board.on_markout(markout_record("f1", T0, [0.1, 0.2, 0.3, 0.4], lp="LL"))
    ll, fair = board.record("LL"), board.record("FAIR")
    assert ll is not None and fair is not None
    assert (ll["adverseDecisions"], ll["adverseRejects"], ll["otherRejects"]) == (40, 20, 0)
    assert ll["rejectRateAfterAdverse"] == 0.5 and ll["rejectRateOtherwise"] == 0.0
    assert ll["lastLookSuspected"] and board.suspected("LL")
    assert not fair["lastLookSuspected"] and fair["lastLookZ"] is not None
    assert ll["fills"] == 1 and ll["meanMarkoutBps"] == [0.1, 0.2, 0.3, 0.4]
    assert board.drain() == ["FAIR", "LL"]


# --- curves -----------------------------------------------------------------------------------


def test_curves_per_symbol_and_book_and_over_all_symbols() -> None:
    board = CurveBoard(config())
    board.on_markout(markout_record("a", T0, [1.0, 2.0, 3.0, 4.0]))
    board.on_markout(markout_record("b", T0, [3.0, 4.0, 5.0, 6.0], symbol="GBPUSD"))
    board.on_markout(markout_record("c", T0, [-1.0, -1.0, -1.0, -1.0], lp="LP-A"))
    all_b = board.record(ALL_SYMBOLS, "BBOOK")
    assert all_b is not None and all_b["trades"] == 2
    assert all_b["meanMarkoutBps"] == [2.0, 3.0, 4.0, 5.0]
    eur_a = board.record("EURUSD", "ABOOK")
    assert eur_a is not None and eur_a["meanMarkoutBps"] == [-1.0] * 4
    assert board.drain() == [
        ("*", "ABOOK"), ("*", "BBOOK"), ("EURUSD", "ABOOK"), ("EURUSD", "BBOOK"),
        ("GBPUSD", "BBOOK"),
    ]  # fmt: skip


# --- snapshots --------------------------------------------------------------------------------


@SCENARIO_PROPERTY
@given(seed=st.integers(0, 10_000), cut=st.floats(0.0, 1.0))
def test_boards_snapshot_and_restore_mid_stream_give_the_same_records(
    seed: int, cut: float
) -> None:
    events = scenario(Params(seed=seed, minutes=3, noise=4, informed=2)).events
    cfg = config(min_trades=5, account_window_trades=20, lp_min_decisions=2)
    whole = Run(_stage(cfg), MarkoutBoards(cfg))
    feed(whole, events)
    first = Run(_stage(cfg), MarkoutBoards(cfg))
    at = int(len(events) * cut)
    feed(first, events[:at])
    second = Run(_stage(cfg), MarkoutBoards(cfg))
    second.stage.restore(json.loads(json.dumps(first.stage.state())))
    second.boards.restore(json.loads(json.dumps(first.boards.state())))
    assert second.boards.state() == first.boards.state()
    feed(second, events[at:])
    assert first.published + second.published == whole.published
    assert second.boards.state() == whole.boards.state()


def _stage(cfg: MarkoutConfig) -> MarkoutStage:
    return MarkoutStage(cfg, USD_RATE)


def test_boards_restore_rejects_another_format_or_other_horizons() -> None:
    state = MarkoutBoards(config()).state()
    with pytest.raises(StateError):
        MarkoutBoards(config(horizons_ms=(1_000, 5_000))).restore(state)
    with pytest.raises(StateError):
        MarkoutBoards(config()).restore({**state, "format": 9})
    with pytest.raises(StateError):
        MarkoutBoards(config()).restore({**state, "lps": {"clock": "x"}})
