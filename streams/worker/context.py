"""What the worker's loops share: settings, configuration, topic names, the codec, the output
writer and the producers (one instance per worker process)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas.codec import Codec, default_codec
from streams.settings import KafkaSettings
from streams.worker.outputs import OutputWriter
from streams.worker.pipeline import PipelineConfig
from streams.worker.producers import Producers, producer_starter
from streams.worker.settings import WorkerSettings
from streams.worker.topic_names import worker_topics


@dataclass(frozen=True, slots=True)
class WorkerContext:
    kafka: KafkaSettings
    settings: WorkerSettings
    config: PipelineConfig
    topics: Mapping[str, str]  # logical name -> topic name
    codec: Codec
    writer: OutputWriter
    producers: Producers

    @classmethod
    def create(
        cls,
        kafka: KafkaSettings,
        settings: WorkerSettings,
        config: PipelineConfig,
        producers: Producers | None = None,
    ) -> WorkerContext:
        """The context of a worker; ``producers`` by default start the worker's producer."""
        topics = worker_topics(kafka)
        codec = default_codec()
        if producers is None:
            producers = Producers(
                producer_starter(kafka.bootstrap_servers, f"{settings.app_id}-worker")
            )
        return cls(kafka, settings, config, topics, codec, OutputWriter(codec, topics), producers)
