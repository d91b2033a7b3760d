"""Server-to-client WebSocket frames built once and written to many sockets.

A frame shared by a group of clients (same subscriptions, see :mod:`ws_bridge.core.fanout`) is the
same bytes on every socket when no extension (permessage-deflate) is negotiated: an unmasked
FIN text frame (RFC 6455 section 5.2), built by :func:`ws_bridge.core.frames.text_frame`
(re-exported here). Building it once per group and writing it straight to each
transport skips the per-connection framing in ``websockets`` (about a third of the bridge's time
per frame with many clients). :func:`write_shared` takes that path only when it is exactly what
``ServerConnection.send`` would do: connection open, no extension, no fragmented message in
progress, transport not paused by flow control and not closing. Otherwise the caller falls back
to ``send`` (which waits for the socket to drain and handles closing).
"""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from ws_bridge.core.frames import text_frame

__all__ = ["text_frame", "write_shared"]


def write_shared(ws: ServerConnection, frame: bytes) -> bool:
    """Write a prebuilt frame to ``ws`` if nothing but a plain write is needed; False otherwise."""
    if (
        ws.protocol.state is not State.OPEN
        or ws.protocol.extensions
        or ws.send_in_progress is not None
        or ws.paused
        or ws.transport.is_closing()
    ):
        return False
    ws.transport.write(frame)
    return True
