"""Producer SDK: what trading services embed to publish events (README "Producer SDK").

``from streams.sdk import Publisher`` (async) or ``SyncPublisher`` (blocking); errors derive from
:class:`SdkError`.

Modules: ``publisher`` (the async Publisher), ``sync`` (SyncPublisher), ``methods`` (their typed
calls, generated from ``streams/events/spec.py``), ``batching`` (batches per partition),
``errors``.
"""

from streams.sdk.batching import Delivery
from streams.sdk.errors import (
    BrokerUnavailable,
    DeliveryError,
    InvalidEvent,
    PublisherClosed,
    SdkError,
)
from streams.sdk.publisher import Publisher
from streams.sdk.sync import SyncPublisher

__all__ = [
    "BrokerUnavailable",
    "Delivery",
    "DeliveryError",
    "InvalidEvent",
    "Publisher",
    "PublisherClosed",
    "SdkError",
    "SyncPublisher",
]
