"""Regression tests (no broker) for two worker faults found by the fault tests.

1. A broker killed under load made ``send_batch`` raise ``KafkaTimeoutError`` (the partition's
   queue did not drain in time); it escaped the 5 ms timer and Faust stopped the whole worker
   ("We experienced a crash!"). A failed send is now an unacknowledged batch: the timer logs
   it, a consumer loop re-reads from its last commit after rebuilding its state from Kafka.
2. A worker restarted after ``kill -9`` sat idle ~60 s: Faust's own consumer group (default
   ``broker_session_timeout`` 60 s) waited for the dead member to expire before the worker's
   tasks started. Its session is now 10 s, like the tasks' own consumers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from streams.app import FAUST_SESSION_TIMEOUT_S, Worker
from streams.config import KafkaSettings, WorkerSettings
from streams.kafka_io import BatchSender
from streams.pipeline import PipelineConfig


class _Batch:
    def __init__(self) -> None:
        self.records = 0

    def append(self, **_kw: Any) -> bool:
        self.records += 1
        return True

    def record_count(self) -> int:
        return self.records


class _Producer:
    """send_batch fails for one topic as aiokafka does when a partition's queue does not
    drain within request_timeout_ms; the other topics are acknowledged."""

    def __init__(self, failing_topic: str) -> None:
        self.failing_topic = failing_topic

    async def partitions_for(self, _topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, _builder: Any, topic: str, partition: int) -> Any:
        if topic == self.failing_topic:
            raise KafkaTimeoutError()
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        done.set_result(f"{topic}:{partition}")
        return done


async def test_a_send_that_times_out_is_a_failed_batch_not_an_exception() -> None:
    sender = BatchSender(_Producer("exposure"), {})
    await sender.add("exposure", b"total", b"x")
    await sender.add("alerts", b"id-1", b"y")
    futures = await sender.submit()  # before the fix: raised KafkaTimeoutError
    assert len(futures) == 2
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert sorted(map(type, results), key=str) == sorted([KafkaTimeoutError, str], key=str)


def test_faust_group_session_is_as_short_as_the_workers_own_consumers() -> None:
    worker = Worker(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        WorkerSettings(),
        PipelineConfig(),
    )
    assert worker.app.conf.broker_session_timeout == pytest.approx(FAUST_SESSION_TIMEOUT_S)
    assert FAUST_SESSION_TIMEOUT_S <= 10.0
