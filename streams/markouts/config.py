"""Settings of the markout stage, its aggregates and the toxic-flow rule, from the ``[markouts]``
table of the worker's TOML file. Every key, its default and why: ``docs/markouts.md``.

Bad values raise :class:`streams.settings.ConfigError` naming the key, e.g.
``markouts.horizons_ms=[5000, 1000]: horizons must increase``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from streams.settings import ConfigError, check_keys, int_setting

MICROS_PER_S: Final = 1_000_000
MICROS_PER_MS: Final = 1_000

_DAY_S: Final = 86_400
_HOUR_MS: Final = 3_600_000
_INT_RANGES: Final[dict[str, tuple[int, int]]] = {
    "max_wait_s": (0, 3_600),
    "allowed_lateness_s": (0, 3_600),
    "account_window_trades": (1, 100_000),
    "account_window_s": (1, 30 * _DAY_S),
    "min_trades": (1, 100_000),
    "score_horizon_ms": (1, _HOUR_MS),
    "lp_window_decisions": (1, 1_000_000),
    "lp_window_s": (1, 30 * _DAY_S),
    "lp_min_decisions": (1, 100_000),
    "curve_window_trades": (1, 1_000_000),
    "curve_window_s": (1, 30 * _DAY_S),
}
_FLOAT_KEYS: Final = ("watch_score", "toxic_score", "score_margin", "last_look_z")


@dataclass(frozen=True, slots=True)
class MarkoutConfig:
    """Horizons and waits of the per-trade stage; windows, score levels and the last-look
    test of the aggregates. Durations carry their unit in the name."""

    # per-trade stage (streams.markouts.stage)
    horizons_ms: tuple[int, ...] = (1_000, 5_000, 30_000, 60_000)
    max_wait_s: int = 30
    allowed_lateness_s: int = 30
    # per account (streams.markouts.accounts, .toxicity)
    account_window_trades: int = 200
    account_window_s: int = _DAY_S
    min_trades: int = 30
    score_horizon_ms: int = 5_000
    watch_score: float = 60.0
    toxic_score: float = 80.0
    score_margin: float = 10.0
    # per LP (streams.markouts.lps)
    lp_window_decisions: int = 1_000
    lp_window_s: int = 3_600
    lp_min_decisions: int = 20
    last_look_z: float = 3.0
    # per symbol and book (streams.markouts.curves)
    curve_window_trades: int = 1_000
    curve_window_s: int = 3_600

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _INT_RANGES:
                low, high = _INT_RANGES[f.name]
                int_setting(f"markouts.{f.name}", value, low, high)
            elif f.name in _FLOAT_KEYS:
                object.__setattr__(self, f.name, _number(f.name, value))
        object.__setattr__(self, "horizons_ms", _horizons(self.horizons_ms))
        if self.score_horizon_ms not in self.horizons_ms:
            raise _bad("score_horizon_ms", self.score_horizon_ms, "must be one of horizons_ms")
        if not 0 < self.watch_score < self.toxic_score <= 100:
            raise _bad("toxic_score", self.toxic_score, "need 0 < watch_score < toxic_score <= 100")
        if not 0 <= self.score_margin < self.watch_score:
            problem = "must be >= 0 and < watch_score, or the alert could never clear"
            raise _bad("score_margin", self.score_margin, problem)
        if self.last_look_z <= 0:
            raise _bad("last_look_z", self.last_look_z, "must be > 0")

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], prefix: str = "markouts") -> MarkoutConfig:
        """From the ``[markouts]`` TOML table: absent keys keep their defaults."""
        names = [f.name for f in fields(cls)]
        check_keys(prefix, m, names)
        values = dict(m)
        if "horizons_ms" in values:
            raw = values["horizons_ms"]
            if not isinstance(raw, list | tuple):
                raise _bad("horizons_ms", raw, "expected a list of whole milliseconds")
            values["horizons_ms"] = tuple(raw)
        return cls(**values)

    @property
    def horizons_us(self) -> tuple[int, ...]:
        return tuple(h * MICROS_PER_MS for h in self.horizons_ms)

    @property
    def score_index(self) -> int:
        """Position of the score horizon in ``horizons_ms``."""
        return self.horizons_ms.index(self.score_horizon_ms)


def _horizons(value: Any) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not 1 <= len(value) <= 16:
        raise _bad("horizons_ms", value, "expected 1 to 16 whole milliseconds")
    out = tuple(int_setting("markouts.horizons_ms", h, 1, _HOUR_MS) for h in value)
    if any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise _bad("horizons_ms", list(out), "horizons must increase")
    return out


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(name, value, "expected a finite number")
    return float(value)


def _bad(name: str, value: Any, problem: str) -> ConfigError:
    return ConfigError(f"markouts.{name}={value!r}: {problem}")
