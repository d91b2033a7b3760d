"""Tests of ``streams.exposure.book`` and ``streams.exposure.usd``: exact partials, USD conversion,
limits, bands, coalescing.

No I/O. The property tests check the invariants the two-stage worker relies on: the incremental
partial equals one recomputed from the final positions, redelivery changes nothing, and any split
of the positions over partitions gives the same exposure record, bit for bit.
"""

from __future__ import annotations

import json
import random
import re
import zlib
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.exposure.book import (
    SCALE,
    Coalescer,
    ExposureLimits,
    InvalidPartial,
    Partial,
    PositionBook,
    RiskBands,
    Sums,
    _scaled,
    currency_utilization,
    recompute,
    symbol_utilization,
)
from streams.exposure.usd import (
    Instrument,
    _usd,
    compute_exposure,
    evaluate_exposure,
    instrument,
    unconverted_symbols,
    usd_rates,
)
from streams.settings import ConfigError
from tests.helpers.exposure import T0, pos

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LIMITS = ExposureLimits()
BANDS = RiskBands()


def exposure(
    positions: list[dict[str, Any]],
    mids: dict[str, float] | None = None,
    limits: ExposureLimits = LIMITS,
    **kw: Any,
) -> dict[str, Any]:
    book = PositionBook()
    for p in positions:
        book.apply(p)
    return compute_exposure({"0": book.partial()}, mids or {}, limits, BANDS, event_time=T0, **kw)


# --------------------------------------------------------------------------------------------
# Instruments and exact arithmetic


def test_instrument_splits_six_letter_symbols_and_treats_others_as_usd_cfds() -> None:
    assert instrument("EURUSD") == Instrument("EURUSD", "EUR", "USD")
    assert instrument("XAUUSD") == Instrument("XAUUSD", "XAU", "USD")
    assert instrument("US500") == Instrument("US500", "US500", "USD")
    assert instrument("eurusd") == Instrument("eurusd", "eurusd", "USD")  # not A-Z
    assert instrument("EURUSD.m") == Instrument("EURUSD.m", "EURUSD.m", "USD")
    over = {"EURUSD.m": ("EUR", "USD"), "GER40": ("GER40", "EUR")}
    assert instrument("EURUSD.m", over) == Instrument("EURUSD.m", "EUR", "USD")
    assert instrument("GER40", over).quote == "EUR"


finite = st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False)


@PROPERTY
@given(finite, finite)
def test_scaled_is_the_exact_product_rounded_half_even(a: float, b: float) -> None:
    assert _scaled(a, b) == round(Fraction(a) * Fraction(b) * SCALE)


@PROPERTY
@given(
    st.lists(
        st.tuples(
            st.integers(-(10**20), 10**20),
            st.floats(min_value=1e-6, max_value=1e5, allow_nan=False),
        ),
        max_size=8,
    )
)
def test_usd_amount_is_the_exact_sum_rounded_once_to_micro_usd_in_any_order(
    terms: list[Any],
) -> None:
    amounts = {f"C{i}": u for i, (u, _) in enumerate(terms)}
    rates = {f"C{i}": r for i, (_, r) in enumerate(terms)}
    micro_usd = round(sum((Fraction(u) * Fraction(r) for u, r in terms), Fraction(0)))
    exact = micro_usd / SCALE
    assert _usd(amounts, rates) == exact
    assert _usd(dict(reversed(amounts.items())), rates) == exact


# --------------------------------------------------------------------------------------------
# PositionBook: worked behaviour


def test_book_ignores_stale_and_duplicate_versions() -> None:
    book = PositionBook()
    assert book.apply(pos("a", 2, volume=10.0, t=T0 + 2))
    assert not book.apply(pos("a", 2, volume=10.0, t=T0 + 2))  # redelivery
    assert not book.apply(pos("a", 1, volume=99.0, t=T0 + 9))  # older version
    assert book.partial()[("EURUSD", "BBOOK", "")].volume_u == 10 * SCALE
    assert book.last_event_time == T0 + 2  # a stale event's time is not applied
    assert len(book) == 1 and book.version("a") == 2


