"""The live dashboard's static files, served by the bridge on its own port under ``/dashboard``.

Routes (GET only: websockets' handshake parser accepts nothing else)::

    /dashboard, /dashboard/          -> clients/dashboard/public/index.html
    /dashboard/<file>                -> clients/dashboard/public/<file>
    /dashboard/client/<file>         -> clients/typescript/dist/<file>  (the TypeScript client)

Serving the page from the bridge's own origin lets the browser open ``/ws/analytics`` without a
CORS or mixed-content detour; the bridge still checks the ``Origin`` of that WebSocket, so
``RTX_BRIDGE_ALLOWED_ORIGINS`` must list the bridge's own URL (``http://host:7999``).

Only two directories are ever read, and only files with a known extension (so
``package.json``, ``node_modules`` and the tests beside ``public/`` are never reachable).
A request path is percent-decoded once, then refused (404) when a segment is ``..``, ``.``,
empty, hidden (``.git``) or holds a backslash or NUL; the resolved file (symlinks followed) must
still lie inside its directory. Who may fetch these files at all is decided before, by
:mod:`ws_bridge.core.routes` (the IP allow-list).

Every answer carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (the
page may be opened with ``?token=`` in its URL: the token must not leak to other servers in a
``Referer``), ``X-Frame-Options: DENY`` and a Content-Security-Policy (:func:`page_csp`):
scripts, styles and images from this origin only (no inline script or style, no ``eval``), no
framing, and sockets to this bridge only. CSP Level 3 lets ``'self'`` cover ``ws:``/``wss:``
of the page's own host, but not every browser does, so ``connect-src`` names
``ws://HOST`` and ``wss://HOST`` explicitly, HOST being the request's ``Host`` header (checked
to be a host name or address with an optional port, else left out: nothing from a request is
copied into the header unchecked).

The lookup (:meth:`DashboardFiles.lookup`) is plain logic on paths, tested without a socket;
:func:`serve` turns its answer into a websockets ``Response``.
"""

from __future__ import annotations

import dataclasses
import re
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from ws_bridge.server.http import respond

DASHBOARD_PATH = "/dashboard"
CLIENT_PREFIX = "client/"

_REPO = Path(__file__).resolve().parents[2]
DEFAULT_PUBLIC_DIR = _REPO / "clients" / "dashboard" / "public"
DEFAULT_CLIENT_DIR = _REPO / "clients" / "typescript" / "dist"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

# A host name or an IP address (IPv6 in brackets), with an optional port: what a Host header
# may hold (RFC 9110 section 7.2); nothing else goes into the policy.
_HOST_RE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]{2,45}\])(?::\d{1,5})?$"
)


def page_csp(host: str | None) -> str:
    """The page's Content-Security-Policy for a request that named ``host`` (its Host header)."""
    connect = "'self'"
    value = (host or "").strip().lower()
    if _HOST_RE.match(value):
        connect += f" ws://{value} wss://{value}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; object-src 'none'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


PAGE_HEADERS = (
    ("Cache-Control", "no-cache"),
    ("X-Frame-Options", "DENY"),  # frame-ancestors' older twin, for browsers without CSP 2
)


@dataclasses.dataclass(frozen=True)
class Found:
    """A file to send: its bytes and content type."""

    body: bytes
    content_type: str


@dataclasses.dataclass(frozen=True)
class NotFound:
    """Why a dashboard path is refused (for the 404 body; never echoes the request)."""

    reason: str


def is_dashboard_path(path: str) -> bool:
    """True for ``/dashboard`` and everything under ``/dashboard/``."""
    return path == DASHBOARD_PATH or path.startswith(DASHBOARD_PATH + "/")


def _safe_parts(rest: str) -> list[str] | None:
    """The segments of a decoded relative path, or None when one is unsafe."""
    if "\\" in rest or "\x00" in rest:
        return None
    parts = rest.split("/")
    for part in parts:
        if part in ("", ".", "..") or part.startswith("."):
            return None
    return parts


@dataclasses.dataclass(frozen=True)
class DashboardFiles:
    """The two directories the dashboard is served from."""

    public_dir: Path = DEFAULT_PUBLIC_DIR
    client_dir: Path = DEFAULT_CLIENT_DIR

    def lookup(self, path: str) -> Found | NotFound:
        """Map a request path (without query string) to a file, or say why not."""
        if not is_dashboard_path(path):
            return NotFound("not a dashboard path")
        rest = unquote(path[len(DASHBOARD_PATH) :].removeprefix("/"), errors="strict")
        if rest in ("", "index.html"):
            return self._read(self.public_dir, ["index.html"])
        if rest.startswith(CLIENT_PREFIX):
            base, rest = self.client_dir, rest[len(CLIENT_PREFIX) :]
        else:
            base = self.public_dir
        parts = _safe_parts(rest)
        if parts is None:
            return NotFound("unsafe path")
        return self._read(base, parts)

    def _read(self, base: Path, parts: list[str]) -> Found | NotFound:
        content_type = CONTENT_TYPES.get(Path(parts[-1]).suffix.lower())
        if content_type is None:
            return NotFound("file type not served")
        try:
            root = base.resolve(strict=True)
            target = root.joinpath(*parts).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a symlink loop
            return NotFound("no such file")
        if not target.is_relative_to(root) or not target.is_file():
            return NotFound("no such file")
        try:
            return Found(target.read_bytes(), content_type)
        except OSError:
            return NotFound("file not readable")


DEFAULT_FILES = DashboardFiles()


def serve(
    conn: ServerConnection,
    path: str,
    files: DashboardFiles | None = None,
    host: str | None = None,
) -> Response:
    """The HTTP answer for a dashboard path: the file (200) or 404 (``files`` defaults to
    :data:`DEFAULT_FILES`, read at call time so a test can point it elsewhere); ``host``: the
    request's Host header, for the page's ``connect-src``."""
    try:
        answer = (files or DEFAULT_FILES).lookup(path)
    except UnicodeDecodeError:
        answer = NotFound("bad percent-encoding")
    headers = (*PAGE_HEADERS, ("Content-Security-Policy", page_csp(host)))
    if isinstance(answer, NotFound):
        return respond(conn, HTTPStatus.NOT_FOUND, f"Not Found: {answer.reason}\n", extra=headers)
    return respond(conn, HTTPStatus.OK, answer.body, answer.content_type, headers)
