"""Kafka record batches for replay, taken from the consumer's fetcher (no ConsumerRecord).

aiokafka's getmany() turns every record into a ConsumerRecord (a generator step, a dataclass,
a headers tuple: ~2 us a record). Replay takes the fetched record batches from the consumer's
fetcher instead and iterates them in C (aiokafka's own batch readers: CRC check,
decompression), ~0.8 us a record. Only what getmany does for a read_uncommitted consumer
with manual assignment is done here: control batches skipped, records before the fetch
offset skipped, the position moved past the batches, fetch errors raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Iterator
from typing import Any

_READ_UNCOMMITTED = 0  # aiokafka's isolation level constant (READ_UNCOMMITTED)

__all__ = ["raw_fetch_supported", "record_chunks", "take_fetched"]


def raw_fetch_supported(consumer: Any) -> bool:
    """True when the consumer's fetcher has the internals ``take_fetched`` uses (as in
    aiokafka 0.14); otherwise replay reads with ``getmany``."""
    fetcher = getattr(consumer, "_fetcher", None)
    return (
        isinstance(getattr(fetcher, "_records", None), dict)
        and callable(getattr(fetcher, "_create_fetch_waiter", None))
        and callable(getattr(fetcher, "_notify", None))
        and getattr(fetcher, "_isolation_level", None) == _READ_UNCOMMITTED
        and hasattr(consumer, "_subscription")
    )


async def take_fetched(
    consumer: Any, partitions: Collection[Any], timeout_s: float
) -> list[tuple[Any, int, list[Any]]]:
    """The record batches the fetcher holds for ``partitions``: ``(tp, first offset, batches)``
    (records before the first offset are to be skipped: a batch is fetched whole). The
    partition's position moves past the batches at once, so the fetcher fetches the next ones
    while these are decoded. Waits up to ``timeout_s`` for data; raises fetch errors."""
    from aiokafka.consumer.fetcher import FetchResult
    from aiokafka.errors import CorruptRecordException

    fetcher = consumer._fetcher  # noqa: SLF001 - see raw_fetch_supported
    buffered = fetcher._records  # noqa: SLF001
    deadline = asyncio.get_running_loop().time() + timeout_s
    with consumer._subscription.fetch_context():  # noqa: SLF001
        while True:
            taken = []
            for tp in [tp for tp in buffered if tp in partitions]:
                result = buffered.pop(tp)
                fetcher._notify(fetcher._wait_consume_future)  # noqa: SLF001 - fetch again
                if type(result) is not FetchResult:
                    result.check_raise()  # a FetchError: raise it, as getmany does
                if not result.check_assignment(tp):  # paused or sought elsewhere meanwhile
                    continue
                records = result._partition_records  # noqa: SLF001
                first = position = records.next_fetch_offset
                batches = []
                memory = records._records  # noqa: SLF001
                while memory.has_next():
                    batch = memory.next_batch()
                    if records._check_crcs and not batch.validate_crc():  # noqa: SLF001
                        raise CorruptRecordException(f"Invalid CRC - {tp}")
                    if not batch.is_control_batch:
                        batches.append(batch)
                    position = batch.next_offset
                result._assignment.state_value(tp).consumed_to(position)  # noqa: SLF001
                taken.append((tp, first, batches))
            remaining = deadline - asyncio.get_running_loop().time()
            if taken or remaining <= 0:
                return taken
            waiter = fetcher._create_fetch_waiter()  # noqa: SLF001
            done, _pending = await asyncio.wait([waiter], timeout=remaining)
            if not done:
                waiter.cancel()
                return []
            waiter.result()  # raises what the fetch routine failed with


def record_chunks(batches: Iterable[Any], first: int, end: int, size: int) -> Iterator[list[Any]]:
    """The records of ``batches`` with ``first <= offset < end``, in lists of at most ``size``
    (records have ``offset``, ``timestamp``, ``value``). A batch wholly inside is listed in
    C; only a batch across a bound is looked at record by record. Small lists keep the rows
    built from them small too (see ``replay_formats.JsonLinesWriter``: tens of MB of
    short-lived rows cost page faults, ~5 us a record at 20,000 a list)."""
    for batch in batches:
        base = getattr(batch, "base_offset", None)
        if base is not None and base >= first and batch.next_offset <= end:
            records = list(batch)
        else:
            records = [r for r in batch if first <= r.offset < end]
        for i in range(0, len(records), size):
            yield records[i : i + size]
