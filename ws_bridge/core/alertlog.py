"""The bridge's in-memory tail of the persisted alert log, for resume and replay. No I/O.

The alert topic has one partition, so an alert's Kafka offset is its position: ``seq``. The log
is identified by an ``epoch`` (the I/O shell uses the topic's id), which changes when the topic
is recreated and its offsets start again. The shell loads the log from the start of the topic
before it accepts clients, then appends each consumed alert here *before* it dispatches it to
the sessions. That order is what makes the resume seam exact: at any instant every alert with
``seq <= last_seq`` is readable here, and every later alert is still to be dispatched, so a
session that replays up to ``last_seq`` and then takes live alerts with ``seq > last_seq`` gets
each alert once and misses none (see :mod:`ws_bridge.core.session`).

Only the newest ``capacity`` entries are kept (``RTX_BRIDGE_ALERT_HISTORY``); ``start_seq`` is
the lowest position that may still be here. A position below it is "gone": a resume from it
reports ``recovered: false`` and replays what is left.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ws_bridge.core.messages import Encoded, encode, to_message


@dataclass(frozen=True, slots=True)
class AlertEntry:
    seq: int
    event_us: int
    encoded: Encoded


_GONE = AlertEntry(-1, 0, Encoded("", None, {}))  # an evicted slot (never read: below _head)


class AlertLog:
    """The newest ``capacity`` alerts of the log ``epoch``, ordered by ``seq``."""

    def __init__(self, epoch: str, *, capacity: int, start_seq: int = 0) -> None:
        if capacity < 0 or start_seq < 0:
            raise ValueError("capacity and start_seq must be >= 0")
        self.epoch = epoch
        self.capacity = capacity
        self.start_seq = start_seq  # lowest seq that may still be held
        self.last_seq = start_seq - 1  # highest seq appended (start_seq - 1: none yet)
        self._entries: list[AlertEntry] = []
        self._head = 0  # entries before it are evicted (compacted now and then)
        self._seqs: list[int] = []
        # Largest event time no longer held; None: nothing evicted and the log began at 0.
        self._evicted_max_us: float | None = None if start_seq == 0 else float("inf")

    def __len__(self) -> int:
        return len(self._entries) - self._head

    def append(self, seq: int, record: Mapping[str, Any]) -> Encoded | None:
        """Add the Alert record at offset ``seq``; its encoded message, or None for a seq not
        above ``last_seq`` (a redelivery: the caller must not dispatch it again)."""
        if seq <= self.last_seq:
            return None
        encoded = encode(to_message("Alert", record, seq=seq, epoch=self.epoch))
        self.last_seq = seq
        self._entries.append(AlertEntry(seq, int(record["eventTime"]), encoded))
        self._seqs.append(seq)
        while len(self) > self.capacity:
            self._evict()
        return encoded

    def _evict(self) -> None:
        gone = self._entries[self._head]
        # Release the payload now: the slot stays (positions are list indexes until the next
        # compaction) but must not keep the message alive. Before this, every evicted alert
        # stayed in memory until up to 1,024 (or ``capacity``) more had gone: with the default
        # store that was up to twice ``capacity`` messages, and a soak's slow "leak".
        self._entries[self._head] = _GONE
        self._head += 1
        self.start_seq = gone.seq + 1
        if self._evicted_max_us is None or gone.event_us > self._evicted_max_us:
            self._evicted_max_us = gone.event_us
        if self._head > 1024 and self._head * 2 > len(self._entries):
            del self._entries[: self._head]
            del self._seqs[: self._head]
            self._head = 0

    def after(self, seq: int) -> AlertEntry | None:
        """The first held entry with a seq above ``seq``."""
        index = bisect.bisect_right(self._seqs, seq, lo=self._head)
        return self._entries[index] if index < len(self._entries) else None

    def holds_after(self, seq: int) -> bool:
        """Whether every alert after position ``seq`` is still here (``since`` recoverable)."""
        return seq + 1 >= self.start_seq

    def position_after_time(self, after_us: int) -> tuple[int, bool]:
        """The position (seq to resume after) of the first entry with eventTime > ``after_us``,
        and whether nothing that might be later than ``after_us`` was evicted."""
        recovered = self._evicted_max_us is None or self._evicted_max_us <= after_us
        for index in range(self._head, len(self._entries)):
            if self._entries[index].event_us > after_us:
                return self._entries[index].seq - 1, recovered
        return self.last_seq, recovered

    def range(
        self, from_us: int, to_us: int | None, limit: int
    ) -> tuple[list[AlertEntry], bool, bool]:
        """Entries with ``from_us <= eventTime < to_us`` in log order, at most ``limit``; and
        whether more matched (truncated) and whether the range is complete (nothing evicted that
        could fall in it)."""
        found: list[AlertEntry] = []
        truncated = False
        for index in range(self._head, len(self._entries)):
            entry = self._entries[index]
            if entry.event_us >= from_us and (to_us is None or entry.event_us < to_us):
                if len(found) == limit:
                    truncated = True
                    break
                found.append(entry)
        complete = self._evicted_max_us is None or self._evicted_max_us < from_us
        return found, truncated, complete
