"""Read a 1024-chunk array from SQLite, Redis and MongoDB: native batches vs one request per chunk.

Starts its own redis-server and MongoDB wire server (SecantusDB) on 127.0.0.1. Cases:
  batched          get_many -> MGET / find $in / SELECT ... IN (one call per 1000 keys)
  per-chunk, x64   one GET per chunk, 64 in flight (the store's default budget)
  per-chunk, x1    one GET per chunk, one at a time (a naive sequential reader)

    .venv/bin/python benchmarks/db_batching.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from azarr import aio
from azarr.stores import MongoDBStore, RedisStore, SQLiteStore, Store
from tests.services import mongodb as mongo_service
from tests.services import redis as redis_service

SHAPE, CHUNKS = (1024, 256), (1, 256)  # 1024 chunks of 1 KiB


def unbatched(store: Store, concurrency: int) -> Store:
    """The same store with native batches switched off (one request per key)."""
    clone = store.with_read_only(True)
    clone.limiter.limit = concurrency
    from azarr.stores.base import ConcurrencyLimiter

    clone.limiter = ConcurrencyLimiter(concurrency)
    clone._get_batch = None  # type: ignore[assignment]
    return clone


async def time_read(store: Store, runs: int) -> float:
    arr = await aio.open_array(store, "r")
    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        await arr.getitem(...)
        times.append(time.perf_counter() - t0)
    await store.close()
    return statistics.median(times[1:])


async def bench(name: str, make: Callable[[], Store], runs: int) -> list[tuple[str, str, float]]:
    """Write the array once, then time the three read cases."""
    store = make()
    arr = await aio.open_array(store, "w", shape=SHAPE, chunks=CHUNKS, dtype="f4", compressor=None)
    await arr.setitem(..., np.random.default_rng(0).standard_normal(SHAPE).astype("f4"))
    await store.close()
    rows = [(name, "batched", await time_read(make(), runs))]
    rows.append((name, "per-chunk, x64", await time_read(unbatched(make(), 64), runs)))
    rows.append((name, "per-chunk, x1", await time_read(unbatched(make(), 1), runs)))
    return rows


def main() -> None:
    """Start servers, run all backends, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    redis_gen = redis_service.redis_url.__wrapped__()  # type: ignore[attr-defined]
    mongo_gen = mongo_service.mongodb_uri.__wrapped__()  # type: ignore[attr-defined]
    redis_url, mongo_uri = next(redis_gen), next(mongo_gen)
    tmp = tempfile.mkdtemp()
    try:
        rows: list[tuple[str, str, float]] = []
        rows += asyncio.run(bench("SQLite", lambda: SQLiteStore(f"{tmp}/b.db"), args.runs))
        rows += asyncio.run(bench("Redis", lambda: RedisStore(redis_url, prefix="bench"), args.runs))
        rows += asyncio.run(bench("MongoDB", lambda: MongoDBStore(mongo_uri, database="bench", collection="b"), args.runs))
    finally:
        for gen in (redis_gen, mongo_gen):
            gen.close()
    print(f"read of {SHAPE} f4 in {CHUNKS} chunks = 1024 chunks, median of {args.runs}")
    print(f"{'backend':<10}{'case':<18}{'seconds':>10}{'vs batched':>12}")
    base = {}
    for backend, case, t in rows:
        base.setdefault(backend, t)
        print(f"{backend:<10}{case:<18}{t:>10.4f}{t / base[backend]:>11.1f}x")


if __name__ == "__main__":
    main()
