"""The worker's input topics and how an input record is decoded (pure: no I/O).

A record is decoded with the codec (Avro single-object encoding, the topic's schema expected) and
validated (:func:`streams.events.validate`). :func:`parse_input` raises what a bad record gives;
:func:`decode_input` is the worker's form: the record or the reason it is rejected, never an
exception, so bad input is dead-lettered and the worker carries on.
"""

from __future__ import annotations

from typing import Final

from schemas.codec import Codec, DecodeError
from streams import events
from streams.worker.pipeline.records import Record

INPUTS: Final = {
    "positions": "PositionState",
    "quotes": "Quote",
    "routing_decisions": "RoutingDecision",
    "lp_status": "LpStatus",
    "alerts_inbound": "ServiceAlert",
}
"""Input topic (logical name) -> the schema of its records."""


def parse_input(codec: Codec, schema: str, value: bytes) -> Record:
    """The validated record; :class:`schemas.codec.DecodeError` or
    :class:`streams.events.InvalidEvent` if it is bad."""
    return events.validate(schema, codec.decode(value, expect=(schema,)).record)


def decode_input(codec: Codec, schema: str, value: bytes) -> Record | str:
    """The validated record, or the reason it is rejected (``<reason>: <message>``, where the
    reason is the codec's, ``invalid``, or ``error`` for anything else)."""
    try:
        # parse_input's body, inlined: this runs for every input record.
        return events.validate(schema, codec.decode(value, expect=(schema,)).record)
    except DecodeError as exc:
        return f"{exc.reason}: {exc}"
    except events.InvalidEvent as exc:
        return f"invalid: {exc}"
    except Exception as exc:  # noqa: BLE001 - never crash the worker on input
        return f"error: {exc!r}"
