"""Risk state at full scale: memory per open position and per account, the time of a quote
update and of a top-N refresh (pure logic, no Kafka).

    python bench/risk_scale.py [--positions 1000000] [--accounts 100000] [--symbols 30]
                               [--partitions 6] [--rounds 3]

Builds the state the worker will hold: one stage-1 ``RiskBook`` per positions partition
(positions spread by positionId) and the global ``RiskView`` fed with every account's partial
of every partition, then a quote for every symbol. Memory is measured with ``tracemalloc``
(Python allocations, numpy arrays included) while building, stage 1 and the global stage apart.
Timings (median of ``--rounds``, tracemalloc off):

- quote: ``on_quote`` for one symbol, then ``pnl_change()`` (the work of one quote batch);
- position: one position update through stage 1 (``apply`` + ``drain``) and the global
  stage (``put`` + ``account_risk`` of that account);
- top: a quote, then ``top()`` (the scores of every account, and the candidates exactly).
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from streams.risk import RiskBook, RiskView

SYMBOLS = {
    "EURUSD": 1.085, "GBPUSD": 1.27, "USDJPY": 157.0, "AUDUSD": 0.66, "USDCAD": 1.37,
    "USDCHF": 0.9, "NZDUSD": 0.61, "EURGBP": 0.855, "EURJPY": 170.3, "GBPJPY": 199.4,
    "EURCHF": 0.977, "AUDJPY": 103.6, "EURAUD": 1.644, "EURCAD": 1.486, "GBPCHF": 1.143,
    "CADJPY": 114.6, "CHFJPY": 174.4, "NZDJPY": 95.8, "AUDNZD": 1.082, "GBPAUD": 1.924,
    "XAUUSD": 2350.0, "XAGUSD": 29.5, "US500": 5300.0, "NAS100": 18600.0, "US30": 39000.0,
    "USOIL": 78.0, "UKOIL": 82.0, "BTCUSD": 67000.0, "ETHUSD": 3500.0, "XPTUSD": 980.0,
}  # fmt: skip
T0 = 1_768_903_200_000_000  # 2026-01-20T10:00:00Z


def position(i: int, rnd: random.Random, accounts: int, symbols: list[str]) -> dict[str, Any]:
    symbol = symbols[rnd.randrange(len(symbols))]
    price = SYMBOLS.get(symbol, 100.0)
    bbook = rnd.random() < 0.7
    big = price > 1_000
    return {
        "eventId": "00000000-0000-4000-8000-000000000000",
        "eventTime": T0 + i,
        "positionId": f"pos-{i:08d}",
        "version": 1,
        "accountId": f"acc-{rnd.randrange(accounts):06d}",
        "symbol": symbol,
        "side": "BUY" if rnd.random() < 0.5 else "SELL",
        "volume": float(rnd.randint(1, 50)) if big else 1_000.0 * rnd.randint(1, 500),
        "openPrice": round(price * rnd.uniform(0.98, 1.02), 5),
        "currentPrice": None,
        "book": "BBOOK" if bbook else "ABOOK",
        "lp": None if bbook else "LMAX",
        "status": "OPEN",
        "realizedPnl": 0.0,
        "realizedPnlDelta": None,
    }


def median_ms(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def build(args: argparse.Namespace) -> tuple[dict[int, RiskBook], RiskView, dict[str, int]]:
    rnd = random.Random(14)
    symbols = list(SYMBOLS)[: args.symbols]
    view = RiskView()
    calendar = view.config.calendar()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    books = {p: RiskBook(calendar) for p in range(args.partitions)}
    print(f"stage 1: applying {args.positions:,} positions to {args.partitions} books ...")
    for i in range(args.positions):
        record = position(i, rnd, args.accounts, symbols)
        books[i % args.partitions].apply(record)
    stage1 = tracemalloc.get_traced_memory()[0] - base
    print("global stage: putting every (partition, account) partial ...")
    drained = {p: book.drain() for p, book in books.items()}
    before_view = tracemalloc.get_traced_memory()[0]
    for p, partials in drained.items():
        for account, partial in partials:
            view.put(f"pos:{p}", account, partial, books[p].last_event_time)
    drained.clear()
    gc.collect()
    for symbol, price in SYMBOLS.items():
        view.on_quote(symbol, price * 0.9999, price * 1.0001, T0 + args.positions)
    view.pnl_change()
    global_stage = tracemalloc.get_traced_memory()[0] - before_view
    tracemalloc.stop()
    return books, view, {"stage1": stage1, "global": global_stage}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--symbols", type=int, default=30, choices=range(1, len(SYMBOLS) + 1))
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"risk scale: {args.positions:,} positions, {args.accounts:,} accounts, "
        f"{args.symbols} symbols, {args.partitions} partitions; "
        f"Python {platform.python_version()}"
    )
    started = time.perf_counter()
    books, view, memory = build(args)
    accounts = len(view.accounts())
    print(f"built in {time.perf_counter() - started:.0f} s: {accounts:,} accounts")
    stage1, global_stage = memory["stage1"], memory["global"]
    print(
        f"memory, stage 1 (all books): {stage1 / 2**20:,.0f} MiB = "
        f"{stage1 / args.positions:,.0f} bytes per open position"
    )
    print(
        f"memory, global stage: {global_stage / 2**20:,.0f} MiB = "
        f"{global_stage / accounts:,.0f} bytes per account, "
        f"{global_stage / args.positions:,.0f} per position"
    )

    price = {"EURUSD": 1.085}
    rnd = random.Random(7)

    def quote() -> None:
        price["EURUSD"] *= 1 + rnd.uniform(-1e-4, 1e-4)
        view.on_quote("EURUSD", price["EURUSD"] - 1e-5, price["EURUSD"] + 1e-5, T0 + 2 * 10**9)
        view.pnl_change()

    counter = [0]

    def update() -> None:
        counter[0] += 1
        i = rnd.randrange(args.positions)
        p = i % args.partitions
        record = position(i, random.Random(i), args.accounts, list(SYMBOLS)[: args.symbols])
        record.update(version=1 + counter[0], eventTime=T0 + 2 * 10**9 + counter[0])
        record["volume"] *= 0.5
        books[p].apply(record)
        for account, partial in books[p].drain():
            view.put(f"pos:{p}", account, partial, books[p].last_event_time)
            view.account_risk(account)

    def top() -> None:
        quote()
        view.top()

    print(f"quote update + pnl_change: {median_ms(quote, args.rounds * 10):.2f} ms (median)")
    print(f"position update, both stages: {median_ms(update, args.rounds * 10):.3f} ms (median)")
    top_ms = median_ms(top, args.rounds)
    print(f"quote + top-{view.config.top_n} refresh: {top_ms:.0f} ms (median of {args.rounds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
