"""When to publish exposure-change (pure: no I/O, injected clock)."""

from __future__ import annotations

import math
from typing import Any

from streams.settings import ConfigError


class Coalescer:
    """When to publish exposure-change: at most one per ``min_interval_s``; the first change
    after a quiet spell goes out at once; the latest value is published when the interval ends;
    and at least one message every ``heartbeat_s`` (the latest value again) even without change.
    A value equal to the latest one offered is not a change and is dropped. Times are floats in
    seconds from an injected monotonic clock."""

    __slots__ = ("_heartbeat", "_interval", "_last_pub", "_latest", "_pending")

    def __init__(self, min_interval_s: float = 0.05, heartbeat_s: float = 5.0) -> None:
        if not 0 <= min_interval_s < math.inf:
            raise ConfigError(f"min_interval_s={min_interval_s!r}: must be a finite number >= 0")
        if not (0 < heartbeat_s < math.inf and heartbeat_s >= min_interval_s):
            raise ConfigError(f"heartbeat_s={heartbeat_s!r}: must be finite, > 0 and >= interval")
        self._interval = min_interval_s
        self._heartbeat = heartbeat_s
        self._last_pub: float | None = None
        self._latest: dict[str, Any] | None = None  # the latest value, published or pending
        self._pending = False

    def _publish(self, now: float) -> dict[str, Any]:
        assert self._latest is not None  # noqa: S101 - callers check
        self._last_pub = now
        self._pending = False
        return self._latest

    def offer(self, record: dict[str, Any], now: float) -> dict[str, Any] | None:
        """A new value; returns it if it is to be published now, else keeps it pending.
        The caller must not mutate a record after offering it."""
        if record == self._latest:
            return None
        self._latest = record
        if self.is_open(now):
            return self._publish(now)
        self._pending = True
        return None

    def is_open(self, now: float) -> bool:
        """Whether a changed value offered now would be published at once (a caller whose
        values are costly computes one only then, or at :meth:`next_deadline`)."""
        return self._last_pub is None or now - self._last_pub >= self._interval

    def due(self, now: float) -> dict[str, Any] | None:
        """Call at (or after) :meth:`next_deadline`: the pending value once its interval has
        ended, or the latest value again when ``heartbeat_s`` passed without a publication."""
        if self._last_pub is None:
            return None
        span = self._interval if self._pending else self._heartbeat
        if now - self._last_pub >= span:
            return self._publish(now)
        return None

    def next_deadline(self) -> float | None:
        """When :meth:`due` next has something to return; None before the first offer."""
        if self._last_pub is None:
            return None
        span = self._interval if self._pending else self._heartbeat
        # Elapsed time is measured as now - last (as in due); last + span can fall one ulp
        # short of that, so step up to the first float where the difference reaches span.
        deadline = self._last_pub + span
        while deadline - self._last_pub < span:
            deadline = math.nextafter(deadline, math.inf)
        return deadline
