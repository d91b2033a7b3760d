"""A deterministic flow-toxicity scenario with known labels, and a runner for it (pure).

:func:`scenario` simulates, for a seed, quotes of a few symbols (random walks on a tick grid)
and the trades of labelled accounts:

- *informed* accounts know the mid ``foresight_s`` ahead and trade in the direction it will
  move (their trades anticipate the next moves);
- *noise* accounts trade on coin flips;
- each trade is A-booked (to one of the LPs) or B-booked; a *last-look* LP rejects most orders
  during which the mid moved against it (in the client's favour) between request and decision,
  and few otherwise; *honest* LPs reject at a small fixed rate whatever the price did. A rejected
  order becomes a B-book fill one millisecond later;
- one symbol (``stop_symbol``) stops quoting at ``stop_at`` of the run while trading goes on
  (its later markouts time out);
- positions open at the fill and close after a holding time (short for informed accounts).

Events are ``(kind, record)`` with kind ``quote`` / ``decision`` / ``position`` / ``advance``,
in arrival order: quotes arrive 20 ms after their event time, decisions 0-300 ms after theirs
(so a trade often arrives after quotes later than its fill time), and a final ``advance`` moves
event time past every horizon. :func:`run` feeds them to a stage and boards.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings

from streams.markouts.boards import Drained, MarkoutBoards
from streams.markouts.config import MarkoutConfig
from streams.markouts.records import LastLookSample, TradeMarkout
from streams.markouts.stage import MarkoutStage
from streams.markouts.usd import quote_usd

S = 1_000_000
MS = 1_000
T0 = 1_768_818_600 * S  # 2026-01-19T10:30:00Z

# symbol -> (start mid, tick, spread in ticks, relative volatility per sqrt(second))
SYMBOLS: dict[str, tuple[float, float, int, float]] = {
    "EURUSD": (1.085, 0.00001, 6, 5e-5),
    "USDJPY": (151.2, 0.001, 8, 5e-5),
    "GBPUSD": (1.27, 0.00001, 8, 6e-5),
    "EURGBP": (0.8543, 0.00001, 8, 4e-5),
}
GBP_USD = 1.27  # the fixed USD rate of GBP the tests give for the cross (EURGBP)

SCENARIO_PROPERTY = settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""Hypothesis settings for property tests that generate a whole scenario per example."""

Event = tuple[str, dict[str, Any]]


def split(symbol: str) -> tuple[str, str]:
    return symbol[:3], symbol[3:]


def usd_per_unit(currency: str) -> float | None:
    return {"USD": 1.0, "GBP": GBP_USD}.get(currency)


USD_RATE = quote_usd(split, usd_per_unit)


@dataclass(frozen=True)
class Scenario:
    events: list[Event]
    informed: frozenset[str]
    noise: frozenset[str]
    last_look_lps: frozenset[str]
    honest_lps: frozenset[str]


@dataclass(frozen=True)
class Params:
    seed: int = 1
    minutes: float = 20.0
    quote_every_ms: float = 100.0
    informed: int = 3
    noise: int = 12
    trade_every_s: float = 8.0
    foresight_s: float = 5.0
    abook_share: float = 0.5
    lps: tuple[str, ...] = ("LP-A", "LP-B", "LP-LL")
    last_look: tuple[str, ...] = ("LP-LL",)
    stop_symbol: str = "GBPUSD"
    stop_at: float = 0.8  # share of the run after which stop_symbol stops quoting


class _Path:
    """One symbol's quotes: times (int micros), bids, asks, mids."""

    def __init__(self, rng: random.Random, symbol: str, p: Params, end: int) -> None:
        start, tick, ticks, vol = SYMBOLS[symbol]
        digits = round(-math.log10(tick))
        self.times: list[int] = []
        self.bids: list[float] = []
        self.asks: list[float] = []
        stop = T0 + int((end - T0) * p.stop_at) if symbol == p.stop_symbol else end
        t, mid = T0, start
        while t < stop:
            bid = round(mid - ticks * tick / 2, digits)
            self.times.append(t)
            self.bids.append(bid)
            self.asks.append(round(bid + ticks * tick, digits))
            dt = max(1, round(rng.expovariate(1 / p.quote_every_ms) * MS))
            mid *= math.exp(vol * math.sqrt(dt / S) * rng.gauss(0, 1))
            t += dt

    def at(self, t: int) -> int:
        """Index of the last quote at or before ``t`` (-1 before the first)."""
        return bisect_right(self.times, t) - 1

    def mid(self, i: int) -> float:
        return self.bids[i] / 2 + self.asks[i] / 2


