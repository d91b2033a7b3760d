"""The group-sum figures against an independent ground truth: every open position marked on
its own, in exact fractions (docs/pnl.md). Floating P&L by symbol, book and account, exposure
on every basis, realised P&L today, and the top lists against an exact ranking of every
account, on random positions, quotes (one-sided ones too), partial closes and redeliveries."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.market import BASES, SCALE, Basis, instrument, usd_rates
from streams.risk import RiskConfig
from tests.helpers.risk import micros, position, run

T = micros("2026-01-20T10:00:00Z")
PROPERTY = settings(
    max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SYMBOLS = {"EURUSD": 1.1, "USDJPY": 160.0, "GBPUSD": 1.25, "EURGBP": 0.88, "XAUUSD": 2400.0}
ACCOUNTS = [f"acc-{i}" for i in range(6)]


def rnd(x: Fraction) -> float:
    """An exact amount in millionths rounded once, half to even, as a float of units."""
    return round(x) / SCALE


Quotes = dict[str, tuple[float | None, float | None]]
Scenario = tuple[Quotes, list[Any]]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    quotes: Quotes = {}
    for symbol, mid in SYMBOLS.items():
        spread = mid * draw(st.integers(0, 50)) / 10_000
        bid, ask = mid - spread, mid + spread
        gone = draw(st.sampled_from(["none", "none", "bid", "ask"]))
        quotes[symbol] = (None if gone == "bid" else bid, None if gone == "ask" else ask)
    events: list[Any] = [(s, b, a, T) for s, (b, a) in quotes.items()]
    for i in range(draw(st.integers(1, 25))):
        symbol = draw(st.sampled_from(list(SYMBOLS)))
        base = dict(
            account=draw(st.sampled_from(ACCOUNTS)),
            symbol=symbol,
            side=draw(st.sampled_from(["BUY", "SELL"])),
            open_price=SYMBOLS[symbol] * draw(st.integers(9_000, 11_000)) / 10_000,
            book=draw(st.sampled_from(["ABOOK", "BBOOK"])),
        )
        volume = draw(st.integers(1, 10**7)) / 100
        events.append(position(f"p{i}", 1, volume=volume, t=T + i, realized=0.0, **base))
        if draw(st.booleans()):  # a partial close or a close, realising some P&L
            closed = draw(st.booleans())
            realized = draw(st.integers(-(10**6), 10**6)) / 100
            events.append(
                position(
                    f"p{i}",
                    2,
                    volume=volume / 2,
                    status="CLOSED" if closed else "OPEN",
                    t=T + 100 + i,
                    realized=realized,
                    realized_delta=realized,
                    **base,
                )
            )
            if draw(st.booleans()):
                events.append(events[-2])  # the older version redelivered
    return quotes, events


def naive(quotes: Quotes, events: list[Any], basis: Basis) -> dict[str, Any]:
    """Per position, in fractions: the figures the view must give."""
    latest: dict[str, dict[str, Any]] = {}
    realized: dict[str, Fraction] = {}  # per account, USD millionths, exact
    mids = {s: b / 2 + a / 2 if b and a else (b or a) for s, (b, a) in quotes.items()}
    rates = usd_rates(mids, {s: instrument(s) for s in mids})  # the shared conversion
    for e in events:
        if isinstance(e, tuple) or e["version"] <= latest.get(e["positionId"], {}).get(
            "version", 0
        ):
            continue
        if e["version"] > 1:
            rate = Fraction(rates[e["symbol"][3:]])
            amount = round(Fraction(e["realizedPnl"]) * SCALE) * rate
            realized[e["accountId"]] = realized.get(e["accountId"], Fraction(0)) + amount
        latest[e["positionId"]] = e
    floating: dict[tuple[str, str], Fraction] = {}  # (account or symbol, book)
    legs: dict[str, dict[str, Fraction]] = {}
    gross: dict[str, Fraction] = {}
    for p in latest.values():
        if p["status"] != "OPEN":
            continue
        bid, ask = quotes[p["symbol"]]
        sign = 1 if p["side"] == "BUY" else -1
        mark = (bid if sign > 0 else ask) or mids[p["symbol"]]
        base, quote = p["symbol"][:3], p["symbol"][3:]
        v = round(Fraction(p["volume"]) * SCALE)
        value = round(Fraction(p["volume"]) * Fraction(p["openPrice"]) * SCALE)
        pnl = sign * (Fraction(mark) * v - value) * Fraction(rates[quote])
        for who in (p["accountId"], p["symbol"]):
            floating[(who, p["book"])] = floating.get((who, p["book"]), Fraction(0)) + pnl
        account = p["accountId"]
        if basis == "gross" or p["book"] == "BBOOK":
            gross[account] = gross.get(account, Fraction(0)) + v * Fraction(rates[base])
        if p["book"] == "BBOOK":
            acc = legs.setdefault(account, {})
            acc[base] = acc.get(base, Fraction(0)) - sign * v * Fraction(rates[base])
            acc[quote] = acc.get(quote, Fraction(0)) + sign * value * Fraction(rates[quote])
    exposure = {}
    for account in ACCOUNTS:
        if basis == "bbook-net":
            cur = {c: x for c, x in legs.get(account, {}).items() if c != "USD"}
            long = round(sum((x for x in cur.values() if x > 0), Fraction(0)))
            short = round(sum((-x for x in cur.values() if x < 0), Fraction(0)))
            exposure[account] = max(long, short) / SCALE
        else:
            exposure[account] = rnd(gross.get(account, Fraction(0)))
    return {"floating": floating, "exposure": exposure, "realized": realized, "latest": latest}


@PROPERTY
@given(scenarios(), st.sampled_from(BASES), st.integers(1, 4))
def test_group_sums_equal_the_per_position_ground_truth(
    scenario: Scenario, basis: Basis, partitions: int
) -> None:
    quotes, events = scenario
    view = run(events, partitions=partitions, config=RiskConfig(basis=basis))
    truth = naive(quotes, events, basis)
    floating = truth["floating"]
    pnl = view.pnl_change()
    for symbol, line in pnl["bySymbol"].items():
        assert line["floating"] == rnd(-floating.get((symbol, "BBOOK"), Fraction(0)))
    for book in ("ABOOK", "BBOOK"):
        clients = sum(
            (x for (w, b), x in floating.items() if b == book and w in SYMBOLS), Fraction(0)
        )
        assert pnl["clientsByBook"].get(book, {"floating": 0.0})["floating"] == rnd(clients)
    assert pnl["floating"] == rnd(
        -sum((x for (w, b), x in floating.items() if b == "BBOOK" and w in SYMBOLS), Fraction(0))
    )
    one_sided = sorted(s for s, (b, a) in quotes.items() if b is None or a is None)
    assert set(pnl["markedAtMid"]) <= set(one_sided)
    for account in ACCOUNTS:
        risk = view.account_risk(account)
        own = sum((x for (w, _), x in floating.items() if w == account), Fraction(0))
        realized = truth["realized"].get(account, Fraction(0))
        if risk is None:
            assert own == 0 and realized == 0
            continue
        assert risk["floatingPnl"] == rnd(own)
        assert risk["exposure"] == truth["exposure"][account]
        assert risk["realizedToday"] == rnd(realized)
        assert risk["pnlToday"] == rnd(own + realized)
        assert risk["openPositions"] == sum(
            1
            for p in truth["latest"].values()
            if p["accountId"] == account and p["status"] == "OPEN"
        )


@PROPERTY
@given(scenarios(), st.sampled_from(BASES), st.integers(1, 4))
def test_top_lists_equal_an_exact_ranking_of_every_account(
    scenario: Scenario, basis: Basis, n: int
) -> None:
    _, events = scenario
    view = run(events, config=RiskConfig(basis=basis))
    every = [r for a in view.accounts() if (r := view.account_risk(a)) is not None]
    top = view.top(n)
    for field, key in (
        ("exposure", "byExposure"),
        ("floatingPnl", "byFloatingPnl"),
        ("realizedToday", "byRealizedToday"),
    ):
        pool = [r for r in every if (r["openPositions"] if field != "realizedToday" else r[field])]
        expected = sorted(pool, key=lambda r: (-r[field], r["accountId"]))[:n]  # type: ignore[literal-required]
        assert top[key] == expected, field
    assert top["accounts"] == len(every)


@PROPERTY
@given(scenarios(), st.sampled_from(BASES), st.data())
def test_accounts_over_a_level_equal_an_exact_pass_over_every_account(
    scenario: Scenario, basis: Basis, data: st.DataObject
) -> None:
    """For the alerts: the levels are drawn from the accounts' own figures (the boundary)."""
    _, events = scenario
    view = run(events, config=RiskConfig(basis=basis))
    every = [r for a in view.accounts() if (r := view.account_risk(a)) is not None]
    if not every:
        return
    pnl = data.draw(st.sampled_from([r["pnlToday"] for r in every]))
    exposure = data.draw(st.sampled_from([r["exposure"] for r in every]))
    assert view.accounts_over(pnl_today=pnl) == [r for r in every if r["pnlToday"] >= pnl]
    assert view.accounts_over(exposure=exposure) == [r for r in every if r["exposure"] >= exposure]
    both = [r for r in every if r["pnlToday"] >= pnl or r["exposure"] >= exposure]
    assert view.accounts_over(pnl_today=pnl, exposure=exposure) == both
    assert view.accounts_over() == []
