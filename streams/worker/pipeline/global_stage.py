"""The global stage (pure): combines the latest partial of every input partition into exposure
and (:mod:`.risk_stage`) the broker's P&L and account risk, runs the alert rules, the routing
summaries and the LP tracker; and rebuilds itself from the internal topic
(:meth:`GlobalStage.recover`).

It runs in exactly one worker (the owner of the internal topic's single partition), driven by
the internal messages of :mod:`streams.worker.pipeline.records` and an injected clock ``now``
(monotonic seconds, for the coalescers and the periodic outputs); the alert rules run on event
time.

Recovery: the latest snapshot (its LP and rule state, and the risk state it refers to) is
restored; the messages it covers (below its offset) that the snapshot does not hold, the
partials of positions, accounts and quotes and the LP decisions, are taken in without outputs;
then every later message is applied as a batch, as the original run applied it.
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
    RISK_PIECE_PREFIX,
    Internal,
    Output,
    Record,
    StateSnapshot,
    decode_internal,
    is_decision,
    is_snapshot,
    is_state,
    risk_state_from,
    risk_state_messages,
)
from streams.worker.pipeline.risk_stage import RiskStage

log = logging.getLogger("rtx.worker")

# The global stage's state snapshot is one message on the internal topic (at most 1 MB): LP
# decision windows are its only part that grows with the traffic, ~70 bytes a decision.
SNAPSHOT_MAX_DECISIONS = 8_000


class KeyedValue(Protocol):
    """A record of the internal topic as read from Kafka (an aiokafka ConsumerRecord; its
    ``offset`` is read when it has one)."""

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
        self.risk = RiskStage(config)
        # The internal offset below which every message was applied (set by the consume loop
        # after each batch); a snapshot records it, and recovery splits the history there.
        self.covered: int | None = None
        self._stale = False  # state taken in (absorb) whose figures are not computed yet
        self._snapshots = 0
        self._pieces: dict[int, int] = {}  # slot -> risk state pieces last written there

    @classmethod
    def recover(
        cls, config: PipelineConfig, history: Sequence[KeyedValue], now: float
    ) -> tuple[GlobalStage, list[Output]]:
        """A stage rebuilt from the internal topic's ``history`` (oldest first), as a restart
        rebuilds it, and the alerts that rebuilding raised (never written twice, so re-sent;
        exposure and P&L are published fresh). The latest snapshot (told apart by its key) is
        restored with the risk state it refers to. The messages it covers (below its offset;
        without one, those before it) are taken in without outputs: the partials of
        positions, accounts and quotes (the compacted topic's latest of each), the risk view
        booking only what they realised beyond its state; the decision digests refill the LPs'
        rolling windows the snapshot leaves out (repeats are ignored). Then everything after
        is applied as one batch."""
        stage = cls(config)
        snapshot_at, pieces = -1, {}
        for i, r in enumerate(history):
            if r.value and is_snapshot(r.key):
                snapshot_at = i
            elif r.value and r.key and r.key.startswith(RISK_PIECE_PREFIX.encode()):
                pieces[r.key.decode()] = r.value
        covered = None
        if snapshot_at >= 0:
            snapshot = StateSnapshot.decode(history[snapshot_at].value or b"")
            stage.restore(snapshot, pieces)
            covered = snapshot.offset
        before, earlier, after = _split(history, snapshot_at, covered)
        stage.absorb(before)
        replayed = stage.apply_encoded(itertools.chain(earlier, after), now)
        replayed += stage.refresh(now)
        return stage, [o for o in replayed if o.schema == "Alert"]

    def absorb(self, values: Iterable[bytes]) -> None:
        """The partials of positions, accounts and quotes of messages a restored snapshot
        covers, taken in without outputs (the next batch computes them): the exposure and risk
        state the snapshot does not hold. Realised P&L is booked only beyond what the restored
        risk state counted."""
        view = self.risk.view
        view.begin_replay()
        taken = 0
        for value in values:
            try:
                msg = decode_internal(value)
                kind = msg["k"]
                taken += kind in ("pos", "mids", "acct")
                if kind == "pos":
                    self.exposure_time = max(self.exposure_time, int(msg.get("t") or 0))
                    self.partials[f"pos:{msg['p']}"] = ex.Partial.from_record(msg["partial"])
                elif kind == "mids":
                    self.exposure_time = max(self.exposure_time, int(msg.get("t") or 0))
                    self.mids_by_partition[int(msg["p"])] = dict(msg["mids"])
                    self.risk.quotes(msg)
                elif kind == "acct":
                    self.risk.put(msg)
            except (KeyError, TypeError, ValueError):
                log.exception("global stage: a covered internal message does not apply")
        view.end_replay()
        if taken:
            self._merge_mids()
            self._stale = True

    def refresh(self, now: float) -> list[Output]:
        """Exposure and P&L computed now if what :meth:`absorb` took in has not been since."""
        if not self._stale:
            return []
        self._stale = False
        self.event_time = max(self.event_time, self.exposure_time)
        self.risk.dirty = True
        return self._recompute(now) + self.risk.recompute(self.rules, now)

    # helpers ----------------------------------------------------------------------------------

    def usd_rate(self, currency: str) -> float | None:
        return self._rates.get(currency)

    def _refresh_rates(self) -> None:
        for symbol in self.mids:
            if symbol not in self._instruments:
                self._instruments[symbol] = instrument(symbol, self.config.symbol_overrides)
        self._rates = usd_rates(self.mids, self._instruments)

    def _recompute(self, now: float) -> list[Output]:
        self._stale = False
        record = compute_exposure(
            self.partials,
            self.mids,
            self.config.limits,
            self.config.bands,
            event_time=self.exposure_time,
            overrides=self.config.symbol_overrides,
            basis=self.config.basis,
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
        risk = self.risk
        for msg in messages:
            kind = msg["k"]
            if kind == "acct":
                risk.put(msg)
            elif kind == "pos":
                self.exposure_time = max(self.exposure_time, int(msg.get("t") or 0))
                self.partials[f"pos:{msg['p']}"] = ex.Partial.from_record(msg["partial"])
                dirty = True
            elif kind == "mids":
                self.exposure_time = max(self.exposure_time, int(msg.get("t") or 0))
                self.mids_by_partition[int(msg["p"])] = dict(msg["mids"])
                risk.quotes(msg)
                dirty = mids_dirty = True
            elif kind == "svc":
                out += self.on_service_alert(msg["r"])
            else:
                out += self._other(msg)
        if mids_dirty:
            self._merge_mids()
        self.event_time = max(self.event_time, self.exposure_time, risk.view.event_time)
        if dirty or self._stale:
            out += self._recompute(now)
        out += risk.recompute(self.rules, now)
        return out

    def _merge_mids(self) -> None:
        merged: dict[str, float] = {}
        for p in sorted(self.mids_by_partition):
            merged.update(self.mids_by_partition[p])
        self.mids = merged
        self._refresh_rates()

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
        """Periodic: a coalesced or heartbeat exposure message, time-based alert rules, and the
        periodic risk outputs (P&L, account risk, the top-N, account alerts)."""
        out = [_alert(a) for a in self.rules.tick(self.event_time)]
        pending = self.coalescer.due(now)
        if pending is not None:
            out.append(Output("exposure", "global", "ExposureChange", pending))
        out += self.risk.due(self.rules, now)
        return out

    def take_tombstones(self) -> list[str]:
        """Internal keys to delete (the deltas of closed routing windows) since the last call."""
        out, self._tombstones = self._tombstones, []
        return out

    def snapshot(self) -> StateSnapshot:
        """The LP and rule state and the offset it covers (:meth:`snapshot_messages` adds the
        risk state)."""
        return StateSnapshot(
            self.event_time,
            self.lp.state(max_decisions=SNAPSHOT_MAX_DECISIONS),
            self.rules.state(),
            self.covered,
        )

    def snapshot_messages(self) -> list[Internal]:
        """The snapshot's messages: the pieces of the risk state in the next slot, then the
        snapshot that refers to them (one partition: they arrive in this order). Pieces of
        an earlier, longer state in that slot are deleted (:meth:`take_tombstones`)."""
        base = self.snapshot()
        slot = self._snapshots % 2
        self._snapshots += 1
        snapshot_id = f"{base.offset}:{base.event_time}:{self._snapshots}"
        pieces, ref = risk_state_messages(self.risk.state(), slot, snapshot_id)
        before = self._pieces.get(slot, 0)
        self._tombstones += [f"{RISK_PIECE_PREFIX}{slot}:{i}" for i in range(len(pieces), before)]
        self._pieces[slot] = len(pieces)
        snapshot = StateSnapshot(base.event_time, base.lp, base.rules, base.offset, ref)
        return [*pieces, snapshot.message()]

    def restore(self, snapshot: StateSnapshot, pieces: Mapping[str, bytes] | None = None) -> None:
        """The snapshot's LP and rule state, and its risk state from ``pieces`` (the latest
        value of each piece key); a risk state that cannot be read is logged and left out (the
        view then books realised P&L afresh, at the rates of the replay)."""
        self.lp.restore(snapshot.lp)
        self.rules.restore(snapshot.rules)
        self.covered = snapshot.offset
        if snapshot.risk is not None:
            try:
                self.risk.restore(risk_state_from(snapshot.risk, pieces or {}))
            except ValueError:
                log.exception("global stage: the snapshot's risk state cannot be restored")


def _alert(record: Record) -> Output:
    return Output("alerts", record["id"], "Alert", record)


def _split(
    history: Sequence[KeyedValue], snapshot_at: int, covered: int | None
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """The values of ``history`` a snapshot covers, the decision digests among them, and the
    values after it: by the offset it records, else by its place in the history; snapshots
    and their pieces in none."""
    before: list[bytes] = []
    decisions: list[bytes] = []
    after: list[bytes] = []
    for i, r in enumerate(history):
        if not r.value or is_state(r.key):
            continue
        offset = getattr(r, "offset", None)
        if offset < covered if covered is not None and offset is not None else i < snapshot_at:
            before.append(r.value)
            if is_decision(r.key):
                decisions.append(r.value)
        else:
            after.append(r.value)
    return before, decisions, after
