"""Building and validating the input events (pure: no I/O).

The producer SDK builds records with these functions before anything is sent, and the stream
processor runs the same ``validate`` on every decoded event, so a rule lives in one place.
Each function returns a record ready for :mod:`schemas.codec` or raises :class:`InvalidEvent`
naming the field (in the schema's camelCase).

Modules: ``spec`` describes each event once (fields, rules, topic, key); ``builders`` is
generated from it (``python -m streams.events.codegen``); ``checks`` holds the field checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.events.builders import (
    FROM_RECORD,
    lp_status,
    position,
    quote,
    routing_decision,
    service_alert,
)
from streams.events.checks import (
    EPOCH,
    MAX_ACTION_ITEMS,
    MAX_LONG,
    MAX_MAGNITUDE,
    MAX_MICROS,
    MAX_NAME,
    MAX_TEXT,
    ONE_MICRO,
    InvalidEvent,
    Record,
    new_event_id,
    now_micros,
    to_micros,
)
from streams.events.spec import (
    BOOKS,
    CATEGORIES,
    LP_STATUSES,
    POSITION_STATUSES,
    SEVERITIES,
    SIDES,
)


def validate(schema: str, record: Mapping[str, Any]) -> Record:
    """Check a decoded input event with the same rules the SDK applies before sending."""
    try:
        rebuild = FROM_RECORD[schema]
    except KeyError:
        raise InvalidEvent(schema, "*", "not an input event type") from None
    try:
        return rebuild(record)
    except KeyError as exc:
        raise InvalidEvent(schema, str(exc.args[0]), "missing") from None


__all__ = [
    "BOOKS",
    "CATEGORIES",
    "EPOCH",
    "LP_STATUSES",
    "MAX_ACTION_ITEMS",
    "MAX_LONG",
    "MAX_MAGNITUDE",
    "MAX_MICROS",
    "MAX_NAME",
    "MAX_TEXT",
    "ONE_MICRO",
    "POSITION_STATUSES",
    "SEVERITIES",
    "SIDES",
    "InvalidEvent",
    "Record",
    "lp_status",
    "new_event_id",
    "now_micros",
    "position",
    "quote",
    "routing_decision",
    "service_alert",
    "to_micros",
    "validate",
]
