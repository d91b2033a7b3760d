"""Log levels of expected states: aiokafka logs a group coordinator that is not available yet as
an ERROR, though it retries until one is.

That happens in a normal start: on a new cluster the broker creates ``__consumer_offsets`` when
the first group asks for a coordinator (Kafka protocol, FindCoordinator: error 15
COORDINATOR_NOT_AVAILABLE "if the offsets topic has not yet been created"), and while a
coordinator loads its groups (14 COORDINATOR_LOAD_IN_PROGRESS) or moves (16 NOT_COORDINATOR).
aiokafka's coordinator lookup logs each retriable failure at ERROR, then retries after
``retry_backoff_ms``. :func:`install` makes those records WARNINGs: an operator still sees a
coordinator that stays away, and an ERROR line keeps meaning that something failed. Any other
record, and the same errors anywhere else, keep their level.

The same holds for a partition whose leader is not elected yet when the consumer first asks for
its offsets (a topic created moments before: 6 NOT_LEADER_OR_FOLLOWER, 5 LEADER_NOT_AVAILABLE):
aiokafka's fetcher logs "Failed fetch offsets" at ERROR and retries after ``retry_backoff_ms``.
"""

from __future__ import annotations

import logging

from aiokafka.errors import (
    GroupCoordinatorNotAvailableError,
    GroupLoadInProgressError,
    LeaderNotAvailableError,
    NotCoordinatorForGroupError,
    NotLeaderForPartitionError,
)

COORDINATOR_LOGGER = "aiokafka.consumer.group_coordinator"
LOOKUP_FAILED = "Group Coordinator Request failed: %s"  # aiokafka's message, matched exactly
EXPECTED = (
    GroupCoordinatorNotAvailableError,
    GroupLoadInProgressError,
    NotCoordinatorForGroupError,
)

FETCHER_LOGGER = "aiokafka.consumer.fetcher"
OFFSETS_FAILED = "Failed fetch offsets from %s: %s"  # aiokafka's message, matched exactly
LEADER_EXPECTED = (NotLeaderForPartitionError, LeaderNotAvailableError)


class LeaderNotYetElected(logging.Filter):
    """Logs a retried offsets request that failed because a new partition has no leader yet
    as a WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.levelno > logging.WARNING
            and record.msg == OFFSETS_FAILED
            and isinstance(record.args, tuple)
            and len(record.args) == 2
            and isinstance(record.args[1], LEADER_EXPECTED)
        ):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class CoordinatorNotYetAvailable(logging.Filter):
    """Logs a retried coordinator lookup that failed for an expected reason as a WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.levelno > logging.WARNING
            and record.msg == LOOKUP_FAILED
            and isinstance(record.args, tuple)
            and len(record.args) == 1
            and isinstance(record.args[0], EXPECTED)
        ):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def install() -> None:
    """Add the filters to aiokafka's group-coordinator and fetcher loggers (once each, however
    often called)."""
    for name, kind in (
        (COORDINATOR_LOGGER, CoordinatorNotYetAvailable),
        (FETCHER_LOGGER, LeaderNotYetElected),
    ):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())
