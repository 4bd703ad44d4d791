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
import weakref
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


class _Watch:
    """One hedgeable request in flight: the task awaiting it and what its duplicate did."""

    __slots__ = ("deadline", "done", "fn", "result", "second", "task", "won")

    def __init__(self, task: asyncio.Task[object], fn: Callable[[], Awaitable[object]], deadline: float) -> None:
        self.task = task
        self.fn = fn
        self.deadline = deadline
        self.done = False
        self.second: asyncio.Task[object] | None = None
        self.won = False
        self.result: object = None


class _LoopState:
    """The watches of one event loop and the single timer that sweeps them."""

    __slots__ = ("timer", "watches")

    def __init__(self) -> None:
        self.watches: deque[_Watch] = deque()
        self.timer: asyncio.TimerHandle | None = None


class Hedger:
    """Tracks GET latencies and issues bounded duplicates (one per store).

    A request costs no extra task, future or timer: the original runs in the caller's own
    task, and one timer per event loop sweeps the requests in flight a few times per
    trigger delay. When a duplicate answers first, the caller's task is cancelled out of
    the original and the cancellation is taken back (as ``asyncio.timeout`` does), so
    the caller sees the duplicate's answer.
    """

    def __init__(self, policy: HedgePolicy) -> None:
        self.policy = policy
        self._samples: deque[float] = deque(maxlen=policy.window)
        self._threshold: float | None = None
        self._since_update = 0
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], _LoopState] | None = None
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
        task = asyncio.current_task()
        if delay is None or task is None:  # warming up: no race
            result = await fn()
            self._record(time.monotonic() - start)
            return result
        loop = task.get_loop()
        last = self._last
        if last is not None and last[0]() is loop:  # the same loop as last time: no weak-dict lookup
            state = last[1]
        else:
            found = self._loops.get(loop)
            if found is None:
                found = self._loops[loop] = _LoopState()
            state = found
            self._last = (weakref.ref(loop), state)
        watch = _Watch(task, fn, loop.time() + delay)  # type: ignore[arg-type]
        state.watches.append(watch)
        if state.timer is None:
            state.timer = loop.call_later(self._tick(delay), self._sweep, loop, state)
        cancelling = task.cancelling()
        try:
            result = await fn()
        except asyncio.CancelledError:
            watch.done = True
            if watch.won and task.uncancel() <= cancelling:
                self._record(time.monotonic() - start)
                return watch.result  # type: ignore[return-value]
            if watch.second is not None:
                watch.second.cancel()
            raise
        except Exception:
            watch.done = True
            second = watch.second
            if second is None:
                raise
            result = await second  # type: ignore[assignment]  # the duplicate may still answer
            self._record(time.monotonic() - start)
            return result
        except BaseException:
            watch.done = True
            if watch.second is not None:
                watch.second.cancel()
            raise
        watch.done = True
        if watch.won and task.cancelling() > cancelling:
            task.uncancel()  # fn() swallowed our cancellation; do not leave it counted
        if watch.second is not None:
            watch.second.cancel()
        self._record(time.monotonic() - start)
        return result

    def _tick(self, delay: float) -> float:
        # a few sweeps per trigger delay: a hedge goes out at most ~25% late
        return max(0.005, delay / 4)

    def _sweep(self, loop: asyncio.AbstractEventLoop, state: _LoopState) -> None:
        state.timer = None
        now = loop.time()
        watches = state.watches
        while watches and (watches[0].done or watches[0].deadline <= now):
            watch = watches.popleft()
            if not watch.done and self._may_hedge():
                self._launch(loop, watch)
        if watches:
            delay = self._threshold or self.policy.min_delay
            state.timer = loop.call_later(self._tick(delay), self._sweep, loop, state)

    def _launch(self, loop: asyncio.AbstractEventLoop, watch: _Watch) -> None:
        self.hedges += 1
        second = watch.second = loop.create_task(watch.fn())  # type: ignore[arg-type]

        def answered(fut: asyncio.Task[object]) -> None:
            if watch.done or fut.cancelled() or fut.exception() is not None:
                return  # the original still decides (a failed duplicate is not an answer)
            self.hedge_wins += 1
            watch.won = True
            watch.result = fut.result()
            watch.task.cancel()

        second.add_done_callback(answered)
