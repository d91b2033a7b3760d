"""What the pipeline derives, encoded and added to a :class:`~streams.worker.kafka_io.BatchSender`:
derived records (Avro, the contract's schemas) and internal messages (JSON)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from schemas.codec import Codec, encode_with
from streams.worker import metrics as m
from streams.worker.alert_ids import AlertIdLog
from streams.worker.batch_sender import BatchSender
from streams.worker.pipeline import Internal, Output

log = logging.getLogger("rtx.worker")

MAX_INTERNAL_BYTES = 900_000  # under the broker's default message.max.bytes (1 MB)


class OutputWriter:
    """Encodes outputs for the topics of ``topics`` (logical name -> topic name)."""

    def __init__(self, codec: Codec, topics: Mapping[str, str]) -> None:
        self.codec = codec
        self.topics = topics

    async def add(
        self, sender: BatchSender, outputs: Iterable[Output], alert_ids: AlertIdLog
    ) -> None:
        """Add derived records; an alert whose id ``alert_ids`` holds is skipped (it is in the
        log already), the others' ids are remembered there."""
        for out in outputs:
            if out.schema == "Alert" and not alert_ids.add(out.key):
                continue
            record = out.record
            value = (
                None
                if record is None
                else encode_with(self.codec.schema(out.schema), record, validate=False)
            )
            await sender.add(self.topics[out.topic], out.key.encode(), value)
            m.DERIVED.labels(topic=out.topic).inc()

    async def add_internal(self, sender: BatchSender, messages: Iterable[Internal]) -> None:
        """Add internal messages; one too large for the broker is logged and left out."""
        topic = self.topics["internal"]
        for message in messages:
            value = message.encode()
            if len(value) > MAX_INTERNAL_BYTES:  # the broker would refuse it (1 MB), and the
                # refusal would break the idempotent producer's numbering for the partition
                log.error("internal message %s of %d bytes not sent", message.key, len(value))
                continue
            await sender.add(topic, message.key.encode(), value)
            if message.then_delete:
                await sender.add(topic, message.key.encode(), None)
