"""Tests of ``streams.markouts.toxicity``: the score formula, the "Toxic Flow" rule's levels
with hysteresis, its Alert records (the shape of Alert.avsc) and the routing advice."""

from __future__ import annotations

import json
import re

import pytest

from schemas.codec import default_codec
from streams.alerts.records import alert_id
from streams.errors import StateError
from streams.markouts.config import MarkoutConfig
from streams.markouts.records import cause_id
from streams.markouts.toxicity import Scored, ToxicityRule, sign_z, toxicity_score
from tests.helpers.markouts import T0

CODEC = default_codec()
ALERT_FIELDS = [f["name"] for f in CODEC.schema("Alert").parsed["fields"]]


def scored(score: float | None, account: str = "acc-7") -> Scored:
    return Scored(account, score, 120, 100, 70, 25, -0.42, 5_000)


def test_sign_z_is_the_standardised_excess_of_wins() -> None:
    assert sign_z(0, 0) is None
    assert sign_z(70, 30) == 40 / 10
    assert sign_z(30, 70) == -4.0


@pytest.mark.parametrize(
    ("z", "mean", "expected"),
    [(None, -1.0, 0.0), (4.0, None, 0.0), (4.0, 0.0, 0.0), (4.0, 0.5, 0.0), (-2.0, -1.0, 0.0),
     (1.0, -1.0, 20.0), (4.0, -0.1, 80.0), (5.0, -1.0, 100.0), (9.0, -1.0, 100.0)],
)  # fmt: skip
def test_score_is_20_z_clamped_and_zero_unless_the_flow_costs_the_broker(
    z: float | None, mean: float | None, expected: float
) -> None:
    assert toxicity_score(z, mean) == expected


def test_levels_with_hysteresis_alerts_and_advice() -> None:
    """watch at 60, toxic at 80, margin 10: each change resolves the open alert, then raises
    the new one; advice follows the level (ABOOK only at toxic)."""
    rule = ToxicityRule(MarkoutConfig())
    steps: list[tuple[float | None, list[str], str | None]] = [
        (None, [], None),  # unscored, as before: nothing
        (30.0, [], "normal/BBOOK"),
        (59.9, [], None),
        (65.0, ["RAISED markouts.toxic_flow.watch"], "watch/BBOOK"),
        (85.0, ["RESOLVED markouts.toxic_flow.watch", "RAISED markouts.toxic_flow.toxic"],
         "toxic/ABOOK"),
        (70.0, [], None),  # not below 80 - 10
        (69.0, ["RESOLVED markouts.toxic_flow.toxic", "RAISED markouts.toxic_flow.watch"],
         "watch/BBOOK"),
        (50.0, [], None),
        (49.0, ["RESOLVED markouts.toxic_flow.watch"], "normal/BBOOK"),
        (None, [], "unscored/BBOOK"),
    ]  # fmt: skip
    for k, (score, expected_alerts, expected_advice) in enumerate(steps):
        alerts, advice = rule.evaluate(scored(score), T0 + k, f"trade-{k}")
        assert [f"{a['state']} {a['ruleId']}" for a in alerts] == expected_alerts, k
        got = None if advice is None else f"{advice['level']}/{advice['recommendedBook']}"
        assert got == expected_advice, k
    assert rule.open == {} and rule.advised == {}


def test_alert_records_have_the_alert_shape_and_stable_cause_ids() -> None:
    rule = ToxicityRule(MarkoutConfig())
    (raised,), advice = rule.evaluate(scored(85.0), T0 + 61_000_000, "trade-9")
    assert list(raised) == ALERT_FIELDS
    assert raised["id"] == cause_id(T0 + 61_000_000, "markouts.toxic_flow.toxic|acc-7|"
                                    f"{T0 + 61_000_000}|trade-9")  # fmt: skip
    assert re.fullmatch(r"20260119-103101-[0-9a-f]{6}", raised["id"])
    assert raised["severity"] == "critical" and raised["category"] == "routing"
    assert raised["title"] == "Toxic Flow: acc-7"
    assert raised["actionItems"] == ["Route acc-7 to the A-book", "Review the trades of acc-7"]
    assert raised["value"] == 85.0 and raised["threshold"] == 80.0
    assert "client won 70 of 95 decided trades at 5s" in raised["message"]
    CODEC.decode(CODEC.encode("Alert", dict(raised)))
    (resolved,), _ = rule.evaluate(scored(None), T0 + 62_000_000, "expire")
    assert resolved["resolvesId"] == raised["id"] and resolved["state"] == "RESOLVED"
    assert resolved["threshold"] is None and "fewer than 30 trades" in resolved["message"]
    assert advice is not None and advice["recommendedBook"] == "ABOOK"
    assert advice["reason"].startswith("toxic flow: score 85 at 5s; client won 70 of 95")


@pytest.mark.parametrize("t", [0, T0, T0 + 999_999, 253_402_300_799_999_999])
def test_cause_id_is_the_alert_rules_id_of_the_same_cause(t: int) -> None:
    """Both follow the contract (YYYYMMDD-HHMMSS-xxxxxx); markouts has its own copy only
    because domain packages do not import each other."""
    assert cause_id(t, "x|y") == alert_id(t, "x|y")


def test_rule_state_round_trips_and_rejects_unknown_levels() -> None:
    rule = ToxicityRule(MarkoutConfig())
    rule.evaluate(scored(65.0, "a"), T0, "t1")
    rule.evaluate(scored(10.0, "b"), T0, "t2")
    again = ToxicityRule(MarkoutConfig())
    again.restore(json.loads(json.dumps(rule.state())))
    assert again.state() == rule.state() and again.open == rule.open
    bad = json.loads(json.dumps(rule.state()))
    bad["advised"]["a"] = "purple"
    with pytest.raises(StateError):
        again.restore(bad)
