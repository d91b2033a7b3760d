"""Risk settings (pure): the exposure basis, the top-N size and the trading-day roll."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.market.basis import DEFAULT_BASIS, Basis, parse_basis
from streams.risk.day import DEFAULT_ROLL, DEFAULT_ZONE, TradingCalendar, parse_roll, parse_zone
from streams.settings import check_keys, int_setting

DEFAULT_TOP_N = 20
MAX_TOP_N = 1_000


@dataclass(frozen=True)
class RiskConfig:
    """``basis``: what per-account exposure is measured on (docs/exposure.md, "Exposure
    basis"); ``top_n``: accounts per top list; ``day_roll`` (HH:MM) and ``day_zone`` (IANA):
    when realised P&L today resets; ``symbol_overrides``: symbol -> (base, quote)."""

    basis: Basis = DEFAULT_BASIS
    top_n: int = DEFAULT_TOP_N
    day_roll: str = DEFAULT_ROLL
    day_zone: str = DEFAULT_ZONE
    symbol_overrides: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parse_basis("risk.basis", self.basis)
        int_setting("risk.top_n", self.top_n, 1, MAX_TOP_N)
        parse_roll("risk.day_roll", self.day_roll)
        parse_zone("risk.day_zone", self.day_zone)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], prefix: str = "risk") -> RiskConfig:
        check_keys(prefix, m, ("basis", "top_n", "day_roll", "day_zone"))
        return cls(
            basis=parse_basis(f"{prefix}.basis", m.get("basis", DEFAULT_BASIS)),
            top_n=int_setting(f"{prefix}.top_n", m.get("top_n", DEFAULT_TOP_N), 1, MAX_TOP_N),
            day_roll=f"{parse_roll(f'{prefix}.day_roll', m.get('day_roll', DEFAULT_ROLL)):%H:%M}",
            day_zone=parse_zone(f"{prefix}.day_zone", m.get("day_zone", DEFAULT_ZONE)).key,
        )

    def calendar(self) -> TradingCalendar:
        return TradingCalendar(self.day_roll, self.day_zone)
