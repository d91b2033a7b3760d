"""The messages from the partitioned markout stages to the one boards stage (pure).

They travel on one single-partition topic (``internal.markouts``), whose order is the boards'
input order: a restarted boards stage re-reads the same messages in the same order, so it
raises the same alerts with the same ids. Each message has a kind, and its Kafka key starts with
it:

=============  ======  ===========================================================================
key            kind    value
=============  ======  ===========================================================================
``m:<id>``     m       a ``TradeMarkout``, Avro (the bytes written to the trade markouts topic)
``s:<id>``     s       a ``LastLookSample``, JSON
``p:<id>``     p       a position's opening (version 1) or closing (``POSITION_FIELDS``), JSON
``t:<p>``      t       stage ``p``'s event-time clock ``{"p": partition, "t": micros}``, JSON
=============  ======  ===========================================================================

A message the boards stage has already seen changes nothing there (windows de-duplicate by id,
position versions only move forward), so a restarted stage may send some again.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import orjson

from streams.markouts.errors import MarkoutStateError
from streams.markouts.holding import POSITION_FIELDS

MARKOUT: Final = "m"
SAMPLE: Final = "s"
POSITION: Final = "p"
TICK: Final = "t"
JSON_KINDS: Final = (SAMPLE, POSITION, TICK)


class HopMessage(NamedTuple):
    """A message for the boards: its kind, Kafka key and record (a dict)."""

    kind: str
    key: str
    record: dict[str, Any]


def sample_message(sample: dict[str, Any]) -> HopMessage:
    return HopMessage(SAMPLE, f"s:{sample['sampleId']}", sample)


def position_message(position: dict[str, Any]) -> HopMessage | None:
    """The fields holding times need, for an opening (version 1) or a closing; None for the
    versions between (they tell the boards nothing)."""
    if position["version"] != 1 and position["status"] != "CLOSED":
        return None
    record = {f: position[f] for f in POSITION_FIELDS}
    return HopMessage(POSITION, f"p:{position['positionId']}", record)


def tick_message(partition: int, clock: int) -> HopMessage:
    return HopMessage(TICK, f"t:{partition}", {"p": partition, "t": clock})


def encode_json(message: HopMessage) -> bytes:
    """The value of a JSON message: the record with its kind under ``k``."""
    return orjson.dumps({"k": message.kind, **message.record})


def decode_json(value: bytes) -> HopMessage:
    """A JSON message back (:class:`MarkoutStateError` when it is not one)."""
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise MarkoutStateError(f"markouts internal message is not JSON: {exc}") from exc
    if not isinstance(record, dict) or record.get("k") not in JSON_KINDS:
        raise MarkoutStateError("markouts internal message without a known kind")
    kind = record.pop("k")
    return HopMessage(kind, "", record)
