"""One window of routing decisions: the mergeable partial of routing stages 1 and 2 (pure).

A :class:`WindowPartial` keeps, per eventId, the few numbers each decision contributes (a
:class:`Contribution`, built from a validated RoutingDecision by :func:`contribution`). That
makes de-duplication exact everywhere: a redelivered decision is recognised in stage 1, and if
the same eventId reaches stage 2 twice (two partitions, two versions of a partial, a stage-1
restart) the merge is a union keyed by eventId, so nothing counts twice. The merge is
commutative, associative and idempotent, so partials may arrive in any order and any number of
times, and the latest partial of a (partition, window) may supersede or be merged with earlier
ones: the result is the same. Sums are ``math.fsum`` (correctly rounded, independent of order),
so a summary does not depend on how decisions were split or interleaved.

This module also holds the partial's JSON record format (``to_record`` / ``from_record``, the
rows of the internal topic and of snapshots) and its parsing. The stages that use it are in
:mod:`streams.routing.windows`; formulas and semantics: ``docs/routing-and-lp.md``.

Errors: :class:`PartialError` (a ``ValueError``) for a malformed partial or state record.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from streams.errors import StateError
from streams.histogram import Histogram

FORMAT = 1
"""The version of the partial and state records (``"format"``)."""

_FX_PAIR = re.compile(r"[A-Z]{6}")


class PartialError(StateError):
    """A partial or state record (from the internal topic or a snapshot) is malformed."""


def base_currency(symbol: str) -> str:
    """EURUSD -> EUR (six letters A-Z split 3+3); any other symbol is its own base (US500)."""
    return symbol[:3] if _FX_PAIR.fullmatch(symbol) else symbol


# --------------------------------------------------------------------------------------------
# One window of decisions


class Contribution(NamedTuple):
    """What one routing decision adds to its window's metrics; in the order of a partial
    record's row (after the eventId), so a row is compared with one tuple comparison."""

    event_time: int
    volume: float
    notional_usd: float | None  # None: no USD rate for the base currency (counted as 0)
    book: str  # ABOOK or BBOOK
    lp: str | None  # the LP of an A-book decision
    execution_time_ms: float
    slippage: float

    @property
    def abook(self) -> bool:
        return self.book == "ABOOK"

    def row(self, event_id: str) -> list[Any]:
        return [event_id, *self]


def _sum(values: Iterable[float]) -> float:
    """The correctly rounded sum (math.fsum: independent of the order), with -0.0 as 0.0."""
    return math.fsum(values) + 0.0


def _preferred(event_id: str, a: Contribution, b: Contribution) -> Contribution:
    """Of two different contributions under one eventId (a producer bug), the one whose row
    sorts first as JSON text: an arbitrary but order-independent choice, so merges commute."""
    ka = json.dumps(a.row(event_id))
    kb = json.dumps(b.row(event_id))
    return a if ka <= kb else b


