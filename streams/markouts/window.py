"""Rolling windows of trade markouts and last-look samples, with exact sums (pure).

A window holds the newest ``max_items`` items (by time, then id) whose time is at or after
``clock - window_us``; ``clock`` is given by the caller (the newest time its board has seen).
An item that would be evicted at once is *outside* and ignored, so a window's content is a
function of the set of items offered and the clock, not of their order; a redelivered item
that left the window is outside again (bounded memory, no double count).

:class:`TradeWindow` keeps, per trade, its markout at each horizon and, per horizon, integer
sums: each markout counts in bps to the nearest 1e-6 bps and in USD to the nearest micro-USD
(:data:`SCALE`), so sums are exact and independent of order, and each mean is one correctly
rounded division. A markout is in the client's favour when its scaled bps value is < 0 (the
broker lost), against the client when > 0; 0 is a tie.

:class:`SampleWindow` counts last-look samples: per decision, rejected or not, and whether
the mid moved against the LP (> 0) while it held the order. All are :class:`SumWindow`: items
of integers with exact sums (holding times use one too).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable
from typing import Any, Final, NamedTuple, TypeVar

from streams.markouts.errors import MarkoutStateError
from streams.markouts.records import KNOWN, Figures, TradeMarkout

SCALE: Final = 1_000_000

FIELDS: Final = 7
"""Per horizon, a contribution holds: known, unknown, bps, usd known, usd, client wins, losses."""

Contribution = tuple[int, ...]
"""What a trade adds to a window's sums: :data:`FIELDS` integers per horizon."""


def scaled(value: float | None) -> int | None:
    """``value`` x :data:`SCALE`, rounded to an integer (None for None or a non-finite value)."""
    if value is None:
        return None
    try:
        return round(value * SCALE)
    except (OverflowError, ValueError):
        return None


def contribution(m: TradeMarkout) -> Contribution:
    """A TradeMarkout's contribution to the sums of a window (computed once per trade)."""
    out: list[int] = []
    for status, bps, usd in zip(m["status"], m["markoutBps"], m["markoutUsd"], strict=True):
        b = scaled(bps) if status == KNOWN else None
        if b is None:
            out += (0, 1, 0, 0, 0, 0, 0)
        else:
            u = scaled(usd)
            out += (1, 0, b, int(u is not None), u or 0, int(b < 0), int(b > 0))
    return tuple(out)


class RollingKeys:
    """The (time, id) keys of a rolling window, ascending; see the module doc."""

    __slots__ = ("keys", "max_items", "window_us")

    def __init__(self, max_items: int, window_us: int) -> None:
        self.max_items = max_items
        self.window_us = window_us
        self.keys: list[tuple[int, str]] = []

    def insert(self, time: int, item_id: str, clock: int) -> list[str] | None:
        """Add a key; returns the ids evicted by it, or None when the key itself is outside."""
        cutoff = clock - self.window_us
        keys = self.keys
        if time < cutoff or (len(keys) >= self.max_items and (time, item_id) < keys[0]):
            return None
        insort(keys, (time, item_id))
        return self.expire(clock)

    def expire(self, clock: int) -> list[str]:
        """Evict what is older than ``clock - window_us`` or beyond ``max_items``."""
        cutoff, keys = clock - self.window_us, self.keys
        n = max(0, len(keys) - self.max_items)
        while n < len(keys) and keys[n][0] < cutoff:
            n += 1
        if not n:
            return []
        evicted = [i for _, i in keys[:n]]
        del keys[:n]
        return evicted


class SumWindow:
    """Items of a rolling window, each a tuple of ``width`` integers, and their exact sums."""

    __slots__ = ("items", "rolling", "sums")

    def __init__(self, width: int, max_items: int, window_us: int) -> None:
        self.rolling = RollingKeys(max_items, window_us)
        self.items: dict[str, tuple[int, ...]] = {}
        self.sums = [0] * width

    def __len__(self) -> int:
        return len(self.items)

    def add(self, time: int, item_id: str, values: tuple[int, ...], clock: int) -> bool:
        """False when it changes nothing (outside the window, or a duplicate)."""
        if item_id in self.items:
            return False
        evicted = self.rolling.insert(time, item_id, clock)
        if evicted is None:
            return False
        self._evict(evicted)
        self.items[item_id] = values
        self.sums = [a + b for a, b in zip(self.sums, values, strict=True)]
        return True

    def expire(self, clock: int) -> bool:
        evicted = self.rolling.expire(clock)
        self._evict(evicted)
        return bool(evicted)

    def _evict(self, ids: list[str]) -> None:
        for item_id in ids:
            values = self.items.pop(item_id)
            self.sums = [a - b for a, b in zip(self.sums, values, strict=True)]

    def state(self) -> list[list[Any]]:
        """``[time, id, value...]`` per item, oldest first."""
        return [[t, i, *self.items[i]] for t, i in self.rolling.keys]

    def restore(self, rows: Any, where: str) -> None:
        width = len(self.sums)
        if not isinstance(rows, list):
            raise MarkoutStateError(f"{where}: expected a list")
        for row in rows:
            if not (
                isinstance(row, list)
                and len(row) == 2 + width
                and all(type(v) is int for v in (row[0], *row[2:]))
            ):
                raise MarkoutStateError(f"{where}: expected [time, id, int...], got {row!r:.200}")
            self.add(row[0], str(row[1]), tuple(row[2:]), row[0])


