"""Per-store request policy: the retry schedule, the in-flight limiter, per-loop clients.

Every backend request goes through ``Store._call``, which applies these; they live here
so the Store contract in :mod:`azarr.stores.base` stays short.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from azarr.errors import StoreError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How a store retries transient failures (throttling, 5xx, resets, timeouts).

    Delays grow exponentially from ``base_delay`` up to ``max_delay`` with full jitter;
    a request is given up after ``attempts`` failed tries or ``total_timeout`` seconds
    (counted from its first try). Throttling answers (S3 503 SlowDown, HTTP 429, Azure
    ServerBusy, ...) are counted apart: a request may be throttled ``throttled_attempts``
    times (``None``: four times ``attempts``) before it gives up, so a throttled write
    slows down instead of ending. With ``adaptive_concurrency`` (the default) throttling
    also lowers the store's in-flight limit (see :class:`ConcurrencyLimiter`).
    """

    attempts: int = 6
    base_delay: float = 0.05
    max_delay: float = 2.0
    total_timeout: float = 60.0
    throttled_attempts: int | None = None
    adaptive_concurrency: bool = True

    def delay(self, attempt: int) -> float:
        """Return the sleep before retry number ``attempt`` (1-based), with full jitter."""
        cap = min(self.max_delay, self.base_delay * (2 ** (min(attempt, 64) - 1)))
        return random.uniform(0, cap)

    @property
    def throttle_budget(self) -> int:
        """How many times one request may be throttled before it gives up."""
        return self.throttled_attempts if self.throttled_attempts is not None else 4 * self.attempts


NO_RETRY = RetryPolicy(attempts=1, throttled_attempts=1)


class _Gate:
    """One event loop's share of a limiter: requests running and requests waiting."""

    __slots__ = ("active", "waiters")

    def __init__(self) -> None:
        self.active = 0
        self.waiters: deque[asyncio.Future[None]] = deque()


class ConcurrencyLimiter:
    """A per-store bound on requests in flight, shared by every caller of the store.

    The bound adapts to throttling (AIMD, as TCP congestion control): a throttling
    answer halves ``current_limit`` (at most once per round of requests: answers to
    requests sent before the last decrease do not count again), and every
    ``current_limit`` successful requests raise it by one, back up to ``limit``.
    ``adaptive=False`` keeps it at ``limit``.

    asyncio primitives belong to one event loop, and a store may be used from several
    (azarr's sync-shim loop and a user's loop), so the waiting queue is kept per loop;
    each loop may run ``current_limit`` requests. ``in_flight``, ``max_in_flight``,
    ``current_limit``, ``lowest_limit``, ``throttles`` and ``decreases`` are observable
    so tests and benchmarks can check the bound.
    """

    #: the factor a throttling answer multiplies the current limit by
    DECREASE = 0.5

    def __init__(self, limit: int, *, adaptive: bool = True) -> None:
        if int(limit) < 1:
            raise StoreError(f"concurrency must be >= 1, got {limit!r}")
        self.limit = int(limit)
        self.adaptive = adaptive
        self.current_limit = self.limit
        self.lowest_limit = self.limit
        self.throttles = 0
        self.decreases = 0
        self._credit = 0  # successes since the last increase
        self._epoch = 0  # bumped by every decrease
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = weakref.WeakKeyDictionary()
        # the last loop's gate, found without the weak dictionary (two lookups per request)
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], _Gate] | None = None
        self.in_flight = 0
        self.max_in_flight = 0

    def _gate(self) -> _Gate:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:  # one loop at a time is the usual case
            return last[1]
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = _Gate()
        self._last = (weakref.ref(loop), gate)
        return gate

    async def acquire(self) -> int:
        """Wait for a slot; return a ticket to pass to :meth:`throttled` if the request is throttled."""
        gate = self._gate()
        if gate.active < self.current_limit and not gate.waiters:
            gate.active += 1
        else:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            gate.waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._free(gate)  # granted, then cancelled: pass the slot on
                else:
                    gate.waiters.remove(waiter)
                raise
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return self._epoch

    def release(self) -> None:
        """Give back the slot taken by :meth:`acquire`."""
        self.in_flight -= 1
        self._free(self._gate())

    def _free(self, gate: _Gate) -> None:
        gate.active -= 1
        self._wake(gate)

    def _wake(self, gate: _Gate) -> None:
        waiters = gate.waiters
        while waiters and gate.active < self.current_limit:
            waiter = waiters.popleft()
            if not waiter.done():
                gate.active += 1  # the slot passes to the waiter now
                waiter.set_result(None)

    def succeeded(self) -> None:
        """Record a successful request (additive increase below ``limit``)."""
        if self.current_limit >= self.limit:
            return
        self._credit += 1
        if self._credit >= self.current_limit:
            self._credit = 0
            self.current_limit += 1
            self._wake(self._gate())

    def throttled(self, ticket: int) -> bool:
        """Record a throttling answer to a request that held ``ticket``; True if the limit was lowered."""
        self.throttles += 1
        if not self.adaptive or ticket != self._epoch:
            return False  # sent before the last decrease: that decrease already answered it
        self._epoch += 1
        self._credit = 0
        self.current_limit = max(1, int(self.current_limit * self.DECREASE))
        self.lowest_limit = min(self.lowest_limit, self.current_limit)
        self.decreases += 1
        return True

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class PerLoop(Generic[T]):
    """One object (client, session) per running event loop.

    Async clients belong to the loop that created them, and a store may be used from
    several loops (azarr's sync-shim loop, a user's loop, a dask worker's), so each
    backend keeps its clients in one of these.
    """

    def __init__(self) -> None:
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()
        # the last loop asked for and its object: most calls come from one loop, and this is
        # looked up on every request
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], T] | None = None

    def get(self) -> T | None:
        """This loop's object, if it has one."""
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]
        item = self._items.get(loop)
        if item is not None:
            self._last = (weakref.ref(loop), item)
        return item

    def set(self, value: T) -> T:
        """Remember ``value`` as this loop's object and return it."""
        loop = asyncio.get_running_loop()
        self._items[loop] = value
        self._last = (weakref.ref(loop), value)
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
        self._last = None
        return item
