"""Worker latency: input event -> derived message, at a steady input rate, one worker process.

    python bench/worker_latency.py [--rate 2000] [--seconds 30] [--warmup 3] [--crossing-every 5]

Starts ``python -m streams.cli worker`` on topics and a consumer group of its own (as
bench/worker_throughput.py does, with ``RTX_EXPOSURE_LIMIT_USD=1e9``), waits until it is ready
(a probe routing decision is back on routing.metrics, a probe service alert is in the alert log,
and an exposure-change counts the probe positions put on every positions partition), then
publishes the mix of bench/worker_throughput.py (positions ~45%, routing decisions ~45%,
quotes ~8%, LP status ~1%, service alerts ~1%) with the SDK at ``--rate`` events/s, in small
batches paced by asyncio sleeps, for ``--warmup`` + ``--seconds`` seconds; only events from after
the warm-up are measured. One consumer in this process reads routing.metrics, exposure and
alerts, and takes the receive time (``time.time()``, same machine) minus the input's eventTime
(set by this script just before the SDK call, so the SDK's linger is part of the latency):

- routing-decision: the pass-through record with the input's eventId;
- exposure-change: for each position event, the first exposure-change whose eventTime >= the
  position's eventTime (exposure's eventTime is the latest input time the global stage has
  seen, so this can read early if a later input was merged before the position itself);
- pnl-change (after a quote): for each quote, the first pnl-change (the broker's B-book P&L,
  docs/pnl.md) whose eventTime >= the quote's, in the same way;
- alert: every service alert of the mix (~1% of events, each with a unique title) until its
  entry appears in the alert log;
- exposure alert (with ``--crossing-every`` > 0): every so often a position that takes exposure
  over the limit, closed again a second later: time until the exposure alert is RAISED, and
  until it is RESOLVED;
- input hop (reference, no worker involved): the input routing decisions themselves, read back
  from their topic (Kafka timestamp = eventTime in ms): what the SDK and broker alone cost.

Time of a derived message (``--clock``): ``append`` (default) is its Kafka timestamp, set by the
broker when it appends the message (this run's topics get ``message.timestamp.type=
LogAppendTime``): the moment the derived message exists in Kafka, without this process's own
fetch and decode delays, which share the event loop with the publisher. ``receive`` is the time
this process's consumer received it (the figures of earlier runs).

Prints count, p50, p95, p99 and max per kind (milliseconds), what was never seen, and the goals.
The bench's own publishing and reading share the machine with the worker and the broker.

Needs a broker: KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092; ``rtx-analytics kafka start``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import math
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.partitioner import murmur2
from worker_throughput import (  # the sibling script: bench/ is sys.path[0] when run
    EXPOSURE_LIMIT_USD,
    EventMix,
    WorkerProcess,
    create_topics,
    delete_topics,
    machine,
    progress,
)

from schemas.codec import default_codec
from streams.sdk import Publisher
from streams.settings import KafkaSettings
from streams.simulator.samples import MIDS
from streams.topics import BY_LOGICAL, topic_name
from streams.worker.settings import WorkerSettings

GOAL_MS = 25.0
INPUT_HOP = "input hop (reference)"
PNL = "pnl-change (after quote)"
LIMIT_USD = float(EXPOSURE_LIMIT_USD)
READY_TIMEOUT_S = 120.0


def now_us() -> int:
    return time.time_ns() // 1000


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class Tracker:
    """What was sent and is awaited, and the latencies of what came back (ms).

    ``clock="append"``: a derived message's time is its Kafka timestamp, which the broker sets
    when it appends the message (``LogAppendTime`` on this run's topics): the moment the derived
    message exists in Kafka, free of this process's own fetching and decoding. ``"receive"``:
    the time this process's consumer got it."""

    def __init__(self, clock: str = "append") -> None:
        self.append_clock = clock == "append"
        self.codec = default_codec()
        self.routing_fp = self.codec.schema("RoutingDecision").fingerprint
        self.record_from_us = math.inf  # events before this time are not measured
        self.routing: dict[str, int] = {}  # eventId -> eventTime (us)
        self.positions: collections.deque[int] = collections.deque()  # eventTimes, ascending
        self.quotes: collections.deque[int] = collections.deque()  # eventTimes, ascending
        self.alerts: dict[str, int] = {}  # title -> eventTime (us)
        self.crossings: collections.deque[tuple[str, int]] = collections.deque()  # state, time
        self.samples: dict[str, list[float]] = collections.defaultdict(list)
        self.max_position_count = 0
        self.exposures = 0

    def _sample(self, kind: str, sent_us: int, received_s: float) -> None:
        if sent_us >= self.record_from_us:
            self.samples[kind].append(received_s * 1000 - sent_us / 1000)

    def on_input(self, record: ConsumerRecord[bytes, bytes], received_s: float) -> None:
        # The hop a worker starts from: the input's eventTime (in its Avro body) to its append
        # (append clock) or to this consumer's receipt.
        value = record.value
        if value is None or value[2:10] != self.routing_fp:
            return
        sent = self.codec.decode(value).record["eventTime"]
        self._sample(INPUT_HOP, sent, self._time(record, received_s))

    def _time(self, record: ConsumerRecord[bytes, bytes], received_s: float) -> float:
        return record.timestamp / 1000 if self.append_clock else received_s

    def on_routing(self, message: ConsumerRecord[bytes, bytes], received_s: float) -> None:
        value = message.value
        if value is None or value[2:10] != self.routing_fp:
            return  # a routing summary
        record = self.codec.decode(value).record
        sent = self.routing.pop(record["eventId"], None)
        if sent is not None:
            self._sample("routing-decision", sent, self._time(message, received_s))

    def on_exposure(self, message: ConsumerRecord[bytes, bytes], received_s: float) -> None:
        if message.value is None:
            return
        record = self.codec.decode(message.value).record
        self.exposures += 1
        self.max_position_count = max(self.max_position_count, record["positionCount"])
        at = self._time(message, received_s)
        while self.positions and self.positions[0] <= record["eventTime"]:
            self._sample("exposure-change", self.positions.popleft(), at)

    def on_pnl(self, message: ConsumerRecord[bytes, bytes], received_s: float) -> None:
        if message.value is None:
            return
        record = self.codec.decode(message.value).record
        at = self._time(message, received_s)
        while self.quotes and self.quotes[0] <= record["eventTime"]:
            self._sample(PNL, self.quotes.popleft(), at)

    def on_alert(self, message: ConsumerRecord[bytes, bytes], received_s: float) -> None:
        if message.value is None:
            return
        record = self.codec.decode(message.value).record
        at = self._time(message, received_s)
        sent = self.alerts.pop(record["title"], None)
        if sent is not None:
            self._sample("alert (service)", sent, at)
        elif record["source"] == "ExposureMonitor" and self.crossings:
            # (the P&L and account alerts are in the exposure category too: not crossings)
            state, sent = self.crossings[0]
            if record["state"] == state:
                self.crossings.popleft()
                self._sample(f"alert (exposure {state.lower()})", sent, at)

    def outstanding(self) -> dict[str, int]:
        return {
            "routing-decision": len(self.routing),
            "exposure-change": len(self.positions),
            PNL: len(self.quotes),
            "alert (service)": len(self.alerts),
            "alert (exposure)": len(self.crossings),
        }


async def use_log_append_time(settings: KafkaSettings) -> None:
    """Have the broker stamp each message of this run's topics with its append time."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from streams.topics import TOPICS

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        resources = [
            ConfigResource(
                ConfigResourceType.TOPIC,
                t.name(settings.topic_prefix),
                configs={**t.desired_configs(settings), "message.timestamp.type": "LogAppendTime"},
            )
            for t in TOPICS
        ]
        await admin.alter_configs(resources)
    finally:
        await admin.close()
    await asyncio.sleep(2.0)  # KRaft config changes become visible shortly after the call


async def read_outputs(
    settings: KafkaSettings, tracker: Tracker, stop: asyncio.Event, gate: asyncio.Event
) -> None:
    """Read routing.metrics, exposure and alerts from the start until ``stop`` is set, while
    ``gate`` is set (with the append clock, reading waits while the load is published, so this
    process's event loop only publishes then; the times are in the messages)."""
    handlers: dict[str, Callable[[ConsumerRecord[bytes, bytes], float], None]] = {
        topic_name("routing_decisions", settings): tracker.on_input,
        topic_name("routing_metrics", settings): tracker.on_routing,
        topic_name("exposure", settings): tracker.on_exposure,
        topic_name("pnl", settings): tracker.on_pnl,
        topic_name("alerts", settings): tracker.on_alert,
    }
    tps = [
        TopicPartition(topic_name(logical, settings), p)
        for logical in ("routing_decisions", "routing_metrics", "exposure", "pnl", "alerts")
        for p in range(BY_LOGICAL[logical].partition_count(settings))
    ]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not stop.is_set():
            if not gate.is_set():
                await gate.wait()
            batch = await consumer.getmany(timeout_ms=100)
            received = time.time()
            for tp, records in batch.items():
                handle = handlers[tp.topic]
                for r in records:
                    handle(r, received)
    finally:
        await consumer.stop()


def probe_position_ids(partitions: int) -> list[str]:
    """One position id per positions partition (as the SDK partitions keys), so every
    partition's book is rebuilt before the measurement starts."""
    chosen: dict[int, str] = {}
    i = 0
    while len(chosen) < partitions:
        pid = f"probe-pos-{i}"
        chosen.setdefault((murmur2(pid.encode()) & 0x7FFFFFFF) % partitions, pid)
        i += 1
    return list(chosen.values())


async def wait_until_ready(pub: Publisher, tracker: Tracker, settings: KafkaSettings) -> float:
    """Probe events through every path the measurement uses; returns seconds until ready."""
    started = time.monotonic()
    for symbol, mid in MIDS.items():
        await pub.quote(symbol, mid * 0.99995, mid * 1.00005)
    probes = probe_position_ids(BY_LOGICAL["positions"].partition_count(settings))
    for pid in probes:
        await pub.position(pid, "acc-probe", "EURUSD", "BUY", 1_000, MIDS["EURUSD"], "BBOOK", 1)
    d = await pub.routing_decision("EURUSD", "BUY", 1_000, "BBOOK", execution_time_ms=1.0)
    tracker.routing[d.event_id] = now_us()
    tracker.alerts["Bench probe alert"] = now_us()
    await pub.alert("info", "system", "Bench probe alert", "readiness probe", "bench")
    await pub.flush()
    deadline = started + READY_TIMEOUT_S
    last_report = started
    while tracker.routing or tracker.alerts or tracker.max_position_count < len(probes):
        now = time.monotonic()
        if now > deadline:
            raise SystemExit(
                f"worker not ready after {READY_TIMEOUT_S:g} s: {tracker.outstanding()}"
            )
        if now - last_report >= 5:
            last_report = now
            progress(f"waiting for the worker: {tracker.outstanding()}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@dataclasses.dataclass
class LoadStats:
    sent: int = 0
    measured_sent: int = 0
    seconds: float = 0.0
    max_behind_ms: float = 0.0  # how far publishing fell behind its schedule


async def publish_load(pub: Publisher, tracker: Tracker, args: argparse.Namespace) -> LoadStats:
    """The mix at ``args.rate`` events/s: a batch every ~5 ms, each call stamped with its
    eventTime; from the end of the warm-up on, what each event should produce is tracked."""
    stats = LoadStats()
    mix = EventMix(seed=args.seed, tag=f"lat-{uuid.uuid4().hex[:6]}")
    batch = max(1, round(args.rate / 200))
    interval = batch / args.rate
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_at = start + args.warmup
    end = measure_at + args.seconds
    next_crossing = measure_at + 0.5 if args.crossing_every > 0 else math.inf
    close_crossing: tuple[float, str] | None = None
    crossings = 0
    k = 0
    last_report = start
    while True:
        due = start + k * interval
        now = loop.time()
        if due >= end:
            break
        if due > now:
            await asyncio.sleep(due - now)
        else:
            stats.max_behind_ms = max(stats.max_behind_ms, (now - due) * 1000)
        k += 1
        measuring = loop.time() >= measure_at
        if measuring and tracker.record_from_us == math.inf:
            tracker.record_from_us = now_us()
        for _ in range(batch):
            method, kwargs = next(mix)
            t = now_us()
            if method == "position":
                tracker.positions.append(t)
            elif method == "quote":
                tracker.quotes.append(t)
            elif method == "alert":
                tracker.alerts[kwargs["title"]] = t
            d = await getattr(pub, method)(**kwargs, event_time=t)
            if method == "routing_decision":
                tracker.routing[d.event_id] = t
            stats.sent += 1
            stats.measured_sent += measuring
        now = loop.time()
        if now >= next_crossing:
            crossings += 1
            pid = f"bench-crossing-{crossings}"
            t = now_us()
            tracker.crossings.append(("RAISED", t))
            # One position as large as the limit takes exposure over 100% by itself.
            await pub.position(
                pid,
                "acc-cross",
                "EURUSD",
                "BUY",
                LIMIT_USD,
                MIDS["EURUSD"],
                "BBOOK",
                1,
                event_time=t,
            )
            close_crossing = (now + 1.0, pid)
            next_crossing = now + args.crossing_every
        if close_crossing is not None and now >= close_crossing[0]:
            t = now_us()
            tracker.crossings.append(("RESOLVED", t))
            await pub.position(
                close_crossing[1],
                "acc-cross",
                "EURUSD",
                "BUY",
                0.0,
                MIDS["EURUSD"],
                "BBOOK",
                2,
                status="CLOSED",
                event_time=t,
            )
            close_crossing = None
        if now - last_report >= 5:
            last_report = now
            phase = "measuring" if measuring else "warm-up"
            progress(f"{phase}: {stats.sent:,} events sent, outstanding {tracker.outstanding()}")
    await pub.flush()
    stats.seconds = loop.time() - measure_at
    return stats


def report_line(name: str, values: list[float], missing: int, goal_ms: float) -> str:
    if not values:
        return f"{name:26} n=0 (missing {missing:,}), goal p99 <= {goal_ms:g} ms"
    v = sorted(values)
    p99 = percentile(v, 99)
    verdict = "met" if p99 <= goal_ms else "MISSED"
    return (
        f"{name:26} n={len(v):>6,}  p50 {percentile(v, 50):6.1f}  p95 {percentile(v, 95):6.1f}  "
        f"p99 {p99:6.1f}  max {v[-1]:7.1f} ms  missing {missing:,}; "
        f"goal p99 <= {goal_ms:g} ms: {verdict}"
    )


async def main(args: argparse.Namespace) -> None:
    base = KafkaSettings.from_env()
    coalesce_ms = WorkerSettings.from_env().exposure_coalesce_ms  # the worker reads the same
    run_id = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(base, topic_prefix=f"bench-latency-{run_id}.")
    app_id = f"bench-latency-{run_id}"
    print(
        f"broker {base.bootstrap_servers}; {args.rate:,} events/s for {args.seconds:g} s after "
        f"{args.warmup:g} s warm-up; exposure coalescing {coalesce_ms} ms"
    )
    await create_topics(settings)
    if args.clock == "append":
        await use_log_append_time(settings)
    tracker = Tracker(args.clock)
    stop = asyncio.Event()
    gate = asyncio.Event()
    gate.set()
    reader = asyncio.create_task(read_outputs(settings, tracker, stop, gate))
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        workdir = Path(args.log_dir or tmp)
        if args.split:
            # Stage 1 and the global stage in separate processes (RTX_WORKER_ROLE).
            worker = WorkerProcess(settings, app_id, workdir, RTX_WORKER_ROLE="inputs")
            extra = [WorkerProcess(settings, f"{app_id}", workdir / "g", RTX_WORKER_ROLE="global")]
        else:
            worker = WorkerProcess(settings, app_id, workdir)
            extra = []
        try:
            for w in extra:
                w.log_path.parent.mkdir(parents=True, exist_ok=True)
                await w.start()
            await worker.start()
            async with Publisher(settings) as pub:
                ready_s = await wait_until_ready(pub, tracker, settings)
                progress(f"worker ready after {ready_s:.1f} s")
                if args.clock == "append":
                    gate.clear()  # read the outputs after the load: their times are in them
                load = await publish_load(pub, tracker, args)
            gate.set()
            progress(f"published; waiting up to {args.drain:g} s for the last outputs")
            deadline = time.monotonic() + args.drain
            while any(tracker.outstanding().values()) and time.monotonic() < deadline:
                worker.check_alive()
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await reader
            await worker.stop()
            for w in extra:
                await w.stop()
            if not args.keep_topics:
                await delete_topics(settings)

    missing = tracker.outstanding()
    print()
    print(f"machine: {machine()}")
    print(
        f"input: {load.measured_sent:,} events measured in {load.seconds:.1f} s = "
        f"{load.measured_sent / load.seconds:,.0f} events/s (target {args.rate:,}); "
        f"publishing fell behind its schedule by at most {load.max_behind_ms:.0f} ms"
    )
    clock = "broker append time" if args.clock == "append" else "receive time"
    print(f"latency = derived message's {clock} - input eventTime, milliseconds:")
    for name, goal in (
        ("routing-decision", GOAL_MS),
        ("exposure-change", coalesce_ms + GOAL_MS),
        (PNL, coalesce_ms + GOAL_MS),
        ("alert (service)", GOAL_MS),
    ):
        print("  " + report_line(name, tracker.samples.get(name, []), missing[name], goal))
    hop = sorted(tracker.samples.get(INPUT_HOP, []))
    if hop:
        print(
            f"  {INPUT_HOP:26} n={len(hop):>6,}  p50 {percentile(hop, 50):6.1f}  "
            f"p95 {percentile(hop, 95):6.1f}  p99 {percentile(hop, 99):6.1f}  max {hop[-1]:7.1f} ms"
            f"  (routing decisions: eventTime -> {clock} of the input itself, no worker)"
        )
    if args.crossing_every > 0:
        for state in ("raised", "resolved"):
            name = f"alert (exposure {state})"
            print("  " + report_line(name, tracker.samples.get(name, []), 0, GOAL_MS))
        print(f"  exposure alerts never seen: {missing['alert (exposure)']}")
    print(
        f"goal at {args.rate:,} events/s: p99 <= {GOAL_MS:g} ms for alerts and routing-decision, "
        f"p99 <= {coalesce_ms} + {GOAL_MS:g} ms for exposure-change and pnl-change"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=2_000, help="input events per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds at the rate, unmeasured")
    parser.add_argument(
        "--crossing-every", type=float, default=5.0, help="seconds between limit crossings (0: off)"
    )
    parser.add_argument("--drain", type=float, default=15.0, help="max wait for late outputs, s")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--split",
        action="store_true",
        help="run stage 1 and the global stage as two processes (RTX_WORKER_ROLE)",
    )
    parser.add_argument("--keep-topics", action="store_true")
    parser.add_argument(
        "--clock",
        choices=("append", "receive"),
        default="append",
        help="a derived message's time: its broker append time (LogAppendTime on this run's "
        "topics; default) or when this process received it",
    )
    parser.add_argument("--log-dir", help="keep the worker log here (default: a temporary dir)")
    args = parser.parse_args()
    if args.log_dir:
        Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
