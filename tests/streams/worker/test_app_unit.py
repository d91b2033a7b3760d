"""Worker pieces that need no broker: the bounded alert-id log both writers use, the writer that
skips alerts already in the log, the Faust wiring, and the log level of expected start-up states."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    GroupCoordinatorNotAvailableError,
    GroupLoadInProgressError,
    NotCoordinatorForGroupError,
)

from schemas.codec import default_codec
from streams import events
from streams.settings import KafkaSettings
from streams.worker import log_levels
from streams.worker.alert_ids import AlertIdLog
from streams.worker.app import Worker
from streams.worker.outputs import OutputWriter
from streams.worker.pipeline import Output, PipelineConfig, service_alert
from streams.worker.settings import WorkerSettings

CODEC = default_codec()


def test_known_alert_ids_are_bounded_and_forget_the_oldest() -> None:
    """The set of alert ids already written keeps the newest ``capacity``, so memory stays
    bounded however long the alert log grows."""
    ids = AlertIdLog(capacity=3)
    assert [ids.add(f"a{i}") for i in range(5)] == [True] * 5
    assert list(ids) == ["a2", "a3", "a4"]
    assert ids.add("a3") is False, "already known: no growth"
    assert len(ids) == 3 and list(ids) == ["a2", "a3", "a4"]
    ids.replace(["x", "y", "z", "w"])  # read from the log's tail, oldest first
    assert list(ids) == ["y", "z", "w"] and "a4" not in ids
    ids.clear()
    assert not len(ids)


class Recorder:
    """Stands in for a BatchSender: records what is added."""

    def __init__(self) -> None:
        self.added: list[tuple[str, bytes, bytes | None]] = []

    async def add(self, topic: str, key: bytes, value: bytes | None, **_kw: Any) -> None:
        self.added.append((topic, key, value))


async def test_an_alert_whose_id_is_in_the_log_is_not_written_again() -> None:
    """Stage 1's service alerts and the global stage's alerts go through the same writer: an
    id in the writer's alert-id log (read from the log, or written before) is skipped; other
    outputs are always written."""
    writer = OutputWriter(CODEC, {"alerts": "p.alerts", "exposure": "p.exposure"})
    sender, ids = Recorder(), AlertIdLog()
    alert = service_alert(
        events.service_alert(
            severity="warning",
            category="system",
            title="Disk",
            message="90% full",
            source="AlertEngine",
        )
    )
    ids.replace(["20260119-103045-00000a"])  # already in the log
    in_log = Output("alerts", "20260119-103045-00000a", "Alert", alert.record)
    await writer.add(sender, [alert, in_log, alert], ids)  # type: ignore[arg-type]
    assert [(t, k) for t, k, _ in sender.added] == [("p.alerts", alert.key.encode())]
    assert CODEC.decode(sender.added[0][2] or b"").record == alert.record
    assert alert.key in ids


def test_the_faust_app_runs_no_consumer_of_its_own() -> None:
    """The loops read with consumers of their own; Faust's consumer (a group of its own, and
    the "<app id>-__assignor-__leader" topic no one creates) is not among the app's services,
    nor is its topic conductor."""
    worker = Worker(
        KafkaSettings(bootstrap_servers="127.0.0.1:1"), WorkerSettings(), PipelineConfig()
    )
    boot = worker.app.boot_strategy
    assert list(boot.kafka_consumer()) == [] and list(boot.kafka_conductor()) == []
    assert worker.app.conf.topic_allow_declare is False


@pytest.mark.parametrize(
    "error",
    [
        GroupCoordinatorNotAvailableError(),
        GroupLoadInProgressError(),
        NotCoordinatorForGroupError(),
    ],
)
def test_a_coordinator_not_available_yet_is_a_warning(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    """aiokafka logs a retried coordinator lookup at ERROR; in a normal start (offsets topic
    not created yet, coordinator loading or moving) it is a WARNING."""
    log_levels.install()
    log_levels.install()  # once is enough: no second filter
    logger = logging.getLogger(log_levels.COORDINATOR_LOGGER)
    assert sum(isinstance(f, log_levels.CoordinatorNotYetAvailable) for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger=log_levels.COORDINATOR_LOGGER):
        logger.error(log_levels.LOOKUP_FAILED, error)
    (record,) = caplog.records
    assert (record.levelno, record.levelname) == (logging.WARNING, "WARNING")


def test_other_coordinator_errors_stay_errors(caplog: pytest.LogCaptureFixture) -> None:
    log_levels.install()
    logger = logging.getLogger(log_levels.COORDINATOR_LOGGER)
    with caplog.at_level(logging.INFO, logger=log_levels.COORDINATOR_LOGGER):
        logger.error(log_levels.LOOKUP_FAILED, GroupAuthorizationFailedError())
        logger.error("Heartbeat failed: %r", GroupCoordinatorNotAvailableError())
    assert [r.levelno for r in caplog.records] == [logging.ERROR, logging.ERROR]


def test_a_partition_without_a_leader_yet_is_a_warning_other_fetch_errors_stay_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A topic created moments before has no leader yet: aiokafka's fetcher logs the retried
    offsets request at ERROR; that is a WARNING. Other failures keep their level."""
    from aiokafka.errors import (
        LeaderNotAvailableError,
        NotLeaderForPartitionError,
        TopicAuthorizationFailedError,
    )

    log_levels.install()
    log_levels.install()
    logger = logging.getLogger(log_levels.FETCHER_LOGGER)
    assert sum(isinstance(f, log_levels.LeaderNotYetElected) for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger=log_levels.FETCHER_LOGGER):
        logger.error(log_levels.OFFSETS_FAILED, 1, NotLeaderForPartitionError())
        logger.error(log_levels.OFFSETS_FAILED, 1, LeaderNotAvailableError())
        logger.error(log_levels.OFFSETS_FAILED, 1, TopicAuthorizationFailedError())
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING, logging.ERROR]
