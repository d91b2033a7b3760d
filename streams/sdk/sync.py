"""The blocking publisher, for services that are not async."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from streams.sdk.batching import Delivery
from streams.sdk.publisher import Publisher
from streams.settings import KafkaSettings

T = TypeVar("T")
P = ParamSpec("P")


def blocking(
    call: Callable[Concatenate[Publisher, P], Coroutine[Any, Any, Delivery]],
) -> Callable[Concatenate[SyncPublisher, P], str]:
    """A Publisher call as a SyncPublisher method (same arguments) returning the event id."""

    @functools.wraps(call)
    def method(self: SyncPublisher, /, *args: P.args, **kwargs: P.kwargs) -> str:
        return self._run(call(self._pub, *args, **kwargs)).event_id

    return method


class SyncPublisher:
    """Blocking wrapper for services that are not async: runs a Publisher on its own loop thread.

    Each call blocks until the event is queued (not delivered) and returns its event id;
    ``flush()`` blocks until every queued event is acknowledged.
    """

    def __init__(self, settings: KafkaSettings | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rtx-sdk", daemon=True)
        self._thread.start()
        self._pub = Publisher(settings)
        try:
            self._run(self._pub.start())
        except BaseException:
            self._stop_loop()
            raise

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    # One per event of streams.events.spec (tests/streams/events/test_spec.py checks the list).
    routing_decision = blocking(Publisher.routing_decision)
    lp_status = blocking(Publisher.lp_status)
    alert = blocking(Publisher.alert)
    position = blocking(Publisher.position)
    quote = blocking(Publisher.quote)

    def flush(self) -> None:
        self._run(self._pub.flush())

    def close(self) -> None:
        if not self._loop.is_running():
            return
        try:
            self._run(self._pub.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> SyncPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
