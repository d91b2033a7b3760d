"""Tests of ``schemas.codec``: the single-object wire format, fingerprints, round trips, schema
resolution, and the mapping of every kind of bad input onto its ``DecodeError`` subclass.

The CRC-64-AVRO fingerprint and the Parsing Canonical Form are re-implemented here from the Avro
1.11 specification ("Schema Fingerprints", "Parsing Canonical Form for Schemas") so that the codec
is checked against the spec, not against fastavro.
"""

from __future__ import annotations

import copy
import json
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.codec import (
    HEADER_LEN,
    MAGIC,
    SCHEMA_DIR,
    AvroError,
    Codec,
    CorruptMessage,
    DecodeError,
    EncodeError,
    IncompatibleSchema,
    NotSingleObject,
    SchemaInfo,
    SchemaLoadError,
    TruncatedMessage,
    UnexpectedSchema,
    UnknownFingerprint,
    default_codec,
    load_schema_file,
    schema_info,
)
from streams import events
from tests.helpers.strategies import comparable, records_for

RAW: dict[str, dict[str, Any]] = {
    p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(SCHEMA_DIR.glob("*.avsc"))
}
NAMES = sorted(RAW)
CODEC = default_codec()

# database=None: no .hypothesis directory in the work tree; failures print their example.
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- CRC-64-AVRO and Parsing Canonical Form, from the specification ---------------------------

EMPTY = 0xC15D213AA4D7A795  # Avro spec, "Schema Fingerprints": CRC-64-AVRO's initial value


def _fp_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    return table


FP_TABLE = _fp_table()


def rabin(data: bytes) -> int:
    """``fingerprint64`` of the Avro specification (64-bit Rabin fingerprint)."""
    fp = EMPTY
    for byte in data:
        fp = (fp >> 8) ^ FP_TABLE[(fp ^ byte) & 0xFF]
    return fp


def wire_fingerprint(canonical: str) -> bytes:
    """Single-object encoding puts the fingerprint on the wire little-endian."""
    return rabin(canonical.encode("utf-8")).to_bytes(8, "little")


PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def canonical_form(schema: Any, namespace: str | None = None) -> str:
    """Parsing Canonical Form: [PRIMITIVES] [FULLNAMES] [STRIP] [ORDER] [STRINGS] [WHITESPACE]."""

    def q(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    def full(name: str, ns: str | None) -> str:
        return name if "." in name or not ns else f"{ns}.{name}"

    if isinstance(schema, str):
        return q(schema if schema in PRIMITIVES else full(schema, namespace))
    if isinstance(schema, list):
        return "[" + ",".join(canonical_form(b, namespace) for b in schema) + "]"
    kind = schema["type"]
    if kind in PRIMITIVES:  # {"type": "long", "logicalType": ...} -> "long"
        return q(kind)
    if kind == "array":
        return '{"type":"array","items":' + canonical_form(schema["items"], namespace) + "}"
    if kind == "map":
        return '{"type":"map","values":' + canonical_form(schema["values"], namespace) + "}"
    name = full(schema["name"], schema.get("namespace", namespace))
    inner_ns = name.rsplit(".", 1)[0] if "." in name else None
    parts = [f'"name":{q(name)}', f'"type":{q(kind)}']
    if kind == "record":
        fields = ",".join(
            '{"name":' + q(f["name"]) + ',"type":' + canonical_form(f["type"], inner_ns) + "}"
            for f in schema["fields"]
        )
        parts.append(f'"fields":[{fields}]')
    elif kind == "enum":
        parts.append('"symbols":[' + ",".join(q(s) for s in schema["symbols"]) + "]")
    elif kind == "fixed":
        parts.append(f'"size":{int(schema["size"])}')
    return "{" + ",".join(parts) + "}"


def test_rabin_matches_the_spec_vector_for_null() -> None:
    """The spec's example: fingerprint64 of the canonical form "null" is 0x63dd24e7cc258f8a."""
    assert rabin(b'"null"') == 0x63DD24E7CC258F8A


@pytest.mark.parametrize("name", NAMES)
def test_canonical_form_follows_the_spec(name: str) -> None:
    """The codec's canonical form equals the spec's transformation of the .avsc file."""
    assert CODEC.schema(name).canonical_form == canonical_form(RAW[name])


@pytest.mark.parametrize("name", NAMES)
def test_fingerprint_is_crc64_avro_of_the_canonical_form_little_endian(name: str) -> None:
    info = CODEC.schema(name)
    assert info.fingerprint == wire_fingerprint(info.canonical_form)
    assert info.header == MAGIC + info.fingerprint
    assert info.name == f"rtx.analytics.{name}"


def test_every_schema_has_a_distinct_fingerprint() -> None:
    assert len({CODEC.schema(n).fingerprint for n in NAMES}) == len(NAMES) == 18


def test_fingerprint_ignores_docs_and_defaults_but_not_types() -> None:
    """Only the Parsing Canonical Form counts: doc text may change, a field type may not."""
    raw = copy.deepcopy(RAW["Quote"])
    raw["doc"] = "reworded"
    raw["fields"][0]["doc"] = "reworded too"
    assert schema_info(raw).fingerprint == CODEC.schema("Quote").fingerprint
    raw["fields"][3]["type"] = "float"
    assert schema_info(raw).fingerprint != CODEC.schema("Quote").fingerprint


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("not json", id="not-json"),
        pytest.param('"null"', id="primitive"),
        pytest.param('["null", "string"]', id="union"),
        pytest.param(
            '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "Nope"}]}',
            id="unknown-type",
        ),
        pytest.param(
            '{"type": "record", "name": "X", "fields": '
            '[{"name": "a", "type": "string", "default": 5}]}',
            id="default-of-wrong-type",
        ),
        pytest.param('{"type": "enum", "name": "E", "symbols": ["A"]}', id="enum-not-record"),
    ],
)
def test_schema_info_rejects_what_is_not_a_valid_named_record(text: str) -> None:
    with pytest.raises(SchemaLoadError):
        schema_info(text)


