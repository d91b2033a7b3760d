"""The route settings of ``BridgeSettings.from_env`` (status role, open health checks, metrics
token and address, slow-down of failed authentications): defaults, parsed values, the token kept
out of ``repr`` and ``describe``, and a ConfigError naming the variable for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import ConfigError
from tests.helpers.bridge import SECRET
from ws_bridge.core.config import BridgeSettings

ENV = {"RTX_JWT_SECRET": SECRET}
METRICS_TOKEN = "scrape-token-0123456789abcdef"  # noqa: S105 - test token


def test_defaults_keep_health_open_status_for_admin_and_metrics_on_the_bridge_port() -> None:
    s = BridgeSettings.from_env(ENV)
    assert (s.status_role, s.health_public) == ("admin", True)
    assert (s.metrics_token, s.metrics_addr) == (None, None)
    assert (s.auth_failures_per_min, s.auth_failures_burst) == (10, 10)


def test_parsed_route_settings(tmp_path: Path) -> None:
    token_file = tmp_path / "metrics.token"
    token_file.write_text(METRICS_TOKEN + "\n")
    s = BridgeSettings.from_env(
        {
            **ENV,
            "RTX_BRIDGE_STATUS_ROLE": "ops",
            "RTX_BRIDGE_HEALTH_PUBLIC": "0",
            "RTX_BRIDGE_METRICS_TOKEN_FILE": str(token_file),
            "RTX_BRIDGE_METRICS_ADDR": "127.0.0.1:9465",
            "RTX_BRIDGE_AUTH_FAILURES_PER_MIN": "30",
            "RTX_BRIDGE_AUTH_FAILURES_BURST": "5",
        }
    )
    assert (s.status_role, s.health_public) == ("ops", False)
    assert s.metrics_token == METRICS_TOKEN.encode()
    assert s.metrics_addr == ("127.0.0.1", 9465)
    assert (s.auth_failures_per_min, s.auth_failures_burst) == (30, 5)
    assert METRICS_TOKEN not in repr(s) and METRICS_TOKEN not in str(s.describe())
    assert s.describe()["metrics_token"] == "(set)"  # noqa: S105


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(":9465", ("", 9465)), ("[::1]:9465", ("::1", 9465)), ("0.0.0.0:0", ("0.0.0.0", 0))],  # noqa: S104
)
def test_metrics_addr_forms(raw: str, expected: tuple[str, int]) -> None:
    assert BridgeSettings.from_env({**ENV, "RTX_BRIDGE_METRICS_ADDR": raw}).metrics_addr == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RTX_BRIDGE_STATUS_ROLE", "admin risk"),
        ("RTX_BRIDGE_STATUS_ROLE", "admin,risk"),
        ("RTX_BRIDGE_HEALTH_PUBLIC", "maybe"),
        ("RTX_BRIDGE_METRICS_ADDR", "9465"),
        ("RTX_BRIDGE_METRICS_ADDR", "host:http"),
        ("RTX_BRIDGE_METRICS_ADDR", "host:70000"),
        ("RTX_BRIDGE_METRICS_ADDR", "a b:9465"),
        ("RTX_BRIDGE_METRICS_ADDR", ":7999"),  # the bridge's own address and port
        ("RTX_BRIDGE_METRICS_ADDR", "0.0.0.0:7999"),
        ("RTX_BRIDGE_METRICS_TOKEN_FILE", "/nonexistent/metrics.token"),
        ("RTX_BRIDGE_AUTH_FAILURES_PER_MIN", "0"),
        ("RTX_BRIDGE_AUTH_FAILURES_PER_MIN", "ten"),
        ("RTX_BRIDGE_AUTH_FAILURES_BURST", "0"),
        ("RTX_BRIDGE_AUTH_FAILURES_BURST", "100001"),
    ],
)
def test_every_bad_route_setting_stops_start_up_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        BridgeSettings.from_env({**ENV, name: value})


@pytest.mark.parametrize(
    "content", ["short-token\n", "has a space 0123456789\n", "\n", "tökén" * 8]
)
def test_a_weak_or_unusable_metrics_token_is_refused_without_echoing_it(
    tmp_path: Path, content: str
) -> None:
    token_file = tmp_path / "metrics.token"
    token_file.write_text(content)
    with pytest.raises(ConfigError, match="RTX_BRIDGE_METRICS_TOKEN_FILE") as err:
        BridgeSettings.from_env({**ENV, "RTX_BRIDGE_METRICS_TOKEN_FILE": str(token_file)})
    assert content.strip() == "" or content.strip() not in str(err.value)
