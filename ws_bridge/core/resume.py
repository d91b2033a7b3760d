"""One session's position in the alert log: resume cursor, seam floor, time-range replay.

``subscribe`` with ``since``/``sinceTime`` starts a *cursor* over the
:class:`~ws_bridge.core.alertlog.AlertLog`. While it runs, live alerts are skipped: each was
appended
to the log before it was dispatched, so the cursor reads it there. When the cursor reaches the end
of the log it stops, and the *floor* (the last seq delivered) takes over: live alerts with
``seq <= floor`` are skipped. So the seam between replay and live has no duplicate and no gap.
The floor also drops a Kafka redelivery of an alert already sent.

The cursor and a replay job move entries into the outbox only while it has room, so a long
replay is paced by the client's reading speed instead of overflowing its queue; anything evicted
from the history before the cursor read it is reported in a ``gap`` message.

With alert actions on, each resumed or replayed alert is followed by its alert's current
``alert-state`` (``states``), so a client that catches up also has every state it shows; and a
subscribe with ``actionsSince`` queues the states of the alerts actions changed since
(:meth:`AlertFeed.resync`), moved into the outbox with room like the resumed alerts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ws_bridge.core.alertlog import AlertEntry, AlertLog
from ws_bridge.core.outbox import Outbox
from ws_bridge.core.protocol import (
    Encoded,
    Message,
    RequestId,
    Subscribe,
    encode,
    replay_done_message,
)


class States(Protocol):
    """Where the alert states come from (:class:`ws_bridge.core.actions.ActionDesk`)."""

    def state_after(self, item: Encoded) -> Encoded | None:
        """The ``alert-state`` to send after an ``alert`` message (None: none)."""

    def state_message(self, alert_id: str) -> Encoded | None:
        """An alert's current ``alert-state`` (None: none)."""


@dataclass(slots=True)
class ReplayJob:
    entries: list[AlertEntry]
    truncated: bool
    complete: bool
    request_id: RequestId | None
    index: int = 0
    queued: int = 0
    sent: int = 0
    dropped: int = 0


