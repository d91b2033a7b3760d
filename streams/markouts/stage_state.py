"""The markout stage's pending trade and its JSON snapshot (pure).

:func:`stage_state` writes everything :class:`streams.markouts.stage.MarkoutStage` needs to
continue exactly where it was: the clock, the pending trades (with the targets they still wait
for), the decision ids it de-duplicates on, the quotes each symbol keeps, the counters and what
settled but was not drained. The heaps are rebuilt from the pending trades on restore: their
order is the total order of (time, arrival sequence, target), so a restored stage settles in
the same order. Malformed snapshots raise :class:`MarkoutStateError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

from streams.markouts.config import MarkoutConfig
from streams.markouts.errors import MarkoutStateError
from streams.markouts.records import STATUSES, LastLookSample, TradeMarkout
from streams.markouts.tape import QuoteTape

FORMAT: Final = 1

COUNTERS: Final = (
    "lateQuotes",
    "duplicateQuotes",
    "lateDecisions",
    "duplicateDecisions",
    "unpricedDecisions",
    "usdUnknown",
    "markoutsKnown",
    "markoutsNoQuote",
    "markoutsTimedOut",
    "samplesKnown",
    "samplesNoQuote",
    "samplesTimedOut",
)
"""The stage's counters (``MarkoutStage.counters``), in the order of docs/markouts.md."""


@dataclass(slots=True)
class Trade:
    """A decision waiting for its targets, in order: -1 (the last-look sample of an A-book
    decision with an LP) then the horizons 0..H-1 of an executed trade; ``next`` is the one it
    waits for, ``last`` its last one, ``statuses`` those of the horizons settled so far.
    ``anchor`` is the oldest time it asks the quotes about: the request time when it has a
    last-look sample, else the fill time."""

    seq: int
    trade_id: str
    order_id: str | None
    time: int
    request: int
    symbol: str
    side: str
    volume: float
    book: str
    lp: str | None
    account: str | None
    price: float  # 0.0 when the decision has no price (then it has no horizon targets)
    rejected: bool
    anchor: int
    next: int
    last: int
    statuses: list[str]

    def row(self) -> list[Any]:
        return [
            self.seq, self.trade_id, self.order_id, self.time, self.request, self.symbol,
            self.side, self.volume, self.book, self.lp, self.account, self.price,
            self.rejected, self.anchor, self.next, self.last, list(self.statuses),
        ]  # fmt: skip

    @classmethod
    def from_row(cls, row: Any, horizons: int) -> Trade:
        try:
            trade = cls(*row)
        except TypeError as exc:
            raise MarkoutStateError(f"pending trade {row!r:.200}: {exc}") from exc
        ints = (trade.seq, trade.time, trade.request, trade.anchor, trade.next, trade.last)
        if not (
            all(type(v) is int for v in ints)
            and all(isinstance(s, str) for s in (trade.trade_id, trade.symbol, trade.side))
            and isinstance(trade.book, str)
            and all(v is None or isinstance(v, str) for v in (trade.order_id, trade.lp))
            and (trade.account is None or isinstance(trade.account, str))
            and type(trade.volume) is float
            and type(trade.price) is float
            and type(trade.rejected) is bool
            and -1 <= trade.next <= trade.last < horizons
            and isinstance(trade.statuses, list)
            and len(trade.statuses) == max(0, trade.next)
            and all(s in STATUSES for s in trade.statuses)
        ):
            raise MarkoutStateError(f"pending trade {row!r:.200}: a field has the wrong type")
        return trade


class StageFields(Protocol):
    """What a snapshot holds of :class:`streams.markouts.stage.MarkoutStage` (no import of
    it here: the stage imports this module)."""

    config: MarkoutConfig
    tapes: dict[str, QuoteTape]
    pending: dict[int, Trade]
    seen: dict[str, int]
    clock: int | None
    seq: int
    counters: dict[str, int]
    markouts: list[TradeMarkout]
    samples: list[LastLookSample]


def stage_state(stage: StageFields) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "horizonsMs": list(stage.config.horizons_ms),
        "clock": stage.clock,
        "seq": stage.seq,
        "tapes": {s: stage.tapes[s].state() for s in sorted(stage.tapes)},
        "pending": [stage.pending[s].row() for s in sorted(stage.pending)],
        "seen": sorted([t, i] for i, t in stage.seen.items()),
        "counters": dict(stage.counters),
        "markouts": [dict(m) for m in stage.markouts],
        "samples": [dict(s) for s in stage.samples],
    }


def restore_stage(stage: StageFields, state: Mapping[str, Any]) -> None:
    """Set the stage's plain fields from a snapshot (the caller rebuilds its heaps)."""
    if not isinstance(state, Mapping) or state.get("format") != FORMAT:
        raise MarkoutStateError(f"expected a format-{FORMAT} markout stage state")
    if state.get("horizonsMs") != list(stage.config.horizons_ms):
        raise MarkoutStateError(
            f"snapshot horizons {state.get('horizonsMs')!r} differ from the configured "
            f"{list(stage.config.horizons_ms)}"
        )
    clock, seq = state.get("clock"), state.get("seq")
    if (clock is not None and type(clock) is not int) or type(seq) is not int:
        raise MarkoutStateError("state.clock, state.seq: expected integers")
    tapes = state.get("tapes")
    if not isinstance(tapes, Mapping):
        raise MarkoutStateError("state.tapes: expected an object")
    horizons = len(stage.config.horizons_ms)
    pending = {t.seq: t for t in (Trade.from_row(r, horizons) for r in _list(state, "pending"))}
    seen: dict[str, int] = {}
    for row in _list(state, "seen"):
        if not (isinstance(row, list) and len(row) == 2 and type(row[0]) is int):
            raise MarkoutStateError("state.seen: expected [eventTime, eventId] pairs")
        seen[str(row[1])] = row[0]
    stage.counters = counters(state.get("counters"), COUNTERS)
    stage.tapes = {
        str(s): QuoteTape.from_state(raw, f"state.tapes.{s}") for s, raw in tapes.items()
    }
    stage.clock, stage.seq, stage.pending, stage.seen = clock, seq, pending, seen
    # Settled records not drained yet: written by this module, read back as they were.
    stage.markouts = cast("list[TradeMarkout]", _list(state, "markouts"))
    stage.samples = cast("list[LastLookSample]", _list(state, "samples"))


def counters(raw: Any, names: tuple[str, ...]) -> dict[str, int]:
    """Counters from a snapshot: each a whole number >= 0."""
    if not isinstance(raw, Mapping) or set(raw) != set(names):
        raise MarkoutStateError(f"state.counters: expected {', '.join(names)}")
    if not all(type(raw[k]) is int and raw[k] >= 0 for k in names):
        raise MarkoutStateError("state.counters: expected whole numbers >= 0")
    return {k: raw[k] for k in names}


def _list(state: Mapping[str, Any], key: str) -> list[Any]:
    value = state.get(key)
    if not isinstance(value, list):
        raise MarkoutStateError(f"state.{key}: expected a list")
    return value
