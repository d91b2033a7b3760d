"""The topic table: every topic of the pipeline, its kind, key, value schemas and configs.

Names follow ``RTX_TOPIC_PREFIX`` (``topic_name``); ``table_rows`` resolves the table for
printing (``rtx-analytics topics list``) and the docs (README.md, "Topics"). Applying it to a
cluster is :mod:`streams.topics.admin`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from streams.settings import KafkaSettings

DAY_MS = 24 * 60 * 60 * 1000
HOUR_MS = 60 * 60 * 1000
# A trading day is 25 hours long when the clocks go back (docs/pnl.md, "The trading day").
TRADING_DAY_MS = 25 * HOUR_MS
Kind = Literal["input", "derived", "workflow", "dead-letter", "internal"]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One row of the topic table. ``partitions=None`` means the configured input partitions."""

    logical: str  # stable name used in code, e.g. "positions"
    suffix: str  # the topic is named <prefix><suffix>
    kind: Kind
    key: str  # what the Kafka key is
    value_schemas: tuple[str, ...]  # Avro schema names (short); () = raw bytes
    configs: dict[str, str]
    doc: str
    partitions: int | None = None
    # A KafkaSettings field (days) that sets retention.ms instead of ``configs``' value.
    retention_days_setting: str | None = None

    def name(self, prefix: str) -> str:
        return f"{prefix}{self.suffix}"

    def partition_count(self, settings: KafkaSettings) -> int:
        return settings.input_partitions if self.partitions is None else self.partitions

    def desired_configs(self, settings: KafkaSettings) -> dict[str, str]:
        wanted = {"min.insync.replicas": str(settings.min_insync_replicas)}
        wanted.update(self.configs)
        if self.retention_days_setting is not None:
            days: int = getattr(settings, self.retention_days_setting)
            wanted["retention.ms"] = str(days * DAY_MS)
        return wanted


