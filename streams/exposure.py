"""Exposure math: positions -> exact partial sums -> USD exposure record (pure: no I/O).

The worker runs this in two stages so that any number of workers gives the same totals as one:

1. per positions partition, a :class:`PositionBook` keeps that partition's open positions and a
   :class:`Partial` (exact integer sums per (symbol, book, lp) group), updated incrementally;
2. one global stage merges the latest partial of every partition with the latest quote mids and
   calls :func:`compute_exposure`, which converts to USD (floats only at this last step) and
   returns an ``ExposureChange`` record. :class:`streams.coalesce.Coalescer` decides when to
   publish it; limits and risk bands live in :mod:`streams.limits` (re-exported here).

Every partial is made of exact ints (millionths, :data:`SCALE`), so adding and removing a
position's contribution is exact: incremental == recomputed, any split over partitions sums to
the same partial, and replaying the inputs is bit-identical. Formulas: ``docs/exposure.md``.

Errors: :class:`InvalidPartial` (a malformed partial record, a ``ValueError``) and
:class:`streams.config.ConfigError` (bad limits, bands or coalescer settings).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from streams.coalesce import Coalescer as Coalescer
from streams.config import ConfigError
from streams.limits import RISK_LEVELS as RISK_LEVELS
from streams.limits import ExposureLimits as ExposureLimits
from streams.limits import RiskBands as RiskBands
from streams.limits import currency_utilization as currency_utilization
from streams.limits import symbol_utilization as symbol_utilization

SCALE = 1_000_000
"""Volumes and quote-currency amounts are kept as exact ints in millionths."""

GroupKey = tuple[str, str, str]  # (symbol, book, lp or "")
DAY_US = 86_400 * 1_000_000
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_INT_RE = re.compile(r"-?[0-9]{1,80}")


class InvalidPartial(ValueError):
    """A partial record (from the internal topic) is malformed."""


# --------------------------------------------------------------------------------------------
# Instruments


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    base: str
    quote: str


def instrument(symbol: str, overrides: Mapping[str, tuple[str, str]] | None = None) -> Instrument:
    """Base and quote currency of a symbol: ``overrides`` first; else a 6-letter A-Z symbol
    splits 3+3 (EURUSD, XAUUSD); else a CFD quoted in USD whose base "currency" is the symbol
    itself (US500 -> base US500, quote USD), so its USD rate is its own price."""
    if overrides is not None and symbol in overrides:
        base, quote = overrides[symbol]
        return Instrument(symbol, base, quote)
    if len(symbol) == 6 and symbol.isascii() and symbol.isalpha() and symbol.isupper():
        return Instrument(symbol, symbol[:3], symbol[3:])
    return Instrument(symbol, symbol, "USD")


# --------------------------------------------------------------------------------------------
# Exact sums


def _scaled(a: float, b: float = 1.0) -> int:
    """round(a * b * SCALE) computed exactly from the doubles' binary values, ties to even.
    Float multiplication would round a*b first and make the result depend on the order."""
    na, da = a.as_integer_ratio()
    nb, db = b.as_integer_ratio()
    num, den = na * nb * SCALE, da * db
    q, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and q & 1):
        q += 1
    return q


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


def _is_open(record: Mapping[str, Any]) -> bool:
    return bool(record["status"] == "OPEN" and record["volume"] > 0)


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


def _sum_rows(rows: Iterable[tuple[K, Sums]]) -> dict[K, Sums]:
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
        return cls(_sum_rows(row for part in parts for row in part._groups.items()))

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
        groups: dict[GroupKey, Sums] = {}
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != 8:
                raise InvalidPartial(f"partial.groups[{i}]: expected a list of 8 items")
            symbol, book, lp, count, *amounts = row
            if not all(isinstance(x, str) for x in (symbol, book, lp)):
                raise InvalidPartial(f"partial.groups[{i}]: symbol, book, lp must be strings")
            if type(count) is not int or count < 0:
                raise InvalidPartial(f"partial.groups[{i}]: count must be an int >= 0")
            if not all(isinstance(a, str) and _INT_RE.fullmatch(a) for a in amounts):
                raise InvalidPartial(f"partial.groups[{i}]: amounts must be decimal strings")
            key = (symbol, book, lp)
            if key in groups:
                raise InvalidPartial(f"partial.groups[{i}]: duplicate group {key!r}")
            groups[key] = Sums(count, *(int(a) for a in amounts))
        return cls(groups)


def recompute(positions: Iterable[Mapping[str, Any]]) -> Partial:
    """The partial of a set of position states, from scratch (closed and 0-volume skipped)."""
    return Partial(_sum_rows((_group_key(r), contribution(r)) for r in positions if _is_open(r)))


# --------------------------------------------------------------------------------------------
# Stage 1: one positions partition


class PositionBook:
    """Open positions of one input partition and their partial, maintained incrementally.

    An event is applied only if its ``version`` is higher than the one stored for its
    ``positionId``; that makes redelivery and reordering harmless. Removed (CLOSED or 0-volume)
    positions leave their closing version behind so that a stale OPEN redelivered after the
    close is ignored. That memory is bounded: an entry is forgotten once the book's latest
    event time is ``closed_retention_us`` past the close (event time, not wall clock, so replay
    is deterministic), or when more than ``max_closed`` ids are remembered (oldest first).
    A stale OPEN arriving after its id was forgotten would be counted again, so the retention
    must exceed any redelivery delay (the default, one day, matches the positions topic's
    ``delete.retention.ms``).
    """

    __slots__ = ("_closed", "_groups", "_last_event_time", "_max_closed", "_open", "_retention")

    def __init__(self, *, closed_retention_us: int = DAY_US, max_closed: int = 250_000) -> None:
        if closed_retention_us < 0 or max_closed < 0:
            raise ConfigError("closed_retention_us and max_closed must be >= 0")
        self._retention = closed_retention_us
        self._max_closed = max_closed
        # positionId -> (version, group key, contribution)
        self._open: dict[str, tuple[int, GroupKey, Sums]] = {}
        # positionId -> (closing version, close event time); insertion order ~ close time
        self._closed: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._groups: dict[GroupKey, Sums] = {}
        self._last_event_time = 0

    def __len__(self) -> int:
        return len(self._open)

    @property
    def last_event_time(self) -> int:
        """Highest eventTime (micros) of the events applied, 0 before the first."""
        return self._last_event_time

    @property
    def remembered_closed(self) -> int:
        """How many closed ids are remembered (for a gauge)."""
        return len(self._closed)

    def version(self, position_id: str) -> int | None:
        """The version stored for a position (open or remembered closed), None if unknown."""
        if position_id in self._open:
            return self._open[position_id][0]
        if position_id in self._closed:
            return self._closed[position_id][0]
        return None

    def apply(self, record: Mapping[str, Any]) -> bool:
        """Apply one validated PositionState. Returns True if the partial changed; False for a
        stale or duplicate event, and for an accepted event that changes no sum (a close of an
        unknown id, an update with the same figures)."""
        pid: str = record["positionId"]
        version: int = record["version"]
        stored = self.version(pid)
        if stored is not None and version <= stored:
            return False
        event_time: int = record["eventTime"]
        if event_time > self._last_event_time:
            self._last_event_time = event_time
        old = self._open.pop(pid, None)
        self._closed.pop(pid, None)
        if _is_open(record):
            key, new = _group_key(record), contribution(record)
            self._open[pid] = (version, key, new)
            if old is not None and old[1] == key and old[2] == new:
                return False
            if old is not None:
                self._add(old[1], ZERO - old[2])
            self._add(key, new)
            changed = True
        else:
            if event_time >= self._last_event_time - self._retention:
                self._closed[pid] = (version, event_time)
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

    def _prune(self) -> None:
        cutoff = self._last_event_time - self._retention
        closed = self._closed
        while closed:
            pid, (_, closed_at) = next(iter(closed.items()))
            if closed_at >= cutoff and len(closed) <= self._max_closed:
                break
            del closed[pid]

    def partial(self) -> Partial:
        """The current sums, O(groups)."""
        return Partial(self._groups)


# --------------------------------------------------------------------------------------------
# Stage 2: USD conversion


def quote_mid(quote: Mapping[str, Any]) -> float:
    """Mid of a validated Quote record."""
    return float(quote["bid"]) / 2 + float(quote["ask"]) / 2


def _valid_price(x: float | None) -> bool:
    return x is not None and x > 0 and math.isfinite(x)


def usd_rates(
    mids: Mapping[str, float],
    instruments: Mapping[str, Instrument],
    fallback_marks: Mapping[str, float] = _EMPTY,
) -> dict[str, float]:
    """USD per unit of each currency reachable from USD through the symbols' mids.

    A symbol's mid is its quote mid, else its fallback mark. Rates spread out from USD=1 in
    rounds; a round uses only the rates known before it, so a currency gets its rate from the
    fewest hops: direct USD pairs (round 1) always beat crosses. Within a round, quote mids
    beat fallback marks, then the first symbol in sorted order wins: deterministic.
    """
    candidates: list[tuple[int, str, Instrument, float]] = []
    for sym in sorted(set(mids) | set(fallback_marks)):
        mid, rank = mids.get(sym), 0
        if not _valid_price(mid):
            mid, rank = fallback_marks.get(sym), 1
        if mid is not None and _valid_price(mid):
            inst = instruments.get(sym) or instrument(sym)
            if inst.base != inst.quote:
                candidates.append((rank, sym, inst, mid))
    candidates.sort(key=lambda c: (c[0], c[1]))
    rates = {"USD": 1.0}
    while True:
        found: dict[str, float] = {}
        for _, _, inst, mid in candidates:
            base, quote = inst.base, inst.quote
            if quote in rates and base not in rates:
                ccy, rate = base, mid * rates[quote]
            elif base in rates and quote not in rates:
                ccy, rate = quote, rates[base] / mid
            else:
                continue
            if ccy not in found and _valid_price(rate):
                found[ccy] = rate
        if not found:
            return rates
        rates.update(found)


def _usd(amounts_u: Mapping[str, int], rates: Mapping[str, float]) -> float:
    """Sum of amount (millionths of a currency) x its USD rate, as a float of whole micro-USD.

    Exact and independent of order: each rate is a double n / 2**k, so the exact sum is an int
    over 2**K micro-USD; it is rounded once, half to even, to whole micro-USD, and int / int
    true division gives the nearest double. (Rounding to micro-USD keeps binary noise such as
    100,000 x 1.1 = 110000.00000000001 out of the output.)"""
    num, exp = 0, 0
    for ccy, amount_u in amounts_u.items():
        n, d = rates[ccy].as_integer_ratio()
        k = d.bit_length() - 1
        if k > exp:
            num <<= k - exp
            exp = k
        num += (amount_u * n) << (exp - k)
    micro_usd, rest = divmod(num, 1 << exp)
    half = (1 << exp) >> 1
    if exp and (rest > half or (rest == half and micro_usd & 1)):
        micro_usd += 1
    return micro_usd / SCALE


def _add_to(acc: dict[str, int], key: str, amount_u: int) -> None:
    acc[key] = acc.get(key, 0) + amount_u


_MergeKey = tuple[tuple[str, Partial], ...]
_last_merge: list[tuple[_MergeKey, Partial, dict[str, Sums]]] = []


def _merge(partials: Mapping[str, Partial]) -> tuple[Partial, dict[str, Sums]]:
    """All partials summed, and per symbol. Partials are immutable, so the last result is
    reused while the same objects come in (quote ticks change only the rates)."""
    key = tuple(sorted(partials.items(), key=lambda item: item[0]))
    if _last_merge:
        old_key, merged, per_symbol = _last_merge[0]
        if len(old_key) == len(key) and all(
            a[0] == b[0] and a[1] is b[1] for a, b in zip(old_key, key, strict=True)
        ):
            return merged, per_symbol
    merged = Partial.combine(p for _, p in key)
    per_symbol = _sum_rows((k[0], s) for k, s in merged.items())  # sorted by symbol
    _last_merge[:] = [(key, merged, per_symbol)]
    return merged, per_symbol


def _evaluate(
    partials: Mapping[str, Partial],
    mids: Mapping[str, float],
    overrides: Mapping[str, tuple[str, str]] | None,
) -> tuple[dict[str, Any], list[str]]:
    """Figures of the merged partials in USD, and the symbols left out (no USD rate).
    Amounts are summed as exact ints per currency first, then converted once per figure."""
    merged, per_symbol = _merge(partials)
    instruments = {s: instrument(s, overrides) for s in sorted(set(mids) | set(per_symbol))}
    fallback = {
        s: t.mark_value_u / t.volume_u
        for s, t in per_symbol.items()
        if t.volume_u > 0 and not _valid_price(mids.get(s))
    }
    rates = usd_rates(mids, instruments, fallback)

    gross_u: dict[str, int] = {}  # currency -> millionths, for totalExposure
    net_u: dict[str, int] = {}
    legs_u: dict[str, int] = {}
    by_symbol: dict[str, float] = {}
    count = 0
    unconverted: list[str] = []
    for sym, t in per_symbol.items():  # sorted, as merged is
        inst = instruments[sym]
        if inst.base not in rates or inst.quote not in rates:
            unconverted.append(sym)
            continue
        count += t.count
        _add_to(gross_u, inst.base, t.volume_u)
        _add_to(net_u, inst.base, t.net_volume_u)
        _add_to(legs_u, inst.base, t.net_volume_u)
        _add_to(legs_u, inst.quote, -t.net_quote_u)
        by_symbol[sym] = _usd({inst.base: t.volume_u}, rates)
    skip = set(unconverted)
    by_book: dict[str, dict[str, int]] = {}
    by_lp: dict[str, dict[str, int]] = {}
    for (sym, book, lp), sums in merged.items():
        if sym not in skip:
            base = instruments[sym].base
            _add_to(by_book.setdefault(book, {}), base, sums.volume_u)
            if book == "ABOOK" and lp:
                _add_to(by_lp.setdefault(lp, {}), base, sums.volume_u)

    def usd_map(per_name: dict[str, dict[str, int]]) -> dict[str, float]:
        return {name: _usd(amounts, rates) for name, amounts in sorted(per_name.items())}

    record: dict[str, Any] = {
        "totalExposure": _usd(gross_u, rates),
        "netExposure": _usd(net_u, rates),
        "bySymbol": by_symbol,
        "byLP": usd_map(by_lp),
        "byBook": usd_map(by_book),
        "byCurrency": {c: _usd({c: legs_u[c]}, rates) for c in sorted(legs_u)},
        "positionCount": count,
    }
    return record, unconverted


def evaluate_exposure(
    partials: Mapping[str, Partial],
    mids: Mapping[str, float],
    limits: ExposureLimits,
    bands: RiskBands,
    *,
    event_time: int,
    overrides: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """:func:`compute_exposure` and :func:`unconverted_symbols` in one pass."""
    figures, unconverted = _evaluate(partials, mids, overrides)
    total: float = figures["totalExposure"]
    utilization = total * 100.0 / limits.global_usd  # exact when the result is representable
    record = {
        "eventTime": event_time,
        "totalExposure": total,
        "netExposure": figures["netExposure"],
        "exposureLimit": limits.global_usd,
        "utilizationPct": utilization,
        "riskLevel": bands.level(utilization),
        "bySymbol": figures["bySymbol"],
        "byLP": figures["byLP"],
        "byBook": figures["byBook"],
        "byCurrency": figures["byCurrency"],
        "positionCount": figures["positionCount"],
    }
    return record, unconverted


def compute_exposure(
    partials: Mapping[str, Partial],
    mids: Mapping[str, float],
    limits: ExposureLimits,
    bands: RiskBands,
    *,
    event_time: int,
    overrides: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """An ExposureChange record (every schema field) for the partials of all partitions."""
    record, _ = evaluate_exposure(
        partials, mids, limits, bands, event_time=event_time, overrides=overrides
    )
    return record


def unconverted_symbols(
    partials: Mapping[str, Partial],
    mids: Mapping[str, float],
    overrides: Mapping[str, tuple[str, str]] | None = None,
) -> list[str]:
    """Symbols with open positions left out of the figures: no path to a USD rate (sorted)."""
    return _evaluate(partials, mids, overrides)[1]
