"""Topics as code: one declarative table, applied idempotently with the Kafka admin API.

``apply_topics`` creates what is missing, reports configuration drift on what exists (and with
``fix=True`` sets the drifted configs back to the table's values), and never deletes a topic or
a record. Partition counts are only ever increased, and only with ``allow_partition_increase``,
because adding partitions moves keys to other partitions and so breaks per-key order.

The table is documented in README.md ("Topics"); ``rtx-analytics topics list`` prints it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from streams.errors import StreamsError
from streams.settings import KafkaSettings

DAY_MS = 24 * 60 * 60 * 1000
Kind = Literal["input", "derived", "dead-letter", "internal"]


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

    def name(self, prefix: str) -> str:
        return f"{prefix}{self.suffix}"

    def partition_count(self, settings: KafkaSettings) -> int:
        return settings.input_partitions if self.partitions is None else self.partitions

    def desired_configs(self, settings: KafkaSettings) -> dict[str, str]:
        wanted = {"min.insync.replicas": str(settings.min_insync_replicas)}
        wanted.update(self.configs)
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
            "min.compaction.lag.ms": str(60 * 60 * 1000),
            "delete.retention.ms": str(DAY_MS),
        },
        "Full current state of each position; compacted, so the latest event per position "
        "is its truth and re-applying one is harmless.",
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
        _delete(7 * DAY_MS),
        "Exposure aggregates (exposure-change), coalesced.",
        partitions=1,
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
        "kind:subject (e.g. pos:3, mids:2, lp:OANDA)",
        (),
        {
            "cleanup.policy": "compact",
            "min.compaction.lag.ms": str(60 * 60 * 1000),
            "delete.retention.ms": str(DAY_MS),
        },
        "Worker-internal: stage-1 partials (exposure per positions partition, quote mids, "
        "routing windows) and forwarded LP inputs for the one global stage; JSON values. "
        "Compacted, and read from the start when the global stage starts.",
        partitions=1,
    ),
)

BY_LOGICAL: dict[str, TopicSpec] = {t.logical: t for t in TOPICS}


def topic_name(logical: str, settings: KafkaSettings) -> str:
    return BY_LOGICAL[logical].name(settings.topic_prefix)


class TopicError(StreamsError):
    """The admin API refused an operation; the message names the topic."""


@dataclass(frozen=True, slots=True)
class Drift:
    topic: str
    setting: str  # a config key, "partitions" or "replication.factor"
    actual: str
    desired: str
    fixable: bool

    def __str__(self) -> str:
        return f"{self.topic}: {self.setting} is {self.actual}, table says {self.desired}"


@dataclass(slots=True)
class ApplyReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    fixed: list[Drift] = field(default_factory=list)

    @property
    def changed_anything(self) -> bool:
        return bool(self.created or self.fixed)


def _check(code: int, message: str | None, what: str) -> None:
    if code:
        err = for_code(code)
        raise TopicError(f"{what}: {err.__name__}: {message or err.description}")


TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code
TOPIC_OVERRIDE = 1  # DescribeConfigs config_source DYNAMIC_TOPIC_CONFIG (KIP-226)


@dataclass(frozen=True, slots=True)
class TopicConfigs:
    effective: dict[str, str]  # every config's value in force, defaults included
    overrides: dict[str, str]  # only those set on the topic itself


async def _describe(
    admin: AIOKafkaAdminClient, names: list[str]
) -> tuple[dict[str, tuple[int, int]], dict[str, TopicConfigs]]:
    """Existing topics among ``names``: (partitions, replication factor) and their configs."""
    shape: dict[str, tuple[int, int]] = {}
    # Ask for metadata of existing topics only: a metadata request naming a missing topic makes
    # a broker with auto.create.topics.enable=true (Kafka's default) create it with defaults.
    existing = set(await admin.list_topics())
    wanted = [n for n in names if n in existing]
    if not wanted:
        return shape, {}
    for t in await admin.describe_topics(wanted):
        if t["error_code"] == 0:
            parts = t["partitions"]
            rf = min((len(p["replicas"]) for p in parts), default=0)
            shape[t["topic"]] = (len(parts), rf)
    configs: dict[str, TopicConfigs] = {}
    if shape:
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in shape]
        for response in await admin.describe_configs(resources):
            for res in response.resources:
                code, message, _type, name, entries = res[:5]
                _check(code, message, f"describe configs of {name}")
                configs[name] = TopicConfigs(
                    effective={e[0]: e[1] for e in entries if e[1] is not None},
                    overrides={
                        e[0]: e[1] for e in entries if e[1] is not None and e[3] == TOPIC_OVERRIDE
                    },
                )
    return shape, configs


async def apply_topics(
    admin: AIOKafkaAdminClient,
    settings: KafkaSettings,
    *,
    fix: bool = False,
    allow_partition_increase: bool = False,
    specs: tuple[TopicSpec, ...] = TOPICS,
    out: Callable[[str], None] = print,
) -> ApplyReport:
    report = ApplyReport()
    by_name = {s.name(settings.topic_prefix): s for s in specs}
    shape, configs = await _describe(admin, list(by_name))

    missing = [n for n in by_name if n not in shape]
    if missing:
        new = [
            NewTopic(
                n,
                by_name[n].partition_count(settings),
                settings.replication_factor,
                topic_configs=by_name[n].desired_configs(settings),
            )
            for n in missing
        ]
        response = await admin.create_topics(new)
        for entry in response.topic_errors:
            name, code = entry[0], entry[1]
            message = entry[2] if len(entry) > 2 else None
            if code == TOPIC_ALREADY_EXISTS:
                # Created by someone else since we looked: its shape is checked on the next run.
                out(f"{name} appeared while applying; run topics apply again to check it")
                continue
            _check(code, message, f"create topic {name}")
            spec = by_name[name]
            out(
                f"created {name} (partitions={spec.partition_count(settings)}, "
                f"replication={settings.replication_factor})"
            )
            report.created.append(name)
        if report.created and not await _wait_for_topics(admin, report.created):
            out("warning: created topics are not yet visible in metadata; retry shortly")

    to_fix: dict[str, dict[str, str]] = {}
    for name, (partitions, rf) in shape.items():
        spec = by_name[name]
        found: list[Drift] = []
        want_parts = spec.partition_count(settings)
        if partitions < want_parts:
            found.append(Drift(name, "partitions", str(partitions), str(want_parts), True))
        if rf != settings.replication_factor:
            found.append(
                Drift(name, "replication.factor", str(rf), str(settings.replication_factor), False)
            )
        actual = configs.get(name, TopicConfigs({}, {}))
        for key, want in spec.desired_configs(settings).items():
            have = actual.effective.get(key)
            if have != want:
                found.append(Drift(name, key, str(have), want, True))
        if not found:
            report.unchanged.append(name)
            continue
        for d in found:
            report.drift.append(d)
            out(f"drift: {d}")
        if fix and any(d.fixable and d.setting not in ("partitions",) for d in found):
            # AlterConfigs replaces a topic's dynamic configs as a whole, so send the existing
            # non-default ones too, with ours on top: an operator's extra settings survive.
            merged = dict(actual.overrides)
            merged.update(spec.desired_configs(settings))
            to_fix[name] = merged
        if allow_partition_increase and partitions < want_parts:
            parts_response = await admin.create_partitions({name: NewPartitions(want_parts)})
            for entry in parts_response.topic_errors:
                _check(entry[1], entry[2] if len(entry) > 2 else None, f"add partitions to {name}")
            if not await _wait_for_topics(admin, [name], partitions={name: want_parts}):
                out(f"warning: {name}: new partitions not yet visible; run apply again")
            report.fixed.extend(d for d in found if d.setting == "partitions")
            out(f"fixed: {name} partitions {partitions} -> {want_parts}")

    if to_fix:
        await _alter(admin, to_fix)
        converged = await _wait_for_configs(admin, to_fix)
        for name in to_fix:
            fixed = [
                d
                for d in report.drift
                if d.topic == name and d.fixable and d.setting != "partitions"
            ]
            if name in converged:
                report.fixed.extend(fixed)
                out(f"fixed: {name} configs {', '.join(d.setting for d in fixed)}")
            else:
                out(f"warning: {name}: configs altered but not yet visible; run apply again")
    return report


async def _alter(admin: AIOKafkaAdminClient, wanted: dict[str, dict[str, str]]) -> None:
    resources = [ConfigResource(ConfigResourceType.TOPIC, n, configs=c) for n, c in wanted.items()]
    for response in await admin.alter_configs(resources):
        for res in response.resources:
            code, message, _type, name = res[:4]
            _check(code, message, f"alter configs of {name}")


async def _wait_for_topics(
    admin: AIOKafkaAdminClient,
    names: list[str],
    timeout_s: float = 10.0,
    partitions: dict[str, int] | None = None,
) -> bool:
    """Wait until topics show in metadata with leaders for all partitions (and, if given, at
    least that many partitions): the controller acknowledges CreateTopics and CreatePartitions
    before every broker has applied them (KRaft metadata log)."""
    want = partitions or {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        existing = set(await admin.list_topics())
        if existing.issuperset(names):
            described = await admin.describe_topics(names)
            if all(
                t["error_code"] == 0
                and t["partitions"]
                and len(t["partitions"]) >= want.get(t["topic"], 1)
                and all(p["leader"] >= 0 for p in t["partitions"])
                for t in described
            ):
                return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.1)


async def _wait_for_configs(
    admin: AIOKafkaAdminClient, wanted: dict[str, dict[str, str]], timeout_s: float = 10.0
) -> set[str]:
    """Topics whose configs read back as wanted. KRaft applies an AlterConfigs through the
    metadata log, so a describe right after it can still show the old value for a moment."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        _shape, configs = await _describe(admin, list(wanted))
        done = {
            name
            for name, want in wanted.items()
            if name in configs and all(configs[name].effective.get(k) == v for k, v in want.items())
        }
        if done == set(wanted) or loop.time() >= deadline:
            return done
        await asyncio.sleep(0.2)


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