class TradeWindow(SumWindow):
    """Trade markouts of a rolling window; per horizon, exact integer sums."""

    __slots__ = ()

    def __init__(self, horizons: int, max_items: int, window_us: int) -> None:
        super().__init__(FIELDS * horizons, max_items, window_us)

    def known(self, h: int) -> int:
        return self.sums[FIELDS * h]

    def wins(self, h: int) -> int:
        """Trades the client won at horizon ``h`` (broker markout < 0)."""
        return self.sums[FIELDS * h + 5]

    def losses(self, h: int) -> int:
        return self.sums[FIELDS * h + 6]

    def mean_bps(self, h: int) -> float | None:
        n, total = self.sums[FIELDS * h], self.sums[FIELDS * h + 2]
        return total / (n * SCALE) if n else None

    def figures(self, horizons_ms: tuple[int, ...]) -> Figures:
        """Per-horizon counts, means, sums and the client's share of wins (percent)."""
        rows = [self.sums[FIELDS * h : FIELDS * (h + 1)] for h in range(len(horizons_ms))]
        return {
            "horizonsMs": list(horizons_ms),
            "knownCount": [r[0] for r in rows],
            "meanMarkoutBps": [r[2] / (r[0] * SCALE) if r[0] else None for r in rows],
            "meanMarkoutUsd": [r[4] / (r[3] * SCALE) if r[3] else None for r in rows],
            "sumMarkoutUsd": [r[4] / SCALE for r in rows],
            "clientFavourPct": [r[5] * 100 / r[0] if r[0] else None for r in rows],
        }


class SampleWindow(SumWindow):
    """Last-look samples of a rolling window; sums: decisions after an adverse move (> 0
    against the LP), how many of those the LP rejected, the same for the other decisions, and
    the decisions whose move is unknown."""

    __slots__ = ()

    def __init__(self, max_items: int, window_us: int) -> None:
        super().__init__(5, max_items, window_us)

    def add_sample(
        self, time: int, sample_id: str, rejected: bool, adverse: bool | None, clock: int
    ) -> bool:
        r = int(rejected)
        values = (
            (0, 0, 0, 0, 1) if adverse is None else (1, r, 0, 0, 0) if adverse else (0, 0, 1, r, 0)
        )
        return self.add(time, sample_id, values, clock)

    def counts(self) -> SampleCounts:
        return SampleCounts(*self.sums)


class SampleCounts(NamedTuple):
    """A :class:`SampleWindow`'s sums."""

    adverse: int  # decisions during which the mid moved against the LP
    adverse_rejects: int
    other: int  # decisions during which it did not
    other_rejects: int
    unknown: int  # decisions whose move is unknown


W = TypeVar("W", bound=SumWindow)


def snapshot_clock(raw: Any, where: str) -> int | None:
    """The clock of a board's snapshot (an object), checked."""
    if not isinstance(raw, dict):
        raise MarkoutStateError(f"{where} state: expected an object")
    clock = raw.get("clock")
    if clock is not None and type(clock) is not int:
        raise MarkoutStateError(f"{where} state: clock is not an integer")
    return clock


def restore_windows(raw: Any, factory: Callable[[], W], where: str) -> dict[str, W]:
    """Windows by key from ``{key: rows}`` (a board's snapshot)."""
    if not isinstance(raw, dict):
        raise MarkoutStateError(f"{where}: expected an object")
    out: dict[str, W] = {}
    for key, rows in raw.items():
        window = out[str(key)] = factory()
        window.restore(rows, f"{where}.{key}")
    return out
