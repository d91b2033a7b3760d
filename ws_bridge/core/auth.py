"""JWT authentication: verify a token into an :class:`Identity`, find it in a handshake, keep it
out of logs, and mint dev tokens. No I/O; time comes from an injected clock.

Verification (RFC 7519, RFC 8725 "JWT Best Current Practices"):

1. size (at most :data:`MAX_TOKEN_BYTES`), then the header must decode (``malformed``);
2. the header's ``alg`` must be in ``RTX_JWT_ALGORITHMS`` (``none`` never is);
3. the key comes from configuration only: HS* -> the secret; RS*/PS*/ES* -> the JWKS entry named
   by ``kid`` (unknown kid refused; kid is a dictionary key, never a path) or the PEM keys of the
   matching type and curve. An HMAC check therefore never sees a public key (no key confusion);
4. signature, then ``aud``/``iss`` when configured (PyJWT). A token carrying ``aud`` is refused
   when no audience is configured (RFC 7519 section 4.1.3);
5. time claims against the injected clock, with ``RTX_JWT_LEEWAY_S``: ``exp`` required,
   ``nbf`` and ``iat`` checked when present. PyJWT's own clock checks are turned off.

A refusal raises :class:`AuthError` whose ``reason`` is one of :data:`REASONS`.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from jwt.exceptions import InvalidJTIError, InvalidSubjectError

from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.errors import AuthError
from ws_bridge.core.keys import HMAC_ALGORITHMS, PublicKey, key_fits

MAX_TOKEN_BYTES = 8192
REASONS = frozenset(
    {
        "missing-token",
        "too-large",
        "malformed",
        "algorithm-not-allowed",
        "unknown-kid",
        "bad-signature",
        "wrong-audience",
        "wrong-issuer",
        "missing-claim",
        "bad-claim",
        "expired",
        "not-yet-valid",
    }
)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token speaks for. ``expires_at``: the ``exp`` claim, epoch seconds."""

    user: str
    account: str | None
    roles: frozenset[str]
    expires_at: float


