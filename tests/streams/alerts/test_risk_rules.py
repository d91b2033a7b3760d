"""The risk rules of ``streams.alerts``: the B-book's daily loss, winning accounts and the
per-account exposure limit (same hysteresis, stable ids and resolutions as every rule), and
exposure limits measured on the record's basis. Pure: numbers in, Alert records out."""

from __future__ import annotations

import re
from typing import Any

import pytest

from schemas.codec import default_codec
from streams.alerts.engine import RuleEngine, RulesConfig
from streams.settings import ConfigError
from tests.helpers.risk import pnl_record as pnl

CODEC = default_codec()
ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
T0 = 1_768_818_645_000_000  # 2026-01-19T10:30:45Z
S = 1_000_000


def valid(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for alert in alerts:
        CODEC.encode("Alert", alert)
        assert ID_RE.match(alert["id"]), alert["id"]
    return alerts


def transitions(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["state"], a["ruleId"]) for a in alerts]


def test_daily_loss_levels_with_hysteresis_as_every_leveled_rule() -> None:
    """Loss (the negative of the B-book's P&L today) 60k: warning; 120k: critical; 97k stays
    critical (within the 5k margin); 94k: back to warning; 40k: resolved."""
    engine = RuleEngine(RulesConfig())
    steps = [
        valid(engine.on_pnl(pnl(total, T0 + i * S)))
        for i, total in enumerate([-20_000, -60_000, -120_000, -97_000, -94_000, -40_000])
    ]
    assert [transitions(s) for s in steps] == [
        [],
        [("RAISED", "pnl.daily_loss.warning")],
        [("RESOLVED", "pnl.daily_loss.warning"), ("RAISED", "pnl.daily_loss.critical")],
        [],
        [("RESOLVED", "pnl.daily_loss.critical"), ("RAISED", "pnl.daily_loss.warning")],
        [("RESOLVED", "pnl.daily_loss.warning")],
    ]
    raised = steps[2][1]
    assert raised["severity"] == "critical" and raised["title"] == "B-Book Daily Loss Critical"
    assert raised["value"] == 120_000 and raised["threshold"] == 100_000
    assert raised["source"] == "PnlMonitor" and raised["category"] == "exposure"
    assert "-120,000.00 USD" in raised["message"]
    assert steps[4][0]["resolvesId"] == raised["id"] and steps[4][0]["threshold"] == 95_000


def test_daily_loss_ids_are_stable_and_a_redelivered_older_record_changes_nothing() -> None:
    a, b = RuleEngine(RulesConfig()), RuleEngine(RulesConfig())
    first = a.on_pnl(pnl(-70_000, T0))
    assert [x["id"] for x in first] == [x["id"] for x in b.on_pnl(pnl(-70_000, T0))]
    assert a.on_pnl(pnl(0.0, T0 - S)) == [], "older than the last one accepted"
    restored = RuleEngine(RulesConfig())
    restored.restore(a.state())
    assert restored.on_pnl(pnl(-70_000, T0 + S)) == [], "still open after a restore"
    assert transitions(restored.on_pnl(pnl(0.0, T0 + 2 * S))) == [
        ("RESOLVED", "pnl.daily_loss.warning")
    ]


def test_winning_accounts_and_the_per_account_limit() -> None:
    """An account at or above 10,000 USD P&L today is a winning account until it falls below
    9,000; over its exposure limit (1,000,000 USD) until below 95 %; an account with an open
    alert that the figures leave out (nothing left) counts as 0 and resolves."""
    engine = RuleEngine(RulesConfig())
    first = valid(engine.on_accounts(T0, {"acc-1": (12_500.0, 100.0), "acc-2": (0.0, 1.2e6)}))
    assert transitions(first) == [
        ("RAISED", "account.winning.high"),
        ("RAISED", "account.exposure_limit.exceeded"),
    ]
    assert first[0]["title"] == "Winning Account: acc-1" and first[0]["source"] == "AccountMonitor"
    assert first[1]["value"] == pytest.approx(120.0)
    assert engine.accounts_with_alerts() == ["acc-1", "acc-2"]
    assert engine.on_accounts(T0 + S, {"acc-1": (9_500.0, 0.0), "acc-2": (0.0, 960_000.0)}) == []
    later = valid(engine.on_accounts(T0 + 2 * S, {"acc-1": (8_999.0, 0.0)}))
    assert transitions(later) == [
        ("RESOLVED", "account.winning.high"),
        ("RESOLVED", "account.exposure_limit.exceeded"),
    ]
    assert later[1]["value"] == 0.0 and engine.accounts_with_alerts() == []
    assert engine.on_accounts(T0, {"acc-1": (50_000.0, 0.0)}) == [], "an older evaluation"


def test_exposure_limits_read_the_basis_figures_when_the_record_has_a_basis() -> None:
    """bySymbol is gross; with a basis the symbol limit applies to basisBySymbol."""
    engine = RuleEngine(RulesConfig(), limits_by_symbol={"EURUSD": 100_000.0})
    record = {
        "eventTime": T0,
        "utilizationPct": 10.0,
        "bySymbol": {"EURUSD": 250_000.0},
        "byCurrency": {},
        "basis": "bbook-net",
        "basisBySymbol": {"EURUSD": 20_000.0},
        "basisByCurrency": {},
    }
    assert engine.on_exposure(record) == []
    over = dict(record, eventTime=T0 + S, basisBySymbol={"EURUSD": 150_000.0})
    assert transitions(engine.on_exposure(over)) == [("RAISED", "exposure.symbol_limit.exceeded")]


def test_risk_rule_settings_come_from_the_rules_tables_and_are_checked() -> None:
    doc = {
        "rules": {
            "pnl": {
                "daily_loss_warning_usd": 1000,
                "daily_loss_critical_usd": 2000,
                "daily_loss_margin_usd": 100,
            },
            "accounts": {
                "winning_usd": 500,
                "winning_margin_usd": 50,
                "exposure_limit_usd": 50_000,
            },
        }
    }
    config = RulesConfig.from_mapping(doc)
    assert config.daily_loss_critical_usd == 2000.0 and config.account_winning_usd == 500.0
    with pytest.raises(ConfigError, match="rules.pnl.daily_loss_critical_usd"):
        RulesConfig.from_mapping({"rules": {"pnl": {"daily_loss_critical_usd": 10}}})
    with pytest.raises(ConfigError, match="rules.accounts.winning_margin_usd"):
        RulesConfig.from_mapping({"rules": {"accounts": {"winning_margin_usd": 20_000}}})
    with pytest.raises(ConfigError, match="rules.accounts.exposure_limit_usd"):
        RulesConfig.from_mapping({"rules": {"accounts": {"exposure_limit_usd": 0}}})
