"""The client's time-range alert replays on the wire (docs/bridge.md section 2, ``replay``).

One replay runs at a time (the bridge runs one per connection): later calls wait for it, and
for the connection to be open. Its alerts collect in a :class:`ReplayJob` until ``replay-done``
(or an ``error`` naming its id) resolves it; a dropped connection fails it. A replay that timed
out may still be running on the bridge: it stays the *orphan* until its ``replay-done``, the
next replay waits for that, and the orphan's alerts are discarded (``stats['replay_discarded']``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ws_bridge.client.errors import ClientError, ConnectionFailed, ServerError
from ws_bridge.client.state import Message

log = logging.getLogger("ws_bridge.client")


@dataclass(slots=True)
class ReplayJob:
    """The replay on the wire: its id, whether its alerts also go to callbacks and streams, the
    alert messages received so far, and the future that ``replay-done`` resolves."""

    request_id: str
    deliver: bool
    done: asyncio.Future[Message]
    messages: list[Message]


class Replays:
    """The replay on the wire, the orphan of a timed-out one, and who waits for their turn."""

    def __init__(
        self,
        stats: dict[str, int],
        is_open: Callable[[], bool],
        stopped: Callable[[], bool],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        """``is_open``: may a frame be sent now; ``stopped``: will the client never connect
        again (before ``connect()``, after ``close()`` or giving up); ``send`` sends a frame."""
        self._stats = stats
        self._is_open, self._stopped, self._send = is_open, stopped, send
        self._job: ReplayJob | None = None  # the replay on the wire
        self._orphan: str | None = None  # timed out, still running on the bridge
        self._lock = asyncio.Lock()  # one replay at a time (the bridge runs one)
        self._wake = asyncio.Event()  # open, orphan finished, or stopped

    def wake(self) -> None:
        """Something a waiting replay waits for happened: the connection opened, or the client
        stopped."""
        self._wake.set()

    async def run(
        self, request_id: str, frame: Message, timeout_s: float | None, deliver: bool
    ) -> tuple[list[Message], Message]:
        """Send ``frame`` with ``request_id`` once it is its turn and the connection is open;
        the alerts and the ``replay-done`` data. See ``AnalyticsClient.replay_alerts``."""
        job = ReplayJob(request_id, deliver, asyncio.get_running_loop().create_future(), [])
        try:
            async with asyncio.timeout(timeout_s), self._lock:
                while self._orphan is not None or not self._is_open():
                    if self._stopped():
                        raise ConnectionFailed("closed", "the client is not connected: connect()")
                    self._wake.clear()
                    await self._wake.wait()
                self._job = job
                log.debug("replay %s: alerts from %s", request_id, frame["fromTime"])
                await self._send({**frame, "id": request_id})
                return job.messages, await job.done
        except TimeoutError:
            if self._job is job:
                self._orphan = request_id
            where = f"{len(job.messages)} alerts received" if self._job is job else "not sent"
            raise ClientError(
                "timeout", f"replay {request_id}: no replay-done within {timeout_s} s ({where})"
            ) from None
        finally:
            if self._job is job:
                self._job = None

    def take(self, alert: Message) -> bool:
        """Take a replayed alert into the replay on the wire; True if it is also delivered."""
        job = self._job
        if job is None:  # a timed-out replay's (or nobody asked): discarded
            self._stats["replay_discarded"] += 1
            return False
        job.messages.append(alert)
        return job.deliver

    def finish(self, data: Message, error: ServerError | None = None) -> None:
        """``replay-done`` (or an ``error``) for a replay: finish it, or forget a timed-out one."""
        request_id, job = str(data.get("id")), self._job
        if request_id == self._orphan:
            self._orphan = None
            self._wake.set()
        elif job is not None and job.request_id == request_id and not job.done.done():
            if error is None:
                job.done.set_result(data)
            else:
                job.done.set_exception(error)

    def connection_lost(self) -> None:
        """The bridge forgets its replay with the connection: fail the one on the wire."""
        job, self._orphan = self._job, None
        if job is not None and not job.done.done():
            got = f"{len(job.messages)} alerts received"
            text = f"connection closed before the replay finished ({got})"
            job.done.set_exception(ConnectionFailed("closed", text))
