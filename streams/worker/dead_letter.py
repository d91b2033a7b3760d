"""Dead-lettering: a bad input record (undecodable or invalid) goes to the dead-letter topic
unchanged, key and value, with headers naming where it came from and why; the worker carries on.

Headers: ``rtx.source.topic``, ``rtx.source.partition``, ``rtx.source.offset``, ``rtx.error``
(the reason, ``<code>: <message>``, at most 2,000 bytes) and ``rtx.dead-lettered-at`` (epoch ms).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from streams.worker import metrics as m
from streams.worker.batch_sender import BatchSender

log = logging.getLogger("rtx.worker")


class DeadLetters:
    """Writes rejected input records to ``topic``; ``clock`` gives the epoch seconds of the
    ``rtx.dead-lettered-at`` header."""

    def __init__(self, topic: str, clock: Callable[[], float] = time.time) -> None:
        self.topic = topic
        self._clock = clock

    async def add(self, sender: BatchSender, logical: str, record: Any, reason: str) -> None:
        """Add ``record`` (an aiokafka ConsumerRecord of input topic ``logical``), rejected
        for ``reason``, to the sender's next round; count and log it."""
        m.DEAD_LETTERED.labels(topic=logical, reason=reason.split(":", 1)[0]).inc()
        log.warning(
            "dead-lettered %s[%s]@%s: %s",
            record.topic,
            record.partition,
            record.offset,
            reason[:300],
        )
        headers = [
            ("rtx.source.topic", record.topic.encode()),
            ("rtx.source.partition", str(record.partition).encode()),
            ("rtx.source.offset", str(record.offset).encode()),
            ("rtx.error", reason[:2000].encode("utf-8", "replace")),
            ("rtx.dead-lettered-at", str(int(self._clock() * 1000)).encode()),
        ]
        await sender.add(self.topic, record.key or b"", record.value or b"", headers=headers)
