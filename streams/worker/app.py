"""The worker process: a Faust app whose tasks read Kafka in large batches.

Why not Faust agents: faust-streaming hands every message through its conductor, channel and
stream machinery (~50 us each here), which with acks caps a worker near 5,000 events/s on this
machine (bench/worker_throughput.py, first figures in docs/benchmarks.md); the issue asks for
20,000. So the Faust app provides the worker's life cycle, signal handling and timers, and two
long-running tasks read with aiokafka ``getmany`` (thousands of records a call) in consumer
groups of their own:

- ``<app id>.inputs``: the five input topics, stage 1 (:mod:`streams.worker.inputs_loop`); any
  number of workers split these partitions. Service alerts need no global state: stage 1
  validates them and writes them to the alert log itself (one Kafka hop, for latency);
- ``<app id>.global``: the one-partition internal topic, the global stage
  (:mod:`streams.worker.global_loop`), in exactly one worker. A separate consumer, so the global
  stage never waits behind an input backlog in a fetch.

State lives in plain objects (:mod:`streams.worker.pipeline`, no I/O), never Faust tables (one
changelog record per key and event), and is rebuilt from Kafka when a partition is assigned:
the compacted positions topic *is* the changelog of the position books; the global stage
replays the compacted internal topic from its last state snapshot. A batch's outputs are
acknowledged by the broker (acks=all) before its offsets are committed (at-least-once; Faust's
``exactly_once`` has open bugs #517 #323 #177), and every output is idempotent: latest-wins
partials, union-merged routing deltas, alert ids derived from their cause and never written
twice (:mod:`streams.worker.alert_ids`).

Bad input (undecodable or invalid) goes to the dead-letter topic unchanged
(:mod:`streams.worker.dead_letter`); the worker carries on. The one producer and its senders
are in :mod:`streams.worker.producers`, the Kafka plumbing in :mod:`streams.worker.kafka_io`;
this module only wires them into the Faust app.
"""

from __future__ import annotations

import logging

import faust
from faust.app.base import BootStrategy

from streams.settings import KafkaSettings
from streams.worker import metrics as m
from streams.worker.context import WorkerContext
from streams.worker.global_loop import GlobalLoop
from streams.worker.inputs_loop import InputsLoop
from streams.worker.pipeline import PipelineConfig
from streams.worker.settings import WorkerSettings

log = logging.getLogger("rtx.worker")

FAUST_SESSION_TIMEOUT_S = 10.0  # aiokafka's default session.timeout.ms, as our consumers
TICK_S = 0.005  # the global stage's timer
GAUGES_S = 2.0  # consumer lag and the closed ids remembered


class Worker:
    """One worker process: its two loops, its producer, and the Faust app that runs them."""

    def __init__(
        self, kafka: KafkaSettings, settings: WorkerSettings, config: PipelineConfig
    ) -> None:
        self.kafka = kafka
        self.settings = settings
        self.config = config
        context = WorkerContext.create(kafka, settings, config)
        self.topics = context.topics
        self.producers = context.producers
        self.inputs = InputsLoop(context)
        self.global_loop = GlobalLoop(context)
        self.app = self._build_app()

    def _build_app(self) -> faust.App:
        brokers = ";".join(f"kafka://{h}" for h in self.kafka.bootstrap_servers.split(","))
        app = faust.App(
            self.settings.app_id,
            broker=brokers,
            store="memory://",
            topic_allow_declare=False,
            web_enabled=False,
            datadir=self.settings.data_dir,
            # Should Faust's own consumer ever run again (it is off, below): its group had to
            # rejoin before the tasks started, and with the default 60 s session a worker
            # restarted after kill -9 sat idle for a minute waiting for its dead predecessor to
            # expire. 10 s, like the tasks' own consumers.
            broker_session_timeout=FAUST_SESSION_TIMEOUT_S,
        )
        # Faust's own consumer stays off: the loops read with consumers of their own, and no
        # agent, table or leader election needs it. Started, it joined a consumer group of its
        # own and subscribed to "<app id>-__assignor-__leader", which `topics apply` does not
        # create (an ERROR from aiokafka at every start), and the tasks waited for its group's
        # first assignment before they started.
        app.boot_strategy = BootStrategy(app, enable_kafka_consumer=False)
        # RTX_WORKER_ROLE: "inputs" workers scale out stage 1; a "global" worker runs only the
        # global stage, on a core of its own; "all" (default) does both in one process.
        if self.settings.role in ("all", "inputs"):
            app.task(self.inputs.run)
        if self.settings.role in ("all", "global"):
            app.task(self.global_loop.run)
        app.timer(TICK_S)(self.global_loop.tick)
        app.timer(GAUGES_S)(self.update_gauges)
        # On stop, Faust cancels the tasks and timers and waits for them (the loops commit
        # what was acknowledged and leave their groups), then closes the app's exit stack:
        # the producer is closed last, when nothing sends any more.
        app.async_exit_stack.push_async_callback(self.producers.close)
        return app

    async def update_gauges(self) -> None:
        """Consumer lag per assigned partition: end of the log minus our next offset; and the
        closed position ids stage 1 remembers (its bounded memory)."""
        m.CLOSED_IDS.set(self.inputs.stage.positions.remembered_closed())
        for consumer in [*self.inputs.consumers, *self.global_loop.consumers]:
            try:
                for tp in consumer.assignment():
                    highwater = consumer.highwater(tp)
                    position = await consumer.position(tp)
                    if highwater is not None and position is not None:
                        m.LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(
                            max(0, highwater - position)
                        )
            except Exception:  # noqa: BLE001 - metrics must never stop the worker
                log.debug("consumer lag not available yet", exc_info=True)