def test_schema_info_accepts_json_text_and_object_alike() -> None:
    text = (SCHEMA_DIR / "Quote.avsc").read_text(encoding="utf-8")
    assert schema_info(text).fingerprint == schema_info(RAW["Quote"]).fingerprint


def test_codec_refuses_two_reader_schemas_with_one_name() -> None:
    info = CODEC.schema("Quote")
    with pytest.raises(SchemaLoadError):
        Codec([info, schema_info(RAW["Quote"])])


def test_unknown_schema_name_raises_avro_error_listing_known_names() -> None:
    with pytest.raises(AvroError, match="Quote"):
        CODEC.encode("Nope", {})


# --- golden bytes -----------------------------------------------------------------------------

T0 = 1_768_818_645_123_456  # 2026-01-19T10:30:45.123456Z in microseconds

# The per-horizon figures the markout aggregates share (AccountToxicity, LpMarkout,
# MarkoutCurve): arrays aligned with horizonsMs.
MARKOUT_FIGURES: dict[str, Any] = {
    "horizonsMs": [1000, 5000, 30000, 60000],
    "knownCount": [120, 120, 119, 118],
    "meanMarkoutBps": [0.15, -0.49, -0.4, None],
    "meanMarkoutUsd": [1.62, -5.31, -4.33, None],
    "sumMarkoutUsd": [194.4, -637.2, -515.27, 0.0],
    "clientFavourPct": [25.0, 71.5, 66.25, None],
}

