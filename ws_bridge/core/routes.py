"""The one access policy for every HTTP route of the bridge, decided before any route runs. No I/O.

The shell hands :meth:`RoutePolicy.decide` each request (listener, request target, headers, peer
address, time) and gets :class:`Allowed` (which route, who, how much it may see) or
:class:`Refused` (HTTP status, a reason from :data:`REASONS`, ``Retry-After``). docs/bridge.md
section 9 has the table; in order:

1. ``/healthz`` and ``/readyz`` are open to every address (orchestrators probe them from
   anywhere) unless ``RTX_BRIDGE_HEALTH_PUBLIC=0``; then they follow the rules below.
2. The IP allow-list guards every other route, unknown paths included (403 before a 404 tells
   a refused address which paths exist).
3. An ``Origin`` header must be allowed on the routes that carry data or credentials
   (``/ws/analytics``, ``/api/analytics/status``, ``/metrics``); a request without one is not
   from a browser page (section 6). The dashboard's files are the same for everyone: no check.
4. Tokens. ``/ws/analytics`` needs a valid JWT (401). ``/api/analytics/status`` answers the
   contract's ``{"running", "clients"}`` without a token or to a token without
   ``RTX_BRIDGE_STATUS_ROLE``; everything (the client list too) to a token with it; a token that
   does not verify is refused (401), so the route is no oracle for guessing tokens.
   ``/metrics`` needs ``Authorization: Bearer`` with the token of
   ``RTX_BRIDGE_METRICS_TOKEN_FILE`` when that is set (compared in constant time); a query
   parameter is not accepted there (it would end up in scrape configs and proxy logs).
5. Before any token is checked, an address that failed too often gets 429 with
   ``Retry-After`` (:class:`ws_bridge.core.access.AuthFailures`). A failure is a token that does
   not verify; a request without any token is not a guess and is not counted.

With ``RTX_BRIDGE_METRICS_ADDR`` set, ``/metrics`` is served only by the metrics listener, and
that listener serves nothing else (404, after the IP check).
"""

from __future__ import annotations

import enum
import hmac
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from ws_bridge.core.access import SERVER_FULL, USER_LIMIT, AuthFailures, IpPolicy, OriginPolicy
from ws_bridge.core.auth import REASONS as AUTH_REASONS
from ws_bridge.core.auth import Identity, TokenVerifier, extract_token
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.errors import AuthError
from ws_bridge.core.protocol import STATUS_PATH, WS_PATH

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


class Route(enum.Enum):
    """Every route, by its template: the value is the metric label (never the raw path)."""

    WS = WS_PATH
    STATUS = STATUS_PATH
    METRICS = "/metrics"
    HEALTH = "/healthz"
    READY = "/readyz"
    DASHBOARD = "/dashboard/*"
    OTHER = "other"  # any other path: 404 once the checks passed


class Listener(enum.Enum):
    MAIN = "main"  # RTX_BRIDGE_HOST:RTX_BRIDGE_PORT
    METRICS = "metrics"  # RTX_BRIDGE_METRICS_ADDR, when set


IP_NOT_ALLOWED = "ip-not-allowed"
ORIGIN_NOT_ALLOWED = "origin-not-allowed"
TOO_MANY_FAILURES = "too-many-auth-failures"
BAD_TOKEN = "bad-token"  # the metrics token does not match  # noqa: S105 - a reason, not a secret
MISSING_TOKEN = "missing-token"  # noqa: S105 - a reason, not a secret
# Every reason a refusal may carry: a bounded set, so a metric label never grows.
REASONS = frozenset(
    {IP_NOT_ALLOWED, ORIGIN_NOT_ALLOWED, TOO_MANY_FAILURES, BAD_TOKEN, SERVER_FULL, USER_LIMIT}
    | AUTH_REASONS
)
PUBLIC_STATUS_KEYS = ("running", "clients")  # the contract's status: names no client
_ORIGIN_CHECKED = frozenset({Route.WS, Route.STATUS, Route.METRICS})


@dataclass(frozen=True, slots=True)
class Allowed:
    """Go ahead with ``route``. ``identity``: the token's, when one verified (always for
    ``/ws/analytics``); ``full_status``: the caller may see the whole status, client list too."""

    route: Route
    identity: Identity | None = None
    full_status: bool = False


@dataclass(frozen=True, slots=True)
class Refused:
    """Answer ``status`` with ``reason`` (one of :data:`REASONS`; names no secret). ``detail``
    is for the log line only (an :class:`AuthError`'s detail, never the token);
    ``retry_after_s`` goes into ``Retry-After`` (429); ``auth_failure``: a token was refused."""

    route: Route
    status: int
    reason: str
    detail: str = ""
    retry_after_s: int | None = None
    auth_failure: bool = False

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"unknown refusal reason {self.reason!r}")


Decision = Allowed | Refused


