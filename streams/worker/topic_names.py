"""The Kafka topics the worker reads and writes: logical name (:mod:`streams.topics`) -> name."""

from __future__ import annotations

from streams.settings import KafkaSettings
from streams.topics import topic_name
from streams.worker.pipeline import INPUTS

OUTPUTS = (
    "exposure",
    "pnl",
    "account_risk",
    "account_risk_top",
    "routing_metrics",
    "lp_performance",
    "alerts",
    "dead_letter",
    "internal",
)
"""The topics the worker writes (the internal topic it also reads)."""


def worker_topics(kafka: KafkaSettings) -> dict[str, str]:
    """Logical name -> topic name under ``kafka``'s prefix, for every topic the worker uses."""
    return {logical: topic_name(logical, kafka) for logical in (*INPUTS, *OUTPUTS)}