GOLDEN_RECORDS: dict[str, dict[str, Any]] = {
    "Alert": {
        "id": "20260119-103045-abc123",
        "eventTime": T0,
        "severity": "warning",
        "category": "exposure",
        "title": "Exposure Limit Approaching – EURUSD",  # non-ASCII: pins UTF-8
        "message": "Utilization at 80.0% of the 100000.00 USD limit; review the largest positions.",
        "source": "ExposureMonitor",
        "actionItems": ["Review open positions", "Consider hedging EURUSD"],
        "state": "RAISED",
        "resolvesId": None,
        "ruleId": "exposure.utilization.warning",
        "value": 80.0,
        "threshold": 75.0,
    },
    "ExposureChange": {
        "eventTime": T0,
        "totalExposure": 80000.0,
        "netExposure": 80000.0,
        "exposureLimit": 100000.0,
        "utilizationPct": 80.0,
        "riskLevel": "medium",
        "bySymbol": {"EURUSD": 50000.0, "GBPUSD": 30000.0},
        "byLP": {"OANDA": 80000.0},
        "byBook": {"ABOOK": 80000.0},
        "byCurrency": {"EUR": 54250.0, "GBP": 38100.0, "USD": -80000.0},
        "positionCount": 2,
        "basis": "bbook-net",
        "basisExposure": 0.0,
        "basisBySymbol": {},
        "basisByCurrency": {},
        "bbookNetBySymbol": {"EURUSD": {"volume": -10000.0, "usd": -10850.0}},
        "bbookNetByCurrency": {"EUR": -10850.0, "USD": 10850.0},
        "bbookNetLong": 0.0,
        "bbookNetShort": 10850.0,
    },
    "PnlChange": {
        "eventTime": T0,
        "tradingDay": "2026-01-20",
        "floating": -4120.0,
        "realizedToday": -632.0,
        "total": -4752.0,
        "bySymbol": {
            "EURUSD": {"floating": -1380.0, "realizedToday": -600.0, "total": -1980.0},
            "USDJPY": {"floating": -3118.75, "realizedToday": -32.0, "total": -3150.75},
        },
        "byCurrency": {"USD": {"floating": -1380.0, "realizedToday": -600.0, "total": -1980.0}},
        "clientsByBook": {"ABOOK": {"floating": 1960.0, "realizedToday": 0.0, "total": 1960.0}},
        "positionCount": 4,
        "markedAtMid": ["XAUUSD"],
        "unmarked": [],
        "unconverted": ["EURSEK"],
    },
    "AccountRisk": {
        "eventTime": T0,
        "tradingDay": "2026-01-20",
        "accountId": "acc-A",
        "basis": "bbook-net",
        "openPositions": 2,
        "exposure": 66000.0,
        "floatingPnl": 4306.75,
        "realizedToday": 600.0,
        "pnlToday": 4906.75,
        "largestPosition": {
            "positionId": "b1",
            "symbol": "EURUSD",
            "side": "BUY",
            "book": "BBOOK",
            "volume": 60000.0,
            "notionalUsd": 66000.0,
        },
        "markedAtMid": False,
        "unconverted": [],
    },
    "LpPerformance": {
        "eventTime": T0,
        "lpName": "OANDA",
        "status": "connected",
        "avgSpread": 0.00012,
        "executionQuality": 0.95,
        "latencyMs": 25.5,
        "quotesPerSecond": 120.0,
        "rejectRate": 0.02,
        "uptime": 99.9,
        "statusTransitions": 3,
        "observedUptimePct": 99.5,
        "rollingRejectRate": 0.01,
        "fillLatencyP50Ms": 12.0,
        "fillLatencyP95Ms": 30.0,
        "fillLatencyP99Ms": None,
    },
    "LpStatus": {
        "eventId": "6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f",
        "eventTime": T0,
        "lpName": "LMAX",
        "status": "disconnected",
        "avgSpread": 0.00015,
        "executionQuality": 0.9,
        "latencyMs": 48.0,
        "quotesPerSecond": 0.0,
        "rejectRate": 0.03,
        "uptime": 97.25,
    },
    "PositionState": {
        "eventId": "0d5b9f6e-2c1a-4b7d-8e3f-9a0b1c2d3e4f",
        "eventTime": T0,
        "positionId": "pos-7-1",
        "version": 3,
        "accountId": "acc-12",
        "symbol": "GBPUSD",
        "side": "SELL",
        "volume": 10000.0,
        "openPrice": 1.27,
        "currentPrice": 1.2712,
        "book": "ABOOK",
        "lp": "OANDA",
        "status": "OPEN",
        "realizedPnl": -37.5,
        "realizedPnlDelta": -12.25,
    },
    "Quote": {
        "eventId": "3e2d1c0b-a987-4654-b321-0fedcba98765",
        "eventTime": T0,
        "symbol": "EURUSD",
        "bid": 1.08495,
        "ask": 1.08505,
        "lp": "OANDA",
    },
    "RoutingDecision": {
        "eventId": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
        "eventTime": T0,
        "symbol": "EURUSD",
        "side": "BUY",
        "volume": 100000.0,
        "routingDecision": "ABOOK",
        "lpSelected": "OANDA",
        "executionTimeMs": 12.5,
        "spread": 0.0001,
        "slippage": -0.00002,
        "price": 1.085,
        "orderId": "ord-7-1",
        "accountId": None,
        "lpRejected": True,
    },
    "RoutingSummary": {
        "windowStart": 1_768_818_600_000_000,
        "windowEnd": 1_768_818_660_000_000,
        "count": 10,
        "volume": 550000.0,
        "notionalUsd": 597000.0,
        "abookCount": 4,
        "bbookCount": 6,
        "abookShareByCountPct": 40.0,
        "abookShareByVolumePct": 45.5,
        "byLP": {"OANDA": 3, "LMAX": 1},
        "executionTimeP50Ms": 12.0,
        "executionTimeP95Ms": 40.0,
        "executionTimeP99Ms": 55.5,
        "slippageMean": -0.0,  # pins the sign bit of negative zero
        "slippagePositiveCount": 3,
        "slippageNegativeCount": 2,
    },
    "ServiceAlert": {
        "eventId": "1b2c3d4e-5f60-4718-293a-4b5c6d7e8f90",
        "eventTime": T0,
        "severity": "critical",
        "category": "lp",
        "title": "LP Disconnected",
        "message": "LMAX stopped quoting",
        "source": "AlertEngine",
        "actionItems": ["Check the LMAX session"],
    },
    "TradeMarkout": {
        "tradeId": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
        "orderId": "ord-7-1",
        "eventTime": T0,
        "symbol": "EURUSD",
        "side": "BUY",
        "volume": 100000.0,
        "book": "ABOOK",
        "lpName": "OANDA",
        "accountId": "acc-12",
        "price": 1.0851,
        "midAtFill": 1.085,
        "horizonsMs": [1000, 5000, 30000, 60000],
        "midAtHorizon": [1.0851, 1.0853, 1.0853, None],  # arrays of unions: pins null items
        "markout": [0.0, -0.0002, -0.0002, None],
        "markoutBps": [0.0, -1.8431480969493867, -1.8431480969493867, None],
        "markoutUsd": [0.0, -20.0, -20.0, None],
        "status": ["KNOWN", "KNOWN", "NO_QUOTE", "TIMED_OUT"],
    },
    "AccountRiskTop": {
        "eventTime": T0,
        "tradingDay": "2026-01-20",
        "basis": "bbook-net",
        "n": 20,
        "accounts": 3,
        "byExposure": [
            {
                "eventTime": T0,
                "tradingDay": "2026-01-20",
                "accountId": "acc-B",
                "basis": "bbook-net",
                "openPositions": 1,
                "exposure": 44000.0,
                "floatingPnl": 192.0,
                "realizedToday": 32.0,
                "pnlToday": 224.0,
                "largestPosition": None,
                "markedAtMid": True,
                "unconverted": ["EURSEK"],
            }
        ],
        "byFloatingPnl": [],
        "byRealizedToday": [],
    },
    "AccountToxicity": {
        "eventTime": T0,
        "accountId": "acc-12",
        "trades": 120,
        **MARKOUT_FIGURES,
        "scoreHorizonMs": 5000,
        "clientWins": 82,
        "clientLosses": 31,
        "z": 4.797,
        "score": 95.94,
        "level": "toxic",
        "closedPositions": 64,
        "meanHoldingTimeS": 12.5,
    },
    "LpMarkout": {
        "eventTime": T0,
        "lpName": "LMAX",
        "fills": 275,
        **MARKOUT_FIGURES,
        "decisions": 363,
        "adverseDecisions": 80,
        "adverseRejects": 72,
        "otherDecisions": 268,
        "otherRejects": 14,
        "unknownMoves": 15,
        "rejectRateAfterAdverse": 0.9,
        "rejectRateOtherwise": 0.05223880597014925,
        "lastLookZ": 15.43,
        "lastLookSuspected": True,
    },
    "MarkoutCurve": {
        "eventTime": T0,
        "symbol": "*",
        "book": "BBOOK",
        "trades": 1000,
        **MARKOUT_FIGURES,
    },
    "RoutingAdvice": {
        "eventTime": T0,
        "accountId": "acc-12",
        "recommendedBook": "ABOOK",
        "level": "toxic",
        "score": 95.94,
        "trades": 120,
        "reason": "toxic flow: score 96 at 5s; client won 82 of 113 decided trades at 5s, "
        "mean markout -0.49 bps over 120 trades",
    },
    "AlertAction": {
        "actionId": "c7f3a1e2-5b6d-4c8e-9f0a-1b2c3d4e5f60",
        "alertId": "20260119-103045-abc123",
        "alertSeq": 41,
        "alertEpoch": "Ylq3cXf0QnKx1sV9aB7t2w",
        "action": "snooze",
        "user": "dana",
        "roles": ["dealer"],
        "time": T0,
        "note": "Hedge in place – back after the fix",  # non-ASCII: pins UTF-8
        "assignee": None,
        "until": T0 + 1_800_000_000,
        "level": None,
        "refersTo": None,
        "logSeq": 57,
    },
}

