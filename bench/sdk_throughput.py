"""SDK publish throughput from one process to a broker, against a raw aiokafka baseline.

    python bench/sdk_throughput.py [--events 200000] [--rounds 3]

Both sides use the same producer settings (acks=all, idempotent, the SDK's linger and batch
size) and send to topics of their own, created for the run. The raw baseline sends bytes that
were Avro-encoded before the clock starts; the SDK path validates, fills in ids and times,
encodes and sends. Rounds alternate (raw, SDK, raw, SDK, ...) so both see the same machine
state; the median of each is reported with the ratio SDK / raw.

Needs a broker: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092; ``rtx-analytics kafka start``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import statistics
import sys
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import murmur2

from schemas.codec import default_codec
from streams import events
from streams.sdk import Publisher
from streams.settings import KafkaSettings
from streams.topics import apply_topics, topic_name

SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "USDCHF", "EURCHF", "XAUUSD", "AUDUSD", "NZDUSD")
LPS = ("OANDA", "LMAX", "Currenex")


def decision_args(i: int) -> dict[str, object]:
    abook = i % 5 < 2
    return {
        "symbol": SYMBOLS[i % len(SYMBOLS)],
        "side": "BUY" if i % 2 else "SELL",
        "volume": 1000.0 * (1 + i % 50),
        "decision": "ABOOK" if abook else "BBOOK",
        "lp": LPS[i % 3] if abook else None,
        "execution_time_ms": 10.0 + i % 40,
        "spread": 0.0001,
        "slippage": 0.00001 * ((i % 7) - 3),
    }


def progress(label: str, i: int, n: int) -> None:
    if i % 50_000 == 0 and i:
        print(f"    {label}: {i}/{n}", file=sys.stderr, flush=True)


async def run_raw(settings: KafkaSettings, n: int) -> float:
    codec = default_codec()
    topic = topic_name("routing_decisions", settings)
    payloads = []
    for i in range(n):
        record = events.routing_decision(**decision_args(i))  # type: ignore[arg-type]
        payloads.append((record["symbol"].encode(), codec.encode("RoutingDecision", record)))
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=settings.producer_linger_ms,
        max_batch_size=settings.producer_max_batch_bytes,
    )
    await producer.start()
    try:
        start = time.perf_counter()
        for i, (key, value) in enumerate(payloads):
            await producer.send(topic, value=value, key=key)
            progress("raw", i, n)
        await producer.flush()
        return n / (time.perf_counter() - start)
    finally:
        await producer.stop()


async def run_raw_batches(settings: KafkaSettings, n: int) -> float:
    """Ceiling: pre-encoded bytes through aiokafka's batch API (what the SDK uses inside),
    one partition's batch at a time, no validation or encoding."""
    codec = default_codec()
    topic = topic_name("routing_decisions", settings)
    payloads = []
    for i in range(n):
        record = events.routing_decision(**decision_args(i))  # type: ignore[arg-type]
        payloads.append((record["symbol"].encode(), codec.encode("RoutingDecision", record)))
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        max_batch_size=settings.producer_max_batch_bytes,
    )
    await producer.start()
    try:
        count = len(await producer.partitions_for(topic))
        builders: dict[int, Any] = {}
        futures = []
        start = time.perf_counter()
        for key, value in payloads:
            p = (murmur2(key) & 0x7FFFFFFF) % count
            b = builders.get(p) or builders.setdefault(p, producer.create_batch())
            if b.append(key=key, value=value, timestamp=None) is None:
                futures.append(await producer.send_batch(b, topic, partition=p))
                b = builders[p] = producer.create_batch()
                b.append(key=key, value=value, timestamp=None)
        for p, b in builders.items():
            futures.append(await producer.send_batch(b, topic, partition=p))
        await asyncio.gather(*futures)
        return n / (time.perf_counter() - start)
    finally:
        await producer.stop()


async def run_sdk(settings: KafkaSettings, n: int) -> float:
    args = [decision_args(i) for i in range(n)]
    async with Publisher(settings) as pub:
        start = time.perf_counter()
        for i, a in enumerate(args):
            await pub.routing_decision(**a)  # type: ignore[arg-type]
            progress("sdk", i, n)
        await pub.flush()
        return n / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    base = KafkaSettings.from_env()
    run_id = uuid.uuid4().hex[:8]
    raw_settings = dataclasses.replace(base, topic_prefix=f"bench-raw-{run_id}.")
    sdk_settings = dataclasses.replace(base, topic_prefix=f"bench-sdk-{run_id}.")
    print(
        f"broker {base.bootstrap_servers}; {args.events} routing decisions x {args.rounds} rounds"
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=base.bootstrap_servers)
    await admin.start()
    try:
        for s in (raw_settings, sdk_settings):
            await apply_topics(admin, s, out=lambda _line: None)
    finally:
        await admin.close()

    raw, batches, sdk = [], [], []
    for r in range(1, args.rounds + 1):
        raw.append(await run_raw(raw_settings, args.events))
        print(f"  round {r}: raw aiokafka send(), pre-encoded  {raw[-1]:>9,.0f} events/s")
        batches.append(await run_raw_batches(raw_settings, args.events))
        print(f"  round {r}: raw aiokafka batches, pre-encoded {batches[-1]:>9,.0f} events/s")
        sdk.append(await run_sdk(sdk_settings, args.events))
        print(f"  round {r}: SDK (validate+encode+send)        {sdk[-1]:>9,.0f} events/s")
    raw_m, batch_m, sdk_m = (statistics.median(x) for x in (raw, batches, sdk))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print()
    print(f"machine: {machine}")
    print(f"raw aiokafka send() median:  {raw_m:>9,.0f} events/s")
    print(f"raw aiokafka batch median:   {batch_m:>9,.0f} events/s")
    print(f"SDK median:                  {sdk_m:>9,.0f} events/s")
    print(f"ratio SDK / raw send():      {sdk_m / raw_m:.2f}")
    print(f"ratio SDK / raw batch:       {sdk_m / batch_m:.2f}")
    print("goal: SDK >= 50,000 events/s and >= 0.70 of raw send()")


if __name__ == "__main__":
    asyncio.run(main())
