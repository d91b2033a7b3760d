"""Tests of ``streams.markouts.config``: defaults, the ``[markouts]`` TOML table, and errors
that name the key."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from streams.markouts.config import MarkoutConfig
from streams.settings import ConfigError


def test_defaults() -> None:
    c = MarkoutConfig()
    assert c.horizons_ms == (1_000, 5_000, 30_000, 60_000)
    assert c.horizons_us == (1_000_000, 5_000_000, 30_000_000, 60_000_000)
    assert (c.max_wait_s, c.allowed_lateness_s, c.min_trades) == (30, 30, 30)
    assert (c.account_window_trades, c.account_window_s) == (200, 86_400)
    assert c.score_horizon_ms == 5_000 and c.score_index == 1
    assert (c.watch_score, c.toxic_score, c.score_margin, c.last_look_z) == (60, 80, 10, 3)


def test_from_a_toml_table() -> None:
    doc = tomllib.loads(
        """
        [markouts]
        horizons_ms = [500, 2000, 10000]
        score_horizon_ms = 2000
        max_wait_s = 5
        watch_score = 50
        """
    )
    c = MarkoutConfig.from_mapping(doc["markouts"])
    assert c.horizons_ms == (500, 2_000, 10_000) and c.score_index == 1
    assert c.max_wait_s == 5 and c.watch_score == 50.0 and type(c.watch_score) is float


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"horizon_ms": [1000]}, "markouts.horizon_ms: unknown key"),
        ({"horizons_ms": 1000}, "markouts.horizons_ms=1000: expected a list"),
        ({"horizons_ms": []}, "expected 1 to 16 whole milliseconds"),
        ({"horizons_ms": [5000, 1000]}, "horizons must increase"),
        ({"horizons_ms": [1000, 1.5]}, "markouts.horizons_ms=1.5: expected a whole number"),
        ({"score_horizon_ms": 2000}, "markouts.score_horizon_ms=2000: must be one of horizons_ms"),
        ({"max_wait_s": -1}, "markouts.max_wait_s=-1: must be >= 0"),
        ({"min_trades": 0}, "markouts.min_trades=0: must be >= 1"),
        ({"watch_score": 90}, "need 0 < watch_score < toxic_score <= 100"),
        ({"score_margin": 60}, "or the alert could never clear"),
        ({"last_look_z": "3"}, "markouts.last_look_z='3': expected a finite number"),
        ({"last_look_z": 0}, "markouts.last_look_z=0.0: must be > 0"),
    ],
)
def test_a_bad_value_names_its_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        MarkoutConfig.from_mapping(table)
