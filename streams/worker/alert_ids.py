"""The alert ids already in the alert log, so that the worker never writes one twice.

Two writers keep one each: stage 1 (service alerts) and the global stage (the alerts its rules
raise). Each reads the ids from the alert log's tail before it writes (:func:`read_alert_ids`)
and remembers what it writes; a replayed or redelivered cause is recent, so its id is among the
newest ones, and the memory stays bounded however long the log grows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from streams.worker.kafka_io import read_partition

KNOWN_ALERT_IDS = 200_000
"""Alert ids remembered (newest kept)."""


class AlertIdLog:
    """Alert ids in insertion order; past ``capacity`` the oldest is forgotten."""

    def __init__(self, capacity: int = KNOWN_ALERT_IDS) -> None:
        self.capacity = capacity
        self._ids: dict[str, None] = {}  # a dict keeps insertion order: the oldest comes first

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def add(self, alert_id: str) -> bool:
        """Remember ``alert_id``; False if it was known (then nothing changes)."""
        ids = self._ids
        if alert_id in ids:
            return False
        ids[alert_id] = None
        if len(ids) > self.capacity:
            del ids[next(iter(ids))]
        return True

    def replace(self, alert_ids: Iterable[str]) -> None:
        """Forget every id, then remember ``alert_ids`` (oldest first)."""
        self._ids.clear()
        for alert_id in alert_ids:
            self.add(alert_id)

    def clear(self) -> None:
        self._ids.clear()


async def read_alert_ids(bootstrap_servers: str, topic: str, last: int) -> list[str]:
    """The keys (alert ids) of the ``last`` newest records of the alert log, oldest first."""
    records = await read_partition(bootstrap_servers, topic, 0, None, last=last)
    return [r.key.decode() for r in records if r.key]
