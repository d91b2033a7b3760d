"""TokenBucket and RateLimiter: refill, the warning, the grace period and the close, on a fake
clock."""

from __future__ import annotations

import pytest

from ws_bridge.core.ratelimit import RateLimiter, TokenBucket, Verdict


def test_token_bucket_refills_at_its_rate_and_caps_at_capacity() -> None:
    bucket = TokenBucket(rate_per_s=10, capacity=10, now=0.0)
    assert all(bucket.take(0.0) for _ in range(10)) and not bucket.take(0.0)
    assert bucket.take(0.1) and not bucket.take(0.1)
    assert not bucket.take(0.05)  # a clock going backwards adds nothing
    bucket.take(100.0)
    assert bucket.tokens == pytest.approx(9.0)


def test_rate_limiter_warns_once_then_closes_if_the_excess_goes_on() -> None:
    """A client sending 100 frames/s against a limit of 10/s: one warning at the first
    rejection, silent rejections, then a close once the excess has lasted the grace period."""
    limiter = RateLimiter(rate_per_s=10, grace_s=1.0, now=0.0)
    verdicts = [(step / 100, limiter.check(step / 100)) for step in range(300)]
    first = next(t for t, v in verdicts if v is Verdict.FIRST_EXCESS)
    close = next(t for t, v in verdicts if v is Verdict.CLOSE)
    assert [v for _, v in verdicts].count(Verdict.FIRST_EXCESS) == 1
    assert close - first == pytest.approx(1.0, abs=0.011)
    assert all(v in (Verdict.ACCEPT, Verdict.EXCESS) for t, v in verdicts if first < t < close)


def test_rate_limiter_episode_ends_after_a_quiet_second() -> None:
    limiter = RateLimiter(rate_per_s=5, grace_s=1.0, now=0.0)
    assert [limiter.check(0.0) for _ in range(6)][-1] is Verdict.FIRST_EXCESS
    assert limiter.check(3.0) is Verdict.ACCEPT and not limiter.limited
    assert [limiter.check(3.0) for _ in range(5)][-1] is Verdict.FIRST_EXCESS  # warned again


def test_rate_limiter_with_no_grace_closes_at_the_second_rejection() -> None:
    limiter = RateLimiter(rate_per_s=1, grace_s=0.0, now=0.0)
    assert [limiter.check(0.0) for _ in range(3)] == [
        Verdict.ACCEPT, Verdict.FIRST_EXCESS, Verdict.CLOSE,
    ]  # fmt: skip