def test_stale_open_after_close_is_ignored_and_close_of_unknown_id_is_remembered() -> None:
    book = PositionBook()
    assert book.apply(pos("a", 1))
    assert book.apply(pos("a", 3, volume=0.0, status="CLOSED"))
    assert not book.apply(pos("a", 2))  # stale OPEN redelivered after the close
    assert len(book) == 0 and book.partial() == Partial()
    assert not book.apply(pos("b", 5, status="CLOSED"))  # no sum changes
    assert not book.apply(pos("b", 4))
    assert book.version("b") == 5 and book.remembered_closed == 2
    assert book.apply(pos("b", 6))  # a higher version reopens it
    assert len(book) == 1 and book.remembered_closed == 1


def test_closed_memory_is_pruned_by_event_time_and_by_count() -> None:
    hour = 3_600_000_000
    book = PositionBook(closed_retention_us=hour, max_closed=2)
    book.apply(pos("a", 2, status="CLOSED", t=T0))
    book.apply(pos("b", 2, status="CLOSED", t=T0 + 1))
    book.apply(pos("c", 2, status="CLOSED", t=T0 + 2))  # over max_closed: "a" forgotten
    assert book.version("a") is None and book.version("b") == 2
    book.apply(pos("x", 1, t=T0 + hour + 2))  # "c" is exactly an hour old: kept
    assert book.version("b") is None and book.version("c") == 2
    book.apply(pos("y", 1, t=T0 + hour + 3))  # now "c" expires too
    assert book.remembered_closed == 0
    # Documented limit: once forgotten, a stale OPEN counts again.
    assert book.apply(pos("b", 1, t=T0))
    # A close already older than the retention window is not remembered at all.
    assert not book.apply(pos("old", 9, status="CLOSED", t=T0 - hour))
    assert book.version("old") is None


def test_update_moves_a_position_between_groups_and_same_figures_report_no_change() -> None:
    book = PositionBook()
    book.apply(pos("a", 1, book="ABOOK", lp="OANDA"))
    assert book.apply(pos("a", 2, book="ABOOK", lp="LMAX"))
    assert list(book.partial()) == [("EURUSD", "ABOOK", "LMAX")]
    assert not book.apply(pos("a", 3, book="ABOOK", lp="LMAX", t=T0 + 5))
    assert book.version("a") == 3 and book.last_event_time == T0 + 5


def test_partial_sums_follow_the_definitions() -> None:
    book = PositionBook()
    book.apply(pos("a", 1, volume=1.5, open_price=2.0, current_price=3.0))
    book.apply(pos("b", 1, side="SELL", volume=0.5, open_price=4.0))
    assert book.partial()[("EURUSD", "BBOOK", "")] == Sums(
        count=2,
        volume_u=2_000_000,
        net_volume_u=1_000_000,
        net_quote_u=3_000_000 - 2_000_000,
        mark_value_u=4_500_000 + 2_000_000,
    )


def test_partial_record_round_trips_through_json_and_rejects_garbage() -> None:
    book = PositionBook()
    book.apply(pos("a", 1, symbol="USDJPY", volume=9e12, open_price=157.123, side="SELL"))
    book.apply(pos("b", 1, book="ABOOK", lp="OANDA", volume=0.1, open_price=1.1))
    p = book.partial()
    assert p["USDJPY", "BBOOK", ""].net_quote_u < -(2**63)  # too big for a 64-bit JSON int
    assert Partial.from_record(json.loads(json.dumps(p.to_record()))) == p
    for bad in (
        {},
        {"format": 1, "groups": {}},
        {"format": 1, "groups": [["A", "BBOOK", "", 1, "1", "1", "1"]]},
        {"format": 1, "groups": [["A", "BBOOK", "", 1, "1", "1", "1", 1]]},
        {"format": 1, "groups": [["A", "BBOOK", "", -1, "1", "1", "1", "1"]]},
        {"format": 1, "groups": [["A", "BBOOK", "", 1, "1e3", "1", "1", "1"]]},
        {"format": 1, "groups": [["A", "B", "", 1, "1", "1", "1", "1"]] * 2},
    ):
        with pytest.raises(InvalidPartial):
            Partial.from_record(bad)


