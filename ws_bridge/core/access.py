"""Who may connect and what they may read: origins, client IPs, channels, connection counts,
and the slow-down of repeated failed authentications.

All are pure and decided per request (origins, IPs, failed authentications: every route through
:mod:`ws_bridge.core.routes`), at the handshake (limits) or per subscription (channels). The I/O
shell maps a refusal to an HTTP status: 403 for an origin or IP, 503 when the server is full,
429 when one user holds too many connections or one address failed to authenticate too often.

**Origins** (RFC 6454 serialisation ``scheme://host[:port]``). A pattern is ``*`` (any origin:
an explicit opt-out, reported as a warning at start), or ``[scheme://]host[:port]`` where host is
exact or ``*.domain`` (any subdomain at any depth, never the domain itself). Without a scheme a
pattern matches ``http`` and ``https``; without a port it matches the scheme's default port only.
Matching ignores case. The opaque origin ``null`` (sandboxed frames, ``file:``) never matches.
A handshake **without** an Origin header is allowed: browsers always send one on a WebSocket
handshake (RFC 6455 section 4.1, item 8; section 10.2), so its absence means a non-browser client
(a trading service, a script), which the origin check does not protect against anyway — those are
held off by the token and the IP allow-list.

**IPs**: CIDRs (IPv4 and IPv6; a bare address is a /32 or /128). Empty list: every address.
An IPv4-mapped IPv6 peer (``::ffff:10.0.0.1``, from a dual-stack socket) is checked as IPv4.

**Channels**: channel -> roles; ``*`` means any authenticated user. A channel without a rule is
open to any authenticated user, so a deployment without rules behaves like the old hub for its
channels; channels of client (account-level) data are restricted by default
(:data:`DEFAULT_CHANNEL_ROLES`), until a rule of their own says otherwise.
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ws_bridge.core.protocol import CHANNELS

ANY = "*"
DEFAULT_PORTS = {"http": 80, "https": 443}
# Account-level data is client data: restricted to these roles unless RTX_BRIDGE_CHANNEL_ROLES
# gives the channel a rule of its own (docs/bridge.md section 6).
DEFAULT_CHANNEL_ROLES: dict[str, frozenset[str]] = {
    "account-risk": frozenset({"risk", "admin"}),
    "flow-toxicity": frozenset({"risk", "admin"}),
}

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_PATTERN_RE = re.compile(
    r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<host>[^/:]+)(?::(?P<port>\d{1,5}))?$"
)


@dataclass(frozen=True, slots=True)
class OriginPattern:
    """One allowed origin: ``schemes`` x (``host`` or its subdomains) x ``port``."""

    schemes: frozenset[str]
    host: str  # lowercase; for a wildcard, the domain after "*."
    wildcard: bool
    port: int | None  # None: the default port of the origin's scheme

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if scheme not in self.schemes:
            return False
        wanted_port = DEFAULT_PORTS.get(scheme) if self.port is None else self.port
        if port != wanted_port:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def parse_origin_pattern(text: str) -> OriginPattern | None:
    """Parse one allow-list entry; None for ``*``. ValueError says what is wrong."""
    value = text.strip().lower()
    if value == ANY:
        return None
    match = _PATTERN_RE.match(value)
    if match is None:
        raise ValueError(f"{text!r} is not [scheme://]host[:port] (no path, no trailing /)")
    scheme, host, port_text = match.group("scheme"), match.group("host"), match.group("port")
    if scheme is not None and scheme not in DEFAULT_PORTS:
        raise ValueError(f"{text!r}: scheme must be http or https")
    wildcard = host.startswith("*.")
    domain = host[2:] if wildcard else host
    if "*" in domain:
        raise ValueError(f"{text!r}: '*' is allowed only as the first label ('*.example.com')")
    if not _DOMAIN_RE.match(domain):
        raise ValueError(f"{text!r}: {domain!r} is not a host name")
    if wildcard and "." not in domain:
        raise ValueError(f"{text!r}: a wildcard must cover a domain of two labels or more")
    port = None if port_text is None else int(port_text)
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"{text!r}: port out of range")
    schemes = frozenset({scheme}) if scheme else frozenset(DEFAULT_PORTS)
    return OriginPattern(schemes=schemes, host=domain, wildcard=wildcard, port=port)


class OriginPolicy:
    """The Origin allow-list. An empty list refuses every browser origin."""

    def __init__(self, patterns: Iterable[str]) -> None:
        parsed = [parse_origin_pattern(p) for p in patterns]
        self.allow_any = any(p is None for p in parsed)
        self.patterns = tuple(p for p in parsed if p is not None)

    def allows(self, origin: str | None) -> bool:
        """Whether a handshake with this Origin header value (None: no header) may proceed."""
        if origin is None:
            return True  # not a browser: see the module docstring
        value = origin.strip().lower()
        if self.allow_any:
            return True
        if value == "null" or not value:
            return False
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            return False
        scheme, host = parts.scheme, parts.hostname
        if host is None or parts.path or parts.query or parts.fragment or "@" in parts.netloc:
            return False
        effective_port = port if port is not None else DEFAULT_PORTS.get(scheme, -1)
        return any(p.matches(scheme, host, effective_port) for p in self.patterns)


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_cidr(text: str) -> IpNetwork:
    """A CIDR or bare address. Host bits set (``10.1.2.3/8``) are refused: likely a typo."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise ValueError(f"{text.strip()!r} is not a CIDR: {exc}") from None


