"""Stage 1 (pure): the state of the input partitions a worker holds, and the internal messages
that state gives the global stage (:mod:`streams.worker.pipeline.records`).

- :class:`PositionsStage`: open positions per positions partition, twice: the exposure book
  (its partial when it changed) and the risk book (the sums of each account changed);
- :class:`QuotesStage`: the latest bid, ask and mid per symbol of each quotes partition;
- :class:`RoutingStage`: routing windows per routing-decisions partition, as deltas, and the
  digests of A-book decisions for the LP tracker;
- :class:`InputStage`: the three together, as the worker drives them: records applied one by
  one, then the batch's messages taken at once (a partition's partial once per batch).

Service alerts need no state: :func:`service_alert` turns one into the alert to write.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from streams import exposure as ex
from streams.alerts.records import from_service_alert
from streams.risk import RiskBook, TradingCalendar
from streams.routing.windows import PartitionWindows, RoutingConfig
from streams.worker.pipeline.records import (
    Internal,
    Output,
    Record,
    account_message,
    decision_message,
    lp_status_message,
    mids_message,
    positions_message,
    route_message,
)

DIGEST_FIELDS = (
    "eventId",
    "eventTime",
    "routingDecision",
    "lpSelected",
    "executionTimeMs",
    "lpRejected",
    "symbol",
    "volume",
)
"""The fields of an A-book RoutingDecision forwarded to the global stage's LP tracker."""


class PositionsStage:
    """Open positions per positions partition: the exposure book (one partial per partition,
    emitted when it changed) and the risk book beside it (one partial per account, emitted
    for the accounts whose sums changed; docs/pnl.md, "Two stages")."""

    def __init__(
        self,
        *,
        closed_retention_us: int = ex.HOUR_US,
        max_closed: int = ex.MAX_CLOSED,
        calendar: TradingCalendar | None = None,
    ) -> None:
        self.books: dict[int, ex.PositionBook] = {}
        self.risk_books: dict[int, RiskBook] = {}
        self.closed_retention_us = closed_retention_us
        self.max_closed = max_closed
        self.calendar = calendar or TradingCalendar()

    def loaded(self, partition: int) -> bool:
        return partition in self.books

    def book(self, partition: int) -> ex.PositionBook:
        book = self.books.get(partition)
        if book is None:
            book = self.books[partition] = ex.PositionBook(
                closed_retention_us=self.closed_retention_us, max_closed=self.max_closed
            )
        return book

    def risk_book(self, partition: int) -> RiskBook:
        book = self.risk_books.get(partition)
        if book is None:
            book = self.risk_books[partition] = RiskBook(
                self.calendar,
                closed_retention_us=self.closed_retention_us,
                max_closed=self.max_closed,
            )
        return book

    def drop(self, partition: int) -> None:
        self.books.pop(partition, None)
        self.risk_books.pop(partition, None)

    def apply(self, partition: int, record: Mapping[str, Any]) -> tuple[bool, bool]:
        """(the exposure partial changed, an account's sums changed)."""
        return self.book(partition).apply(record), self.risk_book(partition).apply(record)

    def rebuild(self, partition: int, records: Iterable[Mapping[str, Any]]) -> int:
        """Both books of a partition from its compacted history (oldest first). What the
        rebuild changes is what the internal topic holds already (the previous owner sent
        it), so nothing is marked to send. Returns the events applied."""
        book, risk = self.book(partition), self.risk_book(partition)
        applied = 0
        for record in records:
            book.apply(record)
            risk.apply(record)
            applied += 1
        risk.drain()
        return applied

    def remembered_closed(self) -> int:
        """Closed position ids the books remember (their bounded memory, for a gauge)."""
        return sum(book.remembered_closed for book in self.books.values())

    def undrained(self, partition: int) -> bool:
        """Whether an account of the partition changed since its partials were last taken."""
        book = self.risk_books.get(partition)
        return book is not None and book.pending

    def message(self, partition: int) -> Internal:
        book = self.book(partition)
        return positions_message(partition, book.last_event_time, book.partial().to_record())

    def account_messages(self, partition: int) -> list[Internal]:
        """The partials of the accounts changed since the last call (each keyed by partition
        and account; an empty partial: the account has nothing left in the partition)."""
        book = self.risk_book(partition)
        t = book.last_event_time
        return [
            message
            for account, partial in book.drain()
            for message in account_message(partition, account, t, partial.to_record(), partial)
        ]


