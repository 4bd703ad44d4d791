"""Big buffers reused once nobody holds them any more (pure standard library, any layer may use it).

A fresh multi-megabyte buffer costs a page fault per 4 KiB page on its first write (on
virtual machines several microseconds each: more than filling it), and glibc hands freed
big blocks back to the system, so every big response body received, or every shard
assembled, would fault its pages in again. A pool keeps up to ``max_bytes`` of buffers and
hands one out again when its reference count shows that the pool alone still holds it
(whoever got it has dropped it, with every view of it: a ``memoryview`` or numpy array
over a buffer holds a reference). Without a GIL reference counts are not exact, so there a
pool keeps nothing.
"""

from __future__ import annotations

import sys
import threading


def _free_refcount() -> int:
    """What ``sys.getrefcount`` says of a buffer only the pool holds, seen from the pool's loop
    over its list (the list, the loop variable and the call's argument, on CPython today):
    measured, not assumed, so that an interpreter counting differently never makes a buffer
    someone holds look free."""
    probe = [bytearray(1)]
    for buf in probe:
        return sys.getrefcount(buf)
    raise AssertionError("unreachable")


class BufferPool:
    """Bytearrays of any size, reused once free; up to ``max_bytes`` of them are kept.

    ``take`` is safe from several threads (one lock; it does no I/O). A buffer handed out
    must not be kept past its use by anyone who did not take it, or it simply stays out of
    the pool: reuse never depends on anyone giving a buffer back.
    """

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes if getattr(sys, "_is_gil_enabled", lambda: True)() else 0
        self._buffers: list[bytearray] = []
        self._bytes = 0
        self._free = _free_refcount()
        self._lock = threading.Lock()

    def take(self, size: int) -> bytearray:
        """A bytearray of exactly ``size`` bytes (contents undefined: the caller fills it)."""
        with self._lock:
            best: bytearray | None = None
            for buf in self._buffers:
                if (sys.getrefcount(buf) == self._free and size < buf.__alloc__() <= 2 * size
                        and (best is None or buf.__alloc__() < best.__alloc__())):
                    best = buf
            if best is not None:
                # within its allocation (and at least half of it) a bytearray changes length in
                # place: no new memory, only the bytes it grows by are written
                if len(best) > size:
                    del best[size:]
                elif len(best) < size:
                    best.extend(bytes(size - len(best)))
                return best
            buf = bytearray(size)
            if size > self.max_bytes:
                return buf
            if self._bytes + size > self.max_bytes:
                self._evict(size)
            if self._bytes + size <= self.max_bytes:
                self._buffers.append(buf)
                self._bytes += buf.__alloc__()  # constant: reuse stays within the allocation
            return buf

    def _evict(self, size: int) -> None:
        """Drop free buffers, oldest first, until ``size`` more bytes fit (buffers of sizes
        no longer asked for must not keep the pool full)."""
        kept: list[bytearray] = []
        for buf in self._buffers:
            if self._bytes + size > self.max_bytes and sys.getrefcount(buf) == self._free:
                self._bytes -= buf.__alloc__()
            else:
                kept.append(buf)
        self._buffers = kept

    def clear(self) -> None:
        """Forget every buffer (those still in use stay with their holders)."""
        with self._lock:
            self._buffers.clear()
            self._bytes = 0


__all__ = ["BufferPool"]
