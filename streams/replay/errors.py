"""Replay's errors (see :mod:`streams.errors` for the whole tree)."""

from __future__ import annotations

from streams.errors import StreamsError


class ReplayError(StreamsError):
    """Root of replay errors; the message says what is wrong and what to do."""


class BadRequest(ReplayError):
    """A bad argument: time, range, kind or filter."""


class TopicMissing(ReplayError):
    """The topic to replay does not exist (run 'rtx-analytics topics apply')."""


class BrokerUnreachable(ReplayError):
    """No broker answered in time."""

    retriable = True


class OutputError(ReplayError):
    """The output file cannot be created or written; the message names it."""


class MissingExtra(ReplayError, ImportError):
    """pandas or pyarrow is not installed; the message names the extra that installs them."""
