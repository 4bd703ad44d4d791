"""Request hedging: stragglers are raced by a duplicate; values stay right; duplicates stay bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

import azarr
from azarr.stores import S3Store
from azarr.stores.hedging import HedgePolicy, Hedger
from tests.faultproxy import FaultProxy
from tests.services.moto import S3_CREDENTIALS


async def test_hedger_takes_first_answer_and_respects_budget() -> None:
    h = Hedger(HedgePolicy(warmup=10, min_delay=0.01, budget=0.1))
    calls = 0

    async def fast() -> str:
        await asyncio.sleep(0.001)
        return "fast"

    for _ in range(20):
        assert await h.run(fast) == "fast"
    assert h.threshold() is not None and h.hedges == 0

    async def straggler_then_fast() -> str:
        nonlocal calls
        calls += 1
        if calls % 2 == 1:
            await asyncio.sleep(0.3)  # the original stalls...
            return "late"
        return "duplicate"  # ...its duplicate answers

    assert await h.run(straggler_then_fast) == "duplicate"
    assert h.hedges == 1 and h.hedge_wins == 1
    for _ in range(12):  # budget: at most 10% of requests get a duplicate
        await h.run(straggler_then_fast)
    assert h.hedges <= 0.1 * h.requests


async def test_hedger_propagates_errors_when_both_fail() -> None:
    h = Hedger(HedgePolicy(warmup=1, min_delay=0.001, budget=1.0))

    async def ok() -> int:
        return 1

    await h.run(ok)

    async def boom() -> int:
        await asyncio.sleep(0.01)
        raise OSError("down")

    with pytest.raises(OSError):
        await h.run(boom)


def test_stalled_gets_are_hedged_and_values_exact(s3_endpoint: str, s3_bucket: str) -> None:
    data = np.arange(512 * 32, dtype="i4").reshape(512, 32)
    writer = S3Store(s3_bucket, "h", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    z = azarr.open_array(writer, mode="w", shape=data.shape, chunks=(1, 32), dtype="i4")
    z[...] = data
    with FaultProxy(s3_endpoint, stall_rate=0.02, stall=2.0, seed=3) as proxy:
        store = S3Store(s3_bucket, "h", endpoint_url=proxy.url, **S3_CREDENTIALS, concurrency=8,
                        hedge=HedgePolicy(warmup=64, min_delay=0.05, budget=0.1))
        r = azarr.open_array(store, mode="r")
        for _ in range(3):  # several reads: the first warms the latency window up
            np.testing.assert_array_equal(r[...], data)
        stalled = proxy.counts["stalled"]
    hedger = store.hedger
    assert hedger is not None
    assert stalled > 0 and hedger.hedge_wins > 0, (stalled, hedger.hedges, hedger.hedge_wins)
    assert hedger.hedges <= 0.1 * hedger.requests


async def _warm_hedger() -> Hedger:
    """A hedger past warm-up with a ~10 ms trigger and no budget limit."""
    h = Hedger(HedgePolicy(warmup=4, min_delay=0.01, budget=1.0))

    async def ok() -> str:
        return "warm"

    for _ in range(h.policy.warmup):
        await h.run(ok)
    return h


Request = Callable[[], Awaitable[str]]


def _first_then(original: Request, duplicate: Request) -> Request:
    """A request whose first call (the original) runs ``original`` and later calls ``duplicate``."""
    calls = 0

    async def request() -> str:
        nonlocal calls
        calls += 1
        return await (original() if calls == 1 else duplicate())

    return request


async def test_external_cancel_of_a_hedged_request_propagates_and_stops_the_duplicate() -> None:
    h = await _warm_hedger()
    duplicates_cancelled = 0

    async def slow() -> str:
        await asyncio.sleep(1.0)
        return "late"

    async def slow_duplicate() -> str:
        nonlocal duplicates_cancelled
        try:
            return await slow()
        except asyncio.CancelledError:
            duplicates_cancelled += 1
            raise

    task = asyncio.ensure_future(h.run(_first_then(slow, slow_duplicate)))
    await asyncio.sleep(0.1)  # long enough for the duplicate to be out
    assert h.hedges == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert duplicates_cancelled == 1


async def test_original_fails_but_duplicate_answers() -> None:
    h = await _warm_hedger()

    async def reset() -> str:
        await asyncio.sleep(0.1)
        raise OSError("reset")

    async def answer() -> str:
        await asyncio.sleep(0.15)
        return "duplicate"

    assert await h.run(_first_then(reset, answer)) == "duplicate"


async def test_failed_duplicate_leaves_the_original_to_answer(caplog: pytest.LogCaptureFixture) -> None:
    h = await _warm_hedger()

    async def answer() -> str:
        await asyncio.sleep(0.1)
        return "original"

    async def refused() -> str:
        raise OSError("duplicate refused")

    assert await h.run(_first_then(answer, refused)) == "original"
    assert h.hedges == 1 and h.hedge_wins == 0
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text


async def _stall() -> str:
    await asyncio.sleep(5)
    return "original"


async def _duplicate() -> str:
    return "duplicate"


async def test_hedge_win_inside_a_caller_timeout_is_not_a_timeout() -> None:
    h = await _warm_hedger()
    async with asyncio.timeout(2):
        assert await h.run(_first_then(_stall, _duplicate)) == "duplicate"
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    await asyncio.sleep(0.01)  # and the task can still await normally afterwards


async def test_original_that_swallows_the_cancel_leaves_no_pending_cancellation() -> None:
    h = await _warm_hedger()

    async def stubborn() -> str:
        try:
            return await _stall()
        except asyncio.CancelledError:
            return "original"  # badly behaved, but must not poison the caller's task

    assert await h.run(_first_then(stubborn, _duplicate)) in ("original", "duplicate")
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    await asyncio.sleep(0.01)
