"""``BridgeSettings.from_env``: defaults, profiles, key material, and a ConfigError naming the
variable for every bad value. The environment is always passed in; os.environ is not touched."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from streams.settings import ConfigError
from streams.settings import ConfigError as StreamsConfigError
from tests.helpers.bridge import SECRET, public_pem
from ws_bridge.core.config import DEV_SECRET, PROFILES, BridgeSettings

ENV = {"RTX_JWT_SECRET": SECRET}


def test_defaults_are_the_contracts_numbers() -> None:
    s = BridgeSettings.from_env(ENV)
    assert (s.host, s.port, s.profile) == ("0.0.0.0", 7999, "default")  # noqa: S104
    assert (s.batch_max, s.batch_interval_ms, s.queue_max_messages, s.queue_max_batches) == (
        50, 16, 256, 10,
    )  # fmt: skip
    assert (s.rate_limit_per_s, s.ping_interval_s, s.pong_timeout_s, s.write_timeout_s) == (
        1000, 54.0, 60.0, 10.0,
    )  # fmt: skip
    assert s.jwt_algorithms == ("HS256",) and s.jwt_leeway_s == 30.0
    assert (s.jwt_roles_claim, s.jwt_account_claim) == ("roles", "account")
    assert s.pong_wait_after_ping_s == 6.0
    assert not s.dev_mode and s.jwt_secret == SECRET.encode()


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("default", (50, 16, 256, 10)),
        ("high-frequency", (100, 8, 512, 10)),
        ("low-latency", (10, 5, 256, 10)),
        ("memory-constrained", (50, 16, 64, 5)),
    ],
)
def test_profiles_are_the_seed_guides_presets(profile: str, expected: tuple[int, ...]) -> None:
    s = BridgeSettings.from_env({**ENV, "RTX_BRIDGE_PROFILE": profile})
    assert (s.batch_max, s.batch_interval_ms, s.queue_max_messages, s.queue_max_batches) == (
        expected
    )
    assert PROFILES[profile].queue_max_bytes == s.queue_max_bytes


def test_explicit_variables_override_the_profile() -> None:
    env = {**ENV, "RTX_BRIDGE_PROFILE": "low-latency", "RTX_BRIDGE_BATCH_MAX": "7"}
    s = BridgeSettings.from_env(env)
    assert (s.batch_max, s.batch_interval_ms) == (7, 5)


def test_without_any_key_and_without_dev_mode_start_up_fails_naming_the_variables() -> None:
    with pytest.raises(ConfigError) as err:
        BridgeSettings.from_env({})
    for name in ("RTX_JWT_SECRET", "RTX_JWT_PUBLIC_KEY_FILE", "RTX_JWT_JWKS_FILE"):
        assert name in str(err.value)
    assert isinstance(err.value, StreamsConfigError)  # the CLI's one except clause


def test_dev_mode_without_a_key_uses_the_dev_secret_and_says_so() -> None:
    s = BridgeSettings.from_env({"RTX_BRIDGE_DEV_MODE": "1"})
    assert s.dev_mode and s.jwt_secret == DEV_SECRET.encode()
    assert any("DEV ONLY" in w for w in s.warnings)


def test_dev_mode_with_a_configured_secret_keeps_that_secret_and_warns_nothing_about_it() -> None:
    s = BridgeSettings.from_env({**ENV, "RTX_BRIDGE_DEV_MODE": "1"})
    assert s.jwt_secret == SECRET.encode()
    assert not any("DEV ONLY" in w for w in s.warnings)


def test_secrets_never_appear_in_repr_or_describe() -> None:
    s = BridgeSettings.from_env(ENV)
    assert SECRET not in repr(s) and SECRET not in str(s.describe())
    assert s.describe()["jwt_secret"] == "(set)"  # noqa: S105
    dev = BridgeSettings.from_env({"RTX_BRIDGE_DEV_MODE": "1"})
    assert DEV_SECRET not in repr(dev) and DEV_SECRET not in str(dev.describe())


def test_settings_are_frozen() -> None:
    s = BridgeSettings.from_env(ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1  # type: ignore[misc]


def test_parsed_values() -> None:
    s = BridgeSettings.from_env(
        {
            **ENV,
            "RTX_BRIDGE_HOST": "127.0.0.1",
            "RTX_BRIDGE_PORT": "8443",
            "RTX_JWT_ALGORITHMS": "hs256, HS512",
            "RTX_JWT_SECRET": "x" * 64,
            "RTX_JWT_AUDIENCE": "rtx-analytics",
            "RTX_JWT_ISSUER": "https://idp.example.com/",
            "RTX_JWT_LEEWAY_S": "5",
            "RTX_JWT_ROLES_CLAIM": "realm_access.roles",
            "RTX_BRIDGE_CHANNEL_ROLES": "alerts=admin|risk; exposure-updates=*",
            "RTX_BRIDGE_ALLOWED_ORIGINS": "https://dash.example.com, *.example.com",
            "RTX_BRIDGE_ALLOWED_IPS": "10.0.0.0/8, 2001:db8::/32, 192.168.1.7",
            "RTX_BRIDGE_MAX_CONNECTIONS": "50",
            "RTX_BRIDGE_MAX_CONNECTIONS_PER_USER": "3",
            "RTX_BRIDGE_QUEUE_MAX_BYTES": "65536",
            "RTX_BRIDGE_LOG_FORMAT": "JSON",
            "RTX_BRIDGE_ALERT_HISTORY": "0",
        }
    )
    assert (s.host, s.port) == ("127.0.0.1", 8443)
    assert s.jwt_algorithms == ("HS256", "HS512")
    assert (s.jwt_audience, s.jwt_issuer, s.jwt_leeway_s) == (
        "rtx-analytics", "https://idp.example.com/", 5.0,
    )  # fmt: skip
    assert dict(s.channel_roles) == {
        "alerts": frozenset({"admin", "risk"}),
        "exposure-updates": frozenset({"*"}),
    }
    assert s.allowed_origins == ("https://dash.example.com", "*.example.com")
    assert s.allowed_ips == ("10.0.0.0/8", "2001:db8::/32", "192.168.1.7/32")
    assert (s.max_connections, s.max_connections_per_user) == (50, 3)
    assert (s.queue_max_bytes, s.log_format, s.alert_history) == (65536, "json", 0)


# (variable, bad value) -> ConfigError naming the variable
BAD: list[tuple[str, str]] = [
    ("RTX_BRIDGE_PORT", "http"),
    ("RTX_BRIDGE_PORT", "70000"),
    ("RTX_JWT_ALGORITHMS", "none"),
    ("RTX_JWT_ALGORITHMS", "HS256,none"),
    ("RTX_JWT_ALGORITHMS", "XS999"),
    ("RTX_JWT_ALGORITHMS", ","),
    ("RTX_JWT_ALGORITHMS", "RS256"),  # no public key configured
    ("RTX_JWT_SECRET", "short"),
    ("RTX_JWT_SECRET", "-----BEGIN PUBLIC KEY-----\nMIIB...\n-----END PUBLIC KEY-----" + "x" * 40),
    ("RTX_JWT_SECRET_FILE", "/nonexistent/secret"),
    ("RTX_JWT_PUBLIC_KEY_FILE", "/nonexistent/key.pem"),
    ("RTX_JWT_JWKS_FILE", "/nonexistent/jwks.json"),
    ("RTX_JWT_LEEWAY_S", "-1"),
    ("RTX_JWT_LEEWAY_S", "nan"),
    ("RTX_JWT_LEEWAY_S", "3601"),
    ("RTX_BRIDGE_CHANNEL_ROLES", "alerts"),
    ("RTX_BRIDGE_CHANNEL_ROLES", "alerts="),
    ("RTX_BRIDGE_CHANNEL_ROLES", "news=admin"),
    ("RTX_BRIDGE_ALLOWED_ORIGINS", "https://dash.example.com/path"),
    ("RTX_BRIDGE_ALLOWED_ORIGINS", "https://*.com"),
    ("RTX_BRIDGE_ALLOWED_ORIGINS", "https://a.*.example.com"),
    ("RTX_BRIDGE_ALLOWED_ORIGINS", "ftp://example.com"),
    ("RTX_BRIDGE_ALLOWED_IPS", "10.0.0.1/8"),
    ("RTX_BRIDGE_ALLOWED_IPS", "10.0.0.300"),
    ("RTX_BRIDGE_TLS_CERT_FILE", "/nonexistent/cert.pem"),
    ("RTX_BRIDGE_MAX_CONNECTIONS", "0"),
    ("RTX_BRIDGE_MAX_CONNECTIONS_PER_USER", "1001"),  # above RTX_BRIDGE_MAX_CONNECTIONS
    ("RTX_BRIDGE_PROFILE", "turbo"),
    ("RTX_BRIDGE_BATCH_MAX", "0"),
    ("RTX_BRIDGE_BATCH_INTERVAL_MS", "1.5"),
    ("RTX_BRIDGE_QUEUE_MAX_MESSAGES", "-3"),
    ("RTX_BRIDGE_QUEUE_MAX_BYTES", "100"),
    ("RTX_BRIDGE_QUEUE_MAX_BATCHES", "0"),
    ("RTX_BRIDGE_RATE_LIMIT_PER_S", "lots"),
    ("RTX_BRIDGE_RATE_LIMIT_GRACE_S", "61"),
    ("RTX_BRIDGE_PING_INTERVAL_S", "0"),
    ("RTX_BRIDGE_PONG_TIMEOUT_S", "30"),  # not above the ping interval
    ("RTX_BRIDGE_WRITE_TIMEOUT_S", "0"),
    ("RTX_BRIDGE_ALERT_HISTORY", "-1"),
    ("RTX_BRIDGE_LOG_FORMAT", "xml"),
    ("RTX_BRIDGE_DEV_MODE", "maybe"),
]


@pytest.mark.parametrize(("name", "value"), BAD, ids=[f"{n}={v[:20]}" for n, v in BAD])
def test_every_bad_value_names_its_variable(name: str, value: str) -> None:
    env = {**ENV, name: value}
    if name == "RTX_JWT_SECRET_FILE":
        del env["RTX_JWT_SECRET"]
    with pytest.raises(ConfigError) as err:
        BridgeSettings.from_env(env)
    assert name in str(err.value)


def test_blank_values_mean_default() -> None:
    env = {name: "  " for name, _ in BAD if name != "RTX_JWT_SECRET"}
    assert BridgeSettings.from_env({**ENV, **env}) == BridgeSettings.from_env(ENV)


def test_secret_and_secret_file_together_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    with pytest.raises(ConfigError, match="RTX_JWT_SECRET_FILE"):
        BridgeSettings.from_env({**ENV, "RTX_JWT_SECRET_FILE": str(path)})
    s = BridgeSettings.from_env({"RTX_JWT_SECRET_FILE": str(path)})
    assert s.jwt_secret == SECRET.encode()  # trailing newline stripped


def test_tls_needs_both_files(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    with pytest.raises(ConfigError, match="RTX_BRIDGE_TLS_KEY_FILE"):
        BridgeSettings.from_env({**ENV, "RTX_BRIDGE_TLS_CERT_FILE": str(cert)})
    s = BridgeSettings.from_env(
        {**ENV, "RTX_BRIDGE_TLS_CERT_FILE": str(cert), "RTX_BRIDGE_TLS_KEY_FILE": str(key)}
    )
    assert s.tls and s.tls_key_file == str(key)


def test_public_key_file_loads_rsa_and_ec_keys_in_one_file(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    path = tmp_path / "keys.pem"
    path.write_bytes(public_pem(rsa_key) + public_pem(ec_key))
    s = BridgeSettings.from_env(
        {"RTX_JWT_ALGORITHMS": "RS256,ES256", "RTX_JWT_PUBLIC_KEY_FILE": str(path)}
    )
    assert len(s.jwt_public_keys) == 2 and s.jwt_secret is None
    assert s.describe()["jwt_public_keys"] == 2


def _write(tmp_path: Path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def test_bad_key_files_are_refused(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    private = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    small = rsa.generate_private_key(65537, 1024)  # noqa: S505 - must be refused
    cases: dict[str, str | bytes] = {
        "empty.pem": "",
        "private.pem": private,
        "small.pem": public_pem(small),
    }
    for name, content in cases.items():
        env = {
            "RTX_JWT_ALGORITHMS": "RS256",
            "RTX_JWT_PUBLIC_KEY_FILE": _write(tmp_path, name, content),
        }
        with pytest.raises(ConfigError, match="RTX_JWT_PUBLIC_KEY_FILE"):
            BridgeSettings.from_env(env)


def _jwk(key: rsa.RSAPrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    data.update(kid=kid, **extra)
    return data


def test_jwks_file_is_loaded_by_kid_and_bad_sets_are_refused(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    good = {"keys": [_jwk(rsa_key, "k1", alg="RS256"), _jwk(rsa_key, "enc", use="enc")]}
    env = {
        "RTX_JWT_ALGORITHMS": "RS256",
        "RTX_JWT_JWKS_FILE": _write(tmp_path, "j.json", json.dumps(good)),
    }
    s = BridgeSettings.from_env(env)
    assert list(s.jwt_jwks) == ["k1"] and s.jwt_jwks["k1"][0] == "RS256"
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key))
    bad_sets: list[Any] = [
        "not json",
        {"keys": []},
        {"keys": [_jwk(rsa_key, "")]},
        {"keys": [_jwk(rsa_key, "a"), _jwk(rsa_key, "a")]},
        {"keys": [{**private, "kid": "p"}]},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]},
        {"keys": [_jwk(rsa_key, "x", alg="none")]},
    ]
    for index, bad in enumerate(bad_sets):
        text = bad if isinstance(bad, str) else json.dumps(bad)
        env = {
            "RTX_JWT_ALGORITHMS": "RS256",
            "RTX_JWT_JWKS_FILE": _write(tmp_path, f"{index}.json", text),
        }
        with pytest.raises(ConfigError, match="RTX_JWT_JWKS_FILE"):
            BridgeSettings.from_env(env)


def test_public_key_and_jwks_together_are_refused(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    env = {
        "RTX_JWT_ALGORITHMS": "RS256",
        "RTX_JWT_PUBLIC_KEY_FILE": _write(tmp_path, "k.pem", public_pem(rsa_key)),
        "RTX_JWT_JWKS_FILE": _write(tmp_path, "j.json", json.dumps({"keys": [_jwk(rsa_key, "a")]})),
    }
    with pytest.raises(ConfigError, match="RTX_JWT_JWKS_FILE"):
        BridgeSettings.from_env(env)


def test_a_public_key_without_an_asymmetric_algorithm_is_refused(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    env = {**ENV, "RTX_JWT_PUBLIC_KEY_FILE": _write(tmp_path, "k.pem", public_pem(rsa_key))}
    with pytest.raises(ConfigError, match="RTX_JWT_ALGORITHMS"):
        BridgeSettings.from_env(env)


def test_origin_warnings() -> None:
    assert any("browser clients are refused" in w for w in BridgeSettings.from_env(ENV).warnings)
    star = BridgeSettings.from_env({**ENV, "RTX_BRIDGE_ALLOWED_ORIGINS": "*"})
    assert any("every web origin" in w for w in star.warnings)


def test_compression_is_off_by_default_and_bad_values_name_the_variable() -> None:
    from streams.settings import ConfigError as BridgeConfigError
    from ws_bridge.core.config import BridgeSettings

    base = {"RTX_BRIDGE_DEV_MODE": "1"}
    assert BridgeSettings.from_env(base).compression == "none"
    assert BridgeSettings.from_env({**base, "RTX_BRIDGE_COMPRESSION": "deflate"}).compression == (
        "deflate"
    )
    with pytest.raises(BridgeConfigError, match="RTX_BRIDGE_COMPRESSION"):
        BridgeSettings.from_env({**base, "RTX_BRIDGE_COMPRESSION": "zstd"})
