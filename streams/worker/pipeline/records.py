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
``acct:<p>:<account>``    acct    the sums of one account in positions partition p (stage 1);
                                  an empty one, then a tombstone, when it has nothing left
``mids:<p>``              mids    the latest mid, bid and ask per symbol of quotes partition p
``route:<p>:<w>:<seq>``   route   a delta of routing window w of partition p (stage 1)
``dec:<lp>``              dec     the digest of an A-book decision routed to an LP (stage 1)
``lps:<lp>``              lps     an LP status event (stage 1)
``svc:<eventId>``         svc     a service alert (accepted; stage 1 writes them to the log itself)
``state``                 state   the global stage's snapshot (LP windows, alert rule state,
                                  the internal offset it covers, where its risk state is)
``state:risk:<s>:<i>``    rstate  piece i of the risk state of the snapshot in slot s (0, 1)
========================  ======  ==============================================================

Errors: :class:`InternalMessageError` (a :class:`streams.errors.StateError`, so a
``ValueError``) for an internal message that does not parse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

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
    """A derived record to write: topic (logical name), key, Avro schema and record (None: a
    tombstone of the key, on a compacted topic whose subject is gone)."""

    topic: str
    key: str
    schema: str
    record: Record | None


@dataclass(frozen=True, slots=True)
class Internal:
    """A message for the internal topic. ``then_delete``: a tombstone of its key follows it, so
    the compacted topic forgets the subject once the global stage has read that it is gone."""

    key: str
    value: Record
    then_delete: bool = False

    def encode(self) -> bytes:
        # orjson: about a tenth of the json module's cost (every partial of every batch goes
        # through here and through decode_internal); keys sorted so equal values encode
        # equally. The values hold no NaN (inputs are validated finite).
        return orjson.dumps(self.value, option=orjson.OPT_SORT_KEYS)


def decode_internal(data: bytes) -> Record:
    """An internal message's value; :class:`InternalMessageError` if it is not one."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:  # a ValueError
        raise InternalMessageError(f"internal message is not JSON: {exc}") from exc
    if not isinstance(value, dict) or "k" not in value:
        raise InternalMessageError("internal message without a kind")
    return value


def is_snapshot(key: bytes | None) -> bool:
    """Whether an internal-topic key is the global stage's snapshot."""
    return key == SNAPSHOT_KEY


def is_state(key: bytes | None) -> bool:
    """Whether an internal-topic key is a snapshot or a piece of one (read only at start)."""
    return key is not None and key[:5] == SNAPSHOT_KEY


def is_decision(key: bytes | None) -> bool:
    """Whether an internal-topic key is an A-book decision digest."""
    return key is not None and key.startswith(DECISION_KEY_PREFIX)


# --- the messages stage 1 writes ----------------------------------------------------------------


def positions_message(partition: int, event_time: int, partial: Record) -> Internal:
    return Internal(
        f"pos:{partition}", {"k": "pos", "p": partition, "t": event_time, "partial": partial}
    )


def mids_message(
    partition: int,
    event_time: int,
    mids: Mapping[str, float],
    quotes: Mapping[str, tuple[float, float]] | None = None,
) -> Internal:
    value: Record = {"k": "mids", "p": partition, "t": event_time, "mids": mids}
    if quotes is not None:  # bid and ask, for the P&L marks (a client long closes at the bid)
        value["q"] = {symbol: list(bid_ask) for symbol, bid_ask in quotes.items()}
    return Internal(f"mids:{partition}", value)


def account_message(
    partition: int, account: str, event_time: int, partial: Record, live: object
) -> list[Internal]:
    """The sums of one account in positions partition p (``live``: whether it has anything
    there); an empty one is followed by a tombstone of its key."""
    value = {"k": "acct", "p": partition, "a": account, "t": event_time, "partial": partial}
    return [Internal(f"acct:{partition}:{account}", value, then_delete=not live)]


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
    event time ``event_time``; ``offset``: every internal message below it was applied (None
    from a stage that did not say); ``risk``: where the risk state's pieces are
    (:func:`risk_state_messages`), None without one."""

    event_time: int
    lp: Record
    rules: Record
    offset: int | None = None
    risk: Record | None = None

    def message(self) -> Internal:
        value: Record = {"k": "state", "t": self.event_time, "lp": self.lp, "rules": self.rules}
        if self.offset is not None:
            value["o"] = self.offset
        if self.risk is not None:
            value["risk"] = self.risk
        return Internal(SNAPSHOT_KEY.decode(), value)

    @classmethod
    def decode(cls, data: bytes) -> StateSnapshot:
        """A snapshot from its encoded message; :class:`InternalMessageError` if it is not one
        (the LP, rule and risk parts are checked when they are restored)."""
        value = decode_internal(data)
        t, lp, rules = value.get("t", 0), value.get("lp"), value.get("rules")
        offset, risk = value.get("o"), value.get("risk")
        if value["k"] != "state" or type(t) is not int:
            raise InternalMessageError("a state snapshot needs k=state and an integer t")
        if not isinstance(lp, dict) or not isinstance(rules, dict):
            raise InternalMessageError("a state snapshot needs the objects lp and rules")
        if (offset is not None and type(offset) is not int) or (
            risk is not None and not isinstance(risk, dict)
        ):
            raise InternalMessageError("a state snapshot's o is an int and its risk an object")
        return cls(t, lp, rules, offset, risk)


# The risk state (every account's realised P&L today, at its rates) can pass the broker's 1 MB
# message limit: it is written as pieces of its JSON text, each a message of its own, in one
# of two slots by turns, so a snapshot never overwrites the pieces the latest complete one
# refers to (a crash between the pieces and the snapshot leaves the previous one whole).
RISK_PIECE_CHARS: Final = 300_000  # JSON-escaped at most ~2x: under MAX_INTERNAL_BYTES
RISK_PIECE_PREFIX: Final = "state:risk:"


def risk_state_messages(
    state: Record, slot: int, snapshot_id: str, piece_chars: int = RISK_PIECE_CHARS
) -> tuple[list[Internal], Record]:
    """The pieces of ``state`` for slot ``slot`` and the reference a snapshot keeps to them."""
    text = json.dumps(state, separators=(",", ":"), sort_keys=True)
    pieces = [text[i : i + piece_chars] for i in range(0, len(text), piece_chars)] or [""]
    messages = [
        Internal(
            f"{RISK_PIECE_PREFIX}{slot}:{i}",
            {"k": "rstate", "id": snapshot_id, "i": i, "n": len(pieces), "text": piece},
        )
        for i, piece in enumerate(pieces)
    ]
    return messages, {"slot": slot, "id": snapshot_id, "pieces": len(pieces)}


def risk_state_from(ref: Mapping[str, Any], pieces: Mapping[str, bytes]) -> Record:
    """The risk state a snapshot refers to, from the latest value of each piece's key;
    :class:`InternalMessageError` when a piece is missing or of another snapshot."""
    try:
        slot, snapshot_id, count = int(ref["slot"]), str(ref["id"]), int(ref["pieces"])
        texts = []
        for i in range(count):
            value = decode_internal(pieces[f"{RISK_PIECE_PREFIX}{slot}:{i}"])
            if value.get("id") != snapshot_id or value.get("i") != i:
                raise InternalMessageError(f"risk state piece {i} is of another snapshot")
            texts.append(str(value["text"]))
        state = json.loads("".join(texts))
    except (KeyError, TypeError, ValueError) as exc:
        raise InternalMessageError(f"risk state of the snapshot: {exc!r:.200}") from exc
    if not isinstance(state, dict):
        raise InternalMessageError("the risk state is not an object")
    return state
