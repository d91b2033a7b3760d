"""Per-LP figures: markouts of the A-book fills an LP made, and its last-look signature (pure).

:class:`LpBoard` is fed trade markouts (A-book fills with an LP count) and last-look samples
(every A-book decision with an LP, fill or reject). Per LP, over rolling windows of
``lp_window_decisions`` items within ``lp_window_s`` of the board's clock:

- the fills' markouts per horizon (as for accounts: what the broker's A-book flow to this LP
  did after the fill);
- the decisions split by the move of the mid while the LP held the order (request time =
  decision time - executionTimeMs, to the decision time): *adverse* when it moved against the
  LP (in the client's favour, > 0), *other* when not (<= 0); unknown moves are left out;
- ``rejectRateAfterAdverse`` = adverse rejects / adverse decisions, ``rejectRateOtherwise``
  likewise, and the two-proportion z statistic of their difference

      z = (pA - pO) / sqrt(p (1 - p) (1/nA + 1/nO)),   p = (rA + rO) / (nA + nO)

  (None until each group has ``lp_min_decisions`` decisions, or when p is 0 or 1). An LP that
  rejects as often whichever way the price moved has z ~ N(0, 1); one that fills when the move
  favours it and rejects when it does not (last look) has a large z. ``lastLookSuspected`` is
  z >= ``last_look_z``.
"""

from __future__ import annotations

import math
from typing import Any

from streams.markouts.config import MICROS_PER_S, MarkoutConfig
from streams.markouts.records import LastLookSample, LpMarkout, TradeMarkout
from streams.markouts.window import (
    Contribution,
    SampleCounts,
    SampleWindow,
    TradeWindow,
    contribution,
    restore_windows,
    snapshot_clock,
)


def last_look_z(w: SampleCounts, min_decisions: int) -> float | None:
    """The two-proportion z of the reject rates after adverse moves and otherwise."""
    n_a, n_o = w.adverse, w.other
    if n_a < min_decisions or n_o < min_decisions:
        return None
    p = (w.adverse_rejects + w.other_rejects) / (n_a + n_o)
    if p <= 0 or p >= 1:
        return None
    diff = w.adverse_rejects / n_a - w.other_rejects / n_o
    return diff / math.sqrt(p * (1 - p) * (1 / n_a + 1 / n_o))


class LpBoard:
    """Per-LP fill markouts and last-look figures; see the module doc."""

    def __init__(self, config: MarkoutConfig) -> None:
        self.config = config
        self._window_us = config.lp_window_s * MICROS_PER_S
        self.fills: dict[str, TradeWindow] = {}
        self.samples: dict[str, SampleWindow] = {}
        self.clock: int | None = None
        self.changed: set[str] = set()

    def _tick(self, t: int) -> int:
        if self.clock is None or t > self.clock:
            self.clock = t
        return self.clock

    def on_markout(self, m: TradeMarkout, c: Contribution | None = None) -> None:
        lp = m["lpName"]
        if m["book"] != "ABOOK" or not lp:
            return
        clock = self._tick(m["eventTime"])
        window = self.fills.get(lp)
        if window is None:
            window = self.fills[lp] = self._fill_window()
        if window.add(m["eventTime"], m["tradeId"], c or contribution(m), clock):
            self.changed.add(lp)

    def on_sample(self, s: LastLookSample) -> None:
        lp = s["lpName"]
        clock = self._tick(s["eventTime"])
        window = self.samples.get(lp)
        if window is None:
            window = self.samples[lp] = self._sample_window()
        move = s["moveAgainstLpBps"]
        adverse = None if move is None else move > 0
        if window.add_sample(s["eventTime"], s["sampleId"], s["rejected"], adverse, clock):
            self.changed.add(lp)

    def expire(self, now: int) -> None:
        clock = self._tick(now)
        for lp in sorted(set(self.fills) | set(self.samples)):
            fills, samples = self.fills.get(lp), self.samples.get(lp)
            if (fills is not None and fills.expire(clock)) | (
                samples is not None and samples.expire(clock)
            ):
                self.changed.add(lp)

    def drain(self) -> list[str]:
        """LPs whose figures changed since the last drain, sorted."""
        out = sorted(self.changed)
        self.changed = set()
        return out

    def suspected(self, lp: str) -> bool:
        window = self.samples.get(lp)
        z = None if window is None else last_look_z(window.counts(), self.config.lp_min_decisions)
        return z is not None and z >= self.config.last_look_z

    def record(self, lp: str) -> LpMarkout | None:
        if self.clock is None or (lp not in self.fills and lp not in self.samples):
            return None
        fills = self.fills.get(lp) or self._fill_window()
        samples = self.samples.get(lp) or self._sample_window()
        w = samples.counts()
        z = last_look_z(w, self.config.lp_min_decisions)
        return LpMarkout(
            **fills.figures(self.config.horizons_ms),
            eventTime=self.clock,
            lpName=lp,
            fills=len(fills),
            decisions=len(samples),
            adverseDecisions=w.adverse,
            adverseRejects=w.adverse_rejects,
            otherDecisions=w.other,
            otherRejects=w.other_rejects,
            unknownMoves=w.unknown,
            rejectRateAfterAdverse=w.adverse_rejects / w.adverse if w.adverse else None,
            rejectRateOtherwise=w.other_rejects / w.other if w.other else None,
            lastLookZ=z,
            lastLookSuspected=z is not None and z >= self.config.last_look_z,
        )

    def _fill_window(self) -> TradeWindow:
        c = self.config
        return TradeWindow(len(c.horizons_ms), c.lp_window_decisions, self._window_us)

    def _sample_window(self) -> SampleWindow:
        return SampleWindow(self.config.lp_window_decisions, self._window_us)

    def state(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "fills": {lp: self.fills[lp].state() for lp in sorted(self.fills)},
            "samples": {lp: self.samples[lp].state() for lp in sorted(self.samples)},
            "changed": sorted(self.changed),
        }

    def restore(self, raw: Any) -> None:
        clock = snapshot_clock(raw, "lps")
        self.fills = restore_windows(raw.get("fills"), self._fill_window, "lps.fills")
        self.samples = restore_windows(raw.get("samples"), self._sample_window, "lps.samples")
        self.clock, self.changed = clock, {str(lp) for lp in raw.get("changed") or []}
