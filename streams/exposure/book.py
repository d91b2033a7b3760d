"""Exposure math, stage 1: positions -> exact partial sums (pure: no I/O).

The worker runs the exposure math in two stages so that any number of workers gives the same
totals as one:

1. per positions partition, a :class:`PositionBook` keeps that partition's open positions and a
   :class:`Partial` (exact integer sums per (symbol, book, lp) group), updated incrementally:
   this module;
2. one global stage merges the latest partial of every partition with the latest quote mids and
   calls :func:`streams.exposure.usd.compute_exposure`, which converts to USD (floats only at
   this last step) and returns an ``ExposureChange`` record: :mod:`streams.exposure.usd`.
   :class:`streams.exposure.coalesce.Coalescer` decides when to publish it; limits and risk bands
   live
   in :mod:`streams.exposure.limits` (re-exported here).

Every partial is made of exact ints (millionths, :data:`SCALE`), so adding and removing a
position's contribution is exact: incremental == recomputed, any split over partitions sums to
the same partial, and replaying the inputs is bit-identical. Formulas: ``docs/exposure.md``.

Errors: :class:`InvalidPartial` (a malformed partial record, a ``ValueError``) and
:class:`streams.settings.ConfigError` (bad limits, bands or coalescer settings).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from streams.errors import StateError
from streams.exposure.coalesce import Coalescer as Coalescer
from streams.exposure.limits import RISK_LEVELS as RISK_LEVELS
from streams.exposure.limits import ExposureLimits as ExposureLimits
from streams.exposure.limits import RiskBands as RiskBands
from streams.exposure.limits import currency_utilization as currency_utilization
from streams.exposure.limits import symbol_utilization as symbol_utilization
from streams.market.exact import SCALE as SCALE
from streams.market.exact import scaled as _scaled
from streams.market.positions import HOUR_US as HOUR_US
from streams.market.positions import MAX_CLOSED as MAX_CLOSED
from streams.market.positions import PositionIndex
from streams.market.positions import is_open as _is_open

GroupKey = tuple[str, str, str]  # (symbol, book, lp or "")


def _is_int(a: object) -> bool:
    """``a`` is a str of 1-80 ASCII digits, optionally after a minus (the regex
    ``-?[0-9]{1,80}``, checked without one)."""
    if type(a) is not str or not a.isascii() or len(a) > 81:
        return False
    digits = a[1:] if a[:1] == "-" else a
    return 0 < len(digits) <= 80 and digits.isdigit()


class InvalidPartial(StateError):
    """A partial record (from the internal topic) is malformed."""


# --------------------------------------------------------------------------------------------
# Exact sums


@dataclass(frozen=True, slots=True)
class Sums:
    """Exact sums of one group of positions (amounts in millionths)."""

    count: int = 0
    volume_u: int = 0  # sum of volume, base units
    net_volume_u: int = 0  # signed: + BUY, - SELL
    net_quote_u: int = 0  # signed volume x openPrice: the quote-currency leg at open
    mark_value_u: int = 0  # volume x (currentPrice or openPrice): fallback mark

    def __add__(self, other: Sums) -> Sums:
        return Sums(
            self.count + other.count,
            self.volume_u + other.volume_u,
            self.net_volume_u + other.net_volume_u,
            self.net_quote_u + other.net_quote_u,
            self.mark_value_u + other.mark_value_u,
        )

    def __sub__(self, other: Sums) -> Sums:
        return Sums(
            self.count - other.count,
            self.volume_u - other.volume_u,
            self.net_volume_u - other.net_volume_u,
            self.net_quote_u - other.net_quote_u,
            self.mark_value_u - other.mark_value_u,
        )


ZERO = Sums()


def _group_key(record: Mapping[str, Any]) -> GroupKey:
    return (record["symbol"], record["book"], record.get("lp") or "")


def contribution(record: Mapping[str, Any]) -> Sums:
    """What one open position adds to its group (each amount rounded once, per position)."""
    volume: float = record["volume"]
    open_price: float = record["openPrice"]
    mark: float | None = record.get("currentPrice")
    vol_u = _scaled(volume)
    quote_u = _scaled(volume, open_price)
    sign = 1 if record["side"] == "BUY" else -1
    return Sums(
        1,
        vol_u,
        sign * vol_u,
        sign * quote_u,
        _scaled(volume, open_price if mark is None else mark),
    )


K = TypeVar("K", bound=Hashable)


def sum_rows(rows: Iterable[tuple[K, Sums]]) -> dict[K, Sums]:
    """Sums per key, in order of first appearance (ints in lists: no object per addition)."""
    acc: dict[K, list[int]] = {}
    for key, s in rows:
        a = acc.get(key)
        if a is None:
            acc[key] = [s.count, s.volume_u, s.net_volume_u, s.net_quote_u, s.mark_value_u]
        else:
            a[0] += s.count
            a[1] += s.volume_u
            a[2] += s.net_volume_u
            a[3] += s.net_quote_u
            a[4] += s.mark_value_u
    return {k: Sums(*a) for k, a in acc.items()}


class Partial(Mapping[GroupKey, Sums]):
    """Immutable mapping GroupKey -> Sums (groups sorted; all-zero groups dropped), compared by
    value. ``to_record``/``from_record`` round-trip exactly through any JSON library: the
    amounts are decimal strings, since they may exceed 2**53 (JavaScript) or 2**63 (orjson)."""

    __slots__ = ("_groups",)

    def __init__(self, groups: Mapping[GroupKey, Sums] | None = None) -> None:
        items = sorted((groups or {}).items())
        self._groups: dict[GroupKey, Sums] = {k: s for k, s in items if s != ZERO}

    def __getitem__(self, key: GroupKey) -> Sums:
        return self._groups[key]

    def __iter__(self) -> Iterator[GroupKey]:
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Partial):
            return self._groups == other._groups
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Partial({self._groups!r})"

    @classmethod
    def combine(cls, parts: Iterable[Partial]) -> Partial:
        """The sum of several partials (exact, so the order does not matter)."""
        return cls(sum_rows(row for part in parts for row in part._groups.items()))

    def to_record(self) -> dict[str, Any]:
        return {
            "format": 1,
            "groups": [
                [
                    *key,
                    s.count,
                    str(s.volume_u),
                    str(s.net_volume_u),
                    str(s.net_quote_u),
                    str(s.mark_value_u),
                ]
                for key, s in self._groups.items()
            ],
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Partial:
        if not isinstance(rec, Mapping) or rec.get("format") != 1:
            raise InvalidPartial(f"expected a format-1 partial record, got {rec!r:.200}")
        rows = rec.get("groups")
        if not isinstance(rows, list):
            raise InvalidPartial("partial.groups: expected a list")
        # The global stage decodes one of these per positions partition and batch: the checks
        # are inline (no regex, no generator per row) and the Sums built without the frozen
        # dataclass's __init__; the result is the same, errors included.
        groups: dict[GroupKey, Sums] = {}
        new = object.__new__
        put = object.__setattr__
        for i, row in enumerate(rows):
            if type(row) is not list or len(row) != 8:
                raise InvalidPartial(f"partial.groups[{i}]: expected a list of 8 items")
            symbol, book, lp, count, a, b, c, d = row
            if type(symbol) is not str or type(book) is not str or type(lp) is not str:
                raise InvalidPartial(f"partial.groups[{i}]: symbol, book, lp must be strings")
            if type(count) is not int or count < 0:
                raise InvalidPartial(f"partial.groups[{i}]: count must be an int >= 0")
            if not (_is_int(a) and _is_int(b) and _is_int(c) and _is_int(d)):
                raise InvalidPartial(f"partial.groups[{i}]: amounts must be decimal strings")
            key = (symbol, book, lp)
            if key in groups:
                raise InvalidPartial(f"partial.groups[{i}]: duplicate group {key!r}")
            amounts = (int(a), int(b), int(c), int(d))
            if not count and not any(amounts):
                groups[key] = ZERO  # dropped below, as __init__ drops all-zero groups
                continue
            sums = new(Sums)
            put(sums, "count", count)
            put(sums, "volume_u", amounts[0])
            put(sums, "net_volume_u", amounts[1])
            put(sums, "net_quote_u", amounts[2])
            put(sums, "mark_value_u", amounts[3])
            groups[key] = sums
        keys = list(groups)
        if any(x >= y for x, y in zip(keys, keys[1:], strict=False)):
            return cls(groups)  # not in order (to_record writes them sorted): sorts
        out = new(cls)
        out._groups = {k: v for k, v in groups.items() if v is not ZERO}
        return out


def recompute(positions: Iterable[Mapping[str, Any]]) -> Partial:
    """The partial of a set of position states, from scratch (closed and 0-volume skipped)."""
    return Partial(sum_rows((_group_key(r), contribution(r)) for r in positions if _is_open(r)))


# --------------------------------------------------------------------------------------------
# Stage 1: one positions partition


class PositionBook(PositionIndex[tuple[int, GroupKey, Sums]]):
    """Open positions of one input partition and their partial, maintained incrementally.

    An event is applied only if its ``version`` is higher than the one stored for its
    ``positionId``; that makes redelivery and reordering harmless. Removed (CLOSED or 0-volume)
    positions leave their closing version behind so that a stale OPEN redelivered after the
    close is ignored. That memory is bounded: an entry is forgotten once the book's latest
    event time is ``closed_retention_us`` past the close (event time, not wall clock, so replay
    is deterministic), or when more than ``max_closed`` ids are remembered (oldest first).
    A stale OPEN arriving after its id was forgotten would be counted again, so both bounds
    must exceed any redelivery delay. Kafka keeps a partition's order, so a stale OPEN after a
    close can only come from its producer re-sending an old state (a position keeper failing
    over, say): the defaults (one hour, 20,000 ids per book; ``RTX_WORKER_CLOSED_RETENTION_S``,
    ``RTX_WORKER_MAX_CLOSED``) cover minutes at the soak's 2,000 events/s and hours at
    ordinary rates, in at most ~4.9 MB per book.
    """

    __slots__ = ("_groups",)

    def __init__(self, *, closed_retention_us: int = HOUR_US, max_closed: int = MAX_CLOSED) -> None:
        # _open: positionId -> (version, group key, contribution)
        super().__init__(closed_retention_us=closed_retention_us, max_closed=max_closed)
        self._groups: dict[GroupKey, Sums] = {}

    def apply(self, record: Mapping[str, Any]) -> bool:
        """Apply one validated PositionState. Returns True if the partial changed; False for a
        stale or duplicate event, and for an accepted event that changes no sum (a close of an
        unknown id, an update with the same figures)."""
        accepted, old = self._accept(record)
        if not accepted:
            return False
        if _is_open(record):
            key, new = _group_key(record), contribution(record)
            self._open[record["positionId"]] = (record["version"], key, new)
            if old is not None and old[1] == key and old[2] == new:
                return False
            if old is not None:
                self._add(old[1], ZERO - old[2])
            self._add(key, new)
            changed = True
        else:
            self._remember_close(record)
            if old is not None:
                self._add(old[1], ZERO - old[2])
            changed = old is not None
        self._prune()
        return changed

    def _add(self, key: GroupKey, delta: Sums) -> None:
        total = self._groups.get(key, ZERO) + delta
        if total.count == 0:
            # Exact ints: a group without positions sums to zero in every field.
            assert total == ZERO, total  # noqa: S101 - an invariant, not input checking
            self._groups.pop(key, None)
        else:
            self._groups[key] = total

    def partial(self) -> Partial:
        """The current sums, O(groups)."""
        return Partial(self._groups)
