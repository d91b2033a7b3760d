"""The simulator's configuration and state records (pure: no I/O): :class:`SimConfig` (all that
shapes the event sequence), the accounts and positions the generator keeps, its
:class:`Stats`, and the service alerts it raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.simulator.market import LP_PROFILES

SimEvent = tuple[str, dict[str, Any]]
"""``(Publisher method name, keyword arguments)``."""

EVENT_TYPES = ("quote", "lp_status", "routing_decision", "position", "alert")

SERVICE_ALERTS: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    # severity, category, title, message ({n}: a number), source, action items
    ("warning", "system", "Price Feed Delayed", "Price feed lagged {n} ms behind the LP",
     "PriceFeed", ("Check the feed handler",)),
    ("info", "system", "Risk Engine Restarted", "Risk engine restarted after {n} s",
     "RiskEngine", ()),
    ("warning", "routing", "Order Gateway Slow", "Order gateway p99 at {n} ms",
     "OrderGateway", ("Check the gateway host", "Consider B-booking small orders")),
    ("error", "lp", "FIX Session Dropped", "FIX session dropped {n} times in the last hour",
     "FixEngine", ("Call the LP's support desk",)),
    ("info", "system", "Margin Call Batch Completed", "{n} accounts received a margin call",
     "MarginService", ()),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything that shapes the event sequence; equal configs give equal sequences."""

    seed: int = 7
    rate: float = 200.0  # events per simulated second (the time base)
    limit_usd: float = 100_000.0  # the worker's global exposure limit
    accounts: int = 200
    lps: int = 5  # how many of LP_PROFILES take part (1-5)
    run_id: str = ""  # id namespace of orders and positions; "" = "s<seed>"
    breach_every_s: float = 120.0  # mean simulated seconds between exposure episodes
    first_breach_s: float = 30.0  # the first episode starts this early at the latest
    ramp_s: float = 15.0  # how long an episode takes to climb (and to come back down)
    hold_s: float = 10.0  # how long it stays over the limit
    alert_every_s: float = 60.0  # mean simulated seconds between service alerts
    # Labelled trader types (streams.simulator.traders): the share of the accounts not known
    # as toxic that turn informed, when (simulated seconds), how far ahead informed flow sees
    # and how strongly the market follows it (0: informed orders move nothing).
    hidden_informed: float = 0.04
    informed_after_s: float = 60.0
    informed_before_s: float = 600.0
    foresight_s: float = 5.0
    impact: float = 1.5

    def __post_init__(self) -> None:
        if not 0 < self.rate < float("inf"):
            raise ValueError(f"rate must be > 0 events per second, got {self.rate!r}")
        if not 0 < self.limit_usd < float("inf"):
            raise ValueError(f"limit_usd must be > 0, got {self.limit_usd!r}")
        if not 1 <= self.accounts <= 1_000_000:
            raise ValueError(f"accounts must be 1..1000000, got {self.accounts!r}")
        if not 1 <= self.lps <= len(LP_PROFILES):
            raise ValueError(f"lps must be 1..{len(LP_PROFILES)}, got {self.lps!r}")
        for name in (
            "breach_every_s", "first_breach_s", "ramp_s", "hold_s", "alert_every_s", "foresight_s"
        ):  # fmt: skip
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.hidden_informed <= 1:
            raise ValueError(f"hidden_informed must be 0..1, got {self.hidden_informed!r}")
        if not 0 <= self.informed_after_s <= self.informed_before_s < float("inf"):
            raise ValueError("need 0 <= informed_after_s <= informed_before_s")
        if not 0 <= self.impact < float("inf"):
            raise ValueError(f"impact must be >= 0, got {self.impact!r}")

    @property
    def ids(self) -> str:
        return self.run_id or f"s{self.seed}"


@dataclass(slots=True)
class Account:
    id: str
    large: bool
    toxic: bool
    weight: float


@dataclass(slots=True)
class Position:
    id: str
    account: Account
    symbol: str
    side: str
    volume: float
    open_price: float
    book: str
    lp: str | None
    version: int = 1
    current_price: float | None = None
    # What the position keeper realised: cumulative since the open, and by the last change
    # (quote currency; docs/pnl.md, "Realised P&L").
    realized: float = 0.0
    realized_delta: float = 0.0

    def realize(self, closed: float, price: float) -> None:
        """``closed`` base units filled at ``price`` (a long sells at the bid, a short buys at
        the ask): their P&L in quote currency is realised."""
        sign = 1.0 if self.side == "BUY" else -1.0
        self.realized_delta = sign * (price - self.open_price) * closed
        self.realized += self.realized_delta


@dataclass(slots=True)
class Stats:
    """What the generator did so far (for tests and the progress line)."""

    breaches: int = 0  # episodes that took utilisation over 100 %
    max_utilization_pct: float = 0.0
    rejects: int = 0
    lp_transitions: int = 0
    open_positions: int = 0
    by_type: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_TYPES, 0))
