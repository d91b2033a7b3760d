"""Server-to-client WebSocket frames as bytes, built once and written to many sockets. No I/O.

A frame shared by a group of clients (same subscriptions, see :mod:`ws_bridge.core.fanout`) is the
same bytes on every socket when no extension (permessage-deflate) is negotiated: an unmasked FIN
text frame (RFC 6455 section 5.2: a server never masks). :class:`ws_bridge.core.outbox.Chunk`
builds its frame's bytes here once; :mod:`ws_bridge.server.wire` decides when a socket may take
them as they are.
"""

from __future__ import annotations

import struct

_OPCODE_TEXT_FIN = 0x81


def text_frame(text: str) -> bytes:
    """The unmasked, unfragmented text frame carrying ``text`` (server to client)."""
    payload = text.encode()
    length = len(payload)
    # RFC 6455 section 5.2: a 7-bit length, or 126 + 16 bits, or 127 + 64 bits.
    if length < 126:
        header = bytes((_OPCODE_TEXT_FIN, length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", _OPCODE_TEXT_FIN, 126, length)
    else:
        header = struct.pack("!BBQ", _OPCODE_TEXT_FIN, 127, length)
    return header + payload
