"""The librdkafka side of the bridge's Kafka source: what is retried at start-up, and how the
fetch settings reach the consumer. No broker (the source itself is tested against one in
test_server_kafka.py)."""

from __future__ import annotations

import dataclasses
import logging

from confluent_kafka import KafkaError, KafkaException

from streams.settings import KafkaSettings
from tests.helpers.bridge import settings
from ws_bridge.server.rdkafka import consumer_config, epoch_of, retriable


def test_a_partition_without_a_leader_yet_is_retried_but_a_refusal_is_not() -> None:
    assert retriable(KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION)))
    assert retriable(KafkaException(KafkaError(KafkaError.LEADER_NOT_AVAILABLE)))
    assert retriable(KafkaException(KafkaError(KafkaError._TIMED_OUT)))  # noqa: SLF001
    assert not retriable(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))
    assert not retriable(KafkaException("no error object"))


def test_the_fetch_settings_reach_the_consumer_and_no_group_offsets_are_kept() -> None:
    s = dataclasses.replace(settings(), fetch_max_wait_ms=7, fetch_min_bytes=4096)
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1", client_id="desk")
    conf = consumer_config(kafka, s, logging.getLogger("t"))
    assert (conf["fetch.wait.max.ms"], conf["fetch.min.bytes"]) == (7, 4096)
    assert conf["bootstrap.servers"] == "127.0.0.1:1" and conf["client.id"] == "desk-bridge"
    assert conf["enable.auto.commit"] is False and conf["enable.auto.offset.store"] is False
    # a group id librdkafka insists on, never shared: two bridges never join one group
    other = consumer_config(kafka, s, logging.getLogger("t"))
    assert conf["group.id"] != other["group.id"]


def test_the_epoch_names_the_first_record_and_changes_with_any_of_it() -> None:
    base = epoch_of("rtx.alerts", 0, 1_700_000_000_000, b"a-1")
    assert base == epoch_of("rtx.alerts", 0, 1_700_000_000_000, b"a-1")
    assert (
        len(
            {
                base,
                epoch_of("rtx.alerts", 1, 1_700_000_000_000, b"a-1"),
                epoch_of("rtx.alerts", 0, 1_700_000_000_001, b"a-1"),
                epoch_of("rtx.alerts", 0, 1_700_000_000_000, None),
                epoch_of("other.alerts", 0, 1_700_000_000_000, b"a-1"),
            }
        )
        == 5
    )
