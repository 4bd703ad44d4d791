"""Where chunk codec work runs: inline when small, else split over one process-wide
thread pool (numcodecs' compressors release the GIL, so decoding overlaps the next I/O)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

#: below this many stored bytes per operation, a thread hop costs more than the codec work
INLINE_BYTES = 1 << 20

_POOL: ThreadPoolExecutor | None = None


def codec_pool() -> ThreadPoolExecutor:
    """The process-wide thread pool chunk encode/decode runs in (sized to the cores)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="azarr-codec")
    return _POOL


def _reset_pool_after_fork() -> None:
    global _POOL
    _POOL = None


os.register_at_fork(after_in_child=_reset_pool_after_fork)


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts) if items[i::parts]]


async def run_cpu(work: list[Any], fn: Callable[[list[Any]], object], nbytes: int) -> None:
    """Run ``fn(group)`` over ``work`` inline (small) or split across the codec pool."""
    if not work:
        return
    if nbytes < INLINE_BYTES or len(work) == 1:
        fn(work)
        return
    loop = asyncio.get_running_loop()
    pool = codec_pool()
    groups = _split(work, pool._max_workers)
    await asyncio.gather(*(loop.run_in_executor(pool, fn, g) for g in groups))


__all__ = ["INLINE_BYTES", "codec_pool", "run_cpu"]
