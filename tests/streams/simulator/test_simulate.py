"""Tests of the traffic generator (``streams.simulator``): determinism, valid events, position
life cycles, routing rules, LP life cycles and exposure breaches (pure: no I/O)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from schemas.codec import default_codec
from streams import events
from streams.exposure.book import ExposureLimits, PositionBook, RiskBands
from streams.exposure.usd import evaluate_exposure, quote_mid
from streams.simulator import EVENT_TYPES, SimConfig, Simulator
from streams.simulator.market import BY_SYMBOL, INSTRUMENTS, LP_PROFILES
from streams.simulator.runner import run

BUILDERS: dict[str, tuple[Callable[..., dict[str, Any]], str]] = {
    "routing_decision": (events.routing_decision, "RoutingDecision"),
    "lp_status": (events.lp_status, "LpStatus"),
    "position": (events.position, "PositionState"),
    "quote": (events.quote, "Quote"),
    "alert": (events.service_alert, "ServiceAlert"),
}
# Short episodes so that a few thousand events cover every behaviour.
FAST = {"breach_every_s": 10.0, "first_breach_s": 5.0, "ramp_s": 3.0, "hold_s": 3.0}


def take(n: int, **config: Any) -> list[tuple[str, dict[str, Any]]]:
    return Simulator(SimConfig(**config)).take(n)


def test_same_seed_gives_the_same_events() -> None:
    assert take(5000, seed=3) == take(5000, seed=3)


def test_different_seeds_give_different_events() -> None:
    a, b = take(2000, seed=3), take(2000, seed=4)
    assert a != b
    assert sum(x != y for x, y in zip(a, b, strict=True)) > 1000


def test_the_run_id_only_renames_orders_and_positions() -> None:
    a, b = take(1000, seed=3, run_id="one"), take(1000, seed=3, run_id="two")
    assert [m for m, _ in a] == [m for m, _ in b]
    assert repr(a).replace("-one-", "-two-") == repr(b)


def test_starts_with_a_quote_per_symbol_and_each_lps_status() -> None:
    head = take(len(INSTRUMENTS) + len(LP_PROFILES))
    assert [kw["symbol"] for _, kw in head[: len(INSTRUMENTS)]] == [i.symbol for i in INSTRUMENTS]
    assert [kw["lp_name"] for _, kw in head[len(INSTRUMENTS) :]] == [p.name for p in LP_PROFILES]
    assert all(kw["status"] == "connected" for _, kw in head[len(INSTRUMENTS) :])


@pytest.mark.parametrize("seed", [0, 7, 2024])
def test_every_event_type_appears_and_every_event_passes_its_builder_and_encodes(
    seed: int,
) -> None:
    codec = default_codec()
    evs = take(20_000, seed=seed, **FAST)
    assert set(Counter(m for m, _ in evs)) == set(EVENT_TYPES)
    for method, kwargs in evs:
        builder, schema = BUILDERS[method]
        record = builder(**kwargs)
        assert codec.decode(codec.encode(schema, record)).schema == schema


def test_quotes_have_bid_below_ask_and_crosses_follow_their_legs() -> None:
    last: dict[str, float] = {}
    non_usd_quoted = set()
    for method, kw in take(20_000, seed=5):
        if method != "quote":
            continue
        assert 0 < kw["bid"] < kw["ask"]
        inst = BY_SYMBOL[kw["symbol"]]
        assert round(kw["ask"], inst.digits) == kw["ask"]  # on the instrument's tick
        assert kw["ask"] - kw["bid"] < inst.spread * 10
        last[kw["symbol"]] = (kw["bid"] + kw["ask"]) / 2
        if not kw["symbol"].endswith("USD"):
            non_usd_quoted.add(kw["symbol"])
        if {"EURUSD", "USDCHF", "EURCHF"} <= set(last):
            assert last["EURCHF"] == pytest.approx(last["EURUSD"] * last["USDCHF"], rel=2e-3)
    assert {"USDJPY", "USDCHF", "EURCHF", "EURGBP", "EURJPY"} <= non_usd_quoted
    start = {i.symbol: i.mid for i in INSTRUMENTS}
    assert any(abs(last[s] / start[s] - 1) > 1e-4 for s in last)  # prices do move


def test_position_life_cycles_are_valid() -> None:
    """Versions start at 1 and grow by one; only open positions change or close; a closed
    position never comes back; each position's first event follows its routing decision."""
    sim = Simulator(SimConfig(seed=11, **FAST))
    state: dict[str, dict[str, Any]] = {}
    closed: set[str] = set()
    last_decision: dict[str, Any] | None = None
    for method, kw in sim.take(30_000):
        if method == "routing_decision":
            last_decision = kw
            continue
        if method != "position":
            continue
        pid = kw["position_id"]
        assert pid not in closed, "event for a closed position"
        prev = state.get(pid)
        if prev is None:
            assert kw["version"] == 1 and kw["status"] == "OPEN"
            assert last_decision is not None
            assert last_decision["order_id"].replace("ord-", "pos-") == pid
            assert (kw["symbol"], kw["side"], kw["volume"]) == (
                last_decision["symbol"],
                last_decision["side"],
                last_decision["volume"],
            )
            assert (kw["book"], kw["lp"]) == (last_decision["decision"], last_decision["lp"])
        else:
            assert kw["version"] == prev["version"] + 1
            for fixed in ("account_id", "symbol", "side", "open_price", "book", "lp"):
                assert kw[fixed] == prev[fixed]
        assert kw["volume"] > 0
        state[pid] = kw
        if kw["status"] == "CLOSED":
            closed.add(pid)
    still_open = {p for p, kw in state.items() if kw["status"] == "OPEN"}
    assert still_open == set(sim.open_positions)
    assert len(closed) > 100 and max(kw["version"] for kw in state.values()) > 3


