"""Server-to-client WebSocket frames built once and written to many sockets.

A frame shared by a group of clients (same subscriptions, see :mod:`ws_bridge.core.fanout`) is the
same bytes on every socket when no extension (permessage-deflate) is negotiated: an unmasked
FIN text frame (RFC 6455 section 5.2), built by :func:`ws_bridge.core.frames.text_frame`
(re-exported here). Building it once per group and writing it straight to each
transport skips the per-connection framing in ``websockets`` (about a third of the bridge's time
per frame with many clients). A straight write is exactly what ``ServerConnection.send`` would
do when the connection is open, no extension is negotiated, no fragmented message is in progress
and the transport is not closing (:func:`plain`); ``send`` then waits while flow control has
the transport paused (its buffer over the high-water mark), and so does :func:`send_frame`.
:func:`write_shared` writes only to a transport that is not paused (the hub's tick never waits).
Otherwise the caller falls back to ``send`` (which also handles closing).
"""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from ws_bridge.core.frames import text_frame

__all__ = ["plain", "send_frame", "text_frame", "write_shared"]


def plain(ws: ServerConnection) -> bool:
    """A frame of ours can go straight to the transport (see the module docstring)."""
    return (
        ws.protocol.state is State.OPEN
        and not ws.protocol.extensions
        and ws.send_in_progress is None
        and not ws.transport.is_closing()
    )


def write_shared(ws: ServerConnection, frame: bytes) -> bool:
    """Write a prebuilt frame to ``ws`` if nothing but a plain write is needed and the transport
    is not paused; False otherwise."""
    if ws.paused or not plain(ws):
        return False
    ws.transport.write(frame)
    return True


async def send_frame(ws: ServerConnection, text: str, frame: bytes | None = None) -> None:
    """``ws.send(text)``, the frame written straight when :func:`plain` (``frame``: its
    prebuilt bytes, else built here), then waiting while the transport is paused, as ``send``
    does. ConnectionClosed (from ``send``) when the connection is closing."""
    if plain(ws):
        ws.transport.write(text_frame(text) if frame is None else frame)
        if ws.paused:
            await ws.drain()
        return
    await ws.send(text)
