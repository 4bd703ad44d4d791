"""Where chunk codec work runs: inline when small, else split over one process-wide
thread pool (numcodecs' compressors release the GIL, so decoding overlaps the next I/O)."""

from __future__ import annotations

import asyncio
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

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


# --- per-thread scratch ---------------------------------------------------------------------

#: the most bytes a thread keeps as scratch between jobs (bigger needs get fresh arrays)
SCRATCH_MAX = 64 << 20

_SCRATCH = threading.local()


def scratch(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised array that this thread reuses from job to job.

    For the intermediate copy of a job that is done with it before the thread takes its
    next job (a shard's inner chunks between the output and the codec): a fresh array of
    megabytes costs a page fault per 4 KiB page on first touch, every time, because the
    allocator hands big blocks back to the system when they are freed. Never for object
    dtypes, nor for anything returned or kept.
    """
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > SCRATCH_MAX or dtype.hasobject:
        return np.empty(shape, dtype=dtype)
    buf: np.ndarray | None = getattr(_SCRATCH, "buf", None)
    if buf is None or buf.nbytes < nbytes:
        buf = _SCRATCH.buf = np.empty(nbytes, dtype=np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


__all__ = ["INLINE_BYTES", "SCRATCH_MAX", "codec_pool", "run_cpu", "scratch"]