_AMOUNT = re.compile(r"-?[0-9]{1,80}")


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"-?[0-9]{1,82}", fullmatch=True),
        st.text(alphabet="-0123456789+_ e\u0663\u00b2", max_size=84),
        st.text(max_size=6),
    )
)
def test_a_partial_amount_is_a_decimal_string_of_at_most_80_digits(amount: str) -> None:
    """from_record's inline check accepts exactly what the regex ``-?[0-9]{1,80}`` does (no
    sign but minus, no underscores or spaces that int() would take, no non-ASCII digits)."""
    record = {"format": 1, "groups": [["EURUSD", "BBOOK", "", 1, amount, "1", "1", "1"]]}
    if _AMOUNT.fullmatch(amount):
        assert Partial.from_record(record)["EURUSD", "BBOOK", ""].volume_u == int(amount)
    else:
        with pytest.raises(InvalidPartial):
            Partial.from_record(record)


# --------------------------------------------------------------------------------------------
# PositionBook: properties

SYMBOLS = ["EURUSD", "USDJPY", "EURCHF", "XAUUSD", "US500", "XYZABC"]
PRICES = {"EURUSD": 1.0850, "USDJPY": 157.31, "EURCHF": 0.9412, "XAUUSD": 2650.5, "US500": 5900.0}


@st.composite
def contents(draw: st.DrawFn) -> dict[str, Any]:
    symbol = draw(st.sampled_from(SYMBOLS))
    base = PRICES.get(symbol, 3.3)
    closed = draw(st.integers(0, 3)) == 0
    book = draw(st.sampled_from(["ABOOK", "BBOOK"]))
    return {
        "symbol": symbol,
        "side": draw(st.sampled_from(["BUY", "SELL"])),
        "volume": 0.0
        if closed and draw(st.booleans())
        else draw(st.floats(min_value=0.001, max_value=5e6, allow_nan=False)),
        "open_price": base * draw(st.floats(min_value=0.9, max_value=1.1)),
        "current_price": draw(st.none() | st.floats(min_value=0.5, max_value=2.0)),
        "book": book,
        "lp": draw(st.sampled_from(["OANDA", "LMAX"])) if book == "ABOOK" else None,
        "status": "CLOSED" if closed else "OPEN",
        "t": T0 + draw(st.integers(0, 10**9)),
    }


