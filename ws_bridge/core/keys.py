"""JWT verification keys, loaded once at start-up: HMAC secrets, PEM public keys, JWK Sets.

Which key verifies a token depends only on configuration and the token's (allow-listed)
algorithm, never on anything else the token says: HS* verify only with the configured secret,
RS*/PS*/ES* only with configured public keys of the matching type and curve (RFC 8725 sections
2.1 and 3.1: no algorithm substitution, no key confusion). A ``kid`` is only ever a dictionary
key into the configured JWK Set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from streams.settings import ConfigError

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
JwksKey = tuple[str | None, PublicKey]  # (alg the key is declared for, key)

HMAC_ALGORITHMS = {"HS256": 32, "HS384": 48, "HS512": 64}  # minimum key bytes, RFC 7518 3.2
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
ASYMMETRIC_ALGORITHMS = (*RSA_ALGORITHMS, *EC_ALGORITHMS)
SUPPORTED_ALGORITHMS = (*HMAC_ALGORITHMS, *ASYMMETRIC_ALGORITHMS)


def key_fits(key: PublicKey, alg: str) -> bool:
    """Whether a public key can verify ``alg`` (type, and curve for ECDSA: RFC 7518 3.4)."""
    if alg in RSA_ALGORITHMS:
        return isinstance(key, rsa.RSAPublicKey)
    curve = EC_ALGORITHMS.get(alg)
    return (
        curve is not None
        and isinstance(key, ec.EllipticCurvePublicKey)
        and (key.curve.name == curve)
    )


def read_text(name: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{name}={path!r}: cannot read: {exc}") from None


_PEM_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


def load_public_keys(name: str, text: str) -> tuple[PublicKey, ...]:
    """RSA/EC public keys (or certificates) in PEM; several blocks allow key rotation."""
    keys: list[PublicKey] = []
    for match in _PEM_RE.finditer(text):
        label, block = match.group(1), match.group(0).encode()
        if "PRIVATE" in label:
            raise ConfigError(f"{name}: contains a private key; give the public key only")
        try:
            if label == "CERTIFICATE":
                key: Any = x509.load_pem_x509_certificate(block).public_key()
            else:
                key = load_pem_public_key(block)
        except ValueError as exc:
            raise ConfigError(f"{name}: unreadable PEM block {label!r}: {exc}") from None
        keys.append(_check_public_key(name, key))
    if not keys:
        raise ConfigError(f"{name}: no PEM public key found")
    return tuple(keys)


def _check_public_key(name: str, key: Any) -> PublicKey:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ConfigError(f"{name}: RSA key of {key.key_size} bits; RFC 7518 3.3 needs 2048+")
        return key
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_ALGORITHMS.values():
            raise ConfigError(f"{name}: EC curve {key.curve.name} is not P-256/384/521")
        return key
    raise ConfigError(f"{name}: {type(key).__name__} keys are not supported (RSA, EC)")


def load_jwks(name: str, text: str) -> dict[str, JwksKey]:
    """A JWK Set (RFC 7517 section 5) of public signing keys: kid -> (declared alg, key).

    Every key needs a unique ``kid``; encryption keys (``use`` other than ``sig``) are skipped;
    private or symmetric key material is refused (a JWKS file is public by nature).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: not JSON: {exc}") from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f'{name}: expected {{"keys": [...]}} with at least one key')
    keys: dict[str, JwksKey] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise ConfigError(f"{name}: every key must be a JSON object")
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ConfigError(f"{name}: every key needs a string 'kid'")
        if kid in keys:
            raise ConfigError(f"{name}: duplicate kid {kid!r}")
        if any(p in entry for p in ("d", "p", "q", "k")):
            raise ConfigError(f"{name}: key {kid!r} holds private or symmetric key material")
        if entry.get("use", "sig") != "sig":
            continue  # an encryption key: not for verifying tokens
        alg = entry.get("alg")
        if alg is not None and alg not in ASYMMETRIC_ALGORITHMS:
            raise ConfigError(f"{name}: key {kid!r} has unsupported alg {alg!r}")
        try:
            key = jwt.PyJWK(entry).key
        except jwt.PyJWTError as exc:
            raise ConfigError(f"{name}: key {kid!r} unusable: {exc}") from None
        keys[kid] = (alg, _check_public_key(f"{name}: key {kid!r}", key))
    if not keys:
        raise ConfigError(f"{name}: no signing key (use 'sig')")
    return keys