# The exact bytes each golden record encodes to. These pin the wire format that running
# consumers decode: regenerating them is a deliberate wire-format change (a new schema version
# or encoding), never a way to make this test pass.
GOLDEN_HEX: dict[str, str] = {
    "Alert": (
        "c301e5225a756532aea62c32303236303131392d3130333034352d61626331323380869ef0e5aea4"
        "0602004a4578706f73757265204c696d697420417070726f616368696e6720e28093204555525553"
        "449c015574696c697a6174696f6e2061742038302e3025206f6620746865203130303030302e3030"
        "20555344206c696d69743b2072657669657720746865206c61726765737420706f736974696f6e73"
        "2e1e4578706f737572654d6f6e69746f72042a526576696577206f70656e20706f736974696f6e73"
        "2e436f6e73696465722068656467696e672045555255534400000002386578706f737572652e7574"
        "696c697a6174696f6e2e7761726e696e67020000000000005440020000000000c05240"
    ),
    "ExposureChange": (
        "c3012f59f2dab1771fc480869ef0e5aea406000000000088f340000000000088f34000000000006a"
        "f840000000000000544002040c45555255534400000000006ae8400c47425055534400000000004c"
        "dd4000020a4f414e4441000000000088f34000020a41424f4f4b000000000088f340000606455552"
        "00000000407dea400647425000000000809ae24006555344000000000088f3c00004021262626f6f"
        "6b2d6e65740200000000000000000000020c455552555344000000000088c3c0000000000031c5c0"
        "000406455552000000000031c5c006555344000000000031c5400002000000000000000002000000"
        "000031c540"
    ),
    "AccountRisk": (
        "c30148c07aaa6ade796680869ef0e5aea40614323032362d30312d32300a6163632d411262626f6f"
        "6b2d6e65740400000000001df04000000000c0d2b0400000000000c0824000000000c02ab3400204"
        "62310c455552555344064255590a42424f4f4b00000000004ced4000000000001df0400000"
    ),
    "AccountRiskTop": (
        "c301f6074735ca00bdec80869ef0e5aea40614323032362d30312d32301262626f6f6b2d6e657428"
        "060280869ef0e5aea40614323032362d30312d32300a6163632d421262626f6f6b2d6e6574020000"
        "0000007ce540000000000000684000000000000040400000000000006c400001020c45555253454b"
        "00000000"
    ),
    "LpPerformance": (
        "c301675932b088cae34c80869ef0e5aea4060a4f414e444100691d554d10751f3f666666666666ee"
        "3f00000000008039400000000000005e407b14ae47e17a943f9a99999999f9584006020000000000"
        "e05840027b14ae47e17a843f020000000000002840020000000000003e4000"
    ),
    "LpStatus": (
        "c30116e2c28b30e191744836663163326134652d386433622d346335612d396537662d3061316232"
        "6333643465356680869ef0e5aea406084c4d415802613255302aa9233fcdccccccccccec3f000000"
        "00000048400000000000000000b81e85eb51b89e3f0000000000505840"
    ),
    "PnlChange": (
        "c3013e13eae2244854d880869ef0e5aea40614323032362d30312d3230000000000018b0c0000000"
        "0000c083c0000000000090b2c0040c45555255534400000000009095c00000000000c082c0000000"
        "0000f09ec00c5553444a505900000000805da8c000000000000040c000000000809da8c000020655"
        "534400000000009095c00000000000c082c00000000000f09ec000020a41424f4f4b0000000000a0"
        "9e4000000000000000000000000000a09e400008020c5841555553440000020c45555253454b00"
    ),
    "PositionState": (
        "c301ce89fc23365d248a4830643562396636652d326331612d346237642d386533662d3961306231"
        "6332643365346680869ef0e5aea4060e706f732d372d31060c6163632d31320c4742505553440200"
        "0000000088c34052b81e85eb51f43f029fcdaacfd556f43f00020a4f414e444100020000000000c0"
        "42c00200000000008028c0"
    ),
    "Quote": (
        "c301d7690b5a1b7688064833653264316330622d613938372d343635342d623332312d3066656463"
        "6261393837363580869ef0e5aea4060c45555255534424b9fc87f45bf13f956588635d5cf13f020a"
        "4f414e4441"
    ),
    "RoutingDecision": (
        "c30111affca2c303dc8f4837613662356334642d336532662d346131622d396338642d3765366635"
        "6134623363326480869ef0e5aea4060c4555525553440000000000006af84000020a4f414e444100"
        "000000000029402d431cebe2361a3ff168e388b5f8f4be025c8fc2f5285cf13f020e6f72642d372d"
        "310001"
    ),
    "RoutingSummary": (
        "c301d3f62f80f7c73e8a80e899c5e5aea4068084b6fee5aea4061400000000e0c820410000000010"
        "382241080c00000000000044400000000000c04640040a4f414e444106084c4d4158020000000000"
        "0000284000000000000044400000000000c04b4000000000000000800604"
    ),
    "ServiceAlert": (
        "c301760be1239a134fdf4831623263336434652d356636302d343731382d323933612d3462356336"
        "6437653866393080869ef0e5aea40606021e4c5020446973636f6e6e6563746564284c4d41582073"
        "746f707065642071756f74696e6716416c657274456e67696e65022c436865636b20746865204c4d"
        "41582073657373696f6e00"
    ),
    "TradeMarkout": (
        "c3013514319548e2f1834837613662356334642d336532662d346131622d396338642d3765366635"
        "61346233633264020e6f72642d372d3180869ef0e5aea4060c4555525553440000000000006af840"
        "00020a4f414e4441020c6163632d3132cd3b4ed1915cf13f025c8fc2f5285cf13f08d00f904ee0d4"
        "03c0a907000802cd3b4ed1915cf13f02af946588635df13f02af946588635df13f00000802000000"
        "0000000000022d431cebe2362abf022d431cebe2362abf00000802000000000000000002e950e1db"
        "887dfdbf02e950e1db887dfdbf0000080200000000000000000200000000000034c0020000000000"
        "0034c00000080000020400"
    ),
    "AccountToxicity": (
        "c30196e27facfc6d39f380869ef0e5aea4060c6163632d3132f00108d00f904ee0d403c0a9070008"
        "f001f001ee01ec01000802333333333333c33f025c8fc2f5285cdfbf029a9999999999d9bf000008"
        "02ec51b81e85ebf93f023d0ad7a3703d15c00252b81e85eb5111c0000008cdcccccccc4c68409a99"
        "999999e983c05c8fc2f5281a80c000000000000000000008020000000000003940020000000000e0"
        "51400200000000009050400000904ea4013e02e3a59bc420301340025c8fc2f528fc574006800102"
        "0000000000002940"
    ),
    "LpMarkout": (
        "c30198d2f25fa53f11dc80869ef0e5aea406084c4d4158a60408d00f904ee0d403c0a9070008f001"
        "f001ee01ec01000802333333333333c33f025c8fc2f5285cdfbf029a9999999999d9bf00000802ec"
        "51b81e85ebf93f023d0ad7a3703d15c00252b81e85eb5111c0000008cdcccccccc4c68409a999999"
        "99e983c05c8fc2f5281a80c000000000000000000008020000000000003940020000000000e05140"
        "0200000000009050400000d605a001900198041c1e02cdccccccccccec3f027aa072760bbfaa3f02"
        "5c8fc2f528dc2e4001"
    ),
    "MarkoutCurve": (
        "c30121075ac24ca96cb380869ef0e5aea406022a02d00f08d00f904ee0d403c0a9070008f001f001"
        "ee01ec01000802333333333333c33f025c8fc2f5285cdfbf029a9999999999d9bf00000802ec51b8"
        "1e85ebf93f023d0ad7a3703d15c00252b81e85eb5111c0000008cdcccccccc4c68409a99999999e9"
        "83c05c8fc2f5281a80c000000000000000000008020000000000003940020000000000e051400200"
        "000000009050400000"
    ),
    "RoutingAdvice": (
        "c301700b9677689efbcd80869ef0e5aea4060c6163632d31320006025c8fc2f528fc5740f001da01"
        "746f78696320666c6f773a2073636f72652039362061742035733b20636c69656e7420776f6e2038"
        "32206f66203131332064656369646564207472616465732061742035732c206d65616e206d61726b"
        "6f7574202d302e343920627073206f7665722031323020747261646573"
    ),
    "AlertAction": (
        "c301381c3bd5013659894863376633613165322d356236642d346338652d396630612d3162326333"
        "643465356636302c32303236303131392d3130333034352d6162633132330252022c596c71336358"
        "6630516e4b7831735639614237743277060864616e61020c6465616c65720080869ef0e5aea40602"
        "4a486564676520696e20706c61636520e28093206261636b20616674657220746865206669780002"
        "80ceeca4f3aea406000072"
    ),
}