class IpPolicy:
    """The client IP allow-list. Empty: every address is allowed."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks = tuple(parse_cidr(c) for c in cidrs)

    def allows(self, address: str | None) -> bool:
        if not self.networks:
            return True
        ip = peer_ip(address)
        if ip is None:
            return False
        return any(ip.version == net.version and ip in net for net in self.networks)


def peer_ip(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A peer's address (``[v6]`` brackets allowed), an IPv4-mapped IPv6 one as IPv4 (from a
    dual-stack socket); None when missing or not an address."""
    if address is None:
        return None
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class ChannelPolicy:
    """Channel -> roles allowed to subscribe; ``*`` (or no rule) = any authenticated user."""

    def __init__(
        self, rules: Mapping[str, Iterable[str]] | Iterable[tuple[str, Iterable[str]]] = ()
    ) -> None:
        items = rules.items() if isinstance(rules, Mapping) else rules
        self.rules: dict[str, frozenset[str]] = {}
        for channel, roles in items:
            if channel not in CHANNELS:
                raise ValueError(f"unknown channel {channel!r}; known: {', '.join(CHANNELS)}")
            role_set = frozenset(roles)
            if not role_set:
                raise ValueError(f"channel {channel!r} has an empty role list")
            self.rules[channel] = role_set
        for channel, defaults in DEFAULT_CHANNEL_ROLES.items():
            self.rules.setdefault(channel, defaults)

    def allows(self, roles: Iterable[str], channel: str) -> bool:
        allowed = self.rules.get(channel)
        if allowed is None or ANY in allowed:
            return channel in CHANNELS
        return not allowed.isdisjoint(roles)

    def allowed_channels(self, roles: Iterable[str]) -> tuple[str, ...]:
        held = frozenset(roles)
        return tuple(c for c in CHANNELS if self.allows(held, c))


SERVER_FULL = "server-full"
USER_LIMIT = "user-limit"


class ConnectionLimits:
    """Counts open connections per user and in total; refuses past either limit."""

    def __init__(self, max_total: int, max_per_user: int) -> None:
        if max_total < 1 or max_per_user < 1:
            raise ValueError("connection limits must be >= 1")
        self.max_total = max_total
        self.max_per_user = max_per_user
        self.total = 0
        self._per_user: dict[str, int] = {}

    def per_user(self, user: str) -> int:
        return self._per_user.get(user, 0)

    def try_acquire(self, user: str) -> str | None:
        """Count one more connection of ``user``; or return why not (``server-full``,
        ``user-limit``) and count nothing."""
        if self.total >= self.max_total:
            return SERVER_FULL
        if self.per_user(user) >= self.max_per_user:
            return USER_LIMIT
        self.total += 1
        self._per_user[user] = self.per_user(user) + 1
        return None

    def release(self, user: str) -> None:
        """Forget one connection of ``user`` (one call per successful ``try_acquire``)."""
        held = self.per_user(user)
        if held <= 0:
            raise ValueError(f"release without acquire for user {user!r}")
        if held == 1:
            del self._per_user[user]
        else:
            self._per_user[user] = held - 1
        self.total -= 1


MAX_TRACKED_ADDRESSES = 10_000  # ~2 MB at most: an entry is a short key and two floats
UNKNOWN_ADDRESS = "?"


def address_key(address: str | None) -> str:
    """Whom failed authentications are counted against: an IPv4 address, or an IPv6 address's
    /64 (one host usually holds a whole /64, so counting single IPv6 addresses would let it try
    from a fresh one each time). An IPv4-mapped IPv6 peer counts as its IPv4 address."""
    ip = peer_ip(address)
    if ip is None:
        return UNKNOWN_ADDRESS
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


class AuthFailures:
    """Failed authentications per address, slowed down past a rate: a token bucket per address
    holding ``burst`` tries and refilled at ``per_min`` a minute; each failure takes one. While an
    address's bucket is empty it may not try at all (:meth:`retry_after` says for how long), so a
    token cannot be guessed faster than ``per_min`` a minute after the first ``burst``.

    Memory is bounded: at most ``max_addresses`` entries, least recently failed evicted first; a
    bucket that refilled completely is forgotten (it says nothing a missing entry would not).
    """

    def __init__(
        self, per_min: float, burst: int, max_addresses: int = MAX_TRACKED_ADDRESSES
    ) -> None:
        if per_min <= 0 or burst < 1 or max_addresses < 1:
            raise ValueError("per_min must be > 0, burst and max_addresses >= 1")
        self.rate_per_s = per_min / 60.0
        self.burst = float(burst)
        self.max_addresses = max_addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, key: str, now: float) -> float | None:
        entry = self._buckets.get(key)
        if entry is None:
            return None
        tokens, at = entry
        return min(self.burst, tokens + max(0.0, now - at) * self.rate_per_s)

    def retry_after(self, address: str | None, now: float) -> float:
        """0 when ``address`` may try to authenticate now; else the seconds until it may."""
        key = address_key(address)
        tokens = self._tokens(key, now)
        if tokens is None:
            return 0.0
        if tokens >= self.burst:
            del self._buckets[key]
            return 0.0
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate_per_s

    def failed(self, address: str | None, now: float) -> None:
        """Count one failed authentication of ``address``."""
        key = address_key(address)
        tokens = self._tokens(key, now)
        at = now if key not in self._buckets else max(now, self._buckets[key][1])
        self._buckets[key] = (max(0.0, (self.burst if tokens is None else tokens) - 1.0), at)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_addresses:
            self._buckets.popitem(last=False)