def _env(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    return None if raw is None or raw.strip() == "" else raw


def key_material(
    env: Mapping[str, str],
) -> tuple[bytes | None, tuple[PublicKey, ...], dict[str, JwksKey]]:
    """(HMAC secret, PEM public keys, JWKS) from ``RTX_JWT_*``; files are read here."""
    secret_text = _env(env, "RTX_JWT_SECRET")
    secret_file = _env(env, "RTX_JWT_SECRET_FILE")
    if secret_text is not None and secret_file is not None:
        raise ConfigError("RTX_JWT_SECRET and RTX_JWT_SECRET_FILE: set one, not both")
    if secret_file is not None:
        secret_text = read_text("RTX_JWT_SECRET_FILE", secret_file.strip()).rstrip("\r\n")
    source = "RTX_JWT_SECRET_FILE" if secret_file is not None else "RTX_JWT_SECRET"
    if secret_text is not None and "-----BEGIN" in secret_text:
        # A PEM key used as an HMAC secret is the classic key-confusion attack (RFC 8725 3.1).
        raise ConfigError(f"{source}: looks like a PEM key; use RTX_JWT_PUBLIC_KEY_FILE")
    secret = None if secret_text is None else secret_text.encode()
    key_file = _env(env, "RTX_JWT_PUBLIC_KEY_FILE")
    jwks_file = _env(env, "RTX_JWT_JWKS_FILE")
    if key_file is not None and jwks_file is not None:
        raise ConfigError("RTX_JWT_PUBLIC_KEY_FILE and RTX_JWT_JWKS_FILE: set one, not both")
    keys: tuple[PublicKey, ...] = ()
    jwks: dict[str, JwksKey] = {}
    if key_file is not None:
        name = "RTX_JWT_PUBLIC_KEY_FILE"
        keys = load_public_keys(name, read_text(name, key_file.strip()))
    if jwks_file is not None:
        jwks = load_jwks("RTX_JWT_JWKS_FILE", read_text("RTX_JWT_JWKS_FILE", jwks_file.strip()))
    return secret, keys, jwks


def check_keys_fit(
    algorithms: tuple[str, ...],
    secret: bytes | None,
    keys: tuple[PublicKey, ...],
    jwks: Mapping[str, JwksKey],
) -> None:
    hmac = [a for a in algorithms if a in HMAC_ALGORITHMS]
    asymmetric = [a for a in algorithms if a not in HMAC_ALGORITHMS]
    if hmac and secret is None:
        raise ConfigError(
            f"RTX_JWT_ALGORITHMS={','.join(algorithms)}: {hmac[0]} needs RTX_JWT_SECRET or "
            "RTX_JWT_SECRET_FILE (or RTX_BRIDGE_DEV_MODE=1 without any key)"
        )
    if hmac and secret is not None:
        strongest = max(hmac, key=HMAC_ALGORITHMS.__getitem__)
        need = HMAC_ALGORITHMS[strongest]
        if len(secret) < need:
            raise ConfigError(
                f"RTX_JWT_SECRET: {len(secret)} bytes; {strongest} needs at least {need} "
                "(RFC 7518 section 3.2)"
            )
    if asymmetric and not keys and not jwks:
        raise ConfigError(
            f"RTX_JWT_ALGORITHMS={','.join(algorithms)}: {asymmetric[0]} needs "
            "RTX_JWT_PUBLIC_KEY_FILE or RTX_JWT_JWKS_FILE"
        )
    if not asymmetric and (keys or jwks):
        raise ConfigError(
            f"RTX_JWT_ALGORITHMS={','.join(algorithms)}: a public key is configured but no "
            "RS*/PS*/ES* algorithm is allowed"
        )
