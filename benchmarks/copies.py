"""Copying an array between two prefixes of a 100 ms-per-request S3 endpoint.

The array: float32 (1024, 1024) in (64, 64) chunks = 256 chunks, Zstd level 1 (Zarr v2).
Stacks, each copying it from ``src`` to a fresh destination:

- ``azarr copy_store``: raw bytes, batched ``get_many`` windows into ``set_many`` windows;
- ``azarr copy``: the node copy (metadata from the plan, chunks as raw bytes, one stream);
- ``azarr copy, rechunked``: ``chunks=(128, 128)`` forces the decode/re-encode path (slabs);
- ``per-key loop``: zarr-python 2's ``copy_store`` algorithm (``dest[k] = source[k]`` for each
  key in turn) on azarr's own S3 client, the baseline;
- with ``--peers``: zarr-python 3's ``from_array`` on s3fs (default concurrency 10, and 256).

Prints the median of ``--runs`` runs (the per-key loop runs once: it takes minutes), the
requests the endpoint saw, and each stack's time as a ratio to the per-key loop.

    .venv/bin/python benchmarks/copies.py [--latency 0.1] [--runs 3] [--peers]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from latency import Server  # a sibling script

SHAPE, CHUNKS = (1024, 1024), (64, 64)


def timed(server: Server, fn: Callable[[], object], runs: int) -> tuple[float, int]:
    """Median seconds over ``runs`` and the requests of the last run."""
    times, reqs = [], 0
    for _ in range(runs):
        server.reset()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        reqs = server.stats().get("requests", 0)
    return statistics.median(times), reqs


def main() -> None:
    """Build the source once, run every stack, print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peers", action="store_true")
    args = parser.parse_args()

    import numcodecs

    import azarr
    from azarr.stores import S3Store

    server = Server(args.latency)
    opened: list[S3Store] = []
    try:
        opts = {"endpoint_url": server.url, "key": "bench", "secret": "bench", "region": "us-east-1"}
        rng = np.random.default_rng(0)
        data = (np.round(rng.standard_normal(SHAPE) * 4) / 4).astype("f4")
        src = azarr.open_array(S3Store("bench", "src", **opts), mode="w", shape=SHAPE, chunks=CHUNKS, dtype="f4",
                               compressor=numcodecs.Zstd(level=1))
        src[...] = data

        source = src.store

        def fresh() -> S3Store:
            """A destination under a new prefix (closed after the run, with its connections)."""
            store = S3Store("bench", f"dst-{uuid.uuid4().hex[:8]}", **opts)
            opened.append(store)
            return store

        def copy_store() -> None:
            azarr.copy_store(source, fresh())

        def copy_node(**kws: object) -> Callable[[], None]:
            def run() -> None:
                dst = azarr.open_group(fresh(), mode="w", zarr_format=2)
                azarr.copy(src, dst, name="a", **kws)

            return run

        def per_key_loop() -> None:
            dest = fresh()

            async def loop() -> None:
                for key in await source.list():
                    await dest.set(key, await source.get(key))  # type: ignore[arg-type]

            azarr.sync.run(loop())

        stacks: list[tuple[str, Callable[[], object], int]] = [
            ("azarr copy_store", copy_store, args.runs),
            ("azarr copy", copy_node(), args.runs),
            ("azarr copy, rechunked (128, 128)", copy_node(chunks=(128, 128)), args.runs),
        ]
        if args.peers:
            stacks += [(f"zarr-python 3 from_array, s3fs, concurrency {c}", zarr_from_array(server, c), args.runs)
                       for c in (10, 256)]
        stacks.append(("per-key loop (zarr-python 2's algorithm)", per_key_loop, 1))
        rows = []
        for name, fn, runs in stacks:
            rows.append((name, *timed(server, fn, runs)))
            for store in opened:
                azarr.sync.run(store.close())
            opened.clear()
        base = rows[-1][1]
        print(f"copy of {np.prod([s // c for s, c in zip(SHAPE, CHUNKS)])} chunks, {args.latency * 1000:.0f} ms "
              f"per request, median of {args.runs} runs (the per-key loop: 1)")
        print(f"{'stack':48} {'seconds':>8} {'requests':>9} {'x per-key loop':>15}")
        for name, seconds, reqs in rows:
            print(f"{name:48} {seconds:8.2f} {reqs:9d} {seconds / base:15.3f}")
    finally:
        server.close()


def zarr_from_array(server: Server, concurrency: int) -> Callable[[], object]:
    """zarr-python 3 copying the same array with ``from_array`` through s3fs."""
    import zarr
    from zarr.storage import FsspecStore

    def store(path: str) -> FsspecStore:
        return FsspecStore.from_url(
            f"s3://bench/{path}",
            storage_options={"endpoint_url": server.url, "key": "bench", "secret": "bench", "asynchronous": True},
        )

    def run() -> None:
        zarr.config.set({"async.concurrency": concurrency})
        source = zarr.open_array(store("src"), mode="r", zarr_format=2)
        zarr.from_array(store(f"zarr-{uuid.uuid4().hex[:8]}"), data=source)

    return run


if __name__ == "__main__":
    main()