# The golden records as the previous version of each evolved schema wrote them
# (schemas/avro/previous/): a compacted topic keeps such records, so they must still decode.
PREVIOUS_GOLDEN_HEX: dict[str, str] = {
    "ExposureChange": (
        "c3011decd625ab5702a880869ef0e5aea406000000000088f340000000000088f34000000000006a"
        "f840000000000000544002040c45555255534400000000006ae8400c47425055534400000000004c"
        "dd4000020a4f414e4441000000000088f34000020a41424f4f4b000000000088f340000606455552"
        "00000000407dea400647425000000000809ae24006555344000000000088f3c00004"
    ),
    "PositionState": (
        "c30170b3a7d4d1d653d74830643562396636652d326331612d346237642d386533662d3961306231"
        "6332643365346680869ef0e5aea4060e706f732d372d31060c6163632d31320c4742505553440200"
        "0000000088c34052b81e85eb51f43f029fcdaacfd556f43f00020a4f414e444100"
    ),
}


def test_golden_records_cover_every_schema() -> None:
    assert sorted(GOLDEN_RECORDS) == sorted(GOLDEN_HEX) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_golden_record_encodes_to_the_stored_bytes(name: str) -> None:
    assert CODEC.encode(name, GOLDEN_RECORDS[name]).hex() == GOLDEN_HEX[name]


@pytest.mark.parametrize("name", NAMES)
def test_message_starts_with_marker_and_spec_fingerprint(name: str) -> None:
    """The first 10 bytes are C3 01 and the little-endian CRC-64-AVRO of the canonical form."""
    data = CODEC.encode(name, GOLDEN_RECORDS[name])
    assert data[:2] == b"\xc3\x01"
    assert data[2:HEADER_LEN] == wire_fingerprint(canonical_form(RAW[name]))


@pytest.mark.parametrize("name", NAMES)
def test_stored_golden_bytes_decode_to_the_golden_record(name: str) -> None:
    decoded = CODEC.decode(bytes.fromhex(GOLDEN_HEX[name]))
    assert decoded.schema == name
    assert decoded.writer is CODEC.schema(name)
    assert comparable(RAW[name], decoded.record) == comparable(RAW[name], GOLDEN_RECORDS[name])


# The fields each evolved schema added, with their defaults (what an old record reads as).
ADDED_FIELDS: dict[str, dict[str, Any]] = {
    "PositionState": {"realizedPnl": None, "realizedPnlDelta": None},
    "ExposureChange": {
        "basis": None,
        "basisExposure": None,
        "basisBySymbol": {},
        "basisByCurrency": {},
        "bbookNetBySymbol": {},
        "bbookNetByCurrency": {},
        "bbookNetLong": None,
        "bbookNetShort": None,
    },
}


@pytest.mark.parametrize("name", sorted(PREVIOUS_GOLDEN_HEX))
def test_a_previous_versions_record_decodes_with_the_added_fields_at_their_defaults(
    name: str,
) -> None:
    """Old writer, new reader: the record the previous schema wrote (its writer schema is kept
    in schemas/avro/previous/) reads as the current schema, the added fields at their
    defaults."""
    data = bytes.fromhex(PREVIOUS_GOLDEN_HEX[name])
    decoded = CODEC.decode(data)
    assert decoded.schema == name
    assert decoded.writer is not CODEC.schema(name)
    assert data[2:HEADER_LEN] == decoded.writer.fingerprint
    expected = {**{k: v for k, v in GOLDEN_RECORDS[name].items() if k not in ADDED_FIELDS[name]}}
    expected.update(ADDED_FIELDS[name])
    assert comparable(RAW[name], decoded.record) == comparable(RAW[name], expected)


