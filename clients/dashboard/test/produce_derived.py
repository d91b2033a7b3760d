"""Produce derived records for the dashboard's browser test, as the worker would write them.

Reads one JSON command per line on stdin and answers one JSON line on stdout once the broker
acknowledged it (so the test knows a record is in Kafka before it looks at the page)::

    {"topic": "exposure", "schema": "ExposureChange", "record": {...}}
    -> {"ok": true, "topic": "t1a2b.exposure", "offset": 0}
    {"topic": "routing_metrics", "schema": "RoutingDecision", "records": [{...}, ...]}
    -> {"ok": true, "topic": "t1a2b.routing.metrics", "offset": <last>, "count": N}

``records`` sends a burst: every record is queued at once, then all acknowledgements are awaited.

``topic`` is a logical name of streams/topics.py (``exposure``, ``lp_performance``,
``routing_metrics``, ``alerts``); the topic prefix and broker come from ``RTX_TOPIC_PREFIX`` and
``KAFKA_BOOTSTRAP_SERVERS``. ``eventTime`` defaults to now (microseconds); timestamps given as
RFC 3339 strings (``eventTime``, ``windowStart``, ``windowEnd``) are converted. Records are
encoded with the project's Avro codec (schemas.codec), so the bridge decodes exactly what the
worker would have written. A bad command answers ``{"ok": false, "error": ...}`` and the helper
carries on. Run from the repository root with the project's virtualenv::

    .venv/bin/python clients/dashboard/test/produce_derived.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.codec import default_codec
from streams.settings import KafkaSettings
from streams.topics import topic_name

TIME_FIELDS = ("eventTime", "windowStart", "windowEnd")


def _micros(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return int(parsed.timestamp() * 1_000_000)
    raise ValueError(f"a time must be microseconds or RFC 3339, got {value!r}")


def _prepared(schema: str, given: dict[str, Any]) -> dict[str, Any]:
    record = dict(given)
    if "eventTime" not in record and schema != "RoutingSummary":
        record["eventTime"] = int(time.time() * 1_000_000)
    for name in TIME_FIELDS:
        if name in record:
            record[name] = _micros(record[name])
    return record


def _key(record: dict[str, Any]) -> bytes:
    for name in ("lpName", "id", "symbol"):
        if isinstance(record.get(name), str):
            return str(record[name]).encode()
    return b"global"


async def main() -> int:
    settings = KafkaSettings.from_env(os.environ)
    codec = default_codec()
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=1)
    await producer.start()
    print(f"produce_derived: connected to {settings.bootstrap_servers}", file=sys.stderr)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return 0
            if not line.strip():
                continue
            try:
                command = json.loads(line)
                schema = command["schema"]
                topic = topic_name(command["topic"], settings)
                records = command["records"] if "records" in command else [command["record"]]
                futures = []
                for given in records:
                    record = _prepared(schema, given)
                    value = codec.encode(schema, record)
                    futures.append(await producer.send(topic, value, key=_key(record)))
                metas = await asyncio.gather(*futures)
                answer = {
                    "ok": True,
                    "topic": topic,
                    "offset": metas[-1].offset,
                    "count": len(metas),
                }
            except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps(answer), flush=True)
    finally:
        await producer.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
