"""A mergeable, deterministic latency histogram with bounded relative error (pure: no I/O).

Buckets are log-linear, as in HdrHistogram: a value ``v > 0`` is split exactly by
:func:`math.frexp` into ``v = m * 2**e`` with ``0.5 <= m < 1``, and each power of two
``[2**(e-1), 2**e)`` is cut into :data:`SUB_BUCKETS` (64) buckets of equal width. A bucket
``[lo, lo + w)`` has ``w / lo <= 1/64``, and its representative value is its midpoint, so for every
value in it ``|midpoint - v| / v <= 1/128`` (0.79 %). The bound holds for every positive finite
double (0.001 ms .. 10**7 ms is the range that matters), and the bucket of a value is computed
with exact float operations only, so it is the same on every platform. Zero has a bucket of its
own; negative, NaN and infinite values are refused.

Count, zero count, min and max are exact; the sum is kept exactly as an integer multiple of
2**-1074 (every finite double is one), so adding and merging are associative and commutative
*bit for bit*: a histogram built from any split of the values, merged in any order, equals the
one built from all values. ``sum`` returns that exact sum rounded once to a double.

Percentiles use the nearest-rank definition: ``percentile(q)`` is the value of rank
``max(1, ceil(q/100 * n))`` in the sorted values, estimated by its bucket's midpoint and clamped to
``[min, max]`` (the exact extremes are returned for ranks 1 and n). It is within 1/128 of the exact
nearest-rank percentile.

Errors: :class:`HistogramError` (a ``ValueError``): a refused value, percentile or record.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any, TypeGuard

from streams.errors import StateError

SUB_BUCKET_BITS = 6
SUB_BUCKETS = 1 << SUB_BUCKET_BITS  # 64 buckets per power of two
RELATIVE_ERROR = 1 / (2 * SUB_BUCKETS)  # 1/128: bound on |estimate - value| / value

_SUM_BITS = 1074  # 2**-1074 is the smallest subnormal double: every double is k * 2**-1074
_SUM_ONE = 1 << _SUM_BITS
_MAX_SUM_TEXT = 1200  # characters; an exact sum of doubles needs far fewer digits


class HistogramError(StateError):
    """A value, a percentile or a record the histogram refuses."""


# --------------------------------------------------------------------------------------------
# Buckets


def bucket_index(value: float) -> int:
    """The bucket of a positive finite value: ``e * 64 + k`` for ``value = m * 2**e`` (frexp)
    and sub-bucket ``k = floor((m - 0.5) * 128)``. Exact: scaling by a power of two and
    subtracting 64 from a number in [64, 128) are exact in binary floating point."""
    m, e = math.frexp(value)
    return e * SUB_BUCKETS + int(m * (2 * SUB_BUCKETS)) - SUB_BUCKETS


def bucket_value(index: int) -> float:
    """The representative (midpoint) of a bucket: ``(2 * (64 + k) + 1) * 2**(e - 8)``."""
    e, k = divmod(index, SUB_BUCKETS)
    return math.ldexp(2 * (SUB_BUCKETS + k) + 1, e - SUB_BUCKET_BITS - 2)


def nearest_rank(q: float, n: int) -> int:
    """The 1-based nearest rank of percentile ``q`` (0..100) among ``n >= 1`` values:
    ``max(1, ceil(q * n / 100))``, computed exactly with ``q`` read as the decimal it prints
    as (99.9 is 999/10, not the double just above it, so p99.9 of 1000 values is rank 999)."""
    if isinstance(q, bool) or not isinstance(q, int | float) or not 0 <= q <= 100:
        raise HistogramError(f"percentile must be a number in 0..100, got {q!r}")
    if type(q) is int:  # the usual 50, 95, 99: integer arithmetic, no Fraction (LP metrics
        return max(1, -(-q * n // 100))  # ask for three of them on every A-book decision)
    return max(1, math.ceil(Fraction(repr(float(q))) * n / 100))


def percentile_of_buckets(q: float, zeros: int, buckets: Mapping[int, int]) -> float | None:
    """Nearest-rank percentile ``q`` from bucket counts alone (``zeros`` values of 0 and
    ``buckets`` index -> count): the bucket midpoint of that rank, or None when empty. For
    callers that also remove values (a rolling window) and so cannot keep an exact min/max."""
    return percentiles_of_buckets((q,), zeros, buckets)[0]


def percentiles_of_buckets(
    qs: Sequence[float], zeros: int, buckets: Mapping[int, int]
) -> list[float | None]:
    """:func:`percentile_of_buckets` for several percentiles, in one pass over the buckets."""
    total = zeros + sum(buckets.values())
    if total == 0:
        for q in qs:
            nearest_rank(q, 1)  # still refuse a bad q
        return [None] * len(qs)
    ranks = [nearest_rank(q, total) for q in qs]
    out: list[float | None] = [0.0 if rank <= zeros else None for rank in ranks]
    pending = sorted((rank, i) for i, rank in enumerate(ranks) if rank > zeros)
    seen = zeros
    j = 0
    for index in sorted(buckets):
        seen += buckets[index]
        while j < len(pending) and pending[j][0] <= seen:
            out[pending[j][1]] = bucket_value(index)
            j += 1
        if j == len(pending):
            break
    return out


# --------------------------------------------------------------------------------------------
# Exact sums


def _exact(value: float) -> int:
    """``value`` as an integer multiple of 2**-1074 (exact for every finite double)."""
    num, den = value.as_integer_ratio()
    return num << (_SUM_BITS - den.bit_length() + 1)


def _rounded(scaled: int, divisor: int = 1) -> float:
    """``scaled * 2**-1074 / divisor`` rounded once (int true division is correctly rounded)."""
    try:
        return scaled / (divisor << _SUM_BITS)
    except OverflowError:
        return math.copysign(math.inf, scaled)


# --------------------------------------------------------------------------------------------
# Histogram


class Histogram:
    """Counts of non-negative values in log-linear buckets; exact count, min, max and sum.

    ``add`` and ``merge`` mutate; ``copy`` gives an independent histogram. Two histograms are
    equal when their records are, i.e. when they hold the same multiset of bucket counts, the
    same extremes and the same exact sum."""

    __slots__ = ("_buckets", "_count", "_max", "_min", "_sum", "_zeros")

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self._zeros = 0
        self._count = 0
        self._min: float | None = None
        self._max: float | None = None
        self._sum = 0  # exact, in units of 2**-1074

    @classmethod
    def of(cls, values: Iterable[float]) -> Histogram:
        hist = cls()
        for value in values:
            hist.add(value)
        return hist

    # --- updating ------------------------------------------------------------------------------

    def add(self, value: float) -> None:
        """Count one value (>= 0 and finite; -0.0 counts as 0.0)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise HistogramError(f"expected a number, got {value!r}")
        v = float(value)
        if not 0 <= v < math.inf:  # also refuses NaN
            raise HistogramError(f"expected a finite value >= 0, got {value!r}")
        if v == 0:
            v = 0.0  # -0.0 would make min() depend on the order of the values
            self._zeros += 1
        else:
            index = bucket_index(v)
            self._buckets[index] = self._buckets.get(index, 0) + 1
            self._sum += _exact(v)
        self._count += 1
        if self._min is None or v < self._min:
            self._min = v
        if self._max is None or v > self._max:
            self._max = v

    def merge(self, other: Histogram) -> None:
        """Add every value counted by ``other`` (exact: merge order does not matter)."""
        for index, n in other._buckets.items():
            self._buckets[index] = self._buckets.get(index, 0) + n
        self._zeros += other._zeros
        self._count += other._count
        self._sum += other._sum
        if other._min is not None and (self._min is None or other._min < self._min):
            self._min = other._min
        if other._max is not None and (self._max is None or other._max > self._max):
            self._max = other._max

    def copy(self) -> Histogram:
        new = Histogram()
        new.merge(self)
        return new

    # --- reading -------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        return self._count

    @property
    def zero_count(self) -> int:
        return self._zeros

    @property
    def min(self) -> float | None:
        return self._min

    @property
    def max(self) -> float | None:
        return self._max

    @property
    def sum(self) -> float:
        """The exact sum of the values, rounded once."""
        return _rounded(self._sum)

    @property
    def mean(self) -> float | None:
        """The exact mean, rounded once; None when empty."""
        return _rounded(self._sum, self._count) if self._count else None

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile ``q`` (0..100) within 1/128 relative error; None if empty."""
        if self._count == 0 or self._min is None or self._max is None:
            nearest_rank(q, 1)  # still refuse a bad q
            return None
        rank = nearest_rank(q, self._count)
        if rank == 1:
            return self._min
        if rank == self._count:
            return self._max
        estimate = percentile_of_buckets(q, self._zeros, self._buckets)
        if estimate is None:  # pragma: no cover - count > 0
            return None
        return min(max(estimate, self._min), self._max)

    # --- records -------------------------------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        """JSON-able and exact: buckets as sorted ``[index, count]`` pairs, the exact sum as a
        decimal fraction string (``"p/q"``, q a power of two), since it may need more digits
        than a double has."""
        return {
            "format": 1,
            "count": self._count,
            "zeroCount": self._zeros,
            "min": self._min,
            "max": self._max,
            "sumExact": str(Fraction(self._sum, _SUM_ONE)),
            "buckets": [[index, self._buckets[index]] for index in sorted(self._buckets)],
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Histogram:
        """The histogram of a :meth:`to_record` record; HistogramError if it is inconsistent."""
        if not isinstance(rec, Mapping) or rec.get("format") != 1:
            raise HistogramError(f"expected a format-1 histogram record, got {rec!r:.200}")
        hist = cls()
        rows = rec.get("buckets")
        if not isinstance(rows, list):
            raise HistogramError("histogram.buckets: expected a list of [index, count]")
        for i, row in enumerate(rows):
            if (
                not isinstance(row, list | tuple)
                or len(row) != 2
                or not all(_is_int(x) for x in row)
                or row[1] < 1
                or row[0] in hist._buckets
            ):
                raise HistogramError(f"histogram.buckets[{i}]: expected [index, count >= 1]")
            hist._buckets[row[0]] = row[1]
        zeros, count = rec.get("zeroCount"), rec.get("count")
        if not _is_int(zeros) or not _is_int(count) or zeros < 0:
            raise HistogramError("histogram.count, zeroCount: expected integers >= 0")
        if count != zeros + sum(hist._buckets.values()):
            raise HistogramError(f"histogram.count={count}: not the sum of the bucket counts")
        hist._zeros, hist._count = zeros, count
        hist._sum = _parse_sum(rec.get("sumExact"))
        lo, hi = rec.get("min"), rec.get("max")
        if count == 0:
            if lo is not None or hi is not None or hist._sum != 0:
                raise HistogramError("histogram: an empty histogram has no min, max or sum")
            return hist
        if not (_is_number(lo) and _is_number(hi) and 0 <= lo <= hi < math.inf):
            raise HistogramError(f"histogram.min={lo!r}, max={hi!r}: expected 0 <= min <= max")
        hist._min, hist._max = float(lo), float(hi)
        if zeros:
            consistent = hist._min == 0
        else:
            consistent = hist._min > 0 and bucket_index(hist._min) == min(hist._buckets)
        if hist._buckets:
            consistent = consistent and bucket_index(hist._max) == max(hist._buckets)
        else:
            consistent = consistent and hist._max == 0
        if not consistent:
            raise HistogramError("histogram.min/max: do not match the buckets")
        return hist

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return (
            self._count == other._count
            and self._zeros == other._zeros
            and self._sum == other._sum
            and self._min == other._min
            and self._max == other._max
            and self._buckets == other._buckets
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Histogram(count={self._count}, min={self._min!r}, max={self._max!r}, "
            f"p50={self.percentile(50)!r}, p99={self.percentile(99)!r})"
        )


def _is_int(x: Any) -> TypeGuard[int]:
    return type(x) is int


def _is_number(x: Any) -> TypeGuard[float]:
    return type(x) is float or type(x) is int


def _parse_sum(text: Any) -> int:
    if not isinstance(text, str) or not 0 < len(text) <= _MAX_SUM_TEXT:
        raise HistogramError("histogram.sumExact: expected a decimal fraction string")
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise HistogramError(f"histogram.sumExact={text!r:.80}: not a fraction") from None
    scaled = value * _SUM_ONE
    if scaled.denominator != 1 or scaled < 0:
        raise HistogramError(f"histogram.sumExact={text!r:.80}: not a sum of doubles >= 0")
    return int(scaled)