def _delete(retention_ms: int) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(retention_ms)}


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        "routing_decisions",
        "routing.decisions",
        "input",
        "symbol",
        ("RoutingDecision",),
        _delete(30 * DAY_MS),
        "Every order's routing decision (A-book/B-book, LP, execution time, slippage).",
    ),
    TopicSpec(
        "lp_status",
        "lp.status",
        "input",
        "lpName",
        ("LpStatus",),
        _delete(30 * DAY_MS),
        "LP connection status and metrics: on every change and every 5 s per LP.",
    ),
    TopicSpec(
        "positions",
        "positions",
        "input",
        "positionId",
        ("PositionState",),
        {
            "cleanup.policy": "compact",
            # Every version of the current trading day is kept (compaction leaves versions
            # younger than this alone), so a rebuild sees each position's first version of
            # today with the delta it realised: realised P&L today comes out exact after a
            # restart (docs/pnl.md, "Realised P&L").
            "min.compaction.lag.ms": str(TRADING_DAY_MS),
            "delete.retention.ms": str(DAY_MS),
        },
        "Full current state of each position; compacted, so the latest event per position "
        "is its truth and re-applying one is harmless (versions younger than 25 h are kept: "
        "realised P&L today).",
    ),
    TopicSpec(
        "quotes",
        "quotes",
        "input",
        "symbol",
        ("Quote",),
        _delete(7 * DAY_MS),
        "Bid/ask quotes: mark prices and USD conversion.",
    ),
    TopicSpec(
        "alerts_inbound",
        "alerts.inbound",
        "input",
        "source",
        ("ServiceAlert",),
        _delete(30 * DAY_MS),
        "Alerts raised by other services, validated and merged into the alert log.",
        partitions=3,
    ),
    TopicSpec(
        "exposure",
        "exposure",
        "derived",
        "scope (global)",
        ("ExposureChange",),
        _delete(31 * DAY_MS),
        "Exposure aggregates (exposure-change), coalesced. Retention: RTX_RISK_RETENTION_DAYS "
        "(a month's charts).",
        partitions=1,
        retention_days_setting="risk_retention_days",
    ),
    TopicSpec(
        "pnl",
        "pnl",
        "derived",
        "scope (global)",
        ("PnlChange",),
        _delete(31 * DAY_MS),
        "The broker's B-book P&L (pnl-change: floating, realised today, by symbol and "
        "currency) and the clients' by book, coalesced. Retention: RTX_RISK_RETENTION_DAYS.",
        partitions=1,
        retention_days_setting="risk_retention_days",
    ),
    TopicSpec(
        "account_risk",
        "account.risk",
        "derived",
        "accountId",
        ("AccountRisk",),
        {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(31 * DAY_MS),
            "min.compaction.lag.ms": str(TRADING_DAY_MS),
        },
        "Each account's risk (positions, exposure, P&L today, largest position; tombstone "
        "when it has none): compacted, so the latest record per account rebuilds the view; "
        "every change of the last 25 h is kept for replay; every account is written again at "
        "least every [risk] refresh_s. Account data: the bridge never serves this topic. "
        "Retention: RTX_RISK_RETENTION_DAYS.",
        partitions=3,
        retention_days_setting="risk_retention_days",
    ),
    TopicSpec(
        "account_risk_top",
        "account.risk.top",
        "derived",
        "scope (global)",
        ("AccountRiskTop",),
        _delete(31 * DAY_MS),
        "The top-N accounts by exposure, floating P&L and realised today, about once a second "
        "(account-risk-top; account data: restricted roles on the bridge). Retention: "
        "RTX_RISK_RETENTION_DAYS.",
        partitions=1,
        retention_days_setting="risk_retention_days",
    ),
    TopicSpec(
        "routing_metrics",
        "routing.metrics",
        "derived",
        "symbol, or window start for summaries",
        ("RoutingDecision", "RoutingSummary"),
        _delete(30 * DAY_MS),
        "Routing decisions passed through plus per-window routing summaries.",
    ),
    TopicSpec(
        "lp_performance",
        "lp.performance",
        "derived",
        "lpName",
        ("LpPerformance",),
        {"cleanup.policy": "compact,delete", "retention.ms": str(7 * DAY_MS)},
        "Latest metrics of each LP with derived uptime, reject rate and fill latency.",
        partitions=3,
    ),
    TopicSpec(
        "alerts",
        "alerts",
        "derived",
        "alert id",
        ("Alert",),
        {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"},
        "The persisted alert log dashboards resume from and analysts replay: one partition "
        "(total order, offset = seq), kept forever.",
        partitions=1,
    ),
    TopicSpec(
        "alert_actions",
        "alert.actions",
        "workflow",
        "alert id",
        ("AlertAction",),
        {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"},
        "What desks and the notifier did with alerts (acknowledge, assign, comment, snooze, "
        "resolve, reopen, escalate, wake): the audit trail an alert's state is folded from. "
        "One partition (total order, offset = the action's seq), kept forever; written by the "
        "bridge and the notifier (idempotent, acks=all).",
        partitions=1,
    ),
    TopicSpec(
        "alert_notifications",
        "alert.notifications",
        "internal",
        "webhook name | idempotency key",
        (),
        {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(30 * DAY_MS),
            "min.compaction.lag.ms": str(60 * 60 * 1000),
        },
        "The notifier's ledger: each notification sent (or dead-lettered) per webhook, so a "
        "restarted notifier never sends one again; JSON values. Read whole at start.",
        partitions=1,
    ),
    TopicSpec(
        "dead_letter",
        "deadletter",
        "dead-letter",
        "the original key",
        (),
        _delete(30 * DAY_MS),
        "Events that could not be decoded or validated, bytes untouched; headers name the "
        "source topic, partition, offset and the error.",
        partitions=1,
    ),
    TopicSpec(
        "internal",
        "internal.global",
        "internal",
        "kind:subject (e.g. pos:3, mids:2, acct:3:<accountId>, lp:OANDA)",
        (),
        {
            "cleanup.policy": "compact",
            "min.compaction.lag.ms": str(60 * 60 * 1000),
            "delete.retention.ms": str(DAY_MS),
        },
        "Worker-internal: stage-1 partials (exposure per positions partition, each account's "
        "sums per positions partition, quotes, routing windows) and forwarded LP inputs for "
        "the one global stage, and its snapshots; JSON values. Compacted, and read from the "
        "start when the global stage starts.",
        partitions=1,
    ),
    # rtx-analytics markouts (docs/markouts.md)
    TopicSpec(
        "trade_markouts",
        "trade.markouts",
        "derived",
        "tradeId",
        ("TradeMarkout",),
        _delete(30 * DAY_MS),
        "Every executed trade marked out at each horizon, once (rtx-analytics markouts); "
        "replayable (rtx-analytics replay markouts). Retention: RTX_MARKOUTS_RETENTION_DAYS.",
        retention_days_setting="markouts_retention_days",
    ),
    TopicSpec(
        "account_toxicity",
        "account.toxicity",
        "derived",
        "accountId",
        ("AccountToxicity",),
        {"cleanup.policy": "compact,delete", "retention.ms": str(30 * DAY_MS)},
        "Latest flow figures and toxicity score of each account (account data: the bridge "
        "serves it to restricted roles only).",
        partitions=3,
    ),
    TopicSpec(
        "lp_markouts",
        "lp.markouts",
        "derived",
        "lpName",
        ("LpMarkout",),
        {"cleanup.policy": "compact,delete", "retention.ms": str(7 * DAY_MS)},
        "Latest markouts of each LP's fills and its last-look test.",
        partitions=1,
    ),
    TopicSpec(
        "markout_curves",
        "markout.curves",
        "derived",
        "symbol|book (symbol * = all)",
        ("MarkoutCurve",),
        {"cleanup.policy": "compact,delete", "retention.ms": str(7 * DAY_MS)},
        "Latest markout curve (mean markout against horizon) per symbol and book.",
        partitions=1,
    ),
    TopicSpec(
        "routing_advice",
        "routing.advice",
        "derived",
        "accountId",
        ("RoutingAdvice",),
        {"cleanup.policy": "compact", "delete.retention.ms": str(DAY_MS)},
        "The recommended book of each account, for a routing engine: compacted, the latest "
        "record per account is the advice, kept as long as the account has one.",
        partitions=3,
    ),
    TopicSpec(
        "markouts_internal",
        "internal.markouts",
        "internal",
        "kind:subject (m:tradeId, s:sampleId, p:positionId, t:partition)",
        (),
        _delete(7 * DAY_MS),
        "Markouts-internal: trade markouts, last-look samples, position opens and closes and "
        "event-time ticks from the partitioned stage to the one boards stage; its order is "
        "the boards' input order.",
        partitions=1,
    ),
    TopicSpec(
        "markouts_state",
        "internal.markouts.state",
        "internal",
        "stage:<partition> or boards",
        (),
        {
            "cleanup.policy": "compact",
            "min.compaction.lag.ms": str(60 * 60 * 1000),
            "delete.retention.ms": str(DAY_MS),
            "max.message.bytes": str(64 * 1024 * 1024),
        },
        "Snapshots of the markout stages and boards with the offsets they cover (zlib JSON); "
        "the latest per key is read when a stage starts.",
        partitions=1,
    ),
)

BY_LOGICAL: dict[str, TopicSpec] = {t.logical: t for t in TOPICS}


def topic_name(logical: str, settings: KafkaSettings) -> str:
    return BY_LOGICAL[logical].name(settings.topic_prefix)


def table_rows(settings: KafkaSettings) -> list[dict[str, Any]]:
    """The topic table with names and partition counts resolved, for printing and docs."""
    rows = []
    for s in TOPICS:
        rows.append(
            {
                "topic": s.name(settings.topic_prefix),
                "kind": s.kind,
                "partitions": s.partition_count(settings),
                "replication": settings.replication_factor,
                "key": s.key,
                "value": ", ".join(s.value_schemas) or "raw bytes",
                "configs": s.desired_configs(settings),
                "doc": s.doc,
            }
        )
    return rows
