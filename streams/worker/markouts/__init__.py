"""``rtx-analytics markouts``: the Kafka shell of the markout stages and boards
(:mod:`streams.markouts`, pure), a process of its own beside the worker.

Two loops, like the worker's stage 1 and global stage (docs/markouts.md, "Running it"):

- :mod:`.stage_loop`: consumer group ``<app id>.markouts.stage`` over quotes, routing decisions
  and positions; a :class:`~streams.markouts.partition.PartitionStage` per input partition; any
  number of processes split the partitions. Writes the trade markouts topic and the internal
  topic (``internal.markouts``, one partition) the boards read;
- :mod:`.boards_loop`: consumer group ``<app id>.markouts.boards`` over that internal topic, so
  exactly one process runs the :class:`~streams.markouts.feed.BoardsFeed`; writes account
  toxicity, LP markouts, curves, routing advice and toxic-flow alerts (to the alert log).

Both snapshot their state with the offsets it covers to ``internal.markouts.state``
(:mod:`.snapshots`), only after the outputs before it are acknowledged, and restore from it when
a partition is assigned: a restart or ``kill -9`` re-reads a little input and writes nothing
twice (:mod:`.stage_loop`, :mod:`.boards_loop`). :mod:`.run` is the process, :mod:`.metrics`
its Prometheus metrics, :mod:`.settings` its variables.
"""
