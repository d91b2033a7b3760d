"""The workflow of many alerts, fed event by event in whatever order they are read: each alert's
events are kept as a set and its state is the :func:`~streams.workflow.fold.fold` of that set, so
the order of arrival and redeliveries never change a state (the property tests check it).

Readers (the bridge, the notifier) feed every alert-log entry (:meth:`Workflow.add_alert`) and
every action (:meth:`Workflow.add_action`) and get back the ids of the alerts whose state changed.
An action may arrive before its alert (the two topics are read independently): it waits in the
alert's bucket until the RAISED entry comes. Memory is bounded: past ``capacity`` alerts, the
bucket first seen longest ago goes (its later events start a new, partial bucket, which has no
state until a RAISED entry arrives again).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

from streams.workflow.events import validate_action
from streams.workflow.fold import fold
from streams.workflow.model import ActionEntry, AlertState, LogEntry


class _Bucket:
    __slots__ = ("actions", "raised", "resolutions", "state")

    def __init__(self) -> None:
        self.raised: LogEntry | None = None
        self.resolutions: dict[int, LogEntry] = {}
        self.actions: dict[str, ActionEntry] = {}  # by actionId, lowest seq
        self.state: AlertState | None = None

    def refold(self) -> bool:
        """Recompute the state; whether it changed."""
        if self.raised is None:
            return False
        state = fold(self.raised, self.resolutions.values(), self.actions.values())
        changed = state != self.state
        self.state = state
        return changed


class Workflow:
    """Alert states from alert-log entries and actions (see the module docstring)."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.last_alert_seq = -1  # the highest alert-log seq added: a writer's ``logSeq``
        self.last_action_seq = -1
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._action_ids: dict[str, tuple[int, str]] = {}  # actionId -> (seq, alertId)

    def __len__(self) -> int:
        return len(self._buckets)

    def state(self, alert_id: str) -> AlertState | None:
        bucket = self._buckets.get(alert_id)
        return None if bucket is None else bucket.state

    def states(self) -> Iterator[AlertState]:
        """Every known state, the alert first seen longest ago first."""
        for bucket in self._buckets.values():
            if bucket.state is not None:
                yield bucket.state

    def touched_since(self, seq: int) -> list[str]:
        """The alerts (with a state) that an action after ``seq`` changed or named, in the order
        of their newest action: what a reader that saw every action up to ``seq`` lacks."""
        found = [
            (state.action_seq, alert_id)
            for alert_id, bucket in self._buckets.items()
            if (state := bucket.state) is not None
            and state.action_seq is not None
            and state.action_seq > seq
        ]
        return [alert_id for _, alert_id in sorted(found)]

    def action_seq(self, action_id: str) -> int | None:
        """The seq an action id was written at, if it was (a retried action is not written
        again: its first write is its answer)."""
        held = self._action_ids.get(action_id)
        return None if held is None else held[0]

    def add_alert(
        self, seq: int, record: Mapping[str, Any], logged_us: int | None = None
    ) -> tuple[str, ...]:
        """An alert-log entry at ``seq``; the ids of the alerts whose state changed."""
        self.last_alert_seq = max(self.last_alert_seq, seq)
        entry = LogEntry(seq, record, logged_us)
        if record.get("state", "RAISED") == "RESOLVED":
            target = record.get("resolvesId")
            if not isinstance(target, str):
                return ()
            bucket = self._bucket(target)
            if seq in bucket.resolutions:
                return ()
            bucket.resolutions[seq] = entry
        else:
            target = str(record["id"])
            bucket = self._bucket(target)
            if bucket.raised is not None and bucket.raised.seq <= seq:
                return ()  # a redelivery, or the same id written again later
            bucket.raised = entry
        return (target,) if bucket.refold() else ()

    def add_action(self, seq: int, record: Mapping[str, Any]) -> tuple[str, ...]:
        """An AlertAction at ``seq``; the ids of the alerts whose state changed. Raises
        :class:`~streams.workflow.events.InvalidAction` for a malformed record."""
        validate_action(record)
        self.last_action_seq = max(self.last_action_seq, seq)
        action_id, target = str(record["actionId"]), str(record["alertId"])
        held = self._action_ids.get(action_id)
        if held is not None and held[0] <= seq:
            return ()
        changed: list[str] = []
        if held is not None and held[1] != target and held[1] in self._buckets:
            # The id was first read at a higher seq for another alert: the lowest seq wins.
            other = self._buckets[held[1]]
            other.actions.pop(action_id, None)
            if other.refold():
                changed.append(held[1])
        self._action_ids[action_id] = (seq, target)
        bucket = self._bucket(target)
        bucket.actions[action_id] = ActionEntry(seq, record)
        if bucket.refold():
            changed.append(target)
        return tuple(changed)

    def _bucket(self, alert_id: str) -> _Bucket:
        bucket = self._buckets.get(alert_id)
        if bucket is None:
            bucket = self._buckets[alert_id] = _Bucket()
            while len(self._buckets) > self.capacity:
                self._forget(next(iter(self._buckets)))
        return bucket

    def _forget(self, alert_id: str) -> None:
        bucket = self._buckets.pop(alert_id)
        for action_id in bucket.actions:
            self._action_ids.pop(action_id, None)
