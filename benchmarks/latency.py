"""W1 through a 100 ms-per-request S3 endpoint: azarr's time vs the latency floor (and peers).

Starts benchmarks/fake_s3.py as its own process with ``--delay`` per request (concurrent
requests are not serialised), then for each stack runs the cases of workload W1:
float32 (2048, 2048) in (64, 64) chunks = 1024 chunks, Zstd level 1, compressible data:
full write, full read, a 64-chunk region read, metadata open; stored as Zarr v2 (as the peers
store it) and, in the "azarr v3" row, as Zarr v3. Prints the median of N
runs, the requests the server saw, and the floor ceil(requests / concurrency) x latency.

    .venv/bin/python benchmarks/latency.py [--latency 0.1] [--runs 3] [--peers] [--via proxy|moto]

``--via proxy`` puts benchmarks/latency_proxy.py in front of a zero-delay fake_s3;
``--via moto`` puts it in front of moto (whose ~5 ms per request then shows in every stack).
``--peers`` adds zarr-python 3 (ObjectStore/obstore and FsspecStore/s3fs, at their default
concurrency of 10 and raised to 256) and tensorstore's zarr driver on its s3 kvstore.
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
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

SHAPE, CHUNKS = (2048, 2048), (64, 64)
REGION = (slice(512, 1024), slice(1024, 1536))  # 8 x 8 = 64 chunks
CREDS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def workload() -> np.ndarray:
    """Random-but-compressible float32 data (smooth field + quantised noise)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]].astype("f4")
    field = np.sin(x / 97.0) * np.cos(y / 61.0) * 50 + 273
    return (field + np.round(rng.standard_normal(SHAPE) * 4) / 4).astype("f4")


class Server:
    """The S3 endpoint in subprocesses: fake_s3.py (delay inside), or an emulator behind latency_proxy.py.

    ``via="server"``: fake_s3.py sleeps ``delay`` per request. ``via="proxy"``: fake_s3.py
    answers at once and a TCP latency proxy in front adds ``delay``. ``via="moto"``: the
    proxy sits in front of moto, to show what a slow emulator does to every stack.
    ``extra`` are further fake_s3.py options (e.g. ``--stall-rate``).
    """

    def __init__(self, delay: float, via: str = "server", extra: tuple[str, ...] = ()) -> None:
        from tests.services.common import free_port

        self.procs: list[subprocess.Popen[bytes]] = []
        self.via = via
        port = free_port()
        if via == "moto":
            exe = Path(sys.executable).with_name("moto_server")
            self._spawn([str(exe), "-H", "127.0.0.1", "-p", str(port)])
            self.stats_url: str | None = None
        else:
            inner = delay if via == "server" else 0.0
            self._spawn([sys.executable, str(HERE / "fake_s3.py"), "--port", str(port), "--delay", str(inner), *extra])
            self.stats_url = f"http://127.0.0.1:{port}"
        self.url = f"http://127.0.0.1:{port}"
        self._wait(self.url + ("/moto-api/" if via == "moto" else "/__stats"))
        if via != "server":
            proxy_port = free_port()
            self._spawn([sys.executable, str(HERE / "latency_proxy.py"), "--port", str(proxy_port),
                         "--upstream", f"127.0.0.1:{port}", "--delay", str(delay)])
            self.url = f"http://127.0.0.1:{proxy_port}"
            self._wait(self.url + ("/moto-api/" if via == "moto" else "/__stats"))
        req = urllib.request.Request(f"{self.url}/bench", method="PUT")
        urllib.request.urlopen(req).read()

    def _spawn(self, argv: list[str]) -> None:
        self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    @staticmethod
    def _wait(url: str) -> None:
        for _ in range(400):
            try:
                urllib.request.urlopen(url, timeout=5).read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"benchmark endpoint {url} did not start")

    def stats(self) -> dict[str, int]:
        """Request counts seen by fake_s3 (empty for moto, which does not count)."""
        if self.stats_url is None:
            return {}
        with urllib.request.urlopen(f"{self.stats_url}/__stats", timeout=5) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        if self.stats_url is not None:
            urllib.request.urlopen(f"{self.stats_url}/__reset_stats", timeout=5).read()

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(10)


def peer_python() -> Path | None:
    """The Python of .venv-peer312 (the newest zarr-python 3, which needs Python 3.12), built by
    setup_peer312.sh on first use; None, said on stdout, when it cannot be built."""
    python = HERE.parent / ".venv-peer312" / "bin" / "python"
    if not python.exists():
        done = subprocess.run(["bash", str(HERE / "setup_peer312.sh")], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"zarr-python 3 peer unavailable: {done.stderr.strip()}")
            return None
    return python


