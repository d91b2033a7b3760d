"""Realised P&L today in USD, at the rate when realised (pure; docs/pnl.md, "Realised P&L").

The global stage tells the ledger, per account, the realised amounts of today in quote
currency (exact millionths, summed over the partitions). The ledger books what is new since it
last counted: each new amount is converted at the current USD rate of its currency, and the USD
amounts are kept as exact sums (:class:`streams.market.ExactSum`), rounded only when a figure
is read. So booking two amounts at once or one after the other gives the same figure at the
same rate, and a restart that books the missed amounts in one go equals the uninterrupted run.
An amount whose currency has no rate yet waits (``pending``) and is converted when one comes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from streams.market.exact import ExactSum
from streams.risk.figures import Market

RealizedKey = tuple[str, str]  # (symbol, book)


class _Entry:
    """One account's realised P&L of one (symbol, book) on one trading day."""

    __slots__ = ("day", "pending_u", "quote_u", "usd")

    def __init__(self, day: int, quote_u: int = 0, pending_u: int = 0) -> None:
        self.day = day
        self.quote_u = quote_u  # quote millionths booked so far
        self.pending_u = pending_u  # of which still waiting for a rate
        self.usd = ExactSum()  # the converted part, USD millionths, exact


class RealizedLedger:
    """Per account and (symbol, book): today's realised amounts booked and their USD value."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[RealizedKey, _Entry]] = {}
        self._lines: dict[RealizedKey, tuple[int, ExactSum]] = {}  # all accounts, per day
        self._pending: set[tuple[str, RealizedKey]] = set()

    def accounts(self) -> Iterable[str]:
        return self._entries.keys()

    def book(self, account: str, today: Mapping[RealizedKey, int], day: int) -> bool:
        """Books the account's amounts of ``day`` (quote millionths, all partitions) beyond what
        was booked; they wait for :meth:`settle`. True if anything was new."""
        entries = self._entries.setdefault(account, {})
        for key in [k for k, e in entries.items() if e.day < day]:
            del entries[key]
        new = False
        for key in sorted(set(today) | set(entries)):
            entry = entries.setdefault(key, _Entry(day))
            delta = today.get(key, 0) - entry.quote_u
            if delta:
                entry.quote_u += delta
                entry.pending_u += delta
                self._pending.add((account, key))
                new = True
        if not entries:
            del self._entries[account]
        return new

    def forget_before(self, day: int) -> list[str]:
        """Drops the amounts of the days before ``day`` (at the roll); returns the accounts
        that had any."""
        dropped = []
        for account, entries in list(self._entries.items()):
            for key in [k for k, e in entries.items() if e.day < day]:
                del entries[key]
            if not entries:
                del self._entries[account]
                dropped.append(account)
        self._lines = {k: line for k, line in self._lines.items() if line[0] >= day}
        self._pending = {p for p in self._pending if p[0] in self._entries}
        return dropped

    def settle(self, market: Market, day: int) -> list[str]:
        """Converts the waiting amounts whose currency has a rate now; returns the accounts
        whose USD figure changed. Amounts of a day before ``day`` are dropped."""
        changed = []
        for account, key in sorted(self._pending):
            entry = self._entries.get(account, {}).get(key)
            rate = market.quote_rate(key[0])
            if entry is None or entry.day < day:
                self._pending.discard((account, key))
                continue
            if rate is None:
                continue
            converted = ExactSum().add(entry.pending_u, rate)
            entry.usd.add_sum(converted)
            entry.pending_u = 0
            self._line(key, day).add_sum(converted)
            self._pending.discard((account, key))
            changed.append(account)
        return changed

    def _line(self, key: RealizedKey, day: int) -> ExactSum:
        line = self._lines.get(key)
        if line is None or line[0] < day:
            line = self._lines[key] = (day, ExactSum())
        return line[1]

    def today(self, account: str, day: int) -> ExactSum:
        """The account's realised P&L of ``day`` in USD millionths (converted amounts)."""
        total = ExactSum()
        for entry in self._entries.get(account, {}).values():
            if entry.day == day:
                total.add_sum(entry.usd)
        return total

    def waiting(self, account: str, day: int) -> list[str]:
        """Symbols of the account with realised amounts of ``day`` still without a rate."""
        entries = self._entries.get(account, {})
        return sorted({k[0] for k, e in entries.items() if e.day == day and e.pending_u})

    def by_symbol(self, day: int) -> dict[RealizedKey, ExactSum]:
        """All accounts' realised P&L of ``day`` per (symbol, book), USD millionths."""
        return {k: s for k, (d, s) in self._lines.items() if d == day and s.num}

    def state(self) -> dict[str, list[list[Any]]]:
        return {
            account: [
                [*key, e.day, str(e.quote_u), str(e.pending_u), str(e.usd.num), e.usd.exp]
                for key, e in sorted(entries.items())
            ]
            for account, entries in sorted(self._entries.items())
        }

    def restore(self, state: Mapping[str, Any], day: int) -> None:
        """Loads :meth:`state`; raises ValueError, TypeError or KeyError when malformed."""
        for account, rows in state.items():
            for symbol, book, entry_day, quote_u, pending_u, num, exp in rows:
                if not isinstance(symbol, str) or not isinstance(book, str) or exp < 0:
                    raise ValueError(f"realised entry of {account!r}: {symbol!r}, {book!r}")
                entry = _Entry(int(entry_day), int(quote_u), int(pending_u))
                entry.usd.num, entry.usd.exp = int(num), int(exp)
                self._entries.setdefault(account, {})[(symbol, book)] = entry
                if entry.day == day:
                    self._line((symbol, book), day).add_sum(entry.usd)
                    if entry.pending_u:
                        self._pending.add((account, (symbol, book)))
