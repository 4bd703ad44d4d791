"""``client_cost.py --memory``: peak memory of a 2 GiB read, per store, each in a fresh process.

The array: f4 (16384, 32768) = 2 GiB in (512, 512) chunks (2,048 chunks of 1 MiB), Zarr v3 with
azarr's default codecs (bytes + zstd), data W1's field + noise. LocalStore and S3Store (fake_s3,
0 ms) hold it written by another process; MemoryStore is written in the reading process. The
reader measures its peak resident memory during ``z[...]`` alone (the kernel's high-water mark,
reset just before the read through ``/proc/self/clear_refs``) and reports (peak - resident
before the read) / result size: 1.00 is one copy of the data, nothing more.

    .venv/bin/python benchmarks/client_cost.py --memory [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHAPE, CHUNKS = (16384, 32768), (512, 512)
SLAB = 1024  # rows written per call (128 MiB of data)


def slab(i: int) -> Any:
    """Rows ``[i, i + SLAB)`` of the data: W1's smooth field plus quantised noise."""
    import numpy as np

    rng = np.random.default_rng(i)
    y, x = np.mgrid[i : i + SLAB, 0 : SHAPE[1]].astype("f4")
    field = np.sin(x / 97.0) * np.cos(y / 61.0) * 50 + 273
    return (field + np.round(rng.standard_normal((SLAB, SHAPE[1])) * 4) / 4).astype("f4")


def write(store: Any) -> None:
    """Write the array slab by slab (never the whole 2 GiB at once in the writer)."""
    import azarr

    z = azarr.open_array(store, mode="w", shape=SHAPE, chunks=CHUNKS, dtype="f4")
    for i in range(0, SHAPE[0], SLAB):
        z[i : i + SLAB] = slab(i)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _hwm() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def read_child(kind: str, location: str, azarr_src: str | None) -> None:
    """In a fresh process: open (MemoryStore: write first), read everything, print the figures."""
    if azarr_src:
        sys.path.insert(0, str(HERE))
        from client_cost_worker import use_azarr_from

        use_azarr_from(azarr_src)
    import numpy as np

    import azarr
    from azarr.stores import LocalStore, MemoryStore, S3Store

    if kind == "memory":
        store: Any = MemoryStore()
        write(store)
    elif kind == "local":
        store = LocalStore(location)
    else:
        store = S3Store("bench", "mem", endpoint_url=location, key="bench", secret="bench", region="us-east-1")
    z = azarr.open_array(store, mode="r")
    before = _rss()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the high-water mark: the peak below is the read's own
    out = z[...]
    peak = _hwm()
    ok = bool(out[:SLAB].tobytes() == slab(0).tobytes()) and bool(np.isfinite(out[-1, -1]))
    print(json.dumps({"before": before, "peak": peak, "nbytes": out.nbytes, "ok": ok}))


def memory_table(args: argparse.Namespace) -> None:
    """Write the array to a LocalStore and to fake_s3, then read each store in fresh processes."""
    sys.path.insert(0, str(HERE))
    from latency import Server

    from azarr.stores import LocalStore, S3Store

    server = Server(0.0, "server")
    try:
        with tempfile.TemporaryDirectory(prefix="azarr-mem-") as tmp:
            kinds = args.stores.split(",")
            setup = [("local", tmp, LocalStore(tmp)),
                     ("s3", server.url, S3Store("bench", "mem", endpoint_url=server.url, key="bench", secret="bench",
                                                region="us-east-1"))]
            for kind, _, store in setup:
                if kind in kinds:
                    write(store)
            versions = [("this branch", None)] + ([("main", args.before)] if args.before else [])
            print(f"2 GiB read: f4 {SHAPE} in {CHUNKS} chunks, default codecs (zstd); fresh process per row; "
                  "peak = the read's resident high-water mark")
            print(f"{'store':<8}{'azarr':<14}{'before MiB':>11}{'peak MiB':>10}{'result MiB':>11}{'peak/result':>12}")
            for kind, location in [(k, loc) for k, loc in [("local", tmp), ("memory", ""), ("s3", server.url)]
                                   if k in kinds]:
                for label, src in versions:
                    argv = [sys.executable, __file__, "--child", kind, "--location", location]
                    if src:
                        argv += ["--azarr-src", src]
                    done = subprocess.run(argv, capture_output=True, text=True, check=False)
                    if done.returncode != 0 or not done.stdout.strip():
                        print(f"{kind:<8}{label:<14}failed: {done.stderr.strip()[-300:]}")
                        continue
                    r = json.loads(done.stdout.strip().splitlines()[-1])
                    grew = r["peak"] - r["before"]
                    flag = "" if r["ok"] else "  (WRONG DATA)"
                    print(f"{kind:<8}{label:<14}{r['before'] / 2**20:>11.0f}{r['peak'] / 2**20:>10.0f}"
                          f"{r['nbytes'] / 2**20:>11.0f}{grew / r['nbytes']:>12.2f}{flag}")
    finally:
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", required=True)
    parser.add_argument("--location", default="")
    parser.add_argument("--azarr-src", default=None)
    a = parser.parse_args()
    read_child(a.child, a.location, a.azarr_src)
