"""The simulated market: instruments with moving quotes, and liquidity providers (pure: no I/O).

Quotes: the USD legs (EURUSD, GBPUSD, USDJPY, USDCHF, AUDUSD, XAUUSD) follow a mean-reverting
geometric random walk in simulated time; the crosses (EURCHF, EURGBP, EURJPY) are derived from
their legs, so triangular arbitrage never shows (EURCHF = EURUSD x USDCHF). The spread is the
instrument's typical spread, widened while LPs are degraded or down, rounded to the
instrument's tick, and never less than one tick: bid < ask always.

LPs: each is ``up``, ``degraded`` (latency and reject rate up, wider spreads) or ``down``
(disconnected); transitions happen after exponentially distributed times (simulated seconds):
up -> degraded, degraded -> up or down, down -> up (reconnect). Every transition and a
heartbeat every :data:`LP_HEARTBEAT_S` publish an ``LpStatus``, as the old hub's LP manager did.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from streams.simulator.traders import Impact

LP_HEARTBEAT_S = 5.0
"""The LP manager publishes each LP's status on every change and this often (the contract)."""


@dataclass(frozen=True, slots=True)
class Instrument:
    """A traded symbol. ``legs``: for a cross, (numerator, denominator or "", multiply?)."""

    symbol: str
    mid: float  # starting mid
    spread: float  # typical spread, price units
    digits: int  # price decimals
    vol_per_sqrt_s: float  # relative volatility per sqrt(simulated second)
    min_lot: float  # smallest order, base units (ounces for XAU)
    weight: float  # share of quote ticks and orders
    legs: tuple[str, str, bool] | None = None  # cross = legs[0] * legs[1] or legs[0] / legs[1]

    @property
    def base(self) -> str:
        return self.symbol[:3]

    @property
    def quote_ccy(self) -> str:
        return self.symbol[3:]


INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("EURUSD", 1.0850, 0.00006, 5, 2.0e-5, 1000, 0.24),
    Instrument("GBPUSD", 1.2700, 0.00009, 5, 2.4e-5, 1000, 0.14),
    Instrument("USDJPY", 151.20, 0.007, 3, 2.2e-5, 1000, 0.14),
    Instrument("USDCHF", 0.8800, 0.00010, 5, 2.0e-5, 1000, 0.07),
    Instrument("AUDUSD", 0.6600, 0.00008, 5, 2.6e-5, 1000, 0.07),
    Instrument("XAUUSD", 2350.0, 0.25, 2, 3.5e-5, 1, 0.16),
    Instrument("EURCHF", 0.9548, 0.00015, 5, 0.0, 1000, 0.06, ("EURUSD", "USDCHF", True)),
    Instrument("EURGBP", 0.8543, 0.00010, 5, 0.0, 1000, 0.05, ("EURUSD", "GBPUSD", False)),
    Instrument("EURJPY", 164.05, 0.012, 3, 0.0, 1000, 0.07, ("EURUSD", "USDJPY", True)),
)
BY_SYMBOL = {i.symbol: i for i in INSTRUMENTS}
MEAN_REVERSION_PER_S = 1 / 3600  # pulls a leg back towards its start within about an hour


class Market:
    """Mids of every instrument in simulated time; quotes with spreads."""

    def __init__(self, rng: random.Random, instruments: tuple[Instrument, ...] = INSTRUMENTS):
        self._rng = rng
        self.instruments = instruments
        self._start = {i.symbol: i.mid for i in instruments}
        self._mids = dict(self._start)
        self._moved_at = dict.fromkeys(self._mids, 0.0)
        self.impact = Impact()  # informed orders' drifts (streams.simulator.traders)

    def mid(self, symbol: str) -> float:
        return self._mids[symbol]

    def move(self, symbol: str, now: float) -> float:
        """Advance a leg's random walk to ``now`` (a cross follows its legs); its new mid."""
        inst = BY_SYMBOL[symbol]
        if inst.legs is not None:
            a, b, multiply = inst.legs
            self.move(a, now)
            self.move(b, now)
            mid = self._mids[a] * self._mids[b] if multiply else self._mids[a] / self._mids[b]
            self._mids[symbol] = mid
            return mid
        since = self._moved_at[symbol]
        dt = now - since
        if dt <= 0:
            return self._mids[symbol]
        self._moved_at[symbol] = now
        mid = self._mids[symbol]
        pull = -MEAN_REVERSION_PER_S * math.log(mid / self._start[symbol]) * dt
        step = pull + inst.vol_per_sqrt_s * math.sqrt(dt) * self._rng.gauss(0.0, 1.0)
        mid *= math.exp(step + self.impact.drift(symbol, since, now))
        self._mids[symbol] = mid
        return mid

    def close_price(self, symbol: str, side: str) -> float:
        """Where a position of ``side`` closes now: the other side, half the instrument's spread
        from the current mid (no random draw: a seed's event sequence stays what it was)."""
        inst = BY_SYMBOL[symbol]
        half = inst.spread / 2 if side == "SELL" else -inst.spread / 2
        return round(self._mids[symbol] + half, inst.digits)

    def quote(self, symbol: str, now: float, widen: float = 1.0) -> tuple[float, float]:
        """(bid, ask) around the moved mid, the spread widened by ``widen`` and jittered."""
        inst = BY_SYMBOL[symbol]
        mid = self.move(symbol, now)
        tick = 10.0**-inst.digits
        spread = inst.spread * widen * self._rng.uniform(0.8, 1.3)
        bid = round(mid - spread / 2, inst.digits)
        ask = round(mid + spread / 2, inst.digits)
        if ask - bid < tick / 2:  # rounding collapsed the spread: keep one tick
            ask = round(bid + tick, inst.digits)
        return bid, ask

    def usd_rate(self, currency: str) -> float:
        """USD per unit of a base currency, from the USD legs (as the worker converts)."""
        if currency == "USD":
            return 1.0
        direct = self._mids.get(currency + "USD")
        if direct is not None:
            return direct
        inverse = self._mids.get("USD" + currency)
        if inverse is not None:
            return 1.0 / inverse
        raise KeyError(f"no USD rate for {currency}")


