"""Reaching the broker: start a Kafka client within a deadline, or say which bootstrap servers
did not answer and what to do about it. The topic admin (:func:`.admin.open_admin`) and replay's
consumer start theirs with :func:`start_within`, so the message is the same everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiokafka.errors import KafkaError

from streams.settings import KafkaSettings

HINT = "set KAFKA_BOOTSTRAP_SERVERS, or run 'rtx-analytics kafka start'"


async def start_within(
    start: Callable[[], Awaitable[object]],
    close: Callable[[], Awaitable[object]],
    settings: KafkaSettings,
    timeout_s: float,
    error: Callable[[str], Exception],
) -> None:
    """``await start()`` (a client's start, and whatever must follow it) within ``timeout_s``.
    If no broker answers in time, ``await close()`` and raise ``error(message)``; the message
    names the bootstrap servers and what to do."""
    try:
        async with asyncio.timeout(timeout_s):
            await start()
    except (TimeoutError, KafkaError, OSError) as exc:
        await close()
        raise error(
            f"no Kafka broker answered at {settings.bootstrap_servers} within {timeout_s:g} s "
            f"({HINT}): {exc!r}"
        ) from exc
