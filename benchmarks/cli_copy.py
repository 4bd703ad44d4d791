"""``azarr copy`` throughput through a 100 ms-per-request S3 endpoint (benchmarks/fake_s3.py):
Redis -> S3 and S3 -> S3, in chunks per second, against the peers that can do the same job.

The data: a Zarr v2 float32 array in (32, 32) chunks (4 KiB each before Blosc lz4), in a
local redis-server (prefix ``src``, zarr-python 2's RedisStore layout) and on the endpoint.

- ``azarr copy`` (the command, in a subprocess: its start-up is included), 4,096 chunks;
- ``azarr copy`` with ``--concurrency 64``;
- zarr-python 2.18's ``copy_store`` (``.venv-zarr2``, with s3fs's FSStore; RedisStore as
  source), which writes one key after another: 64 chunks (chunks/s does not depend on the
  count for a one-at-a-time loop);
- tensorstore (S3 -> S3 only: it has no Redis): ``KvStore.experimental_copy_range_to`` of the
  array's keys, and an array-level copy (``dst.write(src)``), each at its default S3
  concurrency and at 256, 4,096 chunks.

Each case copies to a fresh prefix; the table shows the median of ``--runs`` runs (zarr-python
2.18: one run), the requests the endpoint saw, chunks/s and the ratio to zarr-python 2.18's
chunks/s on the same route.

    .venv/bin/python benchmarks/cli_copy.py [--latency 0.1] [--runs 3] [--chunks 4096]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from latency import Server  # a sibling script

CHUNK = (32, 32)
ZARR2_PYTHON = ROOT / ".venv-zarr2" / "bin" / "python"
CREDS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def shape_for(n_chunks: int) -> tuple[int, int]:
    """A near-square array shape of ``n_chunks`` (32, 32) chunks."""
    rows = int(math.sqrt(n_chunks))
    while n_chunks % rows:
        rows -= 1
    return rows * CHUNK[0], (n_chunks // rows) * CHUNK[1]


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """A throwaway redis-server on a free port (the test suite's binary)."""
    from tests.services.common import free_port, wait_until
    from tests.services.redis import _binary, _ping

    port = free_port()
    proc = subprocess.Popen([_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _ping(port), 20, "redis-server", proc)
    return proc, f"redis://127.0.0.1:{port}/0"


def write_source(redis_url: str, s3_url: str, prefix: str, n_chunks: int) -> None:
    """The same array at ``redis_url?prefix=PREFIX`` and at ``s3://bench/PREFIX``."""
    import numcodecs

    import azarr
    from azarr.stores import RedisStore, S3Store

    shape = shape_for(n_chunks)
    rng = np.random.default_rng(0)
    data = (np.round(rng.standard_normal(shape) * 4) / 4).astype("f4")
    opts = {"endpoint_url": s3_url, "key": "bench", "secret": "bench", "region": "us-east-1"}
    for store in (RedisStore(redis_url, prefix=prefix), S3Store("bench", prefix, **opts)):
        # blosc: tensorstore refuses numcodecs' zstd documents (their "checksum" member)
        z = azarr.open_array(store, mode="w", shape=shape, chunks=CHUNK, dtype="f4",
                             compressor=numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1))
        z[...] = data
        azarr.sync.run(store.close())


def azarr_cli(src: str, server: Server, concurrency: int | None) -> Callable[[], None]:
    """``azarr copy SRC s3://bench/<fresh>`` in a subprocess."""
    env = {**os.environ, **CREDS, "AWS_ENDPOINT_URL_S3": server.url}

    def run() -> None:
        extra = ["--concurrency", str(concurrency)] if concurrency else []
        done = subprocess.run([sys.executable, "-m", "azarr", "copy", src, f"s3://bench/cli-{uuid.uuid4().hex[:8]}",
                               "--quiet", *extra], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)

    return run


ZARR2_COPY = """
import json, sys, uuid
import zarr
from zarr.storage import FSStore, RedisStore
P = json.loads(sys.argv[1])
opts = {"key": "bench", "secret": "bench", "client_kwargs": {"endpoint_url": P["s3"], "region_name": "us-east-1"}}
if P["source"] == "redis":
    host, port = P["redis"].split("//")[1].split("/")[0].split(":")
    source = RedisStore(prefix=P["prefix"], host=host, port=int(port))
else:
    source = FSStore("s3://bench/" + P["prefix"], **opts)
dest = FSStore("s3://bench/z2-" + uuid.uuid4().hex[:8], **opts)
zarr.copy_store(source, dest)
print(json.dumps(len(list(dest.keys()))))
"""


def zarr2_copy(source: str, redis_url: str, server: Server, prefix: str) -> Callable[[], None]:
    """zarr-python 2.18's ``copy_store`` from Redis or S3 into a fresh S3 prefix (its own venv)."""

    def run() -> None:
        params = json.dumps({"source": source, "redis": redis_url, "s3": server.url, "prefix": prefix})
        done = subprocess.run([str(ZARR2_PYTHON), "-c", ZARR2_COPY, params], capture_output=True, text=True,
                              env={**os.environ, **CREDS}, check=False)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-3000:])

    return run


def tensorstore_kv(server: Server, prefix: str, concurrency: int | None) -> Callable[[], None]:
    """tensorstore's kvstore range copy of the array's keys, S3 -> S3."""
    import tensorstore as ts

    os.environ.update(CREDS)
    ctx = ts.Context({"s3_request_concurrency": {"limit": concurrency}} if concurrency else {})

    def kv(path: str) -> ts.KvStore:
        spec = {"driver": "s3", "bucket": "bench", "path": path, "endpoint": server.url, "aws_region": "us-east-1"}
        return ts.KvStore.open(spec, context=ctx).result()

    def run() -> None:
        kv(prefix + "/").experimental_copy_range_to(kv(f"ts-kv-{uuid.uuid4().hex[:8]}/")).result()

    return run