class AlertFeed:
    """The alert bookkeeping of one session."""

    def __init__(self, log: AlertLog | None, states: States | None = None) -> None:
        self.log = log
        self.states = states
        self.resyncing: deque[str] = deque()  # alerts whose states are still to send
        self.cursor: tuple[str, int] | None = None  # (epoch, last seq read) while resuming
        self.floor: tuple[str, int] | None = None  # (epoch, last alert seq delivered)
        self.job: ReplayJob | None = None

    @property
    def busy(self) -> bool:
        return self.cursor is not None or self.job is not None or bool(self.resyncing)

    def resync(self, alert_ids: Iterable[str]) -> None:
        """Send these alerts' current states (a client's ``actionsSince``), paced by room."""
        self.resyncing = deque(alert_ids)

    def start(self, cmd: Subscribe) -> dict[str, Any]:
        """Position the cursor for ``cmd.since``/``cmd.since_time``; the ``subscribed`` fields."""
        log = self.log
        if log is None:
            self.cursor = None
            return {"recovered": False, "epoch": None, "resumeAfter": None, "lastSeq": None}
        if cmd.since is not None:
            same_log = cmd.epoch is None or cmd.epoch == log.epoch
            recovered = same_log and log.holds_after(cmd.since)
            position = cmd.since if recovered else log.start_seq - 1
        else:
            after_us = cmd.since_time_us
            assert after_us is not None  # noqa: S101 - Subscribe guarantees one of the two
            position, recovered = log.position_after_time(after_us)
        self.cursor = self.floor = (log.epoch, position)
        return {
            "recovered": recovered,
            "epoch": log.epoch,
            "resumeAfter": position,
            "lastSeq": log.last_seq,
        }

    def stop(self) -> None:
        """The client unsubscribed from alerts (a running time-range replay goes on)."""
        self.cursor = self.floor = None

    def wants(self, item: Encoded) -> bool:
        """Whether a live alert is new to this session (no state change)."""
        if item.seq is None:
            return True
        if self.cursor is not None:
            return False
        floor = self.floor
        return floor is None or floor[0] != item.epoch or item.seq > floor[1]

    def take_live(self, item: Encoded) -> bool:
        """:meth:`wants`, and if so, move the floor to it."""
        if not self.wants(item):
            return False
        if item.seq is not None:
            self.floor = (item.epoch or "", item.seq)
        return True

    def start_replay(
        self, from_us: int, to_us: int | None, limit: int, request_id: RequestId | None
    ) -> None:
        assert self.log is not None  # noqa: S101 - the session checks first
        entries, truncated, complete = self.log.range(from_us, to_us, limit)
        self.job = ReplayJob(entries, truncated, complete, request_id)

    def sent(self, items: Iterable[Encoded]) -> None:
        if self.job is not None:
            count = sum(1 for item in items if item.replay)
            self.job.sent += count
            self.job.queued -= count

    def dropped(self, items: Iterable[Encoded]) -> None:
        if self.job is not None:
            count = sum(1 for item in items if item.replay)
            self.job.dropped += count
            self.job.queued -= count

    def pump(
        self,
        outbox: Outbox,
        push: Callable[[Encoded], None],
        now: float,
        on_gap: Callable[[], None],
    ) -> Message | None:
        """Move entries into free outbox room; returns ``replay-done`` when a job finishes."""
        log = self.log
        while self.cursor is not None:
            epoch, last = self.cursor
            if log is None or log.epoch != epoch:  # the log was recreated under us
                self.cursor = self.floor = None
                break
            if last + 1 < log.start_seq:  # evicted from the history before we read it
                if not outbox.in_burst:
                    on_gap()
                first, last = last + 1, log.start_seq - 1
                outbox.record_gap(
                    "alerts", last - first + 1, first_seq=first, last_seq=last, epoch=epoch
                )
                self.cursor = self.floor = (epoch, last)
            entry = log.after(last)
            if entry is None:
                self.cursor = None
            elif _has_room(outbox, batch := self._with_state(entry.encoded)) or not outbox:
                self.cursor = self.floor = (epoch, entry.seq)
                for item in batch:  # alone too big for the outbox: dropped and reported
                    push(item)
            else:
                break
        self._pump_resync(outbox, push)
        return self._pump_job(outbox, push, now)

    def _pump_resync(self, outbox: Outbox, push: Callable[[Encoded], None]) -> None:
        while self.resyncing and self.states is not None:
            state = self.states.state_message(self.resyncing[0])
            if state is not None and not _has_room(outbox, [state]) and outbox:
                return
            self.resyncing.popleft()
            if state is not None:
                push(state)

    def _with_state(self, item: Encoded) -> list[Encoded]:
        """``item``, then its alert's state when there is one."""
        state = None if self.states is None else self.states.state_after(item)
        return [item] if state is None else [item, state]

    def _pump_job(
        self, outbox: Outbox, push: Callable[[Encoded], None], now: float
    ) -> Message | None:
        job = self.job
        if job is None:
            return None
        while job.index < len(job.entries):
            item = encode(job.entries[job.index].encoded.message, replay=True)
            batch = self._with_state(item)
            if not _has_room(outbox, batch) and (outbox or job.queued):
                break
            job.index += 1
            job.queued += 1
            for queued in batch:
                push(queued)
        if job.index < len(job.entries) or job.queued > 0:
            return None
        self.job = None
        return replay_done_message(
            now=now,
            count=job.sent,
            dropped=job.dropped,
            truncated=job.truncated,
            complete=job.complete,
            request_id=job.request_id,
        )


def _has_room(outbox: Outbox, items: list[Encoded]) -> bool:
    """Whether ``items`` fit in ``outbox`` together, without dropping anything."""
    return (
        len(outbox) + len(items) <= outbox.max_messages
        and outbox.nbytes + sum(item.nbytes for item in items) <= outbox.max_bytes
    )
