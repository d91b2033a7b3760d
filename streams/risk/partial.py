"""What stage 1 knows of one account in one positions partition: :class:`AccountPartial`.

Positions are keyed by positionId, so an account's positions are spread over every positions
partition. Stage 1 (:class:`streams.risk.book.RiskBook`) sums, per account, the positions of
its own partition; the global stage (:class:`streams.risk.view.RiskView`) keeps the latest
partial of every (partition, account) and adds them up. A partial holds exact ints only
(millionths, :data:`streams.market.SCALE`), so adding and replacing partials is exact and the
split over partitions does not change any figure.

- ``groups``: per (symbol, book, side) the count, the volume ``Σ⟦v⟧``, the open value
  ``Σ⟦v·o⟧`` and the fallback mark value ``Σ⟦v·(currentPrice or o)⟧``;
- ``realized``: per (symbol, book), the realised P&L of one trading day in quote currency;
- ``largest``: per symbol, the account's largest open position here (by volume).

``to_record``/``from_record`` round-trip exactly through JSON: amounts are decimal strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from streams.errors import StateError

BOOKS = ("ABOOK", "BBOOK")
SIDES = ("BUY", "SELL")
_INT_RE = re.compile(r"-?[0-9]{1,80}")


class RiskStateError(StateError):
    """A risk partial or a risk state record is malformed (the root of this package's errors;
    bad settings raise :class:`streams.settings.ConfigError`)."""


class Group(NamedTuple):
    symbol: str
    book: str
    side: str
    positions: int
    volume_u: int
    value_u: int
    mark_u: int


class Realized(NamedTuple):
    symbol: str
    book: str
    day: int
    amount_u: int


class Largest(NamedTuple):
    symbol: str
    volume_u: int
    position_id: str
    side: str
    book: str


def larger(a: Largest | None, b: Largest) -> Largest:
    """The larger position by volume; ties go to the smaller positionId (deterministic)."""
    if a is None or (b.volume_u, a.position_id) > (a.volume_u, b.position_id):
        return b
    return a


@dataclass(frozen=True, slots=True)
class AccountPartial:
    """Immutable sums of one account's positions in one partition (sorted, compared by value)."""

    groups: tuple[Group, ...] = ()
    realized: tuple[Realized, ...] = ()
    largest: tuple[Largest, ...] = ()

    @classmethod
    def of(
        cls,
        groups: Iterable[Group],
        realized: Iterable[Realized] = (),
        largest: Iterable[Largest] = (),
    ) -> AccountPartial:
        return cls(tuple(sorted(groups)), tuple(sorted(realized)), tuple(sorted(largest)))

    def __bool__(self) -> bool:
        return bool(self.groups or self.realized)

    def to_record(self) -> dict[str, Any]:
        return {
            "format": 1,
            "groups": [
                [*g[:4], str(g.volume_u), str(g.value_u), str(g.mark_u)] for g in self.groups
            ],
            "realized": [[r.symbol, r.book, r.day, str(r.amount_u)] for r in self.realized],
            "largest": [
                [x.symbol, str(x.volume_u), x.position_id, x.side, x.book] for x in self.largest
            ],
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> AccountPartial:
        if not isinstance(rec, Mapping) or rec.get("format") != 1:
            raise RiskStateError(f"expected a format-1 account partial, got {rec!r:.200}")
        groups = _rows(rec, "groups", 7)
        realized = _rows(rec, "realized", 4)
        largest = _rows(rec, "largest", 5)
        # The global stage reads one of these per account change: the rows are checked inline
        # first, and only a row that fails goes through the checks that name the problem.
        return cls.of(
            (_fast_group(row) or _group(i, row) for i, row in enumerate(groups)),
            (_realized(i, row) for i, row in enumerate(realized)),
            (_fast_largest(row) or _largest(i, row) for i, row in enumerate(largest)),
        )


def _rows(rec: Mapping[str, Any], name: str, width: int) -> list[list[Any]]:
    rows = rec.get(name, [])
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == width for r in rows):
        raise RiskStateError(f"partial.{name}: expected a list of lists of {width} items")
    return rows


def _amount(where: str, value: Any) -> int:
    if not isinstance(value, str) or not _INT_RE.fullmatch(value):
        raise RiskStateError(f"{where}: expected an integer as a decimal string")
    return int(value)


def _name(where: str, value: Any, allowed: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str) or not value or (allowed and value not in allowed):
        raise RiskStateError(f"{where}: expected {' or '.join(allowed or ('a name',))}")
    return value


def _count(where: str, value: Any) -> int:
    if type(value) is not int or value < 0:
        raise RiskStateError(f"{where}: expected an int >= 0")
    return value


def _is_amount(value: Any) -> bool:
    """``_INT_RE`` without the regex: up to 80 ASCII digits, optionally after a minus."""
    if type(value) is not str or not value.isascii():
        return False
    digits = value[1:] if value[:1] == "-" else value
    return 0 < len(digits) <= 80 and digits.isdigit()


def _fast_group(row: list[Any]) -> Group | None:
    symbol, book, side, positions, volume, value, mark = row
    if (
        type(symbol) is str
        and symbol
        and book in BOOKS
        and side in SIDES
        and type(positions) is int
        and positions >= 0
        and _is_amount(volume)
        and _is_amount(value)
        and _is_amount(mark)
    ):
        return Group(symbol, book, side, positions, int(volume), int(value), int(mark))
    return None


def _fast_largest(row: list[Any]) -> Largest | None:
    symbol, volume, position_id, side, book = row
    if (
        type(symbol) is str
        and symbol
        and _is_amount(volume)
        and type(position_id) is str
        and position_id
        and side in SIDES
        and book in BOOKS
    ):
        return Largest(symbol, int(volume), position_id, side, book)
    return None


def _group(i: int, row: list[Any]) -> Group:
    where = f"partial.groups[{i}]"
    symbol, book, side, positions, volume, value, mark = row
    return Group(
        _name(where, symbol),
        _name(where, book, BOOKS),
        _name(where, side, SIDES),
        _count(where, positions),
        _amount(where, volume),
        _amount(where, value),
        _amount(where, mark),
    )


def _realized(i: int, row: list[Any]) -> Realized:
    where = f"partial.realized[{i}]"
    symbol, book, day, amount = row
    return Realized(
        _name(where, symbol), _name(where, book, BOOKS), _count(where, day), _amount(where, amount)
    )


def _largest(i: int, row: list[Any]) -> Largest:
    where = f"partial.largest[{i}]"
    symbol, volume, position_id, side, book = row
    return Largest(
        _name(where, symbol),
        _amount(where, volume),
        _name(where, position_id),
        _name(where, side, SIDES),
        _name(where, book, BOOKS),
    )
