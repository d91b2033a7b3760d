"""Prometheus metrics of the worker (served on RTX_WORKER_METRICS_PORT, default 9464)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("rtx_worker_events_total", "Input events decoded and validated", ["topic"])
DEAD_LETTERED = Counter(
    "rtx_worker_dead_lettered_total",
    "Input events sent to the dead-letter topic",
    ["topic", "reason"],
)
DERIVED = Counter("rtx_worker_derived_total", "Derived messages written", ["topic"])
LATENCY = Histogram(
    "rtx_worker_event_age_seconds",
    "Age of an input event when processed (now - Kafka message timestamp)",
    ["topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LAG = Gauge("rtx_worker_consumer_lag", "Messages behind the end of the log", ["topic", "partition"])
CLOSED_IDS = Gauge(
    "rtx_worker_closed_ids_remembered",
    "Closed position ids remembered to ignore a stale reopen (at most RTX_WORKER_MAX_CLOSED per "
    "positions partition)",
)
