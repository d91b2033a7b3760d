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
"""

from __future__ import annotations

import logging

from aiokafka.errors import (
    GroupCoordinatorNotAvailableError,
    GroupLoadInProgressError,
    NotCoordinatorForGroupError,
)

COORDINATOR_LOGGER = "aiokafka.consumer.group_coordinator"
LOOKUP_FAILED = "Group Coordinator Request failed: %s"  # aiokafka's message, matched exactly
EXPECTED = (
    GroupCoordinatorNotAvailableError,
    GroupLoadInProgressError,
    NotCoordinatorForGroupError,
)


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
    """Add the filter to aiokafka's group-coordinator logger (once, however often called)."""
    logger = logging.getLogger(COORDINATOR_LOGGER)
    if not any(isinstance(f, CoordinatorNotYetAvailable) for f in logger.filters):
        logger.addFilter(CoordinatorNotYetAvailable())
