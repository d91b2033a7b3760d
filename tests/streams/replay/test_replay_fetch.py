"""Replay's raw record-batch reading (batches taken from aiokafka's fetcher) against the reference
path (``getmany`` and its ConsumerRecords), on a real broker: the same rows in the same order
per partition, in both row forms, over plain, gzip-compressed and transactional partitions
(commit and abort markers are control batches), with a tombstone and an undecodable value."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

import streams.replay.reader as reader_module
from schemas.codec import default_codec
from streams.replay import Replay
from streams.settings import KafkaSettings
from streams.topics import BY_LOGICAL, apply_topics, topic_name

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

PER_PARTITION = 1_200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def decision(i: int, ts_ms: int) -> dict[str, Any]:
    return {
        "eventId": f"e-{i}",
        "eventTime": ts_ms * 1000 + i % 1000,
        "symbol": ["EURUSD", "GBPUSD", "XAUUSD"][i % 3],
        "side": "BUY" if i % 2 else "SELL",
        "volume": 1000.0 + i / 7,
        "routingDecision": "ABOOK" if i % 4 else "BBOOK",
        "lpSelected": "LMAX" if i % 4 else None,
        "executionTimeMs": i / 3,
        "spread": 0.0001,
        "slippage": -0.00001 * (i % 5),
        "price": 1.1 + i / 1e5 if i % 6 else None,
        "orderId": f"o-{i}",
        "accountId": None,
        "lpRejected": i % 11 == 0,
    }


@pytest.fixture(scope="module")
async def loaded(kafka_bootstrap: str) -> tuple[KafkaSettings, int]:
    """Three partitions of routing decisions, 1 ms apart: partition 0 from a plain producer
    (plus a tombstone and garbage), 1 gzip-compressed, 2 in transactions of 100 (one aborted:
    a read_uncommitted consumer still returns its records, on both paths)."""
    settings = KafkaSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "RTX_TOPIC_PREFIX": f"replayfetch{uuid.uuid4().hex[:8]}.",
            "RTX_INPUT_PARTITIONS": "3",
        }
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        spec = BY_LOGICAL["routing_decisions"]
        await apply_topics(admin, settings, specs=(spec,), out=lambda _line: None)
    finally:
        await admin.close()
    topic = topic_name("routing_decisions", settings)
    codec = default_codec()
    t0 = int(datetime.now(UTC).timestamp() * 1000) - 3600_000
    plain = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=20)
    gzip = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, linger_ms=20, compression_type="gzip"
    )
    txn = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"replay-{uuid.uuid4().hex[:8]}"
    )
    for p in (plain, gzip, txn):
        await p.start()
    try:
        for partition, producer in ((0, plain), (1, gzip)):
            futures = []
            for i in range(PER_PARTITION):
                value = codec.encode("RoutingDecision", decision(i, t0 + i))
                if partition == 0 and i == 300:
                    value = None  # a tombstone
                if partition == 0 and i == 301:
                    value = b"\x00not avro"
                futures.append(
                    await producer.send(
                        topic, value, key=b"k", partition=partition, timestamp_ms=t0 + i
                    )
                )
            for f in futures:
                await f
        for start in range(0, PER_PARTITION, 100):
            await txn.begin_transaction()
            for i in range(start, start + 100):
                value = codec.encode("RoutingDecision", decision(i, t0 + i))
                await txn.send(topic, value, partition=2, timestamp_ms=t0 + i)
            if start == 500:
                await txn.abort_transaction()
            else:
                await txn.commit_transaction()
    finally:
        for p in (plain, gzip, txn):
            await p.stop()
    return settings, t0


def read(
    settings: KafkaSettings, start: str, end: str | None, **kw: Any
) -> tuple[list[bytes], Any]:
    replay = Replay("routing", start, end, settings=settings, **kw)
    rows = [orjson.dumps(row) for batch in replay.batches() for row in batch]
    return rows, replay.stats


def iso(ms: int) -> str:
    return (EPOCH + timedelta(milliseconds=ms)).isoformat()


@pytest.mark.parametrize("text_times", [False, True])
@pytest.mark.parametrize(("first", "last"), [(0, PER_PARTITION), (50, 1_050)])
def test_raw_batches_give_the_rows_getmany_gives(
    loaded: tuple[KafkaSettings, int],
    monkeypatch: pytest.MonkeyPatch,
    text_times: bool,
    first: int,
    last: int,
) -> None:
    settings, t0 = loaded
    taken = []
    real_take = reader_module.take_fetched

    async def counting_take(*args: Any) -> Any:
        result = await real_take(*args)
        taken.append(len(result))
        return result

    monkeypatch.setattr(reader_module, "take_fetched", counting_take)
    start, end = iso(t0 + first), None if last == PER_PARTITION else iso(t0 + last)
    fast, fast_stats = read(settings, start, end, text_times=text_times)
    assert sum(taken) > 0, "the raw path was not used"
    calls = len(taken)
    ref, ref_stats = read(settings, start, end, text_times=text_times, raw_fetch=False)
    assert len(taken) == calls, "the reference path used the raw path"

    def by_partition(rows: list[bytes]) -> dict[int, list[bytes]]:
        out: dict[int, list[bytes]] = {}
        for row in rows:
            out.setdefault(orjson.loads(row)["partition"], []).append(row)
        return out

    parts = by_partition(fast)
    assert parts == by_partition(ref)
    assert fast_stats == ref_stats
    in_range = last - first
    bad = 2 if first <= 300 < last else 0  # the tombstone and the garbage in partition 0
    assert fast_stats.bad == bad
    assert (len(parts[0]), len(parts[1])) == (in_range - bad, in_range)
    # Partition 2: commit markers carry the commit time, so the end offset of a range that
    # ends before "now" is the first marker at or after it (the offset plan's semantics).
    assert len(parts[2]) == (PER_PARTITION if last == PER_PARTITION else 100 - first)
    for rows in parts.values():
        offsets = [orjson.loads(r)["offset"] for r in rows]
        assert offsets == sorted(offsets)
    first_row = orjson.loads(parts[1][0])
    assert first_row["eventId"] == f"e-{first}"
    assert isinstance(first_row["kafkaTime"], str) == text_times
