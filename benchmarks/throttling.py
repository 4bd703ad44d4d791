"""A 4096-chunk S3 write and read behind a throttling proxy, with and without adaptive concurrency.

moto (the suite's S3 emulator) runs behind tests/faultproxy.py, which answers 503 SlowDown
to every request above ``--rate`` requests per second (a token bucket of ``--burst``), as
S3 throttles a prefix. azarr writes a 4096-chunk array (1 chunk = one 128-byte row) and
reads it back, at its default 256 requests in flight, under three retry policies:

* ``before #18``: 6 tries per request whatever the failure, a fixed in-flight limit;
* ``budget only``: throttled requests get their own, larger budget (24 tries), fixed limit;
* ``adaptive`` (the default): that budget, and the in-flight limit halves on a throttling
  answer and grows back by one per round of successes (AIMD).

One table: wall time, requests the proxy saw, 503s it answered, the lowest in-flight limit
the store reached, and whether the data came back exact. Medians of ``--runs`` runs.

    .venv/bin/python benchmarks/throttling.py [--rate 200] [--burst 10] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from azarr import aio
from azarr.errors import StoreError
from azarr.stores import RetryPolicy, S3Store
from tests.faultproxy import FaultProxy
from tests.services.common import free_port, start, stop, wait_until
from tests.services.moto import S3_CREDENTIALS, _ready, boto3_client

SHAPE, CHUNKS = (4096, 64), (1, 64)
POLICIES = {
    "before #18": RetryPolicy(throttled_attempts=6, adaptive_concurrency=False),
    "budget only": RetryPolicy(adaptive_concurrency=False),
    "adaptive": RetryPolicy(),
}


async def one_run(endpoint: str, bucket: str, prefix: str, policy: RetryPolicy, rate: float, burst: float,
                  data: np.ndarray) -> dict[str, Any]:
    """Write then read the array through a fresh throttling proxy; what happened in each phase."""
    out: dict[str, Any] = {}
    with FaultProxy(endpoint, rate_limit=rate, burst=burst) as proxy:
        store = S3Store(bucket, prefix, endpoint_url=proxy.url, **S3_CREDENTIALS, retry=policy)
        try:
            arr = await aio.open_array(store, "w", shape=SHAPE, chunks=CHUNKS, dtype="u2")
            for phase in ("write", "read"):
                before = dict(proxy.counts)
                t0 = time.perf_counter()
                try:
                    if phase == "write":
                        await arr.setitem(..., data)
                        ok = True
                    else:
                        ok = bool(np.array_equal(await arr.getitem(...), data))
                except StoreError:
                    ok = False
                out[phase] = {
                    "seconds": time.perf_counter() - t0,
                    "requests": proxy.counts["requests"] - before.get("requests", 0),
                    "503s": proxy.counts["throttled"] - before.get("throttled", 0),
                    "lowest": store.limiter.lowest_limit,
                    "ok": ok,
                }
                if not ok:
                    break
        finally:
            await store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second the proxy lets through")
    parser.add_argument("--burst", type=float, default=10.0, help="requests the proxy lets through at once")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = start([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)], "moto-bench")
    try:
        wait_until(lambda: _ready(endpoint), 30, "moto_server")
        bucket = "throttling-bench"
        boto3_client(endpoint).create_bucket(Bucket=bucket)
        data = np.random.default_rng(0).integers(0, 60000, SHAPE).astype("u2")
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in POLICIES}
        for run in range(args.runs):
            for name, policy in POLICIES.items():  # interleaved, so load drifts hit every policy alike
                prefix = f"r{run}-{name.replace(' ', '-').replace('#', '')}"
                results[name].append(asyncio.run(one_run(endpoint, bucket, prefix, policy, args.rate, args.burst, data)))
    finally:
        stop(proc)

    print(f"4096-chunk S3 write + read through a proxy answering 503 SlowDown above {args.rate:.0f} requests/s "
          f"(burst {args.burst:.0f}); 256 in flight; median of {args.runs} run(s)")
    head = f"{'policy':<13} {'phase':<6} {'seconds':>8} {'requests':>9} {'503s':>7} {'lowest limit':>13} {'result':>14}"
    print(head)
    print("-" * len(head))
    for name, runs in results.items():
        for phase in ("write", "read"):
            rows = [r[phase] for r in runs if phase in r]
            if not rows:
                print(f"{name:<13} {phase:<6} {'-':>8} {'-':>9} {'-':>7} {'-':>13} {'not reached':>14}")
                continue
            med = {k: statistics.median(row[k] for row in rows) for k in ("seconds", "requests", "503s", "lowest")}
            done = sum(row["ok"] for row in rows)
            result = "complete" if done == len(rows) else f"FAILED {len(rows) - done}/{len(rows)}"
            print(f"{name:<13} {phase:<6} {med['seconds']:>8.1f} {med['requests']:>9.0f} {med['503s']:>7.0f} "
                  f"{med['lowest']:>13.0f} {result:>14}")


if __name__ == "__main__":
    main()
