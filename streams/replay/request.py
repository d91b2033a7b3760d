"""What a replay asks for: the kind (topic and schema), the time range and the filters.

Pure: the argument checks raise :class:`~streams.replay.errors.BadRequest`; the semantics are
described in :mod:`streams.replay` and docs/replay.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from streams.replay.errors import BadRequest
from streams.replay.formats import Row

KINDS: dict[str, tuple[str, str]] = {  # kind -> (logical topic, schema)
    "alerts": ("alerts", "Alert"),
    "routing": ("routing_decisions", "RoutingDecision"),
    "routing-summaries": ("routing_metrics", "RoutingSummary"),
    "alert-actions": ("alert_actions", "AlertAction"),
    "markouts": ("trade_markouts", "TradeMarkout"),
    "exposure": ("exposure", "ExposureChange"),
    "pnl": ("pnl", "PnlChange"),
    "accounts": ("account_risk", "AccountRisk"),
}
# Kinds read from a compacted topic, where a tombstone (no value) is a subject gone, not damage.
COMPACTED = frozenset({"accounts"})
# Kinds whose records are about the whole book or one account, not a symbol or an LP.
UNFILTERED = {
    "alert-actions": "alert actions name an alert, not a symbol or LP",
    "exposure": "exposure records are the whole book's (bySymbol and byLP are columns)",
    "pnl": "P&L records are the whole B-book's (bySymbol is a column)",
    "accounts": "account records are per account, not per symbol or LP",
}


def parse_time(value: str | datetime, what: str) -> datetime:
    """An aware datetime from an ISO-8601 string or a datetime; no offset means UTC."""
    if isinstance(value, datetime):
        t = value
    elif isinstance(value, str):
        try:
            t = datetime.fromisoformat(value.strip())
        except ValueError:
            raise BadRequest(
                f"{what} {value!r} is not an ISO-8601 time "
                "(e.g. 2026-01-19T10:30:00Z, 2026-01-19T10:30:00+01:00 or 2026-01-19)"
            ) from None
    else:
        raise BadRequest(f"{what}: expected an ISO-8601 string or a datetime, got {value!r}")
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def ceil_ms(t: datetime) -> int:
    """The first whole millisecond at or after ``t`` (Kafka timestamps are milliseconds)."""
    us = (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return -(-us // 1000)


def _word_matcher(values: str, fields: tuple[str, ...]) -> Callable[[Row], bool]:
    words = [re.escape(v.strip()) for v in values.split(",") if v.strip()]
    pattern = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(words) + r")(?![A-Za-z0-9])", re.I)
    search = pattern.search
    return lambda r: any(search(r[f]) for f in fields)


def _field_matcher(values: str, name: str) -> Callable[[Row], bool]:
    wanted = frozenset(v.strip().casefold() for v in values.split(",") if v.strip())
    return lambda r: r[name] is not None and r[name].casefold() in wanted


def build_filter(kind: str, symbol: str | None, lp: str | None) -> Callable[[Row], bool] | None:
    """The row predicate for the filters, or None when there is none."""
    tests: list[Callable[[Row], bool]] = []
    for name, value in (("symbol", symbol), ("lp", lp)):
        if value is None:
            continue
        if not value.strip(" ,"):
            raise BadRequest(f"--{name} is empty")
        if kind == "routing-summaries":
            raise BadRequest(
                f"routing summaries are windows over all symbols and LPs: --{name} does not "
                "apply (replay the routing decisions instead)"
            )
        if kind in UNFILTERED:
            raise BadRequest(f"{UNFILTERED[kind]}: --{name} does not apply")
        if kind == "routing":
            tests.append(_field_matcher(value, "symbol" if name == "symbol" else "lpSelected"))
        elif kind == "markouts":
            tests.append(_field_matcher(value, "symbol" if name == "symbol" else "lpName"))
        else:
            where = ("title", "message") if name == "symbol" else ("title", "message", "source")
            tests.append(_word_matcher(value, where))
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    first, second = tests
    return lambda r: first(r) and second(r)
