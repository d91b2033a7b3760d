"""Per-trade markouts in event time: routing decisions + quotes -> TradeMarkout records (pure).

:class:`MarkoutStage` is fed quotes (``on_quote``) and routing decisions (``on_decision``) of
any symbols, in any interleaving, and ``advance(now)`` with event time; ``drain()`` returns what
settled since the last drain:

- for every executed trade (a decision with a price and ``lpRejected`` false), one
  :class:`~streams.markouts.records.TradeMarkout` once its longest horizon has settled: at
  every horizon h of ``horizons_ms``, the mid of the last quote at or before fill time + h
  against the execution price, from the broker's side;
- for every A-book decision with an LP (fill or reject), a
  :class:`~streams.markouts.records.LastLookSample` once the decision time has settled: how
  the mid moved from the request (decision time - executionTimeMs) to the decision.

A target time x (fill + h, or the decision time) is *final* once the symbol's quotes have passed
it (a quote with time > x arrived): its value is the last quote at or before x, or NO_QUOTE when
there is none. When the stage's clock (the newest event time of any input) passes
x + ``max_wait_s`` first, the target is TIMED_OUT. Each is settled once, in (x, arrival) order.

Exactly once: decisions are de-duplicated by eventId. A decision older than clock -
``allowed_lateness_s`` is late (dropped, counted), so the ids kept are those newer than that:
a redelivery of a forgotten id is late by construction (bounded memory). A quote older than its
symbol's newest is late (dropped, counted); one with the newest time and a known eventId is a
duplicate.

Memory: the pending trades, and per symbol the quotes from min(oldest pending anchor, clock -
``allowed_lateness_s``) on (:class:`~streams.markouts.tape.QuoteTape`): about (longest horizon
+ lateness) x quote rate. :meth:`MarkoutStage.memory` reports it.

Cost: ``on_quote`` is O(1) amortised when nothing settles; a trade costs O(H log n): its H
targets go one at a time through its symbol's heap (n pending trades). Formulas and defaults:
``docs/markouts.md``. Snapshots: :mod:`streams.markouts.stage_state`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from heapq import heappop, heappush
from typing import Any, Final

from streams.markouts.config import MICROS_PER_S, MarkoutConfig
from streams.markouts.records import (
    KNOWN,
    NO_QUOTE,
    TIMED_OUT,
    LastLookSample,
    TradeMarkout,
)
from streams.markouts.stage_state import COUNTERS, Trade, restore_stage, stage_state
from streams.markouts.tape import QuoteTape

UsdRate = Callable[[str, float], float | None]
"""``usd_rate(symbol, mid)``: USD per unit of ``symbol``'s quote currency when its mid is
``mid`` (None when unknown). See :func:`streams.markouts.usd.quote_usd`."""

DECISION_FIELDS: Final = (
    "eventId",
    "eventTime",
    "symbol",
    "side",
    "volume",
    "routingDecision",
    "lpSelected",
    "executionTimeMs",
    "price",
    "orderId",
    "accountId",
    "lpRejected",
)
"""The RoutingDecision fields ``on_decision`` reads."""

QUOTE_FIELDS: Final = ("eventId", "eventTime", "symbol", "bid", "ask")
"""The Quote fields ``on_quote`` reads."""

LAST_LOOK: Final = -1
"""The target index of a decision's last-look sample (horizon indexes are 0..H-1)."""

_SUFFIX: Final = {KNOWN: "Known", NO_QUOTE: "NoQuote", TIMED_OUT: "TimedOut"}


