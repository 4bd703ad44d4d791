"""Request hedging against stragglers: W1 full reads with and without hedging, same endpoint.

benchmarks/fake_s3.py answers every request after 100 ms and, for a fraction of GETs
(``--stall-rate``, default 1%), after an extra ``--stall`` seconds (default 2 s), the way an
object store now and then leaves a request hanging. Without hedging every full read waits
for its slowest chunk; with azarr's default hedging (a duplicate after 1.5x the p95 of
recent latencies, at most 5% extra requests) the stalled requests are raced and the tail
goes away. Prints, per configuration, the median and worst read time, the requests and
stalls the endpoint saw per read, the duplicates sent, and whether every value was right.

    .venv/bin/python benchmarks/hedging.py [--runs 7] [--stall-rate 0.01] [--stall 2.0]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from latency import CHUNKS, SHAPE, Server, workload


async def run(server: Server, runs: int) -> list[tuple[str, float, float, float, float, int, bool]]:
    """Write W1 once, then read it ``runs`` times per configuration (alternating)."""
    import numcodecs

    from azarr import aio
    from azarr.stores import S3Store

    data = workload()
    opts = {"endpoint_url": server.url, "key": "bench", "secret": "bench", "region": "us-east-1"}
    writer = S3Store("bench", "hedging", **opts)
    arr = await aio.open_array(writer, "w", shape=SHAPE, chunks=CHUNKS, dtype="f4", compressor=numcodecs.Zstd(level=1))
    await arr.setitem(..., data)
    await writer.close()
    configs = {"no hedging": S3Store("bench", "hedging", hedge=False, **opts),
               "hedging (default)": S3Store("bench", "hedging", **opts)}
    arrays = {name: await aio.open_array(store, "r") for name, store in configs.items()}
    for a in arrays.values():  # warm connections and the hedger's latency window
        await a.getitem(...)
    times: dict[str, list[float]] = {name: [] for name in configs}
    counts: dict[str, list[dict[str, int]]] = {name: [] for name in configs}
    correct = {name: True for name in configs}
    sent_before = {name: (configs[name].hedger.hedges if configs[name].hedger else 0) for name in configs}
    for _ in range(runs):
        for name, a in arrays.items():
            server.reset()
            t0 = time.perf_counter()
            got = await a.getitem(...)
            times[name].append(time.perf_counter() - t0)
            counts[name].append(server.stats())
            correct[name] &= bool((got == data).all())
    rows = []
    for name, store in configs.items():
        hedges = (store.hedger.hedges if store.hedger else 0) - sent_before[name]
        reqs = statistics.median(c.get("requests", 0) for c in counts[name])
        stalls = statistics.mean(c.get("stalled", 0) for c in counts[name])
        rows.append((name, statistics.median(times[name]), max(times[name]), reqs, stalls, hedges, correct[name]))
        await store.close()
    return rows


def main() -> None:
    """Print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--stall-rate", type=float, default=0.01)
    parser.add_argument("--stall", type=float, default=2.0)
    args = parser.parse_args()
    server = Server(args.latency, extra=("--stall-rate", str(args.stall_rate), "--stall", str(args.stall)))
    try:
        rows = asyncio.run(run(server, args.runs))
    finally:
        server.close()
    print(f"W1 full read (1024 chunks), {args.latency * 1000:.0f} ms per request, {args.stall_rate:.1%} of GETs stall "
          f"{args.stall:.1f} s more; {args.runs} reads each")
    print(f"{'config':<20}{'median s':>10}{'worst s':>10}{'requests':>10}{'stalls':>8}{'duplicates':>12}{'values':>8}")
    for name, med, worst, reqs, stalls, hedges, ok in rows:
        print(f"{name:<20}{med:>10.3f}{worst:>10.3f}{reqs:>10.0f}{stalls:>8.1f}{hedges / args.runs:>12.1f}"
              f"{'exact' if ok else 'WRONG':>8}")


if __name__ == "__main__":
    main()
