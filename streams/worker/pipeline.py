"""The worker's dataflow without I/O: stage-1 per input partition, one global stage.

Any number of workers split the input partitions; the global stage runs in exactly one of them
(the owner of the single partition of the internal topic). So that two workers give the same
result as one, stage 1 publishes *partials* per partition to the internal topic, and the global
stage combines the latest partial of every partition::

    positions p  --> PositionBook p --(pos:p partial)----.
    quotes p     --> latest mids    --(mids:p)-----------+--> GlobalStage: exposure, alert rules,
    routing p    --> PartitionWindows p --(route:p:w)----+       routing summaries, LP tracker,
                 '-> routing-decision pass-through       |       alert log entries
    lp status    --(lps:LP)------------------------------'
    service alerts --> validated --> alert log

Internal messages are JSON objects with a kind ``k``; their Kafka key (``kind:subject``) lets the
compacted internal topic keep the latest per subject. Everything is driven by the inputs and an
injected clock, so it is tested without Kafka (tests/streams/test_pipeline.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams import exposure as ex
from streams.alerts.engine import RuleEngine, RulesConfig
from streams.alerts.records import from_service_alert
from streams.exposure.usd import Instrument, compute_exposure, instrument, usd_rates
from streams.lp.tracker import LpConfig, LpTracker
from streams.routing.windows import PartitionWindows, RoutingConfig, WindowMerger

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Output:
    """A derived record to write: topic (logical name), key, Avro schema and record."""

    topic: str
    key: str
    schema: str
    record: Record


@dataclass(frozen=True, slots=True)
class Internal:
    """A message for the internal topic."""

    key: str
    value: Record

    def encode(self) -> bytes:
        return json.dumps(self.value, separators=(",", ":"), sort_keys=True).encode()


def decode_internal(data: bytes) -> Record:
    value = json.loads(data)
    if not isinstance(value, dict) or "k" not in value:
        raise ValueError("internal message without a kind")
    return value


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    limits: ex.ExposureLimits = field(default_factory=ex.ExposureLimits)
    bands: ex.RiskBands = field(default_factory=ex.RiskBands)
    symbol_overrides: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    rules: RulesConfig = field(default_factory=RulesConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    lp: LpConfig = field(default_factory=LpConfig)
    coalesce_s: float = 0.05
    heartbeat_s: float = 5.0


# --- stage 1 ----------------------------------------------------------------------------------


class PositionsStage:
    """Open positions per positions partition; emits the partition's partial when it changed."""

    def __init__(
        self, *, closed_retention_us: int = ex.HOUR_US, max_closed: int = ex.MAX_CLOSED
    ) -> None:
        self.books: dict[int, ex.PositionBook] = {}
        self._closed_retention_us = closed_retention_us
        self._max_closed = max_closed

    def loaded(self, partition: int) -> bool:
        return partition in self.books

    def book(self, partition: int) -> ex.PositionBook:
        book = self.books.get(partition)
        if book is None:
            book = self.books[partition] = ex.PositionBook(
                closed_retention_us=self._closed_retention_us, max_closed=self._max_closed
            )
        return book

    def drop(self, partition: int) -> None:
        self.books.pop(partition, None)

    def apply(self, partition: int, record: Mapping[str, Any]) -> bool:
        return self.book(partition).apply(record)

    def message(self, partition: int) -> Internal:
        book = self.book(partition)
        return Internal(
            f"pos:{partition}",
            {
                "k": "pos",
                "p": partition,
                "t": book.last_event_time,
                "partial": book.partial().to_record(),
            },
        )


