"""Request hedging for idempotent GETs: when a request has not answered after a high
percentile of recent latencies, send a duplicate and take whichever answers first.

The trigger adapts (p95 of the last few hundred GET latencies, never below a floor) and
a budget caps duplicates at a small fraction of all requests, so a slow store is never
flooded. Object stores' tail latency (a few requests stalling for seconds) then stops
deciding the time of a whole array read.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class HedgePolicy:
    """When to hedge: ``factor`` x the ``percentile`` of the last ``window`` latencies (at
    least ``min_delay`` seconds, and only after ``warmup`` samples), at most ``budget``
    extra requests per request sent."""

    percentile: float = 0.95
    #: the trigger is ``factor`` x the percentile: a tight latency distribution (every
    #: request ~100 ms) should not hedge its own p95, only real stragglers
    factor: float = 1.5
    window: int = 512
    warmup: int = 32
    min_delay: float = 0.02
    budget: float = 0.05


class Hedger:
    """Tracks GET latencies and issues bounded duplicates (one per store)."""

    def __init__(self, policy: HedgePolicy) -> None:
        self.policy = policy
        self._samples: deque[float] = deque(maxlen=policy.window)
        self._threshold: float | None = None
        self._since_update = 0
        self.requests = 0
        self.hedges = 0
        self.hedge_wins = 0

    def threshold(self) -> float | None:
        """The current trigger delay in seconds (None until warmed up)."""
        return self._threshold

    def _record(self, seconds: float) -> None:
        self._samples.append(seconds)
        self._since_update += 1
        if len(self._samples) >= self.policy.warmup and (self._threshold is None or self._since_update >= 32):
            ordered = sorted(self._samples)
            idx = min(len(ordered) - 1, int(len(ordered) * self.policy.percentile))
            self._threshold = max(self.policy.min_delay, ordered[idx] * self.policy.factor)
            self._since_update = 0

    def _may_hedge(self) -> bool:
        return self.hedges + 1 <= self.policy.budget * self.requests

    async def run(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn()``; duplicate it once if it is slower than the threshold and budget allows."""
        self.requests += 1
        start = time.monotonic()
        delay = self._threshold
        if delay is None:  # warming up: no race, no extra task
            result = await fn()
            self._record(time.monotonic() - start)
            return result
        first = asyncio.ensure_future(fn())
        # A timer and a done-callback on one future: the cheapest race asyncio offers
        # (asyncio.wait costs ~3x more per request, and this runs for every chunk GET).
        loop = asyncio.get_running_loop()
        gate: asyncio.Future[bool] = loop.create_future()

        def _open(_: object = None) -> None:
            if not gate.done():
                gate.set_result(True)

        first.add_done_callback(_open)
        timer = loop.call_later(delay, _open)
        try:
            await gate
        except BaseException:
            first.cancel()
            raise
        finally:
            timer.cancel()
            first.remove_done_callback(_open)
        if first.done() or not self._may_hedge():
            result = await first
            self._record(time.monotonic() - start)
            return result
        self.hedges += 1
        second = asyncio.ensure_future(fn())
        pending = {first, second}
        error: BaseException | None = None
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is None:
                        if task is second:
                            self.hedge_wins += 1
                        self._record(time.monotonic() - start)
                        return task.result()
                    error = task.exception()
            assert error is not None
            raise error
        finally:
            for task in pending:
                task.cancel()
