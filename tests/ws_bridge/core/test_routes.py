"""The access policy of every HTTP route (ws_bridge/core/routes.py), without a socket: every route
x (no token, bad token, expired token, viewer, admin) x (allowed and refused address) x (no,
allowed and refused Origin), then the slow-down of failed authentications, the metrics token,
the metrics listener and what a refusal may carry."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from tests.helpers.bridge import T0, settings
from tests.helpers.bridge_routes import (
    ALLOWED,
    BAD_ORIGIN,
    CALLERS,
    FULL,
    GOOD_ORIGIN,
    PATHS,
    expected,
    jwt_for,
)
from ws_bridge.core.access import AuthFailures
from ws_bridge.core.auth import TokenVerifier
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.routes import (
    PUBLIC_STATUS_KEYS,
    REASONS,
    Allowed,
    Listener,
    Refused,
    Route,
    RoutePolicy,
    public_status,
    route_of,
)

ALLOWED_IP, REFUSED_IP = "10.1.2.3", "192.0.2.7"
METRICS_TOKEN = "scrape-token-0123456789abcdef"  # noqa: S105 - test token


def policy(**overrides: Any) -> RoutePolicy:
    s: BridgeSettings = settings(
        allowed_ips=("10.0.0.0/8",), allowed_origins=(GOOD_ORIGIN,), **overrides
    )
    return RoutePolicy(s, TokenVerifier(s))


def ask(
    p: RoutePolicy,
    route: Route,
    caller: str = "none",
    *,
    peer: str = ALLOWED_IP,
    origin: str | None = None,
    where: str = "header",
    now: float = T0,
    listener: Listener = Listener.MAIN,
) -> Allowed | Refused:
    token = jwt_for(caller, T0)
    target = PATHS[route]
    headers: list[tuple[str, str]] = [("Host", "bridge:7999")]
    if token is not None and where == "header":
        headers.append(("Authorization", f"Bearer {token}"))
    elif token is not None:
        target += f"?token={token}"
    if origin is not None:
        headers.append(("Origin", origin))
    return p.decide(target, iter(headers), peer, now, listener)


def outcome(decision: Allowed | Refused) -> Any:
    if isinstance(decision, Refused):
        return (decision.status, decision.reason)
    return FULL if decision.full_status and decision.route is Route.STATUS else ALLOWED


MATRIX = list(
    itertools.product(Route, CALLERS, (ALLOWED_IP, REFUSED_IP), (None, GOOD_ORIGIN, BAD_ORIGIN))
)


@pytest.mark.parametrize(("route", "caller", "peer", "origin"), MATRIX)
def test_every_route_for_every_caller_address_and_origin(
    route: Route, caller: str, peer: str, origin: str | None
) -> None:
    """The IP allow-list first (health open), then the Origin on the data routes, then tokens."""
    decision = ask(policy(), route, caller, peer=peer, origin=origin)
    assert decision.route is route
    assert outcome(decision) == expected(route, caller, peer == ALLOWED_IP, origin)


@pytest.mark.parametrize("route", list(Route))
def test_with_health_not_public_health_checks_follow_the_allow_list(route: Route) -> None:
    p = policy(health_public=False)
    assert outcome(ask(p, route, "admin", peer=REFUSED_IP)) == (403, "ip-not-allowed")
    assert outcome(ask(p, route, "admin")) in (ALLOWED, FULL)


@pytest.mark.parametrize("where", ["header", "query"])
def test_status_takes_the_token_from_the_header_or_the_query(where: str) -> None:
    p = policy()
    assert outcome(ask(p, Route.STATUS, "admin", where=where)) == FULL
    assert outcome(ask(p, Route.STATUS, "expired", where=where)) == (401, "expired")


def test_the_status_role_is_configurable() -> None:
    p = policy(status_role="viewer")
    assert outcome(ask(p, Route.STATUS, "viewer")) == FULL
    assert outcome(ask(p, Route.STATUS, "admin")) == ALLOWED


def test_the_public_status_is_the_contracts_two_fields() -> None:
    full = {"running": True, "clients": 2, "clientList": [{"user": "alice"}], "consumer": {}}
    assert PUBLIC_STATUS_KEYS == ("running", "clients")
    assert public_status(full) == {"running": True, "clients": 2}


@pytest.mark.parametrize("caller", CALLERS)
def test_a_metrics_token_refuses_every_other_credential(caller: str) -> None:
    p = policy(metrics_token=METRICS_TOKEN.encode())
    expected = (401, "missing-token") if caller == "none" else (401, "bad-token")
    assert outcome(ask(p, Route.METRICS, caller)) == expected
    headers = [("Authorization", f"Bearer {METRICS_TOKEN}")]
    assert outcome(p.decide("/metrics", headers, ALLOWED_IP, T0)) == ALLOWED
    query = f"/metrics?token={METRICS_TOKEN}"  # not in a query: it would land in scrape configs
    assert outcome(p.decide(query, [], ALLOWED_IP, T0)) == (401, "missing-token")


def test_a_metrics_token_does_not_open_a_refused_address_or_origin() -> None:
    p = policy(metrics_token=METRICS_TOKEN.encode())
    headers = [("Authorization", f"Bearer {METRICS_TOKEN}")]
    assert outcome(p.decide("/metrics", headers, REFUSED_IP, T0)) == (403, "ip-not-allowed")
    with_origin = [*headers, ("Origin", BAD_ORIGIN)]
    assert outcome(p.decide("/metrics", with_origin, ALLOWED_IP, T0)) == (403, "origin-not-allowed")


def test_with_a_metrics_address_metrics_move_to_their_own_listener() -> None:
    p = policy(metrics_addr=("127.0.0.1", 0))
    assert p.route_of("/metrics") is Route.OTHER
    assert p.route_of("/metrics", Listener.METRICS) is Route.METRICS
    for path in ("/ws/analytics", "/api/analytics/status", "/healthz", "/dashboard/"):
        assert p.route_of(path, Listener.METRICS) is Route.OTHER
    refused = ask(p, Route.METRICS, peer=REFUSED_IP, listener=Listener.METRICS)
    assert outcome(refused) == (403, "ip-not-allowed")


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/ws/analytics", Route.WS),
        ("/ws/analytics/", Route.OTHER),
        ("/api/analytics/status", Route.STATUS),
        ("/metrics", Route.METRICS),
        ("/healthz", Route.HEALTH),
        ("/readyz", Route.READY),
        ("/dashboard", Route.DASHBOARD),
        ("/dashboard/", Route.DASHBOARD),
        ("/dashboard/client/index.js", Route.DASHBOARD),
        ("/dashboards", Route.OTHER),
        ("/", Route.OTHER),
        ("", Route.OTHER),
    ],
)
def test_routes_by_path(path: str, route: Route) -> None:
    assert route_of(path) is route


def test_the_query_never_changes_the_route_and_a_bad_target_is_no_route() -> None:
    p = policy()
    assert p.decide("/healthz?x=/metrics", [], REFUSED_IP, T0).route is Route.HEALTH
    assert outcome(p.decide("http://[::1", [], ALLOWED_IP, T0)) == ALLOWED  # -> 404
    assert p.decide("http://[::1", [], ALLOWED_IP, T0).route is Route.OTHER


def test_two_origin_headers_are_refused() -> None:
    headers = [("Origin", GOOD_ORIGIN), ("Origin", GOOD_ORIGIN)]
    decision = policy().decide("/api/analytics/status", headers, ALLOWED_IP, T0)
    assert outcome(decision) == (403, "origin-not-allowed")


@pytest.mark.parametrize(("route", "caller"), list(itertools.product(Route, CALLERS)))
def test_a_refusal_carries_a_known_reason_and_never_the_token(route: Route, caller: str) -> None:
    for p in (policy(), policy(metrics_token=METRICS_TOKEN.encode())):
        for where in ("header", "query"):
            decision = ask(p, route, caller, where=where)
            if isinstance(decision, Refused):
                assert decision.reason in REASONS
                token = jwt_for(caller, T0)
                assert token is None or token.split(".")[2] not in repr(decision)


def test_an_unknown_reason_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="unknown refusal reason"):
        Refused(Route.OTHER, 403, "because")


# -- the slow-down of failed authentications --------------------------------------------------


@pytest.mark.parametrize("route", [Route.WS, Route.STATUS])
def test_failed_tokens_past_the_burst_get_429_with_retry_after(route: Route) -> None:
    """Burst 3, 6 a minute: three failures pass through to 401, the fourth try (even with a valid
    token) is 429 before the token is looked at, until one try refilled (10 s at 6 a minute)."""
    p = policy(auth_failures_burst=3, auth_failures_per_min=6)
    for _ in range(3):
        assert outcome(ask(p, route, "bad")) == (401, "bad-signature")
    slowed = ask(p, route, "admin", now=T0 + 1)
    assert isinstance(slowed, Refused)
    assert (slowed.status, slowed.reason) == (429, "too-many-auth-failures")
    assert slowed.retry_after_s == 9  # whole seconds, rounded up
    assert outcome(ask(p, route, "admin", now=T0 + 9.5))[0] == 429
    assert outcome(ask(p, route, "admin", peer="10.9.9.9", now=T0 + 1)) in (ALLOWED, FULL)
    assert outcome(ask(p, route, "admin", now=T0 + 10)) in (ALLOWED, FULL)
    assert outcome(ask(p, route, "bad", now=T0 + 10)) == (401, "bad-signature")
    assert outcome(ask(p, route, "bad", now=T0 + 10))[0] == 429


def test_the_slow_down_is_shared_by_every_route_and_counts_metrics_tokens() -> None:
    p = policy(auth_failures_burst=2, metrics_token=METRICS_TOKEN.encode())
    assert outcome(ask(p, Route.METRICS, "bad")) == (401, "bad-token")
    assert outcome(ask(p, Route.STATUS, "expired")) == (401, "expired")
    assert outcome(ask(p, Route.WS, "admin"))[0] == 429
    assert outcome(ask(p, Route.METRICS, "admin"))[0] == 429


def test_requests_without_a_token_are_not_counted_and_stay_answered() -> None:
    """Missing tokens guess nothing; a slowed-down address still gets the public status."""
    p = policy(auth_failures_burst=1, metrics_token=METRICS_TOKEN.encode())
    for _ in range(20):
        assert outcome(ask(p, Route.WS, "none")) == (401, "missing-token")
        assert outcome(ask(p, Route.METRICS, "none")) == (401, "missing-token")
    assert outcome(ask(p, Route.WS, "admin")) == ALLOWED
    assert outcome(ask(p, Route.WS, "bad")) == (401, "bad-signature")
    assert outcome(ask(p, Route.STATUS, "none")) == ALLOWED
    assert outcome(ask(p, Route.DASHBOARD, "none")) == ALLOWED
    assert outcome(ask(p, Route.STATUS, "admin"))[0] == 429


def test_the_policy_can_share_one_failure_count() -> None:
    failures = AuthFailures(per_min=1, burst=1)
    s = dataclasses.replace(settings(), allowed_ips=())
    one, two = (
        RoutePolicy(s, TokenVerifier(s), failures),
        RoutePolicy(s, TokenVerifier(s), failures),
    )
    assert outcome(ask(one, Route.WS, "bad")) == (401, "bad-signature")
    assert outcome(ask(two, Route.WS, "admin"))[0] == 429