class MarkoutStage:
    """Quotes and routing decisions -> trade markouts and last-look samples; see module doc."""

    def __init__(self, config: MarkoutConfig, usd_rate: UsdRate) -> None:
        self.config = config
        self._usd_rate = usd_rate
        self._horizons_us = config.horizons_us
        self._wait_us = config.max_wait_s * MICROS_PER_S
        self._lateness_us = config.allowed_lateness_s * MICROS_PER_S
        self.tapes: dict[str, QuoteTape] = {}
        self.pending: dict[int, Trade] = {}  # seq -> trade with targets left
        self.seen: dict[str, int] = {}  # decision eventId -> eventTime, newer than the floor
        self.clock: int | None = None  # newest event time of any input
        self.seq = 0
        self.counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.markouts: list[TradeMarkout] = []  # settled, not drained yet
        self.samples: list[LastLookSample] = []
        self._targets: dict[str, list[tuple[int, int]]] = {}  # symbol -> heap (x, seq)
        self._anchors: dict[str, list[tuple[int, int]]] = {}  # symbol -> heap (anchor, seq)
        self._seen_heap: list[tuple[int, str]] = []  # (eventTime, eventId) of self.seen
        self._next_expiry: int | None = None  # <= the earliest pending target + max wait

    # --- inputs ------------------------------------------------------------------------------

    def on_quote(self, quote: Mapping[str, Any]) -> None:
        """A validated Quote (only :data:`QUOTE_FIELDS` are read)."""
        t = int(quote["eventTime"])
        symbol: str = quote["symbol"]
        tape = self.tapes.get(symbol)
        if tape is None:
            tape = self.tapes[symbol] = QuoteTape()
        latest = tape.latest
        if latest is not None and t <= latest:
            if t < latest:
                self.counters["lateQuotes"] += 1
                return
            if quote["eventId"] in tape.ids_at_latest:
                self.counters["duplicateQuotes"] += 1
                return
        tape.append(t, float(quote["bid"]) / 2 + float(quote["ask"]) / 2, quote["eventId"])
        if self.clock is None or t > self.clock:
            self.clock = t
        heap = self._targets.get(symbol)
        if heap and heap[0][0] < t:
            self._settle(tape, heap, t)
        self._expire()
        self._trim(symbol, tape, self.clock)

    def on_decision(self, decision: Mapping[str, Any]) -> None:
        """A validated RoutingDecision (only :data:`DECISION_FIELDS` are read)."""
        t = int(decision["eventTime"])
        if self.clock is not None and t < self.clock - self._lateness_us:
            self.counters["lateDecisions"] += 1
            return
        event_id: str = decision["eventId"]
        if event_id in self.seen:
            self.counters["duplicateDecisions"] += 1
            return
        self.seen[event_id] = t
        heappush(self._seen_heap, (t, event_id))
        trade = self._trade(decision, t)
        if self.clock is None or t > self.clock:
            self.clock = t
        self._forget_seen(self.clock)
        if trade is not None:
            self._add(trade, self.clock)
        self._expire()

    def advance(self, now: int) -> None:
        """Move the clock to event time ``now`` (the worker's newest event time of any input),
        so that trades of a symbol whose quotes stopped time out."""
        if self.clock is None or now > self.clock:
            self.clock = now
            self._forget_seen(now)
            self._expire()

    def drain(self) -> tuple[list[TradeMarkout], list[LastLookSample]]:
        """The markouts and samples settled since the last drain, in settling order."""
        out = self.markouts, self.samples
        self.markouts, self.samples = [], []
        return out

    # --- figures -----------------------------------------------------------------------------

    def memory(self) -> dict[str, int]:
        """What the stage holds: pending trades and targets, quotes kept (and allocated), ids."""
        return {
            "pendingTrades": len(self.pending),
            "pendingTargets": sum(len(h) for h in self._targets.values()),
            "quotesKept": sum(len(t) for t in self.tapes.values()),
            "quotesAllocated": sum(t.allocated for t in self.tapes.values()),
            "seenIds": len(self.seen),
        }

    def state(self) -> dict[str, Any]:
        """JSON-able snapshot; :meth:`restore` of it continues exactly where this one is."""
        return stage_state(self)

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace this stage's state with a :meth:`state` snapshot (StateError if malformed)."""
        restore_stage(self, state)
        self._targets, self._anchors, self._next_expiry = {}, {}, None
        for seq in sorted(self.pending):
            self._index(self.pending[seq])
        self._seen_heap = sorted((t, i) for i, t in self.seen.items())

    # --- machinery ---------------------------------------------------------------------------

    def _trade(self, decision: Mapping[str, Any], t: int) -> Trade | None:
        """The decision's pending trade, or None when nothing is to be measured."""
        rejected = bool(decision.get("lpRejected"))
        book: str = decision["routingDecision"]
        lp = decision.get("lpSelected") if book == "ABOOK" else None
        price = decision.get("price")
        priced = price is not None and 0 < float(price) < math.inf
        if not rejected and not priced:
            self.counters["unpricedDecisions"] += 1
        last = len(self._horizons_us) - 1 if priced and not rejected else LAST_LOOK
        if last == LAST_LOOK and not lp:
            return None
        exec_ms = float(decision["executionTimeMs"])
        request = t - (round(exec_ms * 1_000) if 0 < exec_ms < math.inf else 0)
        self.seq += 1
        return Trade(
            seq=self.seq,
            trade_id=decision["eventId"],
            order_id=decision.get("orderId"),
            time=t,
            request=request,
            symbol=decision["symbol"],
            side=decision["side"],
            volume=float(decision["volume"]),
            book=book,
            lp=lp,
            account=decision.get("accountId"),
            price=float(price) if priced and price is not None else 0.0,
            rejected=rejected,
            anchor=request if lp else t,
            next=LAST_LOOK if lp else 0,
            last=last,
            statuses=[],
        )

    def _add(self, trade: Trade, clock: int) -> None:
        self.pending[trade.seq] = trade
        self._index(trade)
        tape = self.tapes.get(trade.symbol)
        if tape is None:
            tape = self.tapes[trade.symbol] = QuoteTape()
        heap = self._targets[trade.symbol]
        latest = tape.latest
        if latest is not None and heap[0][0] < latest:
            self._settle(tape, heap, latest)
        self._trim(trade.symbol, tape, clock)

    def _index(self, trade: Trade) -> None:
        """Push the trade's next target and its anchor on its symbol's heaps."""
        self._push(self._targets.setdefault(trade.symbol, []), trade)
        heappush(self._anchors.setdefault(trade.symbol, []), (trade.anchor, trade.seq))

    def _push(self, heap: list[tuple[int, int]], trade: Trade) -> None:
        h = trade.next
        x = trade.time if h == LAST_LOOK else trade.time + self._horizons_us[h]
        heappush(heap, (x, trade.seq))
        deadline = x + self._wait_us
        if self._next_expiry is None or deadline < self._next_expiry:
            self._next_expiry = deadline

    def _settle(self, tape: QuoteTape, heap: list[tuple[int, int]], latest: int) -> None:
        """Settle the targets the symbol's quotes (newest at ``latest``) have passed, in
        (time, arrival) order."""
        while heap and heap[0][0] < latest:
            self._resolve(self.pending[heappop(heap)[1]], tape, heap, KNOWN)

    def _expire(self) -> None:
        """Time out the targets the clock passed by more than max wait (symbols by name)."""
        clock, nxt = self.clock, self._next_expiry
        if clock is None or nxt is None or clock <= nxt:
            return
        wait, earliest = self._wait_us, None
        for symbol in sorted(self._targets):
            heap, tape = self._targets[symbol], self.tapes[symbol]
            while heap and heap[0][0] + wait < clock:
                self._resolve(self.pending[heappop(heap)[1]], tape, heap, TIMED_OUT)
            if heap and (earliest is None or heap[0][0] + wait < earliest):
                earliest = heap[0][0] + wait
        self._next_expiry = earliest

    def _resolve(
        self, trade: Trade, tape: QuoteTape, heap: list[tuple[int, int]], status: str
    ) -> None:
        """The trade's next target settled: record it; emit when it was the last."""
        h = trade.next
        if h == LAST_LOOK:
            self.samples.append(self._sample(trade, tape, status))
        else:
            trade.statuses.append(status)
        if h < trade.last:
            trade.next = h + 1
            self._push(heap, trade)
            return
        del self.pending[trade.seq]
        if h != LAST_LOOK:
            self.markouts.append(self._markout(trade, tape))

    def _markout(self, trade: Trade, tape: QuoteTape) -> TradeMarkout:
        t, latest = trade.time, tape.latest
        columns = zip(
            *(self._horizon(trade, tape, h) for h in range(len(trade.statuses))), strict=True
        )
        mids, markouts, bps, usd = (list(c) for c in columns)
        for status in trade.statuses:
            self.counters["markouts" + _SUFFIX[status]] += 1
        return {
            "tradeId": trade.trade_id,
            "orderId": trade.order_id,
            "eventTime": t,
            "symbol": trade.symbol,
            "side": trade.side,
            "volume": trade.volume,
            "book": trade.book,
            "lpName": trade.lp,
            "accountId": trade.account,
            "price": trade.price,
            "midAtFill": tape.mid_at(t) if latest is not None and latest > t else None,
            "horizonsMs": list(self.config.horizons_ms),
            "midAtHorizon": mids,
            "markout": markouts,
            "markoutBps": bps,
            "markoutUsd": usd,
            "status": trade.statuses,
        }

    def _horizon(self, trade: Trade, tape: QuoteTape, h: int) -> tuple[float | None, ...]:
        """(mid, markout, bps, usd) at horizon ``h``; a KNOWN one without a mid is NO_QUOTE."""
        status = trade.statuses[h]
        mid = tape.mid_at(trade.time + self._horizons_us[h]) if status == KNOWN else None
        if mid is None:
            if status == KNOWN:
                trade.statuses[h] = NO_QUOTE
            return None, None, None, None
        price = trade.price
        d = price - mid if trade.side == "BUY" else mid - price
        rate = self._usd_rate(trade.symbol, mid)
        if rate is None or not 0 < rate < math.inf:
            self.counters["usdUnknown"] += 1
            return mid, d, d / price * 10_000, None
        return mid, d, d / price * 10_000, d * trade.volume * rate

    def _sample(self, trade: Trade, tape: QuoteTape, status: str) -> LastLookSample:
        mid_t = mid_r = move = None
        if status == KNOWN:
            mid_t, mid_r = tape.mid_at(trade.time), tape.mid_at(trade.request)
            if mid_t is None or mid_r is None:
                status = NO_QUOTE
            else:
                delta = mid_t - mid_r if trade.side == "BUY" else mid_r - mid_t
                move = delta / mid_r * 10_000
        self.counters["samples" + _SUFFIX[status]] += 1
        return {
            "sampleId": trade.trade_id,
            "eventTime": trade.time,
            "requestTime": trade.request,
            "lpName": trade.lp or "",  # never empty: only decisions with an LP sample
            "symbol": trade.symbol,
            "side": trade.side,
            "rejected": trade.rejected,
            "midAtRequest": mid_r,
            "midAtDecision": mid_t,
            "moveAgainstLpBps": move,
            "status": status,
        }

    def _forget_seen(self, clock: int) -> None:
        """Forget the ids of decisions older than the lateness floor: a redelivery is late."""
        floor = clock - self._lateness_us
        heap = self._seen_heap
        while heap and heap[0][0] < floor:
            del self.seen[heappop(heap)[1]]

    def _trim(self, symbol: str, tape: QuoteTape, clock: int) -> None:
        """Keep the quotes from min(oldest pending anchor, clock - lateness) on."""
        floor = clock - self._lateness_us
        anchors = self._anchors.get(symbol)
        while anchors and anchors[0][1] not in self.pending:
            heappop(anchors)
        if anchors and anchors[0][0] < floor:
            floor = anchors[0][0]
        tape.trim(floor)
