"""``rtx-analytics tail``: messages as JSON lines, and for a dead letter why the worker refused it
and where it came from (the worker's headers). The dead letter comes from a real worker on a
real broker; the line formats are also checked without one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from schemas.codec import default_codec
from streams.replay.tail import dead_letter, message_line
from streams.settings import KafkaSettings
from streams.topics import topic_name
from tests.helpers.worker import TopicReader, WorkerProcess

RTX = Path(sys.executable).parent / "rtx-analytics"
CODEC = default_codec()


def record(value: bytes | None, headers: list[tuple[str, bytes]] | None = None) -> Any:
    return SimpleNamespace(partition=0, offset=7, value=value, headers=headers or [])


# --- lines, without a broker ---------------------------------------------------------------------


def test_a_message_the_codec_decodes_shows_its_schema_and_record() -> None:
    quote = {"eventId": "q", "eventTime": 1, "symbol": "EURUSD", "bid": 1.0, "ask": 1.1}
    line = message_line(record(CODEC.encode("Quote", quote)), CODEC)
    assert line["partition"] == 0 and line["offset"] == 7
    assert line["value"]["type"] == "Quote" and line["value"]["symbol"] == "EURUSD"
    assert "deadLetter" not in line


def test_other_bytes_show_as_raw_text_and_an_empty_message_as_null() -> None:
    assert message_line(record(b"not avro"), CODEC)["value"] == {"raw": "not avro"}
    assert message_line(record(None), CODEC)["value"] is None


def test_dead_letter_headers_give_reason_source_and_time() -> None:
    headers = [
        ("rtx.source.topic", b"rtx.positions"),
        ("rtx.source.partition", b"2"),
        ("rtx.source.offset", b"17"),
        ("rtx.error", b"truncated: 3 bytes"),
        ("rtx.dead-lettered-at", b"1767225600000"),
    ]
    assert dead_letter(headers) == {
        "reason": "truncated: 3 bytes",
        "sourceTopic": "rtx.positions",
        "sourcePartition": 2,
        "sourceOffset": 17,
        "deadLetteredAt": "2026-01-01T00:00:00.000Z",
    }
    assert message_line(record(b"x", headers), CODEC)["deadLetter"]["sourceOffset"] == 17


def test_a_header_that_does_not_parse_is_shown_as_it_is_and_no_reason_is_no_dead_letter() -> None:
    odd = dead_letter([("rtx.error", b"invalid: volume"), ("rtx.source.offset", b"n/a")])
    assert odd == {"reason": "invalid: volume", "sourceOffset": "n/a"}
    assert dead_letter([("rtx.source.topic", b"t"), ("trace-id", b"1")]) is None


# --- against a real broker -----------------------------------------------------------------------


def env_for(settings: KafkaSettings) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "RTX_TOPIC_PREFIX": settings.topic_prefix,
    }


async def tail(settings: KafkaSettings, *args: str) -> tuple[int | None, list[Any], str]:
    proc = await asyncio.create_subprocess_exec(
        str(RTX), "tail", *args,
        env=env_for(settings), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, [json.loads(line) for line in out.decode().splitlines()], err.decode()


@pytest.fixture
def worker(topics: KafkaSettings, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(topics, tmp_path, f"rtx-test-{uuid.uuid4().hex[:8]}")
    process.start()
    yield process
    process.kill(signal.SIGTERM)


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_tail_dead_letter_shows_why_and_where_from(
    topics: KafkaSettings, worker: WorkerProcess
) -> None:
    """A message the worker cannot decode: ``tail dead_letter`` shows it with the reason, the
    source topic, partition and offset, as the worker wrote them."""
    positions = topic_name("positions", topics)
    # Idempotent: a retried send (a new topic's leader moving) must not make a second copy.
    producer = AIOKafkaProducer(bootstrap_servers=topics.bootstrap_servers, enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(positions, b"not avro at all", key=b"x")
    finally:
        await producer.stop()
    async with TopicReader(topics, "dead_letter") as dlq:
        await dlq.until(lambda r: r.value == b"not avro at all", 120, "dead letter", worker)

    code, lines, err = await tail(topics, "dead_letter", "--from-beginning")
    assert code == 0, err
    (line,) = lines
    assert line["value"] == {"raw": "not avro at all"}
    dead = line["deadLetter"]
    assert dead["reason"].startswith("not-single-object")
    assert (dead["sourceTopic"], dead["sourcePartition"], dead["sourceOffset"]) == (
        positions,
        sent.partition,
        sent.offset,
    )
    assert dead["deadLetteredAt"].endswith("Z")


@pytest.mark.kafka
@pytest.mark.timeout(120)
async def test_tail_stops_at_the_limit_and_names_a_missing_topic(topics: KafkaSettings) -> None:
    quotes = topic_name("quotes", topics)
    producer = AIOKafkaProducer(bootstrap_servers=topics.bootstrap_servers)
    await producer.start()
    try:
        for i in range(5):
            quote = {"eventId": f"q{i}", "eventTime": i, "symbol": "EURUSD", "bid": 1.0, "ask": 1.1}
            await producer.send_and_wait(quotes, CODEC.encode("Quote", quote), partition=0)
    finally:
        await producer.stop()
    code, lines, err = await tail(topics, "quotes", "--from-beginning", "--limit", "2")
    assert code == 0, err
    assert [line["value"]["eventId"] for line in lines] == ["q0", "q1"]
    code, lines, _ = await tail(topics, "quotes", "--last", "1")
    assert [line["value"]["eventId"] for line in lines] == ["q4"]

    missing = KafkaSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": topics.bootstrap_servers,
            "RTX_TOPIC_PREFIX": f"missing{uuid.uuid4().hex[:6]}.",
        }
    )
    code, lines, err = await tail(missing, "quotes")
    assert code == 2 and lines == []
    assert err.startswith("error: topic ") and "does not exist" in err and "topics apply" in err
