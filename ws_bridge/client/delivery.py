"""Where the client's received messages go: the callbacks registered per message type (and for
``"*"``) and the :meth:`~ws_bridge.client.AnalyticsClient.stream` iterators, each a bounded
queue that loses its oldest message when its consumer falls behind. No socket here: the
connection hands each parsed message over as it is (no copies).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from ws_bridge.client.errors import ClientError, InvalidArgument
from ws_bridge.client.state import Message

_END = object()  # queued by end(): the stream stops there
StreamQueue = tuple[deque[Any], asyncio.Event, int]  # messages, "not empty", max length


class Delivery:
    """The callbacks and streams of one client. ``report`` gets a callback's failure,
    ``overflow`` the gap data of a message a full stream lost; ``stats`` counts those losses
    (``stream_dropped``)."""

    def __init__(
        self,
        stats: dict[str, int],
        report: Callable[[ClientError], None],
        overflow: Callable[[Message], None],
    ) -> None:
        self._stats = stats
        self._report = report
        self._overflow = overflow
        self._handlers: dict[str, list[Callable[[Message], object]]] = {}
        self._streams: list[StreamQueue] = []

    def on(self, message_type: str, callback: Callable[[Message], object]) -> None:
        self._handlers.setdefault(message_type, []).append(callback)

    def stream(self, max_queue: int) -> AsyncIterator[Message]:
        if max_queue < 1:
            raise InvalidArgument(f"max_queue must be >= 1, got {max_queue}")
        entry: StreamQueue = (deque(), asyncio.Event(), max_queue)
        self._streams.append(entry)
        return self._iterate(entry)

    async def _iterate(self, entry: StreamQueue) -> AsyncIterator[Message]:
        queue, ready, _ = entry
        try:
            while True:
                while not queue:
                    ready.clear()
                    await ready.wait()
                item = queue.popleft()
                if item is _END:
                    return
                yield item
        finally:
            with contextlib.suppress(ValueError):
                self._streams.remove(entry)

    def deliver(self, kind: Any, message: Message, *, typed: bool = True) -> None:
        """To the ``kind`` callbacks, the ``"*"`` ones and the streams (only ``"*"`` when not
        ``typed``: a replayed alert nobody asked to deliver)."""
        for key in (kind, "*") if typed else ("*",):
            for callback in self._handlers.get(key, ()):
                try:
                    callback(message)
                except Exception as exc:  # noqa: BLE001 - reported, the client carries on
                    self._report(ClientError("handler-failed", f"{key} callback raised {exc!r}"))
        for queue, ready, limit in self._streams if typed else ():
            if len(queue) >= limit:
                queue.popleft()
                self._stats["stream_dropped"] += 1
                self._overflow({"channel": None, "dropped": 1, "reason": "stream-full"})
            queue.append(message)
            ready.set()

    def end(self) -> None:
        """End every stream: each iterator stops once it has yielded what was queued."""
        for queue, ready, _ in self._streams:
            queue.append(_END)
            ready.set()
