"""The producer SDK against a real broker: what it sends is what a raw consumer decodes, on the
partition its key selects; bad arguments send nothing; an unreachable broker fails in bounded time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import murmur2

from schemas.codec import default_codec
from streams.sdk import BrokerUnavailable, InvalidEvent, Publisher, PublisherClosed, SyncPublisher
from streams.settings import KafkaSettings
from streams.topics import BY_LOGICAL, topic_name

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(60)]

T0 = datetime(2026, 1, 19, 10, 30, 45, 123456, tzinfo=UTC)
T0_MICROS = 1_768_818_645_123_456  # T0 as decoded: int microseconds since the epoch


async def consume_all(settings: KafkaSettings, logical: str, expected: int) -> list[Any]:
    """Read ``expected`` records from the start of a topic (all partitions), raw bytes."""
    topic = topic_name(logical, settings)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()  # noqa: SLF001
            partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        records: list[Any] = []
        async with asyncio.timeout(20):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                for msgs in batch.values():
                    records.extend(msgs)
        return records
    finally:
        await consumer.stop()


def expected_partition(key: str, partitions: int) -> int:
    # Java client's default partitioner: toPositive(murmur2(key)) % numPartitions.
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def test_murmur2_matches_the_java_client() -> None:
    """The partition check below relies on aiokafka's murmur2 equalling Kafka's Utils.murmur2
    (vectors from Kafka's UtilsTest)."""

    def signed(h: int) -> int:  # aiokafka returns the hash as unsigned 32-bit
        return h - (1 << 32) if h >= 1 << 31 else h

    assert signed(murmur2(b"21")) == -973932308
    assert signed(murmur2(b"foobar")) == -790332482
    assert signed(murmur2(b"a-little-bit-long-string")) == -985981536


async def test_each_call_arrives_decoded_keyed_and_partitioned(topics: KafkaSettings) -> None:
    codec = default_codec()
    async with Publisher(topics) as pub:
        d1 = await pub.routing_decision(
            "EURUSD",
            "BUY",
            10_000,
            "ABOOK",
            "OANDA",
            45,
            0.0001,
            0.00002,
            price=1.085,
            order_id="o-1",
            account_id="acc-1",
            event_time=T0,
        )
        d2 = await pub.lp_status("OANDA", "connected", 0.0001, 0.95, 12.5, 250, 0.01, 99.9)
        d3 = await pub.alert(
            "critical",
            "exposure",
            "Exposure Limit Approaching",
            "at 92%",
            "ExposureMonitor",
            ["Review open positions"],
        )
        d4 = await pub.position("pos-1", "acc-1", "GBPUSD", "SELL", 5000, 1.27, "BBOOK", 3)
        d5 = await pub.quote("USDJPY", 151.2, 151.22, lp="LMAX")
        await pub.flush()

    cases = [
        ("routing_decisions", d1, "EURUSD", "RoutingDecision"),
        ("lp_status", d2, "OANDA", "LpStatus"),
        ("alerts_inbound", d3, "ExposureMonitor", "ServiceAlert"),
        ("positions", d4, "pos-1", "PositionState"),
        ("quotes", d5, "USDJPY", "Quote"),
    ]
    for logical, delivery, key, schema in cases:
        (msg,) = await consume_all(topics, logical, 1)
        decoded = codec.decode(msg.value)
        assert decoded.schema == schema
        assert decoded.record["eventId"] == delivery.event_id
        assert msg.key == key.encode()
        n_parts = BY_LOGICAL[logical].partition_count(topics)
        assert msg.partition == expected_partition(key, n_parts)
    first = codec.decode((await consume_all(topics, "routing_decisions", 1))[0].value).record
    assert first == {
        "eventId": d1.event_id,
        "eventTime": T0_MICROS,
        "symbol": "EURUSD",
        "side": "BUY",
        "volume": 10_000.0,
        "routingDecision": "ABOOK",
        "lpSelected": "OANDA",
        "executionTimeMs": 45.0,
        "spread": 0.0001,
        "slippage": 0.00002,
        "price": 1.085,
        "orderId": "o-1",
        "accountId": "acc-1",
        "lpRejected": False,
    }


async def test_many_events_spread_over_partitions_by_key(topics: KafkaSettings) -> None:
    symbols = ["EURUSD", "GBPUSD", "USDJPY", "USDCHF", "EURCHF", "XAUUSD", "AUDUSD", "NZDUSD"]
    async with Publisher(topics) as pub:
        for i in range(400):
            await pub.quote(symbols[i % len(symbols)], 1.0 + i / 1e4, 1.0002 + i / 1e4)
    msgs = await consume_all(topics, "quotes", 400)
    assert len(msgs) == 400
    assert len({m.partition for m in msgs}) > 1
    for m in msgs:
        assert m.partition == expected_partition(m.key.decode(), 3)
    # Per-key order is kept: bids of each symbol arrive increasing.
    codec = default_codec()
    by_symbol: dict[str, list[float]] = {}
    for m in sorted(msgs, key=lambda m: (m.partition, m.offset)):
        r = codec.decode(m.value).record
        by_symbol.setdefault(r["symbol"], []).append(r["bid"])
    for bids in by_symbol.values():
        assert bids == sorted(bids)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda p: p.routing_decision("EURUSD", "HOLD", 1000, "BBOOK"), "side"),
        (lambda p: p.routing_decision("EURUSD", "BUY", -5, "BBOOK"), "volume"),
        (lambda p: p.routing_decision("EURUSD", "BUY", float("nan"), "BBOOK"), "volume"),
        (lambda p: p.routing_decision("EURUSD", "BUY", 1000, "ABOOK"), "lpSelected"),
        (lambda p: p.lp_status("OANDA", "connected", reject_rate=1.5), "rejectRate"),
        (lambda p: p.alert("fatal", "lp", "t", "m", "s"), "severity"),
        (lambda p: p.quote("EURUSD", 1.2, 1.1), "ask"),
        (lambda p: p.position("p", "a", "EURUSD", "BUY", 1, 1.1, "ABOOK", 1), "lp"),
    ],
    ids=[
        "side",
        "negative-volume",
        "nan-volume",
        "abook-no-lp",
        "reject-rate",
        "severity",
        "ask-below-bid",
        "position-abook-no-lp",
    ],
)
async def test_invalid_arguments_raise_naming_the_field_and_send_nothing(
    topics: KafkaSettings, call: Any, field: str
) -> None:
    async with Publisher(topics) as pub:
        with pytest.raises(InvalidEvent) as info:
            await call(pub)
        assert info.value.field == field
        assert field in str(info.value)
        assert pub.sent == 0
        # A valid event afterwards is the only one on the topic.
        await pub.quote("EURUSD", 1.1, 1.1002)
    assert pub.sent == 1


