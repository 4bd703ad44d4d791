"""Where chunk codec work runs: inline when small, else split over one process-wide
thread pool (numcodecs' compressors release the GIL, so decoding overlaps the next I/O)."""

from __future__ import annotations

import asyncio
import ctypes
import math
import mmap
import os
import sys
import threading
import time
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


# --- mapping a new output while the first requests are in flight ----------------------------

#: outputs at least this big are mapped ahead (smaller ones fault in a few pages as they fill)
PREFAULT_MIN = 1 << 20
_PREFAULT_PIECE = 8 << 20
_MADV_HUGEPAGE = 14
_MADV_NOHUGEPAGE = 15
_MADV_POPULATE_WRITE = 23  # Linux 5.14+: map pages writable without touching their contents
#: CPU seconds per byte above which mapping in huge pages costs more than in 4 KiB pages (1 ms per MiB)
_SLOW_MAPPING = 1e-3 / (1 << 20)

_PREFAULTER: ThreadPoolExecutor | None = None
_madvise: Any = None  # libc's madvise, once found; False where there is none


def _libc_madvise() -> Any:
    global _madvise
    if _madvise is None:
        _madvise = False
        if sys.platform.startswith("linux"):
            try:
                fn = ctypes.CDLL(None, use_errno=True).madvise
                fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
                fn.restype = ctypes.c_int
                _madvise = fn
            except (OSError, AttributeError):
                pass
    return _madvise


def _populate(arr: np.ndarray, start: int, length: int) -> None:
    """Map ``length`` bytes from address ``start`` (inside ``arr``, which this call keeps alive)."""
    global _madvise
    fn = _libc_madvise()
    if fn and fn(start, length, _MADV_POPULATE_WRITE) != 0 and ctypes.get_errno() == 22:
        _madvise = False  # EINVAL: a kernel without MADV_POPULATE_WRITE; stop asking


def _map(arr: np.ndarray, start: int, end: int) -> None:
    """Map the pages from ``start`` to ``end`` (inside ``arr``) piece by piece (the prefault thread).

    numpy asks for huge pages for big arrays. Where the hypervisor takes back the memory of
    free huge pages (virtio free page reporting: every free 2 MiB block, a second or two
    after it was freed), mapping a huge page means the host must back and clear it first:
    several times the cost of 4 KiB pages, more than a read's latency hides. When the first
    piece shows that cost, the rest is mapped in 4 KiB pages, then marked as numpy left it,
    so the kernel may still merge those pages into huge ones later.
    """
    small = False
    lo = start
    while lo < end:
        length = min(_PREFAULT_PIECE, end - lo)
        spent = time.thread_time()
        _populate(arr, lo, length)
        lo += length
        if not small and lo < end and time.thread_time() - spent > length * _SLOW_MAPPING:
            fn = _libc_madvise()
            small = bool(fn) and fn(lo, end - lo, _MADV_NOHUGEPAGE) == 0
    fn = _libc_madvise()
    if small and fn:
        fn(start, end - start, _MADV_HUGEPAGE)


def prefault(arr: np.ndarray) -> None:
    """Have the pages of a new, still unwritten output mapped by a background thread.

    A fresh array of megabytes costs a page fault per page on its first write (several
    microseconds each on a virtual machine, more where the kernel compacts memory for
    huge pages), and without this those faults land in the decoding that follows the
    last response, where the read waits for them. Started as the first requests go out,
    the mapping runs while the read waits for the network. ``MADV_POPULATE_WRITE`` never
    changes the contents, so decoders may write the same pages meanwhile. Linux only; a
    no-op elsewhere, for small arrays, and for object arrays. See :func:`_map` for when
    the pages are 4 KiB ones.
    """
    if arr.nbytes < PREFAULT_MIN or arr.dtype.hasobject or not _libc_madvise():
        return
    global _PREFAULTER
    if _PREFAULTER is None:
        _PREFAULTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="azarr-prefault")
    page = mmap.PAGESIZE
    base = arr.__array_interface__["data"][0]
    start = -(-base // page) * page
    end = (base + arr.nbytes) // page * page
    if end > start:
        _PREFAULTER.submit(_map, arr, start, end)


def _reset_prefaulter_after_fork() -> None:
    global _PREFAULTER
    _PREFAULTER = None


os.register_at_fork(after_in_child=_reset_prefaulter_after_fork)


__all__ = ["INLINE_BYTES", "PREFAULT_MIN", "SCRATCH_MAX", "codec_pool", "prefault", "run_cpu", "scratch"]
