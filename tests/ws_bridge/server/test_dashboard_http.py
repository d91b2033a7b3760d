"""The dashboard's static files: the path lookup on its own (traversal, hidden files, file types,
symlinks) and the routes of a real bridge on 127.0.0.1, spoken to with raw HTTP/1.1 so no client
library normalises ``..`` away before the server sees it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.helpers.bridge import settings
from ws_bridge.core.alertlog import AlertLog
from ws_bridge.server import dashboard
from ws_bridge.server.dashboard import DEFAULT_PUBLIC_DIR, DashboardFiles, Found, NotFound
from ws_bridge.server.hub import Hub
from ws_bridge.server.server import BridgeServer

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def files(tmp_path: Path) -> DashboardFiles:
    """A public dir and a client dir with a few files, plus a secret next to them."""
    public = tmp_path / "public"
    client = tmp_path / "dist"
    public.mkdir()
    client.mkdir()
    (public / "index.html").write_text("<!doctype html><title>dash</title>")
    (public / "app.js").write_text("export const app = 1;")
    (public / "style.css").write_text("body{}")
    (public / ".hidden.js").write_text("secret")
    (public / "notes.txt").write_text("not served")
    (public / "sub").mkdir()
    (public / "sub" / "chart.js").write_text("export const chart = 2;")
    (client / "index.js").write_text("export class AnalyticsWebSocket {}")
    (tmp_path / "secret.js").write_text("the secret")
    (public / "escape.js").symlink_to(tmp_path / "secret.js")
    return DashboardFiles(public, client)


def body_of(answer: Found | NotFound) -> bytes:
    assert isinstance(answer, Found), answer
    return answer.body


def test_lookup_serves_index_assets_and_the_client_with_their_content_types(
    files: DashboardFiles,
) -> None:
    for path in ("/dashboard", "/dashboard/", "/dashboard/index.html"):
        answer = files.lookup(path)
        assert isinstance(answer, Found)
        assert answer.content_type == "text/html; charset=utf-8"
        assert answer.body.startswith(b"<!doctype html>")
    app = files.lookup("/dashboard/app.js")
    assert isinstance(app, Found) and app.content_type == "text/javascript; charset=utf-8"
    css = files.lookup("/dashboard/style.css")
    assert isinstance(css, Found) and css.content_type == "text/css; charset=utf-8"
    assert body_of(files.lookup("/dashboard/sub/chart.js")) == b"export const chart = 2;"
    assert body_of(files.lookup("/dashboard/client/index.js")).startswith(b"export class")
    assert body_of(files.lookup("/dashboard/%61pp.js")) == b"export const app = 1;"


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/../../etc/passwd",
        "/dashboard/../secret.js",
        "/dashboard/%2e%2e/secret.js",
        "/dashboard/%2E%2E%2Fsecret.js",
        "/dashboard/sub/../../secret.js",
        "/dashboard/client/../../secret.js",
        "/dashboard/client/%2e%2e/index.js",
        "/dashboard/..%5csecret.js",
        "/dashboard/./app.js",
        "/dashboard//app.js",
        "/dashboard/app.js%00.html",
        "/dashboard/.hidden.js",
        "/dashboard/notes.txt",
        "/dashboard/escape.js",
        "/dashboard/missing.js",
        "/dashboard/sub",
        "/dashboard/client/",
        "/dashboard/%2Fetc%2Fpasswd",
    ],
)
def test_lookup_refuses_traversal_hidden_unknown_types_and_symlinks_out(
    files: DashboardFiles, path: str
) -> None:
    assert isinstance(files.lookup(path), NotFound)


def test_paths_outside_the_dashboard_are_not_its_business() -> None:
    assert not dashboard.is_dashboard_path("/dashboards")
    assert not dashboard.is_dashboard_path("/ws/analytics")
    assert dashboard.is_dashboard_path("/dashboard")
    assert dashboard.is_dashboard_path("/dashboard/x.js")


def test_a_missing_directory_is_a_404_not_a_crash(tmp_path: Path) -> None:
    nowhere = DashboardFiles(tmp_path / "no-public", tmp_path / "no-dist")
    assert isinstance(nowhere.lookup("/dashboard/"), NotFound)
    assert isinstance(nowhere.lookup("/dashboard/client/index.js"), NotFound)


class IdleSource:
    """No Kafka: these tests only speak HTTP."""

    ready = True

    async def start(self, sink: Hub) -> None:
        sink.set_alert_log(AlertLog("epoch", capacity=10))

    async def stop(self) -> None:
        return None

    def status(self) -> dict[str, dict[str, int]]:
        return {}


@asynccontextmanager
async def running() -> AsyncIterator[BridgeServer]:
    server = BridgeServer(settings(host="127.0.0.1", port=0), IdleSource())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def raw_get(port: int, target: str) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 GET with the request target sent byte for byte."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body
    finally:
        writer.close()


async def test_bridge_serves_the_page_its_assets_and_the_client(
    files: DashboardFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real files of clients/dashboard/public, then a test tree for the client route."""
    async with running() as server:
        status, headers, body = await raw_get(server.port, "/dashboard/?token=abc.def.ghi")
        assert status == 200
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert body == (DEFAULT_PUBLIC_DIR / "index.html").read_bytes()
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        for name, kind in (("app.js", "text/javascript"), ("dashboard.css", "text/css")):
            status, headers, body = await raw_get(server.port, f"/dashboard/{name}")
            assert status == 200, name
            assert headers["content-type"] == f"{kind}; charset=utf-8"
            assert body == (DEFAULT_PUBLIC_DIR / name).read_bytes()
        monkeypatch.setattr(dashboard, "DEFAULT_FILES", files)
        status, headers, body = await raw_get(server.port, "/dashboard/client/index.js")
        assert status == 200
        assert headers["content-type"] == "text/javascript; charset=utf-8"
        assert body == b"export class AnalyticsWebSocket {}"


@pytest.mark.parametrize(
    "target",
    [
        "/dashboard/../../etc/passwd",
        "/dashboard/%2e%2e/%2e%2e/etc/passwd",
        "/dashboard/client/../../../etc/passwd",
        "/dashboard/..%2f..%2f..%2fetc%2fpasswd",
        "/dashboard/package.json",
        "/dashboard/../package.json",
        "/dashboard/%ff.js",
    ],
)
async def test_bridge_answers_404_to_traversal_and_never_leaks_a_file(target: str) -> None:
    async with running() as server:
        status, headers, body = await raw_get(server.port, target)
        assert status == 404
        assert headers["content-type"] == "text/plain; charset=utf-8"
        assert body.startswith(b"Not Found")
        assert b"root:" not in body and b"devDependencies" not in body


async def test_other_routes_still_work_beside_the_dashboard() -> None:
    async with running() as server:
        status, _, body = await raw_get(server.port, "/healthz")
        assert (status, body) == (200, b"ok\n")
        status, _, _ = await raw_get(server.port, "/dashboards")
        assert status == 404