def test_routing_books_large_and_toxic_accounts_with_lps_and_the_rest_internally() -> None:
    sim = Simulator(SimConfig(seed=12, **FAST))
    accounts = {a.id: a for a in sim.accounts}
    decisions = [kw for m, kw in sim.take(30_000) if m == "routing_decision"]
    for kw in decisions:
        account = accounts[kw["account_id"]]
        if kw["decision"] == "ABOOK":
            assert account.large or account.toxic
            assert kw["lp"] in {p.name for p in LP_PROFILES}
        else:
            assert kw["lp"] is None and not kw.get("lp_rejected", False)
    books = Counter(kw["decision"] for kw in decisions)
    assert books["ABOOK"] > 100 and books["BBOOK"] > books["ABOOK"]
    rejected = [kw for kw in decisions if kw.get("lp_rejected")]
    assert rejected, "some A-book orders are rejected by an LP"
    # a rejected order is routed again: the next decision carries the same order id
    by_order: dict[str, list[dict[str, Any]]] = {}
    for kw in decisions:
        by_order.setdefault(kw["order_id"], []).append(kw)
    for kw in rejected:
        attempts = by_order[kw["order_id"]]
        assert attempts[-1] is not kw and not attempts[-1].get("lp_rejected", False)


def test_lps_degrade_disconnect_and_reconnect() -> None:
    statuses = [kw for m, kw in take(60_000, seed=13) if m == "lp_status"]
    by_lp: dict[str, list[dict[str, Any]]] = {}
    for kw in statuses:
        by_lp.setdefault(kw["lp_name"], []).append(kw)
    assert set(by_lp) == {p.name for p in LP_PROFILES}
    reconnected = [
        lp
        for lp, seq in by_lp.items()
        if any(
            a["status"] == "disconnected" and b["status"] == "connected"
            for a, b in zip(seq, seq[1:], strict=False)
        )
    ]
    assert reconnected, "at least one LP disconnects and reconnects"
    degraded = [kw for kw in statuses if kw["status"] == "connected" and kw["latency_ms"] >= 250]
    assert degraded and all(kw["reject_rate"] >= 0.05 for kw in degraded)
    down = [kw for kw in statuses if kw["status"] == "disconnected"]
    assert all(kw["quotes_per_second"] == 0 for kw in down)
    assert min(kw["uptime"] for kw in statuses) < 100.0