def route_of(path: str, listener: Listener = Listener.MAIN, metrics_here: bool = True) -> Route:
    """The route of a request path (without its query). ``metrics_here``: whether ``/metrics``
    is served on the main listener (``RTX_BRIDGE_METRICS_ADDR`` unset)."""
    if listener is Listener.METRICS:
        return Route.METRICS if path == Route.METRICS.value else Route.OTHER
    if path == "/dashboard" or path.startswith("/dashboard/"):
        return Route.DASHBOARD
    if path == Route.METRICS.value:
        return Route.METRICS if metrics_here else Route.OTHER
    for route in (Route.WS, Route.STATUS, Route.HEALTH, Route.READY):
        if path == route.value:
            return route
    return Route.OTHER


def _header_values(headers: Headers, name: str) -> list[str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [value for key, value in pairs if key.lower() == name]


def bearer_token(headers: Headers) -> str | None:
    """The credentials of ``Authorization: Bearer`` (RFC 6750 section 2.1), or None."""
    for value in _header_values(headers, "authorization"):
        scheme, _, credentials = value.strip().partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


def public_status(status: Mapping[str, Any]) -> dict[str, Any]:
    """The status a caller without the status role sees: the contract's two fields."""
    return {key: status[key] for key in PUBLIC_STATUS_KEYS}


class RoutePolicy:
    """The access policy of one bridge (its settings and token verifier); holds the per-address
    count of failed authentications, so one instance serves every listener of the bridge."""

    def __init__(
        self,
        settings: BridgeSettings,
        verifier: TokenVerifier,
        failures: AuthFailures | None = None,
    ) -> None:
        self.settings = settings
        self.verifier = verifier
        self.ips = IpPolicy(settings.allowed_ips)
        self.origins = OriginPolicy(settings.allowed_origins)
        if failures is None:  # (not `failures or ...`: an empty AuthFailures is falsy)
            failures = AuthFailures(settings.auth_failures_per_min, settings.auth_failures_burst)
        self.failures = failures

    def route_of(self, path: str, listener: Listener = Listener.MAIN) -> Route:
        return route_of(path, listener, self.settings.metrics_addr is None)

    def decide(
        self,
        target: str,
        headers: Headers,
        peer: str | None,
        now: float,
        listener: Listener = Listener.MAIN,
    ) -> Decision:
        """Whether the request for ``target`` (path and query) may go to its route."""
        # Read more than once below: an iterator (websockets' raw_items) would be used up.
        headers = list(headers.items() if isinstance(headers, Mapping) else headers)
        try:
            path = urlsplit(target).path
        except ValueError:
            path = ""
        route = self.route_of(path, listener)
        if route in (Route.HEALTH, Route.READY) and self.settings.health_public:
            return Allowed(route)
        if not self.ips.allows(peer):
            return Refused(route, HTTPStatus.FORBIDDEN, IP_NOT_ALLOWED)
        if route in _ORIGIN_CHECKED:
            origins = _header_values(headers, "origin")
            if len(origins) > 1 or not self.origins.allows(origins[0] if origins else None):
                return Refused(route, HTTPStatus.FORBIDDEN, ORIGIN_NOT_ALLOWED)
        if route is Route.WS:
            return self._verify(route, extract_token(target, headers), peer, now)
        if route is Route.STATUS:
            return self._status(target, headers, peer, now)
        if route is Route.METRICS and self.settings.metrics_token is not None:
            return self._metrics(headers, peer, now)
        return Allowed(route)

    def _slowed(self, route: Route, peer: str | None, now: float) -> Refused | None:
        wait_s = self.failures.retry_after(peer, now)
        if wait_s <= 0:
            return None
        # Retry-After is whole seconds (RFC 9110 section 10.2.3): round up, at least 1.
        retry = max(1, math.ceil(wait_s))
        return Refused(route, HTTPStatus.TOO_MANY_REQUESTS, TOO_MANY_FAILURES, retry_after_s=retry)

    def _verify(self, route: Route, token: str | None, peer: str | None, now: float) -> Decision:
        slowed = self._slowed(route, peer, now)
        if slowed is not None:
            return slowed
        try:
            identity = self.verifier.verify(token, now=now)
        except AuthError as exc:
            if token:  # a request without a token guessed nothing
                self.failures.failed(peer, now)
            return Refused(
                route, HTTPStatus.UNAUTHORIZED, exc.reason, exc.detail, auth_failure=True
            )
        return Allowed(route, identity, self.settings.status_role in identity.roles)

    def _status(self, target: str, headers: Headers, peer: str | None, now: float) -> Decision:
        token = extract_token(target, headers)
        if token is None:
            return Allowed(Route.STATUS)
        return self._verify(Route.STATUS, token, peer, now)

    def _metrics(self, headers: Headers, peer: str | None, now: float) -> Decision:
        expected = self.settings.metrics_token
        assert expected is not None  # noqa: S101 - decide() checked
        slowed = self._slowed(Route.METRICS, peer, now)
        if slowed is not None:
            return slowed
        token = bearer_token(headers)
        if token is None:
            return Refused(Route.METRICS, HTTPStatus.UNAUTHORIZED, MISSING_TOKEN, auth_failure=True)
        # Constant time: how long the comparison takes says nothing of how much of it matched.
        if not hmac.compare_digest(token.encode("utf-8", "replace"), expected):
            self.failures.failed(peer, now)
            return Refused(Route.METRICS, HTTPStatus.UNAUTHORIZED, BAD_TOKEN, auth_failure=True)
        return Allowed(Route.METRICS)
