"""Risk stage 1: one positions partition's positions, summed per account (pure: no I/O).

:class:`RiskBook` applies ``PositionState`` events (as ``streams.events.validate`` returns
them) with the version rule of the exposure book (a version no higher than the stored one
changes nothing; closed ids are remembered for a while, so a stale OPEN after its CLOSED is
ignored) and marks the accounts whose sums changed. :meth:`RiskBook.drain` returns their
:class:`streams.risk.partial.AccountPartial`: the global stage's input.

Realised P&L (docs/pnl.md, "Realised P&L"): a position carries ``realizedPnl``, its cumulative
realised P&L in quote currency, and ``realizedPnlDelta``, the part this change realised. An
accepted version realises ``realizedPnl`` minus the stored one; the first version seen of a
position (a rebuild from the compacted topic starts anywhere) realises ``realizedPnlDelta``,
or the whole ``realizedPnl`` when the writer does not say. The amount goes to the trading day
of the event's time, per (account, symbol, book); an older day's amounts are dropped once the
partition's events reach a later day.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

from streams.market.exact import scaled
from streams.market.positions import HOUR_US, MAX_CLOSED, PositionIndex, is_open
from streams.risk.day import TradingCalendar
from streams.risk.partial import AccountPartial, Group, Largest, Realized


class _Position(NamedTuple):
    version: int
    account: str
    symbol: str
    book: str
    side: str
    volume_u: int
    value_u: int
    mark_u: int
    realized_u: int  # cumulative realised P&L known for the position, quote-currency millionths


def _realized_u(record: Mapping[str, Any], name: str) -> int | None:
    value: float | None = record.get(name)
    return None if value is None else scaled(value)


class RiskBook(PositionIndex[_Position]):
    """Open positions of one positions partition, by account, and each account's realised P&L
    of the current trading day. Memory: one tuple per open position, one list of position ids
    per account, one small dict per account that realised today; closed ids as
    :class:`streams.market.ClosedIds` bounds them."""

    __slots__ = ("_calendar", "_day", "_dirty", "_pids", "_realized")

    def __init__(
        self,
        calendar: TradingCalendar,
        *,
        closed_retention_us: int = HOUR_US,
        max_closed: int = MAX_CLOSED,
    ) -> None:
        super().__init__(closed_retention_us=closed_retention_us, max_closed=max_closed)
        self._calendar = calendar
        # account -> its open position ids here (a dict: removal in O(1), insertion order kept)
        self._pids: dict[str, dict[str, None]] = {}
        # account -> (symbol, book) -> [trading day, realised amount in quote millionths]
        self._realized: dict[str, dict[tuple[str, str], list[int]]] = {}
        self._dirty: set[str] = set()
        self._day = 0

    def apply(self, record: Mapping[str, Any]) -> bool:
        """Apply one validated PositionState; True if an account's sums changed (it is then
        marked for :meth:`drain`), False for a stale or duplicate event or no change."""
        accepted, old = self._accept(record)
        if not accepted:
            return False
        pid: str = record["positionId"]
        day = self._calendar.day_of(self._last_event_time)
        if day > self._day:  # a new trading day: yesterday's realised amounts go at next drain
            self._dirty.update(self._realized)
            self._day = day
        account = sys.intern(record["accountId"])
        symbol, book = sys.intern(record["symbol"]), sys.intern(record["book"])
        total = _realized_u(record, "realizedPnl")
        realized = self._realize(record, total, old, account, symbol, book)
        changed = realized != 0
        if is_open(record):
            if total is None:  # a writer that does not report realised P&L keeps the stored one
                total = old.realized_u if old is not None else 0
            new = self._position(record, account, symbol, book, total)
            self._open[pid] = new
            changed |= old is None or old[1:8] != new[1:8]
        else:
            self._remember_close(record)
            changed |= old is not None
        if old is None or old.account != account or pid not in self._open:
            self._move(pid, old.account if old is not None else None, account)
        if changed:
            self._dirty.add(account)
            if old is not None:
                self._dirty.add(old.account)
        self._prune()
        return changed

    def _realize(
        self,
        record: Mapping[str, Any],
        total: int | None,
        old: _Position | None,
        account: str,
        symbol: str,
        book: str,
    ) -> int:
        """The realised amount (quote millionths) this version adds, booked to its day;
        ``total`` is the version's cumulative realised P&L, None from a writer that does not
        report it."""
        if total is None:
            return 0  # a writer that does not report realised P&L
        if old is not None:
            amount = total - old.realized_u
        else:
            delta = _realized_u(record, "realizedPnlDelta")
            amount = total if delta is None else delta
        if amount:
            day = self._calendar.day_of(record["eventTime"])
            entries = self._realized.setdefault(account, {})
            entry = entries.get((symbol, book))
            if entry is None or entry[0] < day:
                entries[(symbol, book)] = [day, amount]
            elif entry[0] == day:
                entry[1] += amount
            # else: a late event of a day already over for this account: not today's
        return amount

    @staticmethod
    def _position(
        record: Mapping[str, Any], account: str, symbol: str, book: str, total: int
    ) -> _Position:
        volume: float = record["volume"]
        open_price: float = record["openPrice"]
        mark: float | None = record.get("currentPrice")
        value_u = scaled(volume, open_price)
        return _Position(
            record["version"],
            account,
            symbol,
            book,
            sys.intern(record["side"]),
            scaled(volume),
            value_u,
            value_u if mark is None else scaled(volume, mark),  # one int object when equal
            total,
        )

    def _move(self, pid: str, before: str | None, after: str) -> None:
        """Keeps the per-account id lists in step with the open positions."""
        if before is not None:
            pids = self._pids.get(before)
            if pids is not None and pids.pop(pid, 0) is None and not pids:
                del self._pids[before]
        if pid in self._open:
            self._pids.setdefault(after, {})[pid] = None

    def partial(self, account: str) -> AccountPartial:
        """The account's sums in this partition (empty when it has nothing here). Realised
        amounts of a day before the partition's current day are dropped."""
        sums: dict[tuple[str, str, str], list[int]] = {}
        best: dict[str, tuple[int, str, _Position]] = {}  # symbol -> (volume, pid, position)
        positions = self._open
        for pid in self._pids.get(account, ()):
            p = positions[pid]
            key = (p.symbol, p.book, p.side)
            acc = sums.get(key)
            if acc is None:
                sums[key] = [1, p.volume_u, p.value_u, p.mark_u]
            else:
                acc[0] += 1
                acc[1] += p.volume_u
                acc[2] += p.value_u
                acc[3] += p.mark_u
            held = best.get(p.symbol)
            # The larger volume; ties go to the smaller positionId (as partial.larger).
            if held is None or p.volume_u > held[0] or (p.volume_u == held[0] and pid < held[1]):
                best[p.symbol] = (p.volume_u, pid, p)
        largest = [Largest(s, v, pid, p.side, p.book) for s, (v, pid, p) in best.items()]
        entries = self._realized.get(account, {})
        for stale in [k for k, (day, _) in entries.items() if day < self._day]:
            del entries[stale]
        if not entries:
            self._realized.pop(account, None)
        return AccountPartial.of(
            (Group(*k, *v) for k, v in sums.items()),
            (Realized(s, b, day, amount) for (s, b), (day, amount) in entries.items() if amount),
            largest,
        )

    @property
    def pending(self) -> bool:
        """Whether an account changed since the last :meth:`drain`."""
        return bool(self._dirty)

    def drain(self) -> list[tuple[str, AccountPartial]]:
        """The partials of the accounts changed since the last drain, sorted by account (an
        empty partial: the account has nothing left in this partition)."""
        out = [(account, self.partial(account)) for account in sorted(self._dirty)]
        self._dirty.clear()
        return out

    def accounts(self) -> list[str]:
        """Accounts with open positions or realised P&L today in this partition (sorted)."""
        return sorted(set(self._pids) | set(self._realized))
