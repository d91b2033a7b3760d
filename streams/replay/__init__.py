"""Analyst replay: the stored alerts or routing decisions of a time range, as rows.

Used by ``rtx-analytics replay`` and from notebooks::

    from streams import replay
    for alert in replay.records("alerts", "2026-01-19T08:00Z", "2026-01-19T09:00Z"):
        ...
    df = replay.dataframe("routing", "2026-01-19", "2026-01-20", symbol="EURUSD")

Kinds: ``alerts`` (the persisted alert log, Alert), ``alert-actions`` (the audit trail of what
desks and the notifier did with alerts, AlertAction; docs/workflow.md), ``routing`` (the
routing-decision input topic, RoutingDecision), ``routing-summaries`` (RoutingSummary records
of the routing-metrics topic; the decisions passed through beside them are skipped) and
``markouts`` (the trade markouts topic, TradeMarkout: one record per executed trade with its
markouts at each horizon, docs/markouts.md; Parquet keeps the per-horizon arrays as list
columns), ``exposure`` (ExposureChange), ``pnl`` (PnlChange, the broker's B-book P&L) and
``accounts`` (AccountRisk, each account's risk; tombstones of accounts with nothing left are
skipped): the day's charts, docs/pnl.md; their nested lines are JSON columns. Topic names follow
``RTX_TOPIC_PREFIX`` like everything else (``streams.topics``).

Time range: a record is in ``[start, end)`` when ``start <= its Kafka timestamp < end`` (start
inclusive, end exclusive, millisecond precision: Kafka's). For routing decisions the Kafka
timestamp is the decision's event time (the SDK sets it); for alerts it is when the worker wrote
the alert (its ``eventTime`` is the time of the cause, earlier); for a trade markout it is
when ``rtx-analytics markouts`` wrote it, its longest horizon after the fill (``eventTime``).
On every partition the start offset is the first with a timestamp >= start
(``offsets_for_times``) and the end offset the first with a timestamp >= end, or the high
watermark when the replay starts if there is none (or no end was given); records between those
offsets with a timestamp outside the range (producers' clocks are not ordered) are left out
too.

Filters (optional, case-insensitive, comma-separated values mean "any of"): for routing
decisions ``symbol`` is the ``symbol`` field and ``lp`` the ``lpSelected`` field, for trade
markouts the ``symbol`` and ``lpName`` fields; alerts have no
symbol or LP field, so ``symbol`` matches alerts that name it as a whole word in their title or
message, and ``lp`` alerts that name it in their title, message or source. Routing summaries,
alert actions, exposure, P&L and account risk are not per symbol or LP: a filter there is an
error.

Reading runs a Kafka consumer (no group, nothing committed) on a thread of its own with its own
event loop, so the iterator is synchronous and works inside Jupyter's running loop too. Messages
that cannot be decoded are counted (``Replay.stats``), reported to ``on_bad`` and skipped.

Exceptions::

    ReplayError            root; the message says what to fix
     +-- BadRequest        bad time, empty range, unknown kind, filter not available
     +-- TopicMissing      the topic does not exist (prefix? topics apply?)
     +-- BrokerUnreachable no broker answered (names KAFKA_BOOTSTRAP_SERVERS)
     +-- OutputError       the output file cannot be created or written (names it)
     +-- MissingExtra      (also an ImportError) pandas/pyarrow missing: install the analyst extra

Modules: ``request`` (kinds, times, filters), ``consumer`` (the Kafka consumer), ``reader``
(the offset plan and the rows), ``batches`` and ``decode`` (the fast paths), ``formats`` (rows as
JSON lines, CSV, Parquet), ``export`` (``rtx-analytics replay``), ``tail`` (``rtx-analytics
tail``) and ``cli`` (both commands' options).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from streams.replay.errors import (
    BadRequest,
    BrokerUnreachable,
    MissingExtra,
    OutputError,
    ReplayError,
    TopicMissing,
)
from streams.replay.export import output_format, run_cli
from streams.replay.formats import Row, need_extra, to_datetime
from streams.replay.reader import PartitionRange, Replay, ReplayStats
from streams.replay.request import KINDS, parse_time
from streams.settings import KafkaSettings

# --- notebook API ------------------------------------------------------------------------------


def records(
    kind: str,
    start: str | datetime,
    end: str | datetime | None = None,
    symbol: str | None = None,
    lp: str | None = None,
    settings: KafkaSettings | None = None,
) -> Iterator[Row]:
    """The records of ``kind`` with a Kafka timestamp in ``[start, end)`` as dicts: the decoded
    record with timestamps as aware UTC datetimes, plus ``partition``, ``offset`` and
    ``kafkaTime``. Synchronous (usable in Jupyter); undecodable messages are skipped and
    counted. Raises ReplayError subclasses for bad arguments, a missing topic or no broker."""
    replay = Replay(kind, start, end, symbol=symbol, lp=lp, settings=settings)
    stamps = [
        (c.name, 1 if c.kind == "ts_us" else 1000) for c in replay.columns if c.kind[:3] == "ts_"
    ]
    for rows in replay.batches():
        for row in rows:
            for name, unit in stamps:
                row[name] = to_datetime(row[name], unit)
            yield row


def dataframe(
    kind: str,
    start: str | datetime,
    end: str | datetime | None = None,
    symbol: str | None = None,
    lp: str | None = None,
    settings: KafkaSettings | None = None,
) -> Any:
    """``records(...)`` as a pandas DataFrame (columns in schema order, then ``partition``,
    ``offset``, ``kafkaTime``; timestamps ``datetime64[us, UTC]``). Needs the analyst extra."""
    pd = need_extra("pandas")
    replay = Replay(kind, start, end, symbol=symbol, lp=lp, settings=settings)
    rows: list[Row] = []
    for batch in replay.batches():
        rows.extend(batch)
    names = [c.name for c in replay.columns]
    frame = pd.DataFrame.from_records(rows, columns=names)
    for c in replay.columns:
        if c.kind in ("ts_us", "ts_ms"):
            unit = "us" if c.kind == "ts_us" else "ms"
            frame[c.name] = pd.to_datetime(frame[c.name], unit=unit, utc=True).astype(
                "datetime64[us, UTC]"
            )
    return frame


__all__ = [
    "KINDS",
    "BadRequest",
    "BrokerUnreachable",
    "MissingExtra",
    "OutputError",
    "PartitionRange",
    "Replay",
    "ReplayError",
    "ReplayStats",
    "TopicMissing",
    "dataframe",
    "output_format",
    "parse_time",
    "records",
    "run_cli",
]
