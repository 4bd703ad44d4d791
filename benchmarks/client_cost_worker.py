"""One W1 stack in its own process, for benchmarks/client_cost.py.

Run by the parent with ``--stack azarr|tensorstore|zarr`` (zarr: the newest zarr-python 3, from
``.venv-peer312``; the module imports only numpy and the standard library at the top, so it runs
there too). It writes its array once, prints ``{"name": ...}``, then measures one run of the case
named by each JSON line on stdin (``{"case": "write"}``) and answers ``{"seconds", "cpu"}`` (wall
seconds, and this process's CPU seconds over every thread) or ``{"error"}``. Separate processes
keep one stack's threads and caches out of another's figures; the parent interleaves the runs.

Cases (W1: f4 (2048, 2048) in (64, 64) chunks = 1,024 chunks, Zstd level 1, stored as Zarr v2 as
every stack writes it by default):

* ``write``: replace the existing array (azarr ``open_array(mode="w")``, tensorstore
  ``delete_existing``, zarr-python ``overwrite=True``) and write it whole;
* ``read``: open the array and read it whole.

``--azarr-src DIR`` imports azarr from ``DIR`` instead of the installed one (the parent passes
an export of ``main`` for the "before" rows).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

SHAPE, CHUNKS = (2048, 2048), (64, 64)
NCHUNKS = (SHAPE[0] // CHUNKS[0]) * (SHAPE[1] // CHUNKS[1])
CASES = ("write", "read")


def workload() -> np.ndarray:
    """W1's data: a smooth field plus quantised noise (as benchmarks/latency.py)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]].astype("f4")
    field = np.sin(x / 97.0) * np.cos(y / 61.0) * 50 + 273
    return (field + np.round(rng.standard_normal(SHAPE) * 4) / 4).astype("f4")


def use_azarr_from(src: str) -> None:
    """Import azarr from ``src``: drop the editable install's finder, put ``src`` first."""
    sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("__editable__")]
    sys.path.insert(0, src)


def azarr_cases(url: str, data: np.ndarray, path: str) -> dict[str, Callable[[], Any]]:
    """azarr through its blocking API at its defaults (the I/O thread's loop, 256 in flight)."""
    import numcodecs

    import azarr

    opts = {"endpoint_url": url, "key": "bench", "secret": "bench", "region": "us-east-1"}
    url_path = f"s3://bench/{path}"

    def write() -> None:
        z = azarr.open_array(url_path, mode="w", shape=SHAPE, chunks=CHUNKS, dtype="f4",
                             compressor=numcodecs.Zstd(level=1), storage_options=opts)
        z[...] = data

    def read() -> Any:
        return azarr.open_array(url_path, mode="r", storage_options=opts)[...]

    return {"write": write, "read": read}


def tensorstore_cases(url: str, data: np.ndarray, path: str, concurrency: int) -> dict[str, Callable[[], Any]]:
    """tensorstore's zarr driver on its s3 kvstore, ``concurrency`` requests in flight."""
    import tensorstore as ts

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
    spec = {"driver": "zarr", "kvstore": {"driver": "s3", "bucket": "bench", "path": f"{path}/", "endpoint": url,
                                          "aws_region": "us-east-1"}}
    meta = {"shape": list(SHAPE), "chunks": list(CHUNKS), "dtype": "<f4", "compressor": {"id": "zstd", "level": 1}}

    def context() -> Any:
        return ts.Context({"s3_request_concurrency": {"limit": concurrency}})

    def write() -> None:
        t = ts.open({**spec, "metadata": meta}, create=True, delete_existing=True, context=context()).result()
        t.write(data).result()

    def read() -> Any:
        return ts.open(spec, context=context()).result().read().result()

    return {"write": write, "read": read}


def zarr_cases(url: str, data: np.ndarray, path: str, concurrency: int) -> dict[str, Callable[[], Any]]:
    """zarr-python 3 on obstore (its fastest S3 store) at ``async.concurrency`` = ``concurrency``."""
    import numcodecs
    import zarr
    from obstore.store import S3Store
    from zarr.storage import ObjectStore

    zarr.config.set({"async.concurrency": concurrency})
    store = ObjectStore(S3Store("bench", prefix=path, endpoint=url, access_key_id="bench", secret_access_key="bench",
                                region="us-east-1", virtual_hosted_style_request=False,
                                client_options={"allow_http": True}))

    def write() -> None:
        z = zarr.create_array(store, shape=SHAPE, chunks=CHUNKS, dtype="f4", zarr_format=2,
                              compressors=numcodecs.Zstd(level=1), overwrite=True)
        z[...] = data

    def read() -> Any:
        return zarr.open_array(store, mode="r", zarr_format=2)[...]

    return {"write": write, "read": read}


