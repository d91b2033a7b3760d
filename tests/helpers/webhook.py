"""A real webhook receiver on 127.0.0.1 (http.server in a thread): it records every request's
Idempotency-Key and JSON body, answers with planned statuses, and can be down (nothing
listening on its port) and come up later on the same port."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """What the webhook received, and how it answers."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (Idempotency-Key, body)
        self.statuses: list[int] = []  # answers to give first, in order; then 200
        self.arrived = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/secret-path"

    @property
    def keys(self) -> Counter[str]:
        """How often each key was answered 2xx (a delivery)."""
        return Counter(key for key, body in self.requests if body.get("_status", 200) < 300)

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with receiver.arrived:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    body["_status"] = status
                    receiver.requests.append((self.headers.get("Idempotency-Key", ""), body))
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    async def received(self, count: int, timeout_s: float = 30) -> None:
        """:meth:`wait_for` off the event loop (the sender may be on it)."""
        await asyncio.to_thread(self.wait_for, count, timeout_s)

    def wait_for(self, count: int, timeout_s: float = 30) -> None:
        """Until ``count`` requests arrived (AssertionError after ``timeout_s``)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.requests) >= count, timeout_s):
                raise AssertionError(f"{len(self.requests)} of {count} requests arrived")


@contextmanager
def receiver(*, up: bool = True) -> Iterator[Receiver]:
    found = Receiver()
    if up:
        found.up()
    try:
        yield found
    finally:
        found.down()
