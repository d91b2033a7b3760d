"""The ``AlertAction`` event, described once: its fields (in the ``.avsc`` order), the builder and
the checks. ``schemas/avro/AlertAction.avsc`` stays the wire contract; a test checks that this
description and that file agree (names, order, Avro types, defaults).

An action is either a desk's (:data:`DESK_ACTIONS`: acknowledge, assign, comment, snooze, resolve,
reopen), accepted by the bridge for a user whose roles allow it, or the system's
(:data:`SYSTEM_ACTIONS`: escalate, wake), written by ``rtx-analytics notify`` as user
:data:`SYSTEM_USER`. Which fields each needs is :data:`NEEDS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from streams.errors import StreamsError

DESK_ACTIONS: Final = ("acknowledge", "assign", "comment", "snooze", "resolve", "reopen")
SYSTEM_ACTIONS: Final = ("escalate", "wake")
ACTIONS: Final = DESK_ACTIONS + SYSTEM_ACTIONS
SYSTEM_USER: Final = "system"

NOTE_MAX: Final = 500  # characters of a note, a comment or a resolve's reason
ACTION_ID_MAX: Final = 64  # an action id is the client's idempotency key (a UUID fits)
NAME_MAX: Final = 128  # user names, role names, alert ids, epochs
ROLES_MAX: Final = 32

# What each action needs besides the common fields; a field not named here must be null.
NEEDS: Final[dict[str, frozenset[str]]] = {
    "acknowledge": frozenset(),
    "assign": frozenset({"assignee"}),
    "comment": frozenset({"note"}),
    "snooze": frozenset({"until"}),
    "resolve": frozenset({"note"}),
    "reopen": frozenset(),
    "escalate": frozenset({"level"}),
    "wake": frozenset({"refersTo"}),
}
OPTIONAL_NOTE: Final = frozenset({"acknowledge", "assign", "snooze", "reopen"})

TIMESTAMP_MICROS: Final = {"type": "long", "logicalType": "timestamp-micros"}
ACTION_ENUM: Final = {"type": "enum", "name": "AlertActionType", "symbols": list(ACTIONS)}


@dataclass(frozen=True, slots=True)
class Field:
    """One field of the record: its name, its Avro type as the ``.avsc`` writes it (without
    docs), and its default (``REQUIRED``: none)."""

    name: str
    avro: Any
    default: Any


REQUIRED: Final[Any] = object()

FIELDS: Final[tuple[Field, ...]] = (
    Field("actionId", "string", REQUIRED),
    Field("alertId", "string", REQUIRED),
    Field("alertSeq", ["null", "long"], None),
    Field("alertEpoch", ["null", "string"], None),
    Field("action", ACTION_ENUM, REQUIRED),
    Field("user", "string", REQUIRED),
    Field("roles", {"type": "array", "items": "string"}, ()),
    Field("time", TIMESTAMP_MICROS, REQUIRED),
    Field("note", ["null", "string"], None),
    Field("assignee", ["null", "string"], None),
    Field("until", ["null", "long"], None),
    Field("level", ["null", "int"], None),
    Field("refersTo", ["null", "string"], None),
    Field("logSeq", "long", REQUIRED),
)
FIELD_NAMES: Final = tuple(f.name for f in FIELDS)
_KIND_FIELDS: Final = frozenset().union(*NEEDS.values())
_LONG_MAX: Final = 2**63 - 1


class InvalidAction(StreamsError, ValueError):
    """An AlertAction record that does not hold together; ``field`` names the first bad one."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"AlertAction.{field}: {message}")
        self.field = field


def action_record(**values: Any) -> dict[str, Any]:
    """A checked AlertAction record from keyword arguments named as the fields (a missing
    optional field takes its default). Raises :class:`InvalidAction`."""
    unknown = sorted(set(values) - set(FIELD_NAMES))
    if unknown:
        raise InvalidAction(unknown[0], "no such field")
    record: dict[str, Any] = {}
    for f in FIELDS:
        if f.name in values:
            record[f.name] = values[f.name]
        elif f.default is REQUIRED:
            raise InvalidAction(f.name, "required")
        else:
            record[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
    if isinstance(record["roles"], Iterable) and not isinstance(record["roles"], str):
        record["roles"] = list(record["roles"])
    validate_action(record)
    return record


def validate_action(record: Mapping[str, Any]) -> None:
    """Check a record (built, or decoded from the topic); :class:`InvalidAction` if it is bad."""
    _text(record, "actionId", ACTION_ID_MAX)
    _text(record, "alertId", NAME_MAX)
    _optional_int(record, "alertSeq", 0)
    if record.get("alertEpoch") is not None:
        _text(record, "alertEpoch", NAME_MAX)
    action = record.get("action")
    if action not in ACTIONS:
        raise InvalidAction("action", f"{action!r} is not one of {', '.join(ACTIONS)}")
    _text(record, "user", NAME_MAX)
    roles = record.get("roles", [])
    if not isinstance(roles, list | tuple) or len(roles) > ROLES_MAX:
        raise InvalidAction("roles", f"must be a list of at most {ROLES_MAX} role names")
    for role in roles:
        if not isinstance(role, str) or not 0 < len(role) <= NAME_MAX:
            raise InvalidAction("roles", f"each role must be text of 1..{NAME_MAX} characters")
    _optional_int(record, "time", 0, required=True)
    _optional_int(record, "logSeq", -1, required=True)
    _kind_fields(record, str(action))


def _kind_fields(record: Mapping[str, Any], action: str) -> None:
    needs = NEEDS[action]
    for name in sorted(_KIND_FIELDS):
        present = record.get(name) is not None
        if name in needs and not present:
            raise InvalidAction(name, f"required for {action}")
        if present and name not in needs and not (name == "note" and action in OPTIONAL_NOTE):
            raise InvalidAction(name, f"not used by {action}")
    if record.get("note") is not None:
        _text(record, "note", NOTE_MAX)
    if record.get("assignee") is not None:
        _text(record, "assignee", NAME_MAX)
    _optional_int(record, "until", 0)
    _optional_int(record, "level", 1)
    if record.get("refersTo") is not None:
        _text(record, "refersTo", ACTION_ID_MAX)


def _text(record: Mapping[str, Any], name: str, max_len: int) -> None:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidAction(name, f"must be non-blank text of at most {max_len} characters")
    if not value.isprintable() and name != "note":
        raise InvalidAction(name, "must not contain control characters")


def _optional_int(
    record: Mapping[str, Any], name: str, minimum: int, *, required: bool = False
) -> None:
    value = record.get(name)
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAction(name, "must be a whole number")
    if not minimum <= value <= _LONG_MAX:
        raise InvalidAction(name, f"must be >= {minimum}")
