"""Tests of ``streams.alerts.engine``, ``alert_rules`` and ``alert_records``: the alert rules, their
hysteresis, ids and snapshots.

Pure logic, no Kafka: every output is checked against Alert.avsc with the project codec.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import default_codec
from streams import events
from streams.alerts.engine import AlertStateError, RuleEngine, RulesConfig
from streams.alerts.records import alert_id, from_service_alert
from streams.alerts.rules import GUIDE_ACTION_ITEMS
from streams.settings import ConfigError

CODEC = default_codec()
ID_RE = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
T0 = 1_768_818_645_000_000  # 2026-01-19T10:30:45Z
S = 1_000_000  # one second in micros
EXAMPLE_TOML = Path(__file__).resolve().parents[3] / "infra" / "rtx.example.toml"

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- input builders ----------------------------------------------------------------------------


def snap(
    pct: float,
    t: int,
    *,
    by_symbol: dict[str, float] | None = None,
    by_currency: dict[str, float] | None = None,
    limit: float = 100_000.0,
) -> dict[str, Any]:
    """An ExposureChange record with the given utilisation."""
    total = pct * limit / 100
    return {
        "eventTime": t,
        "totalExposure": total,
        "netExposure": total,
        "exposureLimit": limit,
        "utilizationPct": pct,
        "riskLevel": "low",
        "bySymbol": by_symbol or {},
        "byLP": {},
        "byBook": {},
        "byCurrency": by_currency or {},
        "positionCount": 0,
    }


_ids = itertools.count(1)


def status(lp: str, state: str, t: int, event_id: str | None = None) -> dict[str, Any]:
    eid = event_id or str(uuid.UUID(int=next(_ids), version=4))
    return events.lp_status(lp_name=lp, status=state, event_time=t, event_id=eid)


def perf(
    lp: str,
    t: int,
    *,
    reject: float = 0.0,
    rolling: float | None = None,
    latency: float = 10.0,
    p95: float | None = None,
) -> dict[str, Any]:
    return {
        "eventTime": t,
        "lpName": lp,
        "status": "connected",
        "avgSpread": 0.0001,
        "executionQuality": 0.9,
        "latencyMs": latency,
        "quotesPerSecond": 50.0,
        "rejectRate": reject,
        "uptime": 100.0,
        "statusTransitions": 0,
        "observedUptimePct": None,
        "rollingRejectRate": rolling,
        "fillLatencyP50Ms": None,
        "fillLatencyP95Ms": p95,
        "fillLatencyP99Ms": None,
    }


def summary(t_end: int, share: float, count: int = 100) -> dict[str, Any]:
    abook = round(count * share / 100)
    return {
        "windowStart": t_end - 60 * S,
        "windowEnd": t_end,
        "count": count,
        "volume": 1.0,
        "notionalUsd": 1.0,
        "abookCount": abook,
        "bbookCount": count - abook,
        "abookShareByCountPct": share,
        "abookShareByVolumePct": share,
        "byLP": {},
        "executionTimeP50Ms": 1.0,
        "executionTimeP95Ms": 1.0,
        "executionTimeP99Ms": 1.0,
        "slippageMean": 0.0,
        "slippagePositiveCount": 0,
        "slippageNegativeCount": 0,
    }


def valid(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every alert fits Alert.avsc exactly (the codec validates) and has a contract id."""
    for alert in alerts:
        CODEC.encode("Alert", alert)
        assert ID_RE.match(alert["id"]), alert["id"]
    return alerts


def feed(engine: RuleEngine, values: list[float], t0: int = T0) -> list[list[dict[str, Any]]]:
    """Utilisation values one second apart; the alerts of each."""
    return [valid(engine.on_exposure(snap(v, t0 + i * S))) for i, v in enumerate(values)]


def raised(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in alerts if a["state"] == "RAISED"]


