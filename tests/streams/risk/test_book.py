"""Tests of ``streams.risk.book`` (stage 1) and ``streams.risk.partial``: the version rule,
realised P&L from the cumulative ``realizedPnl`` and ``realizedPnlDelta``, the trading day,
the per-account partials and their records, and the rebuild from a compacted positions topic."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.market import SCALE
from streams.risk import AccountPartial, RiskBook, RiskStateError, TradingCalendar
from streams.risk.partial import Group, Largest, Realized
from tests.helpers.risk import micros, position

CAL = TradingCalendar()
T = micros("2026-01-20T10:00:00Z")  # trading day 2026-01-20
ROLL = micros("2026-01-20T22:00:00Z")  # 2026-01-21 starts
DAY = CAL.day_of(T)
PROPERTY = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def book_of(*records: dict[str, Any]) -> RiskBook:
    book = RiskBook(CAL)
    for r in records:
        book.apply(r)
    return book


def test_one_position_makes_one_group_and_is_the_largest() -> None:
    book = book_of(position("p1", volume=1_000.0, open_price=1.25, current_price=1.5, t=T))
    [(account, partial)] = book.drain()
    assert account == "acc-1"
    assert partial == AccountPartial.of(
        [Group("EURUSD", "BBOOK", "BUY", 1, 1_000 * SCALE, 1_250 * SCALE, 1_500 * SCALE)],
        [],
        [Largest("EURUSD", 1_000 * SCALE, "p1", "BUY", "BBOOK")],
    )
    assert book.drain() == []


def test_stale_and_duplicate_versions_change_nothing() -> None:
    book = book_of(position("p1", 2, volume=5.0, t=T))
    book.drain()
    assert not book.apply(position("p1", 2, volume=5.0, t=T))
    assert not book.apply(position("p1", 1, volume=9.0, t=T))
    assert book.drain() == []
    assert book.apply(position("p1", 3, status="CLOSED", t=T))
    assert not book.apply(position("p1", 2, volume=5.0, t=T))  # a stale OPEN after the close
    [(_, partial)] = book.drain()
    assert not partial and len(book) == 0


def test_realised_pnl_is_the_change_of_the_cumulative_amount() -> None:
    book = book_of(
        position("p1", 1, t=T, realized=0.0),
        position("p1", 2, volume=60_000.0, t=T + 1, realized=100.0, realized_delta=100.0),
        position("p1", 3, volume=30_000.0, t=T + 2, realized=150.5, realized_delta=50.5),
    )
    book.apply(position("p1", 2, volume=60_000.0, t=T + 1, realized=100.0))  # redelivered
    assert book.partial("acc-1").realized == (Realized("EURUSD", "BBOOK", DAY, 150_500_000),)


def test_the_first_version_seen_realises_its_delta_or_else_the_whole_amount() -> None:
    with_delta = book_of(position("p1", 7, t=T, realized=500.0, realized_delta=50.0))
    assert with_delta.partial("acc-1").realized[0].amount_u == 50 * SCALE
    without = book_of(position("p1", 7, t=T, realized=500.0))
    assert without.partial("acc-1").realized[0].amount_u == 500 * SCALE
    closed = book_of(position("p1", 9, status="CLOSED", t=T, realized=-20.0, realized_delta=-5.0))
    assert closed.partial("acc-1").realized[0].amount_u == -5 * SCALE


def test_a_writer_without_realised_pnl_realises_nothing_and_keeps_the_amount() -> None:
    book = book_of(
        position("p1", 1, t=T, realized=10.0, realized_delta=10.0),
        position("p1", 2, volume=5.0, t=T + 1),  # realizedPnl null
        position("p1", 3, volume=4.0, t=T + 2, realized=12.0),
    )
    assert book.partial("acc-1").realized[0].amount_u == 12 * SCALE


def test_realised_pnl_belongs_to_the_trading_day_of_its_event() -> None:
    book = book_of(position("p1", 1, t=ROLL - 1, realized=7.0, realized_delta=7.0))
    assert book.partial("acc-1").realized == (Realized("EURUSD", "BBOOK", DAY, 7 * SCALE),)
    book.apply(position("p1", 2, volume=1.0, t=ROLL, realized=10.0, realized_delta=3.0))
    assert book.partial("acc-1").realized == (Realized("EURUSD", "BBOOK", DAY + 1, 3 * SCALE),)
    book.apply(position("p2", 1, t=ROLL + 5, realized=1.0, realized_delta=1.0))
    book.apply(position("p3", 1, t=ROLL - 5, realized=2.0, realized_delta=2.0))  # late: a day over
    assert book.partial("acc-1").realized == (Realized("EURUSD", "BBOOK", DAY + 1, 4 * SCALE),)


def test_the_first_event_of_a_new_day_drains_the_accounts_with_yesterdays_realised_pnl() -> None:
    """So the global stage learns that their realised-only partials are empty now."""
    book = book_of(
        position("p1", 1, account="a", t=ROLL - 10, realized=0.0),
        position("p1", 2, account="a", status="CLOSED", t=ROLL - 5, realized=9.0),
    )
    assert [a for a, p in book.drain()] == ["a"]
    book.apply(position("p2", 1, account="b", t=ROLL))
    drained = dict(book.drain())
    assert sorted(drained) == ["a", "b"] and not drained["a"]
    assert book.accounts() == ["b"]


def test_a_position_that_moves_account_leaves_the_old_one_empty() -> None:
    book = book_of(position("p1", 1, account="a", t=T))
    book.drain()
    book.apply(position("p1", 2, account="b", t=T))
    drained = dict(book.drain())
    assert not drained["a"] and drained["b"].groups[0].positions == 1
    assert book.accounts() == ["b"]


def test_largest_position_ties_go_to_the_smaller_id() -> None:
    book = book_of(position("p2", volume=5.0, t=T), position("p1", volume=5.0, t=T))
    assert book.partial("acc-1").largest[0].position_id == "p1"


def test_partial_records_round_trip_through_json_and_reject_malformed_ones() -> None:
    book = book_of(
        position("p1", volume=123.456789, open_price=157.123, t=T, realized=1e9),
        position("p2", side="SELL", symbol="XAUUSD", book="ABOOK", t=T),
    )
    partial = book.partial("acc-1")
    assert AccountPartial.from_record(json.loads(json.dumps(partial.to_record()))) == partial
    bad: list[Any] = [
        None,
        {"format": 2},
        {"format": 1, "groups": "x"},
        {"format": 1, "groups": [["EURUSD", "CBOOK", "BUY", 1, "1", "1", "1"]]},
        {"format": 1, "groups": [["EURUSD", "BBOOK", "BUY", -1, "1", "1", "1"]]},
        {"format": 1, "groups": [["EURUSD", "BBOOK", "BUY", 1, 1.5, "1", "1"]]},
        {"format": 1, "realized": [["EURUSD", "BBOOK", "x", "1"]]},
        {"format": 1, "largest": [["EURUSD", "1", "", "BUY", "BBOOK"]]},
    ]
    for rec in bad:
        with pytest.raises(RiskStateError):
            AccountPartial.from_record(rec)


# --------------------------------------------------------------------------------------------
# Properties: incremental == recomputed; a rebuild from the compacted topic == uninterrupted

ACCOUNTS = ["a", "b", "c"]
SYMBOLS = ["EURUSD", "USDJPY", "XAUUSD"]


@st.composite
def histories(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Per position, its versions in order: times over yesterday and today, the cumulative
    realised amount moving by whole cents, maybe closed at the end."""
    out = []
    for i in range(draw(st.integers(1, 8))):
        pid, account = f"p{i}", draw(st.sampled_from(ACCOUNTS))
        symbol, side = draw(st.sampled_from(SYMBOLS)), draw(st.sampled_from(["BUY", "SELL"]))
        t, realized, versions = ROLL - 3 * 3_600_000_000, 0, []
        for v in range(1, draw(st.integers(1, 6)) + 1):
            t += draw(st.integers(0, 3_600_000_000))
            delta = draw(st.integers(-5_000, 5_000))
            realized += delta
            closed = v > 1 and draw(st.integers(0, 5)) == 0
            versions.append(
                position(
                    pid,
                    v,
                    account=account,
                    symbol=symbol,
                    side=side,
                    volume=draw(st.integers(1, 10**6)) / 100,
                    open_price=draw(st.integers(1, 10**5)) / 100,
                    status="CLOSED" if closed else "OPEN",
                    t=t,
                    realized=realized / 100,
                    realized_delta=delta / 100,
                )
            )
            if closed:
                break
        out.append(versions)
    return out


