"""The bridge's exceptions: the root of every error ``ws_bridge.core`` and ``ws_bridge.server``
raise, so a caller catches the bridge's errors in one place and asks any of them whether trying
again may help (``retriable``, as aiokafka's ``errors.py`` does).

Hierarchy (each class lives in the module named beside it)::

    BridgeError                retriable = False unless marked
     +-- AuthError             core.errors: a token was refused; ``reason`` is a short code,
     |                         never the token (a client may retry with another token)
     +-- ProtocolError         core.errors: a client frame the bridge does not accept; ``code``
     |    |                    names why (a client may send another frame)
     |    +-- TooLarge         a frame over the size limit: the server closes with 1009
     +-- SourceError           server.kafka_source: the Kafka source could not start (no broker,
                               missing topics); retriable

``parse_client_frame`` returns ProtocolError instances instead of raising them: a bad frame is
an ordinary event on a connection, answered with an error message, not an exceptional one.

Not under this root, on purpose: a bad setting raises :class:`streams.settings.ConfigError`, the
one configuration error of the product, so every command reports a bad variable the same way;
the Python client (:mod:`ws_bridge.client`) stands alone (it ships without the server) and has
its own root, ``ClientError``, drawn in :mod:`ws_bridge.client.state`. A bad argument to a
function (an origin pattern, a CIDR, an unknown schema) is a plain ``ValueError``.
"""

from __future__ import annotations

# RFC 6455 section 7.4.1: 1009 "message too big", 1008 "policy violation".
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_POLICY_VIOLATION = 1008


class BridgeError(Exception):
    """Root of the bridge's errors."""

    retriable = False


class AuthError(BridgeError):
    """A token was refused. ``reason`` is one of :data:`ws_bridge.core.auth.REASONS`.

    The message says why in words a log reader understands; it never contains the token.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ProtocolError(BridgeError):
    """A client frame the bridge does not accept.

    ``code`` is the machine-readable reason sent in the error message (``bad-json``,
    ``unknown-action``, ...); ``close_code`` is set when the server must close instead.
    """

    close_code: int | None = None

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, ProtocolError)
            and (other.code, other.message) == (self.code, self.message)
        )

    def __hash__(self) -> int:
        return hash((type(self), self.code, self.message))


class TooLarge(ProtocolError):
    """A frame over the size limit (RFC 6455 section 7.4.1: close code 1009)."""

    close_code = CLOSE_MESSAGE_TOO_BIG
