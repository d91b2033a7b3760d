"""Server-to-client WebSocket frames built once and written to many sockets.

A frame shared by a group of clients (same subscriptions, see :mod:`ws_bridge.core.fanout`) is the
same bytes on every socket when no extension (permessage-deflate) is negotiated: an unmasked
FIN text frame (RFC 6455 section 5.2). Building it once per group and writing it straight to each
transport skips the per-connection framing in ``websockets`` (about a third of the bridge's time
per frame with many clients). :func:`write_shared` takes that path only when it is exactly what
``ServerConnection.send`` would do: connection open, no extension, no fragmented message in
progress, transport not paused by flow control and not closing. Otherwise the caller falls back
to ``send`` (which waits for the socket to drain and handles closing).
"""

from __future__ import annotations

import struct

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

_OPCODE_TEXT_FIN = 0x81


def text_frame(text: str) -> bytes:
    """The unmasked, unfragmented text frame carrying ``text`` (server to client)."""
    payload = text.encode()
    length = len(payload)
    if length < 126:
        header = bytes((_OPCODE_TEXT_FIN, length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", _OPCODE_TEXT_FIN, 126, length)
    else:
        header = struct.pack("!BBQ", _OPCODE_TEXT_FIN, 127, length)
    return header + payload


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
