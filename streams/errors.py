"""The root of every exception raised by ``streams`` (the producer SDK, the worker, replay, the
simulator and the command line), so a caller can catch the package's errors in one place and ask
any of them whether trying again may help (``retriable``, as aiokafka's ``errors.py`` does).

Hierarchy (each class lives in the package named beside it)::

    StreamsError                      retriable = False unless marked
     +-- ConfigError (ValueError)     streams.settings: a setting or config-file key is bad;
     |                                the message names it (the bridge raises it too)
     +-- InvalidEvent (ValueError)    streams.events: an event field is missing or out of range
     |    +-- sdk.InvalidEvent        the same, raised by the SDK before anything is sent
     +-- StateError (ValueError)      a record of internal state that does not parse
     |    +-- exposure.book.InvalidPartial, routing.partial.PartialError,
     |        lp.state.LpStateError, alerts.engine.AlertStateError, histogram.HistogramError,
     |        risk.partial.RiskStateError, markouts.errors.MarkoutStateError,
     |        worker.pipeline.records.InternalMessageError (a record of the internal topic)
     +-- TopicError                   streams.topics: the admin API refused an operation
     |    +-- BrokerUnreachable       no broker answered (retriable)
     +-- SdkError                     streams.sdk
     |    +-- BrokerUnavailable       no broker answered in time (retriable)
     |    +-- DeliveryError           queued events the broker did not acknowledge (retriable)
     |    +-- PublisherClosed         a call after close()
     +-- ReplayError                  streams.replay
     |    +-- BadRequest              a bad time, range, kind or filter
     |    +-- TopicMissing            the topic does not exist
     |    +-- BrokerUnreachable       no broker answered (retriable)
     |    +-- OutputError             the output file cannot be written
     |    +-- MissingExtra (ImportError)  pandas or pyarrow is not installed
     +-- SimulateError                streams.simulator: could not start, or events undelivered
     +-- InvalidAction (ValueError)   streams.workflow: an alert action is malformed

Foreign errors are wrapped with ``raise ... from exc``. Decoding errors are
:class:`schemas.codec.DecodeError` (the ``schemas`` package's own root, ``AvroError``).
"""

from __future__ import annotations


class StreamsError(Exception):
    """Root of the package's errors."""

    retriable: bool = False


class ConfigError(StreamsError, ValueError):
    """A setting is missing or malformed; the message names the variable or config key."""


class StateError(StreamsError, ValueError):
    """A record of internal state (a partial, a snapshot) is malformed or of another version."""
