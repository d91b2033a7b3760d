"""Who trades in the simulation and what they know: labelled trader types (pure: no I/O).

- **Informed** accounts: their flow anticipates the market. After an informed order is filled,
  the mid of its symbol drifts its way by :func:`impact_size` over the next ``foresight_s``
  simulated seconds (for a cross, its first leg drifts, so the cross moves as much): the side
  the account chose is the side the mid a few seconds ahead is on, as if it knew it. The
  accounts flagged ``toxic`` (which the routing engine already A-books) are informed from the
  start; a further share of the others (``SimConfig.hidden_informed``) *turn* informed at a time
  drawn in ``[informed_after_s, informed_before_s)``: the routing engine does not know them,
  so they stay B-booked (the broker loses) until the markouts find them.
- **Noise** accounts trade on coin flips and move nothing.
- **Last-look LPs** (``LpProfile.last_look``) reject most orders during which the mid moved
  against them between the request (decision time - execution time) and the decision
  (:data:`LAST_LOOK_REJECT`), and otherwise reject at their usual rate.

The labels are a deterministic function of the seed and the account id (:func:`hidden_from`,
sha256, not the generator's random stream), so they take nothing from the event sequence:
:func:`labels` gives them for a config without running it, and ``rtx-analytics simulate
--labels FILE`` writes them (:func:`labels_document`).
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

INFORMED: Final = "informed"
NOISE: Final = "noise"
LAST_LOOK_REJECT: Final = 0.9
"""A last-look LP's reject probability after the mid moved against it while it held the order."""


@dataclass(frozen=True, slots=True)
class TraderLabel:
    """An account's trader type: informed from ``informed_from_s`` simulated seconds on (None:
    never, a noise account); ``known``: the routing engine A-books it already (``toxic``)."""

    account: str
    kind: str
    informed_from_s: float | None
    known: bool

    def informed_at(self, now: float) -> bool:
        return self.informed_from_s is not None and now >= self.informed_from_s


def _unit(seed: int, account: str, salt: str) -> float:
    digest = hashlib.sha256(f"{seed}:{account}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hidden_from(
    seed: int, account: str, share: float, after_s: float, before_s: float
) -> float | None:
    """When a not-known account turns informed (simulated seconds), or None: a deterministic
    function of the seed and the account id, true for about ``share`` of the accounts."""
    if _unit(seed, account, "informed") >= share:
        return None
    return after_s + _unit(seed, account, "from") * (before_s - after_s)


def label(
    seed: int, account: str, toxic: bool, share: float, after_s: float, before_s: float
) -> TraderLabel:
    if toxic:
        return TraderLabel(account, INFORMED, 0.0, True)
    start = hidden_from(seed, account, share, after_s, before_s)
    return TraderLabel(account, NOISE if start is None else INFORMED, start, False)


def impact_size(
    spread: float, mid: float, vol_per_sqrt_s: float, foresight_s: float, k: float
) -> float:
    """The relative drift an informed order gives its symbol: ``k`` x (half the spread + one
    standard deviation of the move over ``foresight_s``). Alone, with k = 1.5, the mid passes
    the price the client paid nineteen times in twenty at ``foresight_s``; with the other
    traders' drifts on the same legs and spreads widened by degraded LPs, about seven in ten
    (docs/markouts.md, "Proof")."""
    return k * (spread / 2 / mid + vol_per_sqrt_s * math.sqrt(foresight_s))


class Impact:
    """Drifts of the market's legs: each push adds ``size`` (relative, log) spread evenly over
    ``[start, start + duration)`` of simulated time."""

    def __init__(self) -> None:
        self._pushes: dict[str, list[tuple[float, float, float]]] = {}  # leg -> (start, end, rate)

    def push(self, leg: str, start: float, size: float, duration: float) -> None:
        self._pushes.setdefault(leg, []).append((start, start + duration, size / duration))

    def drift(self, leg: str, t0: float, t1: float) -> float:
        """The log drift of ``leg`` over ``(t0, t1]``; pushes over by ``t0`` are forgotten."""
        pushes = self._pushes.get(leg)
        if not pushes:
            return 0.0
        total = sum(
            rate * (min(t1, end) - max(t0, start))
            for start, end, rate in pushes
            if start < t1 and end > t0
        )
        self._pushes[leg] = [p for p in pushes if p[1] > t1]
        return total


class QuoteHistory:
    """The mids of the last quotes published per symbol (what a reader of the quotes sees), to
    tell whether the mid moved between a request and its decision."""

    def __init__(self, keep: int = 64) -> None:
        self.keep = keep
        self._quoted: dict[str, deque[tuple[float, float]]] = {}

    def record(self, symbol: str, now: float, bid: float, ask: float) -> None:
        quoted = self._quoted.get(symbol)
        if quoted is None:
            quoted = self._quoted[symbol] = deque(maxlen=self.keep)
        quoted.append((now, bid / 2 + ask / 2))

    def mid_at(self, symbol: str, at: float) -> float | None:
        """The mid of the last quote published at or before ``at`` (None: none kept)."""
        quoted = self._quoted.get(symbol, ())
        i = bisect_right([t for t, _ in quoted], at) - 1
        return quoted[i][1] if i >= 0 else None

    def last_look_rate(
        self, rate: float, symbol: str, side: str, request: float, now: float
    ) -> float:
        """A last-look LP's reject rate: :data:`LAST_LOOK_REJECT` when the mid moved against it
        (in the client's favour) from the request to now, else its usual ``rate``."""
        before, after = self.mid_at(symbol, request), self.mid_at(symbol, now)
        if before is None or after is None:
            return rate
        against = after > before if side == "BUY" else after < before
        return LAST_LOOK_REJECT if against else rate


def labels_document(
    seed: int, labels: Iterable[TraderLabel], last_look: Mapping[str, bool]
) -> dict[str, Any]:
    """The labels as JSON: accounts (type, informed from, known) and LPs (last look)."""
    return {
        "seed": seed,
        "accounts": {
            lb.account: {"type": lb.kind, "informedFromS": lb.informed_from_s, "known": lb.known}
            for lb in labels
        },
        "lps": {lp: {"lastLook": flag} for lp, flag in last_look.items()},
    }
