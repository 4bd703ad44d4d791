"""Batched byte-range reads (``Store.get_ranges``) vs one ``get_range`` call per range.

The read a sharded array makes: 16 "shard" objects of 256 KiB, from each its 16-byte index
(a suffix range) and 32 inner-chunk ranges of 2 KiB = 528 ranges. Cases per backend:

  get_ranges            one call: native ranged batches (Redis MULTI/EXEC of GETRANGEs,
                        SQLite substr() statements, MongoDB $in, local pread per file) or, on
                        object stores, one ranged GET each under the store's budget (256)
  get_range x<budget>   the same ranges as separate get_range calls, gathered, at the store's
                        default budget (one round trip per range)
  get_range x10         S3 only: zarr-python 3's default of 10 requests in flight

S3 is benchmarks/fake_s3.py with ``--latency`` per request (default 100 ms); the database
stores are local servers started here (redis-server, the MongoDB wire server) and files.
Prints the median of ``--runs``, the requests or round trips, and each case against get_ranges.

    .venv/bin/python benchmarks/ranged_reads.py [--runs 5] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from azarr.stores import LocalStore, MongoDBStore, RedisStore, S3Store, SQLiteStore, Store
from azarr.stores.base import ConcurrencyLimiter
from azarr.stores.ranges import ByteRange, RangeRequest, SuffixRange
from tests.services import mongodb as mongo_service
from tests.services import redis as redis_service

SHARDS, SHARD_BYTES, INNER, INNER_BYTES, INDEX_BYTES = 16, 256 * 1024, 32, 2048, 16


def requests() -> list[RangeRequest]:
    """Each shard's index (suffix) and every 4th inner chunk of it."""
    out: list[RangeRequest] = []
    for s in range(SHARDS):
        out.append((f"shard/{s}", SuffixRange(INDEX_BYTES)))
        out += [(f"shard/{s}", ByteRange(i * 4 * INNER_BYTES, (i * 4 + 1) * INNER_BYTES)) for i in range(INNER)]
    return out


def shard(s: int) -> bytes:
    return bytes((s * 7 + i) % 251 for i in range(251)) * (SHARD_BYTES // 251) + bytes(SHARD_BYTES % 251)


async def batched(store: Store) -> int:
    return len(await store.get_ranges(requests()))


async def one_by_one(store: Store) -> int:
    async def one(key: str, rng: ByteRange | SuffixRange) -> bytes | None:
        if isinstance(rng, SuffixRange):
            return await store.get_range(key, -rng.length)
        return await store.get_range(key, rng.start, rng.end)

    found = await asyncio.gather(*(one(k, r) for k, r in requests() if r is not None))
    return sum(v is not None for v in found)


def with_budget(store: Store, concurrency: int) -> Store:
    store.concurrency = concurrency
    store.limiter = ConcurrencyLimiter(concurrency)
    return store


async def timed(make: Callable[[], Store], case: Callable[[Store], Awaitable[int]], runs: int,
                count: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    """Median seconds of ``runs`` (after one warm-up) and the requests of the last run."""
    store = make()
    times, reqs = [], 0
    try:
        for i in range(runs + 1):
            await count()  # resets the counter
            t0 = time.perf_counter()
            got = await case(store)
            elapsed = time.perf_counter() - t0
            reqs = await count()
            assert got == len(requests()), got
            if i:
                times.append(elapsed)
    finally:
        await store.close()
    return statistics.median(times), reqs


async def fill(store: Store) -> None:
    await store.set_many({f"shard/{s}": shard(s) for s in range(SHARDS)})
    await store.close()


def main() -> None:
    """Start the servers, run every backend, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    import redis
    from latency import Server

    redis_gen = redis_service.redis_url.__wrapped__()  # type: ignore[attr-defined]
    mongo_gen = mongo_service.mongodb_uri.__wrapped__()  # type: ignore[attr-defined]
    redis_url, mongo_uri = next(redis_gen), next(mongo_gen)
    s3 = Server(args.latency)
    tmp = tempfile.mkdtemp()
    rows: list[tuple[str, str, float, int, str]] = []
    try:
        sync_redis = redis.Redis.from_url(redis_url)

        async def redis_calls() -> int:  # transactions (one round trip each)
            stats = sync_redis.info("commandstats")
            sync_redis.config_resetstat()
            return int(stats.get("cmdstat_exec", {}).get("calls", 0))

        def s3_make() -> Store:
            return S3Store("bench", "r", endpoint_url=s3.url, key="k", secret="s", region="us-east-1")

        async def s3_calls() -> int:
            n = s3.stats().get("requests", 0)
            s3.reset()
            return n

        async def no_count() -> int:
            return 0

        backends: list[tuple[str, Callable[[], Store], Callable[[], Awaitable[int]], str, list[int]]] = [
            ("Local", lambda: LocalStore(f"{tmp}/local"), no_count, "", []),
            ("SQLite", lambda: SQLiteStore(f"{tmp}/b.db"), no_count, "", []),
            ("Redis", lambda: RedisStore(redis_url, prefix="rbench"), redis_calls, "MULTI/EXEC", []),
            ("MongoDB", lambda: MongoDBStore(mongo_uri, database="bench", collection="ranges"), no_count, "", []),
            ("S3", s3_make, s3_calls, "requests", [10]),
        ]
        for name, make, count, unit, extra in backends:
            asyncio.run(fill(make()))
            budget = make().concurrency
            base, n = asyncio.run(timed(make, batched, args.runs, count))
            rows.append((name, "get_ranges", base, n, unit))
            t, n = asyncio.run(timed(make, one_by_one, args.runs, count))
            rows.append((name, f"get_range x{budget}", t, n, unit))
            for c in extra:
                t, n = asyncio.run(timed(lambda m=make, c=c: with_budget(m(), c), one_by_one, args.runs, count))  # type: ignore[misc]
                rows.append((name, f"get_range x{c}", t, n, unit))
    finally:
        s3.close()
        for gen in (redis_gen, mongo_gen):
            gen.close()
    print(f"{len(requests())} ranges ({SHARDS} objects x (1 suffix + {INNER} ranges)), median of {args.runs}; "
          f"S3 at {args.latency * 1000:.0f} ms per request")
    print(f"{'backend':<9}{'case':<18}{'seconds':>10}{'vs get_ranges':>15}  requests")
    first: dict[str, float] = {}
    for backend, case, t, n, unit in rows:
        first.setdefault(backend, t)
        print(f"{backend:<9}{case:<18}{t:>10.4f}{t / first[backend]:>14.1f}x  {f'{n} {unit}' if unit else ''}")


if __name__ == "__main__":
    main()