def endpoint_check(server: Server, n: int = 100) -> float:
    """Seconds for ``n`` concurrent plain GETs (aiohttp, one connection each) through the endpoint.

    About one latency if the endpoint (or proxy) overlaps requests; ``n`` latencies if it
    serialises them. Printed above the table so a serialising setup cannot go unnoticed.
    """
    import aiohttp

    async def run() -> float:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=n)) as session:

            async def one() -> None:
                async with session.get(f"{server.url}/bench/__endpoint_check__") as resp:
                    await resp.read()

            await one()  # warm the pool's first connection and the endpoint
            t0 = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            return time.perf_counter() - t0

    return asyncio.run(run())


def measure(server: Server, fn: Callable[[], object], runs: int) -> tuple[float, int]:
    """Median seconds over ``runs`` and requests per run."""
    times, reqs = [], 0
    for _ in range(runs):
        server.reset()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        reqs = server.stats().get("requests", 0)
    return statistics.median(times), reqs


def azarr_cases(
    server: Server,
    data: np.ndarray,
    concurrency: int | None,
    fast_path: bool = True,
    stream_writes: bool = True,
    zarr_format: int = 2,
) -> dict[str, Callable[[], object]]:
    """The W1 cases for azarr (async API on its own loop).

    ``stream_writes=False`` is the baseline that encodes every chunk before the first PUT.
    ``zarr_format=3`` stores W1 as Zarr v3 (bytes + zstd level 1, default chunk keys).
    """
    import numcodecs

    from azarr import aio
    from azarr.stores import S3Store

    loop = asyncio.new_event_loop()
    opts = {"endpoint_url": server.url, "key": "bench", "secret": "bench", "region": "us-east-1"}
    if concurrency:
        opts["concurrency"] = concurrency
    opts["fast_path"] = fast_path
    path = f"azarr-{concurrency or 'default'}-{fast_path}-{stream_writes}-v{zarr_format}"
    store = S3Store("bench", path, **opts)
    if zarr_format == 3:
        from azarr.codecs import ZstdCodec

        codec_kw: dict[str, object] = {"compressors": [ZstdCodec(level=1)], "zarr_format": 3}
    else:
        codec_kw = {"compressor": numcodecs.Zstd(level=1)}
    arr = loop.run_until_complete(aio.open_array(store, "w", shape=SHAPE, chunks=CHUNKS, dtype="f4", **codec_kw))
    run = loop.run_until_complete

    def write() -> None:
        import azarr.core.chunk_io

        saved = azarr.core.chunk_io.STREAM_MIN
        if not stream_writes:
            azarr.core.chunk_io.STREAM_MIN = 1 << 62
        try:
            run(arr.setitem(..., data))
        finally:
            azarr.core.chunk_io.STREAM_MIN = saved

    return {
        "write": write,
        "read": lambda: run(arr.getitem(...)),
        "region (64 chunks)": lambda: run(arr.getitem(REGION)),
        "metadata open": lambda: run(aio.open_array(store, "r")),
        "_concurrency": store.concurrency,  # type: ignore[dict-item]
    }


def zarr_cases(server: Server, data: np.ndarray, kind: str, concurrency: int) -> dict[str, Callable[[], object]]:
    """The W1 cases for zarr-python 3 on obstore or s3fs."""
    import zarr

    zarr.config.set({"async.concurrency": concurrency})
    path = f"zarr-{kind}-{concurrency}"
    if kind == "obstore":
        from obstore.store import S3Store as ObS3
        from zarr.storage import ObjectStore

        obs = ObS3("bench", prefix=path, endpoint=server.url, access_key_id="bench", secret_access_key="bench",
                   region="us-east-1", virtual_hosted_style_request=False, client_options={"allow_http": True})
        store = ObjectStore(obs)
    else:
        from zarr.storage import FsspecStore

        store = FsspecStore.from_url(
            f"s3://bench/{path}", storage_options={"endpoint_url": server.url, "key": "bench", "secret": "bench", "asynchronous": True}
        )
    import numcodecs

    z = zarr.create_array(store, shape=SHAPE, chunks=CHUNKS, dtype="f4", zarr_format=2,
                          compressors=numcodecs.Zstd(level=1), overwrite=True)
    return {
        "write": lambda: z.__setitem__(Ellipsis, data),
        "read": lambda: z[...],
        "region (64 chunks)": lambda: z[REGION],
        "metadata open": lambda: zarr.open_array(store, mode="r", zarr_format=2),
        "_concurrency": concurrency,  # type: ignore[dict-item]
    }


