"""Give the C heap's free pages back to the operating system now and then (glibc only).

The bridge allocates and frees a frame's bytes (often several KiB) for every batch it sends;
glibc keeps the freed memory in its heap, and pages in the middle of the heap are only returned
by ``malloc_trim``. In the 200-client soak the heap's resident size grew ~0.7 MiB a minute while
the Python objects stayed flat, and one ``malloc_trim(0)`` brought it from 11.6 back to 8.0 MiB
(docs/reliability.md). So the bridge calls it every ``RTX_BRIDGE_MALLOC_TRIM_S`` seconds (a
fraction of a millisecond each here). Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

log = logging.getLogger("ws_bridge.memory")


def malloc_trim() -> Callable[[], int] | None:
    """glibc's ``malloc_trim(0)`` as a callable, or None where there is no such function."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return lambda: int(fn(0))


async def trim_every(interval_s: float, trim: Callable[[], int]) -> None:
    """Call ``trim`` every ``interval_s`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval_s)
        started = time.perf_counter()
        released = trim()
        log.debug(
            "malloc_trim: %s in %.2f ms",
            "released memory" if released else "nothing to release",
            (time.perf_counter() - started) * 1000,
        )
