"""Incoming rate limit: a token bucket per client plus an escalation rule. No I/O.

The bucket holds up to ``rate_per_s`` tokens (one second of traffic) and refills at
``rate_per_s``; each incoming frame takes one. A frame that finds the bucket empty is rejected
(not processed). The first rejection of an *episode* is answered with an error message; an
episode lasts until no frame has been rejected for :data:`QUIET_S`; if rejections go on for
``grace_s`` after the episode began, the server closes the connection (1008, policy violation).
"""

from __future__ import annotations

import enum

QUIET_S = 1.0  # a rejection-free second ends an episode (the bucket's own window)


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``rate_per_s``; starts full."""

    def __init__(self, rate_per_s: float, capacity: float, now: float) -> None:
        if rate_per_s <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self.tokens = capacity
        self._last = now

    def take(self, now: float, n: float = 1.0) -> bool:
        """Take ``n`` tokens if there are that many; a clock going backwards adds nothing."""
        if now > self._last:
            self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate_per_s)
            self._last = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


class Verdict(enum.Enum):
    ACCEPT = "accept"
    FIRST_EXCESS = "first-excess"  # reject; tell the client once
    EXCESS = "excess"  # reject silently
    CLOSE = "close"  # rejections went on past the grace period


class RateLimiter:
    """The bucket and the episode rule for one client."""

    def __init__(self, rate_per_s: float, grace_s: float, now: float) -> None:
        self.bucket = TokenBucket(rate_per_s, max(1.0, rate_per_s), now)
        self.grace_s = grace_s
        self.rejected = 0
        self._episode_start: float | None = None
        self._last_rejected = now

    @property
    def limited(self) -> bool:
        return self._episode_start is not None

    def check(self, now: float) -> Verdict:
        if self._episode_start is not None and now - self._last_rejected >= QUIET_S:
            self._episode_start = None
        if self.bucket.take(now):
            return Verdict.ACCEPT
        self.rejected += 1
        self._last_rejected = now
        if self._episode_start is None:
            self._episode_start = now
            return Verdict.FIRST_EXCESS
        if now - self._episode_start >= self.grace_s:
            return Verdict.CLOSE
        return Verdict.EXCESS