class TokenVerifier:
    """Verifies tokens with the keys and rules of one :class:`BridgeSettings`."""

    def __init__(self, settings: BridgeSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._algorithms = frozenset(settings.jwt_algorithms)
        self._leeway = settings.jwt_leeway_s

    @property
    def leeway_s(self) -> float:
        return self._leeway

    def verify(self, token: str | None, *, now: float | None = None) -> Identity:
        """The identity of a valid token; :class:`AuthError` otherwise."""
        now = self._clock() if now is None else now
        if not token:
            raise AuthError("missing-token", "no token in the query or Authorization header")
        if len(token) > MAX_TOKEN_BYTES:
            raise AuthError("too-large", f"token of {len(token)} bytes > {MAX_TOKEN_BYTES}")
        if not token.isascii():  # compact JWS is base64url and dots (RFC 7515 section 7.1);
            # PyJWT would raise UnicodeEncodeError on a lone surrogate ("\ud800" in a refresh)
            raise AuthError("malformed", "token has non-ASCII characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("malformed", f"header: {exc}") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            shown = repr(alg)[:20]
            raise AuthError("algorithm-not-allowed", f"alg {shown} not in RTX_JWT_ALGORITHMS")
        claims = self._decode(token, alg, self._keys_for(alg, header))
        return self._identity(claims, now)

    def _keys_for(self, alg: str, header: Mapping[str, Any]) -> Sequence[bytes | PublicKey]:
        settings = self._settings
        if alg in HMAC_ALGORITHMS:
            assert settings.jwt_secret is not None  # noqa: S101 - BridgeSettings guarantees it
            return [settings.jwt_secret]
        if settings.jwt_jwks:
            kid = header.get("kid")
            if kid is None:
                raise AuthError("unknown-kid", "token has no kid; the JWKS needs one")
            if not isinstance(kid, str):
                raise AuthError("malformed", "kid is not a string")
            entry = settings.jwt_jwks.get(kid)
            if entry is None:
                raise AuthError("unknown-kid", f"kid {kid[:40]!r} is not in the JWKS")
            declared, key = entry
            if (declared is not None and declared != alg) or not key_fits(key, alg):
                raise AuthError("algorithm-not-allowed", f"key {kid[:40]!r} is not for {alg}")
            return [key]
        keys = [k for k in settings.jwt_public_keys if key_fits(k, alg)]
        if not keys:
            raise AuthError("algorithm-not-allowed", f"no configured key verifies {alg}")
        return keys

    def _decode(self, token: str, alg: str, keys: Sequence[bytes | PublicKey]) -> dict[str, Any]:
        settings = self._settings
        options: Any = {
            "verify_exp": False,  # checked below against the injected clock
            "verify_nbf": False,
            "verify_iat": False,
            "enforce_minimum_key_length": True,
        }
        for index, key in enumerate(keys):
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key=key,
                    algorithms=[alg],
                    audience=settings.jwt_audience,
                    issuer=settings.jwt_issuer,
                    options=options,
                )
                return claims
            except jwt.InvalidSignatureError:
                if index == len(keys) - 1:
                    raise AuthError("bad-signature", "signature does not verify") from None
            except jwt.InvalidAudienceError:
                raise AuthError("wrong-audience", "aud does not name this service") from None
            except jwt.InvalidIssuerError:
                raise AuthError("wrong-issuer", "iss is not the configured issuer") from None
            except jwt.MissingRequiredClaimError as exc:
                raise AuthError("missing-claim", f"no {exc.claim!r} claim") from None
            except jwt.InvalidAlgorithmError as exc:
                raise AuthError("algorithm-not-allowed", str(exc)) from None
            except (InvalidSubjectError, InvalidJTIError) as exc:
                raise AuthError("bad-claim", str(exc)) from None
            except jwt.InvalidKeyError as exc:
                raise AuthError("bad-signature", f"key cannot verify: {exc}") from None
            except jwt.PyJWTError as exc:
                raise AuthError("malformed", str(exc)[:120]) from None
        raise AuthError("bad-signature", "no key to verify with")  # pragma: no cover

    def _identity(self, claims: Mapping[str, Any], now: float) -> Identity:
        settings = self._settings
        exp = _number_claim(claims, "exp")
        if exp is None:
            raise AuthError("missing-claim", "no 'exp' claim (required)")
        if now >= exp + self._leeway:
            raise AuthError("expired", f"exp was {now - exp:.0f} s ago")
        nbf = _number_claim(claims, "nbf")
        if nbf is not None and now + self._leeway < nbf:
            raise AuthError("not-yet-valid", f"nbf is {nbf - now:.0f} s ahead")
        iat = _number_claim(claims, "iat")
        if iat is not None and now + self._leeway < iat:
            raise AuthError("not-yet-valid", f"iat is {iat - now:.0f} s ahead")
        user = claims.get("sub")
        if user is None:
            raise AuthError("missing-claim", "no 'sub' claim")
        if not isinstance(user, str) or not user.strip():
            raise AuthError("bad-claim", "'sub' must be a non-empty string")
        return Identity(
            user=user,
            account=_account(claim_at(claims, settings.jwt_account_claim), settings),
            roles=_roles(claim_at(claims, settings.jwt_roles_claim), settings),
            expires_at=exp,
        )


def claim_at(claims: Mapping[str, Any], name: str) -> Any:
    """A claim by name; a dotted name (``realm_access.roles``) walks nested objects when no
    claim has that exact name."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _number_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError("bad-claim", f"'{name}' must be a NumericDate (seconds)")
    return float(value)


def _roles(value: Any, settings: BridgeSettings) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):  # "admin risk" or "admin,risk", as OAuth's scope claim
        return frozenset(r for r in re.split(r"[\s,]+", value) if r)
    if isinstance(value, list) and all(isinstance(r, str) for r in value):
        return frozenset(value)
    raise AuthError("bad-claim", f"'{settings.jwt_roles_claim}' must be a list of strings")


def _account(value: Any, settings: BridgeSettings) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise AuthError("bad-claim", f"'{settings.jwt_account_claim}' must be a string")
    return str(value)


def extract_token(
    path_with_query: str, headers: Mapping[str, str] | Iterable[tuple[str, str]]
) -> str | None:
    """The token of a handshake: ``Authorization: Bearer`` first (RFC 6750 section 2.1; the
    scheme is case-insensitive), else the ``token`` query parameter. None when neither."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        if name.lower() == "authorization":
            scheme, _, credentials = value.strip().partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    try:
        query = urlsplit(path_with_query).query
    except ValueError:
        return None
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "token" and value:
            return value
    return None


def authenticate(
    verifier: TokenVerifier,
    path_with_query: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    *,
    now: float | None = None,
) -> Identity:
    """The handshake's identity (token from :func:`extract_token`); AuthError -> HTTP 401."""
    return verifier.verify(extract_token(path_with_query, headers), now=now)


REDACTED = "[redacted]"
_REDACTIONS = (
    # query parameters: token=, access_token=, id_token=..., also percent-encoded (token%3D)
    re.compile(r"(?i)(token(?:=|%3d))[^&\s#;,\"'<>]*"),
    re.compile(r"(?i)(bearer\s+)[^\s,;\"'<>]+"),
    # JSON and Python reprs: "token": "...", 'token': '...'
    re.compile(r"""(?i)(["']token["']\s*:\s*["'])[^"']*"""),
    # anything shaped like a JWS (base64url JSON header "eyJ...") wherever it appears
    re.compile(r"()eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"),
)


def redact(text: str) -> str:
    """``text`` with every token value replaced by ``[redacted]``, for log lines."""
    for pattern in _REDACTIONS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def mint_token(
    secret: str | bytes,
    sub: str,
    roles: Iterable[str],
    ttl_s: float,
    account: str | None = None,
    now: float | None = None,
    *,
    roles_claim: str = "roles",
    account_claim: str = "account",
    audience: str | None = None,
    issuer: str | None = None,
) -> str:
    """An HS256 token for ``sub`` with ``roles``, valid ``ttl_s`` seconds from ``now``."""
    key = secret.encode() if isinstance(secret, str) else secret
    if len(key) < HMAC_ALGORITHMS["HS256"]:
        raise ValueError("an HS256 secret needs at least 32 bytes (RFC 7518 section 3.2)")
    if ttl_s <= 0:
        raise ValueError("ttl_s must be > 0")
    if not sub:
        raise ValueError("sub must not be empty")
    issued = time.time() if now is None else now
    payload: dict[str, Any] = {
        "sub": sub,
        "iat": int(issued),
        "exp": int(issued + ttl_s),
        "jti": secrets.token_hex(8),
    }
    _set_claim(payload, roles_claim, sorted(set(roles)))
    if account is not None:
        _set_claim(payload, account_claim, account)
    if audience is not None:
        payload["aud"] = audience
    if issuer is not None:
        payload["iss"] = issuer
    return jwt.encode(payload, key, algorithm="HS256")


def _set_claim(payload: dict[str, Any], name: str, value: Any) -> None:
    *parents, last = name.split(".")
    target = payload
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


_TTL_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h``, ``7d`` -> seconds. ValueError otherwise."""
    match = _TTL_RE.match(text.lower())
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 1h or 7d")
    return float(match.group(1)) * _TTL_UNITS[match.group(2)]