@pytest.mark.parametrize("name", sorted(PREVIOUS_GOLDEN_HEX))
def test_a_current_record_decodes_with_a_reader_of_the_previous_version(name: str) -> None:
    """New writer, old reader: a process that has only the previous schema as its reader and
    the current one as a known writer reads today's record without the added fields."""
    previous = load_schema_file(SCHEMA_DIR / "previous" / f"{name}.1.avsc")
    old_reader = Codec([previous], [CODEC.schema(name)])
    decoded = old_reader.decode(CODEC.encode(name, GOLDEN_RECORDS[name]))
    assert decoded.schema == name
    expected = {k: v for k, v in GOLDEN_RECORDS[name].items() if k not in ADDED_FIELDS[name]}
    assert decoded.record == expected


def test_decoded_timestamps_are_exact_int_microseconds_since_the_epoch() -> None:
    """timestamp-micros fields decode as ints (exact, and cheaper than datetimes)."""
    record = CODEC.decode(bytes.fromhex(GOLDEN_HEX["Quote"])).record
    event_time = record["eventTime"]
    assert type(event_time) is int
    expected = datetime(2026, 1, 19, 10, 30, 45, 123456, tzinfo=UTC)
    assert event_time == (expected - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def test_a_timestamp_beyond_year_9999_decodes_as_its_int_and_fails_validation() -> None:
    """The codec returns what was written (no datetime overflow); event validation rejects it."""
    data = POSITION_HEADER + position_body(event_time=2**62)
    record = CODEC.decode(data).record
    assert record["eventTime"] == 2**62
    with pytest.raises(events.InvalidEvent) as info:
        events.validate("PositionState", record)
    assert info.value.field == "eventTime"


# --- round trips ------------------------------------------------------------------------------

RECORD_STRATEGIES = {name: records_for(RAW[name]) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
@PROPERTY
@given(data=st.data())
def test_round_trip_preserves_every_value(name: str, data: st.DataObject) -> None:
    """decode(encode(r)) == r, doubles compared bit for bit (-0.0, NaN), timestamps as micros."""
    record = data.draw(RECORD_STRATEGIES[name], label="record")
    encoded = CODEC.encode(name, record)
    decoded = CODEC.decode(encoded, expect=[name])
    assert decoded.schema == name
    assert comparable(RAW[name], decoded.record) == comparable(RAW[name], record)
    # a decoded record (datetimes and all) encodes back to the very same bytes
    assert CODEC.encode(name, decoded.record) == encoded


GENERAL_SCHEMA = {
    "type": "record",
    "name": "Outer",
    "namespace": "test.strategies",
    "fields": [
        {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BUY", "SELL"]}},
        {"name": "sideAgain", "type": "Side"},
        {"name": "sideFull", "type": ["null", "test.strategies.Side"]},
        {
            "name": "inner",
            "type": {"type": "record", "name": "Inner", "fields": [{"name": "x", "type": "long"}]},
        },
        {"name": "innerRef", "type": ["null", "Inner"]},
        {"name": "tags", "type": {"type": "map", "values": {"type": "array", "items": "string"}}},
        {"name": "ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "f", "type": "float"},
        {"name": "b", "type": "bytes"},
        {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
        {"name": "ok", "type": "boolean"},
        {"name": "n", "type": "int"},
        {"name": "choice", "type": ["null", "string", "double", "long"]},
    ],
}


@settings(PROPERTY, max_examples=100)
@given(data=st.data())
def test_strategies_cover_every_type_our_schemas_may_grow(data: st.DataObject) -> None:
    """records_for() and comparable() handle named references, nesting, fixed, float, millis."""
    codec = Codec([schema_info(GENERAL_SCHEMA)])
    record = data.draw(records_for(json.dumps(GENERAL_SCHEMA)))
    decoded = codec.decode(codec.encode("Outer", record)).record
    assert comparable(GENERAL_SCHEMA, decoded) == comparable(GENERAL_SCHEMA, record)


# --- schema evolution (Avro spec, "Schema Resolution") -----------------------------------------


def _quote_v2() -> dict[str, Any]:
    raw = copy.deepcopy(RAW["Quote"])
    raw["fields"].append(
        {"name": "venue", "type": "string", "default": "LDN", "doc": "Trading venue."}
    )
    return raw


QUOTE_V1 = CODEC.schema("Quote")
QUOTE_V2 = schema_info(_quote_v2())
QUOTE_V1_RECORD = GOLDEN_RECORDS["Quote"]


def encode_v1(record: dict[str, Any]) -> bytes:
    return CODEC.encode("Quote", record)


def test_old_writer_new_reader_fills_the_new_field_with_its_default() -> None:
    consumer = Codec(readers=[QUOTE_V2], writers=[QUOTE_V1])
    decoded = consumer.decode(encode_v1(QUOTE_V1_RECORD))
    assert decoded.record["venue"] == "LDN"
    assert decoded.writer.fingerprint == QUOTE_V1.fingerprint
    assert comparable(RAW["Quote"], {k: v for k, v in decoded.record.items() if k != "venue"}) == (
        comparable(RAW["Quote"], QUOTE_V1_RECORD)
    )


def test_new_writer_old_reader_drops_the_new_field() -> None:
    producer = Codec(readers=[QUOTE_V2])
    data = producer.encode("Quote", {**QUOTE_V1_RECORD, "venue": "NY4"})
    assert data[2:HEADER_LEN] == QUOTE_V2.fingerprint != QUOTE_V1.fingerprint
    consumer = Codec(readers=[QUOTE_V1], writers=[QUOTE_V2])
    decoded = consumer.decode(data)
    assert "venue" not in decoded.record
    assert decoded.writer.fingerprint == QUOTE_V2.fingerprint
    assert comparable(RAW["Quote"], decoded.record) == comparable(RAW["Quote"], QUOTE_V1_RECORD)


def test_register_writer_makes_an_unknown_version_decodable() -> None:
    data = Codec(readers=[QUOTE_V2]).encode("Quote", {**QUOTE_V1_RECORD, "venue": "NY4"})
    consumer = Codec.from_directory()
    with pytest.raises(UnknownFingerprint) as err:
        consumer.decode(data)
    assert err.value.reason == "unknown-fingerprint"
    assert err.value.fingerprint_hex == QUOTE_V2.fingerprint.hex()
    consumer.register_writer(QUOTE_V2)
    assert consumer.decode(data).record["symbol"] == "EURUSD"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda fields: fields[2].update(type="double"), id="string-to-double"),
        pytest.param(
            lambda fields: fields.append({"name": "venue", "type": "string", "doc": "d"}),
            id="new-field-without-default",
        ),
        pytest.param(lambda fields: fields[3].update(type="string"), id="double-to-string"),
    ],
)
def test_incompatible_reader_raises_incompatible_schema(
    change: Callable[[list[dict[str, Any]]], None],
) -> None:
    raw = copy.deepcopy(RAW["Quote"])
    change(raw["fields"])
    consumer = Codec(readers=[schema_info(raw)], writers=[QUOTE_V1])
    with pytest.raises(IncompatibleSchema) as err:
        consumer.decode(encode_v1(QUOTE_V1_RECORD))
    assert err.value.reason == "incompatible-schema"


# --- bad input --------------------------------------------------------------------------------


def zigzag(n: int) -> bytes:
    """Avro's zig-zag varint encoding of a long."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def avro_str(raw: bytes) -> bytes:
    return zigzag(len(raw)) + raw


def dbl(x: float) -> bytes:
    return struct.pack("<d", x)


QUOTE_HEADER = CODEC.schema("Quote").header
POSITION_HEADER = CODEC.schema("PositionState").header


def quote_body(
    *, event_id: bytes = avro_str(b"e1"), lp: bytes = zigzag(1) + avro_str(b"OANDA")
) -> bytes:
    return event_id + zigzag(T0) + avro_str(b"EURUSD") + dbl(1.1) + dbl(1.2) + lp


def position_body(*, side_index: int = 0, event_time: int = T0) -> bytes:
    return (
        avro_str(b"e1")
        + zigzag(event_time)
        + avro_str(b"p1")
        + zigzag(1)
        + avro_str(b"a1")
        + avro_str(b"EURUSD")
        + zigzag(side_index)  # Side: BUY, SELL
        + dbl(1000.0)
        + dbl(1.1)
        + zigzag(0)  # currentPrice: null
        + zigzag(1)  # Book: BBOOK
        + zigzag(0)  # lp: null
        + zigzag(0)  # PositionStatus: OPEN
        + zigzag(0)  # realizedPnl: null
        + zigzag(0)  # realizedPnlDelta: null
    )


def test_hand_built_bodies_are_valid() -> None:
    """The bad-input cases below are each one change away from these valid messages."""
    assert CODEC.decode(QUOTE_HEADER + quote_body()).record["lp"] == "OANDA"
    assert CODEC.decode(POSITION_HEADER + position_body()).record["side"] == "BUY"
    assert CODEC.decode(POSITION_HEADER + position_body(side_index=1)).record["side"] == "SELL"


BAD_INPUTS = [
    pytest.param(b"", NotSingleObject, id="empty"),
    pytest.param(b"\xc3", NotSingleObject, id="one-byte"),
    pytest.param(b"\xc3\x01", NotSingleObject, id="marker-only"),
    pytest.param(QUOTE_HEADER[:9], NotSingleObject, id="header-one-byte-short"),
    pytest.param(b"\xc3\x02" + QUOTE_HEADER[2:] + quote_body(), NotSingleObject, id="wrong-marker"),
    pytest.param(
        b"\x01\xc3" + QUOTE_HEADER[2:] + quote_body(), NotSingleObject, id="marker-swapped"
    ),
    pytest.param(b"{}", NotSingleObject, id="json"),
    pytest.param(QUOTE_HEADER, TruncatedMessage, id="header-only"),
    pytest.param(MAGIC + bytes(8) + quote_body(), UnknownFingerprint, id="unknown-fingerprint"),
    pytest.param(
        MAGIC + QUOTE_HEADER[:1:-1] + quote_body(),  # the fingerprint's bytes reversed
        UnknownFingerprint,
        id="fingerprint-big-endian",
    ),
    pytest.param(
        QUOTE_HEADER + quote_body(event_id=zigzag(-2) + b"e1"),
        CorruptMessage,
        id="negative-string-length",
    ),
    pytest.param(
        QUOTE_HEADER + quote_body(event_id=zigzag(2**40) + b"e1"),
        TruncatedMessage,
        id="string-length-beyond-message",
    ),
    pytest.param(
        QUOTE_HEADER + quote_body(event_id=zigzag(2**62) + b"e1"),
        TruncatedMessage,
        id="huge-string-length",
    ),
    pytest.param(
        QUOTE_HEADER + quote_body(lp=zigzag(2) + avro_str(b"OANDA")),
        CorruptMessage,
        id="union-index-2-of-2",
    ),
    pytest.param(
        QUOTE_HEADER + quote_body(lp=zigzag(-1) + avro_str(b"OANDA")),
        CorruptMessage,
        id="union-index-negative",
    ),
    pytest.param(
        POSITION_HEADER + position_body(side_index=2), CorruptMessage, id="enum-index-2-of-2"
    ),
    pytest.param(
        POSITION_HEADER + position_body(side_index=-1), CorruptMessage, id="enum-index-negative"
    ),
    pytest.param(
        QUOTE_HEADER + quote_body(event_id=avro_str(b"\xff\xfe")),
        CorruptMessage,
        id="invalid-utf8",
    ),
    pytest.param(
        QUOTE_HEADER + quote_body(event_id=avro_str(b"\xed\xa0\x80")),
        CorruptMessage,
        id="utf8-encoded-surrogate",
    ),
    pytest.param(QUOTE_HEADER + quote_body() + b"\x00", CorruptMessage, id="one-trailing-byte"),
    pytest.param(
        QUOTE_HEADER + quote_body() + quote_body(), CorruptMessage, id="two-records-concatenated"
    ),
]


@pytest.mark.parametrize(("data", "expected"), BAD_INPUTS)
def test_bad_input_raises_the_specific_decode_error(
    data: bytes, expected: type[DecodeError]
) -> None:
    with pytest.raises(DecodeError) as err:
        CODEC.decode(data)
    assert type(err.value) is expected, f"{type(err.value).__name__}: {err.value}"
    assert err.value.reason == expected.reason


def test_reason_codes_are_distinct_and_stable() -> None:
    assert {
        cls.__name__: cls.reason
        for cls in (
            NotSingleObject,
            UnknownFingerprint,
            UnexpectedSchema,
            IncompatibleSchema,
            TruncatedMessage,
            CorruptMessage,
        )
    } == {
        "NotSingleObject": "not-single-object",
        "UnknownFingerprint": "unknown-fingerprint",
        "UnexpectedSchema": "unexpected-schema",
        "IncompatibleSchema": "incompatible-schema",
        "TruncatedMessage": "truncated",
        "CorruptMessage": "corrupt",
    }


@pytest.mark.parametrize("name", NAMES)
def test_every_strict_prefix_of_a_body_is_reported_as_truncated(name: str) -> None:
    """Cut the golden message after each body byte: always TruncatedMessage, never another."""
    data = CODEC.encode(name, GOLDEN_RECORDS[name])
    wrong: list[str] = []
    for end in range(HEADER_LEN, len(data)):
        try:
            CODEC.decode(data[:end])
        except TruncatedMessage:
            continue
        except DecodeError as exc:
            wrong.append(f"{end - HEADER_LEN} body bytes: {type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{end - HEADER_LEN} body bytes: decoded")
    assert not wrong, f"{len(wrong)} of {len(data) - HEADER_LEN} cuts misreported:\n" + "\n".join(
        wrong
    )


@pytest.mark.parametrize("name", NAMES)
@PROPERTY
@given(body=st.binary(max_size=120))
def test_random_body_after_a_valid_header_decodes_or_raises_decode_error(
    name: str, body: bytes
) -> None:
    """Garbage never escapes as a foreign exception (IndexError, struct.error, ...)."""
    try:
        decoded = CODEC.decode(CODEC.schema(name).header + body)
    except DecodeError as exc:
        assert exc.reason != DecodeError.reason
    else:
        assert isinstance(decoded.record, dict)
        assert set(decoded.record) == {f["name"] for f in RAW[name]["fields"]}


def test_expect_rejects_a_schema_not_listed() -> None:
    data = CODEC.encode("Quote", GOLDEN_RECORDS["Quote"])
    with pytest.raises(UnexpectedSchema) as err:
        CODEC.decode(data, expect=["RoutingDecision", "LpStatus"])
    assert err.value.reason == "unexpected-schema"
    assert CODEC.decode(data, expect=["RoutingDecision", "Quote"]).schema == "Quote"


def test_known_writer_without_a_reader_of_its_name_is_unexpected() -> None:
    consumer = Codec(readers=[CODEC.schema("LpStatus")], writers=[QUOTE_V1])
    with pytest.raises(UnexpectedSchema):
        consumer.decode(CODEC.encode("Quote", QUOTE_V1_RECORD))


def test_decode_accepts_bytearray_and_memoryview() -> None:
    data = CODEC.encode("Quote", QUOTE_V1_RECORD)
    assert CODEC.decode(bytearray(data)).record == CODEC.decode(data).record
    assert CODEC.decode(memoryview(data)).record == CODEC.decode(data).record


# --- encode errors ----------------------------------------------------------------------------


def _without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


ENCODE_ERRORS = [
    pytest.param("Quote", {**GOLDEN_RECORDS["Quote"], "symbol": 123}, id="int-for-string"),
    pytest.param("Quote", {**GOLDEN_RECORDS["Quote"], "bid": "1.1"}, id="string-for-double"),
    pytest.param(
        "PositionState", {**GOLDEN_RECORDS["PositionState"], "version": 1.5}, id="fraction-for-long"
    ),
    pytest.param("Quote", {**GOLDEN_RECORDS["Quote"], "eventId": None}, id="null-for-string"),
    pytest.param("Quote", {**GOLDEN_RECORDS["Quote"], "lp": 5}, id="int-for-optional-string"),
    pytest.param("Quote", _without(GOLDEN_RECORDS["Quote"], "bid"), id="missing-required"),
    pytest.param("Quote", {**GOLDEN_RECORDS["Quote"], "venue": "x"}, id="extra-field"),
    pytest.param("Quote", {**GOLDEN_RECORDS["Quote"], "eventTime": 2**63}, id="long-overflow"),
    pytest.param("Quote", {**GOLDEN_RECORDS["Quote"], "symbol": "\ud800"}, id="lone-surrogate"),
    pytest.param(
        "PositionState", {**GOLDEN_RECORDS["PositionState"], "side": "HOLD"}, id="unknown-enum"
    ),
    pytest.param(
        "Alert", {**GOLDEN_RECORDS["Alert"], "actionItems": [1, 2]}, id="array-of-wrong-items"
    ),
    pytest.param(
        "ExposureChange",
        {**GOLDEN_RECORDS["ExposureChange"], "bySymbol": {"EURUSD": "lots"}},
        id="map-of-wrong-values",
    ),
    pytest.param("Quote", None, id="none-record"),
]


@pytest.mark.parametrize(("name", "record"), ENCODE_ERRORS)
def test_encode_error_names_the_schema(name: str, record: Any) -> None:
    """Each bad record raises EncodeError naming the schema, never another exception type."""
    with pytest.raises(EncodeError, match=rf"^{name}: "):
        CODEC.encode(name, record)


def test_encode_accepts_a_missing_field_that_has_a_default() -> None:
    data = CODEC.encode("Quote", _without(GOLDEN_RECORDS["Quote"], "lp"))
    assert CODEC.decode(data).record["lp"] is None


def test_codec_reuses_the_same_schema_objects() -> None:
    """default_codec() parses the .avsc files once per process."""
    assert default_codec() is CODEC
    assert isinstance(CODEC.schema("Quote"), SchemaInfo)
    assert CODEC.names == NAMES
