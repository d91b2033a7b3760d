"""Worker pieces that need no broker."""

from __future__ import annotations

import pytest

from streams.settings import KafkaSettings
from streams.worker import app as worker_app
from streams.worker.pipeline import PipelineConfig
from streams.worker.settings import WorkerSettings


def test_known_alert_ids_are_bounded_and_forget_the_oldest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The set of alert ids already written keeps the newest KNOWN_ALERT_IDS, so memory stays
    bounded however long the alert log grows."""
    monkeypatch.setattr(worker_app, "KNOWN_ALERT_IDS", 3)
    w = worker_app.Worker(KafkaSettings(), WorkerSettings(), PipelineConfig())
    for i in range(5):
        w._remember_alert(f"a{i}")  # noqa: SLF001
    assert list(w.written_alerts) == ["a2", "a3", "a4"]
    w._remember_alert("a3")  # noqa: SLF001 - already known: no growth
    assert len(w.written_alerts) == 3