def tensorstore_cases(server: Server, data: np.ndarray, concurrency: int) -> dict[str, Callable[[], object]]:
    """The W1 cases for tensorstore's zarr driver on its s3 kvstore."""
    import tensorstore as ts

    os.environ.update(CREDS)
    ctx = ts.Context({"s3_request_concurrency": {"limit": concurrency}})
    spec = {
        "driver": "zarr",
        "kvstore": {"driver": "s3", "bucket": "bench", "path": f"ts-{concurrency}/", "endpoint": server.url,
                    "aws_region": "us-east-1"},
    }
    meta = {"shape": list(SHAPE), "chunks": list(CHUNKS), "dtype": "<f4", "compressor": {"id": "zstd", "level": 1}}
    t = ts.open({**spec, "metadata": meta}, create=True, delete_existing=True, context=ctx).result()
    return {
        "write": lambda: t.write(data).result(),
        "read": lambda: t.read().result(),
        "region (64 chunks)": lambda: t[REGION].read().result(),
        "metadata open": lambda: ts.open(spec, context=ts.Context({"s3_request_concurrency": {"limit": concurrency}})).result(),
        "_concurrency": concurrency,  # type: ignore[dict-item]
    }


def main() -> None:
    """Run every stack and print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peers", action="store_true")
    parser.add_argument("--baselines", action="store_true", help="also azarr via aiobotocore only, at 64 in flight, and encoding every chunk before the first PUT")
    parser.add_argument("--wide", type=int, nargs="*", default=[], metavar="N",
                        help="also azarr (and, with --peers, tensorstore) at N in flight, e.g. --wide 1024")
    parser.add_argument("--via", choices=["server", "proxy", "moto"], default="server",
                        help="where the latency comes from: fake_s3's own delay (default), a TCP latency "
                        "proxy in front of fake_s3, or the proxy in front of moto")
    args = parser.parse_args()
    data = workload()
    server = Server(args.latency, args.via)
    stacks: list[tuple[str, Callable[[], dict[str, Callable[[], object]]]]] = [
        ("azarr (default)", lambda: azarr_cases(server, data, None)),
        ("azarr v3 (default)", lambda: azarr_cases(server, data, None, zarr_format=3)),
    ]
    if args.baselines:
        stacks += [
            ("azarr botocore x256", lambda: azarr_cases(server, data, 256, fast_path=False)),
            ("azarr x64", lambda: azarr_cases(server, data, 64)),
            ("azarr encode-first", lambda: azarr_cases(server, data, None, stream_writes=False)),
        ]
    if args.peers:
        stacks += [
            ("zarr3+obstore x10", lambda: zarr_cases(server, data, "obstore", 10)),
            ("zarr3+obstore x256", lambda: zarr_cases(server, data, "obstore", 256)),
            ("zarr3+s3fs x10", lambda: zarr_cases(server, data, "s3fs", 10)),
            ("zarr3+s3fs x256", lambda: zarr_cases(server, data, "s3fs", 256)),
            ("tensorstore x256", lambda: tensorstore_cases(server, data, 256)),
        ]
    for n in args.wide:
        stacks.append((f"azarr x{n}", lambda n=n: azarr_cases(server, data, n)))
        if args.peers:
            stacks.append((f"tensorstore x{n}", lambda n=n: tensorstore_cases(server, data, n)))
    check = endpoint_check(server)
    print(f"endpoint check: 100 concurrent GETs took {check:.3f} s at {args.latency * 1000:.0f} ms per request "
          f"(serialised they would take {100 * args.latency:.1f} s)")
    if args.latency and check > 5 * args.latency:
        print("WARNING: the endpoint serialises requests; the table below measures it, not the clients")
    print(f"W1: f4 {SHAPE} in {CHUNKS} chunks (1024), Zstd(1); {args.latency * 1000:.0f} ms per request "
          f"(via {args.via}); median of {args.runs}")
    print(f"{'stack':<20}{'case':<20}{'median s':>10}{'requests':>10}{'in flight':>10}{'floor s':>9}{'x floor':>8}")
    try:
        for name, make in stacks:
            try:
                cases = make()
            except Exception as exc:  # a peer that cannot run here is reported, not hidden
                print(f"{name:<20}could not run: {type(exc).__name__}: {exc}")
                continue
            conc = int(cases.pop("_concurrency"))  # type: ignore[arg-type]
            order = ["write", "read", "region (64 chunks)", "metadata open"]
            for case in order:
                try:
                    med, reqs = measure(server, cases[case], args.runs)
                except Exception as exc:
                    print(f"{name:<20}{case:<20}failed: {type(exc).__name__}: {exc}")
                    continue
                floor = math.ceil(reqs / conc) * args.latency if reqs else 0.0
                ratio = f"{med / floor:>8.2f}" if floor else f"{'-':>8}"
                print(f"{name:<20}{case:<20}{med:>10.3f}{reqs:>10}{conc:>10}{floor:>9.2f}{ratio}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
