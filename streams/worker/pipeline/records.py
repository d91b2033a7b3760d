"""The records the worker's stages exchange (pure: no I/O).

- :class:`Output`: a derived record for an output topic (exposure, alerts, routing, LP metrics);
- :class:`Internal`: a message for the one-partition internal topic, from stage 1 to the global
  stage (or the global stage's own snapshot);
- :class:`StateSnapshot`: the global stage's snapshot, typed.

Internal messages are JSON objects with a kind ``k``. Their Kafka key starts with that kind, so
the compacted internal topic keeps the latest message per subject, and a reader tells the kinds
apart by key, without parsing (or searching) a value that may be half a megabyte:

========================  ======  ==============================================================
key                       ``k``   what
========================  ======  ==============================================================
``pos:<p>``               pos     the partial of positions partition p (stage 1)
``mids:<p>``              mids    the latest mid per symbol of quotes partition p (stage 1)
``route:<p>:<w>:<seq>``   route   a delta of routing window w of partition p (stage 1)
``dec:<lp>``              dec     the digest of an A-book decision routed to an LP (stage 1)
``lps:<lp>``              lps     an LP status event (stage 1)
``svc:<eventId>``         svc     a service alert (accepted; stage 1 writes them to the log itself)
``state``                 state   the global stage's snapshot (LP windows, alert rule state)
========================  ======  ==============================================================

Errors: :class:`InternalMessageError` (a :class:`streams.errors.StateError`, so a
``ValueError``) for an internal message that does not parse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from streams.errors import StateError

Record = dict[str, Any]

SNAPSHOT_KEY: Final = b"state"
"""The Kafka key of the global stage's snapshots."""
DECISION_KEY_PREFIX: Final = b"dec:"
"""The Kafka key prefix of the digests of A-book decisions."""


class InternalMessageError(StateError):
    """A message of the internal topic is not a JSON object with a kind, or a snapshot lacks
    a part."""


@dataclass(frozen=True, slots=True)
class Output:
    """A derived record to write: topic (logical name), key, Avro schema and record."""

    topic: str
    key: str
    schema: str
    record: Record


@dataclass(frozen=True, slots=True)
class Internal:
    """A message for the internal topic."""

    key: str
    value: Record

    def encode(self) -> bytes:
        return json.dumps(self.value, separators=(",", ":"), sort_keys=True).encode()


def decode_internal(data: bytes) -> Record:
    """An internal message's value; :class:`InternalMessageError` if it is not one."""
    try:
        value = json.loads(data)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InternalMessageError(f"internal message is not JSON: {exc}") from exc
    if not isinstance(value, dict) or "k" not in value:
        raise InternalMessageError("internal message without a kind")
    return value


def is_snapshot(key: bytes | None) -> bool:
    """Whether an internal-topic key is the global stage's snapshot."""
    return key == SNAPSHOT_KEY


def is_decision(key: bytes | None) -> bool:
    """Whether an internal-topic key is an A-book decision digest."""
    return key is not None and key.startswith(DECISION_KEY_PREFIX)


# --- the messages stage 1 writes ----------------------------------------------------------------


def positions_message(partition: int, event_time: int, partial: Record) -> Internal:
    return Internal(
        f"pos:{partition}", {"k": "pos", "p": partition, "t": event_time, "partial": partial}
    )


def mids_message(partition: int, event_time: int, mids: Mapping[str, float]) -> Internal:
    return Internal(
        f"mids:{partition}", {"k": "mids", "p": partition, "t": event_time, "mids": mids}
    )


def route_message(key: str, partition: int, window: int, watermark: int, partial: Any) -> Internal:
    return Internal(
        key,
        {"k": "route", "id": key, "p": partition, "w": window, "wm": watermark, "partial": partial},
    )


def decision_message(lp: str, digest: Record) -> Internal:
    return Internal(f"dec:{lp}", {"k": "dec", "r": digest})


def lp_status_message(record: Mapping[str, Any]) -> Internal:
    return Internal(f"lps:{record['lpName']}", {"k": "lps", "r": record})


def service_alert_message(record: Mapping[str, Any]) -> Internal:
    return Internal(f"svc:{record['eventId']}", {"k": "svc", "r": record})


# --- the global stage's snapshot ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """The global stage's state that the internal topic's other messages cannot rebuild: the LP
    tracker's (with its decision windows bounded) and the alert rules' state, as of the latest
    event time ``event_time``."""

    event_time: int
    lp: Record
    rules: Record

    def message(self) -> Internal:
        return Internal(
            SNAPSHOT_KEY.decode(),
            {"k": "state", "t": self.event_time, "lp": self.lp, "rules": self.rules},
        )

    @classmethod
    def decode(cls, data: bytes) -> StateSnapshot:
        """A snapshot from its encoded message; :class:`InternalMessageError` if it is not one
        (the LP and rule parts are checked when they are restored)."""
        value = decode_internal(data)
        t, lp, rules = value.get("t", 0), value.get("lp"), value.get("rules")
        if value["k"] != "state" or type(t) is not int:
            raise InternalMessageError("a state snapshot needs k=state and an integer t")
        if not isinstance(lp, dict) or not isinstance(rules, dict):
            raise InternalMessageError("a state snapshot needs the objects lp and rules")
        return cls(t, lp, rules)