class QuotesStage:
    """Latest mid (exposure) and bid and ask (P&L marks) per symbol of each quotes partition."""

    def __init__(self) -> None:
        self.mids: dict[int, dict[str, float]] = {}
        self.quotes: dict[int, dict[str, tuple[float, float]]] = {}
        self.times: dict[int, int] = {}

    def apply(self, partition: int, record: Mapping[str, Any]) -> bool:
        mids = self.mids.setdefault(partition, {})
        quotes = self.quotes.setdefault(partition, {})
        symbol: str = record["symbol"]
        bid_ask = (record["bid"], record["ask"])
        t = int(record["eventTime"])
        if t < self.times.get(partition, 0) and symbol in mids:
            return False  # an older quote than the one we have (redelivery)
        self.times[partition] = max(t, self.times.get(partition, 0))
        if quotes.get(symbol) == bid_ask:
            return False
        quotes[symbol] = bid_ask
        mids[symbol] = (bid_ask[0] + bid_ask[1]) / 2
        return True

    def message(self, partition: int) -> Internal:
        return mids_message(
            partition,
            self.times.get(partition, 0),
            self.mids.get(partition, {}),
            self.quotes.get(partition, {}),
        )


class LocalRates:
    """USD rates a routing partition can know without quotes: from the prices of its own
    decisions (EURUSD at 1.085 -> EUR = 1.085 USD; USDJPY at 151.2 -> JPY = 1/151.2 USD).
    Per partition, so a decision's notional does not depend on how workers split partitions."""

    def __init__(self) -> None:
        self.rates: dict[str, float] = {"USD": 1.0}

    def observe(self, record: Mapping[str, Any]) -> None:
        symbol, price = record["symbol"], record.get("price")
        if price is None or len(symbol) != 6 or not symbol.isalpha():
            return
        base, quote = symbol[:3].upper(), symbol[3:].upper()
        if quote == "USD":
            self.rates[base] = price
        elif base == "USD":
            self.rates[quote] = 1 / price

    def __call__(self, currency: str) -> float | None:
        return self.rates.get(currency)


class RoutingStage:
    """Routing windows per routing-decisions partition, and digests of A-book decisions.

    Window partials go to the global stage as *deltas* (the decisions added since the last
    drain, each with its eventId): the merger takes their union, so a redelivered decision
    counts once, and a message stays small however full the window is. Each delta has a key of
    its own; the global stage deletes them (tombstones) once their window is closed.
    """

    def __init__(self, config: RoutingConfig, drain_interval_s: float = 0.25) -> None:
        self.config = config
        self.drain_interval_s = drain_interval_s
        self.windows: dict[int, PartitionWindows] = {}
        self.rates: dict[int, LocalRates] = {}
        self.pending: dict[int, float] = {}  # partition -> when it first had undrained changes
        self._seq = 0

    def apply(self, partition: int, record: Mapping[str, Any], now: float) -> list[Internal]:
        windows = self.windows.get(partition)
        if windows is None:
            windows = self.windows[partition] = PartitionWindows(self.config)
            self.rates[partition] = LocalRates()
        rates = self.rates[partition]
        rates.observe(record)
        windows.add(record, rates)
        self.pending.setdefault(partition, now)
        if record["routingDecision"] == "ABOOK" and record.get("lpSelected"):
            digest = {k: record.get(k) for k in DIGEST_FIELDS}
            return [decision_message(record["lpSelected"], digest)]
        return []

    def drop(self, partition: int) -> None:
        """Forget a partition (given up in a rebalance): its windows, rates and undrained
        changes. If it comes back, it starts afresh."""
        self.windows.pop(partition, None)
        self.rates.pop(partition, None)
        self.pending.pop(partition, None)

    def drain_due(self, now: float, *, force: bool = False) -> list[Internal]:
        """Deltas of partitions whose changes waited at least ``drain_interval_s``."""
        out: list[Internal] = []
        for partition, since in sorted(self.pending.items()):
            if force or now - since >= self.drain_interval_s:
                del self.pending[partition]
                out += self._drain(partition)
        return out

    def _drain(self, partition: int) -> list[Internal]:
        windows = self.windows[partition]
        wm = windows.watermark
        out = []
        for start, partial in windows.drain(delta=True):
            self._seq += 1
            key = f"route:{partition}:{start}:{self._seq}"
            out.append(route_message(key, partition, start, wm, partial))
        return out


Apply = Callable[[int, Record, float], None]
"""Applies a validated record of one input partition: (partition, record, now)."""


