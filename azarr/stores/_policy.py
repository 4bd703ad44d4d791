"""Per-store request policy: the retry schedule, the in-flight limiter, per-loop clients.

Every backend request goes through ``Store._call``, which applies these; they live here
so the Store contract in :mod:`azarr.stores.base` stays short.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from dataclasses import dataclass
from typing import Generic, TypeVar

from azarr.errors import StoreError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How a store retries transient failures (throttling, 5xx, resets, timeouts).

    Delays grow exponentially from ``base_delay`` up to ``max_delay`` with full jitter;
    a request is given up after ``attempts`` tries or ``total_timeout`` seconds.
    """

    attempts: int = 6
    base_delay: float = 0.05
    max_delay: float = 2.0
    total_timeout: float = 60.0

    def delay(self, attempt: int) -> float:
        """Return the sleep before retry number ``attempt`` (1-based), with full jitter."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(0, cap)


NO_RETRY = RetryPolicy(attempts=1)


class ConcurrencyLimiter:
    """A per-store bound on requests in flight, shared by every caller of the store.

    asyncio primitives belong to one event loop, and a store may be used from several
    (azarr's sync-shim loop and a user's loop), so one semaphore is kept per loop; each
    loop gets the full budget. ``in_flight`` and ``max_in_flight`` are observable so
    tests and benchmarks can check the bound.
    """

    def __init__(self, limit: int) -> None:
        if int(limit) < 1:
            raise StoreError(f"concurrency must be >= 1, got {limit!r}")
        self.limit = int(limit)
        self._sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self.in_flight = 0
        self.max_in_flight = 0

    def _sem(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._sems.get(loop)
        if sem is None:
            sem = self._sems[loop] = asyncio.Semaphore(self.limit)
        return sem

    async def __aenter__(self) -> None:
        await self._sem().acquire()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    async def __aexit__(self, *exc: object) -> None:
        self.in_flight -= 1
        self._sem().release()


class PerLoop(Generic[T]):
    """One object (client, session) per running event loop.

    Async clients belong to the loop that created them, and a store may be used from
    several loops (azarr's sync-shim loop, a user's loop, a dask worker's), so each
    backend keeps its clients in one of these.
    """

    def __init__(self) -> None:
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T | None:
        """This loop's object, if it has one."""
        return self._items.get(asyncio.get_running_loop())

    def set(self, value: T) -> T:
        """Remember ``value`` as this loop's object and return it."""
        self._items[asyncio.get_running_loop()] = value
        return value

    def __len__(self) -> int:
        return len(self._items)

    def take(self) -> T | None:
        """Forget every loop's object; return this loop's (the only one closable from here)."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        item = self._items.get(loop) if loop is not None else None
        self._items = weakref.WeakKeyDictionary()
        return item
