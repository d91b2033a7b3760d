"""The traffic generator: a deterministic stream of broker events for a seed (pure: no I/O).

:class:`Simulator` is an iterator of ``(method, kwargs)`` pairs, each the arguments of the
matching :class:`streams.sdk.Publisher` call (``quote``, ``lp_status``, ``routing_decision``,
``position``, ``alert``), the shape :mod:`streams.simulator.samples` uses. Same config (seed
included) ->
the same sequence; nothing reads a clock: time is simulated, ``1 / rate`` seconds per event, and
event times are left to the publisher (the wall clock when sent).

What happens, in simulated time:

- first a quote for every instrument and the status of every LP, then a mix of quote ticks
  (about half the events) and trading;
- LPs degrade, disconnect and reconnect (:mod:`.market`); scheduled events (LP status on every
  change and every 5 s, service alerts, exposure episodes) take precedence over the flow;
- orders from a fixed population of accounts: large accounts and toxic flow are A-booked to the
  best connected LP, the rest B-booked; an LP may reject (``lpRejected``), and the order then
  goes to the next LP, or to the B-book when none is left; a last-look LP rejects most orders
  during which the quoted mid moved against it; every decision carries the account and price;
- informed accounts (the toxic ones, and a few that turn informed later: labelled,
  :mod:`.traders`) move the market their way after each fill: their side anticipates the mid a
  few seconds ahead; noise accounts move nothing;
- positions open (version 1), change (mark to market, partial close, add: version + 1) and
  close (``CLOSED``, version + 1) — only open positions are changed or closed; a partial close
  and a close realise P&L at the price they fill at (a client long sells at the bid, a short
  buys at the ask), which the events carry as a position keeper does: the cumulative
  ``realized_pnl`` and this change's ``realized_pnl_delta`` (docs/pnl.md);
- an exposure controller steers the gross USD exposure of the open positions towards a target
  utilisation of ``limit_usd``: 40-65 % normally; every ``breach_every_s`` on average an episode
  ramps it over 100 % (a limit breach), holds it there, then ramps it back down.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Iterator
from typing import Any

from streams.simulator.market import BY_SYMBOL, INSTRUMENTS, LP_HEARTBEAT_S, LP_PROFILES, Lp, Market
from streams.simulator.model import (
    EVENT_TYPES,
    SERVICE_ALERTS,
    Account,
    Position,
    SimConfig,
    SimEvent,
    Stats,
)
from streams.simulator.traders import QuoteHistory, TraderLabel, impact_size, label

__all__ = ["EVENT_TYPES", "SimConfig", "SimEvent", "Simulator", "Stats"]


class Simulator:
    """Iterate for events; ``stats``, ``utilization`` and ``phase`` describe the state."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = c = config or SimConfig()
        self._rng = random.Random(c.seed)  # noqa: S311 - simulation, not security
        self._dt = 1.0 / c.rate
        self.now = 0.0
        self.market = Market(self._rng)
        self.lps = [Lp(p, self._rng, 0.0) for p in LP_PROFILES[: c.lps]]
        self.accounts = [self._account(i) for i in range(c.accounts)]
        self.labels: dict[str, TraderLabel] = {
            a.id: label(c.seed, a.id, a.toxic, c.hidden_informed, c.informed_after_s,
                        c.informed_before_s)
            for a in self.accounts
        }  # fmt: skip
        self._quoted = QuoteHistory()  # the mids of the quotes published
        self._account_weights = [a.weight for a in self.accounts]
        self._symbols = [i.symbol for i in INSTRUMENTS]
        self._symbol_weights = [i.weight for i in INSTRUMENTS]
        self._open: list[Position] = []  # swap-remove keeps choice and removal O(1)
        self._index: dict[str, int] = {}
        self._gross: dict[str, float] = dict.fromkeys(self._symbols, 0.0)  # open volume
        self._orders = 0
        self._pending: deque[SimEvent] = deque()
        self._schedule: list[tuple[float, int, str, int]] = []  # (due, seq, kind, arg)
        self._seq = 0
        self.stats = Stats()
        # exposure controller: target utilisation (fraction), ramping between phases
        self.phase = "normal"
        self._target = self._normal_target()
        self._ramp_from, self._ramp_to, self._ramp_start = self._target, self._target, 0.0
        self._over = False
        for i, lp in enumerate(self.lps):
            self._at(LP_HEARTBEAT_S * (i + 1) / len(self.lps), "heartbeat", i)
            self._at(lp.next_transition, "lp", i)
        self._at(min(c.first_breach_s, self._rng.expovariate(1 / c.breach_every_s)), "climb", 0)
        self._at(self._rng.expovariate(1 / c.alert_every_s), "alert", 0)
        for inst in INSTRUMENTS:
            bid, ask = self.market.quote(inst.symbol, 0.0)
            self._quoted.record(inst.symbol, 0.0, bid, ask)
            self._pending.append(("quote", {"symbol": inst.symbol, "bid": bid, "ask": ask}))
        for lp in self.lps:
            self._pending.append(("lp_status", lp.status_event(0.0)))

    # -- iteration ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[SimEvent]:
        return self

    def __next__(self) -> SimEvent:
        self.now += self._dt
        if not self._pending:
            if self._schedule and self._schedule[0][0] <= self.now:
                _, _, kind, arg = heapq.heappop(self._schedule)
                self._scheduled(kind, arg)
            if not self._pending:
                self._flow()
        event = self._pending.popleft()
        self.stats.by_type[event[0]] += 1
        return event

    def take(self, count: int) -> list[SimEvent]:
        return [next(self) for _ in range(count)]

    # -- scheduled events --------------------------------------------------------------------

    def _at(self, due: float, kind: str, arg: int) -> None:
        self._seq += 1
        heapq.heappush(self._schedule, (due, self._seq, kind, arg))

    def _scheduled(self, kind: str, arg: int) -> None:
        c, now = self.config, self.now
        if kind == "heartbeat":
            self._pending.append(("lp_status", self.lps[arg].status_event(now)))
            self._at(now + LP_HEARTBEAT_S, "heartbeat", arg)
        elif kind == "lp":
            lp = self.lps[arg]
            lp.transition(now)
            self.stats.lp_transitions += 1
            self._pending.append(("lp_status", lp.status_event(now)))
            self._at(lp.next_transition, "lp", arg)
        elif kind == "alert":
            self._pending.append(("alert", self._service_alert()))
            self._at(now + self._rng.expovariate(1 / c.alert_every_s), "alert", 0)
        elif kind == "climb":
            self._ramp("climb", self._rng.uniform(1.08, 1.15))
            self._at(now + c.ramp_s + c.hold_s, "recover", 0)
        elif kind == "recover":
            self._ramp("recover", self._normal_target())
            self._at(now + c.ramp_s, "normal", 0)
        elif kind == "normal":
            self.phase = "normal"
            self._at(now + self._rng.expovariate(1 / c.breach_every_s), "climb", 0)

    def _service_alert(self) -> dict[str, Any]:
        severity, category, title, message, source, items = self._rng.choice(SERVICE_ALERTS)
        return {
            "severity": severity,
            "category": category,
            "title": title,
            "message": message.format(n=self._rng.randint(2, 900)),
            "source": source,
            "action_items": list(items),
        }

    # -- exposure controller -----------------------------------------------------------------

    def _normal_target(self) -> float:
        return self._rng.uniform(0.40, 0.65)

    def _ramp(self, phase: str, to: float) -> None:
        self.phase = phase
        self._ramp_from, self._ramp_to, self._ramp_start = self._target, to, self.now

    def target(self) -> float:
        """The utilisation (fraction of the limit) the controller aims at now."""
        progress = min(1.0, (self.now - self._ramp_start) / self.config.ramp_s)
        self._target = self._ramp_from + (self._ramp_to - self._ramp_from) * progress
        return self._target

    @property
    def exposure_usd(self) -> float:
        """Gross USD notional of the open positions, as the worker computes totalExposure."""
        m = self.market
        return sum(v * m.usd_rate(s[:3]) for s, v in self._gross.items() if v)

    @property
    def utilization(self) -> float:
        return self.exposure_usd / self.config.limit_usd

    def _note_utilization(self, util: float) -> None:
        pct = util * 100.0
        self.stats.max_utilization_pct = max(self.stats.max_utilization_pct, pct)
        if pct >= 100.0 and not self._over:
            self.stats.breaches += 1
            self._over = True
        elif pct < 95.0:  # the worker's rule re-arms 5 points below
            self._over = False

    # -- flow: quotes and trading ------------------------------------------------------------

    def _widen(self) -> float:
        bad = sum(lp.state != "up" for lp in self.lps)
        return 1.0 + 1.5 * bad / len(self.lps)

    def _flow(self) -> None:
        rng = self._rng
        if rng.random() < 0.5:
            symbol = rng.choices(self._symbols, self._symbol_weights)[0]
            bid, ask = self.market.quote(symbol, self.now, self._widen())
            self._quoted.record(symbol, self.now, bid, ask)
            source = next((lp.name for lp in self.lps if lp.state == "up"), None)
            self._pending.append(
                ("quote", {"symbol": symbol, "bid": bid, "ask": ask, "lp": source})
            )
            return
        util = self.utilization
        self._note_utilization(util)
        p_open = 0.5 + max(-0.45, min(0.45, 10.0 * (self.target() - util)))
        if not self._open or rng.random() < p_open:
            self._open_position()
        elif rng.random() < 0.35:
            self._change_position(util)
        else:
            self._close_position(rng.randrange(len(self._open)))

    def _account(self, i: int) -> Account:
        rng = self._rng
        return Account(
            id=f"acc-{i + 1:05d}",
            large=rng.random() < 0.08,
            toxic=rng.random() < 0.06,
            weight=rng.paretovariate(1.5),  # a few accounts trade most
        )

    def _size(self, symbol: str, account: Account) -> float:
        """Order volume in base units: lognormal notional scaled to the limit, whole lots."""
        inst = BY_SYMBOL[symbol]
        notional = self.config.limit_usd * 0.0015 * self._rng.lognormvariate(0.0, 0.8)
        if account.large:
            notional *= 6.0
        notional = min(notional, self.config.limit_usd * 0.025)  # no single trade swings it
        lots = round(notional / self.market.usd_rate(symbol[:3]) / inst.min_lot)
        return float(max(1, lots) * inst.min_lot)

    def _route(self, order: dict[str, Any], account: Account) -> tuple[str, str | None]:
        """Routing decisions for one order (rejects retried on the next LP); (book, lp)."""
        rng, inst = self._rng, BY_SYMBOL[order["symbol"]]
        spread = round(inst.spread * self._widen(), inst.digits + 1)
        if account.large or account.toxic:
            candidates = sorted(
                (lp for lp in self.lps if lp.connected), key=lambda lp: lp.latency_ms
            )
            for lp in candidates:
                draw = rng.random()
                slip = rng.gauss(-0.1 if lp.state == "degraded" else 0.05, 0.3) * inst.spread
                exec_ms = round(lp.latency_ms * rng.lognormvariate(0, 0.3), 2)
                rejected = draw < self._reject_rate(lp, order, exec_ms)
                self._pending.append(
                    ("routing_decision", {
                        **order,
                        "decision": "ABOOK",
                        "lp": lp.name,
                        "execution_time_ms": exec_ms,
                        "spread": spread,
                        "slippage": round(slip, inst.digits + 1),
                        "lp_rejected": rejected,
                    })
                )  # fmt: skip
                if not rejected:
                    return "ABOOK", lp.name
                self.stats.rejects += 1
        self._pending.append(
            ("routing_decision", {
                **order,
                "decision": "BBOOK",
                "lp": None,
                "execution_time_ms": round(rng.lognormvariate(0.7, 0.4), 2),
                "spread": spread,
                "slippage": 0.0,
            })
        )  # fmt: skip
        return "BBOOK", None

    def _reject_rate(self, lp: Lp, order: dict[str, Any], exec_ms: float) -> float:
        if not lp.profile.last_look:
            return lp.reject_rate
        request = self.now - exec_ms / 1000
        return self._quoted.last_look_rate(
            lp.reject_rate, order["symbol"], order["side"], request, self.now
        )

    def _informed(self, order: dict[str, Any], account: Account) -> None:
        """A filled order of an informed account: its symbol drifts its way (a cross through
        its first leg) over the next ``foresight_s``."""
        c = self.config
        if not c.impact or not self.labels[account.id].informed_at(self.now):
            return
        inst = BY_SYMBOL[order["symbol"]]
        leg = BY_SYMBOL[inst.legs[0]] if inst.legs else inst
        size = impact_size(inst.spread, inst.mid, leg.vol_per_sqrt_s, c.foresight_s, c.impact)
        sign = 1.0 if order["side"] == "BUY" else -1.0
        self.market.impact.push(leg.symbol, self.now, sign * size, c.foresight_s)

    def _fill_price(self, symbol: str, side: str) -> float:
        bid, ask = self.market.quote(symbol, self.now, self._widen())
        return ask if side == "BUY" else bid

    def _open_position(self) -> None:
        rng = self._rng
        account = rng.choices(self.accounts, self._account_weights)[0]
        symbol = rng.choices(self._symbols, self._symbol_weights)[0]
        side = rng.choice(("BUY", "SELL"))
        volume = self._size(symbol, account)
        price = self._fill_price(symbol, side)
        self._orders += 1
        order_id = f"ord-{self.config.ids}-{self._orders}"
        order = {"symbol": symbol, "side": side, "volume": volume, "price": price,
                 "order_id": order_id, "account_id": account.id}  # fmt: skip
        book, lp = self._route(order, account)
        self._informed(order, account)
        pos = Position(f"pos-{self.config.ids}-{self._orders}", account, symbol, side, volume,
                       price, book, lp)  # fmt: skip
        self._index[pos.id] = len(self._open)
        self._open.append(pos)
        self._gross[symbol] += volume
        self.stats.open_positions = len(self._open)
        self._emit_position(pos)

    def _change_position(self, util: float) -> None:
        rng = self._rng
        pos = self._open[rng.randrange(len(self._open))]
        inst = BY_SYMBOL[pos.symbol]
        target = self.target()
        pos.realized_delta = 0.0
        if rng.random() < 0.5 or (util > target and pos.volume < 2 * inst.min_lot):
            close_side = "SELL" if pos.side == "BUY" else "BUY"
            pos.current_price = self._fill_price(pos.symbol, close_side)  # mark to market
        elif util > target:  # partial close
            lots = pos.volume / inst.min_lot
            keep = max(1, round(lots * rng.uniform(0.3, 0.7))) * inst.min_lot
            self._gross[pos.symbol] -= pos.volume - keep
            pos.realize(pos.volume - keep, self.market.close_price(pos.symbol, pos.side))
            pos.volume = keep
        else:  # the client adds to the position: a new order, routed like the first
            extra = self._size(pos.symbol, pos.account)
            self._orders += 1
            order = {"symbol": pos.symbol, "side": pos.side, "volume": extra,
                     "price": self._fill_price(pos.symbol, pos.side),
                     "order_id": f"ord-{self.config.ids}-{self._orders}",
                     "account_id": pos.account.id}  # fmt: skip
            self._route(order, pos.account)  # the position keeps its book and LP
            self._informed(order, pos.account)
            self._gross[pos.symbol] += extra
            pos.volume += extra
        pos.version += 1
        self._emit_position(pos)

    def _close_position(self, i: int) -> None:
        pos = self._open[i]
        last = self._open.pop()
        if last is not pos:
            self._open[i] = last
            self._index[last.id] = i
        del self._index[pos.id]
        self._gross[pos.symbol] -= pos.volume
        if not self._open:  # no float residue once flat
            self._gross = dict.fromkeys(self._gross, 0.0)
        pos.version += 1
        pos.current_price = self._fill_price(pos.symbol, "SELL" if pos.side == "BUY" else "BUY")
        pos.realized_delta = 0.0
        pos.realize(pos.volume, pos.current_price)
        self.stats.open_positions = len(self._open)
        self._emit_position(pos, status="CLOSED")

    def _emit_position(self, pos: Position, status: str = "OPEN") -> None:
        self._pending.append(
            ("position", {
                "position_id": pos.id,
                "account_id": pos.account.id,
                "symbol": pos.symbol,
                "side": pos.side,
                "volume": pos.volume,
                "open_price": pos.open_price,
                "book": pos.book,
                "lp": pos.lp,
                "version": pos.version,
                "current_price": pos.current_price,
                "status": status,
                "realized_pnl": pos.realized,
                "realized_pnl_delta": pos.realized_delta,
            })
        )  # fmt: skip

    @property
    def open_positions(self) -> dict[str, Position]:
        return {p.id: p for p in self._open}
