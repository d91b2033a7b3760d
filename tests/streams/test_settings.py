"""Tests of ``streams.settings.KafkaSettings.from_env``: defaults, parsing, and errors that name
the variable. The environment is always passed in as a mapping; ``os.environ`` is not touched."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from streams.settings import ConfigError, KafkaSettings

DEFAULTS = {
    "bootstrap_servers": "127.0.0.1:9092",
    "topic_prefix": "rtx.",
    "replication_factor": 1,
    "min_insync_replicas": 1,
    "input_partitions": 6,
    "client_id": "rtx-analytics",
    "markouts_retention_days": 30,
    "risk_retention_days": 31,
    "producer_linger_ms": 1,
    "producer_max_batch_bytes": 262_144,
    "producer_compression": "none",
    "producer_request_timeout_ms": 30_000,
    "producer_connect_timeout_s": 10.0,
}


def test_empty_environment_gives_the_documented_defaults() -> None:
    settings = KafkaSettings.from_env({})
    assert settings.describe() == DEFAULTS
    assert settings == KafkaSettings()


def test_blank_values_mean_default() -> None:
    env = {name: "  " for name, _, _, _ in PARSED}
    assert KafkaSettings.from_env(env).describe() == DEFAULTS


def test_variables_without_the_prefix_are_ignored() -> None:
    assert KafkaSettings.from_env({"TOPIC_PREFIX": "x.", "rtx_topic_prefix": "y."}) == (
        KafkaSettings()
    )


def test_settings_are_frozen() -> None:
    settings = KafkaSettings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.topic_prefix = "other."  # type: ignore[misc]


# (variable, raw value, attribute, parsed value)
PARSED: list[tuple[str, str, str, Any]] = [
    ("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092", "bootstrap_servers", "kafka-1:9092"),
    (
        "KAFKA_BOOTSTRAP_SERVERS",
        " kafka-1:9092 , kafka-2.internal:19092,[::1]:9093 ,",
        "bootstrap_servers",
        "kafka-1:9092,kafka-2.internal:19092,[::1]:9093",
    ),
    ("RTX_TOPIC_PREFIX", "prod.risk-", "topic_prefix", "prod.risk-"),
    ("RTX_TOPIC_PREFIX", " dev_1. ", "topic_prefix", "dev_1."),
    ("RTX_REPLICATION_FACTOR", "3", "replication_factor", 3),
    ("RTX_MIN_INSYNC_REPLICAS", "1", "min_insync_replicas", 1),
    ("RTX_INPUT_PARTITIONS", " 12 ", "input_partitions", 12),
    ("RTX_CLIENT_ID", " analytics-7 ", "client_id", "analytics-7"),
    ("RTX_MARKOUTS_RETENTION_DAYS", " 90 ", "markouts_retention_days", 90),
    ("RTX_RISK_RETENTION_DAYS", " 62 ", "risk_retention_days", 62),
    ("RTX_PRODUCER_LINGER_MS", "0", "producer_linger_ms", 0),
    ("RTX_PRODUCER_MAX_BATCH_BYTES", "1048576", "producer_max_batch_bytes", 1_048_576),
    ("RTX_PRODUCER_COMPRESSION", "GZIP", "producer_compression", "gzip"),
    ("RTX_PRODUCER_REQUEST_TIMEOUT_MS", "45000", "producer_request_timeout_ms", 45_000),
    ("RTX_PRODUCER_CONNECT_TIMEOUT_S", "2.5", "producer_connect_timeout_s", 2.5),
]


@pytest.mark.parametrize(
    ("variable", "raw", "attribute", "expected"),
    [pytest.param(*case, id=f"{case[0]}={case[1].strip()}") for case in PARSED],
)
def test_each_variable_is_parsed(variable: str, raw: str, attribute: str, expected: Any) -> None:
    settings = KafkaSettings.from_env({variable: raw})
    assert getattr(settings, attribute) == expected
    assert type(getattr(settings, attribute)) is type(expected)
    others = {k: v for k, v in DEFAULTS.items() if k != attribute}
    assert {k: v for k, v in settings.describe().items() if k != attribute} == others


def test_replication_settings_are_read_together() -> None:
    settings = KafkaSettings.from_env(
        {"RTX_REPLICATION_FACTOR": "3", "RTX_MIN_INSYNC_REPLICAS": "2"}
    )
    assert (settings.replication_factor, settings.min_insync_replicas) == (3, 2)


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        # whole numbers
        ("RTX_REPLICATION_FACTOR", "three"),
        ("RTX_REPLICATION_FACTOR", "1.5"),
        ("RTX_REPLICATION_FACTOR", "0"),
        ("RTX_REPLICATION_FACTOR", "33"),
        ("RTX_MIN_INSYNC_REPLICAS", "0"),
        ("RTX_INPUT_PARTITIONS", "0"),
        ("RTX_INPUT_PARTITIONS", "1025"),
        ("RTX_INPUT_PARTITIONS", "-6"),
        ("RTX_MARKOUTS_RETENTION_DAYS", "0"),
        ("RTX_MARKOUTS_RETENTION_DAYS", "3651"),
        ("RTX_RISK_RETENTION_DAYS", "0"),
        ("RTX_RISK_RETENTION_DAYS", "3651"),
        ("RTX_PRODUCER_LINGER_MS", "-1"),
        ("RTX_PRODUCER_LINGER_MS", "60001"),
        ("RTX_PRODUCER_LINGER_MS", "5ms"),
        ("RTX_PRODUCER_MAX_BATCH_BYTES", "1023"),
        ("RTX_PRODUCER_MAX_BATCH_BYTES", str(64 * 1024**2 + 1)),
        ("RTX_PRODUCER_REQUEST_TIMEOUT_MS", "999"),
        ("RTX_PRODUCER_REQUEST_TIMEOUT_MS", "30s"),
        # numbers
        ("RTX_PRODUCER_CONNECT_TIMEOUT_S", "ten"),
        ("RTX_PRODUCER_CONNECT_TIMEOUT_S", "0.05"),
        ("RTX_PRODUCER_CONNECT_TIMEOUT_S", "-1"),
        ("RTX_PRODUCER_CONNECT_TIMEOUT_S", "nan"),
        ("RTX_PRODUCER_CONNECT_TIMEOUT_S", "inf"),
        # bootstrap servers
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost"),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost:"),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost:abc"),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost:0"),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost:65536"),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost:123456"),
        ("KAFKA_BOOTSTRAP_SERVERS", "PLAINTEXT://localhost:9092"),
        ("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092;kafka-2:9092"),
        ("KAFKA_BOOTSTRAP_SERVERS", "kafka 1:9092"),
        ("KAFKA_BOOTSTRAP_SERVERS", ",,"),
        # topic prefix
        ("RTX_TOPIC_PREFIX", "rtx/"),
        ("RTX_TOPIC_PREFIX", "rtx prod."),
        ("RTX_TOPIC_PREFIX", "rtx:"),
        ("RTX_TOPIC_PREFIX", "é."),
        ("RTX_TOPIC_PREFIX", "p" * 201),
        # compression
        ("RTX_PRODUCER_COMPRESSION", "snappy"),
        ("RTX_PRODUCER_COMPRESSION", "zip"),
    ],
    ids=lambda v: v if len(v) < 30 else v[:27] + "...",
)
def test_bad_value_raises_config_error_naming_the_variable(variable: str, raw: str) -> None:
    with pytest.raises(ConfigError) as err:
        KafkaSettings.from_env({variable: raw})
    assert variable in str(err.value)


def test_min_insync_above_replication_factor_names_both_variables() -> None:
    with pytest.raises(ConfigError) as err:
        KafkaSettings.from_env({"RTX_REPLICATION_FACTOR": "2", "RTX_MIN_INSYNC_REPLICAS": "3"})
    assert "RTX_MIN_INSYNC_REPLICAS" in str(err.value)
    assert "RTX_REPLICATION_FACTOR" in str(err.value)


def test_min_insync_above_default_replication_factor_is_refused() -> None:
    with pytest.raises(ConfigError, match="RTX_MIN_INSYNC_REPLICAS"):
        KafkaSettings.from_env({"RTX_MIN_INSYNC_REPLICAS": "2"})


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)
