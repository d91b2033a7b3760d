"""Producer SDK: what trading services embed to publish events (README "Producer SDK").

``from streams.sdk import Publisher`` (async) or ``SyncPublisher`` (blocking); errors derive from
:class:`SdkError`.
"""

from streams.sdk.publisher import (
    BrokerUnavailable,
    Delivery,
    DeliveryError,
    InvalidEvent,
    Publisher,
    PublisherClosed,
    SdkError,
    SyncPublisher,
)

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
