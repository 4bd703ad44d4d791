"""W2: open a 50-array group through a 100 ms-per-request store, consolidated vs not.

Prints median wall time and requests for: opening the group and every array (and reading
each array's attributes) without consolidated metadata, and with ``open_consolidated``.
Two setups: an in-process LatencyStore wrapper around a MemoryStore, and a real S3Store
talking to benchmarks/fake_s3.py through the TCP latency proxy (benchmarks/latency_proxy.py).

    .venv/bin/python benchmarks/consolidated_open.py [--latency 0.1] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from latency_store import LatencyStore

from azarr import aio
from azarr.stores import MemoryStore, S3Store
from azarr.stores.base import Store

N_ARRAYS = 50


async def build(store: Store) -> Store:
    """A group of 50 small arrays with attributes, plus .zmetadata."""
    root = await aio.open_group(store, "w")
    for i in range(N_ARRAYS):
        await root.create_array(f"var{i:02d}", shape=(100, 100), chunks=(50, 50), dtype="f4", attributes={"i": i})
    await aio.consolidate_metadata(store)
    return store


async def open_all(store: Store, consolidated: bool) -> int:
    """Open the group and every array in it; return how many arrays were opened."""
    if consolidated:
        g = await aio.open_consolidated(store)
    else:
        g = await aio.open_group(store, "r", use_consolidated=False)
    arrays = await g.arrays()
    assert all(a.attrs["i"] == int(n[3:]) for n, a in arrays)
    return len(arrays)


def row(name: str, times: list[float], reqs: int, latency: float) -> None:
    """Print one table row."""
    med = statistics.median(times)
    print(f"{name:<48}{med:>10.3f}{reqs:>10}{med / latency:>11.2f}")


async def main() -> None:
    """Run both cases in both setups and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    inner = await build(MemoryStore())
    print(f"W2: group of {N_ARRAYS} arrays, {args.latency * 1000:.0f} ms per request, median of {args.runs}")
    print(f"{'case':<48}{'median s':>10}{'requests':>10}{'x latency':>11}")
    for name, cons in (("plain (list + batch read)", False), ("open_consolidated", True)):
        times, reqs = [], 0
        for _ in range(args.runs):
            store = LatencyStore(inner, args.latency)
            t0 = time.perf_counter()
            assert await open_all(store, cons) == N_ARRAYS
            times.append(time.perf_counter() - t0)
            reqs = store.requests
        row(f"LatencyStore: {name}", times, reqs, args.latency)

    from latency import Server  # the fake S3 endpoint + TCP latency proxy, in subprocesses

    server = Server(args.latency, via="proxy")
    try:
        opts = {"endpoint_url": server.url, "key": "bench", "secret": "bench", "region": "us-east-1"}
        writer = await build(S3Store("bench", "w2", **opts))
        await writer.close()
        for name, cons in (("plain (list + batch read)", False), ("open_consolidated", True)):
            times, reqs = [], 0
            for _ in range(args.runs):
                store = S3Store("bench", "w2", **opts)  # fresh: no warm connections
                server.reset()
                t0 = time.perf_counter()
                assert await open_all(store, cons) == N_ARRAYS
                times.append(time.perf_counter() - t0)
                reqs = server.stats().get("requests", 0)
                await store.close()
            row(f"S3 via latency proxy: {name}", times, reqs, args.latency)
    finally:
        server.close()


if __name__ == "__main__":
    asyncio.run(main())
