"""Opening a WebSocket to the bridge, and what its refusal or its close means to the client.

The token goes in the ``token`` query parameter (default) or an ``Authorization: Bearer``
header (``token_transport="header"``, kept out of proxies' access logs); log lines name the URL
without it. A refused or failed handshake and every close but a normal one (1000) become
:class:`~ws_bridge.client.errors.ConnectionFailed`, which the client reports and reconnects on.
"""

from __future__ import annotations

import logging
import urllib.parse

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from ws_bridge.client.errors import ConnectionFailed

TOKEN_EXPIRED = 4001  # the bridge's close code (docs/bridge.md section 4)
MAX_FRAME_BYTES = 64 * 1024 * 1024  # websockets' limit on one received frame
log = logging.getLogger("ws_bridge.client")


async def open_socket(url: str, token: str, transport: str, timeout_s: float) -> ClientConnection:
    """The open connection to ``url`` (without its token), or ConnectionFailed: ``unauthorized``
    (HTTP 401), ``refused`` (another HTTP status), ``connect-failed`` (no handshake)."""
    target, headers = url, {}
    if transport == "header":
        headers["Authorization"] = f"Bearer {token}"
    else:
        sep = "&" if "?" in url else "?"
        target = f"{url}{sep}token={urllib.parse.quote(token, safe='')}"
    log.debug("connecting to %s (token in %s)", url, transport)
    try:
        return await connect(
            target,
            additional_headers=headers,
            open_timeout=timeout_s,
            max_size=MAX_FRAME_BYTES,
            compression=None,  # the bridge's default; deflate costs CPU on both ends
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        code = "unauthorized" if status == 401 else "refused"
        raise ConnectionFailed(code, f"{url} refused the handshake: HTTP {status}") from exc
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        raise ConnectionFailed(
            "connect-failed", f"could not open a WebSocket to {url}: {exc!r}"
        ) from exc


def closed_because(close_code: int | None, url: str) -> ConnectionFailed | None:
    """Why a connection that was open ended; None for a normal closure (1000)."""
    if close_code == TOKEN_EXPIRED:
        return ConnectionFailed("token-expired", "the bridge closed: token expired", close_code)
    if close_code == 1000:
        return None
    return ConnectionFailed("closed", f"connection to {url} closed (code {close_code})", close_code)
