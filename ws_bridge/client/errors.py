"""The Python client's exceptions: the root of every error :mod:`ws_bridge.client` raises or
reports to ``on_error``. The client stands alone (it ships to services without the server), so
its root is its own, not the server's ``BridgeError``.

Hierarchy::

    ClientError                        retriable = False unless marked; ``code`` names the cause
     +-- InvalidArgument (ValueError)  a bad argument; the message names it (code bad-option)
     +-- ConnectionFailed              could not connect, or the connection dropped (retriable)
     +-- ServerError                   the bridge answered a frame with an ``error`` message
     +-- ProtocolViolation             a frame that is not a JSON array of objects

A replay that got no ``replay-done`` in time is a plain ``ClientError`` with code ``timeout``; a
callback that raised, one with code ``handler-failed``. ``ConfigError`` is the deprecated old
name of :class:`InvalidArgument` (``from ws_bridge.client import ConfigError`` still works, with
a DeprecationWarning): it read like ``streams.settings.ConfigError``, a bad setting.
"""

from __future__ import annotations

RequestId = str | int


class ClientError(Exception):
    """Root of the client's errors; ``code`` names the cause (e.g. ``connect-failed``)."""

    retriable = False

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidArgument(ClientError, ValueError):
    """A bad argument to the client (an option, a token, a channel, a replay's times)."""

    def __init__(self, message: str) -> None:
        super().__init__("bad-option", message)


class ConnectionFailed(ClientError):
    """Could not connect, or the connection closed: ``close_code`` says how, when it did."""

    retriable = True

    def __init__(self, code: str, message: str, close_code: int | None = None) -> None:
        super().__init__(code, message)
        self.close_code = close_code


class ServerError(ClientError):
    """The bridge's ``error`` message: ``code`` is its code (``forbidden``, ``refresh-failed``),
    ``request_id`` the ``id`` of the command it refused (None when the bridge gave none)."""

    def __init__(
        self,
        code: str,
        message: str,
        channel: str | None = None,
        request_id: RequestId | None = None,
    ) -> None:
        super().__init__(code, message)
        self.channel = channel
        self.request_id = request_id


class ProtocolViolation(ClientError):
    """A server frame that is not a JSON array of objects."""
