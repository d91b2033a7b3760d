"""The dashboard's static files: the path lookup on its own (traversal, hidden files, file types,
symlinks), the page's Content-Security-Policy (and a page that fits it: no inline script or
style), and the routes of a real bridge on 127.0.0.1, spoken to with raw HTTP/1.1 so no client
library normalises ``..`` away before the server sees it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.helpers.bridge import settings
from tests.helpers.bridge_routes import raw_request
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


async def test_bridge_serves_the_page_its_assets_and_the_client(
    files: DashboardFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real files of clients/dashboard/public, then a test tree for the client route."""
    async with running() as server:
        status, headers, body = await raw_request(server.port, "/dashboard/?token=abc.def.ghi")
        assert status == 200
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert body == (DEFAULT_PUBLIC_DIR / "index.html").read_bytes()
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        for name, kind in (("app.js", "text/javascript"), ("dashboard.css", "text/css")):
            status, headers, body = await raw_request(server.port, f"/dashboard/{name}")
            assert status == 200, name
            assert headers["content-type"] == f"{kind}; charset=utf-8"
            assert body == (DEFAULT_PUBLIC_DIR / name).read_bytes()
        monkeypatch.setattr(dashboard, "DEFAULT_FILES", files)
        status, headers, body = await raw_request(server.port, "/dashboard/client/index.js")
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
        status, headers, body = await raw_request(server.port, target)
        assert status == 404
        assert headers["content-type"] == "text/plain; charset=utf-8"
        assert body.startswith(b"Not Found")
        assert b"root:" not in body and b"devDependencies" not in body


async def test_other_routes_still_work_beside_the_dashboard() -> None:
    async with running() as server:
        status, _, body = await raw_request(server.port, "/healthz")
        assert (status, body) == (200, b"ok\n")
        status, _, _ = await raw_request(server.port, "/dashboards")
        assert status == 404


def test_the_csp_allows_this_origin_and_sockets_to_this_bridge_only() -> None:
    csp = dashboard.page_csp("Bridge.Example.com:7999")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert directives["connect-src"] == (
        "'self' ws://bridge.example.com:7999 wss://bridge.example.com:7999"
    )
    assert "unsafe" not in csp and "*" not in csp
    for host in ("[::1]:7999", "10.0.0.1", "localhost"):
        assert f"ws://{host} wss://{host};" in dashboard.page_csp(host)


@pytest.mark.parametrize(
    "host",
    [None, "", "evil; script-src *", "a b", "x'y", "h:7999/path", "*", "bridge,other", "é.example"],
)
def test_a_host_header_that_is_not_a_host_adds_nothing_to_the_csp(host: str | None) -> None:
    csp = dashboard.page_csp(host)
    assert "connect-src 'self';" in csp
    assert csp.count(";") == dashboard.page_csp(None).count(";")


class _InlineFinder(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' would block in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script":
            self._in_script = True
            if not names.get("src"):
                self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> element")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"{tag} {name}=")
            if value is not None and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"{tag} {name}=javascript:")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append("script body")


@pytest.mark.parametrize("page", sorted(DEFAULT_PUBLIC_DIR.glob("*.html")))
def test_the_dashboard_pages_have_no_inline_script_or_style(page: Path) -> None:
    finder = _InlineFinder()
    finder.feed(page.read_text())
    assert finder.problems == []


def test_the_dashboard_scripts_do_not_build_code_or_style_attributes_from_strings() -> None:
    """eval/new Function need 'unsafe-eval'; setAttribute('style')/cssText need inline styles
    ('unsafe-inline'); element.style.x = ... (the CSSOM) is allowed and what render.js uses."""
    forbidden = re.compile(r"\beval\(|new Function\(|setAttribute\(\s*['\"]style|cssText|innerHTML")
    for script in sorted(DEFAULT_PUBLIC_DIR.glob("*.js")):
        assert not forbidden.search(script.read_text()), script.name


async def test_the_page_is_served_with_its_security_headers() -> None:
    async with running() as server:
        host = f"127.0.0.1:{server.port}"
        status, headers, _ = await raw_request(server.port, "/dashboard/", {"Host": host})
        assert status == 200
        csp = headers["content-security-policy"]
        assert f"connect-src 'self' ws://{host} wss://{host};" in csp
        assert "frame-ancestors 'none'" in csp and "script-src 'self';" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        evil = {"Host": "evil.example; connect-src *"}
        status, headers, _ = await raw_request(server.port, "/dashboard/", evil)
        assert status == 200 and "connect-src 'self';" in headers["content-security-policy"]
        for target in ("/dashboard/app.js", "/dashboard/missing.js"):
            _, headers, _ = await raw_request(server.port, target)
            assert headers["x-content-type-options"] == "nosniff", target
            assert "frame-ancestors 'none'" in headers["content-security-policy"], target
