"""Prometheus metrics of ``rtx-analytics markouts`` (RTX_MARKOUTS_METRICS_PORT, default 9465).

Labels are topics, counter names, levels and parts (``stage``, ``boards``): never an account,
so the number of series does not grow with the clients.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("rtx_markouts_events_total", "Input records read", ["topic"])
INVALID = Counter(
    "rtx_markouts_invalid_total",
    "Input records that did not decode or validate (skipped; the worker dead-letters them)",
    ["topic"],
)
WRITTEN = Counter("rtx_markouts_written_total", "Records written", ["topic"])
REWRITES_SKIPPED = Counter(
    "rtx_markouts_rewrites_skipped_total",
    "Trade markouts settled again after a restart and not written (already in the topic)",
)
ALERTS_SKIPPED = Counter(
    "rtx_markouts_alerts_skipped_total",
    "Toxic-flow alerts raised again after a restart and not written (already in the log)",
)
STAGE = Counter(
    "rtx_markouts_stage_total",
    "Markout stage counters (docs/markouts.md): late and duplicate inputs, markouts and "
    "last-look samples by status, unknown USD rates",
    ["counter"],
)
BOARDS = Counter(
    "rtx_markouts_boards_total",
    "Boards counters: markouts without an account, items outside their windows, closes "
    "without a known opening",
    ["counter"],
)
MERGE_FORCED = Counter(
    "rtx_markouts_merge_forced_total",
    "Records released by the event-time merge while another source was still behind",
)
PENDING_TRADES = Gauge("rtx_markouts_pending_trades", "Trades waiting for their horizons")
QUOTES_KEPT = Gauge("rtx_markouts_quotes_kept", "Quotes the stages keep for pending trades")
ACCOUNTS = Gauge("rtx_markouts_accounts", "Scored accounts per toxic-flow level", ["level"])
PARTITIONS = Gauge("rtx_markouts_partitions", "Input partitions this process marks out")
LAG = Gauge(
    "rtx_markouts_consumer_lag", "Records behind the end of the log", ["topic", "partition"]
)
SNAPSHOT_BYTES = Gauge(
    "rtx_markouts_snapshot_bytes", "Size of the last snapshot written (compressed)", ["part"]
)
SNAPSHOTS_TOO_LARGE = Counter(
    "rtx_markouts_snapshots_too_large_total", "Snapshots not written: above 64 MiB", ["part"]
)
SNAPSHOT_SECONDS = Histogram(
    "rtx_markouts_snapshot_seconds",
    "Time to encode and write a snapshot",
    ["part"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