@pytest.mark.parametrize("limit_usd", [100_000.0, 5_000_000.0])
def test_exposure_breaches_the_limit_and_falls_back_as_the_worker_computes_it(
    limit_usd: float,
) -> None:
    """Fed through the worker's own exposure math (PositionBook + evaluate_exposure with the
    quote mids), utilisation climbs over 100 % within 20,000 events, then falls back below
    75 %, more than once."""
    limits, bands = ExposureLimits(global_usd=limit_usd), RiskBands()
    book, mids = PositionBook(), {}
    over, crossings, below_after = False, 0, 0
    peak = 0.0
    for i, (method, kw) in enumerate(take(20_000, seed=21, limit_usd=limit_usd, **FAST)):
        if method == "quote":
            mids[kw["symbol"]] = quote_mid(events.quote(**kw))
        elif method == "position":
            book.apply(events.position(**kw, event_time=i + 1))
        if i % 50:
            continue
        record, unconverted = evaluate_exposure(
            {"0": book.partial()}, mids, limits, bands, event_time=i + 1
        )
        assert unconverted == []
        util = record["utilizationPct"]
        peak = max(peak, util)
        if util >= 100 and not over:
            over, crossings = True, crossings + 1
        elif util < 75 and over:
            over, below_after = False, below_after + 1
    assert crossings >= 2 and below_after >= 2, (crossings, below_after, peak)
    assert peak < 160


def test_the_generators_own_exposure_matches_the_workers_math() -> None:
    sim = Simulator(SimConfig(seed=5))
    book, mids = PositionBook(), {}
    for i, (method, kw) in enumerate(sim.take(5000)):
        if method == "position":
            book.apply(events.position(**kw, event_time=i + 1))
    for inst in INSTRUMENTS:  # the worker sees the latest mids; give it the generator's
        mids[inst.symbol] = sim.market.mid(inst.symbol)
    record, _ = evaluate_exposure(
        {"0": book.partial()}, mids, ExposureLimits(), RiskBands(), event_time=1
    )
    assert record["totalExposure"] == pytest.approx(sim.exposure_usd, rel=1e-9)
    assert record["positionCount"] == len(sim.open_positions)


@pytest.mark.parametrize(
    "bad",
    [{"rate": 0}, {"rate": float("inf")}, {"limit_usd": -1}, {"accounts": 0}, {"lps": 9},
     {"ramp_s": 0}],
)  # fmt: skip
def test_bad_config_is_refused_naming_the_setting(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        SimConfig(**bad)


class Recorder:
    """Stands in for the SDK's Publisher in the pacing loop's unit tests."""

    def __init__(self, stop_after: int | None = None, stop: asyncio.Event | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.flushed_at: int | None = None
        self._stop_after, self._stop = stop_after, stop
        for name in EVENT_TYPES:
            setattr(self, name, self._method(name))

    def _method(self, name: str) -> Callable[..., Any]:
        async def call(**kwargs: Any) -> None:
            self.calls.append((name, kwargs))
            if self._stop is not None and len(self.calls) == self._stop_after:
                self._stop.set()

        return call

    async def flush(self) -> None:
        self.flushed_at = len(self.calls)


async def test_runner_sends_exactly_the_generated_events_then_flushes() -> None:
    pub = Recorder()
    lines: list[str] = []
    report = await run(
        Simulator(SimConfig(seed=9)), pub, rate=None, max_events=1234, out=lines.append
    )
    assert pub.calls == take(1234, seed=9)
    assert pub.flushed_at == 1234 and report.sent == 1234 and report.stopped_by == "events"
    assert sum(report.by_type.values()) == 1234
    assert lines[-1] == "flushing: waiting for the broker to acknowledge 1234 events"


async def test_runner_paces_by_its_clock_and_stops_at_the_duration() -> None:
    """With a fake clock that advances 0.1 s per reading, 10 s at 50 events/s is ~500 events
    (the events due by each reading, never more)."""
    ticks = iter(range(10_000))
    pub = Recorder()
    report = await run(
        Simulator(SimConfig(seed=9)),
        pub,
        rate=50.0,
        duration_s=10.0,
        clock=lambda: next(ticks) * 0.1,
        report_every_s=1.0,
        out=lambda _line: None,
    )
    assert report.stopped_by == "duration"
    assert 490 <= report.sent <= 502
    assert len(pub.calls) == report.sent == pub.flushed_at


async def test_runner_stops_when_told_and_still_flushes() -> None:
    stop = asyncio.Event()
    pub = Recorder(stop_after=700, stop=stop)
    report = await run(Simulator(), pub, rate=None, stop=stop, out=lambda _line: None)
    assert report.stopped_by == "signal"
    assert report.sent == len(pub.calls) == pub.flushed_at >= 700
