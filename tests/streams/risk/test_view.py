"""Tests of ``streams.risk.view`` (the global stage): partials merged in any order, redelivered
partials, a restore mid-sequence (with and without the partials in the state), prices with a
side missing or none at all, realised P&L waiting for a rate, and the accounts changed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.risk import AccountPartial, RiskBook, RiskStateError, RiskView
from tests.helpers.risk import micros, position, run

T = micros("2026-01-20T10:00:00Z")
PROPERTY = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
QUOTES = [("EURUSD", 1.0998, 1.1002, T), ("USDJPY", 159.98, 160.02, T), ("GBPUSD", 1.25, 1.25, T)]
Put = tuple[str, str, AccountPartial, int]


def outputs(view: RiskView) -> dict[str, Any]:
    return {
        "pnl": view.pnl_change(),
        "accounts": {a: view.account_risk(a) for a in view.accounts()},
        "top": view.top(3),
    }


@st.composite
def position_logs(draw: st.DrawFn) -> list[dict[str, Any]]:
    log = []
    for i in range(draw(st.integers(1, 14))):
        base = dict(
            account=draw(st.sampled_from(["a", "b", "c", "d"])),
            symbol=draw(st.sampled_from(["EURUSD", "USDJPY", "EURGBP"])),
            side=draw(st.sampled_from(["BUY", "SELL"])),
            open_price=draw(st.sampled_from([1.05, 0.87, 158.5])),
        )
        volume = draw(st.integers(1, 10**6)) / 10
        log.append(position(f"p{i}", 1, volume=volume, t=T + i, realized=0.0, **base))
        for v in range(2, draw(st.integers(1, 4)) + 1):
            closed = draw(st.booleans()) and v > 2
            realized = draw(st.integers(-(10**5), 10**5)) / 100
            log.append(
                position(
                    f"p{i}",
                    v,
                    volume=volume / v,
                    status="CLOSED" if closed else "OPEN",
                    t=T + 100 * v + i,
                    realized=realized,
                    **base,
                )
            )
            if closed:
                break
    return sorted(log, key=lambda r: (r["eventTime"], r["positionId"]))


def puts_of(log: list[dict[str, Any]], partitions: int = 3) -> list[Put]:
    """The partials stage 1 drains, in order, as the global stage receives them."""
    books: dict[int, RiskBook] = {}
    out = []
    for r in log:
        p = sum(map(ord, r["positionId"])) % partitions
        book = books.setdefault(p, RiskBook(RiskView().config.calendar()))
        book.apply(r)
        out += [(f"pos:{p}", a, partial, book.last_event_time) for a, partial in book.drain()]
    return out


def view_of(puts: list[Put], view: RiskView | None = None) -> RiskView:
    view = view or run(QUOTES)
    for source, account, partial, t in puts:
        view.put(source, account, partial, t)
    return view


@PROPERTY
@given(position_logs(), st.randoms())
def test_partials_from_different_partitions_merge_in_any_order(log: Any, rnd: Any) -> None:
    puts = puts_of(log)
    by_source: dict[str, list[Put]] = {}
    for put in puts:
        by_source.setdefault(put[0], []).append(put)
    shuffled: list[Put] = []
    queues = list(by_source.values())
    while any(queues):
        shuffled.append(rnd.choice([q for q in queues if q]).pop(0))  # each source in order
    assert outputs(view_of(shuffled)) == outputs(view_of(puts))


@PROPERTY
@given(position_logs(), st.data())
def test_a_redelivered_partial_changes_nothing(log: Any, data: st.DataObject) -> None:
    """The internal topic is read in order; what comes twice is the latest partial of a key."""
    puts = puts_of(log)
    view = view_of(puts)
    before = outputs(view)
    source, account, partial, t = data.draw(st.sampled_from(puts))
    latest = [p for p in puts if p[:2] == (source, account)][-1]
    assert not view.put(*latest)
    assert outputs(view) == before


@PROPERTY
@given(position_logs(), st.integers(0, 100))
def test_restored_mid_sequence_equals_the_uninterrupted_run(log: Any, cut: int) -> None:
    puts = puts_of(log)
    k = cut * len(puts) // 100
    first = view_of(puts[:k])
    state = json.loads(json.dumps(first.state()))
    restored = RiskView()
    restored.restore(state)
    assert restored.state() == state
    assert outputs(view_of(puts[k:], restored)) == outputs(view_of(puts))


@PROPERTY
@given(position_logs(), st.integers(0, 100), st.integers(0, 100))
def test_restored_without_partials_then_replayed_equals_the_uninterrupted_run(
    log: Any, cut: int, crash: int
) -> None:
    """The worker's path: the state without partials (taken at ``cut``), the latest partial
    of every (partition, account) from the compacted internal topic (as at ``crash``), then
    the rest: the amounts realised between the state and the crash are booked once."""
    puts = puts_of(log)
    k, c = sorted((cut * len(puts) // 100, crash * len(puts) // 100))
    state = json.loads(json.dumps(view_of(puts[:k]).state(partials=False)))
    compacted = {(s, a): (s, a, p, t) for s, a, p, t in puts[:c]}
    restored = run(QUOTES)
    restored.restore({**state, "prices": restored.state()["prices"]})
    restored.begin_replay()
    view_of(list(compacted.values()), restored)
    restored.end_replay()
    assert outputs(view_of(puts[c:], restored)) == outputs(view_of(puts))


def test_malformed_states_raise_risk_state_errors() -> None:
    for bad in [None, {"format": 2}, {"format": 1}, {"format": 1, "t": 0, "prices": {"X": 1}}]:
        with pytest.raises(RiskStateError):
            RiskView().restore(bad)  # type: ignore[arg-type]


def test_one_sided_and_missing_quotes_are_said() -> None:
    view = run(
        [
            position("l", symbol="EURUSD", volume=1_000.0, open_price=1.0, t=T),
            position("s", symbol="USDJPY", side="SELL", volume=1_000.0, open_price=161.0, t=T),
            position("g", symbol="XAUUSD", volume=2.0, open_price=2_000.0, current_price=2_100.0,
                     t=T),
            ("EURUSD", None, 1.2, T),  # no bid: the long is marked at the mid, i.e. the ask
            ("USDJPY", 159.0, 161.0, T),
        ]
    )  # fmt: skip
    pnl = view.pnl_change()
    assert (pnl["markedAtMid"], pnl["unmarked"]) == (["EURUSD"], ["XAUUSD"])
    assert pnl["bySymbol"]["EURUSD"]["floating"] == -200.0  # (1.2 - 1.0) x 1,000
    assert pnl["bySymbol"]["USDJPY"]["floating"] == 0.0  # (161 - 161) x 1,000
    assert pnl["bySymbol"]["XAUUSD"]["floating"] == -200.0  # (2,100 - 2,000) x 2, its own mark
    account = view.account_risk("acc-1")
    assert account is not None and account["markedAtMid"]


def test_realised_pnl_without_a_rate_waits_for_one() -> None:
    view = run(
        [
            ("EURUSD", 1.1, 1.1, T),
            position("x", symbol="EURGBP", volume=10.0, open_price=0.8, t=T, realized=0.0),
            position("x", 2, symbol="EURGBP", status="CLOSED", t=T + 1, realized=100.0),
        ]
    )
    assert view.pnl_change()["realizedToday"] == 0.0
    assert view.account_risk("acc-1")["unconverted"] == ["EURGBP"]  # type: ignore[index]
    view.on_quote("GBPUSD", 1.25, 1.25, T + 2)
    assert view.pnl_change()["realizedToday"] == -125.0
    view.on_quote("GBPUSD", 1.5, 1.5, T + 3)  # realised P&L keeps the rate when converted
    risk = view.account_risk("acc-1")
    assert risk is not None and (risk["realizedToday"], risk["unconverted"]) == (125.0, [])


def test_changed_accounts_and_an_account_that_empties() -> None:
    books: dict[int, RiskBook] = {}
    view = run([("EURUSD", 1.1, 1.1, T), position("x", account="a", t=T)], books=books)
    assert view.changed_accounts() == ["a"] and view.changed_accounts() == []
    run([position("x", 2, account="a", status="CLOSED", t=T + 1)], view=view, books=books)
    assert view.changed_accounts() == ["a"]
    assert view.account_risk("a") is None and view.accounts() == []
    assert view.top()["accounts"] == 0


def test_at_the_roll_an_account_with_only_realised_pnl_is_gone_and_said_changed() -> None:
    view = run(
        [
            ("EURUSD", 1.1, 1.1, T),
            position("x", account="a", t=T, realized=0.0),
            position("x", 2, account="a", status="CLOSED", t=T + 1, realized=5.0),
        ]
    )
    view.changed_accounts()
    assert view.account_risk("a") is not None and view.top()["accounts"] == 1
    view.on_quote("EURUSD", 1.1, 1.1, micros("2026-01-20T22:00:00Z"))  # the roll
    assert view.changed_accounts() == ["a"]
    assert view.account_risk("a") is None and view.accounts() == []
    assert view.top()["accounts"] == 0 and view.state()["realized"] == {}


@PROPERTY
@given(position_logs(), st.lists(st.tuples(st.integers(0, 2), st.integers(-50, 50)), max_size=20))
def test_pnl_between_quotes_equals_a_fresh_computation(
    log: Any, moves: list[tuple[int, int]]
) -> None:
    """pnl_change keeps the P&L of groups whose sums, price and rate did not change: after any
    sequence of quotes and calls it gives what a fresh view (no kept results) gives."""
    view = view_of(puts_of(log))
    view.pnl_change()
    for i, (which, ticks) in enumerate(moves):
        symbol, bid, ask, _ = QUOTES[which]
        view.on_quote(symbol, bid + ticks * 1e-4, ask + ticks * 1e-4, T + 10_000 + i)
        if i % 2:
            view.pnl_change()
    fresh = RiskView()
    fresh.restore(json.loads(json.dumps(view.state())))
    assert view.pnl_change() == fresh.pnl_change()