def tensorstore_array(server: Server, prefix: str, concurrency: int | None) -> Callable[[], None]:
    """tensorstore's array-level copy (decode, re-encode), S3 -> S3."""
    import tensorstore as ts

    os.environ.update(CREDS)
    ctx = ts.Context({"s3_request_concurrency": {"limit": concurrency}} if concurrency else {})

    def spec(path: str) -> dict[str, object]:
        return {"driver": "zarr", "kvstore": {"driver": "s3", "bucket": "bench", "path": path + "/",
                                             "endpoint": server.url, "aws_region": "us-east-1"}}

    def run() -> None:
        src = ts.open(spec(prefix), context=ctx).result()
        dst = ts.open({**spec(f"ts-arr-{uuid.uuid4().hex[:8]}"), "metadata": src.spec().to_json()["metadata"]},
                      create=True, context=ctx).result()
        dst.write(src).result()

    return run


def measure(server: Server, fn: Callable[[], None], runs: int) -> tuple[float, int] | str:
    """Median seconds and the requests of the last run, or why the case could not run."""
    times, requests = [], 0
    for _ in range(runs):
        server.reset()
        start = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a peer that cannot do the job is reported, not fatal
            return f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:80] if str(exc).strip() else ''}"
        times.append(time.perf_counter() - start)
        requests = server.stats().get("requests", 0)
    return statistics.median(times), requests


def startup_seconds() -> float:
    """The command's start-up alone (``python -m azarr --version``), median of 3."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "azarr", "--version"], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ensure_zarr2_s3fs() -> None:
    """zarr-python 2.18's venv needs s3fs for its S3 FSStore (installed on first use)."""
    if not ZARR2_PYTHON.exists():
        raise SystemExit(f"no zarr-python 2.18 at {ZARR2_PYTHON}: run `bash scripts/setup.sh test` first")
    if subprocess.run([str(ZARR2_PYTHON), "-c", "import s3fs"], capture_output=True, check=False).returncode:
        subprocess.run([str(ZARR2_PYTHON), "-m", "pip", "install", "-q", "--disable-pip-version-check", "s3fs"], check=True)


def main() -> None:
    """Write the sources, run every case, print one table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request at the S3 endpoint")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=4096, help="chunks copied by azarr and tensorstore")
    parser.add_argument("--peer-chunks", type=int, default=64, help="chunks copied by zarr-python 2.18's loop")
    args = parser.parse_args()
    ensure_zarr2_s3fs()
    server = Server(args.latency)
    redis_proc, redis_url = start_redis()
    try:
        write_source(redis_url, server.url, "src", args.chunks)
        write_source(redis_url, server.url, "small", args.peer_chunks)
        n, small = args.chunks, args.peer_chunks
        cases: list[tuple[str, str, int, Callable[[], None], int]] = [
            ("zarr-python 2.18 copy_store (s3fs)", "Redis -> S3", small, zarr2_copy("redis", redis_url, server, "small"), 1),
            ("azarr copy (command)", "Redis -> S3", n, azarr_cli(f"{redis_url}?prefix=src", server, None), args.runs),
            ("azarr copy --concurrency 64", "Redis -> S3", n, azarr_cli(f"{redis_url}?prefix=src", server, 64), args.runs),
            ("zarr-python 2.18 copy_store (s3fs)", "S3 -> S3", small, zarr2_copy("s3", redis_url, server, "small"), 1),
            ("azarr copy (command)", "S3 -> S3", n, azarr_cli("s3://bench/src", server, None), args.runs),
            ("azarr copy --concurrency 64", "S3 -> S3", n, azarr_cli("s3://bench/src", server, 64), args.runs),
            ("tensorstore kvstore copy_range, default", "S3 -> S3", n, tensorstore_kv(server, "src", None), args.runs),
            ("tensorstore kvstore copy_range, 256", "S3 -> S3", n, tensorstore_kv(server, "src", 256), args.runs),
            ("tensorstore array copy, default", "S3 -> S3", n, tensorstore_array(server, "src", None), args.runs),
            ("tensorstore array copy, 256", "S3 -> S3", n, tensorstore_array(server, "src", 256), args.runs),
        ]
        rows = []
        for name, route, chunks, fn, runs in cases:
            rows.append((name, route, chunks, measure(server, fn, runs)))
        startup = startup_seconds()
        print(f"copy throughput, {args.latency * 1000:.0f} ms per S3 request (fake_s3), Redis local; median of "
              f"{args.runs} runs (zarr-python 2.18: 1); `azarr --version` alone takes {startup:.2f} s here")
        print(f"{'stack':42} {'route':12} {'chunks':>6} {'seconds':>8} {'requests':>9} {'chunks/s':>9} {'x zarr 2.18':>11}")
        baseline: dict[str, float] = {}
        for name, route, chunks, result in rows:
            if isinstance(result, str):
                print(f"{name:42} {route:12} {chunks:6d} {'-':>8} {'-':>9} {'-':>9} {'-':>11}  ({result})")
                continue
            seconds, requests = result
            rate = chunks / seconds
            baseline.setdefault(route, rate)
            print(f"{name:42} {route:12} {chunks:6d} {seconds:8.2f} {requests:9d} {rate:9.0f} {rate / baseline[route]:11.1f}")
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
        server.close()


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
