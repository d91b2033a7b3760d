"""The markout stage of one input partition, with its event-time merge and offsets (pure).

Quotes and routing decisions are keyed by symbol on topics with the same partition count, so
partition p of both holds the same symbols: one :class:`PartitionStage` per p sees every quote
and every trade of its symbols, and any number of processes can split the partitions (the
``rtx-analytics markouts`` shell runs them). Per partition:

- quotes and decisions go through an :class:`~streams.markouts.merge.EventTimeMerge`, then to a
  :class:`~streams.markouts.stage.MarkoutStage` (its own clock, so a partition behind another
  never makes the other's trades late);
- positions (same partition number of the positions topic) pass straight on: openings and
  closings, for holding times (:func:`~streams.markouts.hop.position_message`);
- :meth:`PartitionStage.take` returns what settled: trade markouts (for the trade markouts topic
  and the boards) and the messages for the boards, with a tick of the stage's clock whenever it
  enters a new ``tick_s`` period (event time), so that the boards age their windows;
- ``offsets`` are the next offset of each source after the last record the stage applied (not
  merely fetched): a snapshot (:meth:`snapshot`) holds the stage's state with them, and a
  restore continues from exactly there.

A record that does not decode or validate is offered as ``None``: it only moves its offset on
(the worker dead-letters it; this stage only counts it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from streams.markouts.config import MICROS_PER_S, MarkoutConfig
from streams.markouts.errors import MarkoutStateError
from streams.markouts.hop import HopMessage, position_message, sample_message, tick_message
from streams.markouts.merge import EventTimeMerge
from streams.markouts.records import TradeMarkout
from streams.markouts.stage import MarkoutStage, UsdRate

QUOTES: Final = "quotes"
DECISIONS: Final = "routing_decisions"
POSITIONS: Final = "positions"
SOURCES: Final = (QUOTES, DECISIONS, POSITIONS)
"""The input topics (logical names) of a partition stage; quotes and decisions are merged."""

FORMAT: Final = 1
_UNKNOWN_TIME: Final = -1  # an invalid record: released as soon as it is its source's head

Offered = tuple[int, Mapping[str, Any] | None]
"""``(offset, validated record or None)``."""


class PartitionStage:
    """Stage, merge and offsets of one partition; see the module doc."""

    def __init__(
        self, partition: int, config: MarkoutConfig, usd_rate: UsdRate, tick_s: int = 5
    ) -> None:
        self.partition = partition
        self.stage = MarkoutStage(config, usd_rate)
        self.merge: EventTimeMerge[Offered] = EventTimeMerge((QUOTES, DECISIONS))
        self.offsets: dict[str, int | None] = dict.fromkeys(SOURCES)
        self.invalid = 0
        self._tick_us = tick_s * MICROS_PER_S
        self._period: int | None = None
        self._out: list[HopMessage] = []

    # --- inputs ------------------------------------------------------------------------------

    def offer(self, source: str, records: Iterable[Offered]) -> None:
        """Records of ``source`` in offset order (the positions go through at once)."""
        if source == POSITIONS:
            for offset, record in records:
                self.offsets[POSITIONS] = offset + 1
                if record is None:
                    self.invalid += 1
                    continue
                message = position_message(dict(record))
                if message is not None:
                    self._out.append(message)
            return
        self.merge.add(
            source,
            ((_UNKNOWN_TIME if r is None else int(r["eventTime"]), (o, r)) for o, r in records),
        )

    def caught_up(self, source: str, caught_up: bool) -> None:
        if source != POSITIONS:
            self.merge.caught_up(source, caught_up)

    def idle(self) -> bool:
        """Nothing buffered (the caller also knows whether Kafka holds more)."""
        return not self.merge

    def advance(self, now: int) -> None:
        """Move the stage's clock to ``now`` (a partition with nothing left to read, while
        others move on: its trades of symbols that stopped quoting time out)."""
        self.stage.advance(now)
        self._maybe_tick()

    # --- outputs -----------------------------------------------------------------------------

    def take(self, until: int | None = None) -> tuple[list[TradeMarkout], list[HopMessage]]:
        """Apply what the merge releases (no record newer than ``until``, when given: the
        caller holds a partition back for the others); the markouts settled and the messages
        for the boards (samples, positions, ticks) since the last call."""
        stage = self.stage
        for source, (offset, record) in self.merge.release(until):
            self.offsets[source] = offset + 1
            if record is None:
                self.invalid += 1
            elif source == QUOTES:
                stage.on_quote(record)
            else:
                stage.on_decision(record)
            self._maybe_tick()
        markouts, samples = stage.drain()
        out = self._out
        self._out = []
        out.extend(sample_message(dict(s)) for s in samples)
        return markouts, out

    def _maybe_tick(self) -> None:
        clock = self.stage.clock
        if clock is not None and clock // self._tick_us != self._period:
            self._period = clock // self._tick_us
            self._out.append(tick_message(self.partition, clock))

    # --- snapshots ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The stage's state and the offsets it covers (call after :meth:`take`, so nothing
        settled is left undrained)."""
        return {
            "format": FORMAT,
            "partition": self.partition,
            "offsets": dict(self.offsets),
            "invalid": self.invalid,
            "period": self._period,
            "stage": self.stage.state(),
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Continue from a :meth:`snapshot` (the caller re-reads from ``offsets``)."""
        if snapshot.get("format") != FORMAT or snapshot.get("partition") != self.partition:
            raise MarkoutStateError(f"not a format-{FORMAT} snapshot of partition {self.partition}")
        offsets = snapshot.get("offsets")
        if not isinstance(offsets, Mapping) or set(offsets) != set(SOURCES):
            raise MarkoutStateError(f"snapshot offsets: expected {', '.join(SOURCES)}")
        if not all(v is None or (type(v) is int and v >= 0) for v in offsets.values()):
            raise MarkoutStateError("snapshot offsets: expected whole numbers or null")
        period, invalid = snapshot.get("period"), snapshot.get("invalid")
        if (period is not None and type(period) is not int) or type(invalid) is not int:
            raise MarkoutStateError("snapshot period, invalid: expected whole numbers")
        self.stage.restore(snapshot.get("stage") or {})
        self.offsets = {s: offsets[s] for s in SOURCES}
        self.invalid, self._period = invalid, period
        self.merge.clear()
        self._out = []
