"""Builders shared by the bridge's unit tests: settings, identities, sessions, and derived
records that went through the real Avro codec (so the bridge sees what the consumer decodes)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from schemas.codec import default_codec
from ws_bridge.core.access import ChannelPolicy
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.auth import Identity, TokenVerifier
from ws_bridge.core.config import BridgeSettings
from ws_bridge.core.fanout import Fanout
from ws_bridge.core.protocol import Encoded, encode, to_message
from ws_bridge.core.session import ClientSession, SessionContext

SECRET = "unit-test-secret-0123456789abcdef-0123456789"  # noqa: S105 - test key
T0 = 1_768_818_645.123456  # 2026-01-19T10:30:45.123456Z
T0_US = 1_768_818_645_123_456


def settings(**overrides: Any) -> BridgeSettings:
    base = BridgeSettings(jwt_secret=SECRET.encode())
    return dataclasses.replace(base, **overrides)


def identity(
    user: str = "alice", roles: tuple[str, ...] = ("admin",), expires_at: float = T0 + 3600
) -> Identity:
    return Identity(user=user, account="acc-1", roles=frozenset(roles), expires_at=expires_at)


def context(
    s: BridgeSettings | None = None,
    *,
    log: AlertLog | None = None,
    policy: ChannelPolicy | None = None,
    fanout: Fanout | None = None,
) -> SessionContext:
    s = s or settings()
    fan = fanout or Fanout()
    return SessionContext(s, TokenVerifier(s), policy or ChannelPolicy(), fan.snapshot, log)


def session(
    ctx: SessionContext | None = None,
    *,
    channels: tuple[str, ...] = (),
    now: float = T0,
    ident: Identity | None = None,
) -> ClientSession:
    sess = ClientSession(ident or identity(), ctx or context(), now=now)
    if channels:
        sess.receive(json.dumps({"action": "subscribe", "channels": list(channels)}), now)
    return sess


def roundtrip(schema: str, record: dict[str, Any]) -> dict[str, Any]:
    """The record as the bridge's consumer would decode it."""
    codec = default_codec()
    return codec.decode(codec.encode(schema, record)).record


def exposure_record(**overrides: Any) -> dict[str, Any]:
    record = {
        "eventTime": T0_US,
        "totalExposure": 80000.0,
        "netExposure": 80000.0,
        "exposureLimit": 100000.0,
        "utilizationPct": 80.0,
        "riskLevel": "medium",
        "bySymbol": {"EURUSD": 50000.0, "GBPUSD": 30000.0},
        "byLP": {"OANDA": 80000.0},
    }
    record.update(overrides)
    return roundtrip("ExposureChange", record)


def lp_record(name: str = "OANDA", **overrides: Any) -> dict[str, Any]:
    record = {
        "eventTime": T0_US,
        "lpName": name,
        "status": "connected",
        "avgSpread": 0.00012,
        "executionQuality": 0.97,
        "latencyMs": 42.0,
        "quotesPerSecond": 120.0,
        "rejectRate": 0.01,
        "uptime": 99.9,
    }
    record.update(overrides)
    return roundtrip("LpPerformance", record)


def routing_record(**overrides: Any) -> dict[str, Any]:
    record = {
        "eventId": "7f1c2a9e-0000-4000-8000-000000000001",
        "eventTime": T0_US,
        "symbol": "EURUSD",
        "side": "BUY",
        "volume": 10000.0,
        "routingDecision": "ABOOK",
        "lpSelected": "OANDA",
        "executionTimeMs": 45.0,
        "spread": 0.0001,
        "slippage": -0.00002,
    }
    record.update(overrides)
    return roundtrip("RoutingDecision", record)


def summary_record() -> dict[str, Any]:
    return roundtrip(
        "RoutingSummary",
        {
            "windowStart": T0_US - 60_000_000,
            "windowEnd": T0_US,
            "count": 10,
            "volume": 100000.0,
            "notionalUsd": 108000.0,
            "abookCount": 4,
            "bbookCount": 6,
            "abookShareByCountPct": 40.0,
            "abookShareByVolumePct": 35.0,
            "byLP": {"OANDA": 3, "LMAX": 1},
            "executionTimeP50Ms": 40.0,
            "executionTimeP95Ms": 90.0,
            "executionTimeP99Ms": 120.0,
            "slippageMean": 0.00001,
            "slippagePositiveCount": 3,
            "slippageNegativeCount": 2,
        },
    )


def alert_record(n: int = 0, **overrides: Any) -> dict[str, Any]:
    record = {
        "id": f"20260119-103045-{n:06x}",
        "eventTime": T0_US + n * 1_000_000,
        "severity": "critical",
        "category": "exposure",
        "title": "Exposure Limit Approaching",
        "message": "Current exposure is at 92.0% of limit",
        "source": "ExposureMonitor",
        "actionItems": ["Review open positions"],
    }
    record.update(overrides)
    return roundtrip("Alert", record)


_ROUTING_BASE: dict[str, Any] = {}


def routing_item(n: int, pad: int = 0) -> Encoded:
    """A routing-decision message; ``n`` goes into the volume so order can be checked, ``pad``
    lengthens the symbol to vary the encoded size."""
    if not _ROUTING_BASE:
        _ROUTING_BASE.update(routing_record())
    record = {**_ROUTING_BASE, "volume": float(n), "symbol": "X" * (pad + 1)}
    return encode(to_message("RoutingDecision", record))


def volumes(messages: list[dict[str, Any]]) -> list[int]:
    """The ``n`` of every routing-decision message in a batch."""
    return [int(m["data"]["volume"]) for m in messages if m["type"] == "routing-decision"]


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


SUB = '{"action":"subscribe","channels":["routing-metrics"]}'  # a client's subscribe frame


def drain(sess: Any, now: float, step: float = 1.0) -> list[dict[str, Any]]:
    """Every message still queued, taking batches one interval apart."""
    out: list[dict[str, Any]] = []
    for _ in range(10_000):
        batch = sess.next_batch(now)
        if batch is None and sess.next_send_at(now) is None:
            return out
        if batch is not None:
            out.extend(batch)
            sess.frame_sent()
        now += step
    raise AssertionError("queue never drained")
