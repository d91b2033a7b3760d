"""``rtx-analytics tail``: a topic's messages as JSON lines, read with replay's consumer.

One line a message: ``{"partition", "offset", "value"}``. The value is ``{"type": <schema>,
...the record}`` when the codec decodes it, ``{"raw": <text>}`` (its first 2000 characters)
when it does not, and null for an empty message. A dead letter also says why the worker refused
it and where it came from, from the headers the worker writes with it (``rtx.error``,
``rtx.source.topic|partition|offset``, ``rtx.dead-lettered-at``)::

    "deadLetter": {"reason": "truncated: ...", "sourceTopic": "rtx.positions",
                   "sourcePartition": 2, "sourceOffset": 17, "deadLetteredAt": "2026-...Z"}

Reading starts ``last`` messages before the end of every partition (or at the oldest one),
and stops after ``limit`` messages (0: no limit), or once two polls of 0.5 s found nothing,
unless ``follow``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.codec import Codec, DecodeError, default_codec
from streams.replay.consumer import connect, topic_partitions
from streams.replay.formats import iso_millis
from streams.settings import KafkaSettings

POLL_MS = 500
IDLE_POLLS = 2  # without --follow, stop after this many empty polls in a row
RAW_CHARS = 2000

# The headers the worker writes with every dead letter (README.md, "Topics") -> the keys shown.
DEAD_LETTER_HEADERS: tuple[tuple[str, str, Callable[[str], Any]], ...] = (
    ("rtx.error", "reason", str),
    ("rtx.source.topic", "sourceTopic", str),
    ("rtx.source.partition", "sourcePartition", int),
    ("rtx.source.offset", "sourceOffset", int),
    ("rtx.dead-lettered-at", "deadLetteredAt", lambda ms: iso_millis(int(ms))),
)
REASON_HEADER = DEAD_LETTER_HEADERS[0][0]


async def tail(
    settings: KafkaSettings,
    topic: str,
    *,
    from_beginning: bool = False,
    last: int = 5,
    limit: int = 0,
    follow: bool = False,
    out: Callable[[str], None] = print,
) -> int:
    """Write ``topic``'s messages to ``out`` as JSON lines; the number written."""
    codec = default_codec()
    consumer = await connect(settings, "tail")
    try:
        tps = topic_partitions(consumer, topic, settings)
        consumer.assign(tps)
        await _seek(consumer, tps, from_beginning, last)
        shown = idle = 0
        while limit == 0 or shown < limit:
            batch = await consumer.getmany(timeout_ms=POLL_MS)
            if not batch:
                idle += 1
                if not follow and idle >= IDLE_POLLS:
                    break
                continue
            idle = 0
            for records in batch.values():
                # A batch can hold more than the limit: show no more than it.
                for record in records[: limit - shown] if limit else records:
                    out(json.dumps(message_line(record, codec), default=str))
                    shown += 1
    finally:
        await consumer.stop()
    return shown


async def _seek(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], from_beginning: bool, last: int
) -> None:
    if from_beginning:
        await consumer.seek_to_beginning(*tps)
        return
    ends = await consumer.end_offsets(tps)
    for tp in tps:
        consumer.seek(tp, max(0, ends[tp] - last))


def message_line(record: Any, codec: Codec) -> dict[str, Any]:
    """The JSON line of one consumer record (see the module's docstring)."""
    body: Any
    try:
        decoded = codec.decode(record.value) if record.value else None
        body = {"type": decoded.schema, **decoded.record} if decoded else None
    except DecodeError:
        body = {"raw": (record.value or b"").decode("utf-8", "replace")[:RAW_CHARS]}
    line: dict[str, Any] = {"partition": record.partition, "offset": record.offset, "value": body}
    dead = dead_letter(record.headers or ())
    if dead:
        line["deadLetter"] = dead
    return line


def dead_letter(headers: Any) -> dict[str, Any] | None:
    """What the worker's dead-letter headers say, or None if the record has none of them. A
    header that does not parse as its kind is shown as it is."""
    given = {key: value for key, value in headers}
    if REASON_HEADER not in given:
        return None
    shown: dict[str, Any] = {}
    for header, key, parse in DEAD_LETTER_HEADERS:
        raw = given.get(header)
        if raw is None:
            continue
        text = bytes(raw).decode("utf-8", "replace")
        try:
            shown[key] = parse(text)
        except ValueError:
            shown[key] = text
    return shown
