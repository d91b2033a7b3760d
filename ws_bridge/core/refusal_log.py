"""Which refusals get a log line: at most a burst, then about one a second, per route and reason.
No I/O.

A client retrying a bad token in a loop, or a scanner, must not fill the disk with the bridge's
log. Per key (the route and the reason of a refusal) a token bucket of :data:`BURST` lines
refills at :data:`LINES_PER_S`; a refusal that finds it empty is counted here instead of logged.
The next refusal logged for that key brings a :class:`LeftOut` summary with it, and
:meth:`RefusalLog.flush` (the server calls it every :data:`FLUSH_S`) hands over the summaries of
refusals that stopped. The metrics count every refusal either way.

The key is not the peer's address: addresses are cheap to change, while routes and reasons are
fixed sets, so the state stays a few dozen entries whatever comes in.

Worked example (burst 2, one line a second): refusals of one key at t = 0, 0.1, 0.2, 0.3 and 1.5
s: the first two are logged, the next two are left out, and the one at 1.5 s (the bucket holds
1.5 tokens by then) is logged with ``LeftOut(count=2, first=0.2, last=0.3)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ws_bridge.core.ratelimit import TokenBucket

BURST = 20
LINES_PER_S = 1.0
FLUSH_S = 10.0

Key = tuple[str, str]  # (route, reason)


@dataclass(slots=True)
class LeftOut:
    """``count`` refusals of ``key`` not logged, the first at ``first``, the last at ``last``."""

    key: Key
    count: int
    first: float
    last: float

    def line(self) -> str:
        route, reason = self.key
        span = max(0.0, self.last - self.first)
        return (
            f"{self.count} more refusal{'s' if self.count != 1 else ''} of {route} ({reason}) "
            f"not logged over {span:.1f} s (log limit: {BURST} lines, then {LINES_PER_S:g}/s "
            "per route and reason); rtx_bridge_requests_refused_total counts them all"
        )


class RefusalLog:
    """The buckets and the refusals left out since the last summary, per key."""

    def __init__(self, burst: int = BURST, lines_per_s: float = LINES_PER_S) -> None:
        self.burst = burst
        self.lines_per_s = lines_per_s
        self._buckets: dict[Key, TokenBucket] = {}
        self._left: dict[Key, LeftOut] = {}

    def admit(self, key: Key, now: float) -> tuple[bool, LeftOut | None]:
        """Whether to log this refusal, and (when logging it) what was left out before it."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.lines_per_s, self.burst, now)
        if bucket.take(now):
            return True, self._left.pop(key, None)
        left = self._left.get(key)
        if left is None:
            self._left[key] = LeftOut(key, 1, now, now)
        else:
            left.count += 1
            left.last = max(left.last, now)
        return False, None

    def flush(self) -> list[LeftOut]:
        """The summaries not yet handed over, oldest first; afterwards there are none."""
        out = sorted(self._left.values(), key=lambda left: left.first)
        self._left.clear()
        return out
