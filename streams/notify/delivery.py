"""Delivering notifications to webhooks over HTTP(S), with retries and a dead-letter.

Each notification is POSTed with ``Content-Type: application/json`` and ``Idempotency-Key:
<transition key>`` (the receiver can drop a repeat: the one case the notifier sends a key twice is
a crash between the receiver's answer and the ledger write). A 2xx answer is a delivery. A
connection error, a timeout, a 5xx, 408 or 429 is tried again after a backoff that doubles from
``backoff_initial_s`` up to ``backoff_max_s``; after ``max_attempts`` tries, or at once for any
other answer (a 4xx: trying again will not help), the notification is dead-lettered. Either way
the outcome goes to :attr:`Deliveries.done` (the runner records it in the ledger).

Requests run in worker threads (``urllib``: no extra dependency), at most ``CONCURRENCY`` per
webhook, so a slow or dead webhook never holds up another.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Final

from streams.notify.config import NotifyConfig, Webhook
from streams.notify.plan import Notification

log = logging.getLogger("rtx.notify")

CONCURRENCY: Final = 4
RETRIABLE_STATUS: Final = frozenset({408, 429})
USER_AGENT: Final = "rtx-analytics-notify"

Done = Callable[[Notification, str, int, str | None], Awaitable[None]]
"""``done(notification, "sent" | "dead-letter", attempts, error)``."""


def post(url: str, body: bytes, key: str, timeout_s: float) -> int:
    """POST ``body``; the HTTP status (OSError for a connection error or timeout)."""
    request = urllib.request.Request(  # noqa: S310 - the URL is checked to be http(s)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "User-Agent": USER_AGENT,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


class Deliveries:
    """One queue and ``CONCURRENCY`` workers per webhook."""

    def __init__(
        self,
        config: NotifyConfig,
        done: Done,
        *,
        send: Callable[[str, bytes, str, float], int] = post,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.done = done
        self._send = send
        self._sleep = sleep
        self._queues: dict[str, asyncio.Queue[Notification]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.pending = 0
        self.failures = 0  # failed attempts, for status and tests

    def start(self) -> None:
        for hook in self.config.webhooks:
            queue: asyncio.Queue[Notification] = asyncio.Queue()
            self._queues[hook.name] = queue
            for n in range(CONCURRENCY):
                name = f"notify-{hook.name}-{n}"
                self._tasks.append(asyncio.create_task(self._worker(hook, queue), name=name))

    def put(self, note: Notification) -> None:
        self.pending += 1
        self._queues[note.webhook.name].put_nowait(note)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _worker(self, hook: Webhook, queue: asyncio.Queue[Notification]) -> None:
        while True:
            note = await queue.get()
            try:
                await self.deliver(note)
            except Exception:  # a bug for one notification must not stop the webhook
                log.exception("Delivery of %s failed", note.ledger_key)
            finally:
                self.pending -= 1

    async def deliver(self, note: Notification) -> None:
        """Try until delivered or out of attempts; then report to ``done``."""
        hook, key = note.webhook, note.transition.key
        error: str | None = None
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                status = await asyncio.to_thread(
                    self._send, hook.url, note.body, key, self.config.timeout_s
                )
            except OSError as exc:  # refused, reset, DNS, timeout (URLError is an OSError)
                error, retriable = f"{type(exc).__name__}: {exc}", True
            else:
                if 200 <= status < 300:
                    log.info("Notified %s: %s (attempt %d)", hook.name, key, attempt)
                    await self.done(note, "sent", attempt, None)
                    return
                error, retriable = f"HTTP {status}", status >= 500 or status in RETRIABLE_STATUS
            self.failures += 1
            log.warning("Webhook %s (%s): %s failed: %s", hook.name, hook.where, key, error)
            if not retriable:
                await self.done(note, "dead-letter", attempt, error)
                return
            if attempt < self.config.max_attempts:
                await self._sleep(self.config.backoff_s(attempt))
        await self.done(note, "dead-letter", self.config.max_attempts, error)
