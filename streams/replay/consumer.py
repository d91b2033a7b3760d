"""The Kafka consumer that replay and ``tail`` read with: no group, nothing committed.

:func:`connect` starts one within :data:`CONNECT_TIMEOUT_S` (``BrokerUnreachable`` names the
bootstrap servers otherwise) with the metadata of every topic; :func:`topic_partitions` lists a
topic's partitions from that metadata (``TopicMissing`` names the prefix otherwise).
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.replay.errors import BrokerUnreachable, TopicMissing
from streams.settings import KafkaSettings
from streams.topics.broker import start_within

MAX_PARTITION_FETCH_BYTES = 8 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0


async def connect(settings: KafkaSettings, purpose: str = "replay") -> AIOKafkaConsumer:
    """A started consumer (client id ``<RTX client id>-<purpose>``) that knows every topic."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.client_id}-{purpose}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_PARTITION_FETCH_BYTES,
        fetch_max_bytes=8 * MAX_PARTITION_FETCH_BYTES,
    )

    async def start() -> None:
        await consumer.start()
        # Metadata of all topics: naming a missing one could make the broker create it.
        await consumer._client.force_metadata_update()  # noqa: SLF001

    await start_within(start, consumer.stop, settings, CONNECT_TIMEOUT_S, BrokerUnreachable)
    return consumer


def topic_partitions(
    consumer: AIOKafkaConsumer, topic: str, settings: KafkaSettings
) -> list[TopicPartition]:
    """The topic's partitions in order, from the metadata :func:`connect` fetched."""
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        raise TopicMissing(
            f"topic {topic} does not exist at {settings.bootstrap_servers} "
            f"(RTX_TOPIC_PREFIX is {settings.topic_prefix!r}; "
            "create topics with 'rtx-analytics topics apply')"
        )
    return [TopicPartition(topic, p) for p in sorted(parts)]
