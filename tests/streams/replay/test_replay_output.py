"""``rtx-analytics replay --out`` to an output that cannot be written, against a real broker: one
``error: ...`` line naming the output, exit status 2, no traceback, and no Kafka consumer left
open ("Unclosed AIOKafkaConsumer"). A path that cannot be created fails before connecting."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from schemas.codec import default_codec
from streams.settings import KafkaSettings
from streams.topics import topic_name

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

RTX = Path(sys.executable).parent / "rtx-analytics"
FROM = "2026-01-01T00:00:00Z"


@dataclass(frozen=True)
class Result:
    code: int | None
    out: str
    err: str

    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("error: ")]


async def replay(settings: KafkaSettings, *args: str) -> Result:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "RTX_TOPIC_PREFIX": settings.topic_prefix,
    }
    proc = await asyncio.create_subprocess_exec(
        str(RTX), "replay", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return Result(proc.returncode, out.decode(), err.decode())


async def send_alerts(settings: KafkaSettings, count: int) -> None:
    codec = default_codec()
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        for i in range(count):
            alert = {
                "id": f"a-{i}",
                "eventTime": 1_767_225_600_000_000,
                "severity": "info",
                "category": "system",
                "title": "Replay output test",
                "message": f"alert {i}",
                "source": "test",
            }
            await producer.send_and_wait(
                topic_name("alerts", settings), codec.encode("Alert", alert), key=b"a"
            )
    finally:
        await producer.stop()


def part_left(out: str) -> bool:
    return Path(f"{out}.part").exists()


def unwritable_paths() -> list[str]:
    paths = ["{tmp}/no-such-dir/out.jsonl", "{tmp}/no-such-dir/out.parquet"]
    if Path("/proc").is_dir():
        paths.append("/proc/nope.jsonl")  # as reported: nothing can be created there
    return paths


@pytest.mark.parametrize("template", unwritable_paths())
async def test_an_output_that_cannot_be_created_is_one_error_line_before_connecting(
    topics: KafkaSettings, tmp_path: Path, template: str
) -> None:
    await send_alerts(topics, 3)
    out = template.format(tmp=tmp_path)
    result = await replay(topics, "alerts", "--from", FROM, "--out", out)
    assert result.code == 2, result.err
    assert len(result.errors()) == 1, result.err
    assert result.errors()[0].startswith(f"error: cannot write {out}: ")
    assert "No such file or directory" in result.errors()[0]
    assert "Traceback" not in result.err and "Unclosed" not in result.err
    assert "partitions" not in result.err  # it stopped before connecting and planning
    assert not part_left(out)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
async def test_a_write_that_fails_after_connecting_closes_the_consumer(
    topics: KafkaSettings,
) -> None:
    """/dev/full opens, then every write fails with ENOSPC: the records were being read."""
    await send_alerts(topics, 3)
    result = await replay(topics, "alerts", "--from", FROM, "--out", "/dev/full")
    assert result.code == 2, result.err
    assert result.errors() == ["error: cannot write /dev/full: No space left on device"]
    assert "Traceback" not in result.err and "Unclosed" not in result.err
    assert "Exception ignored" not in result.err
    assert "1 partitions, 3 records in the offset range" in result.err
