"""Topics as code: one declarative table, applied idempotently with the Kafka admin API.

- :mod:`.table`: the table (:data:`TOPICS`, :class:`TopicSpec`) and the names it gives
  (:func:`topic_name`, ``RTX_TOPIC_PREFIX``); documented in README.md ("Topics");
- :mod:`.admin`: :func:`apply_topics` creates what is missing, reports drift and, when asked,
  fixes it; never deletes a topic or a record;
- :mod:`.broker`: reaching the broker (a client started within a deadline, or a message that
  names the bootstrap servers);
- :mod:`.cli`: ``rtx-analytics topics apply|list``.
"""

from streams.topics.admin import (
    ApplyReport,
    BrokerUnreachable,
    Drift,
    TopicConfigs,
    TopicError,
    apply_topics,
    open_admin,
)
from streams.topics.table import (
    BY_LOGICAL,
    DAY_MS,
    TOPICS,
    Kind,
    TopicSpec,
    table_rows,
    topic_name,
)

__all__ = [
    "BY_LOGICAL",
    "DAY_MS",
    "TOPICS",
    "ApplyReport",
    "BrokerUnreachable",
    "Drift",
    "Kind",
    "TopicConfigs",
    "TopicError",
    "TopicSpec",
    "apply_topics",
    "open_admin",
    "table_rows",
    "topic_name",
]
