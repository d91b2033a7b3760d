"""Worker pieces that need no broker: the bounded alert-id log both writers use, the writer that
skips alerts already in the log, the Faust wiring, and the log level of expected start-up states."""

from __future__ import annotations

from typing import Any

from schemas.codec import default_codec
from streams import events
from streams.worker.alert_ids import AlertIdLog
from streams.worker.outputs import OutputWriter
from streams.worker.pipeline import Output, service_alert

CODEC = default_codec()


def test_known_alert_ids_are_bounded_and_forget_the_oldest() -> None:
    """The set of alert ids already written keeps the newest ``capacity``, so memory stays
    bounded however long the alert log grows."""
    ids = AlertIdLog(capacity=3)
    assert [ids.add(f"a{i}") for i in range(5)] == [True] * 5
    assert list(ids) == ["a2", "a3", "a4"]
    assert ids.add("a3") is False, "already known: no growth"
    assert len(ids) == 3 and list(ids) == ["a2", "a3", "a4"]
    ids.replace(["x", "y", "z", "w"])  # read from the log's tail, oldest first
    assert list(ids) == ["y", "z", "w"] and "a4" not in ids
    ids.clear()
    assert not len(ids)


class Recorder:
    """Stands in for a BatchSender: records what is added."""

    def __init__(self) -> None:
        self.added: list[tuple[str, bytes, bytes | None]] = []

    async def add(self, topic: str, key: bytes, value: bytes | None, **_kw: Any) -> None:
        self.added.append((topic, key, value))


async def test_an_alert_whose_id_is_in_the_log_is_not_written_again() -> None:
    """Stage 1's service alerts and the global stage's alerts go through the same writer: an
    id in the writer's alert-id log (read from the log, or written before) is skipped; other
    outputs are always written."""
    writer = OutputWriter(CODEC, {"alerts": "p.alerts", "exposure": "p.exposure"})
    sender, ids = Recorder(), AlertIdLog()
    alert = service_alert(
        events.service_alert(
            severity="warning",
            category="system",
            title="Disk",
            message="90% full",
            source="AlertEngine",
        )
    )
    ids.replace(["20260119-103045-00000a"])  # already in the log
    in_log = Output("alerts", "20260119-103045-00000a", "Alert", alert.record)
    await writer.add(sender, [alert, in_log, alert], ids)  # type: ignore[arg-type]
    assert [(t, k) for t, k, _ in sender.added] == [("p.alerts", alert.key.encode())]
    assert CODEC.decode(sender.added[0][2] or b"").record == alert.record
    assert alert.key in ids