def interleave(hist: list[list[dict[str, Any]]], order: list[int]) -> list[dict[str, Any]]:
    """One log: the positions' versions interleaved (each position's in order)."""
    queues = [list(h) for h in hist]
    log = []
    for pick in order:
        live = [q for q in queues if q]
        if not live:
            break
        log.append(live[pick % len(live)].pop(0))
    log += [r for q in queues for r in q]
    return log


def partials(log: list[dict[str, Any]]) -> dict[str, AccountPartial]:
    """The accounts' partials after the log and an event later today (so that every book has
    reached today). The closed ids are remembered for two days here: longer than the test's
    redelivery delays, as the worker's settings must be (docs/exposure.md)."""
    book = RiskBook(CAL, closed_retention_us=48 * 3_600_000_000)
    for r in [*log, position("sentinel", account="z", t=ROLL + 10 * 3_600_000_000)]:
        book.apply(r)
    return {a: book.partial(a) for a in ACCOUNTS}


@PROPERTY
@given(histories(), st.lists(st.integers(0, 50), max_size=60), st.randoms())
def test_partials_equal_a_naive_recomputation_after_any_redelivery(
    hist: list[list[dict[str, Any]]], order: list[int], rnd: Any
) -> None:
    log = interleave(hist, order)
    noisy = list(log)
    for r in rnd.sample(log, min(len(log), 5)):  # redeliveries, after the original
        noisy.insert(rnd.randint(noisy.index(r) + 1, len(noisy)), r)
    got = partials(noisy)
    today = CAL.day_of(ROLL + 10 * 3_600_000_000)
    for account in ACCOUNTS:
        final = [h[-1] for h in hist if h[-1]["accountId"] == account]
        groups: dict[tuple[str, str, str], list[int]] = {}
        for r in final:
            if r["status"] == "OPEN":
                g = groups.setdefault((r["symbol"], r["book"], r["side"]), [0, 0, 0, 0])
                volume, price = Fraction(r["volume"]), Fraction(r["openPrice"])
                g[0] += 1
                g[1] += round(volume * SCALE)
                g[2] += round(volume * price * SCALE)
                g[3] += round(volume * price * SCALE)  # no currentPrice: the open price
        realized = sum(
            round(Fraction(r["realizedPnl"]) * SCALE) - round(Fraction(prev) * SCALE)
            for h in hist
            for r, prev in zip(h, [0.0, *(x["realizedPnl"] for x in h)], strict=False)
            if r["accountId"] == account and CAL.day_of(r["eventTime"]) == today
        )
        assert {g[:3]: list(g[3:]) for g in got[account].groups} == groups
        assert sum(r.amount_u for r in got[account].realized) == realized


@PROPERTY
@given(histories(), st.lists(st.integers(0, 50), max_size=60))
def test_a_rebuild_from_the_compacted_topic_equals_the_uninterrupted_run(
    hist: list[list[dict[str, Any]]], order: list[int]
) -> None:
    """Compaction with a lag of one trading day keeps every version of today and, of a
    position without one, its latest: stage 1 rebuilt from that gives the same partials."""
    log = interleave(hist, order)
    start = CAL.start_of(CAL.day_of(ROLL + 1))
    latest = {h[-1]["positionId"]: h[-1] for h in hist}
    compacted = [r for r in log if r["eventTime"] >= start or r is latest[r["positionId"]]]
    assert partials(compacted) == partials(log)