def floor_cases(url: str, data: np.ndarray, path: str, concurrency: int) -> dict[str, Callable[[], Any]]:
    """The endpoint's own limit: a client that does nothing but send prepared requests.

    On uvloop, over ``concurrency`` kept-alive connections made once: ``read`` GETs
    ``.zarray`` then every chunk (no signing, no decoding, nothing kept); ``write`` PUTs
    ``.zarray`` then every chunk from bytes encoded beforehand (no replace: nothing is
    listed or deleted). Each answer is framed by its Content-Length only. No real client can
    be faster than this against the same endpoint; how close each stack comes shows how much
    of its time is its own.
    """
    import asyncio
    from urllib.parse import urlsplit

    import numcodecs
    import uvloop

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    grid = (SHAPE[0] // CHUNKS[0], SHAPE[1] // CHUNKS[1])
    keys = [f"{i}.{j}" for i in range(grid[0]) for j in range(grid[1])]
    codec = numcodecs.Zstd(level=1)
    blobs = {f"{i}.{j}": codec.encode(np.ascontiguousarray(data[i * CHUNKS[0]:(i + 1) * CHUNKS[0],
                                                                  j * CHUNKS[1]:(j + 1) * CHUNKS[1]]))
             for i in range(grid[0]) for j in range(grid[1])}
    zarray = json.dumps({"zarr_format": 2, "shape": list(SHAPE), "chunks": list(CHUNKS), "dtype": "<f4",
                         "compressor": codec.get_config(), "fill_value": 0.0, "filters": None,
                         "order": "C"}).encode()

    class Conn(asyncio.Protocol):
        def __init__(self) -> None:
            self.buf = bytearray()
            self.need = -1
            self.waiter: asyncio.Future[None] | None = None

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, chunk: bytes) -> None:
            self.buf += chunk
            if self.need < 0:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(self.buf[:end]).lower()
                at = head.index(b"content-length:") + 15
                self.need = end + 4 + int(head[at:head.index(b"\r", at) if b"\r" in head[at:] else None])
            if len(self.buf) >= self.need:
                del self.buf[:self.need]
                self.need = -1
                assert self.waiter is not None
                self.waiter.set_result(None)

        def send(self, head: bytes, body: bytes = b"") -> asyncio.Future[None]:
            self.waiter = asyncio.get_running_loop().create_future()
            self.transport.write(head + body if body else head)
            return self.waiter

    loop = uvloop.new_event_loop()
    conns: list[Conn] = []

    async def connect() -> None:
        for _ in range(concurrency):
            conns.append((await loop.create_connection(Conn, host, port))[1])

    loop.run_until_complete(connect())
    prefix = f"/bench/{path}"

    def get(key: str) -> bytes:
        return f"GET {prefix}/{key} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()

    def put(key: str, body: bytes) -> bytes:
        return f"PUT {prefix}/{key} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n\r\n".encode()

    async def all_of(requests: list[tuple[bytes, bytes]]) -> None:
        todo = iter(requests)

        async def worker(conn: Conn) -> None:
            for head, body in todo:
                await conn.send(head, body)

        await asyncio.gather(*(worker(c) for c in conns))

    def read() -> None:
        loop.run_until_complete(all_of([(get(".zarray"), b"")]))
        loop.run_until_complete(all_of([(get(k), b"") for k in keys]))

    def write() -> None:
        loop.run_until_complete(all_of([(put(".zarray", zarray), zarray)]))
        loop.run_until_complete(all_of([(put(k, blobs[k]), blobs[k]) for k in keys]))

    return {"write": write, "read": read}


def main() -> None:
    """Write once, then answer one measured run per JSON line on stdin."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", choices=["azarr", "tensorstore", "zarr", "floor"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--label", default="")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--azarr-src", default=None)
    args = parser.parse_args()
    data = workload()
    path = f"{args.stack}-{args.label or 'x'}-{os.getpid()}"
    if args.stack == "azarr":
        if args.azarr_src:
            use_azarr_from(args.azarr_src)
        cases = azarr_cases(args.url, data, path)
        import azarr

        version = "main" if args.azarr_src else "this branch"
        name = f"azarr ({version})"
        del azarr
    elif args.stack == "tensorstore":
        cases = tensorstore_cases(args.url, data, path, args.concurrency)
        name = f"tensorstore x{args.concurrency}"
    elif args.stack == "floor":
        cases = floor_cases(args.url, data, path, args.concurrency)
        name = f"floor x{args.concurrency}"
    else:
        cases = zarr_cases(args.url, data, path, args.concurrency)
        import zarr

        name = f"zarr {zarr.__version__} x{args.concurrency}"
    cases["write"]()  # the array exists before the first measured run, as in a replace
    if args.stack != "floor" and not np.array_equal(cases["read"](), data):
        print(json.dumps({"error": "read back differs from what was written"}), flush=True)
        return
    print(json.dumps({"name": name}), flush=True)
    for line in sys.stdin:
        case = json.loads(line)["case"]
        try:
            cpu0, t0 = time.process_time(), time.perf_counter()
            out = cases[case]()
            seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            if case == "read" and args.stack != "floor" and not np.array_equal(out, data):
                raise AssertionError("read back differs from what was written")
        except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
            continue
        print(json.dumps({"seconds": seconds, "cpu": cpu}), flush=True)


if __name__ == "__main__":
    main()
