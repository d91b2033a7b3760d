"""The SDK's errors; all derive from :class:`SdkError` (a :class:`streams.errors.StreamsError`).

Exception hierarchy::

    SdkError
     +-- InvalidEvent (also a ValueError)  bad arguments; nothing was sent
     +-- BrokerUnavailable                 no broker answered in time (retriable)
     +-- DeliveryError                     queued events the broker did not acknowledge (retriable)
     +-- PublisherClosed                   call after close()
"""

from __future__ import annotations

from streams import events
from streams.errors import StreamsError


class SdkError(StreamsError):
    """Root of the SDK's errors."""


class InvalidEvent(SdkError, events.InvalidEvent):
    """Bad arguments, raised before anything is sent; ``field`` names the schema field."""


class BrokerUnavailable(SdkError):
    retriable = True


class DeliveryError(SdkError):
    """One or more queued events were not acknowledged by the broker; sending them again is
    safe with the idempotent producer's de-duplication per event id downstream."""

    retriable = True

    def __init__(self, failed: int, first: BaseException) -> None:
        super().__init__(f"{failed} event(s) not delivered; first error: {first!r}")
        self.failed = failed
        self.first = first


class PublisherClosed(SdkError):
    pass