@st.composite
def event_sequences(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events over a small pool of ids and versions: duplicates, redeliveries, out-of-order
    versions, closes and stale reopen attempts all occur. One content per (id, version), as
    the position keeper guarantees."""
    keys = draw(
        st.lists(st.tuples(st.sampled_from([f"p{i}" for i in range(6)]), st.integers(1, 6)))
    )
    content: dict[tuple[str, int], dict[str, Any]] = {}
    out = []
    for pid, version in keys:
        if (pid, version) not in content:
            c = draw(contents())
            if c["current_price"] is not None:
                c["current_price"] *= c["open_price"]
            content[pid, version] = c
        out.append(pos(pid, version, **content[pid, version]))
    return out


def final_state(seq: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Independent model: the highest version per id is its truth."""
    latest: dict[str, dict[str, Any]] = {}
    for e in seq:
        if e["positionId"] not in latest or e["version"] > latest[e["positionId"]]["version"]:
            latest[e["positionId"]] = e
    return list(latest.values())


mids_strategy = st.dictionaries(
    st.sampled_from([*SYMBOLS, "USDCHF", "GBPUSD"]),
    st.floats(min_value=0.5, max_value=200.0, allow_nan=False),
)


@PROPERTY
@given(event_sequences(), mids_strategy)
def test_incremental_equals_recomputed_and_redelivery_changes_nothing(
    seq: list[dict[str, Any]], mids: dict[str, float]
) -> None:
    book = PositionBook()
    for e in seq:
        book.apply(e)
    final = final_state(seq)
    assert book.partial() == recompute(final)
    assert len(book) == sum(1 for e in final if e["status"] == "OPEN" and e["volume"] > 0)
    once = compute_exposure({"0": book.partial()}, mids, LIMITS, BANDS, event_time=T0)

    twice = PositionBook()
    for e in seq + seq:
        twice.apply(e)
    assert twice.partial() == book.partial()
    again = compute_exposure({"0": twice.partial()}, mids, LIMITS, BANDS, event_time=T0)
    assert json.dumps(again) == json.dumps(once)  # bit-identical, including float reprs


@PROPERTY
@given(event_sequences(), mids_strategy, st.integers(2, 3))
def test_any_split_over_partitions_gives_the_same_record(
    seq: list[dict[str, Any]], mids: dict[str, float], n: int
) -> None:
    one = PositionBook()
    parts = [PositionBook() for _ in range(n)]
    for e in seq:
        one.apply(e)
        parts[zlib.crc32(e["positionId"].encode()) % n].apply(e)
    whole = compute_exposure({"0": one.partial()}, mids, LIMITS, BANDS, event_time=T0)
    split = compute_exposure(
        {str(i): b.partial() for i, b in enumerate(parts)}, mids, LIMITS, BANDS, event_time=T0
    )
    assert json.dumps(split) == json.dumps(whole)
    assert Partial.combine(b.partial() for b in parts) == one.partial()


# --------------------------------------------------------------------------------------------
# USD conversion: worked examples


def test_usd_quoted_pair_gross_net_and_currency_legs() -> None:
    rec = exposure([pos("a", volume=100_000.0, open_price=1.25)], {"EURUSD": 1.375})
    assert rec["totalExposure"] == rec["netExposure"] == 137_500.0
    assert rec["bySymbol"] == {"EURUSD": 137_500.0}
    assert rec["byBook"] == {"BBOOK": 137_500.0} and rec["byLP"] == {}
    # MT5-style legs: long EUR at the current rate, short the USD paid at open.
    assert rec["byCurrency"] == {"EUR": 137_500.0, "USD": -125_000.0}
    assert rec["positionCount"] == 1


def test_usd_based_pair_notional_is_the_volume() -> None:
    rec = exposure(
        [pos("a", symbol="USDJPY", side="SELL", volume=200_000.0, open_price=150.0)],
        {"USDJPY": 160.0},
    )
    assert rec["totalExposure"] == 200_000.0
    assert rec["netExposure"] == -200_000.0
    assert rec["byCurrency"] == {"JPY": 187_500.0, "USD": -200_000.0}  # 30M JPY / 160


def test_cross_pair_converts_through_the_base_currencys_usd_rate() -> None:
    p = pos("a", symbol="EURCHF", volume=100_000.0, open_price=0.95)
    rec = exposure([p], {"EURCHF": 0.96, "EURUSD": 1.1})
    assert rec["totalExposure"] == 110_000.0  # volume x EURUSD, to the micro-dollar
    # No USDCHF quote: CHF = EURUSD / EURCHF (a cross, two hops from USD).
    assert rec["byCurrency"]["CHF"] == pytest.approx(-95_000.0 * 1.1 / 0.96, abs=1e-6)
    # With a direct USDCHF quote the direct pair wins.
    rec = exposure([p], {"EURCHF": 0.96, "EURUSD": 1.1, "USDCHF": 0.9})
    assert rec["byCurrency"]["CHF"] == pytest.approx(-95_000.0 / 0.9, abs=1e-6)
    assert rec["bySymbol"] == {"EURCHF": 110_000.0}


def test_gold_is_ounces_times_the_usd_price() -> None:
    rec = exposure([pos("a", symbol="XAUUSD", volume=10.0, open_price=2000.0)], {"XAUUSD": 2400.0})
    assert rec["totalExposure"] == 24_000.0
    assert rec["byCurrency"] == {"USD": -20_000.0, "XAU": 24_000.0}


def test_by_lp_counts_only_a_book_and_net_has_the_clients_sign() -> None:
    rec = exposure(
        [
            pos("a", volume=100_000.0, book="ABOOK", lp="OANDA"),
            pos("b", side="SELL", volume=40_000.0, book="ABOOK", lp="LMAX"),
            pos("c", volume=25_000.0),
        ],
        {"EURUSD": 1.5},
    )
    assert rec["byLP"] == {"LMAX": 60_000.0, "OANDA": 150_000.0}
    assert rec["byBook"] == {"ABOOK": 210_000.0, "BBOOK": 37_500.0}
    assert rec["totalExposure"] == 247_500.0
    assert rec["netExposure"] == (100_000 - 40_000 + 25_000) * 1.5


def test_fallback_mark_is_used_without_a_quote() -> None:
    # No quote: US500's mid is the volume-weighted mark (currentPrice, else openPrice).
    rec = exposure(
        [
            pos("a", symbol="US500", volume=2.0, open_price=5000.0, current_price=6000.0),
            pos("b", symbol="US500", volume=2.0, open_price=5500.0),
        ]
    )
    assert rec["totalExposure"] == 4.0 * 5750.0
    assert rec["byCurrency"] == {"US500": 23_000.0, "USD": -21_000.0}


def test_unconvertible_symbols_are_left_out_and_named() -> None:
    positions = [pos("a", volume=1000.0), pos("z", symbol="XYZABC", volume=5.0, open_price=2.0)]
    book = PositionBook()
    for p in positions:
        book.apply(p)
    rec, left_out = evaluate_exposure(
        {"0": book.partial()}, {"EURUSD": 1.0}, LIMITS, BANDS, event_time=T0
    )
    assert left_out == ["XYZABC"] == unconverted_symbols({"0": book.partial()}, {"EURUSD": 1.0})
    assert rec["bySymbol"] == {"EURUSD": 1000.0} and rec["positionCount"] == 1
    assert "XYZ" not in rec["byCurrency"] and "ABC" not in rec["byCurrency"]
    # A quote linking ABC to USD makes it convertible.
    rec = exposure(positions, {"EURUSD": 1.0, "USDABC": 4.0})
    assert rec["bySymbol"]["XYZABC"] == 5.0 * 2.0 / 4.0 and rec["positionCount"] == 2


def test_integration_guide_scenario_five_large_buys() -> None:
    buys = [pos(f"o{i}", volume=50_000.0, open_price=1.0850) for i in range(5)]
    for mids in ({}, {"EURUSD": 1.0850}):  # fallback mark, then a live quote
        rec = exposure(buys, mids)
        assert rec["totalExposure"] == 271_250.0
        assert rec["utilizationPct"] == 271.25
        assert rec["riskLevel"] == "critical"
        assert rec["exposureLimit"] == 100_000.0 and rec["positionCount"] == 5
    rec = exposure(buys[:1], {"EURUSD": 1.0850})
    assert (rec["totalExposure"], rec["utilizationPct"], rec["riskLevel"]) == (
        54_250.0,
        54.25,
        "low",
    )


def test_contract_example_frame_is_reproduced() -> None:
    rec = exposure(
        [
            pos("a", volume=50_000.0, book="ABOOK", lp="OANDA"),
            pos("b", symbol="GBPUSD", volume=30_000.0, book="ABOOK", lp="OANDA"),
        ],
        {"EURUSD": 1.0, "GBPUSD": 1.0},
    )
    assert rec == {
        "eventTime": T0,
        "totalExposure": 80_000.0,
        "netExposure": 80_000.0,
        "exposureLimit": 100_000.0,
        "utilizationPct": 80.0,
        "riskLevel": "medium",
        "bySymbol": {"EURUSD": 50_000.0, "GBPUSD": 30_000.0},
        "byLP": {"OANDA": 80_000.0},
        "byBook": {"ABOOK": 80_000.0},
        "byCurrency": {"EUR": 50_000.0, "GBP": 30_000.0, "USD": -80_000.0},
        "positionCount": 2,
    }


def test_docs_worked_example() -> None:
    """The example in docs/exposure.md, figure for figure."""
    rec = exposure(
        [
            pos("p1", volume=100_000.0, open_price=1.08, book="ABOOK", lp="OANDA"),
            pos("p2", symbol="USDJPY", side="SELL", volume=50_000.0, open_price=150.0),
            pos("p3", symbol="EURCHF", volume=20_000.0, open_price=0.94, book="ABOOK", lp="LMAX"),
            pos("p4", symbol="XAUUSD", volume=10.0, open_price=2000.0, current_price=2400.0),
        ],
        {"EURUSD": 1.1, "USDJPY": 160.0, "EURCHF": 0.95},
    )
    assert rec == {
        "eventTime": T0,
        "totalExposure": 206_000.0,
        "netExposure": 106_000.0,
        "exposureLimit": 100_000.0,
        "utilizationPct": 206.0,
        "riskLevel": "critical",
        "bySymbol": {
            "EURCHF": 22_000.0,
            "EURUSD": 110_000.0,
            "USDJPY": 50_000.0,
            "XAUUSD": 24_000.0,
        },
        "byLP": {"LMAX": 22_000.0, "OANDA": 110_000.0},
        "byBook": {"ABOOK": 132_000.0, "BBOOK": 74_000.0},
        "byCurrency": {
            "CHF": -21_768.421053,
            "EUR": 132_000.0,
            "JPY": 46_875.0,
            "USD": -178_000.0,
            "XAU": 24_000.0,
        },
        "positionCount": 4,
    }


def test_merge_reuse_never_returns_stale_figures() -> None:
    """The merged partial is reused only while the very same partial objects come in."""
    p1 = recompute([pos("a", volume=10.0)])
    p2 = recompute([pos("b", volume=20.0)])
    p3 = recompute([pos("b", volume=30.0)])

    def total(parts: dict[str, Partial]) -> float:
        return float(
            compute_exposure(parts, {"EURUSD": 1.0}, LIMITS, BANDS, event_time=T0)["totalExposure"]
        )

    assert total({"0": p1, "1": p2}) == total({"1": p2, "0": p1}) == 30.0
    assert total({"0": p1, "1": p3}) == 40.0
    assert total({"0": p1}) == 10.0
    assert total({"0": p1, "2": p3}) == 40.0
    assert total({"0": p1, "1": p2}) == 30.0


def test_record_is_valid_for_the_exposure_change_schema() -> None:
    from schemas.codec import default_codec

    rec = exposure([pos("a"), pos("b", symbol="USDJPY", open_price=150.0)], {"USDJPY": 150.0})
    codec = default_codec()
    decoded = codec.decode(codec.encode("ExposureChange", rec), expect=["ExposureChange"])
    # A record without a basis (basis=None) leaves the basis fields out: they decode to the
    # schema's empty defaults; every field the record has comes back as written.
    extra = set(decoded.record) - set(rec)
    assert set(rec) <= set(decoded.record)
    assert all(decoded.record[k] in (None, {}, []) for k in extra), extra
    assert decoded.record == {
        **rec,
        "eventTime": decoded.record["eventTime"],
        **{k: decoded.record[k] for k in extra},
    }


def test_symbol_and_currency_utilization_against_their_limits() -> None:
    limits = ExposureLimits.from_mapping(
        {"by_symbol": {"EURUSD": 50_000, "GBPUSD": 1000}, "by_currency": {"USD": 200_000}}
    )
    rec = exposure([pos("a", volume=40_000.0)], {"EURUSD": 1.25}, limits)
    assert symbol_utilization(rec, limits) == {"EURUSD": 100.0, "GBPUSD": 0.0}
    assert currency_utilization(rec, limits) == {"USD": 20.0}  # |-40,000| / 200,000


# --------------------------------------------------------------------------------------------
# usd_rates


def _instruments(symbols: list[str]) -> dict[str, Instrument]:
    return {s: instrument(s) for s in symbols}


def test_usd_rates_direct_pairs_win_and_crosses_fill_the_rest() -> None:
    mids = {"EURJPY": 170.0, "EURUSD": 1.25, "USDJPY": 160.0, "GBPCHF": 1.1, "EURGBP": 0.8}
    rates = usd_rates(mids, _instruments(list(mids)))
    assert rates["JPY"] == 1 / 160.0  # not 1.25 / 170 through EURJPY
    assert rates["EUR"] == 1.25
    assert rates["GBP"] == 1.25 / 0.8  # two hops
    assert rates["CHF"] == 1.25 / 0.8 / 1.1  # three hops
    assert rates["USD"] == 1.0


def test_usd_rates_is_deterministic_whatever_the_input_order() -> None:
    mids = {"EURJPY": 170.0, "GBPJPY": 200.0, "USDJPY": 160.0, "XAUEUR": 2000.0, "XAUGBP": 1800.0}
    expected = usd_rates(mids, _instruments(list(mids)))
    for seed in range(5):
        items = list(mids.items())
        random.Random(seed).shuffle(items)
        assert usd_rates(dict(items), _instruments(list(mids))) == expected
    # XAU is two hops away by XAUEUR and by XAUGBP: the first symbol in sorted order wins.
    assert expected["XAU"] == 2000.0 * expected["EUR"]


def test_usd_rates_quotes_beat_fallback_marks_and_ignore_bad_prices() -> None:
    inst = _instruments(["EURUSD", "EURGBP", "GBPUSD"])
    rates = usd_rates({"EURUSD": 1.2}, inst, {"EURUSD": 9.0, "GBPUSD": 1.5})
    assert rates == {"USD": 1.0, "EUR": 1.2, "GBP": 1.5}
    rates = usd_rates({"EURUSD": 0.0, "GBPUSD": float("nan")}, inst, {"EURUSD": 1.1})
    assert rates == {"USD": 1.0, "EUR": 1.1}


# --------------------------------------------------------------------------------------------
# Limits and bands


def test_risk_bands_levels() -> None:
    assert [BANDS.level(p) for p in (0.0, 54.25, 59.99, 60.0, 80.0, 85.0, 99.9, 100.0, 271.25)] == [
        "low",
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]
    assert RiskBands.from_mapping({"critical_pct": "90"}).level(90.0) == "critical"


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ({"medium_pct": 90}, "exposure.risk_bands.high_pct"),
        ({"high_pct": 150}, "exposure.risk_bands.critical_pct"),
        ({"medium_pct": -1}, "exposure.risk_bands.medium_pct"),
        ({"critical_pct": "x"}, "exposure.risk_bands.critical_pct"),
        ({"low_pct": 1}, "exposure.risk_bands.low_pct"),
    ],
)
def test_risk_bands_errors_name_the_key(mapping: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        RiskBands.from_mapping(mapping)


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ({"global_usd": 0}, "exposure.limits.global_usd"),
        ({"global_usd": True}, "exposure.limits.global_usd"),
        ({"by_symbol": {"EURUSD": "lots"}}, "exposure.limits.by_symbol.EURUSD"),
        ({"by_symbol": {"EURUSD": float("nan")}}, "exposure.limits.by_symbol.EURUSD"),
        ({"by_currency": {"JPY": -5}}, "exposure.limits.by_currency.JPY"),
        ({"by_currency": [1]}, "exposure.limits.by_currency"),
        ({"global": 1}, "exposure.limits.global"),
    ],
)
def test_exposure_limits_errors_name_the_key(mapping: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        ExposureLimits.from_mapping(mapping)


def test_exposure_limits_from_mapping_reads_every_key() -> None:
    limits = ExposureLimits.from_mapping(
        {"global_usd": "250000", "by_symbol": {"EURUSD": 5e4}, "by_currency": {"EUR": 7}}
    )
    assert limits.global_usd == 250_000.0
    assert dict(limits.by_symbol) == {"EURUSD": 50_000.0}
    assert dict(limits.by_currency) == {"EUR": 7.0}
    assert ExposureLimits.from_mapping({}) == ExposureLimits()


# --------------------------------------------------------------------------------------------
# Coalescer


def rec(v: int) -> dict[str, Any]:
    return {"v": v}


def test_coalescer_first_change_goes_out_at_once_and_bursts_are_coalesced() -> None:
    c = Coalescer(min_interval_s=0.05, heartbeat_s=5.0)
    assert c.next_deadline() is None and c.due(100.0) is None
    assert c.offer(rec(1), 10.0) == rec(1)
    assert c.offer(rec(2), 10.01) is None
    assert c.offer(rec(3), 10.03) is None
    assert c.next_deadline() == pytest.approx(10.05)
    assert c.due(10.04) is None
    assert c.due(10.05) == rec(3)  # the latest value at the end of the interval
    assert c.offer(rec(3), 10.2) is None  # same value: not a change
    assert c.offer(rec(4), 10.2) == rec(4)  # quiet spell over: at once


def test_coalescer_heartbeat_repeats_the_latest_value() -> None:
    c = Coalescer(min_interval_s=0.05, heartbeat_s=5.0)
    c.offer(rec(1), 0.0)
    assert c.next_deadline() == 5.0
    assert c.due(4.99) is None
    assert c.due(5.0) == rec(1)
    assert c.due(9.99) is None and c.due(10.0) == rec(1)


def test_coalescer_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError, match="heartbeat_s"):
        Coalescer(min_interval_s=1.0, heartbeat_s=0.5)
    with pytest.raises(ConfigError, match="min_interval_s"):
        Coalescer(min_interval_s=-1.0)


