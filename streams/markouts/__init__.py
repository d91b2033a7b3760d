"""Flow toxicity: markouts per trade, per account, per LP and per symbol and book, the toxic-flow
rule and routing advice. Pure (no I/O, no clock, no randomness): docs/markouts.md.

- :mod:`.stage`: ``MarkoutStage``, quotes + routing decisions -> ``TradeMarkout`` records and
  last-look samples, in event time (:mod:`.tape` keeps each symbol's quotes);
- :mod:`.usd`: ``quote_usd``, the USD conversion the stage is given;
- :mod:`.window`: rolling windows of trades with exact sums;
- :mod:`.accounts`, :mod:`.lps`, :mod:`.curves`: the aggregates (``AccountToxicity``,
  ``LpMarkout``, ``MarkoutCurve``); :mod:`.toxicity`: score, hysteresis, alerts, advice;
  :mod:`.boards`: ``MarkoutBoards``, all of them behind one interface;
- :mod:`.records`: the record shapes; :mod:`.config`: ``MarkoutConfig`` (``[markouts]``);
- what ``rtx-analytics markouts`` runs (its Kafka shell is :mod:`streams.worker.markouts`):
  :mod:`.partition` (``PartitionStage``: one input partition's stage behind an event-time
  :mod:`.merge`, with its offsets), :mod:`.hop` (the messages from the stages to the one boards
  stage), :mod:`.feed` (``BoardsFeed``: the boards fed those messages, their records to write).
"""
