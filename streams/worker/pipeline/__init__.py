"""The worker's dataflow without I/O: stage 1 per input partition, one global stage.

Any number of workers split the input partitions; the global stage runs in exactly one of them
(the owner of the single partition of the internal topic). So that two workers give the same
result as one, stage 1 publishes *partials* per partition to the internal topic, and the global
stage combines the latest partial of every partition::

    positions p  --> PositionBook p --(pos:p partial)----.
                 '-> RiskBook p --(acct:p:account)-------+
    quotes p     --> latest quotes  --(mids:p)-----------+--> GlobalStage: exposure, P&L and
    routing p    --> PartitionWindows p --(route:p:w)----+       account risk (RiskStage), alert
                 '-> routing-decision pass-through       |       rules, routing summaries, LP
    lp status    --(lps:LP)------------------------------'       tracker, alert log entries
    service alerts --> validated --> alert log

Modules:

- :mod:`.records`: outputs, internal messages (their keys and kinds), the typed state snapshot;
- :mod:`.inputs`: the input topics and how a record is decoded and validated;
- :mod:`.stage1`: ``InputStage`` (positions, quotes, routing per partition);
- :mod:`.global_stage`: ``GlobalStage``, and its recovery from the internal topic;
- :mod:`.risk_stage`: ``RiskStage``, the global stage's P&L, account risk and top-N;
- :mod:`.config`: ``PipelineConfig`` from the TOML file and the worker's variables.

Everything is driven by the inputs and an injected clock, so it is tested without Kafka
(tests/streams/worker/test_pipeline.py). The shell around it is :mod:`streams.worker.app`.
"""

from streams.worker.pipeline.config import PipelineConfig, load_document, pipeline_config
from streams.worker.pipeline.global_stage import SNAPSHOT_MAX_DECISIONS, GlobalStage
from streams.worker.pipeline.inputs import INPUTS, decode_input, parse_input
from streams.worker.pipeline.records import (
    Internal,
    InternalMessageError,
    Output,
    StateSnapshot,
    decode_internal,
)
from streams.worker.pipeline.stage1 import (
    InputStage,
    PositionsStage,
    QuotesStage,
    RoutingStage,
    service_alert,
)

__all__ = [
    "INPUTS",
    "SNAPSHOT_MAX_DECISIONS",
    "GlobalStage",
    "InputStage",
    "Internal",
    "InternalMessageError",
    "Output",
    "PipelineConfig",
    "PositionsStage",
    "QuotesStage",
    "RoutingStage",
    "StateSnapshot",
    "decode_input",
    "decode_internal",
    "load_document",
    "parse_input",
    "pipeline_config",
    "service_alert",
]