class InputStage:
    """Stage 1 of one worker: :meth:`applier` gives the function that applies a validated record
    of an input topic (all but ``alerts_inbound``); :meth:`take` then returns the batch's
    internal messages: decision digests and LP statuses in input order, then the partial of
    every positions and quotes partition that changed, then the partials of the accounts that
    changed (per partition at most every ``accounts_drain_s``), then the routing deltas."""

    def __init__(
        self,
        routing: RoutingConfig,
        *,
        closed_retention_us: int = ex.HOUR_US,
        max_closed: int = ex.MAX_CLOSED,
        calendar: TradingCalendar | None = None,
        accounts_drain_s: float = 0.0,
    ) -> None:
        self.positions = PositionsStage(
            closed_retention_us=closed_retention_us, max_closed=max_closed, calendar=calendar
        )
        # The account partials of a partition are sent at most this often (0: every batch):
        # an account changed by many events in that time is sent once.
        self.accounts_drain_s = accounts_drain_s
        self._accounts_taken: dict[int, float] = {}  # partition -> when last taken
        self.quotes = QuotesStage()
        self.routing = RoutingStage(routing)
        self._appliers: dict[str, Apply] = {
            "positions": self.position,
            "quotes": self.quote,
            "routing_decisions": self.routing_decision,
            "lp_status": self.lp_status,
        }
        self._internal: list[Internal] = []
        self._positions_changed: set[int] = set()
        self._accounts_changed: set[int] = set()
        self._quotes_changed: set[int] = set()

    def applier(self, logical: str) -> Apply:
        """The function applying a record of input topic ``logical``; KeyError for
        ``alerts_inbound`` (see :func:`service_alert`) and unknown topics."""
        return self._appliers[logical]

    def position(self, partition: int, record: Record, _now: float) -> None:
        exposure, accounts = self.positions.apply(partition, record)
        if exposure:
            self._positions_changed.add(partition)
        if accounts:
            self._accounts_changed.add(partition)

    def quote(self, partition: int, record: Record, _now: float) -> None:
        if self.quotes.apply(partition, record):
            self._quotes_changed.add(partition)

    def routing_decision(self, partition: int, record: Record, now: float) -> None:
        self._internal += self.routing.apply(partition, record, now)

    def lp_status(self, _partition: int, record: Record, _now: float) -> None:
        self._internal.append(lp_status_message(record))

    def take(self, now: float) -> list[Internal]:
        """The internal messages of what was applied since the last call."""
        out, self._internal = self._internal, []
        out += [self.positions.message(p) for p in sorted(self._positions_changed)]
        out += [self.quotes.message(p) for p in sorted(self._quotes_changed)]
        out += self.take_accounts(now)
        self._positions_changed.clear()
        self._quotes_changed.clear()
        out += self.routing.drain_due(now, force=True)
        return out

    def take_accounts(self, now: float, *, force: bool = False) -> list[Internal]:
        """The partials of the accounts changed in the partition whose last take is the
        oldest, if at least ``accounts_drain_s`` ago (every partition with ``force``, or with
        an interval of 0: every batch): one partition a call, so the partitions' takes spread
        over the interval instead of landing at once (each take costs the worker ~50 us per
        account, sent and merged). Until a partition's are taken, the worker holds back its
        input offsets (:meth:`PositionsStage.undrained`), so a crash loses none of them."""
        out: list[Internal] = []
        taken = self._accounts_taken
        for p in sorted(self._accounts_changed, key=lambda p: (taken.get(p, -math.inf), p)):
            if not force and now - taken.get(p, -math.inf) < self.accounts_drain_s:
                break
            taken[p] = now
            self._accounts_changed.discard(p)
            out += self.positions.account_messages(p)
            if not force and self.accounts_drain_s > 0:
                break
        return out

    def drop(self, logical: str, partition: int) -> None:
        """Forget the state of a partition given up: another worker continues it, and if it
        comes back it is rebuilt from Kafka, never continued from stale state. Quote mids are
        kept, as the worker always did (the partition's next quotes overwrite them)."""
        if logical == "positions":
            self.positions.drop(partition)
            self._accounts_changed.discard(partition)
        elif logical == "routing_decisions":
            self.routing.drop(partition)


def service_alert(record: Mapping[str, Any]) -> Output:
    """A validated service alert as the alert to write: stage 1 writes it to the alert log
    itself (it needs no global state; one Kafka hop less than through the global stage). Its
    id derives from its cause, so a redelivery gives the same id."""
    alert = from_service_alert(record)
    return Output("alerts", alert["id"], "Alert", alert)
