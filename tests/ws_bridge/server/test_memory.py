"""The bridge's periodic malloc_trim: found on glibc, called on its interval, and cancellable."""

from __future__ import annotations

import asyncio
import contextlib
import platform

import pytest

from ws_bridge.core.config import BridgeSettings, ConfigError
from ws_bridge.server.memory import malloc_trim, trim_every


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is a glibc function")
def test_malloc_trim_is_found_and_answers_0_or_1_on_glibc() -> None:
    trim = malloc_trim()
    assert trim is not None
    big = [bytearray(64 * 1024) for _ in range(200)]  # 12.5 MiB through malloc, then freed
    del big
    assert trim() in (0, 1)


async def test_trim_every_calls_on_its_interval_until_cancelled() -> None:
    calls: list[float] = []
    three = asyncio.Event()
    loop = asyncio.get_running_loop()

    def trim() -> int:
        calls.append(loop.time())
        if len(calls) == 3:
            three.set()
        return 1

    task = asyncio.create_task(trim_every(0.02, trim))
    async with asyncio.timeout(30):
        await three.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # Never sooner than the interval (a slow machine only makes the gaps longer).
    assert all(b - a >= 0.019 for a, b in zip(calls, calls[1:], strict=False))
    done = len(calls)
    await asyncio.sleep(0.1)
    assert len(calls) == done  # nothing after cancel


def test_interval_setting_defaults_and_bad_values_name_it() -> None:
    assert BridgeSettings.from_env({"RTX_BRIDGE_DEV_MODE": "1"}).malloc_trim_s == 60.0
    off = BridgeSettings.from_env({"RTX_BRIDGE_DEV_MODE": "1", "RTX_BRIDGE_MALLOC_TRIM_S": "0"})
    assert off.malloc_trim_s == 0.0
    with pytest.raises(ConfigError, match="RTX_BRIDGE_MALLOC_TRIM_S"):
        BridgeSettings.from_env({"RTX_BRIDGE_DEV_MODE": "1", "RTX_BRIDGE_MALLOC_TRIM_S": "-1"})