@PROPERTY
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=3.0, allow_nan=False),  # time step
            st.none() | st.integers(0, 4),  # None: due(); n: offer(rec(n))
        ),
        max_size=60,
    )
)
def test_coalescer_spacing_and_last_value_is_always_published(ops: list[Any]) -> None:
    interval = 0.05
    c = Coalescer(min_interval_s=interval, heartbeat_s=1.0)
    now, published, last_offered = 0.0, [], None
    for step, op in ops:
        now += step
        if op is None:
            out = c.due(now)
        else:
            last_offered = rec(op)
            out = c.offer(rec(op), now)
        if out is not None:
            published.append((now, out))
    assert all(b[0] - a[0] >= interval for a, b in zip(published, published[1:], strict=False))
    if last_offered is not None:
        deadline = c.next_deadline()
        assert deadline is not None
        assert c.due(deadline) == last_offered


def test_coalescer_deadline_agrees_with_elapsed_time_despite_float_rounding() -> None:
    c = Coalescer(min_interval_s=0.05, heartbeat_s=5.0)
    c.offer(rec(0), 2.0)
    assert c.offer(rec(1), 2.0 + 0.05) is None  # 2.05 - 2.0 < 0.05 in binary floating point
    deadline = c.next_deadline()
    assert deadline is not None and deadline - 2.0 >= 0.05
    assert c.due(2.05) is None and c.due(deadline) == rec(1)
