"""The markouts process's Prometheus metrics: every one named ``rtx_markouts_*``, and no label
that could name an account (the number of series must not grow with the clients)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from streams.worker.markouts import metrics

ALLOWED_LABELS = {"topic", "partition", "counter", "level", "part"}


def test_no_metric_has_a_label_that_could_name_an_account() -> None:
    found = [
        value for value in vars(metrics).values() if isinstance(value, Counter | Gauge | Histogram)
    ]
    assert len(found) >= 10
    for metric in found:
        assert metric._name.startswith("rtx_markouts_"), metric._name  # noqa: SLF001
        assert set(metric._labelnames) <= ALLOWED_LABELS, metric._name  # noqa: SLF001
