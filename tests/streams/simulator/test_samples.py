"""Tests of ``streams.simulator.samples``: deterministic, valid sample events."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from schemas.codec import default_codec
from streams import events
from streams.simulator.samples import LPS, MIDS, sample_events

# sample method -> (builder, schema)
BUILDERS: dict[str, tuple[Callable[..., dict[str, Any]], str]] = {
    "routing_decision": (events.routing_decision, "RoutingDecision"),
    "lp_status": (events.lp_status, "LpStatus"),
    "position": (events.position, "PositionState"),
    "quote": (events.quote, "Quote"),
    "alert": (events.service_alert, "ServiceAlert"),
}


def test_same_seed_gives_the_same_events() -> None:
    assert list(sample_events(300, seed=11)) == list(sample_events(300, seed=11))


def test_default_seed_is_stable() -> None:
    assert list(sample_events(60)) == list(sample_events(60, seed=7))


def test_different_seeds_give_different_trading() -> None:
    assert list(sample_events(40, seed=1)) != list(sample_events(40, seed=2))


@pytest.mark.parametrize("count", [0, 1, 5, 6, 9, 10, 11, 50, 107, 108, 109, 250])
def test_count_is_honoured(count: int) -> None:
    assert len(list(sample_events(count))) == count


def test_a_shorter_run_is_a_prefix_of_a_longer_one() -> None:
    assert list(sample_events(40, seed=3)) == list(sample_events(120, seed=3))[:40]


@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_every_sample_passes_its_builder_and_encodes(seed: int) -> None:
    codec = default_codec()
    samples = list(sample_events(320, seed=seed))
    assert {method for method, _ in samples} == set(BUILDERS)
    for method, kwargs in samples:
        builder, schema = BUILDERS[method]
        record = builder(**kwargs)
        assert codec.decode(codec.encode(schema, record)).schema == schema


def test_quotes_and_lp_status_come_first() -> None:
    """Consumers see a price for every symbol and every LP's status before any trading."""
    head = list(sample_events(len(MIDS) + len(LPS)))
    assert [m for m, _ in head] == ["quote"] * len(MIDS) + ["lp_status"] * len(LPS)
    assert {kw["symbol"] for _, kw in head[: len(MIDS)]} == set(MIDS)
    assert {kw["lp_name"] for _, kw in head[len(MIDS) :]} == set(LPS)


def test_each_position_follows_its_routing_decision() -> None:
    samples = list(sample_events(200))
    trading = [(m, kw) for m, kw in samples if m in ("routing_decision", "position")]
    trading = trading[: len(trading) // 2 * 2]  # the run may stop between the two
    for (m1, decision), (m2, position) in zip(trading[::2], trading[1::2], strict=True):
        assert (m1, m2) == ("routing_decision", "position")
        assert position["symbol"] == decision["symbol"]
        assert position["side"] == decision["side"]
        assert position["volume"] == decision["volume"]
        assert position["book"] == decision["decision"]
        assert position["lp"] == decision["lp"]
        assert position["account_id"] == decision["account_id"]  # the order's account holds it


def test_an_alert_follows_every_fiftieth_order() -> None:
    counts = Counter(m for m, _ in sample_events(320))
    assert counts["alert"] == counts["routing_decision"] // 50 >= 2