class QuotesStage:
    """Latest mid per symbol of each quotes partition."""

    def __init__(self) -> None:
        self.mids: dict[int, dict[str, float]] = {}
        self.times: dict[int, int] = {}

    def apply(self, partition: int, record: Mapping[str, Any]) -> bool:
        mids = self.mids.setdefault(partition, {})
        mid = (record["bid"] + record["ask"]) / 2
        t = int(record["eventTime"])
        if t < self.times.get(partition, 0) and record["symbol"] in mids:
            return False  # an older quote than the one we have (redelivery)
        self.times[partition] = max(t, self.times.get(partition, 0))
        if mids.get(record["symbol"]) == mid:
            return False
        mids[record["symbol"]] = mid
        return True

    def message(self, partition: int) -> Internal:
        return Internal(
            f"mids:{partition}",
            {
                "k": "mids",
                "p": partition,
                "t": self.times.get(partition, 0),
                "mids": self.mids.get(partition, {}),
            },
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
        out: list[Internal] = []
        if record["routingDecision"] == "ABOOK" and record.get("lpSelected"):
            digest = {
                k: record.get(k)
                for k in (
                    "eventId",
                    "eventTime",
                    "routingDecision",
                    "lpSelected",
                    "executionTimeMs",
                    "lpRejected",
                    "symbol",
                    "volume",
                )
            }
            out.append(Internal(f"dec:{record['lpSelected']}", {"k": "dec", "r": digest}))
        return out

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
            out.append(
                Internal(
                    key,
                    {
                        "k": "route",
                        "id": key,
                        "p": partition,
                        "w": start,
                        "wm": wm,
                        "partial": partial,
                    },
                )
            )
        return out


# --- global stage -----------------------------------------------------------------------------


# The global stage's state snapshot is one message on the internal topic (at most 1 MB): LP
# decision windows are its only part that grows with the traffic, ~70 bytes a decision.
SNAPSHOT_MAX_DECISIONS = 8_000


class GlobalStage:
    """Combines partials into exposure, runs the alert rules, routing summaries and LP metrics."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.partials: dict[str, ex.Partial] = {}
        self.mids_by_partition: dict[int, dict[str, float]] = {}
        self.mids: dict[str, float] = {}
        self.event_time = 0  # the latest event time of any input: the clock of time-based rules
        self.exposure_time = 0  # the latest event time of the positions and quotes reflected
        self.merger = WindowMerger(config.routing)
        self.lp = LpTracker(config.lp)
        self.rules = RuleEngine(
            config.rules,
            limits_by_symbol=config.limits.by_symbol,
            limits_by_currency=config.limits.by_currency,
        )
        self.coalescer = ex.Coalescer(config.coalesce_s, config.heartbeat_s)
        self.latest_exposure: Record | None = None
        self.route_keys: dict[int, list[str]] = {}  # window start -> delta keys to delete
        self.tombstones: list[str] = []  # internal keys to delete (closed windows' deltas)
        self._instruments: dict[str, Instrument] = {}
        self._rates: dict[str, float] = {"USD": 1.0}

    # helpers ----------------------------------------------------------------------------------

    def usd_rate(self, currency: str) -> float | None:
        return self._rates.get(currency)

    def _refresh_rates(self) -> None:
        for symbol in self.mids:
            if symbol not in self._instruments:
                self._instruments[symbol] = instrument(symbol, self.config.symbol_overrides)
        self._rates = usd_rates(self.mids, self._instruments)

    def _recompute(self, now: float) -> list[Output]:
        record = compute_exposure(
            self.partials,
            self.mids,
            self.config.limits,
            self.config.bands,
            event_time=self.exposure_time,
            overrides=self.config.symbol_overrides,
        )
        self.latest_exposure = record
        out = [self._alert(a) for a in self.rules.on_exposure(record)]
        published = self.coalescer.offer(record, now)
        if published is not None:
            out.append(Output("exposure", "global", "ExposureChange", published))
        return out

    @staticmethod
    def _alert(record: Record) -> Output:
        return Output("alerts", record["id"], "Alert", record)

    # inputs -----------------------------------------------------------------------------------

    def on_internal(self, msg: Mapping[str, Any], now: float) -> list[Output]:
        return self.on_batch([msg], now)

    def on_batch(self, messages: Sequence[Mapping[str, Any]], now: float) -> list[Output]:
        """Apply a batch of internal messages; exposure is recomputed once, after the batch's
        partials and mids are all in (the alert rules see that value)."""
        out: list[Output] = []
        dirty = mids_dirty = False
        for msg in messages:
            kind = msg["k"]
            if kind == "pos":
                self.exposure_time = max(self.exposure_time, int(msg.get("t") or 0))
                self.partials[f"pos:{msg['p']}"] = ex.Partial.from_record(msg["partial"])
                dirty = True
            elif kind == "mids":
                self.exposure_time = max(self.exposure_time, int(msg.get("t") or 0))
                self.mids_by_partition[int(msg["p"])] = dict(msg["mids"])
                dirty = mids_dirty = True
            elif kind == "svc":
                out += self.on_service_alert(msg["r"])
            else:
                out += self._other(msg)
        if mids_dirty:
            merged: dict[str, float] = {}
            for p in sorted(self.mids_by_partition):
                merged.update(self.mids_by_partition[p])
            self.mids = merged
            self._refresh_rates()
        self.event_time = max(self.event_time, self.exposure_time)
        if dirty:
            out += self._recompute(now)
        return out

    def _other(self, msg: Mapping[str, Any]) -> list[Output]:
        kind = msg["k"]
        if kind == "route":
            window = int(msg["w"])
            self.route_keys.setdefault(window, []).append(str(msg.get("id", "")))
            self.merger.update(int(msg["p"]), window, msg["partial"], int(msg["wm"]))
            out: list[Output] = []
            for summary in self.merger.close_ready():
                self.tombstones += [k for k in self.route_keys.pop(summary["windowStart"], []) if k]
                out.append(
                    Output(
                        "routing_metrics", str(summary["windowStart"]), "RoutingSummary", summary
                    )
                )
                out.extend(self._alert(a) for a in self.rules.on_routing_summary(summary))
            return out
        if kind == "lps":
            record = msg["r"]
            self.event_time = max(self.event_time, int(record["eventTime"]))
            status_perf = self.lp.on_status(record)
            out = [self._alert(a) for a in self.rules.on_lp_status(record)]
            out.append(
                Output("lp_performance", status_perf["lpName"], "LpPerformance", status_perf)
            )
            out.extend(self._alert(a) for a in self.rules.on_lp_performance(status_perf))
            return out
        if kind == "dec":
            record = msg["r"]
            self.event_time = max(self.event_time, int(record["eventTime"]))
            lp_name = self.lp.on_decision(record)
            if lp_name is None:
                return []
            perf = self.lp.performance(lp_name, self.event_time)
            if perf is None:
                return []
            return [self._alert(a) for a in self.rules.on_lp_performance(perf)]
        if kind == "state":
            return []  # our own snapshots; read only when the stage starts
        raise ValueError(f"unknown internal message kind {kind!r}")

    def on_service_alert(self, record: Mapping[str, Any]) -> list[Output]:
        return [self._alert(from_service_alert(record))]

    def due(self, now: float) -> list[Output]:
        """Periodic: a coalesced or heartbeat exposure message, time-based alert rules."""
        out = [self._alert(a) for a in self.rules.tick(self.event_time)]
        pending = self.coalescer.due(now)
        if pending is not None:
            out.append(Output("exposure", "global", "ExposureChange", pending))
        return out

    def snapshot(self) -> Internal:
        return Internal(
            "state",
            {
                "k": "state",
                "t": self.event_time,
                "lp": self.lp.state(max_decisions=SNAPSHOT_MAX_DECISIONS),
                "rules": self.rules.state(),
            },
        )

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        self.lp.restore(snapshot["lp"])
        self.rules.restore(snapshot["rules"])
