"""Publish derived messages (what the worker writes) into the derived topics, for the
TypeScript client's tests against a real bridge and broker.

Records are Avro single-object encoded with ``schemas.codec`` and sent with aiokafka, as
``tests/ws_bridge/server/test_server_kafka.py`` does. The topic names come from ``RTX_TOPIC_PREFIX``
and the broker from ``KAFKA_BOOTSTRAP_SERVERS`` (``streams.settings.KafkaSettings``).

One-shot use (prints one JSON line per command, then exits)::

    python produce_derived.py alerts --count 5 --start 0
    python produce_derived.py exposure | lp | routing | summary

Commands: ``{"kind": "alerts", "count": N, "start": K}`` (alerts ``ts-client-K`` ...; with
``"eventTimeUs": T`` (and ``"stepUs": S``, default 1 s) the i-th has event time ``T + i*S``,
else now),
``{"kind": "routing", "volume": V}`` (V marks the decision),
``{"kind": "exposure"|"lp"|"summary"}``.

Serve mode (the node tests keep one process and send commands as JSON lines on stdin; each
command is answered with one JSON line ``{"ok": true, ...}`` once the broker acknowledged
every record, or ``{"ok": false, "error": "..."}``)::

    python produce_derived.py serve
    {"kind": "alerts", "count": 3, "start": 10}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.codec import default_codec
from streams.settings import KafkaSettings
from streams.topics import topic_name

CODEC = default_codec()
KINDS = ("alerts", "exposure", "lp", "routing", "summary")


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def alert_record(n: int, event_us: int | None = None) -> dict[str, Any]:
    """Alert number ``n``: its id and title carry ``n`` so the tests can check order."""
    return {
        "id": f"ts-client-{n:06d}",
        "eventTime": _now_us() if event_us is None else event_us,
        "severity": "critical",
        "category": "exposure",
        "title": f"Test alert {n}",
        "message": "Current exposure is at 92.0% of limit",
        "source": "ExposureMonitor",
        "actionItems": ["Review open positions"],
    }


def exposure_record() -> dict[str, Any]:
    return {
        "eventTime": _now_us(),
        "totalExposure": 80000.0,
        "netExposure": 80000.0,
        "exposureLimit": 100000.0,
        "utilizationPct": 80.0,
        "riskLevel": "medium",
        "bySymbol": {"EURUSD": 50000.0, "GBPUSD": 30000.0},
        "byLP": {"OANDA": 80000.0},
        "byBook": {"ABOOK": 80000.0},
        "byCurrency": {"EUR": 50000.0, "GBP": 30000.0, "USD": -80000.0},
        "positionCount": 3,
    }


def lp_record() -> dict[str, Any]:
    return {
        "eventTime": _now_us(),
        "lpName": "OANDA",
        "status": "connected",
        "avgSpread": 0.00012,
        "executionQuality": 0.97,
        "latencyMs": 42.0,
        "quotesPerSecond": 120.0,
        "rejectRate": 0.01,
        "uptime": 99.9,
        "statusTransitions": 2,
        "observedUptimePct": 99.95,
        "rollingRejectRate": 0.012,
        "fillLatencyP50Ms": 38.0,
        "fillLatencyP95Ms": 88.0,
        "fillLatencyP99Ms": None,
    }


def routing_record(volume: float = 10000.0) -> dict[str, Any]:
    return {
        "eventId": "7f1c2a9e-0000-4000-8000-000000000001",
        "eventTime": _now_us(),
        "symbol": "EURUSD",
        "side": "BUY",
        "volume": volume,
        "routingDecision": "ABOOK",
        "lpSelected": "OANDA",
        "executionTimeMs": 45.0,
        "spread": 0.0001,
        "slippage": -0.00002,
    }


def summary_record() -> dict[str, Any]:
    end = _now_us()
    return {
        "windowStart": end - 60_000_000,
        "windowEnd": end,
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
    }


# kind -> (logical topic, schema, key, record builder)
SINGLES = {
    "exposure": ("exposure", "ExposureChange", "global", exposure_record),
    "lp": ("lp_performance", "LpPerformance", "OANDA", lp_record),
    "routing": ("routing_metrics", "RoutingDecision", "EURUSD", routing_record),
    "summary": ("routing_metrics", "RoutingSummary", "window", summary_record),
}


async def run(
    producer: AIOKafkaProducer, kafka: KafkaSettings, cmd: dict[str, Any]
) -> dict[str, Any]:
    """Produce what one command asks for; the answer names what was sent."""
    kind = cmd.get("kind")
    if kind == "alerts":
        count, start = int(cmd.get("count", 1)), int(cmd.get("start", 0))
        if count < 1 or start < 0:
            raise ValueError("alerts needs count >= 1 and start >= 0")
        first_us, step_us = cmd.get("eventTimeUs"), int(cmd.get("stepUs", 1_000_000))
        topic = topic_name("alerts", kafka)
        offsets = []
        for n in range(start, start + count):
            at = None if first_us is None else int(first_us) + (n - start) * step_us
            record = alert_record(n, at)
            meta = await producer.send_and_wait(
                topic, CODEC.encode("Alert", record), key=record["id"].encode()
            )
            offsets.append(meta.offset)
        return {
            "ok": True,
            "kind": kind,
            "ids": [alert_record(n)["id"] for n in range(start, start + count)],
            "offsets": offsets,
        }
    if kind in SINGLES:
        logical, schema, key, build = SINGLES[kind]
        if kind != "routing" and "volume" in cmd:
            raise ValueError("volume is only for kind routing")
        record = routing_record(float(cmd["volume"])) if "volume" in cmd else build()
        meta = await producer.send_and_wait(
            topic_name(logical, kafka), CODEC.encode(schema, record), key=key.encode()
        )
        return {"ok": True, "kind": kind, "offset": meta.offset}
    raise ValueError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")


async def serve(producer: AIOKafkaProducer, kafka: KafkaSettings) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        if not line.strip():
            continue
        try:
            answer = await run(producer, kafka, json.loads(line))
        except Exception as exc:  # noqa: BLE001 - reported to the caller, who fails the test
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)


async def main(args: argparse.Namespace) -> int:
    kafka = KafkaSettings.from_env()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=1)
    print(
        f"produce_derived: broker {kafka.bootstrap_servers}, prefix {kafka.topic_prefix!r}",
        file=sys.stderr,
    )
    await producer.start()
    try:
        if args.kind == "serve":
            print(json.dumps({"ok": True, "ready": True}), flush=True)
            await serve(producer, kafka)
        else:
            print(
                json.dumps(
                    await run(
                        producer,
                        kafka,
                        {"kind": args.kind, "count": args.count, "start": args.start},
                    )
                )
            )
    finally:
        await producer.stop()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="publish derived messages for the TS client tests")
    parser.add_argument("kind", choices=(*KINDS, "serve"))
    parser.add_argument("--count", type=int, default=1, help="alerts: how many")
    parser.add_argument("--start", type=int, default=0, help="alerts: number of the first one")
    sys.exit(asyncio.run(main(parser.parse_args())))