class WindowPartial:
    """The decisions of one window (of one partition, or merged): eventId -> Contribution.

    The metrics (count, volume, notional_usd, A-/B-book counts and volume, by_lp, the
    execution-time histogram, slippage sum and sign counts, max event time) are derived from
    the contributions, so merging is a union keyed by eventId: exact de-duplication."""

    __slots__ = ("_rows", "window_end", "window_start")

    def __init__(self, window_start: int, window_end: int) -> None:
        if not 0 <= window_start < window_end:
            raise PartialError(f"window [{window_start}, {window_end}): not a window")
        self.window_start = window_start
        self.window_end = window_end
        self._rows: dict[str, Contribution] = {}

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, event_id: str, contribution: Contribution) -> bool:
        """Add one decision; True if the partial changed. A known eventId with the same
        contribution changes nothing; with a different one it is resolved as in :meth:`merge`
        (an order-independent choice, so any split and order of the decisions agree)."""
        if not self.window_start <= contribution.event_time < self.window_end:
            raise PartialError(
                f"event {event_id}: time {contribution.event_time} is outside the window "
                f"[{self.window_start}, {self.window_end})"
            )
        old = self._rows.get(event_id)
        if old is None:
            self._rows[event_id] = contribution
            return True
        if old == contribution:
            return False
        chosen = self._rows[event_id] = _preferred(event_id, old, contribution)
        return chosen is not old

    def merge(self, other: WindowPartial) -> None:
        """Union with ``other`` (same window); an eventId in both counts once."""
        if (other.window_start, other.window_end) != (self.window_start, self.window_end):
            raise PartialError(
                f"cannot merge window [{other.window_start}, {other.window_end}) into "
                f"[{self.window_start}, {self.window_end})"
            )
        rows = self._rows
        for event_id, contribution in other._rows.items():
            old = rows.get(event_id)
            if old is None:
                rows[event_id] = contribution
            elif old != contribution:
                rows[event_id] = _preferred(event_id, old, contribution)

    def merge_record(self, rec: Mapping[str, Any]) -> None:
        """``merge(WindowPartial.from_record(rec))``, faster when most of ``rec``'s decisions
        are already here unchanged (a newer partial of the same window): those rows are only
        compared, not parsed again."""
        if not isinstance(rec, Mapping) or rec.get("format") != FORMAT:
            raise PartialError(f"expected a format-{FORMAT} window partial, got {rec!r:.200}")
        if (rec.get("windowStart"), rec.get("windowEnd")) != (self.window_start, self.window_end):
            raise PartialError(
                f"cannot merge window [{rec.get('windowStart')}, {rec.get('windowEnd')}) into "
                f"[{self.window_start}, {self.window_end})"
            )
        rows = rec.get("decisions")
        if not isinstance(rows, list):
            raise PartialError("partial.decisions: expected a list")
        mine = self._rows
        fresh = []
        for i, row in enumerate(rows):
            if type(row) is list and len(row) == 8:
                old = mine.get(row[0])
                if old is not None and old == tuple(row[1:]):
                    continue
            event_id, contribution = _parse_row(i, row)
            if not self.window_start <= contribution.event_time < self.window_end:
                raise PartialError(f"partial.decisions[{i}]: time outside the window")
            fresh.append((event_id, contribution))
        for event_id, contribution in fresh:  # all rows checked before any is added
            self.add(event_id, contribution)

    def copy(self) -> WindowPartial:
        new = WindowPartial(self.window_start, self.window_end)
        new._rows = dict(self._rows)
        return new

    # --- derived metrics -----------------------------------------------------------------------

    @property
    def event_ids(self) -> frozenset[str]:
        return frozenset(self._rows)

    @property
    def count(self) -> int:
        return len(self._rows)

    @property
    def volume(self) -> float:
        return _sum(c.volume for c in self._rows.values())

    @property
    def notional_usd(self) -> float:
        return _sum(c.notional_usd or 0.0 for c in self._rows.values())

    @property
    def unpriced_count(self) -> int:
        return sum(1 for c in self._rows.values() if c.notional_usd is None)

    @property
    def abook_count(self) -> int:
        return sum(1 for c in self._rows.values() if c.abook)

    @property
    def bbook_count(self) -> int:
        return len(self._rows) - self.abook_count

    @property
    def abook_volume(self) -> float:
        return _sum(c.volume for c in self._rows.values() if c.abook)

    @property
    def by_lp(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self._rows.values():
            if c.abook and c.lp is not None:
                counts[c.lp] = counts.get(c.lp, 0) + 1
        return {lp: counts[lp] for lp in sorted(counts)}

    @property
    def execution_time(self) -> Histogram:
        return Histogram.of(c.execution_time_ms for c in self._rows.values())

    @property
    def slippage_sum(self) -> float:
        return _sum(c.slippage for c in self._rows.values())

    @property
    def slippage_positive_count(self) -> int:
        return sum(1 for c in self._rows.values() if c.slippage > 0)

    @property
    def slippage_negative_count(self) -> int:
        return sum(1 for c in self._rows.values() if c.slippage < 0)

    @property
    def max_event_time(self) -> int | None:
        return max((c.event_time for c in self._rows.values()), default=None)

    def summary(self) -> dict[str, Any]:
        """The ``RoutingSummary`` record of this window (exactly the schema's fields)."""
        n = len(self._rows)
        volume = self.volume
        abook_count = self.abook_count
        abook_volume = self.abook_volume
        hist = self.execution_time
        return {
            "windowStart": self.window_start,
            "windowEnd": self.window_end,
            "count": n,
            "volume": volume,
            "notionalUsd": self.notional_usd,
            "abookCount": abook_count,
            "bbookCount": n - abook_count,
            # Integer numerator, one correctly rounded division.
            "abookShareByCountPct": abook_count * 100 / n if n else 0.0,
            "abookShareByVolumePct": abook_volume * 100.0 / volume if volume > 0 else 0.0,
            "byLP": self.by_lp,
            "executionTimeP50Ms": hist.percentile(50) or 0.0,
            "executionTimeP95Ms": hist.percentile(95) or 0.0,
            "executionTimeP99Ms": hist.percentile(99) or 0.0,
            "slippageMean": self.slippage_sum / n if n else 0.0,
            "slippagePositiveCount": self.slippage_positive_count,
            "slippageNegativeCount": self.slippage_negative_count,
        }

    # --- records -------------------------------------------------------------------------------

    def to_record(self, only: Iterable[str] | None = None) -> dict[str, Any]:
        """JSON-able and exact (doubles survive JSON text through ``repr``): the window and
        one row per decision, sorted by eventId: ``[eventId, eventTime, volume, notionalUsd or
        null, "ABOOK"|"BBOOK", lp or null, executionTimeMs, slippage]``. With ``only``, just
        those eventIds' rows (a delta; merging it is still a union)."""
        ids = sorted(self._rows) if only is None else sorted(set(only) & self._rows.keys())
        return {
            "format": FORMAT,
            "windowStart": self.window_start,
            "windowEnd": self.window_end,
            "decisions": [self._rows[i].row(i) for i in ids],
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> WindowPartial:
        if not isinstance(rec, Mapping) or rec.get("format") != FORMAT:
            raise PartialError(f"expected a format-{FORMAT} window partial, got {rec!r:.200}")
        start, end = rec.get("windowStart"), rec.get("windowEnd")
        if type(start) is not int or type(end) is not int:
            raise PartialError("partial.windowStart, windowEnd: expected integers")
        partial = cls(start, end)
        rows = rec.get("decisions")
        if not isinstance(rows, list):
            raise PartialError("partial.decisions: expected a list")
        for i, row in enumerate(rows):
            event_id, contribution = _parse_row(i, row)
            partial.add(event_id, contribution)
        return partial

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WindowPartial):
            return NotImplemented
        return (
            self.window_start == other.window_start
            and self.window_end == other.window_end
            and self._rows == other._rows
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"WindowPartial([{self.window_start}, {self.window_end}), {len(self._rows)} decisions)"
        )


def _number(x: Any) -> bool:
    return (type(x) is float or type(x) is int) and math.isfinite(x)


def _parse_row(i: int, row: Any) -> tuple[str, Contribution]:
    if type(row) is list and len(row) == 8:
        event_id, t, volume, notional, book, lp, exec_ms, slippage = row
        if (
            isinstance(event_id, str)
            and type(t) is int
            and _number(volume)
            and (notional is None or _number(notional))
            and (book == "ABOOK" or (book == "BBOOK" and lp is None))
            and (lp is None or isinstance(lp, str))
            and _number(exec_ms)
            and exec_ms >= 0
            and _number(slippage)
        ):
            return event_id, Contribution(
                t,
                float(volume),
                None if notional is None else float(notional),
                book,
                lp,
                float(exec_ms),
                float(slippage),
            )
    raise PartialError(
        f"partial.decisions[{i}]: expected [eventId, eventTime, volume, notionalUsd|null, "
        f"ABOOK|BBOOK, lp|null, executionTimeMs, slippage], got {row!r:.200}"
    )


def contribution(
    decision: Mapping[str, Any], usd_rate: Callable[[str], float | None]
) -> Contribution:
    """A validated RoutingDecision's contribution: notional_usd = volume x USD rate of the base
    currency, or None (counted as 0, and as unpriced) when the rate is unknown or not > 0."""
    volume = float(decision["volume"])
    rate = usd_rate(base_currency(decision["symbol"]))
    notional = None
    if rate is not None and 0 < rate < math.inf:
        notional = volume * rate
        if not math.isfinite(notional):
            notional = None
    book = decision["routingDecision"]
    if book not in ("ABOOK", "BBOOK"):
        raise ValueError(f"routingDecision={book!r}: expected ABOOK or BBOOK")
    return Contribution(
        int(decision["eventTime"]),
        volume,
        notional,
        book,
        decision.get("lpSelected") if book == "ABOOK" else None,
        float(decision["executionTimeMs"]),
        float(decision["slippage"]),
    )
