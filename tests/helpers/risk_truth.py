"""The broker's P&L and every account's risk computed naively from the raw input topics, for
the worker tests: an independent ground truth (no code of streams.risk or streams.market), and
a position keeper's stream of events with realised P&L, partial closes, closes, A-book flow,
stale redeliveries and a trading-day roll.

Ground truth (docs/pnl.md, in the plainest terms): per position the highest version is its
state; a client long is marked at the bid and a short at the ask, ``(mark - open) * volume``
signed by side, in the quote currency; realised P&L is the difference of a position's
cumulative ``realizedPnl`` between consecutive versions (a first version: its delta), booked to
the trading day of the version's event time (17:00 New York); USD through the quotes' mids
(USD pairs only, as the streams use here). The broker's B-book figures are the clients'
B-book figures with the sign flipped. Quotes stay put while positions realise, so "the rate
when realised" is the rate.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.helpers.worker import decoded

NEW_YORK = ZoneInfo("America/New_York")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
QUOTES = {"EURUSD": (1.0848, 1.0852), "GBPUSD": (1.2698, 1.2702), "USDJPY": (151.18, 151.22)}
LPS = ("LMAX", "OANDA")


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def trading_day(event_time: int) -> date:
    """The trading day of an event time: the day after the local date at or after 17:00 NY."""
    local = (EPOCH + timedelta(microseconds=event_time)).astimezone(NEW_YORK)
    return local.date() + timedelta(days=1) if local.time() >= time(17) else local.date()


def usd_rates(quotes: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    mid = {s: (b + a) / 2 for s, (b, a) in quotes.items()}
    return {"USD": 1.0, "EUR": mid["EURUSD"], "GBP": mid["GBPUSD"], "JPY": 1 / mid["USDJPY"]}


@dataclass
class Truth:
    """The figures of the positions and quotes read back from the input topics."""

    day: date
    broker: dict[str, float]  # floating, realizedToday, total (B-book, the broker's side)
    by_symbol: dict[str, float]  # the broker's B-book total per symbol
    clients_abook: float  # the clients' A-book total
    accounts: dict[str, dict[str, float]] = field(default_factory=dict)


def ground_truth(positions: Iterable[Any], quotes: Iterable[Any]) -> Truth:
    """From the raw records of the positions and quotes topics (any order, duplicates and
    stale versions included)."""
    latest_quote: dict[str, tuple[int, tuple[float, float]]] = {}
    for r in quotes:
        q = decoded(r)
        held = latest_quote.get(q["symbol"])
        if held is None or q["eventTime"] >= held[0]:
            latest_quote[q["symbol"]] = (q["eventTime"], (q["bid"], q["ask"]))
    marks = {s: bid_ask for s, (_, bid_ask) in latest_quote.items()}
    rates = usd_rates(marks)
    versions: dict[str, dict[int, dict[str, Any]]] = {}
    clock = max(t for t, _ in latest_quote.values())
    for r in positions:
        p = decoded(r)
        versions.setdefault(p["positionId"], {})[p["version"]] = p
        clock = max(clock, p["eventTime"])
    today = trading_day(clock)
    floating: dict[tuple[str, str, str], float] = {}  # (account, symbol, book)
    realized: dict[tuple[str, str, str], float] = {}
    legs: dict[str, dict[str, float]] = {}  # account -> currency -> the broker's B-book legs
    open_count: dict[str, int] = {}
    for by_version in versions.values():
        ordered = [by_version[v] for v in sorted(by_version)]
        before = None
        for p in ordered:
            if p["realizedPnl"] is not None:
                amount = (
                    p["realizedPnl"] - before
                    if before is not None
                    else (
                        p["realizedPnlDelta"]
                        if p["realizedPnlDelta"] is not None
                        else p["realizedPnl"]
                    )
                )
                before = p["realizedPnl"]
                if amount and trading_day(p["eventTime"]) == today:
                    key = (p["accountId"], p["symbol"], p["book"])
                    quote_ccy = p["symbol"][3:]
                    realized[key] = realized.get(key, 0.0) + amount * rates[quote_ccy]
        last = ordered[-1]
        if last["status"] != "OPEN" or last["volume"] <= 0:
            continue
        sign = 1 if last["side"] == "BUY" else -1
        bid, ask = marks[last["symbol"]]
        mark = bid if sign > 0 else ask
        base, quote_ccy = last["symbol"][:3], last["symbol"][3:]
        key = (last["accountId"], last["symbol"], last["book"])
        pnl = sign * (mark - last["openPrice"]) * last["volume"] * rates[quote_ccy]
        floating[key] = floating.get(key, 0.0) + pnl
        open_count[last["accountId"]] = open_count.get(last["accountId"], 0) + 1
        if last["book"] == "BBOOK":
            acct = legs.setdefault(last["accountId"], {})
            acct[base] = acct.get(base, 0.0) - sign * last["volume"] * rates[base]
            acct[quote_ccy] = acct.get(quote_ccy, 0.0) + (
                sign * last["volume"] * last["openPrice"] * rates[quote_ccy]
            )
    return _summed(today, floating, realized, legs, open_count)


def _summed(
    today: date,
    floating: Mapping[tuple[str, str, str], float],
    realized: Mapping[tuple[str, str, str], float],
    legs: Mapping[str, Mapping[str, float]],
    open_count: Mapping[str, int],
) -> Truth:
    bbook = [k for k in {*floating, *realized} if k[2] == "BBOOK"]
    broker_floating = -sum(floating.get(k, 0.0) for k in bbook)
    broker_realized = -sum(realized.get(k, 0.0) for k in bbook)
    by_symbol: dict[str, float] = {}
    for k in bbook:
        by_symbol[k[1]] = by_symbol.get(k[1], 0.0) - floating.get(k, 0.0) - realized.get(k, 0.0)
    abook = [k for k in {*floating, *realized} if k[2] == "ABOOK"]
    truth = Truth(
        today,
        {
            "floating": broker_floating,
            "realizedToday": broker_realized,
            "total": broker_floating + broker_realized,
        },
        by_symbol,
        sum(floating.get(k, 0.0) + realized.get(k, 0.0) for k in abook),
    )
    for account in sorted({k[0] for k in floating} | {k[0] for k in realized if realized[k]}):
        acc_floating = sum(v for k, v in floating.items() if k[0] == account)
        acc_realized = sum(v for k, v in realized.items() if k[0] == account)
        currency = {c: v for c, v in legs.get(account, {}).items() if c != "USD"}
        long = sum(v for v in currency.values() if v > 0)
        short = -sum(v for v in currency.values() if v < 0)
        truth.accounts[account] = {
            "openPositions": float(open_count.get(account, 0)),
            "exposure": max(long, short),
            "floatingPnl": acc_floating,
            "realizedToday": acc_realized,
            "pnlToday": acc_floating + acc_realized,
        }
    return truth


def risk_stream(
    seed: int, times: Iterable[int], *, ids: int, accounts: int
) -> list[dict[str, Any]]:
    """PositionState events (SDK keyword arguments), one at each of ``times``, as a position
    keeper writes them: opens at the quote, partial closes and closes at the bid (client long)
    or the ask (short) with the cumulative realised P&L and its delta, B- and A-book; accounts
    of different sizes (volumes scale with the account)."""
    rng = random.Random(seed)  # noqa: S311 - test data
    state: dict[int, dict[str, Any]] = {}  # slot -> its position's latest event
    out: list[dict[str, Any]] = []
    for n, t in enumerate(times):
        slot = rng.randrange(ids)
        prev = state.get(slot)
        if prev is None or prev["status"] == "CLOSED":
            ev = _open(rng, f"r{seed}-{slot}-{n}", accounts, t)  # a new position, a new id
        else:
            ev = _reduce(rng, prev, t)
        state[slot] = ev
        out.append(ev)
    return out


def _open(rng: random.Random, pid: str, accounts: int, t: int) -> dict[str, Any]:
    account = rng.randrange(accounts)
    symbol = rng.choice(list(QUOTES))
    side = rng.choice(("BUY", "SELL"))
    bid, ask = QUOTES[symbol]
    abook = rng.random() < 0.25
    return {
        "position_id": pid,
        "account_id": f"acc-{account}",
        "symbol": symbol,
        "side": side,
        "volume": float(1_000 * (account + 1) * rng.choice((1, 2, 5))),
        "open_price": round((ask if side == "BUY" else bid) + rng.uniform(-0.002, 0.002), 5),
        "book": "ABOOK" if abook else "BBOOK",
        "lp": rng.choice(LPS) if abook else None,
        "version": 1,
        "status": "OPEN",
        "realized_pnl": 0.0,
        "realized_pnl_delta": 0.0,
        "event_time": t,
    }


def _reduce(rng: random.Random, prev: dict[str, Any], t: int) -> dict[str, Any]:
    """A partial close (a third of the volume), a close, or an update without realising."""
    bid, ask = QUOTES[prev["symbol"]]
    sign = 1 if prev["side"] == "BUY" else -1
    close_at = bid if sign > 0 else ask
    roll = rng.random()
    closed = prev["volume"] if roll < 0.3 else round(prev["volume"] / 3, 2) if roll < 0.7 else 0.0
    delta = round(sign * (close_at - prev["open_price"]) * closed, 6)
    left = round(prev["volume"] - closed, 2)
    return {
        **prev,
        "version": prev["version"] + 1,
        "volume": left if left > 0 else 0.0,
        "status": "OPEN" if left > 0 else "CLOSED",
        "realized_pnl": round(prev["realized_pnl"] + delta, 6),
        "realized_pnl_delta": delta,
        "event_time": t,
    }


def winter_day(hour: int, minute: int = 0) -> int:
    """Micros of 2026-01-20 at hour:minute UTC (the roll is 22:00 UTC in winter)."""
    return micros(datetime(2026, 1, 20, hour, minute, tzinfo=UTC))
