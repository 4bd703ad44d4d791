"""W1 on every cloud store through the TCP latency proxy: wall time and client CPU per request.

Each emulator (fake_s3.py for S3, fake-gcs-server for GCS, Azurite for Azure) runs in its
own process behind benchmarks/latency_proxy.py. For each store azarr writes and reads the
W1 array (1024 chunks) and the table shows the median wall time and the client's CPU per
chunk request, for the lean request path and for the SDK path (``fast_path=False``).
With ``--latency 0`` the wall time shows which emulator is the bottleneck (Azurite is).
Above the table: the client CPU the lean client spends sending a request and parsing one
typical 16 KiB S3 GET answer (llhttp, strict), to set against the CPU per request below.

    .venv/bin/python benchmarks/cloud_stores.py [--latency 0.1] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import numcodecs
from latency import CHUNKS, SHAPE, Server, workload

from azarr import aio
from azarr.stores.base import Store
from tests.services.common import free_port


@contextmanager
def proxied(argv: list[str], port: int, delay: float, ready_path: str) -> Iterator[str]:
    """Run an emulator on ``port`` behind a latency proxy; yield the proxy's URL."""
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    proxy_port = free_port()
    procs.append(subprocess.Popen(
        [sys.executable, str(HERE / "latency_proxy.py"), "--port", str(proxy_port),
         "--upstream", f"127.0.0.1:{port}", "--delay", str(delay)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ))
    url = f"http://127.0.0.1:{proxy_port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + ready_path, timeout=5).read()
                break
            except urllib.error.HTTPError:
                break  # any HTTP answer means it is up
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def parse_cost(n: int = 20000) -> float:
    """Median client CPU (seconds) to send one request and parse one 16 KiB S3 GET answer on a
    lean-client connection (a transport that discards writes; no network)."""
    from azarr.stores import _http1

    body = bytes(range(256)) * 64
    answer = (b"HTTP/1.1 200 OK\r\nx-amz-id-2: Sm9obiBEb2U=/abcdefghijklmnopqrstuvwxyz0123456789=\r\n"
              b"x-amz-request-id: 4442587FB7D0A2F9\r\nDate: Mon, 30 Nov 2026 19:00:00 GMT\r\n"
              b"ETag: \"fba9dede5f27731c9771645a39863328\"\r\nAccept-Ranges: bytes\r\n"
              b"Content-Type: binary/octet-stream\r\nServer: AmazonS3\r\nContent-Length: %d\r\n\r\n" % len(body)) + body

    class Discard(asyncio.Transport):
        def write(self, data: Any) -> None:
            pass

        def writelines(self, data: Any) -> None:
            pass

    async def timed() -> float:
        conn = _http1._Connection(_http1.DEFAULT_MAX_BODY)
        conn.connection_made(Discard())
        request = b"GET /bench/k HTTP/1.1\r\nHost: h\r\n\r\n"
        samples = []
        for _ in range(5):
            c0 = time.process_time()
            for _ in range(n):
                answered = conn.send(request, None, False)
                conn.data_received(answer)
                answered.result()
            samples.append((time.process_time() - c0) / n)
        return statistics.median(samples)

    return asyncio.run(timed())


def run_w1(make_store: Callable[[], Store], runs: int) -> dict[str, tuple[float, float]]:
    """Median wall seconds and client CPU per request for W1 write and read."""
    data = workload()
    loop = asyncio.new_event_loop()
    store = make_store()
    out: dict[str, tuple[float, float]] = {}
    try:
        arr = loop.run_until_complete(
            aio.open_array(store, "w", shape=SHAPE, chunks=CHUNKS, dtype="f4", compressor=numcodecs.Zstd(level=1))
        )
        cases: dict[str, Callable[[], Any]] = {"write": lambda: arr.setitem(..., data), "read": lambda: arr.getitem(...)}
        for case, fn in cases.items():
            walls, cpus = [], []
            for _ in range(runs):
                t0, c0 = time.perf_counter(), time.process_time()
                loop.run_until_complete(fn())
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            out[case] = (statistics.median(walls), statistics.median(cpus) / 1024)
    finally:
        loop.run_until_complete(store.close())
        loop.close()
    return out


def s3_rows(delay: float, runs: int) -> Iterator[tuple[str, dict[str, tuple[float, float]]]]:
    from azarr.stores import S3Store

    server = Server(delay, via="proxy")
    try:
        opts = {"endpoint_url": server.url, "key": "bench", "secret": "bench", "region": "us-east-1"}
        yield "S3 lean", run_w1(lambda: S3Store("bench", "lean", **opts), runs)
        yield "S3 aiobotocore", run_w1(lambda: S3Store("bench", "sdk", fast_path=False, **opts), runs)
    finally:
        server.close()


def gcs_rows(delay: float, runs: int) -> Iterator[tuple[str, dict[str, tuple[float, float]]]]:
    from azarr.stores import GCSStore
    from tests.services.gcs import _binary

    port = free_port()
    inner = f"http://127.0.0.1:{port}"
    argv = [_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-backend", "memory",
            "-external-url", inner, "-log-level", "error"]
    with proxied(argv, port, delay, "/storage/v1/b") as url:
        req = urllib.request.Request(f"{url}/storage/v1/b?project=bench", data=json.dumps({"name": "bench"}).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=10).read()
        yield "GCS lean", run_w1(lambda: GCSStore("bench", "lean", endpoint_url=url), runs)
        yield "GCS gcsfs", run_w1(lambda: GCSStore("bench", "sdk", endpoint_url=url, fast_path=False), runs)


def azure_rows(delay: float, runs: int) -> Iterator[tuple[str, dict[str, tuple[float, float]]]]:
    from azure.storage.blob import BlobServiceClient

    from azarr.stores import AzureBlobStore
    from tests.services.azurite import KEY, _binary

    port = free_port()
    argv = [_binary(), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
            "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"]
    with proxied(argv, port, delay, "/devstoreaccount1?comp=list") as url:
        conn = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};"
                f"BlobEndpoint={url}/devstoreaccount1;")
        BlobServiceClient.from_connection_string(conn).create_container("bench")
        yield "Azure lean", run_w1(lambda: AzureBlobStore("bench", "lean", connection_string=conn), runs)
        yield "Azure SDK", run_w1(lambda: AzureBlobStore("bench", "sdk", connection_string=conn, fast_path=False), runs)


def main() -> None:
    """Print one table: store path x case -> median wall time and client CPU per request."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"lean client: send + parse one 16 KiB S3 GET answer (llhttp): {parse_cost() * 1e6:.1f} us of CPU")
    print(f"W1 (1024 chunks) on each cloud store via a {args.latency * 1000:.0f} ms latency proxy; median of {args.runs}")
    print(f"{'store path':<16}{'write s':>9}{'read s':>9}{'write CPU/req':>15}{'read CPU/req':>14}")
    for rows in (s3_rows, gcs_rows, azure_rows):
        try:
            for name, res in rows(args.latency, args.runs):
                (ws, wc), (rs, rc) = res["write"], res["read"]
                print(f"{name:<16}{ws:>9.3f}{rs:>9.3f}{wc * 1e6:>12.0f} us{rc * 1e6:>11.0f} us")
        except Exception as exc:  # an emulator that cannot run here is reported, not hidden
            print(f"{rows.__name__[:-5]:<16}could not run: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
