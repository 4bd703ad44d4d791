"""W1 through zarr-python 3 on azarr's S3 store (``as_zarr_store``) vs zarr-python's own S3 stores.

The same 100 ms-per-request endpoint as ``benchmarks/latency.py`` (``benchmarks/fake_s3.py`` in its
own process), the same workload W1 (float32 (2048, 2048) in (64, 64) chunks = 1024 chunks, Zstd
level 1, stored as Zarr v2), and for each ``async.concurrency`` (zarr-python's bound on requests
in flight; 10 is its default) the same zarr-python code on three stores:

* ``azarr adapter``: ``as_zarr_store("s3://bench/...", ...)`` (azarr's S3Store, lean HTTP/1.1 path);
* ``obstore``: ``zarr.storage.ObjectStore(obstore.store.S3Store(...))``;
* ``s3fs``: ``zarr.storage.FsspecStore`` on s3fs.

Prints the median seconds of N runs per case, the requests the endpoint saw, the client's CPU
seconds (this process), and the adapter's time as a ratio of each peer's at the same concurrency.

    .venv/bin/python benchmarks/zarr_adapter.py [--latency 0.1] [--runs 3] [--concurrency 10 256]

The newest zarr-python needs Python >= 3.12: ``bash benchmarks/setup_zarr_latest.sh`` makes
``.venv-zarr-latest`` (azarr editable, newest zarr, obstore, s3fs) to run this script with.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from latency import CHUNKS, REGION, SHAPE, Server, endpoint_check, workload, zarr_cases

CASES = ["write", "read", "region (64 chunks)", "metadata open"]
STORES = ["azarr adapter", "obstore", "s3fs"]


def adapter_cases(server: Server, data: np.ndarray, concurrency: int) -> dict[str, Callable[[], object]]:
    """The W1 cases for zarr-python 3 on azarr's S3Store through the adapter."""
    import numcodecs
    import zarr

    from azarr.stores import as_zarr_store

    zarr.config.set({"async.concurrency": concurrency})
    store = as_zarr_store(f"s3://bench/adapter-{concurrency}", endpoint_url=server.url, key="bench",
                          secret="bench", region="us-east-1")
    z = zarr.create_array(store, shape=SHAPE, chunks=CHUNKS, dtype="f4", zarr_format=2,
                          compressors=numcodecs.Zstd(level=1), overwrite=True)
    return {
        "write": lambda: z.__setitem__(Ellipsis, data),
        "read": lambda: z[...],
        "region (64 chunks)": lambda: z[REGION],
        "metadata open": lambda: zarr.open_array(store, mode="r", zarr_format=2),
        "_close": store.close,
    }


def make(kind: str, server: Server, data: np.ndarray, concurrency: int) -> dict[str, Callable[[], object]]:
    """The cases of one store kind at one concurrency."""
    if kind == "azarr adapter":
        return adapter_cases(server, data, concurrency)
    cases = zarr_cases(server, data, kind, concurrency)
    cases.pop("_concurrency")
    cases["_close"] = lambda: None
    return cases


def measure(server: Server, fn: Callable[[], object], runs: int) -> tuple[float, float, int]:
    """Median wall seconds, median CPU seconds of this process, and requests per run."""
    walls, cpus, reqs = [], [], 0
    for _ in range(runs):
        server.reset()
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        reqs = server.stats().get("requests", 0)
    return statistics.median(walls), statistics.median(cpus), reqs


def main() -> None:
    """Run every store at every concurrency and print one table."""
    import zarr

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 256])
    args = parser.parse_args()
    data = workload()
    server = Server(args.latency)
    try:
        check = endpoint_check(server)
        print(f"zarr-python {zarr.__version__} on Python {sys.version.split()[0]}")
        print(f"endpoint check: 100 concurrent GETs took {check:.3f} s at {args.latency * 1000:.0f} ms per request")
        if args.latency and check > 5 * args.latency:
            print("WARNING: the endpoint serialises requests; the table below measures it, not the stores")
        print(f"W1 through zarr-python: f4 {SHAPE} in {CHUNKS} chunks (1024), Zstd(1), Zarr v2; "
              f"{args.latency * 1000:.0f} ms per request; median of {args.runs}")
        results: dict[tuple[str, int, str], tuple[float, float, int]] = {}
        for concurrency in args.concurrency:
            for kind in STORES:
                try:
                    cases = make(kind, server, data, concurrency)
                except Exception as exc:  # noqa: BLE001 - a store that cannot run here is reported, not hidden
                    print(f"{kind} x{concurrency}: could not run: {type(exc).__name__}: {exc}")
                    continue
                for case in CASES:
                    try:
                        results[(kind, concurrency, case)] = measure(server, cases[case], args.runs)
                    except Exception as exc:  # noqa: BLE001 - reported in the table's place
                        print(f"{kind} x{concurrency} {case}: failed: {type(exc).__name__}: {exc}")
                cases["_close"]()
        head = f"{'case':<20}{'async.conc':>10}"
        for kind in STORES:
            head += f"{kind + ' s':>17}{'cpu s':>8}{'reqs':>6}"
        head += f"{'adapter/obstore':>17}{'adapter/s3fs':>14}"
        print(head)
        for concurrency in args.concurrency:
            for case in CASES:
                row = f"{case:<20}{concurrency:>10}"
                for kind in STORES:
                    got = results.get((kind, concurrency, case))
                    row += f"{got[0]:>17.3f}{got[1]:>8.2f}{got[2]:>6}" if got else f"{'-':>17}{'-':>8}{'-':>6}"
                mine = results.get(("azarr adapter", concurrency, case))
                for peer, width in (("obstore", 17), ("s3fs", 14)):
                    other = results.get((peer, concurrency, case))
                    row += f"{mine[0] / other[0]:>{width}.2f}" if mine and other else f"{'-':>{width}}"
                print(row)
    finally:
        server.close()


if __name__ == "__main__":
    main()
