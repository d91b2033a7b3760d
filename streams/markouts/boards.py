"""All markout aggregates behind one interface, for the worker's global stage (pure).

:class:`MarkoutBoards` takes what :class:`streams.markouts.stage.MarkoutStage` drains (trade
markouts and last-look samples, from every partition), position states (for holding times) and
event time, and gives back, per :meth:`MarkoutBoards.drain`, the records that changed:
``AccountToxicity`` per account, ``LpMarkout`` per LP, ``MarkoutCurve`` per (symbol, book), the
toxic-flow alerts (``Alert`` shape) and ``RoutingAdvice``. One instance sees every account, so
it runs once (like the LP tracker); its snapshot is :meth:`state`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from streams.markouts.accounts import AccountBoard
from streams.markouts.config import MICROS_PER_S, MarkoutConfig
from streams.markouts.curves import CurveBoard
from streams.markouts.errors import MarkoutStateError
from streams.markouts.holding import PositionTimes
from streams.markouts.lps import LpBoard
from streams.markouts.records import (
    AccountToxicity,
    Alert,
    LastLookSample,
    LpMarkout,
    MarkoutCurve,
    RoutingAdvice,
    TradeMarkout,
)
from streams.markouts.window import contribution

FORMAT: Final = 1


@dataclass(slots=True)
class Drained:
    """Records to publish: what changed since the last drain (keys sorted)."""

    accounts: list[AccountToxicity] = field(default_factory=list)
    lps: list[LpMarkout] = field(default_factory=list)
    curves: list[MarkoutCurve] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    advice: list[RoutingAdvice] = field(default_factory=list)


class MarkoutBoards:
    """Accounts, LPs, curves and the position clock of holding times; see the module doc."""

    def __init__(self, config: MarkoutConfig | None = None) -> None:
        self.config = config = config or MarkoutConfig()
        self.accounts = AccountBoard(config)
        self.lps = LpBoard(config)
        self.curves = CurveBoard(config)
        self.positions = PositionTimes(config.account_window_s * MICROS_PER_S)

    def on_markout(self, m: TradeMarkout) -> None:
        c = contribution(m)
        self.accounts.on_markout(m, c)
        self.lps.on_markout(m, c)
        self.curves.on_markout(m, c)

    def on_sample(self, s: LastLookSample) -> None:
        self.lps.on_sample(s)

    def on_position(self, record: Mapping[str, Any]) -> None:
        """A PositionState (``holding.POSITION_FIELDS`` are read): a close gives a holding
        time to its account."""
        holding = self.positions.on_position(record)
        if holding is not None:
            self.accounts.on_holding(*holding)

    def expire(self, now: int) -> None:
        """Age all windows to event time ``now`` (every few seconds: O(keys))."""
        self.accounts.expire(now)
        self.lps.expire(now)
        self.curves.expire(now)

    def drain(self) -> Drained:
        accounts, alerts, advice = self.accounts.drain()
        return Drained(
            accounts=[r for a in accounts if (r := self.accounts.record(a)) is not None],
            lps=[p for lp in self.lps.drain() if (p := self.lps.record(lp)) is not None],
            curves=[c for k in self.curves.drain() if (c := self.curves.record(*k)) is not None],
            alerts=alerts,
            advice=advice,
        )

    def state(self) -> dict[str, Any]:
        """JSON-able snapshot; :meth:`restore` of it continues exactly where this one is."""
        return {
            "format": FORMAT,
            "horizonsMs": list(self.config.horizons_ms),
            "accounts": self.accounts.state(),
            "lps": self.lps.state(),
            "curves": self.curves.state(),
            "positions": self.positions.state(),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or state.get("format") != FORMAT:
            raise MarkoutStateError(f"expected a format-{FORMAT} markout boards state")
        if state.get("horizonsMs") != list(self.config.horizons_ms):
            raise MarkoutStateError("snapshot horizons differ from the configured ones")
        self.accounts.restore(state.get("accounts"))
        self.lps.restore(state.get("lps"))
        self.curves.restore(state.get("curves"))
        self.positions.restore(state.get("positions"))
