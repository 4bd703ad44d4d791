"""What a conditional write costs against a plain one, on W1-sized writes (1024 chunks of 16 KiB).

For each store, one table row per operation, median of ``--runs`` interleaved runs:

* ``write``: ``set_many`` (plain PUTs / MSET / ...) against ``set_many_if`` with the versions
  just read (S3: PUT with If-Match; Redis: one Lua script comparing SHA-1 digests; SQLite:
  compare and write in one transaction; LocalStore: a per-key lock around compare + rename);
* ``read``: ``get_many`` against ``get_many_for_update`` (which also returns versions:
  ETags, digests, or the bytes themselves).

S3 runs against moto (the suite's emulator, ~5 ms of server CPU per request here), so the
S3 ratio says what moto's check costs on top of its PUT, not what AWS charges in latency:
the client sends the same request with one more header either way. Redis, SQLite and the
local file system are the real things.

    .venv/bin/python benchmarks/cas_cost.py [--runs 3] [--only s3,redis,sqlite,local]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from azarr.stores import LocalStore, RedisStore, S3Store, SQLiteStore, Store
from tests.services import redis as redis_service
from tests.services.common import free_port, start, stop, wait_until
from tests.services.moto import S3_CREDENTIALS, _ready, boto3_client

N_CHUNKS, CHUNK_BYTES = 1024, 16 * 1024


@contextmanager
def moto() -> Iterator[Callable[[], Store]]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = start([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)], "moto-cas")
    try:
        wait_until(lambda: _ready(endpoint), 30, "moto_server")
        boto3_client(endpoint).create_bucket(Bucket="cas-bench")
        yield lambda: S3Store("cas-bench", "w1", endpoint_url=endpoint, **S3_CREDENTIALS)
    finally:
        stop(proc)


@contextmanager
def redis() -> Iterator[Callable[[], Store]]:
    gen = redis_service.redis_url.__wrapped__()  # the suite's fixture body: starts redis-server
    url = next(gen)
    try:
        yield lambda: RedisStore(url, prefix="casbench")
    finally:
        gen.close()


@contextmanager
def sqlite() -> Iterator[Callable[[], Store]]:
    with tempfile.TemporaryDirectory() as tmp:
        yield lambda: SQLiteStore(os.path.join(tmp, "bench.db"))


@contextmanager
def local() -> Iterator[Callable[[], Store]]:
    with tempfile.TemporaryDirectory() as tmp:
        yield lambda: LocalStore(tmp)


BACKENDS = {"s3": moto, "redis": redis, "sqlite": sqlite, "local": local}


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = await fn()
    return time.perf_counter() - t0, result


async def measure(store: Store, runs: int) -> dict[str, list[float]]:
    """Seconds per run for each of: plain write, conditional write, plain read, read for update."""
    keys = [f"w1/{i // 32}.{i % 32}" for i in range(N_CHUNKS)]
    out: dict[str, list[float]] = {"set_many": [], "set_many_if": [], "get_many": [], "get_many_for_update": []}
    for run in range(runs + 1):  # the first run warms connections and scripts up
        values = {k: os.urandom(CHUNK_BYTES) for k in keys}
        t_set, _ = await timed(lambda: store.set_many(values))  # noqa: B023 - awaited at once
        t_get, _ = await timed(lambda: store.get_many(keys))
        t_read, read = await timed(lambda: store.get_many_for_update(keys))
        new = {k: (os.urandom(CHUNK_BYTES), read[k].version) for k in keys}
        t_cas, conflicts = await timed(lambda: store.set_many_if(new))  # noqa: B023 - awaited at once
        assert not conflicts, f"{len(conflicts)} unexpected conflicts"
        if run:
            for name, t in (("set_many", t_set), ("set_many_if", t_cas), ("get_many", t_get),
                            ("get_many_for_update", t_read)):
                out[name].append(t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=",".join(BACKENDS), help="comma-separated subset of " + ",".join(BACKENDS))
    args = parser.parse_args()
    rows = []
    for name in args.only.split(","):
        with BACKENDS[name]() as make:
            store = make()

            async def go(store: Store = store) -> dict[str, list[float]]:
                try:
                    return await measure(store, args.runs)
                finally:
                    await store.close()

            times = asyncio.run(go())
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append((name, "write", med["set_many"], med["set_many_if"]))
        rows.append((name, "read", med["get_many"], med["get_many_for_update"]))
    print(f"{N_CHUNKS} chunks of {CHUNK_BYTES // 1024} KiB; median seconds of {args.runs} runs; "
          "conditional = set_many_if / get_many_for_update")
    head = f"{'store':<7} {'op':<6} {'plain s':>9} {'conditional s':>14} {'ratio':>7}"
    print(head)
    print("-" * len(head))
    for name, op, plain, cond in rows:
        print(f"{name:<7} {op:<6} {plain:>9.3f} {cond:>14.3f} {cond / plain:>6.2f}x")


if __name__ == "__main__":
    main()
