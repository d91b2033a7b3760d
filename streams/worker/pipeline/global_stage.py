"""The global stage (pure): combines the latest partial of every input partition into exposure,
runs the alert rules, the routing summaries and the LP tracker; and rebuilds itself from the
internal topic (:meth:`GlobalStage.recover`).

It runs in exactly one worker (the owner of the internal topic's single partition), driven by
the internal messages of :mod:`streams.worker.pipeline.records` and an injected clock ``now``
(monotonic seconds, for the exposure coalescer); the alert rules run on event time.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from streams import exposure as ex
from streams.alerts.engine import RuleEngine
from streams.alerts.records import from_service_alert
from streams.exposure.usd import Instrument, compute_exposure, instrument, usd_rates
from streams.lp.tracker import LpTracker
from streams.routing.windows import WindowMerger
from streams.worker.pipeline.config import PipelineConfig
from streams.worker.pipeline.records import (
    Output,
    Record,
    StateSnapshot,
    decode_internal,
    is_decision,
    is_snapshot,
)

log = logging.getLogger("rtx.worker")

# The global stage's state snapshot is one message on the internal topic (at most 1 MB): LP
# decision windows are its only part that grows with the traffic, ~70 bytes a decision.
SNAPSHOT_MAX_DECISIONS = 8_000


class KeyedValue(Protocol):
    """A record of the internal topic as read from Kafka (an aiokafka ConsumerRecord)."""

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


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
        self._tombstones: list[str] = []  # internal keys to delete (closed windows' deltas)
        self._instruments: dict[str, Instrument] = {}
        self._rates: dict[str, float] = {"USD": 1.0}

    @classmethod
    def recover(
        cls, config: PipelineConfig, history: Sequence[KeyedValue], now: float
    ) -> tuple[GlobalStage, list[Output]]:
        """A stage rebuilt from the internal topic's ``history`` (oldest first), as a restart
        rebuilds it, and the alerts that rebuilding raised (never written twice, so re-sent;
        exposure is published fresh). The latest snapshot (told apart by its key) is restored;
        it leaves out the LPs' rolling decision windows, so the decision digests before it
        refill them (the tracker keeps those inside its window and ignores repeats); then
        everything after it is applied."""
        stage = cls(config)
        snapshot_at = -1
        for i, r in enumerate(history):
            if r.value and is_snapshot(r.key):
                snapshot_at = i
        if snapshot_at >= 0:
            stage.restore(StateSnapshot.decode(history[snapshot_at].value or b""))
        earlier = (
            r.value for r in history[: max(snapshot_at, 0)] if r.value and is_decision(r.key)
        )
        later = (r.value for r in history[snapshot_at + 1 :] if r.value)
        replayed = stage.apply_encoded(itertools.chain(earlier, later), now)
        return stage, [o for o in replayed if o.schema == "Alert"]

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
        out = [_alert(a) for a in self.rules.on_exposure(record)]
        published = self.coalescer.offer(record, now)
        if published is not None:
            out.append(Output("exposure", "global", "ExposureChange", published))
        return out

    # inputs -----------------------------------------------------------------------------------

    def apply_encoded(self, values: Iterable[bytes], now: float) -> list[Output]:
        """Apply encoded internal messages as one batch (:meth:`on_batch`). An undecodable
        message is logged and skipped; a batch that fails is logged and gives nothing, so the
        stage stays alive (the cause is in the log)."""
        decoded = []
        for value in values:
            try:
                decoded.append(decode_internal(value))
            except ValueError:
                log.exception("global stage: undecodable internal message")
        try:
            return self.on_batch(decoded, now)
        except Exception:  # noqa: BLE001 - keep the stage alive; the cause is in the log
            log.exception("global stage: cannot apply a batch of internal messages")
            return []

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
            return self._route(msg)
        if kind == "lps":
            record = msg["r"]
            self.event_time = max(self.event_time, int(record["eventTime"]))
            status_perf = self.lp.on_status(record)
            out = [_alert(a) for a in self.rules.on_lp_status(record)]
            out.append(
                Output("lp_performance", status_perf["lpName"], "LpPerformance", status_perf)
            )
            out.extend(_alert(a) for a in self.rules.on_lp_performance(status_perf))
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
            return [_alert(a) for a in self.rules.on_lp_performance(perf)]
        if kind == "state":
            return []  # our own snapshots; read only when the stage starts
        raise ValueError(f"unknown internal message kind {kind!r}")

    def _route(self, msg: Mapping[str, Any]) -> list[Output]:
        window = int(msg["w"])
        self.route_keys.setdefault(window, []).append(str(msg.get("id", "")))
        self.merger.update(int(msg["p"]), window, msg["partial"], int(msg["wm"]))
        out: list[Output] = []
        for summary in self.merger.close_ready():
            self._tombstones += [k for k in self.route_keys.pop(summary["windowStart"], []) if k]
            out.append(
                Output("routing_metrics", str(summary["windowStart"]), "RoutingSummary", summary)
            )
            out.extend(_alert(a) for a in self.rules.on_routing_summary(summary))
        return out

    def on_service_alert(self, record: Mapping[str, Any]) -> list[Output]:
        return [_alert(from_service_alert(record))]

    # periodic ---------------------------------------------------------------------------------

    def due(self, now: float) -> list[Output]:
        """Periodic: a coalesced or heartbeat exposure message, time-based alert rules."""
        out = [_alert(a) for a in self.rules.tick(self.event_time)]
        pending = self.coalescer.due(now)
        if pending is not None:
            out.append(Output("exposure", "global", "ExposureChange", pending))
        return out

    def take_tombstones(self) -> list[str]:
        """Internal keys to delete (the deltas of closed routing windows) since the last call."""
        out, self._tombstones = self._tombstones, []
        return out

    def snapshot(self) -> StateSnapshot:
        return StateSnapshot(
            self.event_time,
            self.lp.state(max_decisions=SNAPSHOT_MAX_DECISIONS),
            self.rules.state(),
        )

    def restore(self, snapshot: StateSnapshot) -> None:
        self.lp.restore(snapshot.lp)
        self.rules.restore(snapshot.rules)


def _alert(record: Record) -> Output:
    return Output("alerts", record["id"], "Alert", record)
