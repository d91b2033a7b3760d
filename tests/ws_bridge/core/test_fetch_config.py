"""The Kafka fetch settings of ``BridgeSettings.from_env``: the fetch wait defaults to the batch
interval (the profile's, or ``RTX_BRIDGE_BATCH_INTERVAL_MS``), each variable overrides its
default, and a bad value is a ConfigError naming the variable."""

from __future__ import annotations

import pytest

from streams.settings import ConfigError
from tests.helpers.bridge import SECRET
from ws_bridge.core.config import BridgeSettings

ENV = {"RTX_JWT_SECRET": SECRET}


def test_the_fetch_wait_defaults_to_the_batch_interval() -> None:
    s = BridgeSettings.from_env(ENV)
    assert (s.fetch_max_wait_ms, s.fetch_min_bytes, s.fetch_max_records) == (16, 1 << 20, 5000)
    assert (
        BridgeSettings.from_env({**ENV, "RTX_BRIDGE_PROFILE": "low-latency"}).fetch_max_wait_ms == 5
    )
    assert (
        BridgeSettings.from_env({**ENV, "RTX_BRIDGE_BATCH_INTERVAL_MS": "40"}).fetch_max_wait_ms
        == 40
    )


def test_each_fetch_variable_overrides_its_default() -> None:
    s = BridgeSettings.from_env(
        {
            **ENV,
            "RTX_BRIDGE_FETCH_MAX_WAIT_MS": "0",
            "RTX_BRIDGE_FETCH_MIN_BYTES": "1",
            "RTX_BRIDGE_FETCH_MAX_RECORDS": "200",
        }
    )
    assert (s.fetch_max_wait_ms, s.fetch_min_bytes, s.fetch_max_records) == (0, 1, 200)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RTX_BRIDGE_FETCH_MAX_WAIT_MS", "-1"),
        ("RTX_BRIDGE_FETCH_MAX_WAIT_MS", "soon"),
        ("RTX_BRIDGE_FETCH_MIN_BYTES", "0"),
        ("RTX_BRIDGE_FETCH_MAX_RECORDS", "0"),
    ],
)
def test_a_bad_fetch_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        BridgeSettings.from_env({**ENV, name: value})
