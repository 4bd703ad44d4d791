"""Throttling slows a store down instead of ending its work.

The end-to-end test puts a rate-limiting proxy (503 SlowDown above 200 requests/s, as S3
throttles) in front of the suite's moto server and writes and reads a 4096-chunk array
through it. The unit tests pin down the limiter's AIMD rule and the retry budget.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

import azarr
from azarr.errors import StoreError, ThrottledError
from azarr.stores import ConcurrencyLimiter, MemoryStore, RetryPolicy, S3Store
from tests.faultproxy import FaultProxy
from tests.services.moto import S3_CREDENTIALS


def test_throttled_4096_chunk_write_and_read_complete(s3_endpoint: str, s3_bucket: str) -> None:
    data = np.random.default_rng(18).integers(0, 60000, (4096, 64)).astype("u2")
    with FaultProxy(s3_endpoint, rate_limit=200, burst=10) as proxy:
        store = S3Store(s3_bucket, "throttled", endpoint_url=proxy.url, **S3_CREDENTIALS)  # 256 in flight by default
        z = azarr.open_array(store, mode="w", shape=data.shape, chunks=(1, 64), dtype="u2")
        z[...] = data
        back = azarr.open_array(store, mode="r")[...]
        counts = dict(proxy.counts)
    np.testing.assert_array_equal(back, data)
    assert counts["throttled"] > 200, counts  # the proxy did throttle, hard
    limiter = store.limiter
    assert limiter.throttles >= counts["throttled"] // 2 and limiter.decreases >= 3, vars(limiter)
    assert limiter.lowest_limit <= 32 < limiter.limit  # the store slowed itself down ...
    assert limiter.max_in_flight <= limiter.limit
    clean = S3Store(s3_bucket, "throttled", endpoint_url=s3_endpoint, **S3_CREDENTIALS)  # ... and nothing was lost
    np.testing.assert_array_equal(azarr.open_array(clean, mode="r")[::97], data[::97])


# --- the limiter's rule ----------------------------------------------------------------------


async def test_throttling_halves_the_limit_once_per_round() -> None:
    limiter = ConcurrencyLimiter(64)
    tickets = [await limiter.acquire() for _ in range(40)]
    assert limiter.throttled(tickets[0]) and limiter.current_limit == 32
    for ticket in tickets[1:]:  # answers to requests sent before the decrease: already accounted for
        assert not limiter.throttled(ticket)
    assert limiter.current_limit == 32 and limiter.throttles == 40 and limiter.decreases == 1
    for _ in tickets:
        limiter.release()
    later = await limiter.acquire()  # sent after the decrease: may lower it again
    assert limiter.throttled(later) and limiter.current_limit == 16
    limiter.release()
    for _ in range(10):
        ticket = await limiter.acquire()
        limiter.throttled(ticket)
        limiter.release()
    assert limiter.current_limit == 1 == limiter.lowest_limit  # never below one request


async def test_success_raises_the_limit_by_one_per_round() -> None:
    limiter = ConcurrencyLimiter(10)
    limiter.throttled(await limiter.acquire())
    limiter.release()
    assert limiter.current_limit == 5
    for expected in (6, 7, 8, 9, 10):
        for _ in range(limiter.current_limit):  # one round of requests at the current limit
            await limiter.acquire()
            limiter.release()
            limiter.succeeded()
        assert limiter.current_limit == expected
    for _ in range(50):
        limiter.succeeded()
    assert limiter.current_limit == 10  # never above the configured concurrency


async def test_a_lowered_limit_holds_requests_back_and_a_raised_one_lets_them_go() -> None:
    limiter = ConcurrencyLimiter(4)
    held = [await limiter.acquire() for _ in range(4)]
    limiter.throttled(held[0])  # 4 -> 2, with 4 still in flight
    waiting = [asyncio.ensure_future(limiter.acquire()) for _ in range(3)]
    await asyncio.sleep(0)
    for _ in range(3):
        limiter.release()
    await asyncio.sleep(0)
    assert sum(w.done() for w in waiting) == 1  # 1 running + 1 admitted = the new limit of 2
    limiter._credit = limiter.current_limit - 1
    limiter.succeeded()  # a round of successes: 2 -> 3 admits one more waiter at once
    await asyncio.sleep(0)
    assert limiter.current_limit == 3 and sum(w.done() for w in waiting) == 2
    waiting[2].cancel()  # a cancelled waiter gives up its place
    await asyncio.gather(waiting[2], return_exceptions=True)
    assert limiter.in_flight == 3 and limiter.max_in_flight == 4


async def test_without_adaptation_the_limit_stays() -> None:
    limiter = ConcurrencyLimiter(8, adaptive=False)
    assert not limiter.throttled(await limiter.acquire())
    assert limiter.current_limit == 8 and limiter.throttles == 1
    assert MemoryStore(retry=RetryPolicy(adaptive_concurrency=False)).limiter.adaptive is False


# --- the retry budget --------------------------------------------------------------------------


def throttling_store(times: int, retry: RetryPolicy) -> tuple[MemoryStore, list[int]]:
    """A MemoryStore whose reads are throttled ``times`` times before they answer."""
    store = MemoryStore({"k": b"v"}, retry=retry, concurrency=8)
    calls: list[int] = []
    plain = store._get_batch

    async def get_batch(keys: list[str]) -> dict[str, bytes]:
        calls.append(len(keys))
        if len(calls) <= times:
            raise ThrottledError("SlowDown", store=store.name)
        return await plain(keys)

    store._get_batch = get_batch  # type: ignore[method-assign]
    return store, calls


async def test_throttled_requests_get_a_larger_budget_than_failures() -> None:
    fast = RetryPolicy(attempts=3, base_delay=0.0001, max_delay=0.001)
    assert fast.throttle_budget == 12 and RetryPolicy().throttle_budget == 24
    store, calls = throttling_store(10, fast)  # more throttles than `attempts`, fewer than the budget
    assert await store.get_many(["k"]) == {"k": b"v"}
    assert len(calls) == 11 and store.limiter.throttles == 10 and store.limiter.current_limit < 8
    store, calls = throttling_store(100, fast)
    with pytest.raises(StoreError, match="after 12 attempts.*throttled") as info:
        await store.get_many(["k"])
    assert not isinstance(info.value, ThrottledError)  # given up: no longer "transient"
    store, calls = throttling_store(100, RetryPolicy(attempts=3, base_delay=0.0001, throttled_attempts=2))
    with pytest.raises(StoreError, match="after 2 attempts"):
        await store.get_many(["k"])


async def test_plain_failures_keep_their_budget() -> None:
    store = MemoryStore({"k": b"v"}, retry=RetryPolicy(attempts=3, base_delay=0.0001))
    calls: list[Any] = []

    async def broken(keys: list[str]) -> dict[str, bytes]:
        calls.append(keys)
        raise ConnectionResetError("reset")

    store._get_batch = broken  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="after 3 attempts"):
        await store.get_many(["k"])
    assert len(calls) == 3 and store.limiter.throttles == 0 and store.limiter.current_limit == store.concurrency
