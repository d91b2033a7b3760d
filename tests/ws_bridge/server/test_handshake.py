"""The bridge's handshake over real connections on 127.0.0.1, in the order of docs/bridge.md
section 6: token (401, reason logged, never the token; query or Bearer header), Origin and IP
(403), connection limits (429, 503), TLS, and what it negotiates (permessage-deflate only when
configured)."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from pathlib import Path

import jwt
import pytest
from websockets.asyncio.client import connect

from tests.helpers.bridge import SECRET
from tests.helpers.bridge_server import (
    http_get,
    recv_messages,
    refused_status,
    running,
    subscribe,
    token,
    until,
    ws_url,
)
from ws_bridge.core.auth import mint_token

pytestmark = pytest.mark.timeout(30)


async def test_handshake_without_token_is_refused_with_401() -> None:
    async with running() as server:
        status, body = await refused_status(ws_url(server))
        assert status == 401
        assert "missing-token" in body


@pytest.mark.parametrize("kind", ["expired", "bad-signature", "alg-none"])
async def test_bad_tokens_get_401_and_the_reason_is_logged_without_the_token(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Expired, wrongly signed and unsigned tokens are refused; the log names the reason and
    never contains the token."""
    if kind == "expired":
        bad = mint_token(SECRET, "alice", ["admin"], 60, now=1_000_000)
        reason = "expired"
    elif kind == "bad-signature":
        bad = mint_token("another-secret-0123456789abcdef-0123456789", "alice", [], 3600)
        reason = "bad-signature"
    else:
        bad = jwt.encode({"sub": "alice", "exp": 4_000_000_000}, None, algorithm="none")
        reason = "algorithm-not-allowed"
    async with running() as server:
        with caplog.at_level(logging.INFO):
            status, body = await refused_status(ws_url(server, bad))
        assert status == 401
        assert reason in body
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert f"Authentication failed from 127.0.0.1: {reason}" in text
        assert bad not in text
        assert bad.split(".")[1] not in text  # not even the claims part


async def test_query_token_and_bearer_header_both_authenticate() -> None:
    async with running() as server:
        async with connect(ws_url(server, token())) as ws:
            await subscribe(ws, "alerts", id="a")
            (ack,) = await recv_messages(ws, 1)
            assert ack["type"] == "subscribed"
        headers = {"Authorization": f"Bearer {token('bob')}"}
        async with connect(ws_url(server), additional_headers=headers) as ws:
            await subscribe(ws, "alerts", id="b")
            (ack,) = await recv_messages(ws, 1)
            assert ack["data"] == {"channels": ["alerts"], "id": "b"}


async def test_origin_not_allowed_is_refused_with_403() -> None:
    async with running(allowed_origins=("https://dash.example.com",)) as server:
        status, _ = await refused_status(ws_url(server, token()), origin="https://evil.example.com")
        assert status == 403
        async with connect(ws_url(server, token()), origin="https://dash.example.com") as ws:
            await subscribe(ws, "alerts", id=1)
            assert (await recv_messages(ws, 1))[0]["type"] == "subscribed"


async def test_connection_limits_refuse_with_429_and_503_and_free_their_slots() -> None:
    """Per user past the limit: 429; server full: 503; a plain GET with a valid token (no
    upgrade) fails websockets' handshake and gives its slot back."""
    async with running(max_connections=2, max_connections_per_user=1) as server:
        status, _ = await http_get(server, f"/ws/analytics?token={token('frank')}")
        assert status in (400, 426)
        assert server.limits.total == 0
        async with connect(ws_url(server, token("frank"))):
            status, body = await refused_status(ws_url(server, token("frank")))
            assert (status, body.strip()) == (429, "user-limit")
            async with connect(ws_url(server, token("gina"))):
                status, body = await refused_status(ws_url(server, token("hank")))
                assert (status, body.strip()) == (503, "server-full")
        await until(lambda: server.limits.total == 0)


def _self_signed(tmp_path: Path) -> tuple[str, str]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


async def test_tls_serves_wss(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    async with running(tls_cert_file=cert, tls_key_file=key) as server:
        assert server.url.startswith("wss://")
        client_ssl = ssl.create_default_context(cafile=cert)
        url = f"wss://127.0.0.1:{server.port}/ws/analytics"
        headers = {"Authorization": f"Bearer {token()}"}
        async with connect(url, ssl=client_ssl, additional_headers=headers) as ws:
            await subscribe(ws, "alerts", id="tls")
            assert (await recv_messages(ws, 1))[0]["data"]["id"] == "tls"


async def test_ip_not_in_allow_list_is_refused_with_403() -> None:
    async with running(allowed_ips=("10.0.0.0/8",)) as server:
        status, body = await refused_status(ws_url(server, token()))
        assert status == 403 and "ip-not-allowed" in body


async def test_permessage_deflate_only_when_configured() -> None:
    """A client offering permessage-deflate (as browsers do) gets it only with
    RTX_BRIDGE_COMPRESSION=deflate: each compressed connection costs its own compressor."""
    for setting, expected in (("none", None), ("deflate", "permessage-deflate")):
        async with running(compression=setting) as server:
            async with connect(ws_url(server, token()), compression="deflate") as ws:
                assert ws.response is not None
                extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
                if expected is None:
                    assert extensions is None
                else:
                    assert extensions is not None and extensions.startswith(expected)
                await subscribe(ws, "alerts", id="c")
                (ack,) = await recv_messages(ws, 1)
                assert ack["type"] == "subscribed"
