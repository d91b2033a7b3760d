"""Shared fixtures. The Kafka broker for integration tests comes from, in order:

1. ``KAFKA_BOOTSTRAP_SERVERS`` (``make test`` starts the local broker and sets it);
2. a testcontainers Kafka (KRaft) when a Docker engine answers;
3. the local launcher (``infra.kafka_local``) on a free port in a temporary directory.

It never skips: if none of them gives a broker, every Kafka test fails with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from infra.kafka_local import EXTRA_PROPERTIES_ENV, TEST_BROKER_PROPERTIES
from streams.settings import KafkaSettings
from streams.topics import apply_topics

# Every broker this session starts itself (the launcher below, the fault tests' own clusters)
# keeps what tests write for the whole run: tests send Kafka timestamps from January 2026, older
# than the topics' retention (infra/kafka_local/node_setup.py, TEST_BROKER_PROPERTIES).
# run-tests.sh sets the same for the broker of make test; a value set outside wins.
os.environ.setdefault(EXTRA_PROPERTIES_ENV, TEST_BROKER_PROPERTIES)


def _free_port_pair() -> int:
    """A port p with p and p+1 free (broker and controller listeners)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 65000:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports found")


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],  # noqa: S607
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


async def _wait_for_broker(bootstrap: str, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: BaseException | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception as exc:  # noqa: BLE001 - retried until the deadline, then reported
            last = exc
        finally:
            await admin.close()
        await asyncio.sleep(0.5)
    raise RuntimeError(f"Kafka at {bootstrap} did not answer within {timeout_s:g} s: {last!r}")


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real broker for this test session."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if given:
        asyncio.run(_wait_for_broker(given))
        yield given
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        # The same settings as TEST_BROKER_PROPERTIES (Confluent images map
        # KAFKA_<PROPERTY> variables to broker properties).
        container = KafkaContainer().with_kraft()
        for item in TEST_BROKER_PROPERTIES.split(","):
            key, _, value = item.partition("=")
            container.with_env("KAFKA_" + key.upper().replace(".", "_"), value)
        with container:
            bootstrap = container.get_bootstrap_server()
            asyncio.run(_wait_for_broker(bootstrap, 90))
            yield bootstrap
        return
    from infra import kafka_local

    state_dir: Path = tmp_path_factory.mktemp("kafka")
    status = kafka_local.start(port=_free_port_pair(), state_dir=state_dir, heap="512M")
    try:
        yield status.bootstrap_servers
    finally:
        kafka_local.stop(state_dir=state_dir)


@pytest.fixture
def topic_prefix() -> str:
    """A prefix no other test uses, so each test has topics of its own."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, topic_prefix: str) -> KafkaSettings:
    return KafkaSettings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "RTX_TOPIC_PREFIX": topic_prefix,
            "RTX_INPUT_PARTITIONS": "3",
            "RTX_PRODUCER_LINGER_MS": "1",
        }
    )


@pytest.fixture
async def admin(kafka_settings: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.bootstrap_servers)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def topics(admin: AIOKafkaAdminClient, kafka_settings: KafkaSettings) -> KafkaSettings:
    """The whole topic table created under this test's prefix; returns the settings."""
    await apply_topics(admin, kafka_settings, out=lambda _line: None)
    return kafka_settings
