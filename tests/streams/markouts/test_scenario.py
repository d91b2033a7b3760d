"""The proof that markouts find what they should, on the labelled scenario of
``tests/helpers/markouts.py``:

- the informed accounts get a "Toxic Flow" alert and A-book advice, the noise accounts neither
  (precision and recall 1.0), and the last-look LP, only it, is suspected;
- an independent ground truth, computed naively from the raw events (linear scans, written
  without the stage's heaps, tapes or trimming), equals the stage's per-trade markouts and
  last-look samples, and a naive window equals the account aggregates.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from typing import Any

import pytest

from streams.markouts.config import MarkoutConfig
from tests.helpers.markouts import GBP_USD, Event, Params, Run, S, run, scenario

SMALL = Params(seed=11, minutes=3, quote_every_ms=250, informed=1, noise=3, stop_at=0.6)


@cache
def default_run() -> tuple[Any, Run]:
    sc = scenario()
    return sc, run(sc.events)


def test_informed_accounts_are_found_with_precision_and_recall_1() -> None:
    sc, r = default_run()
    alerted = {
        a["title"].rsplit(": ", 1)[1]
        for d in r.published
        for a in d.alerts
        if a["state"] == "RAISED"
    }
    assert alerted == sc.informed
    advice = {a["accountId"]: a for d in r.published for a in d.advice}  # the latest per account
    abook = {acc for acc, a in advice.items() if a["recommendedBook"] == "ABOOK"}
    assert abook == sc.informed
    assert set(advice) == sc.informed | sc.noise
    for account in sc.noise:
        rec = r.boards.accounts.record(account)
        assert rec is not None and rec["level"] == "normal"


def test_the_last_look_lp_is_found_and_only_it() -> None:
    sc, r = default_run()
    suspected = {lp for lp in sc.last_look_lps | sc.honest_lps if r.boards.lps.suspected(lp)}
    assert suspected == sc.last_look_lps


def test_the_scenario_exercises_timeouts_rejects_and_both_books() -> None:
    """The proof is only as good as the scenario: it has what the stage must handle."""
    sc, r = default_run()
    c = r.stage.counters
    assert c["markoutsTimedOut"] > 0 and c["markoutsKnown"] > 1000 and c["samplesKnown"] > 500
    assert c["lateDecisions"] == c["lateQuotes"] == 0
    assert {m["book"] for m in r.markouts} == {"ABOOK", "BBOOK"}
    assert any(s["rejected"] for s in r.samples)
    assert r.stage.memory()["pendingTrades"] == 0  # the final advance settled everything


# --- the independent ground truth -------------------------------------------------------------


def _quote_after(events: list[Event], symbol: str, x: int, upto: int | None = None) -> int | None:
    """Arrival index of the first quote of ``symbol`` later than ``x`` (None: never)."""
    for i, (kind, rec) in enumerate(events[:upto]):
        if kind == "quote" and rec["symbol"] == symbol and rec["eventTime"] > x:
            return i
    return None


def _input_after(events: list[Event], x: int) -> int | None:
    """Arrival index of the first input of the stage later than ``x`` (None: never)."""
    for i, (kind, rec) in enumerate(events):
        if kind != "position" and rec["eventTime"] > x:
            return i
    return None


def _settles(
    events: list[Event], arrived: int, symbol: str, x: int, wait_us: int
) -> tuple[str, int]:
    """(KNOWN or TIMED_OUT, arrival index it settles at): KNOWN when a quote of the symbol
    after x arrived before the trade did, or before any input of the stage was more than the
    wait past x."""
    q, c = _quote_after(events, symbol, x), _input_after(events, x + wait_us)
    if q is not None and (q < arrived or c is None or q <= c):
        return "KNOWN", max(q, arrived)
    assert c is not None  # the scenario ends with an advance past every wait
    return "TIMED_OUT", max(c, arrived)


def _mid_at(events: list[Event], symbol: str, x: int) -> float | None:
    mids = [rec["bid"] / 2 + rec["ask"] / 2 for kind, rec in events
            if kind == "quote" and rec["symbol"] == symbol and rec["eventTime"] <= x]  # fmt: skip
    return mids[-1] if mids else None


def _usd(symbol: str, mid: float) -> float:
    base, quote = symbol[:3], symbol[3:]
    return 1.0 if quote == "USD" else 1 / mid if base == "USD" else GBP_USD


def naive_markouts(events: list[Event], config: MarkoutConfig) -> dict[str, dict[str, Any]]:
    """Per executed trade: status, mids and markouts per horizon, straight from the events."""
    wait = config.max_wait_s * S
    out = {}
    for a, (kind, d) in enumerate(events):
        if kind != "decision" or d["lpRejected"] or d["price"] is None:
            continue
        t, symbol, price = d["eventTime"], d["symbol"], d["price"]
        row: dict[str, list[Any]] = {k: [] for k in ("status", "midAtHorizon", "markout",
                                                     "markoutBps", "markoutUsd")}  # fmt: skip
        emitted = a
        for h in config.horizons_ms:
            status, settled = _settles(events, a, symbol, t + h * 1_000, wait)
            emitted = max(emitted, settled)
            mid = _mid_at(events, symbol, t + h * 1_000) if status == "KNOWN" else None
            if mid is None:
                row["status"].append("NO_QUOTE" if status == "KNOWN" else status)
                for key in ("midAtHorizon", "markout", "markoutBps", "markoutUsd"):
                    row[key].append(None)
                continue
            gain = price - mid if d["side"] == "BUY" else mid - price  # the broker's
            row["status"].append(status)
            row["midAtHorizon"].append(mid)
            row["markout"].append(gain)
            row["markoutBps"].append(gain * 10_000 / price)
            row["markoutUsd"].append(gain * d["volume"] * _usd(symbol, mid))
        passed_fill = _quote_after(events, symbol, t, emitted + 1) is not None
        out[d["eventId"]] = {
            **row,
            "midAtFill": _mid_at(events, symbol, t) if passed_fill else None,
        }
    return out


def test_per_trade_markouts_equal_an_independent_naive_computation() -> None:
    events = scenario(SMALL).events
    config = MarkoutConfig(max_wait_s=10)
    r = run(events, config)
    assert r.stage.counters["markoutsTimedOut"] > 0 and r.stage.counters["markoutsKnown"] > 100
    truth = naive_markouts(events, config)
    got: dict[str, dict[str, Any]] = {m["tradeId"]: dict(m) for m in r.markouts}
    assert set(got) == set(truth)
    for trade_id, expected in truth.items():
        m = got[trade_id]
        for key in ("status", "midAtHorizon", "markout", "midAtFill"):
            assert m[key] == expected[key], (trade_id, key)
        for key in ("markoutBps", "markoutUsd"):
            assert m[key] == [
                None if v is None else pytest.approx(v, rel=1e-12) for v in expected[key]
            ], (trade_id, key)


def test_last_look_samples_equal_an_independent_naive_computation() -> None:
    events = scenario(SMALL).events
    config = MarkoutConfig(max_wait_s=10)
    r = run(events, config)
    got = {s["sampleId"]: s for s in r.samples}
    expected_ids = set()
    for a, (kind, d) in enumerate(events):
        if kind != "decision" or d["routingDecision"] != "ABOOK":
            continue
        expected_ids.add(d["eventId"])
        s = got[d["eventId"]]
        t, symbol = d["eventTime"], d["symbol"]
        r_time = t - round(d["executionTimeMs"] * 1_000)
        assert s["requestTime"] == r_time and s["rejected"] == d["lpRejected"]
        assert s["status"] == _settles(events, a, symbol, t, config.max_wait_s * S)[0]
        if s["status"] == "KNOWN":
            before, after = _mid_at(events, symbol, r_time), _mid_at(events, symbol, t)
            assert before is not None and after is not None
            move = (after - before) if d["side"] == "BUY" else (before - after)
            assert s["moveAgainstLpBps"] == pytest.approx(move / before * 10_000, rel=1e-12)
    assert set(got) == expected_ids


def test_account_figures_equal_a_naive_window_over_the_markouts() -> None:
    """The last 15 trades of each account within 90 s of the board's clock, means of the
    markouts counted to 1e-6 bps: computed with fractions, sorted lists and no windows."""
    events = scenario(SMALL).events
    config = MarkoutConfig(account_window_trades=15, account_window_s=90, min_trades=5)
    r = run(events[: len(events) * 2 // 3], config)
    clock = r.boards.accounts.clock
    assert clock is not None
    for account in sorted({m["accountId"] for m in r.markouts if m["accountId"]}):
        mine = sorted(
            (m["eventTime"], m["tradeId"], m) for m in r.markouts if m["accountId"] == account
        )
        window = [m for t, _, m in mine if t >= clock - 90 * S][-15:]
        rec = r.boards.accounts.record(account)
        if not window:
            assert rec is None or rec["trades"] == 0
            continue
        assert rec is not None and rec["trades"] == len(window)
        for h in range(len(config.horizons_ms)):
            known = [round((m["markoutBps"][h] or 0.0) * 1_000_000) for m in window
                     if m["status"][h] == "KNOWN"]  # fmt: skip
            assert rec["knownCount"][h] == len(known)
            mean = float(Fraction(sum(known), len(known) * 1_000_000)) if known else None
            assert rec["meanMarkoutBps"][h] == mean
            h5 = config.score_index
            if h == h5:
                assert rec["clientWins"] == sum(v < 0 for v in known)
                assert rec["clientLosses"] == sum(v > 0 for v in known)
