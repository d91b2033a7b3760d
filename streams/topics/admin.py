"""Applying the topic table (:mod:`streams.topics.table`) with the Kafka admin API.

``apply_topics`` creates what is missing, reports configuration drift on what exists (and with
``fix=True`` sets the drifted configs back to the table's values), and never deletes a topic or
a record. Partition counts are only ever increased, and only with ``allow_partition_increase``,
because adding partitions moves keys to other partitions and so breaks per-key order.

Errors: ``TopicError`` (the admin API refused an operation; the message names the topic) and
its ``BrokerUnreachable`` (no broker answered, retriable).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from streams.errors import StreamsError
from streams.settings import KafkaSettings
from streams.topics.broker import start_within
from streams.topics.table import TOPICS, TopicSpec

Out = Callable[[str], None]


class TopicError(StreamsError):
    """The admin API refused an operation; the message names the topic."""


class BrokerUnreachable(TopicError):
    """No broker answered in time; the message names the bootstrap servers."""

    retriable = True


async def open_admin(settings: KafkaSettings, timeout_s: float = 15.0) -> AIOKafkaAdminClient:
    """A started admin client; raises BrokerUnreachable if no broker answers in ``timeout_s``."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, client_id=settings.client_id
    )
    await start_within(admin.start, admin.close, settings, timeout_s, BrokerUnreachable)
    return admin


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
    out: Out = print,
) -> ApplyReport:
    """Create the missing topics of ``specs``, report drift on the others and, as asked, fix
    it (configs with ``fix``, partition counts with ``allow_partition_increase``)."""
    report = ApplyReport()
    by_name = {s.name(settings.topic_prefix): s for s in specs}
    shape, configs = await _describe(admin, list(by_name))
    missing = {n: s for n, s in by_name.items() if n not in shape}
    if missing:
        await _create(admin, settings, missing, report, out)
    to_fix: dict[str, dict[str, str]] = {}
    for name, (partitions, rf) in shape.items():
        spec = by_name[name]
        actual = configs.get(name, TopicConfigs({}, {}))
        found = _drift(name, spec, settings, (partitions, rf), actual)
        if not found:
            report.unchanged.append(name)
            continue
        for d in found:
            report.drift.append(d)
            out(f"drift: {d}")
        if fix and any(d.fixable and d.setting != "partitions" for d in found):
            # AlterConfigs replaces a topic's dynamic configs as a whole, so send the existing
            # non-default ones too, with ours on top: an operator's extra settings survive.
            merged = dict(actual.overrides)
            merged.update(spec.desired_configs(settings))
            to_fix[name] = merged
        want_parts = spec.partition_count(settings)
        if allow_partition_increase and partitions < want_parts:
            await _add_partitions(admin, name, partitions, want_parts, out)
            report.fixed.extend(d for d in found if d.setting == "partitions")
    if to_fix:
        await _fix_configs(admin, to_fix, report, out)
    return report


async def _create(
    admin: AIOKafkaAdminClient,
    settings: KafkaSettings,
    missing: dict[str, TopicSpec],
    report: ApplyReport,
    out: Out,
) -> None:
    new = [
        NewTopic(
            name,
            spec.partition_count(settings),
            settings.replication_factor,
            topic_configs=spec.desired_configs(settings),
        )
        for name, spec in missing.items()
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
        out(
            f"created {name} (partitions={missing[name].partition_count(settings)}, "
            f"replication={settings.replication_factor})"
        )
        report.created.append(name)
    if report.created and not await _wait_for_topics(admin, report.created):
        out("warning: created topics are not yet visible in metadata; retry shortly")


def _drift(
    name: str,
    spec: TopicSpec,
    settings: KafkaSettings,
    shape: tuple[int, int],
    actual: TopicConfigs,
) -> list[Drift]:
    """How an existing topic (``shape``: partitions, replication factor) differs from ``spec``."""
    partitions, rf = shape
    found: list[Drift] = []
    want_parts = spec.partition_count(settings)
    if partitions < want_parts:
        found.append(Drift(name, "partitions", str(partitions), str(want_parts), True))
    if rf != settings.replication_factor:
        found.append(
            Drift(name, "replication.factor", str(rf), str(settings.replication_factor), False)
        )
    for key, want in spec.desired_configs(settings).items():
        have = actual.effective.get(key)
        if have != want:
            found.append(Drift(name, key, str(have), want, True))
    return found


async def _add_partitions(
    admin: AIOKafkaAdminClient, name: str, partitions: int, want_parts: int, out: Out
) -> None:
    response = await admin.create_partitions({name: NewPartitions(want_parts)})
    for entry in response.topic_errors:
        _check(entry[1], entry[2] if len(entry) > 2 else None, f"add partitions to {name}")
    if not await _wait_for_topics(admin, [name], partitions={name: want_parts}):
        out(f"warning: {name}: new partitions not yet visible; run apply again")
    out(f"fixed: {name} partitions {partitions} -> {want_parts}")


async def _fix_configs(
    admin: AIOKafkaAdminClient, to_fix: dict[str, dict[str, str]], report: ApplyReport, out: Out
) -> None:
    await _alter(admin, to_fix)
    converged = await _wait_for_configs(admin, to_fix)
    for name in to_fix:
        fixed = [
            d for d in report.drift if d.topic == name and d.fixable and d.setting != "partitions"
        ]
        if name in converged:
            report.fixed.extend(fixed)
            out(f"fixed: {name} configs {', '.join(d.setting for d in fixed)}")
        else:
            out(f"warning: {name}: configs altered but not yet visible; run apply again")


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