@dataclass(frozen=True, slots=True)
class LpProfile:
    name: str
    latency_ms: float
    reject_rate: float
    spread_factor: float  # its spreads relative to the instrument's typical one
    quotes_per_second: float
    last_look: bool = False  # rejects after adverse moves (streams.simulator.traders)


LP_PROFILES: tuple[LpProfile, ...] = (
    LpProfile("OANDA", 32.0, 0.012, 1.10, 180.0),
    LpProfile("LMAX", 9.0, 0.006, 0.95, 420.0),
    LpProfile("Currenex", 18.0, 0.010, 1.00, 300.0),
    LpProfile("Integral", 24.0, 0.015, 1.05, 250.0),
    LpProfile("Hotspot", 14.0, 0.020, 1.15, 220.0, last_look=True),
)
# Mean simulated seconds in each state before the next transition.
MEAN_UP_S, MEAN_DEGRADED_S, MEAN_DOWN_S = 90.0, 20.0, 12.0
P_DEGRADED_TO_DOWN = 0.35


class Lp:
    """One LP's state machine and the figures its status events report."""

    def __init__(self, profile: LpProfile, rng: random.Random, now: float) -> None:
        self.profile = profile
        self.name = profile.name
        self._rng = rng
        self.state = "up"
        self.next_transition = now + rng.expovariate(1 / MEAN_UP_S)
        self._since = now
        self._connected_s = 0.0
        self._start = now
        self.transitions = 0
        self._reset_figures()

    @property
    def connected(self) -> bool:
        return self.state != "down"

    def _reset_figures(self) -> None:
        p, rng = self.profile, self._rng
        if self.state == "degraded":
            self.latency_ms = p.latency_ms * rng.uniform(8.0, 20.0)  # over the 250 ms rule
            self.reject_rate = rng.uniform(0.07, 0.2)  # over the 5 % rule
            self.spread_factor = p.spread_factor * rng.uniform(1.8, 3.0)
            self.quotes_per_second = p.quotes_per_second * rng.uniform(0.2, 0.5)
        else:
            self.latency_ms = p.latency_ms * rng.uniform(0.8, 1.25)
            self.reject_rate = p.reject_rate * rng.uniform(0.5, 1.5)
            self.spread_factor = p.spread_factor * rng.uniform(0.9, 1.1)
            self.quotes_per_second = p.quotes_per_second * rng.uniform(0.9, 1.1)
        if self.state == "down":
            self.quotes_per_second = 0.0

    def transition(self, now: float) -> str:
        """Move to the next state (called at ``next_transition``); returns the new state."""
        if self.connected:
            self._connected_s += now - self._since
        self._since = now
        if self.state == "up":
            self.state, mean = "degraded", MEAN_DEGRADED_S
        elif self.state == "degraded":
            down = self._rng.random() < P_DEGRADED_TO_DOWN
            self.state, mean = ("down", MEAN_DOWN_S) if down else ("up", MEAN_UP_S)
        else:
            self.state, mean = "up", MEAN_UP_S
        self.transitions += 1
        self.next_transition = now + self._rng.expovariate(1 / mean)
        self._reset_figures()
        return self.state

    def uptime_pct(self, now: float) -> float:
        connected = self._connected_s + (now - self._since if self.connected else 0.0)
        elapsed = now - self._start
        return 100.0 if elapsed <= 0 else min(100.0, 100.0 * connected / elapsed)

    def status_event(self, now: float) -> dict[str, Any]:
        """Keyword arguments of ``Publisher.lp_status`` for the LP's current figures."""
        quality = 1.0 - self.reject_rate - min(0.5, self.latency_ms / 2000.0)
        return {
            "lp_name": self.name,
            "status": "connected" if self.connected else "disconnected",
            "avg_spread": round(0.00006 * self.spread_factor, 7),
            "execution_quality": round(max(0.0, min(1.0, quality)), 4),
            "latency_ms": round(self.latency_ms, 1),
            "quotes_per_second": round(self.quotes_per_second, 1),
            "reject_rate": round(self.reject_rate, 4),
            "uptime": round(self.uptime_pct(now), 3),
        }
