"""Per-chunk CPU overhead on an in-memory store: azarr vs zarr-python 3, same process.

Array: float32 (4096, 4096) in chunks of (32, 32) = 16384 chunks, no compressor, so the
time is azarr's / zarr's own per-chunk work (planning, store calls, copying), not codecs.
Prints a table of medians over N runs and the ratio azarr / zarr-python.

    .venv/bin/python benchmarks/overhead.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

import numpy as np

SHAPE = (4096, 4096)
CHUNKS = (32, 32)
NCHUNKS = (SHAPE[0] // CHUNKS[0]) * (SHAPE[1] // CHUNKS[1])


def median_time(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``fn`` over ``runs`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_azarr(data: np.ndarray, runs: int) -> dict[str, float]:
    """Full write and full read through azarr's async API on a MemoryStore."""
    from azarr import aio
    from azarr.stores import MemoryStore

    loop = asyncio.new_event_loop()
    arr = loop.run_until_complete(
        aio.create(SHAPE, chunks=CHUNKS, dtype="f4", compressor=None, store=MemoryStore())
    )
    write = median_time(lambda: loop.run_until_complete(arr.setitem(..., data)), runs)
    read = median_time(lambda: loop.run_until_complete(arr.getitem(...)), runs)
    assert np.array_equal(loop.run_until_complete(arr.getitem(...)), data)
    loop.close()
    return {"write": write, "read": read}


def bench_zarr(data: np.ndarray, runs: int) -> dict[str, float]:
    """The same with zarr-python 3 (zarr_format=2, no compressor, MemoryStore)."""
    import zarr
    from zarr.storage import MemoryStore

    z = zarr.create_array(MemoryStore(), shape=SHAPE, chunks=CHUNKS, dtype="f4", compressors=None, zarr_format=2)
    write = median_time(lambda: z.__setitem__(Ellipsis, data), runs)
    read = median_time(lambda: z[...], runs)
    assert np.array_equal(z[...], data)
    return {"write": write, "read": read}


def main() -> None:
    """Run both stacks and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    data = np.random.default_rng(0).standard_normal(SHAPE).astype("f4")
    rows = {"azarr": bench_azarr(data, args.runs), "zarr-python 3": bench_zarr(data, args.runs)}
    print(f"{NCHUNKS} chunks of {CHUNKS} float32, no compressor, MemoryStore, median of {args.runs}")
    print(f"{'stack':<16}{'write s':>10}{'read s':>10}{'write us/chunk':>16}{'read us/chunk':>15}")
    for name, r in rows.items():
        print(
            f"{name:<16}{r['write']:>10.3f}{r['read']:>10.3f}"
            f"{r['write'] / NCHUNKS * 1e6:>16.1f}{r['read'] / NCHUNKS * 1e6:>15.1f}"
        )
    a, z = rows["azarr"], rows["zarr-python 3"]
    print(f"ratio azarr/zarr-python: write {a['write'] / z['write']:.2f}, read {a['read'] / z['read']:.2f}")


if __name__ == "__main__":
    main()
