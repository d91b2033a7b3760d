"""Routing metrics: event-time windows of routing decisions per partition, merged into
``routing-summary`` records. Pure (docs/routing-and-lp.md).

- :mod:`.partial`: one window's mergeable partial (counts, volume, histograms);
- :mod:`.windows`: ``PartitionWindows`` (stage 1), ``WindowMerger`` (global stage).
"""
