"""Token verification (every refusal reason), keys (HS256, RS256, ES256, JWKS), token
extraction, redaction, and dev token minting."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.helpers.bridge import SECRET, T0, public_pem, settings
from ws_bridge.core.auth import (
    MAX_TOKEN_BYTES,
    REASONS,
    Identity,
    TokenVerifier,
    authenticate,
    extract_token,
    mint_token,
    parse_ttl,
    redact,
)
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.errors import AuthError

NOW = T0


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"sub": "alice", "roles": ["admin"], "account": "A-1"}
    base.update(iat=int(NOW), exp=int(NOW) + 600)
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs(payload: dict[str, Any], key: str | bytes = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, key, algorithm="HS256", headers=headers or None)


def refused(verifier: TokenVerifier, token: str | None) -> str:
    with pytest.raises(AuthError) as err:
        verifier.verify(token, now=NOW)
    assert err.value.reason in REASONS
    if token and len(token) > 20:
        assert token not in str(err.value)
    return err.value.reason


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"
    )


HS = TokenVerifier(settings())


def test_a_valid_token_gives_user_account_roles_and_expiry() -> None:
    identity = HS.verify(hs(claims()), now=NOW)
    assert identity == Identity("alice", "A-1", frozenset({"admin"}), float(int(NOW) + 600))


def test_the_verifier_uses_its_injected_clock() -> None:
    token = hs(claims(exp=int(NOW) + 10))
    assert TokenVerifier(settings(), clock=lambda: NOW).verify(token).user == "alice"
    with pytest.raises(AuthError, match="expired"):
        TokenVerifier(settings(), clock=lambda: NOW + 100).verify(token)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (claims(exp=int(NOW) - 31), "expired"),
        (claims(exp=None), "missing-claim"),
        (claims(exp="soon"), "bad-claim"),
        (claims(nbf=int(NOW) + 31), "not-yet-valid"),
        (claims(iat=int(NOW) + 31), "not-yet-valid"),
        (claims(sub=None), "missing-claim"),
        (claims(sub=""), "bad-claim"),
        (claims(roles=[1, 2]), "bad-claim"),
        (claims(account={"id": 1}), "bad-claim"),
        (claims(aud="someone-else"), "wrong-audience"),  # no audience configured
    ],
)
def test_claim_problems_are_refused_with_their_reason(payload: dict[str, Any], reason: str) -> None:
    assert refused(HS, hs(payload)) == reason


def test_time_claims_allow_the_leeway() -> None:
    for payload in (
        claims(exp=int(NOW) - 29),
        claims(nbf=int(NOW) + 29),
        claims(iat=int(NOW) + 29),
    ):
        assert HS.verify(hs(payload), now=NOW).user == "alice"


def test_signature_and_format_problems() -> None:
    assert (
        refused(HS, hs(claims(), key="another-secret-0123456789abcdef-012345")) == "bad-signature"
    )
    assert refused(HS, None) == "missing-token"
    assert refused(HS, "") == "missing-token"
    assert refused(HS, "a" * (MAX_TOKEN_BYTES + 1)) == "too-large"
    assert refused(HS, "not-a-jwt") == "malformed"
    assert refused(HS, "eyJhbGciOiJIUzI1NiJ9.!!!.sig") in {"malformed", "bad-signature"}


def test_every_truncation_of_a_valid_token_is_refused() -> None:
    token = hs(claims())
    for cut in range(len(token)):
        assert refused(HS, token[:cut]) in {"missing-token", "malformed", "bad-signature"}


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS384", "RS256"])
def test_algorithms_outside_the_pinned_list_are_refused(alg: str) -> None:
    token = unsigned({"alg": alg, "typ": "JWT"}, claims())
    assert refused(HS, token) == "algorithm-not-allowed"


def test_hs256_signed_with_the_rs256_public_key_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    """The key-confusion attack: the attacker HMACs with the public key as the secret."""
    pem = public_pem(rsa_key)
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    signature = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{body}.{b64(signature)}"
    rs_only = TokenVerifier(
        settings(jwt_algorithms=("RS256",), jwt_public_keys=(rsa_key.public_key(),))
    )
    assert refused(rs_only, forged) == "algorithm-not-allowed"
    both = TokenVerifier(
        settings(jwt_algorithms=("HS256", "RS256"), jwt_public_keys=(rsa_key.public_key(),))
    )
    assert refused(both, forged) == "bad-signature"  # HS256 checks only with the secret


def test_rs256_with_a_public_key(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    verifier = TokenVerifier(
        settings(
            jwt_algorithms=("RS256",), jwt_public_keys=(rsa_key.public_key(),), jwt_secret=None
        )
    )
    good = jwt.encode(claims(), rsa_key, algorithm="RS256")
    assert verifier.verify(good, now=NOW).user == "alice"
    assert (
        refused(verifier, jwt.encode(claims(), other_rsa_key, algorithm="RS256")) == "bad-signature"
    )
    assert refused(verifier, hs(claims())) == "algorithm-not-allowed"


def test_several_pem_keys_allow_rotation(
    rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    keys = (other_rsa_key.public_key(), rsa_key.public_key())
    verifier = TokenVerifier(settings(jwt_algorithms=("RS256",), jwt_public_keys=keys))
    for key in (rsa_key, other_rsa_key):
        assert verifier.verify(jwt.encode(claims(), key, algorithm="RS256"), now=NOW)


def test_es256_with_a_public_key(ec_key: ec.EllipticCurvePrivateKey) -> None:
    verifier = TokenVerifier(
        settings(jwt_algorithms=("ES256",), jwt_public_keys=(ec_key.public_key(),))
    )
    assert verifier.verify(jwt.encode(claims(), ec_key, algorithm="ES256"), now=NOW).user == "alice"
    other = ec.generate_private_key(ec.SECP256R1())
    assert refused(verifier, jwt.encode(claims(), other, algorithm="ES256")) == "bad-signature"
    p384 = ec.generate_private_key(ec.SECP384R1())
    both = TokenVerifier(
        settings(jwt_algorithms=("ES256", "ES384"), jwt_public_keys=(ec_key.public_key(),))
    )
    assert refused(both, jwt.encode(claims(), p384, algorithm="ES384")) == "algorithm-not-allowed"


def test_es256_token_is_not_checked_with_an_rsa_key(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    verifier = TokenVerifier(
        settings(jwt_algorithms=("RS256", "ES256"), jwt_public_keys=(rsa_key.public_key(),))
    )
    assert (
        refused(verifier, jwt.encode(claims(), ec_key, algorithm="ES256"))
        == "algorithm-not-allowed"
    )


def jwks_verifier(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> TokenVerifier:
    jwks = {"rsa-1": ("RS256", rsa_key.public_key()), "ec-1": (None, ec_key.public_key())}
    return TokenVerifier(settings(jwt_algorithms=("RS256", "PS256", "ES256"), jwt_jwks=jwks))


def test_jwks_picks_the_key_by_kid(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    verifier = jwks_verifier(rsa_key, ec_key)
    rs = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    es = jwt.encode(claims(), ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    assert verifier.verify(rs, now=NOW).user == verifier.verify(es, now=NOW).user == "alice"


@pytest.mark.parametrize("kid", ["nope", "../../etc/passwd", "/dev/zero", "rsa-1/../ec-1", None])
def test_jwks_refuses_unknown_or_missing_kids(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, kid: str | None
) -> None:
    headers = {} if kid is None else {"kid": kid}
    token = jwt.encode(claims(), rsa_key, algorithm="RS256", headers=headers)
    assert refused(jwks_verifier(rsa_key, ec_key), token) == "unknown-kid"


def test_jwks_key_declared_for_another_algorithm_is_not_used(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    verifier = jwks_verifier(rsa_key, ec_key)
    ps = jwt.encode(claims(), rsa_key, algorithm="PS256", headers={"kid": "rsa-1"})
    assert refused(verifier, ps) == "algorithm-not-allowed"
    wrong_type = jwt.encode(claims(), rsa_key, algorithm="RS256", headers={"kid": "ec-1"})
    assert refused(verifier, wrong_type) == "algorithm-not-allowed"
    bad_kid = unsigned({"alg": "RS256", "kid": {"path": "x"}}, claims(), b"x")
    assert refused(verifier, bad_kid) == "malformed"


def test_audience_and_issuer_when_configured() -> None:
    verifier = TokenVerifier(settings(jwt_audience="rtx-analytics", jwt_issuer="https://idp/"))
    good = claims(aud="rtx-analytics", iss="https://idp/")
    assert verifier.verify(hs(good), now=NOW).user == "alice"
    assert refused(verifier, hs({**good, "aud": "other"})) == "wrong-audience"
    assert refused(verifier, hs({**good, "iss": "https://evil/"})) == "wrong-issuer"
    assert refused(verifier, hs(claims(iss="https://idp/"))) == "missing-claim"
    assert refused(verifier, hs(claims(aud="rtx-analytics"))) == "missing-claim"


def test_roles_and_account_claims_are_configurable() -> None:
    s = settings(jwt_roles_claim="realm_access.roles", jwt_account_claim="acct")
    token = hs(claims(roles=None, account=None, realm_access={"roles": ["risk"]}, acct=42))
    identity = TokenVerifier(s).verify(token, now=NOW)
    assert identity.roles == frozenset({"risk"}) and identity.account == "42"
    scope_style = HS.verify(hs(claims(roles="admin risk,dealer")), now=NOW)
    assert scope_style.roles == frozenset({"admin", "risk", "dealer"})
    bare = HS.verify(hs(claims(roles=None, account=None)), now=NOW)
    assert bare.roles == frozenset() and bare.account is None


def test_mint_token_round_trips_through_the_verifier() -> None:
    token = mint_token(SECRET, "bob", ["risk", "admin"], 3600, account="B-2", now=NOW)
    identity = HS.verify(token, now=NOW + 3599)
    assert identity == Identity("bob", "B-2", frozenset({"risk", "admin"}), float(int(NOW + 3600)))
    with pytest.raises(AuthError, match="expired"):
        HS.verify(token, now=NOW + 3600 + 30)
    nested = settings(jwt_roles_claim="realm_access.roles")
    token = mint_token(SECRET, "bob", ["risk"], 60, now=NOW, roles_claim="realm_access.roles")
    assert TokenVerifier(nested).verify(token, now=NOW).roles == frozenset({"risk"})


def test_mint_token_refuses_weak_input() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        mint_token("short", "bob", [], 60)
    with pytest.raises(ValueError, match="ttl"):
        mint_token(SECRET, "bob", [], 0)


def test_dev_mode_tokens_verify_with_the_dev_secret() -> None:
    dev = BridgeSettings.from_env({"RTX_BRIDGE_DEV_MODE": "1"})
    assert dev.jwt_secret is not None
    token = mint_token(dev.jwt_secret, "dev", ["admin"], 60, now=NOW)
    assert TokenVerifier(dev).verify(token, now=NOW).user == "dev"
    assert refused(TokenVerifier(dataclasses.replace(dev, jwt_secret=SECRET.encode())), token) == (
        "bad-signature"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("7d", 604800), ("1.5h", 5400)],
)
def test_parse_ttl(text: str, seconds: float) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "-1h", "0", "1w", "1 hour"])
def test_parse_ttl_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ttl(text)


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/ws/analytics?token=abc.def.ghi", {}, "abc.def.ghi"),
        ("/ws/analytics?x=1&token=abc&y=2", {}, "abc"),
        ("/ws/analytics", {"Authorization": "Bearer hdr.tok.en"}, "hdr.tok.en"),
        ("/ws/analytics", {"authorization": "bearer  spaced "}, "spaced"),
        ("/ws/analytics?token=q", {"Authorization": "Bearer h"}, "h"),  # header wins
        ("/ws/analytics?token=q", {"Authorization": "Basic dXNlcjpwdw=="}, "q"),
        ("/ws/analytics?token=", {}, None),
        ("/ws/analytics", {"Authorization": "Bearer "}, None),
        ("/ws/analytics", {}, None),
    ],
)
def test_extract_token(path: str, headers: dict[str, str], expected: str | None) -> None:
    assert extract_token(path, headers) == expected
    assert extract_token(path, list(headers.items())) == expected


def test_redact_examples() -> None:
    token = hs(claims())
    lines = {
        f"GET /ws/analytics?token={token} HTTP/1.1": "GET /ws/analytics?token=[redacted] HTTP/1.1",
        f"Authorization: Bearer {token}": "Authorization: Bearer [redacted]",
        f'{{"action":"refresh","token":"{token}"}}': '{"action":"refresh","token":"[redacted]"}',
        "refused: bad-signature (user unknown)": "refused: bad-signature (user unknown)",
    }
    for line, expected in lines.items():
        assert redact(line) == expected
    assert token not in redact(f"error decoding {token}: Signature verification failed")


TOKEN_CHARS = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
TEMPLATES = [
    "/ws/analytics?token={t}",
    "/ws/analytics?channels=alerts&token={t}&x=1",
    "wss://h:7999/ws/analytics?access_token={t}#frag",
    "GET /ws/analytics?token={t} HTTP/1.1",
    "Authorization: Bearer {t}",
    "authorization: BEARER {t}\r\nHost: x",
    "headers={{'Authorization': 'Bearer {t}'}}",
    '{{"action": "refresh", "token": "{t}"}}',
    "{{'token': '{t}'}}",
    "redirect=%2Fws%2Fanalytics%3Ftoken%3D{t}",
]


@given(
    token=st.text(TOKEN_CHARS, min_size=16, max_size=400),
    template=st.sampled_from(TEMPLATES),
    prefix=st.text(max_size=30),
    suffix=st.text(max_size=30),
)
def test_no_token_survives_redaction(token: str, template: str, prefix: str, suffix: str) -> None:
    """Whatever the token and wherever it sits in a URL, query, header or frame."""
    assume(token not in prefix and token not in suffix)
    text = prefix + " " + template.format(t=token) + " " + suffix
    assert token not in redact(text)


def test_redaction_keeps_ordinary_text() -> None:
    text = "Client alice buffer full, dropping oldest messages (queued 256)"
    assert redact(text) == text


def test_authenticate_takes_the_token_from_the_handshake() -> None:
    token = hs(claims())
    assert authenticate(HS, f"/ws/analytics?token={token}", {}, now=NOW).user == "alice"
    with pytest.raises(AuthError) as err:
        authenticate(HS, "/ws/analytics", {"Origin": "https://x"}, now=NOW)
    assert err.value.reason == "missing-token"