def flat(batches: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [a for batch in batches for a in batch]


# --- ids ---------------------------------------------------------------------------------------


def test_alert_id_has_contract_format_from_cause_time_and_hash() -> None:
    cause = "exposure.utilization.critical|total|1768818645000000|"
    aid = alert_id(T0 + 123_456, cause)
    assert ID_RE.match(aid)
    assert aid == "20260119-103045-" + hashlib.sha256(cause.encode()).hexdigest()[:6]
    assert alert_id(T0 + 123_456, cause) == aid  # stable
    assert alert_id(T0, cause + "x") != aid
    assert alert_id(0, "c").startswith("19700101-000000-")
    assert alert_id(-1, "c").startswith("19691231-235959-")  # floor, not truncation
    assert alert_id(-62_135_596_800 * S, "c").startswith("00010101-000000-")  # zero-padded year


def test_from_service_alert_derives_id_from_event_id() -> None:
    eid = "0b7e4c1e-3f5a-4c2b-9d1e-2a6f1c3b4d5e"
    record = events.service_alert(
        severity="error",
        category="system",
        title="Margin call engine down",
        message="restarting",
        source="AlertEngine",
        action_items=["Page on-call"],
        event_id=eid,
        event_time=T0,
    )
    alert = from_service_alert(record)
    valid([alert])
    assert alert["id"] == alert_id(T0, "service:" + eid)
    assert alert["state"] == "RAISED" and alert["ruleId"] is None and alert["resolvesId"] is None
    assert alert["actionItems"] == ["Page on-call"] and alert["source"] == "AlertEngine"
    assert from_service_alert(record) == alert  # redelivery: same id


# --- exposure utilisation ----------------------------------------------------------------------


def test_guide_scenario_five_eurusd_buys_raise_exactly_one_critical() -> None:
    """Five 50,000 EURUSD buys at 1.085 against a 100,000 USD limit: only Exceeded fires."""
    engine = RuleEngine(RulesConfig())
    out: list[dict[str, Any]] = []
    for i in range(1, 6):
        total = i * 50_000 * 1.085
        pct = total / 100_000 * 100
        record = snap(pct, T0 + i * 5 * S, by_symbol={"EURUSD": total})
        CODEC.encode("ExposureChange", record)
        out += valid(engine.on_exposure(record))
    assert [round(a["value"], 2) for a in out] == [108.5]
    (alert,) = out
    assert alert["severity"] == "critical" and alert["category"] == "exposure"
    assert alert["title"] == "Exposure Limit Exceeded"
    assert alert["message"] == "Current exposure is at 108.5% of limit"
    assert alert["actionItems"] == list(GUIDE_ACTION_ITEMS)
    assert alert["source"] == "ExposureMonitor" and alert["state"] == "RAISED"
    assert alert["ruleId"] == "exposure.utilization.exceeded" and alert["threshold"] == 100.0
    assert alert["eventTime"] == T0 + 10 * S


def test_approaching_alert_matches_the_guide() -> None:
    engine = RuleEngine(RulesConfig())
    (alert,) = feed(engine, [92.0])[0]
    assert alert["title"] == "Exposure Limit Approaching" and alert["severity"] == "critical"
    assert alert["message"] == "Current exposure is at 92.0% of limit"
    assert alert["actionItems"] == [
        "Review open positions",
        "Consider closing high-risk positions",
        "Increase exposure limit if justified",
    ]


def test_value_hovering_around_a_threshold_fires_once() -> None:
    engine = RuleEngine(RulesConfig())
    out = flat(feed(engine, [80.0, 89.9, 90.1, 89.5, 90.2, 89.0, 90.5, 86.0, 91.0, 85.1, 90.0]))
    assert [(a["state"], a["ruleId"]) for a in out] == [
        ("RAISED", "exposure.utilization.warning"),
        ("RESOLVED", "exposure.utilization.warning"),
        ("RAISED", "exposure.utilization.critical"),
    ]


def test_level_rearms_only_below_threshold_minus_margin() -> None:
    engine = RuleEngine(RulesConfig())
    batches = feed(engine, [90.1, 85.5, 85.0, 90.3, 84.9, 90.1])
    assert [len(b) for b in batches] == [1, 0, 0, 0, 2, 2]
    first = batches[0][0]
    resolve, warning = batches[4]
    assert resolve["state"] == "RESOLVED" and resolve["resolvesId"] == first["id"]
    assert resolve["threshold"] == 85.0 and resolve["severity"] == "info"
    assert resolve["title"] == "Resolved: Exposure Limit Approaching"
    assert warning["title"] == "Exposure Warning" and warning["severity"] == "warning"
    again = raised(batches[5])[0]
    assert again["ruleId"] == "exposure.utilization.critical" and again["id"] != first["id"]


def test_escalation_resolves_the_lower_alert() -> None:
    engine = RuleEngine(RulesConfig())
    b80, b95, b105 = feed(engine, [80.0, 95.0, 105.0])
    (warning,) = b80
    assert warning["title"] == "Exposure Warning" and warning["threshold"] == 75.0
    res_w, approaching = b95
    assert res_w["state"] == "RESOLVED" and res_w["resolvesId"] == warning["id"]
    assert res_w["title"] == "Resolved: Exposure Warning" and res_w["severity"] == "info"
    assert "superseded by Exposure Limit Approaching" in res_w["message"]
    assert approaching["title"] == "Exposure Limit Approaching" and approaching["state"] == "RAISED"
    res_a, exceeded = b105
    assert res_a["resolvesId"] == approaching["id"]
    assert exceeded["title"] == "Exposure Limit Exceeded" and exceeded["value"] == 105.0


def test_deescalation_resolves_and_raises_the_level_still_reached() -> None:
    engine = RuleEngine(RulesConfig())
    b105, b93, b50 = feed(engine, [105.0, 93.0, 50.0])
    (exceeded,) = b105
    res_e, approaching = b93
    assert res_e["state"] == "RESOLVED" and res_e["resolvesId"] == exceeded["id"]
    assert res_e["title"] == "Resolved: Exposure Limit Exceeded" and res_e["threshold"] == 95.0
    assert approaching["title"] == "Exposure Limit Approaching" and approaching["value"] == 93.0
    assert approaching["threshold"] == 90.0  # the level's threshold, not the exit one
    (res_a,) = b50
    assert res_a["resolvesId"] == approaching["id"] and res_a["state"] == "RESOLVED"


def test_falling_into_the_margin_of_a_lower_level_raises_the_level_reached() -> None:
    """105 -> 87: Exceeded is left (< 95); 87 is below 90, so Warning (75) is the level now."""
    engine = RuleEngine(RulesConfig())
    _, b87 = feed(engine, [105.0, 87.0])
    assert [(a["state"], a["ruleId"]) for a in b87] == [
        ("RESOLVED", "exposure.utilization.exceeded"),
        ("RAISED", "exposure.utilization.warning"),
    ]


def test_stale_or_redelivered_snapshot_does_not_flip_the_rule() -> None:
    engine = RuleEngine(RulesConfig())
    assert len(engine.on_exposure(snap(95.0, T0 + 10 * S))) == 1
    assert engine.on_exposure(snap(10.0, T0 + 5 * S)) == []  # older: superseded, ignored
    assert engine.on_exposure(snap(95.0, T0 + 10 * S)) == []  # redelivered: no change


def test_nan_utilisation_changes_nothing() -> None:
    engine = RuleEngine(RulesConfig())
    feed(engine, [95.0])
    assert engine.on_exposure(snap(float("nan"), T0 + 9 * S)) == []


def test_thresholds_come_from_the_config() -> None:
    cfg = RulesConfig.from_mapping(
        {"rules": {"exposure": {"warning_pct": 50, "critical_pct": 60, "margin_pct": 1}}}
    )
    engine = RuleEngine(cfg)
    batches = feed(engine, [55.0, 61.0, 59.5, 58.9])
    assert [[a["ruleId"] for a in raised(b)] for b in batches] == [
        ["exposure.utilization.warning"],
        ["exposure.utilization.critical"],
        [],
        ["exposure.utilization.warning"],
    ]


# --- per-symbol and per-currency limits --------------------------------------------------------


def test_symbol_and_currency_limits_with_hysteresis() -> None:
    engine = RuleEngine(
        RulesConfig(),
        limits_by_symbol={"EURUSD": 50_000.0},
        limits_by_currency={"USD": 40_000.0},
    )

    def at(t: int, eur: float, usd: float) -> list[dict[str, Any]]:
        record = snap(
            1.0,
            t,
            by_symbol={"EURUSD": eur, "GBPUSD": 10**9},
            by_currency={"USD": usd, "GBP": 10**9},
        )
        return valid(engine.on_exposure(record))

    assert at(T0, 40_000, -30_000) == []
    out = at(T0 + S, 51_000, -41_000)  # USD short: the absolute value counts
    assert [a["title"] for a in out] == [
        "Symbol Exposure Limit Exceeded: EURUSD",
        "Currency Exposure Limit Exceeded: USD",
    ]
    sym, ccy = out
    assert sym["ruleId"] == "exposure.symbol_limit.exceeded" and sym["severity"] == "critical"
    assert sym["value"] == pytest.approx(102.0) and sym["threshold"] == 100.0
    assert ccy["ruleId"] == "exposure.currency_limit.exceeded"
    assert ccy["value"] == pytest.approx(102.5)
    assert at(T0 + 2 * S, 48_000, -39_000) == []  # 96% and 97.5%: inside the margin
    out = at(T0 + 3 * S, 47_000, -39_000)  # EURUSD 94% < 95%: resolved
    assert [(a["state"], a["resolvesId"]) for a in out] == [("RESOLVED", sym["id"])]
    out = at(T0 + 4 * S, 0, 0)  # positions closed
    assert [(a["state"], a["resolvesId"]) for a in out] == [("RESOLVED", ccy["id"])]


def test_symbol_missing_from_snapshot_counts_as_zero() -> None:
    engine = RuleEngine(RulesConfig(), limits_by_symbol={"XAUUSD": 1_000.0})
    assert len(engine.on_exposure(snap(1.0, T0, by_symbol={"XAUUSD": 2_000.0}))) == 1
    (res,) = engine.on_exposure(snap(1.0, T0 + S))
    assert res["state"] == "RESOLVED"


@pytest.mark.parametrize("limit", [0, -5.0, float("inf"), float("nan"), True, "100"])
def test_bad_limit_is_a_config_error(limit: Any) -> None:
    with pytest.raises(ConfigError, match=r"limits_by_symbol\['EURUSD'\]"):
        RuleEngine(RulesConfig(), limits_by_symbol={"EURUSD": limit})


# --- LP rules ----------------------------------------------------------------------------------


def test_lp_disconnect_raises_and_reconnect_resolves() -> None:
    engine = RuleEngine(RulesConfig())
    assert engine.on_lp_status(status("OANDA", "connected", T0)) == []
    lost = valid(engine.on_lp_status(status("OANDA", "disconnected", T0 + S)))
    (alert,) = lost
    assert alert["title"] == "LP Connection Lost" and alert["severity"] == "warning"
    assert alert["category"] == "lp" and alert["source"] == "LPMonitor"
    assert alert["ruleId"] == "lp.connection.lost" and "OANDA" in alert["message"]
    assert engine.on_lp_status(status("OANDA", "disconnected", T0 + 2 * S)) == []
    assert engine.on_lp_status(status("OANDA", "connected", T0 - S)) == []  # stale: ignored
    (res,) = valid(engine.on_lp_status(status("OANDA", "connected", T0 + 3 * S)))
    assert res["state"] == "RESOLVED" and res["resolvesId"] == alert["id"]
    assert res["title"] == "Resolved: LP Connection Lost"


def test_lp_first_status_disconnected_raises() -> None:
    engine = RuleEngine(RulesConfig())
    (alert,) = valid(engine.on_lp_status(status("LMAX", "disconnected", T0)))
    assert alert["title"] == "LP Connection Lost"


def test_same_lp_status_event_gives_the_same_id() -> None:
    record = status("OANDA", "disconnected", T0)
    a = RuleEngine(RulesConfig()).on_lp_status(record)
    b = RuleEngine(RulesConfig()).on_lp_status(record)
    other = RuleEngine(RulesConfig()).on_lp_status(status("OANDA", "disconnected", T0))
    assert a == b and a[0]["id"] != other[0]["id"]  # another eventId, another cause


def test_lp_silent_via_tick_then_resolved_by_next_status() -> None:
    eid = "5d0c2f3e-8a41-4f6b-9c2d-7e1a0b3c4d5f"
    engine = RuleEngine(RulesConfig())
    engine.on_lp_status(status("OANDA", "connected", T0, event_id=eid))
    engine.on_lp_status(status("LMAX", "connected", T0 + 10 * S))
    assert engine.tick(T0 + 15 * S) == []  # exactly 15 s: not longer than the threshold
    (alert,) = valid(engine.tick(T0 + 15 * S + 1))
    assert alert["title"] == "LP Silent" and alert["eventTime"] == T0 + 15 * S
    assert alert["ruleId"] == "lp.status.silent" and alert["threshold"] == 15.0
    assert alert["category"] == "lp" and "OANDA" in alert["message"]
    assert engine.tick(T0 + 20 * S) == []  # already open
    restored = RuleEngine(RulesConfig())
    restored.restore(json.loads(json.dumps(engine.state())))
    back = status("OANDA", "connected", T0 + 30 * S)
    (res,) = valid(engine.on_lp_status(back))
    assert res["state"] == "RESOLVED" and res["resolvesId"] == alert["id"]
    assert restored.on_lp_status(back) == [res]
    # The cause is the last status seen, not the time tick() ran.
    late = RuleEngine(RulesConfig())
    late.on_lp_status(status("OANDA", "connected", T0, event_id=eid))
    assert late.tick(T0 + 3600 * S)[0]["id"] == alert["id"]


def test_lp_reject_rate_prefers_rolling_and_has_hysteresis() -> None:
    engine = RuleEngine(RulesConfig())
    assert engine.on_lp_performance(perf("OANDA", T0, reject=0.2, rolling=0.01)) == []
    (alert,) = valid(engine.on_lp_performance(perf("OANDA", T0 + S, reject=0.0, rolling=0.06)))
    assert alert["title"] == "LP Reject Rate High" and alert["ruleId"] == "lp.reject_rate.high"
    assert alert["value"] == 0.06 and alert["threshold"] == 0.05
    assert "rolling reject rate is 6.0%" in alert["message"]
    assert engine.on_lp_performance(perf("OANDA", T0 + 2 * S, rolling=0.045)) == []
    (res,) = valid(engine.on_lp_performance(perf("OANDA", T0 + 3 * S, rolling=0.039)))
    assert res["resolvesId"] == alert["id"]
    (fallback,) = engine.on_lp_performance(perf("OANDA", T0 + 4 * S, reject=0.05))
    assert fallback["state"] == "RAISED" and "OANDA reject rate" in fallback["message"]


def test_lp_latency_prefers_p95_and_has_hysteresis() -> None:
    engine = RuleEngine(RulesConfig())
    assert engine.on_lp_performance(perf("LMAX", T0, latency=900.0, p95=100.0)) == []
    (alert,) = valid(engine.on_lp_performance(perf("LMAX", T0 + S, latency=5.0, p95=300.0)))
    assert alert["title"] == "LP Latency High" and alert["ruleId"] == "lp.latency.high"
    assert alert["threshold"] == 250.0 and "p95 fill latency is 300 ms" in alert["message"]
    assert engine.on_lp_performance(perf("LMAX", T0 + 2 * S, p95=201.0)) == []
    (res,) = engine.on_lp_performance(perf("LMAX", T0 + 3 * S, p95=199.0))
    assert res["resolvesId"] == alert["id"]
    (other,) = engine.on_lp_performance(perf("OANDA", T0 + 3 * S, latency=260.0))
    assert other["state"] == "RAISED" and other["message"] == "OANDA latency is 260 ms"


# --- routing -----------------------------------------------------------------------------------


def test_abook_share_band_with_hysteresis() -> None:
    engine = RuleEngine(RulesConfig())
    t = T0
    shares = [50.0, 15.0, 22.0, 25.0, 85.0, 76.0, 10.0, 50.0]
    out = [
        valid(engine.on_routing_summary(summary(t + i * 60 * S, s))) for i, s in enumerate(shares)
    ]
    assert [[(a["state"], a["ruleId"]) for a in b] for b in out] == [
        [],
        [("RAISED", "routing.abook_share.low")],
        [],  # 22 < 20 + 5: still low
        [("RESOLVED", "routing.abook_share.low")],
        [("RAISED", "routing.abook_share.high")],
        [],  # 76 > 80 - 5: still high
        [("RESOLVED", "routing.abook_share.high"), ("RAISED", "routing.abook_share.low")],
        [("RESOLVED", "routing.abook_share.low")],
    ]
    low = out[1][0]
    assert low["title"] == "A-Book Share Out of Band" and low["category"] == "routing"
    assert low["source"] == "RoutingMonitor" and low["threshold"] == 20.0
    assert low["eventTime"] == T0 + 60 * S  # the window end
    assert out[3][0]["resolvesId"] == low["id"] and out[3][0]["threshold"] == 25.0


def test_abook_band_ignores_small_windows_and_can_be_disabled() -> None:
    assert RuleEngine(RulesConfig()).on_routing_summary(summary(T0, 0.0, count=0)) == []
    cfg = RulesConfig.from_mapping({"rules": {"routing": {"min_window_count": 10}}})
    assert RuleEngine(cfg).on_routing_summary(summary(T0, 0.0, count=9)) == []
    assert len(RuleEngine(cfg).on_routing_summary(summary(T0, 0.0, count=10))) == 1
    off = RulesConfig(abook_share_min_pct=0, abook_share_max_pct=100)
    assert not off.abook_share_enabled
    engine = RuleEngine(off)
    assert engine.on_routing_summary(summary(T0, 0.0)) == []
    assert engine.on_routing_summary(summary(T0 + S, 100.0)) == []


# --- invariants, determinism, snapshots --------------------------------------------------------

UTILISATION = st.one_of(
    st.floats(0, 150, allow_nan=False),
    st.sampled_from([74.9, 75.0, 80.0, 84.9, 85.0, 89.9, 90.0, 94.9, 95.0, 99.9, 100.0, 105.0]),
)
LIMITS = {"limits_by_symbol": {"EURUSD": 50_000.0}, "limits_by_currency": {"USD": 50_000.0}}


@st.composite
def event_sequences(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Mixed inputs with non-decreasing event times: one LP, one limited symbol and currency."""
    t = T0
    seq: list[tuple[str, Any]] = []
    for i in range(draw(st.integers(0, 40))):
        t += draw(st.integers(0, 20 * S))
        kind = draw(st.sampled_from(["exposure", "status", "perf", "routing", "tick"]))
        if kind == "exposure":
            eur = draw(st.floats(0, 80_000))
            usd = draw(st.floats(-80_000, 80_000))
            value = snap(draw(UTILISATION), t, by_symbol={"EURUSD": eur}, by_currency={"USD": usd})
        elif kind == "status":
            state = draw(st.sampled_from(["connected", "disconnected"]))
            value = status("OANDA", state, t, event_id=str(uuid.UUID(int=i + 1, version=4)))
        elif kind == "perf":
            rolling = draw(st.one_of(st.none(), st.floats(0, 0.2)))
            p95 = draw(st.one_of(st.none(), st.floats(0, 500)))
            value = perf(
                "OANDA", t, reject=draw(st.floats(0, 0.2)), rolling=rolling, p95=p95, latency=100.0
            )
        elif kind == "routing":
            value = summary(t, draw(st.floats(0, 100)))
        else:
            value = t
        seq.append((kind, value))
    return seq


def run(engine: RuleEngine, seq: list[tuple[str, Any]]) -> list[list[dict[str, Any]]]:
    calls = {
        "exposure": engine.on_exposure,
        "status": engine.on_lp_status,
        "perf": engine.on_lp_performance,
        "routing": engine.on_routing_summary,
        "tick": engine.tick,
    }
    return [calls[kind](value) for kind, value in seq]


@PROPERTY
@given(event_sequences())
def test_at_most_one_open_alert_per_rule_and_subject(seq: list[tuple[str, Any]]) -> None:
    """Replaying the log: a RESOLVED entry names an open alert of its rule; a RAISED entry finds
    none open for its rule (one subject per rule here); ids are unique; all fit Alert.avsc."""
    engine = RuleEngine(RulesConfig(), **LIMITS)
    open_by_rule: dict[str, str] = {}
    seen: set[str] = set()
    for alert in valid(flat(run(engine, seq))):
        rule = alert["ruleId"].rsplit(".", 1)[0]
        assert alert["id"] not in seen
        seen.add(alert["id"])
        if alert["state"] == "RESOLVED":
            assert open_by_rule.pop(rule) == alert["resolvesId"]
        else:
            assert rule not in open_by_rule
            open_by_rule[rule] = alert["id"]
    engine_open = {r: ids for r, subjects in engine.state()["open"].items() for ids in subjects}
    assert set(engine_open) == set(open_by_rule)


@PROPERTY
@given(st.lists(UTILISATION, max_size=60))
def test_open_level_is_consistent_with_the_value(values: list[float]) -> None:
    """After each value v the open level L is the hysteresis state: no higher level's threshold
    is <= v, and v >= threshold(L) - margin."""
    thresholds = {"warning": 75.0, "critical": 90.0, "exceeded": 100.0}
    engine = RuleEngine(RulesConfig())
    level: str | None = None
    for v, batch in zip(values, feed(engine, values), strict=True):
        for alert in batch:
            level = alert["ruleId"].rsplit(".", 1)[1] if alert["state"] == "RAISED" else None
        current = thresholds[level] if level else -1.0
        assert all(th <= current or v < th for th in thresholds.values())
        assert level is None or v >= current - 5.0


@PROPERTY
@given(event_sequences())
def test_same_inputs_twice_give_identical_outputs(seq: list[tuple[str, Any]]) -> None:
    assert run(RuleEngine(RulesConfig(), **LIMITS), seq) == run(
        RuleEngine(RulesConfig(), **LIMITS), seq
    )


@PROPERTY
@given(event_sequences(), st.data())
def test_state_restore_mid_sequence_equals_uninterrupted_run(
    seq: list[tuple[str, Any]], data: st.DataObject
) -> None:
    split = data.draw(st.integers(0, len(seq)))
    whole = RuleEngine(RulesConfig(), **LIMITS)
    expected = run(whole, seq)
    first = RuleEngine(RulesConfig(), **LIMITS)
    head = run(first, seq[:split])
    snapshot = json.loads(json.dumps(first.state(), allow_nan=False))
    second = RuleEngine(RulesConfig(), **LIMITS)
    second.restore(snapshot)
    assert head + run(second, seq[split:]) == expected
    assert second.state() == whole.state()


def test_restore_rejects_a_malformed_snapshot() -> None:
    engine = RuleEngine(RulesConfig())
    with pytest.raises(AlertStateError):
        engine.restore({"version": 99})
    good = engine.state()
    with pytest.raises(AlertStateError):
        engine.restore({**good, "open": {"no.such.rule": {"x": ["id", "warning", "t"]}}})
    with pytest.raises(AlertStateError):
        engine.restore({**good, "lpSeen": {"OANDA": "not a pair"}})


def test_colliding_causes_get_distinct_stable_ids() -> None:
    """Two causes whose alert_id collide (24 bits a second) still get two ids, and the same
    cause keeps its id, also after a snapshot."""
    by_id: dict[str, str] = {}
    for i in itertools.count():
        cause = f"cause-{i}"
        aid = alert_id(T0, cause)
        if aid in by_id:
            first, second = by_id[aid], cause
            break
        by_id[aid] = cause
    engine = RuleEngine(RulesConfig())
    id1 = engine.ids.issue(T0, first)
    id2 = engine.ids.issue(T0, second)
    assert id1 == alert_id(T0, first) and id2 != id1 and ID_RE.match(id2)
    assert engine.ids.issue(T0, second) == id2
    other = RuleEngine(RulesConfig())
    other.restore(json.loads(json.dumps(engine.state())))
    assert other.ids.issue(T0, second) == id2 and other.ids.issue(T0, first) == id1


# --- configuration -----------------------------------------------------------------------------


def test_example_rules_file_holds_the_defaults() -> None:
    assert RulesConfig.load(EXAMPLE_TOML) == RulesConfig()
    assert RulesConfig.from_mapping({}) == RulesConfig()


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"rules": {"exposure": {"critical_pct": "high"}}}, "rules.exposure.critical_pct"),
        ({"rules": {"exposure": {"critical_pct": True}}}, "rules.exposure.critical_pct"),
        ({"rules": {"exposure": {"critical_pct": float("nan")}}}, "rules.exposure.critical_pct"),
        ({"rules": {"exposure": {"critical_pct": 70}}}, "rules.exposure.critical_pct"),
        ({"rules": {"exposure": {"critical_pc": 91}}}, "rules.exposure.critical_pc"),
        ({"rules": {"exposure": {"margin_pct": -1}}}, "rules.exposure.margin_pct"),
        ({"rules": {"exposure": {"margin_pct": 80}}}, "rules.exposure.margin_pct"),
        ({"rules": {"exposure": {"exceeded_pct": 90}}}, "rules.exposure.exceeded_pct"),
        ({"rules": {"exposure": 5}}, "rules.exposure"),
        ({"rules": {"exposur": {}}}, "rules.exposur"),
        ({"rules": []}, "rules"),
        ({"rules": {"lp": {"silent_after_s": 0}}}, "rules.lp.silent_after_s"),
        ({"rules": {"lp": {"reject_rate": 1.5}}}, "rules.lp.reject_rate"),
        ({"rules": {"lp": {"reject_rate_margin": 0.05}}}, "rules.lp.reject_rate_margin"),
        ({"rules": {"lp": {"latency_ms": -3}}}, "rules.lp.latency_ms"),
        ({"rules": {"symbol_limit": {"threshold_pct": 0}}}, "rules.symbol_limit.threshold_pct"),
        ({"rules": {"currency_limit": {"margin_pct": "5"}}}, "rules.currency_limit.margin_pct"),
        (
            {"rules": {"routing": {"abook_share_min_pct": 90}}},
            "rules.routing.abook_share_max_pct",
        ),
        (
            {"rules": {"routing": {"abook_share_max_pct": 101}}},
            "rules.routing.abook_share_max_pct",
        ),
        (
            {"rules": {"routing": {"abook_share_margin_pct": 31}}},
            "rules.routing.abook_share_margin_pct",
        ),
        ({"rules": {"routing": {"min_window_count": 1.5}}}, "rules.routing.min_window_count"),
        ({"rules": {"routing": {"min_window_count": 0}}}, "rules.routing.min_window_count"),
    ],
)
def test_bad_rules_name_the_key_path(doc: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        RulesConfig.from_mapping(doc)
    assert re.match(re.escape(key) + "[=:]", str(info.value)), str(info.value)


def test_other_top_level_tables_belong_to_other_components() -> None:
    doc = {
        "exposure": {"limit_usd": 1e6},
        "lp": {"window_s": 60},
        "rules": {"lp": {"latency_ms": 100}},
    }
    assert RulesConfig.from_mapping(doc) == RulesConfig(lp_latency_ms=100.0)


def test_integer_thresholds_are_accepted_as_floats() -> None:
    cfg = RulesConfig.from_mapping({"rules": {"exposure": {"warning_pct": 70}}})
    assert cfg.exposure_warning_pct == 70.0 and isinstance(cfg.exposure_warning_pct, float)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        RulesConfig.load(missing)
    broken = tmp_path / "broken.toml"
    broken.write_text("[rules.exposure\nwarning_pct = 1\n")
    with pytest.raises(ConfigError, match=re.escape(str(broken)) + ": not valid TOML"):
        RulesConfig.load(broken)
    bad = tmp_path / "bad.toml"
    bad.write_text("[rules.exposure]\ncritical_pct = 'x'\n")
    with pytest.raises(ConfigError, match=re.escape(str(bad)) + ": rules.exposure.critical_pct"):
        RulesConfig.load(bad)


def test_remembered_ids_stay_bounded() -> None:
    """A flapping LP for an hour: the ids kept for collision checks stay few (about the last
    five minutes' worth), so the snapshot stays small."""
    engine = RuleEngine(RulesConfig())
    ids = set()
    for i in range(3600):
        state = "disconnected" if i % 2 else "connected"
        ids.update(a["id"] for a in engine.on_lp_status(status("OANDA", state, T0 + i * S)))
    assert len(ids) == 3599
    assert 256 <= len(engine.state()["recentIds"]) <= 301 + 64
