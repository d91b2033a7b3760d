"""A session context with alert actions on (an ActionDesk over an AlertLog), whose writer
records what it is asked to write, for the core's action tests; and the action frames."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from streams.workflow import Workflow
from tests.helpers.bridge import T0_US, alert_record, context, settings
from ws_bridge.core.access import ChannelPolicy
from ws_bridge.core.actions import Accepted, ActionDesk, ActionPolicy, Responder
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.core.fanout import Fanout
from ws_bridge.core.session import SessionContext

EPOCH = "epoch-1"


@dataclass
class Desk:
    """A desk, its alert log, and what its writer was asked to write."""

    desk: ActionDesk
    log: AlertLog
    ctx: SessionContext
    written: list[tuple[Accepted, Responder]] = field(default_factory=list)
    next_seq: int = 0

    def raise_alert(self, n: int = 0, **overrides: Any) -> str:
        """Append an alert at seq n (the log and the desk, as the shell does); its id."""
        record = alert_record(n, **overrides)
        self.log.append(n, record)
        self.desk.on_alert(n, record, T0_US)
        return str(record["id"])

    def resolve_alert(self, seq: int, alert_id: str) -> None:
        record = alert_record(seq, state="RESOLVED", resolvesId=alert_id, severity="info")
        self.log.append(seq, record)
        self.desk.on_alert(seq, record, T0_US)

    def confirm_all(self, now: float) -> list[int]:
        """The broker acknowledged every write: apply each, answer each session."""
        seqs = []
        for accepted, responder in self.written:
            seq, self.next_seq = self.next_seq, self.next_seq + 1
            self.desk.on_action(seq, accepted.record)
            responder.action_confirmed(accepted, seq, now)
            seqs.append(seq)
        self.written.clear()
        return seqs


def desk_context(
    *, policy: ActionPolicy | None = None, channels: ChannelPolicy | None = None, **s: Any
) -> Desk:
    log = AlertLog(EPOCH, capacity=100)
    desk = ActionDesk(policy or ActionPolicy(), Workflow(), lambda: log.epoch)
    fanout = Fanout()
    base = context(settings(**s), log=log, policy=channels, fanout=fanout)
    ctx = SessionContext(
        base.settings,
        base.verifier,
        base.channels,
        lambda chans: [*fanout.snapshot(chans), *desk.snapshot(chans)],
        log,
        desk,
    )
    found = Desk(desk, log, ctx)
    desk.writer = lambda accepted, responder: found.written.append((accepted, responder))
    return found


def act(action: str, alert_id: str, rid: str | None = "a1", **fields: Any) -> str:
    """An action frame."""
    frame: dict[str, Any] = {"action": action, "alertId": alert_id, **fields}
    if rid is not None:
        frame["id"] = rid
    return json.dumps(frame)
