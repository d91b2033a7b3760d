"""Exact amounts: ints in millionths, products with doubles summed exactly, rounded once.

Every figure the worker publishes is an exact sum rounded once, so it does not depend on the
order or the split of its parts (docs/exposure.md, "Exactness"). A double is a dyadic rational
n / 2**k, so any sum of ``int x double x double`` terms is an int over a power of two:
:class:`ExactSum` keeps it so and rounds it, half to even, to whole millionths at the end.
"""

from __future__ import annotations

SCALE = 1_000_000
"""Volumes and amounts are kept as exact ints in millionths of a unit."""


def scaled(a: float, b: float = 1.0) -> int:
    """round(a * b * SCALE) computed exactly from the doubles' binary values, ties to even.
    Float multiplication would round a*b first and make the result depend on the order."""
    na, da = a.as_integer_ratio()
    nb, db = b.as_integer_ratio()
    num, den = na * nb * SCALE, da * db
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q & 1):
        q += 1
    return q


class ExactSum:
    """A sum of terms ``amount x factor x ...`` (amount an int, factors finite doubles), kept
    exactly as ``num / 2**exp``. The order of the terms never changes the result."""

    __slots__ = ("exp", "num")

    def __init__(self) -> None:
        self.num = 0
        self.exp = 0

    def add(self, amount: int, *factors: float) -> ExactSum:
        """Adds ``amount`` times the factors, exactly; returns self."""
        num, exp = amount, 0
        for factor in factors:
            n, d = factor.as_integer_ratio()
            num *= n
            exp += d.bit_length() - 1
        self._add(num, exp)
        return self

    def add_sum(self, other: ExactSum) -> ExactSum:
        """Adds another exact sum; returns self."""
        self._add(other.num, other.exp)
        return self

    def _add(self, num: int, exp: int) -> None:
        if exp > self.exp:
            self.num <<= exp - self.exp
            self.exp = exp
        self.num += num << (self.exp - exp)

    def sign(self) -> int:
        return (self.num > 0) - (self.num < 0)

    def negated(self) -> ExactSum:
        out = ExactSum()
        out.num, out.exp = -self.num, self.exp
        return out

    def rounded(self) -> int:
        """The sum rounded to an int, half to even (in the unit of the amounts: millionths)."""
        q, rest = divmod(self.num, 1 << self.exp)
        half = (1 << self.exp) >> 1
        if self.exp and (rest > half or (rest == half and q & 1)):
            q += 1
        return q

    def value(self) -> float:
        """The sum rounded once to whole millionths, as the nearest double of units: int / int
        true division, so 100,000 x 1.1 prints as 110000.0, not 110000.00000000001."""
        return self.rounded() / SCALE
