"""Topics as code against a real broker: idempotent apply, drift report and fix, no deletion."""

from __future__ import annotations

import dataclasses

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.settings import KafkaSettings
from streams.topics import TOPICS, TopicError, apply_topics, topic_name
from streams.topics.admin import _describe, _wait_for_configs

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(60)]


def quiet(_line: str) -> None:
    pass


async def _set_config(admin: AIOKafkaAdminClient, topic: str, configs: dict[str, str]) -> None:
    """Change a topic's configs behind the table's back, and wait until the broker shows it."""
    await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)])
    assert await _wait_for_configs(admin, {topic: configs}) == {topic}


async def test_apply_creates_every_topic_with_table_shape_and_configs(
    admin: AIOKafkaAdminClient, kafka_settings: KafkaSettings
) -> None:
    report = await apply_topics(admin, kafka_settings, out=quiet)
    names = [t.name(kafka_settings.topic_prefix) for t in TOPICS]
    assert sorted(report.created) == sorted(names)
    shape, configs = await _describe(admin, names)
    for spec in TOPICS:
        name = spec.name(kafka_settings.topic_prefix)
        assert shape[name] == (spec.partition_count(kafka_settings), 1), name
        for key, value in spec.desired_configs(kafka_settings).items():
            assert configs[name].effective[key] == value, (name, key)


async def test_alert_log_is_one_partition_kept_forever(
    admin: AIOKafkaAdminClient, topics: KafkaSettings
) -> None:
    name = topic_name("alerts", topics)
    shape, configs = await _describe(admin, [name])
    assert shape[name][0] == 1
    assert configs[name].effective["retention.ms"] == "-1"
    assert configs[name].effective["retention.bytes"] == "-1"
    positions = topic_name("positions", topics)
    _, pconf = await _describe(admin, [positions])
    assert pconf[positions].effective["cleanup.policy"] == "compact"


async def test_second_apply_is_a_no_op(admin: AIOKafkaAdminClient, topics: KafkaSettings) -> None:
    lines: list[str] = []
    report = await apply_topics(admin, topics, out=lines.append)
    assert report.created == []
    assert report.drift == []
    assert len(report.unchanged) == len(TOPICS)
    assert lines == []


async def test_drift_is_reported_not_fixed_without_fix(
    admin: AIOKafkaAdminClient, topics: KafkaSettings
) -> None:
    quotes = topic_name("quotes", topics)
    await _set_config(admin, quotes, {"cleanup.policy": "delete", "retention.ms": "1000"})
    lines: list[str] = []
    report = await apply_topics(admin, topics, out=lines.append)
    drift = [d for d in report.drift if d.topic == quotes]
    assert [(d.setting, d.actual) for d in drift] == [("retention.ms", "1000")]
    assert report.fixed == []
    assert any("retention.ms is 1000" in line for line in lines)
    _, configs = await _describe(admin, [quotes])
    assert configs[quotes].effective["retention.ms"] == "1000"


async def test_fix_restores_configs_and_keeps_operator_overrides(
    admin: AIOKafkaAdminClient, topics: KafkaSettings
) -> None:
    quotes = topic_name("quotes", topics)
    spec = next(t for t in TOPICS if t.logical == "quotes")
    await _set_config(
        admin,
        quotes,
        {**spec.desired_configs(topics), "retention.ms": "1000", "max.message.bytes": "2000000"},
    )
    report = await apply_topics(admin, topics, fix=True, out=quiet)
    assert [d.setting for d in report.fixed] == ["retention.ms"]
    _, configs = await _describe(admin, [quotes])
    assert configs[quotes].effective["retention.ms"] == spec.configs["retention.ms"]
    # An override that is not in the table survives the fix.
    assert configs[quotes].effective["max.message.bytes"] == "2000000"
    again = await apply_topics(admin, topics, out=quiet)
    assert again.drift == []


async def test_partitions_are_only_increased_with_the_flag(
    admin: AIOKafkaAdminClient, topics: KafkaSettings
) -> None:
    more = dataclasses.replace(topics, input_partitions=topics.input_partitions + 2)
    routing = topic_name("routing_decisions", more)
    report = await apply_topics(admin, more, fix=True, out=quiet)
    assert any(d.topic == routing and d.setting == "partitions" for d in report.drift)
    shape, _ = await _describe(admin, [routing])
    assert shape[routing][0] == topics.input_partitions
    report = await apply_topics(admin, more, allow_partition_increase=True, out=quiet)
    shape, _ = await _describe(admin, [routing])
    assert shape[routing][0] == more.input_partitions
    assert any(d.topic == routing for d in report.fixed)


async def test_fewer_partitions_in_table_never_shrinks_a_topic(
    admin: AIOKafkaAdminClient, topics: KafkaSettings
) -> None:
    fewer = dataclasses.replace(topics, input_partitions=1)
    report = await apply_topics(admin, fewer, fix=True, allow_partition_increase=True, out=quiet)
    routing = topic_name("routing_decisions", fewer)
    shape, _ = await _describe(admin, [routing])
    assert shape[routing][0] == topics.input_partitions
    assert not any(d.setting == "partitions" for d in report.drift)


async def test_replication_factor_beyond_the_cluster_is_a_clear_error(
    admin: AIOKafkaAdminClient, kafka_settings: KafkaSettings
) -> None:
    three = dataclasses.replace(kafka_settings, replication_factor=3)
    with pytest.raises(TopicError, match="create topic .*InvalidReplicationFactor"):
        await apply_topics(admin, three, out=quiet)
