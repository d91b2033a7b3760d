"""Markout curves: mean markout against horizon per symbol and book (pure).

:class:`CurveBoard` keeps, per (symbol, book) and per (:data:`ALL_SYMBOLS`, book), the trade
markouts of the last ``curve_window_trades`` trades within ``curve_window_s`` of its clock (the
newest fill time seen, or ``now``). ``record(symbol, book)`` is the ``MarkoutCurve``: per
horizon, the count, mean bps, mean and summed USD, and the client's share of wins. A-book
against B-book is the picture a desk judges its routing by: flow it keeps (B) should show
flat or positive curves; flow with falling curves is informed and belongs in the A-book.
"""

from __future__ import annotations

from typing import Any

from streams.markouts.config import MICROS_PER_S, MarkoutConfig
from streams.markouts.errors import MarkoutStateError
from streams.markouts.records import ALL_SYMBOLS, MarkoutCurve, TradeMarkout
from streams.markouts.window import Contribution, TradeWindow, contribution, snapshot_clock

CurveKey = tuple[str, str]
"""(symbol or ALL_SYMBOLS, book)."""


class CurveBoard:
    """Markout windows per (symbol, book); see the module doc."""

    def __init__(self, config: MarkoutConfig) -> None:
        self.config = config
        self._window_us = config.curve_window_s * MICROS_PER_S
        self.windows: dict[CurveKey, TradeWindow] = {}
        self.clock: int | None = None
        self.changed: set[CurveKey] = set()

    def on_markout(self, m: TradeMarkout, c: Contribution | None = None) -> None:
        t = m["eventTime"]
        if self.clock is None or t > self.clock:
            self.clock = t
        c = c or contribution(m)
        for key in ((m["symbol"], m["book"]), (ALL_SYMBOLS, m["book"])):
            window = self.windows.get(key)
            if window is None:
                window = self.windows[key] = self._window()
            if window.add(t, m["tradeId"], c, self.clock):
                self.changed.add(key)

    def expire(self, now: int) -> None:
        if self.clock is None or now > self.clock:
            self.clock = now
        for key in sorted(self.windows):
            if self.windows[key].expire(self.clock):
                self.changed.add(key)

    def drain(self) -> list[CurveKey]:
        """(symbol, book) pairs whose curve changed since the last drain, sorted."""
        out = sorted(self.changed)
        self.changed = set()
        return out

    def record(self, symbol: str, book: str) -> MarkoutCurve | None:
        window = self.windows.get((symbol, book))
        if window is None or self.clock is None:
            return None
        return MarkoutCurve(
            **window.figures(self.config.horizons_ms),
            eventTime=self.clock,
            symbol=symbol,
            book=book,
            trades=len(window),
        )

    def _window(self) -> TradeWindow:
        c = self.config
        return TradeWindow(len(c.horizons_ms), c.curve_window_trades, self._window_us)

    def state(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "windows": [[s, b, self.windows[(s, b)].state()] for s, b in sorted(self.windows)],
            "changed": sorted([s, b] for s, b in self.changed),
        }

    def restore(self, raw: Any) -> None:
        clock = snapshot_clock(raw, "curves")
        rows = raw.get("windows")
        if not isinstance(rows, list) or not all(
            isinstance(row, list) and len(row) == 3 for row in rows
        ):
            raise MarkoutStateError("curves state: expected [symbol, book, rows] windows")
        self.windows = {}
        for symbol, book, items in rows:
            window = self.windows[(str(symbol), str(book))] = self._window()
            window.restore(items, f"curves.{symbol}.{book}")
        self.clock = clock
        self.changed = {(str(s), str(b)) for s, b in raw.get("changed") or []}
