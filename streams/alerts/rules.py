"""The alert rules as data: each rule's id, category, source, hysteresis margin and levels (pure).

:func:`build_rules` turns a :class:`streams.alerts.config.RulesConfig` into the :class:`Rule`
tuple that :class:`streams.alerts.engine.RuleEngine` evaluates: the thresholds, severities, titles
and
action items of every level. :func:`positive_limits` checks the per-symbol and per-currency
limits the engine compares exposure with. ``docs/alerts.md`` describes every rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from streams.alerts.config import RulesConfig
from streams.settings import ConfigError

SOURCE_EXPOSURE: Final = "ExposureMonitor"
SOURCE_LP: Final = "LPMonitor"
SOURCE_ROUTING: Final = "RoutingMonitor"
SOURCE_PNL: Final = "PnlMonitor"
SOURCE_ACCOUNTS: Final = "AccountMonitor"

# The old hub's exposure monitor alert carries exactly these.
GUIDE_ACTION_ITEMS: Final = (
    "Review open positions",
    "Consider closing high-risk positions",
    "Increase exposure limit if justified",
)


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a rule: entered at ``threshold``; titles and items may use {subject}."""

    key: str  # last part of the ruleId
    threshold: float  # entered at value >= threshold (a band's "low" level: value < threshold)
    severity: str
    title: str  # may contain {subject}
    action_items: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """A leveled rule with hysteresis: levels by ascending threshold, left below the
    threshold minus ``margin``."""

    rule_id: str
    category: str
    source: str
    margin: float  # hysteresis, in the rule's unit
    levels: tuple[Level, ...]  # ascending thresholds

    def level(self, key: str) -> Level:
        for lv in self.levels:
            if lv.key == key:
                return lv
        raise KeyError(key)

    def rank(self, key: str | None) -> int:
        return 0 if key is None else 1 + [lv.key for lv in self.levels].index(key)


_LP_ITEMS: Final = ("Check the LP session and network path", "Route A-book flow to other LPs")
_LP_FLOW_ITEMS: Final = ("Review the LP's recent executions", "Reduce flow routed to this LP")
_BAND_ITEMS: Final = ("Review routing rules and LP availability", "Check the B-book risk appetite")
_EXPOSURE_WARNING_ITEMS: Final = ("Review open positions", "Watch the exposure trend")
_LOSS_ITEMS: Final = (
    "Review the B-book's largest losing symbols",
    "Hedge or pass flow to the A-book",
)
_WINNING_ITEMS: Final = (
    "Review the account's trading",
    "Consider routing the account to the A-book",
)
_ACCOUNT_LIMIT_ITEMS: Final = ("Review the account's open positions", "Reduce the account's limit")


def build_rules(c: RulesConfig) -> tuple[Rule, ...]:
    """The rules, in the order RuleEngine unpacks them. Titles and items may use {subject}."""
    exp, lp, routing = "exposure", "lp", "routing"
    symbol_items = ("Review open positions in {subject}", "Hedge or reduce {subject} exposure")
    ccy_items = ("Review positions with a {subject} leg", "Hedge or reduce {subject} exposure")
    band_title = "A-Book Share Out of Band"
    return (
        Rule("exposure.utilization", exp, SOURCE_EXPOSURE, c.exposure_margin_pct, (
            Level("warning", c.exposure_warning_pct, "warning", "Exposure Warning",
                   _EXPOSURE_WARNING_ITEMS),
            Level("critical", c.exposure_critical_pct, "critical", "Exposure Limit Approaching",
                   GUIDE_ACTION_ITEMS),
            Level("exceeded", c.exposure_exceeded_pct, "critical", "Exposure Limit Exceeded",
                   GUIDE_ACTION_ITEMS),
        )),
        Rule("exposure.symbol_limit", exp, SOURCE_EXPOSURE, c.symbol_margin_pct, (
            Level("exceeded", c.symbol_limit_pct, "critical",
                   "Symbol Exposure Limit Exceeded: {subject}", symbol_items),
        )),
        Rule("exposure.currency_limit", exp, SOURCE_EXPOSURE, c.currency_margin_pct, (
            Level("exceeded", c.currency_limit_pct, "critical",
                   "Currency Exposure Limit Exceeded: {subject}", ccy_items),
        )),
        Rule("lp.connection", lp, SOURCE_LP, 0.0, (
            Level("lost", math.nan, "warning", "LP Connection Lost", _LP_ITEMS),
        )),
        Rule("lp.status", lp, SOURCE_LP, 0.0, (
            Level("silent", c.lp_silent_after_s, "warning", "LP Silent",
                   ("Check the LP manager is running and publishing", _LP_ITEMS[0])),
        )),
        Rule("lp.reject_rate", lp, SOURCE_LP, c.lp_reject_rate_margin, (
            Level("high", c.lp_reject_rate, "warning", "LP Reject Rate High", _LP_FLOW_ITEMS),
        )),
        Rule("lp.latency", lp, SOURCE_LP, c.lp_latency_margin_ms, (
            Level("high", c.lp_latency_ms, "warning", "LP Latency High", _LP_FLOW_ITEMS),
        )),
        Rule("routing.abook_share", routing, SOURCE_ROUTING, c.abook_share_margin_pct, (
            Level("low", c.abook_share_min_pct, "warning", band_title, _BAND_ITEMS),
            Level("high", c.abook_share_max_pct, "warning", band_title, _BAND_ITEMS),
        )),
        # The value is the B-book's loss today (USD, -P&L): levels are entered as it grows.
        Rule("pnl.daily_loss", exp, SOURCE_PNL, c.daily_loss_margin_usd, (
            Level("warning", c.daily_loss_warning_usd, "warning", "B-Book Daily Loss",
                   _LOSS_ITEMS),
            Level("critical", c.daily_loss_critical_usd, "critical", "B-Book Daily Loss Critical",
                   _LOSS_ITEMS),
        )),
        Rule("account.winning", exp, SOURCE_ACCOUNTS, c.account_winning_margin_usd, (
            Level("high", c.account_winning_usd, "warning", "Winning Account: {subject}",
                   _WINNING_ITEMS),
        )),
        Rule("account.exposure_limit", exp, SOURCE_ACCOUNTS, c.account_limit_margin_pct, (
            Level("exceeded", c.account_limit_pct, "warning",
                   "Account Exposure Limit Exceeded: {subject}", _ACCOUNT_LIMIT_ITEMS),
        )),
    )  # fmt: skip


def positive_limits(name: str, limits: Mapping[str, float]) -> dict[str, float]:
    """The limits as floats; ConfigError unless each is a finite number > 0 (USD)."""
    out: dict[str, float] = {}
    for key, value in limits.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not 0 < value < math.inf
        ):
            raise ConfigError(f"{name}[{key!r}]={value!r}: a limit must be a positive number (USD)")
        out[str(key)] = float(value)
    return out
