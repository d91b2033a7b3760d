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
still lie inside its directory. Every answer carries ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: no-referrer`` (the page may be opened with ``?token=`` in its URL: the token
must not leak to other servers in a ``Referer``), and the page a Content-Security-Policy that
allows scripts from this origin only.

The lookup (:meth:`DashboardFiles.lookup`) is plain logic on paths, tested without a socket;
:func:`serve` turns its answer into a websockets ``Response``.
"""

from __future__ import annotations

import dataclasses
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Response

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

# Scripts and styles from this origin only; the socket may go to this or another bridge.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

COMMON_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-cache"),
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


def serve(conn: ServerConnection, path: str, files: DashboardFiles | None = None) -> Response:
    """The HTTP answer for a dashboard path: the file (200) or 404 (``files`` defaults to
    :data:`DEFAULT_FILES`, read at call time so a test can point it elsewhere)."""
    try:
        answer = (files or DEFAULT_FILES).lookup(path)
    except UnicodeDecodeError:
        answer = NotFound("bad percent-encoding")
    response = conn.respond(HTTPStatus.OK, "")
    headers = Headers(response.headers)
    for name in ("Content-Type", "Content-Length"):
        del headers[name]
    for name, value in COMMON_HEADERS:
        headers[name] = value
    if isinstance(answer, NotFound):
        body = f"Not Found: {answer.reason}\n".encode()
        headers["Content-Type"] = "text/plain; charset=utf-8"
        headers["Content-Length"] = str(len(body))
        return Response(HTTPStatus.NOT_FOUND, "Not Found", headers, body)
    headers["Content-Type"] = answer.content_type
    headers["Content-Length"] = str(len(answer.body))
    if answer.content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = PAGE_CSP
    return Response(HTTPStatus.OK, "OK", headers, answer.body)
