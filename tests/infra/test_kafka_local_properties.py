"""``RTX_KAFKA_SERVER_PROPERTIES``: extra broker properties of the local launcher, parsed and
written into ``server.properties`` (pure: no JVM). The broker side is in test_kafka_local.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra import kafka_local as kl
from infra.kafka_local.node_setup import extra_properties, server_properties
from infra.kafka_local.state import make_node


def java_properties(text: str) -> dict[str, str]:
    """What java.util.Properties.load keeps for these simple lines: the last value of a key."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def env(value: str) -> dict[str, str]:
    return {kl.EXTRA_PROPERTIES_ENV: value}


def test_items_are_split_on_commas_and_whitespace_and_a_later_key_wins() -> None:
    parsed = extra_properties(env(" a.b=1,\n c.d-e=x=y  a.b=2 ,"))
    assert parsed == {"a.b": "2", "c.d-e": "x=y"}
    assert extra_properties({}) == {}
    assert extra_properties(env("  ")) == {}


@pytest.mark.parametrize(
    ("value", "bad"),
    [("novalue", "'novalue'"), ("k=", "'k='"), ("=v", "'=v'"), ("Log.Dirs=x", "'Log.Dirs=x'")],
)
def test_a_malformed_item_is_an_error_that_names_the_setting_and_the_item(
    value: str, bad: str
) -> None:
    with pytest.raises(kl.BadExtraProperties) as excinfo:
        extra_properties(env(f"ok.key=1,{value}"))
    assert str(excinfo.value).startswith(f"{kl.EXTRA_PROPERTIES_ENV}: {bad} is not key=value")


@pytest.mark.parametrize("key", ["node.id", "listeners", "log.dirs", "controller.quorum.voters"])
def test_the_launchers_own_keys_cannot_be_changed(key: str) -> None:
    with pytest.raises(kl.BadExtraProperties, match=f"{kl.EXTRA_PROPERTIES_ENV}: {key} is written"):
        extra_properties(env(f"{key}=1"))


def test_extra_properties_go_last_so_they_override_a_written_default(tmp_path: Path) -> None:
    node = make_node(tmp_path, 1, 29092, None)
    plain = java_properties(server_properties(node, [node]))
    extra = extra_properties(env("num.partitions=6,log.retention.check.interval.ms=1000"))
    text = server_properties(node, [node], extra)
    props = java_properties(text)
    assert plain["num.partitions"] == "1"
    assert props["num.partitions"] == "6"
    assert props["log.retention.check.interval.ms"] == "1000"
    assert "log.retention.check.interval.ms" not in plain
    assert {k: v for k, v in props.items() if k not in extra} == {
        k: v for k, v in plain.items() if k not in extra
    }
    assert f"# From {kl.EXTRA_PROPERTIES_ENV}:" in text


def test_the_test_brokers_properties_parse_and_defer_deletion_by_retention_a_day() -> None:
    parsed = extra_properties(env(kl.TEST_BROKER_PROPERTIES))
    day_ms = str(24 * 3600 * 1000)
    assert parsed == {
        "log.retention.check.interval.ms": day_ms,
        "log.initial.task.delay.ms": day_ms,
        "log.cleaner.backoff.ms": day_ms,
    }


def test_a_bad_value_stops_start_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(kl.EXTRA_PROPERTIES_ENV, "node.id=7")
    with pytest.raises(kl.BadExtraProperties):
        kl.start(port=29092, state_dir=tmp_path / "kafka", out=lambda _line: None)
    assert not (tmp_path / "kafka").exists()
