"""Deterministic sample events for ``rtx-analytics produce``, the demo and tests (pure: no I/O).

A small, seeded stand-in for the full simulator: quotes for USD-quoted, USD-based and cross
pairs, LP status for three LPs, routing decisions, the positions they open, and one service
alert. Each item is ``(method, kwargs)`` for the matching :class:`streams.sdk.Publisher` call.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

MIDS = {
    "EURUSD": 1.0850,
    "GBPUSD": 1.2700,
    "USDJPY": 151.20,
    "USDCHF": 0.8800,
    "EURCHF": 0.9550,
    "XAUUSD": 2350.0,
}
LPS = ("OANDA", "LMAX", "Currenex")

Sample = tuple[str, dict[str, Any]]


def sample_events(count: int, seed: int = 7) -> Iterator[Sample]:
    """``count`` events in a plausible order: quotes and LP status first, then trading."""
    return itertools.islice(_events(seed), max(count, 0))


def _events(seed: int) -> Iterator[Sample]:
    """The endless sequence ``sample_events`` takes its first events from."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not security
    for symbol, mid in MIDS.items():
        half_spread = mid * 0.00005
        yield ("quote", {"symbol": symbol, "bid": mid - half_spread, "ask": mid + half_spread})
    for lp_name in LPS:
        yield ("lp_status", _lp_status(rng, lp_name))
    n = 0
    while True:
        n += 1
        decision = _routing_decision(rng, seed, n)
        yield ("routing_decision", decision)
        yield ("position", _position(decision, seed, n))
        if n % 50 == 0:
            yield ("alert", _alert(n))


def _lp_status(rng: random.Random, lp_name: str) -> dict[str, Any]:
    return {
        "lp_name": lp_name,
        "status": "connected",
        "avg_spread": round(rng.uniform(0.00005, 0.0002), 6),
        "execution_quality": round(rng.uniform(0.9, 0.99), 3),
        "latency_ms": round(rng.uniform(5, 60), 1),
        "quotes_per_second": round(rng.uniform(50, 400), 1),
        "reject_rate": round(rng.uniform(0, 0.03), 4),
        "uptime": 100.0,
    }


def _routing_decision(rng: random.Random, seed: int, n: int) -> dict[str, Any]:
    symbol = rng.choice(list(MIDS))
    mid = MIDS[symbol] * (1 + rng.gauss(0, 0.0005))
    side = rng.choice(("BUY", "SELL"))
    volume = float(rng.choice((1_000, 5_000, 10_000, 25_000, 50_000, 100_000)))
    if symbol == "XAUUSD":
        volume = float(rng.choice((1, 5, 10)))
    abook = rng.random() < 0.4
    lp: str | None = rng.choice(LPS) if abook else None
    book = "ABOOK" if abook else "BBOOK"
    slippage = round(rng.gauss(0, mid * 0.00002), 7)
    account = f"acc-{rng.randint(1, 20)}"
    return {
        "symbol": symbol,
        "side": side,
        "volume": volume,
        "decision": book,
        "lp": lp,
        "execution_time_ms": round(rng.lognormvariate(3, 0.5), 2),
        "spread": round(mid * 0.0001, 7),
        "slippage": slippage,
        "price": round(mid, 6),
        "order_id": f"ord-{seed}-{n}",
        "account_id": account,
    }


def _position(decision: dict[str, Any], seed: int, n: int) -> dict[str, Any]:
    """The position the routing decision opened."""
    return {
        "position_id": f"pos-{seed}-{n}",
        "account_id": decision["account_id"],
        "symbol": decision["symbol"],
        "side": decision["side"],
        "volume": decision["volume"],
        "open_price": decision["price"],
        "book": decision["decision"],
        "lp": decision["lp"],
        "version": 1,
    }


def _alert(n: int) -> dict[str, Any]:
    return {
        "severity": "info",
        "category": "system",
        "title": "Sample alert",
        "message": f"Sample alert after {n} orders",
        "source": "rtx-analytics produce",
        "action_items": ["No action needed: sample data"],
    }
