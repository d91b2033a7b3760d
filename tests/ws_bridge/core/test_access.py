"""Origin allow-list, IP allow-list, channel roles, and connection limits."""

from __future__ import annotations

import pytest

from ws_bridge.core.access import (
    DEFAULT_CHANNEL_ROLES,
    SERVER_FULL,
    USER_LIMIT,
    ChannelPolicy,
    ConnectionLimits,
    IpPolicy,
    OriginPolicy,
    parse_origin_pattern,
)
from ws_bridge.core.protocol import CHANNELS

POLICY = OriginPolicy(["https://dash.example.com", "*.example.org", "http://localhost:3000"])


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # no Origin header: not a browser
        ("https://dash.example.com", True),
        ("HTTPS://DASH.EXAMPLE.COM", True),
        ("https://dash.example.com:443", True),
        ("https://dash.example.com:8443", False),
        ("http://dash.example.com", False),  # the pattern pins https
        ("https://evil.dash.example.com", False),
        ("https://dash.example.com.evil.net", False),
        ("https://a.example.org", True),  # scheme-less wildcard: http and https
        ("http://a.example.org", True),
        ("https://a.b.example.org", True),
        ("https://example.org", False),  # the wildcard never covers the apex
        ("https://evilexample.org", False),
        ("https://example.org.evil.net", False),
        ("https://a.example.org:444", False),
        ("http://localhost:3000", True),
        ("http://localhost", False),
        ("null", False),
        ("", False),
        ("https://dash.example.com/path", False),
        ("https://user@dash.example.com", False),
        ("https://dash.example.com:99999", False),
        ("file://", False),
    ],
)
def test_origin_rules(origin: str | None, allowed: bool) -> None:
    assert POLICY.allows(origin) is allowed


def test_an_empty_origin_list_refuses_every_browser_and_star_allows_all() -> None:
    assert OriginPolicy([]).allows("https://dash.example.com") is False
    assert OriginPolicy([]).allows(None) is True
    assert OriginPolicy(["*"]).allows("https://anything.test") is True


@pytest.mark.parametrize(
    "pattern",
    ["*.com", "https://a.*.example.com", "https://*", "example.com/", "ws://example.com", "a b"],
)
def test_bad_origin_patterns(pattern: str) -> None:
    with pytest.raises(ValueError):
        parse_origin_pattern(pattern)


IPS = IpPolicy(["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "fe80::/10"])


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.1.2.3", True),
        ("11.0.0.1", False),
        ("192.168.1.7", True),
        ("192.168.1.8", False),
        ("2001:db8::1", True),
        ("[2001:db8::1]", True),
        ("2001:db9::1", False),
        ("::ffff:10.0.0.1", True),  # IPv4-mapped, from a dual-stack socket
        ("::ffff:11.0.0.1", False),
        ("fe80::1%eth0", True),
        ("not-an-ip", False),
        (None, False),
    ],
)
def test_cidr_rules(address: str | None, allowed: bool) -> None:
    assert IPS.allows(address) is allowed


def test_an_empty_ip_list_allows_everyone() -> None:
    assert IpPolicy([]).allows("203.0.113.9") and IpPolicy([]).allows(None)


@pytest.mark.parametrize("cidr", ["10.0.0.1/8", "300.0.0.0/8", "2001:db8::/129", "x"])
def test_bad_cidrs(cidr: str) -> None:
    with pytest.raises(ValueError):
        IpPolicy([cidr])


def test_channel_roles() -> None:
    policy = ChannelPolicy({"alerts": ["admin", "risk"], "exposure-updates": ["*"]})
    assert policy.allows({"risk"}, "alerts") and policy.allows({"admin", "x"}, "alerts")
    assert not policy.allows({"dealer"}, "alerts") and not policy.allows(set(), "alerts")
    assert policy.allows(set(), "exposure-updates")  # '*': any authenticated user
    assert policy.allows(set(), "routing-metrics")  # no rule: any authenticated user
    assert not policy.allows({"admin"}, "news")
    assert policy.allowed_channels({"dealer"}) == (
        "routing-metrics",
        "lp-performance",
        "exposure-updates",
        "pnl-updates",
        "markouts",
    )


def test_no_rules_means_every_channel_for_every_user_but_account_data() -> None:
    """The old hub's channels (and P&L) are open to any authenticated user; account-level
    data (account-risk, flow-toxicity) only to the roles risk and admin, until a rule says
    otherwise."""
    restricted = set(DEFAULT_CHANNEL_ROLES)
    assert restricted == {"account-risk", "flow-toxicity"}
    assert ChannelPolicy().allowed_channels(set()) == tuple(
        c for c in CHANNELS if c not in restricted
    )
    assert ChannelPolicy().allowed_channels({"risk"}) == CHANNELS
    assert ChannelPolicy().allowed_channels({"admin"}) == CHANNELS
    assert not ChannelPolicy().allows({"dealer", "viewer"}, "account-risk")
    assert not ChannelPolicy().allows({"dealer", "viewer"}, "flow-toxicity")
    opened = ChannelPolicy({"account-risk": ["*"], "flow-toxicity": ["*"]})
    assert opened.allowed_channels(set()) == CHANNELS
    assert ChannelPolicy({"account-risk": ["dealer"]}).allows({"dealer"}, "account-risk")
    assert not ChannelPolicy({"account-risk": ["dealer"]}).allows({"risk"}, "account-risk")


@pytest.mark.parametrize("rules", [{"news": ["admin"]}, {"alerts": []}])
def test_bad_channel_rules(rules: dict[str, list[str]]) -> None:
    with pytest.raises(ValueError):
        ChannelPolicy(rules)


def test_connection_limits_per_user_and_in_total() -> None:
    limits = ConnectionLimits(max_total=3, max_per_user=2)
    assert limits.try_acquire("a") is None and limits.try_acquire("a") is None
    assert limits.try_acquire("a") == USER_LIMIT
    assert limits.try_acquire("b") is None
    assert limits.try_acquire("c") == SERVER_FULL
    assert (limits.total, limits.per_user("a"), limits.per_user("c")) == (3, 2, 0)
    limits.release("a")
    assert limits.try_acquire("c") is None and limits.total == 3
    for user in ("a", "b", "c"):
        limits.release(user)
    assert limits.total == 0 and limits.per_user("a") == 0
    with pytest.raises(ValueError, match="release without acquire"):
        limits.release("a")
