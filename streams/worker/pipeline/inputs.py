"""The worker's input topics and how an input record is decoded (pure: no I/O).

A record is decoded with the codec (Avro single-object encoding, the topic's schema expected) and
validated (:func:`streams.events.validate`). :func:`parse_input` raises what a bad record gives;
:func:`decode_input` is the worker's form: the record or the reason it is rejected, never an
exception, so bad input is dead-lettered and the worker carries on.

:func:`decode_input` reads a message written with this process's version of its schema with the
schema's compiled reader (:mod:`schemas.fastread`: the same record as ``Codec.decode``, ~3x
faster); anything the compiled reader does not take (another version, damage) goes to the codec,
which decides and names the reason.
"""

from __future__ import annotations

import json
from typing import Final

from schemas.codec import HEADER_LEN, Codec, DecodeError
from schemas.fastread import Reader, compile_reader
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


# Expected schema -> (the header, C3 01 + fingerprint, of the version the reader reads; its
# compiled reader, None when the schema uses a construct the compiler leaves to the codec).
_READERS: dict[str, tuple[bytes, Reader | None]] = {}


def _reader(codec: Codec, schema: str) -> tuple[bytes, Reader | None]:
    info = codec.schema(schema)
    found = _READERS[schema] = (
        info.header,
        compile_reader(json.loads(info.canonical_form), info.header),
    )
    return found


def decode_input(codec: Codec, schema: str, value: bytes) -> Record | str:
    """The validated record, or the reason it is rejected (``<reason>: <message>``, where the
    reason is the codec's, ``invalid``, or ``error`` for anything else)."""
    record = None
    header, reader = _READERS.get(schema) or _reader(codec, schema)
    if reader is not None and value[:HEADER_LEN] == header:
        try:
            record = reader(value)
        except Exception:  # noqa: BLE001 - not the fast case: the codec decides below
            record = None
    try:
        if record is None:
            record = codec.decode(value, expect=(schema,)).record
        return events.validate(schema, record)
    except DecodeError as exc:
        return f"{exc.reason}: {exc}"
    except events.InvalidEvent as exc:
        return f"invalid: {exc}"
    except Exception as exc:  # noqa: BLE001 - never crash the worker on input
        return f"error: {exc!r}"