@dataclass
class _Builder:
    p: Params
    rng: random.Random
    paths: dict[str, _Path]
    timed: list[tuple[int, int, Event]] = field(default_factory=list)  # (arrival, seq, event)
    orders: int = 0

    def add(self, arrival: int, event: Event) -> None:
        self.timed.append((arrival, len(self.timed), event))

    def decision(
        self, t: int, account: str, symbol: str, side: str, volume: float, **kw: Any
    ) -> None:
        path = self.paths[symbol]
        i = path.at(t)
        price = path.asks[i] if side == "BUY" else path.bids[i]
        rec = {
            "eventId": f"d-{len(self.timed)}-{account}",
            "eventTime": t,
            "symbol": symbol,
            "side": side,
            "volume": volume,
            "routingDecision": kw.get("book", "BBOOK"),
            "lpSelected": kw.get("lp"),
            "executionTimeMs": kw.get("exec_ms", 1.0),
            "spread": path.asks[i] - path.bids[i],
            "slippage": 0.0,
            "price": price,
            "orderId": f"o-{self.orders}",
            "accountId": account,
            "lpRejected": kw.get("rejected", False),
        }
        self.add(t + round(self.rng.uniform(0, 300) * MS), ("decision", rec))

    def order(self, t: int, account: str, informed: bool) -> None:
        rng, p = self.rng, self.p
        symbol = rng.choice(sorted(self.paths))
        path = self.paths[symbol]
        i = path.at(t)
        if i < 0 or (informed and i + 1 >= len(path.times)):
            return  # before the first quote; the informed see no future once quotes stop
        if informed:
            j = path.at(t + round(p.foresight_s * S))
            if path.mid(j) == path.mid(i):
                return
            side = "BUY" if path.mid(j) > path.mid(i) else "SELL"
        else:
            side = rng.choice(("BUY", "SELL"))
        volume = float(rng.randrange(1, 21) * 10_000)
        self.orders += 1
        if rng.random() < p.abook_share:
            lp = rng.choice(p.lps)
            exec_ms = round(rng.uniform(20, 150), 3)
            r = t - round(exec_ms * MS)
            move = path.mid(path.at(t)) - path.mid(path.at(r))
            against_lp = move > 0 if side == "BUY" else move < 0
            reject_p = (0.9 if against_lp else 0.03) if lp in p.last_look else 0.05
            rejected = rng.random() < reject_p
            self.decision(t, account, symbol, side, volume, book="ABOOK", lp=lp,
                          exec_ms=exec_ms, rejected=rejected)  # fmt: skip
            if not rejected:
                self.position(t, account, symbol, side, volume, informed)
                return
            t += MS
        self.decision(t, account, symbol, side, volume, exec_ms=round(rng.uniform(1, 5), 3))
        self.position(t, account, symbol, side, volume, informed)

    def position(
        self, t: int, account: str, symbol: str, side: str, vol: float, informed: bool
    ) -> None:
        hold_s = self.rng.uniform(5, 20) if informed else self.rng.uniform(60, 300)
        pid = f"p-{self.orders}"
        for version, when, status in ((1, t, "OPEN"), (2, t + round(hold_s * S), "CLOSED")):
            rec = {
                "eventId": f"{pid}-v{version}",
                "eventTime": when,
                "positionId": pid,
                "version": version,
                "accountId": account,
                "symbol": symbol,
                "side": side,
                "volume": vol,
                "status": status,
            }
            self.add(when + 50 * MS, ("position", rec))


def scenario(p: Params | None = None) -> Scenario:
    """The events of a run (see the module doc); equal params give equal events."""
    p = p or Params()
    rng = random.Random(p.seed)
    end = T0 + round(p.minutes * 60 * S)
    b = _Builder(p, rng, {s: _Path(rng, s, p, end) for s in sorted(SYMBOLS)})
    for symbol in sorted(SYMBOLS):
        path = b.paths[symbol]
        for k, t in enumerate(path.times):
            quote = {"eventId": f"q-{symbol}-{k}", "eventTime": t, "symbol": symbol,
                     "bid": path.bids[k], "ask": path.asks[k], "lp": None}  # fmt: skip
            b.add(t + 20 * MS, ("quote", quote))
    informed = [f"inf-{k + 1:02d}" for k in range(p.informed)]
    noise = [f"noise-{k + 1:02d}" for k in range(p.noise)]
    for account in informed + noise:
        t = T0 + round(rng.uniform(1, p.trade_every_s) * S)
        while t < end - 70 * S:
            b.order(t, account, account in informed)
            t += round(rng.expovariate(1 / p.trade_every_s) * S) + 1
    b.timed.sort(key=lambda x: (x[0], x[1]))
    events = [e for _, _, e in b.timed]
    events.append(("advance", {"eventTime": end + 200 * S}))
    return Scenario(
        events=events,
        informed=frozenset(informed),
        noise=frozenset(noise),
        last_look_lps=frozenset(p.last_look),
        honest_lps=frozenset(p.lps) - frozenset(p.last_look),
    )


