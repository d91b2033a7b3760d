"""The known JWT attacks against the real bridge handshake: ``rtx-analytics bridge`` as a
process (Kafka source on the test broker), its log output captured. Every attack gets HTTP 401
with the reason, the reason is logged, the token never appears in the log, and ``jku``/``x5u``
URLs are never fetched. tests/ws_bridge/core/test_auth.py checks the verifier alone; this checks
what a client on the network sees."""

from __future__ import annotations

import base64
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from streams.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "jwt-attack-test-secret-0123456789abcdef"  # noqa: S105 - test key
AUD, ISS = "rtx-dashboards", "https://idp.example.com"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: Any, payload: Any, signature: bytes = b"") -> str:
    return ".".join(
        (b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature))
    )


class Fetches(http.server.BaseHTTPRequestHandler):
    """Serves an attacker's JWKS; counts every request (there must be none)."""

    count = 0
    jwks = b"{}"

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        type(self).count += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.jwks)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = server_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {"server": server_key, "attacker": attacker, "public_pem": pem}


@pytest.fixture
def attacker_site(keys: dict[str, Any]) -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(keys["attacker"].public_key()))
    Fetches.jwks = json.dumps({"keys": [{**jwk, "kid": "evil"}]}).encode()
    Fetches.count = 0
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fetches)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def bridge(topics: KafkaSettings, tmp_path: Path, keys: dict[str, Any]) -> Iterator[Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    pem_file = tmp_path / "pub.pem"
    pem_file.write_bytes(keys["public_pem"])
    log_path = tmp_path / "bridge.log"
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": topics.bootstrap_servers,
        "RTX_TOPIC_PREFIX": topics.topic_prefix,
        "RTX_BRIDGE_HOST": "127.0.0.1",
        "RTX_BRIDGE_PORT": str(port),
        "RTX_JWT_ALGORITHMS": "RS256,HS256",
        "RTX_JWT_SECRET": SECRET,
        "RTX_JWT_PUBLIC_KEY_FILE": str(pem_file),
        "RTX_JWT_AUDIENCE": AUD,
        "RTX_JWT_ISSUER": ISS,
        "RTX_JWT_LEEWAY_S": "5",
        "RTX_LOG_LEVEL": "DEBUG",
        # Every attack below fails on purpose, ~60 in a row from one address: room for all of
        # them (the slow-down itself is tested in tests/ws_bridge/server/test_http_metrics.py).
        "RTX_BRIDGE_AUTH_FAILURES_BURST": "1000",
    }
    with log_path.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "streams.cli", "bridge"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError(f"bridge exited: {log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):  # noqa: S310
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"bridge did not start: {log_path.read_text()[-3000:]}")
        yield base, log_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def handshake(base: str, token: str, where: str) -> tuple[int, str]:
    """A WebSocket upgrade request carrying the token; the HTTP status and body."""
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": b64(os.urandom(16)) + "==",
    }
    path = "/ws/analytics"
    if where == "header":
        headers["Authorization"] = f"Bearer {token}"
    else:
        path += f"?token={token}"
    request = urllib.request.Request(base + path, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def attacks(keys: dict[str, Any], site: str) -> list[tuple[str, str, str]]:
    """(name, token, reason) for each attack."""
    now = int(time.time())
    good = {"sub": "mallory", "exp": now + 3600, "aud": AUD, "iss": ISS, "roles": ["admin"]}
    server, attacker = keys["server"], keys["attacker"]

    def rs(payload: dict[str, Any], key: Any = server, **headers: Any) -> str:
        return jwt.encode(payload, key, algorithm="RS256", headers=headers or None)

    def hs(payload: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(payload, SECRET, algorithm="HS256", headers=headers or None)

    valid = rs(good)
    head, body, sig = valid.split(".")
    out = [
        (f"alg {alg}", raw_token({"alg": alg, "typ": "JWT"}, good), "algorithm-not-allowed")
        for alg in ("none", "None", "NONE", "nOnE")
    ]
    out += [
        ("alg none, signed", raw_token({"alg": "none"}, good, b"x"), "algorithm-not-allowed"),
        ("unsigned RS256", f"{head}.{body}.", "bad-signature"),
        ("key confusion: HS256 with the RS256 public key",
         _hs_with_raw_key(good, keys["public_pem"]), "bad-signature"),
        ("kid ../../dev/null", rs(good, attacker, kid="../../dev/null"), "bad-signature"),
        ("kid SQL", rs(good, attacker, kid="x' OR '1'='1"), "bad-signature"),
        ("kid very long", rs(good, attacker, kid="k" * 4000), "bad-signature"),
        ("expired", rs({**good, "exp": now - 3600}), "expired"),
        ("future nbf", rs({**good, "nbf": now + 3600}), "not-yet-valid"),
        ("wrong issuer", rs({**good, "iss": "https://evil.example.com"}), "wrong-issuer"),
        ("wrong audience", rs({**good, "aud": "someone-else"}), "wrong-audience"),
        ("truncated in the payload", valid[: len(head) + 20], "malformed"),
        ("truncated signature", valid[:-41], "malformed"),
        ("bad base64", f"{head}.{body[:-2]}!*.{sig}", "malformed"),
        ("header not an object", f"{b64(b'[1,2]')}.{body}.{sig}", "malformed"),
        ("payload not an object", hs_raw_payload(b'["sub","mallory"]'), "malformed"),
        ("crit header", rs(good, crit=["x-unknown-extension"], **{"x-unknown-extension": 1}),
         "malformed"),
        ("jku elsewhere", rs(good, attacker, jku=f"{site}/jwks.json", kid="evil"), "bad-signature"),
        ("x5u elsewhere", rs(good, attacker, x5u=f"{site}/cert.pem"), "bad-signature"),
        ("embedded jwk", rs(good, attacker, jwk=json.loads(
            jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))), "bad-signature"),
        ("two dots only", "..", "malformed"),
    ]  # fmt: skip
    return out


def _hs_with_raw_key(payload: dict[str, Any], key: bytes) -> str:
    """HS256 "signed" with the PEM public key as the HMAC secret (PyJWT refuses to do it)."""
    import hashlib
    import hmac

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}."
    signing_input += b64(json.dumps(payload).encode())
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def hs_raw_payload(payload: bytes) -> str:
    """A correctly HS256-signed token whose payload is not a JSON object."""
    import hashlib
    import hmac

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(payload)}"
    mac = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def test_every_known_jwt_attack_is_refused_at_the_handshake_and_the_token_never_logged(
    bridge: Any, keys: dict[str, Any], attacker_site: str
) -> None:
    base, log_path = bridge
    # The bridge accepts a well-formed token (else the refusals below would prove nothing).
    now = int(time.time())
    ok = jwt.encode(
        {"sub": "alice", "exp": now + 600, "aud": AUD, "iss": ISS}, keys["server"], "RS256"
    )
    # urllib cannot finish an upgrade: 426 from websockets means the token passed our checks.
    assert handshake(base, ok, "header")[0] == 426
    results = []
    tried = attacks(keys, attacker_site)
    for name, token, reason in tried:
        for where in ("header", "query"):
            status, body = handshake(base, token, where)
            results.append((name, where, status, body.strip()))
            assert status == 401, (name, where, status, body)
            assert reason in body, (name, where, body)
    expected = {name: f"Authentication failed from 127.0.0.1: {r}" for name, _, r in tried}
    deadline = time.monotonic() + 30
    while True:  # the bridge writes its log on its own; wait until every refusal is in it
        log = log_path.read_text(errors="replace")
        missing = [name for name, line in expected.items() if line not in log]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert missing == [], missing
    for name, token, _ in tried:
        for part in token.split("."):
            if len(part) >= 16:
                assert part not in log, f"{name}: a token part is in the bridge log"
    assert ok.split(".")[2] not in log
    assert Fetches.count == 0, "the bridge fetched a jku/x5u URL"


@pytest.mark.parametrize("where", ["header", "query"])
def test_a_100_kb_token_is_refused_with_4xx_and_never_logged(
    bridge: Any, keys: dict[str, Any], where: str
) -> None:
    """websockets caps a request or header line at 8 KiB and answers 431 (header) or 414/400
    (request line) before our auth runs; the bridge logs nothing of the token."""
    base, log_path = bridge
    token = jwt.encode({"sub": "m", "exp": int(time.time()) + 60, "pad": "y" * 100_000},
                       keys["server"], "RS256")  # fmt: skip
    try:
        status, body = handshake(base, token, where)
    except (ConnectionError, urllib.error.URLError) as exc:  # a reset is no answer at all
        raise AssertionError(f"no HTTP answer: {exc!r}") from exc
    assert 400 <= status < 500, (status, body)
    time.sleep(0.3)
    log = log_path.read_text(errors="replace")
    assert token.split(".")[2] not in log and token.split(".")[1][:64] not in log