async def test_unreachable_broker_fails_with_a_clear_error(
    kafka_settings: KafkaSettings,
) -> None:
    """A port that accepts connections but never answers: start() gives up at the connect
    timeout with BrokerUnavailable naming the address, instead of hanging."""
    held: list[asyncio.StreamWriter] = []

    async def never_answer(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        held.append(w)

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    settings = dataclasses.replace(
        kafka_settings, bootstrap_servers=f"127.0.0.1:{port}", producer_connect_timeout_s=1.0
    )
    try:
        with pytest.raises(BrokerUnavailable, match=f"127.0.0.1:{port}") as info:
            await Publisher(settings).start()
        assert info.value.retriable
    finally:
        for w in held:
            w.close()
        silent.close()
        await silent.wait_closed()


async def test_refused_connection_fails_with_a_clear_error(kafka_settings: KafkaSettings) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = dataclasses.replace(kafka_settings, bootstrap_servers=f"127.0.0.1:{port}")
    with pytest.raises(BrokerUnavailable, match="KAFKA_BOOTSTRAP_SERVERS"):
        await Publisher(settings).start()


async def test_calls_after_close_are_refused(topics: KafkaSettings) -> None:
    pub = Publisher(topics)
    with pytest.raises(PublisherClosed, match="not started"):
        await pub.quote("EURUSD", 1.1, 1.1002)
    await pub.start()
    await pub.close()
    await pub.close()  # idempotent
    with pytest.raises(PublisherClosed):
        await pub.quote("EURUSD", 1.1, 1.1002)


async def test_delivery_wait_returns_the_broker_position(topics: KafkaSettings) -> None:
    async with Publisher(topics) as pub:
        first = await (await pub.quote("EURUSD", 1.1, 1.1002)).wait()
        second = await (await pub.quote("EURUSD", 1.1, 1.1003)).wait()
    assert first.topic == topic_name("quotes", topics)
    assert (second.partition, second.offset) == (first.partition, first.offset + 1)


def test_sync_publisher_sends_and_flushes(topics: KafkaSettings) -> None:
    with SyncPublisher(topics) as pub:
        ids = [pub.lp_status(f"LP{i}", "disconnected", uptime=50.0) for i in range(5)]
        pub.flush()
        with pytest.raises(InvalidEvent, match="status"):
            pub.lp_status("LPX", "flapping")
    msgs = asyncio.run(consume_all(topics, "lp_status", 5))
    codec = default_codec()
    assert sorted(codec.decode(m.value).record["eventId"] for m in msgs) == sorted(ids)