@dataclass
class Run:
    """What a stage and boards produced from a scenario's events."""

    stage: MarkoutStage
    boards: MarkoutBoards
    markouts: list[TradeMarkout] = field(default_factory=list)
    samples: list[LastLookSample] = field(default_factory=list)
    published: list[Drained] = field(default_factory=list)


def step(stage: MarkoutStage, kind: str, rec: dict[str, Any]) -> None:
    """Give one event to a stage (positions are not its business)."""
    if kind == "quote":
        stage.on_quote(rec)
    elif kind == "decision":
        stage.on_decision(rec)
    elif kind == "advance":
        stage.advance(rec["eventTime"])


def feed(run: Run, events: list[Event], expire_every_s: int = 5) -> None:
    """Feed events to the run's stage, its drained output to the boards; expire the boards
    when the stage's clock enters a new period of ``expire_every_s`` (a function of the event
    times only, so a run resumed from snapshots expires where an uninterrupted one does)."""
    stage, boards = run.stage, run.boards
    period = expire_every_s * S
    last = None if stage.clock is None else stage.clock // period
    for kind, rec in events:
        step(stage, kind, rec)
        if kind == "position":
            boards.on_position(rec)
        markouts, samples = stage.drain()
        for m in markouts:
            boards.on_markout(m)
        for s in samples:
            boards.on_sample(s)
        run.markouts += markouts
        run.samples += samples
        clock = stage.clock
        if clock is not None and clock // period != last:
            boards.expire(clock)
            last = clock // period
        run.published.append(boards.drain())


def run(events: list[Event], config: MarkoutConfig | None = None) -> Run:
    config = config or MarkoutConfig()
    result = Run(MarkoutStage(config, USD_RATE), MarkoutBoards(config))
    feed(result, events)
    return result


# --- single records, for unit tests ------------------------------------------------------------


def quote(
    t: int, bid: float, ask: float, symbol: str = "EURUSD", event_id: str = ""
) -> dict[str, Any]:
    """A Quote as ``events.validate`` returns it (the fields the stage reads, and lp)."""
    return {"eventId": event_id or f"q-{symbol}-{t}", "eventTime": t, "symbol": symbol,
            "bid": bid, "ask": ask, "lp": None}  # fmt: skip


def decision(
    t: int,
    side: str = "BUY",
    price: float | None = 1.0851,
    *,
    symbol: str = "EURUSD",
    volume: float = 100_000.0,
    lp: str | None = None,
    rejected: bool = False,
    exec_ms: float = 25.0,
    account: str | None = "acc-1",
    event_id: str = "",
) -> dict[str, Any]:
    """A RoutingDecision: A-book to ``lp`` when given, else B-book."""
    return {
        "eventId": event_id or f"d-{symbol}-{t}",
        "eventTime": t,
        "symbol": symbol,
        "side": side,
        "volume": volume,
        "routingDecision": "ABOOK" if lp else "BBOOK",
        "lpSelected": lp,
        "executionTimeMs": exec_ms,
        "spread": 0.0002,
        "slippage": 0.0,
        "price": price,
        "orderId": f"o-{t}",
        "accountId": account,
        "lpRejected": rejected,
    }


def markout_record(
    trade_id: str,
    t: int,
    bps: list[float | None],
    *,
    account: str | None = "acc-1",
    symbol: str = "EURUSD",
    lp: str | None = None,
    usd_per_bps: float = 10.0,
) -> TradeMarkout:
    """A TradeMarkout at the default horizons; a None bps is TIMED_OUT."""
    status = ["KNOWN" if b is not None else "TIMED_OUT" for b in bps]
    return {
        "tradeId": trade_id,
        "orderId": None,
        "eventTime": t,
        "symbol": symbol,
        "side": "BUY",
        "volume": 100_000.0,
        "book": "ABOOK" if lp else "BBOOK",
        "lpName": lp,
        "accountId": account,
        "price": 1.0851,
        "midAtFill": 1.085,
        "horizonsMs": [1_000, 5_000, 30_000, 60_000][: len(bps)],
        "midAtHorizon": [None if b is None else 1.085 for b in bps],
        "markout": [None if b is None else b * 1.0851e-4 for b in bps],
        "markoutBps": bps,
        "markoutUsd": [None if b is None else b * usd_per_bps for b in bps],
        "status": status,
    }
