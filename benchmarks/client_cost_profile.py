"""``client_cost.py --profile``: where azarr's CPU goes per chunk in W1 read and write.

W1 runs in this process through azarr's async API on the loop azarr's blocking API would use
(uvloop when installed), against fake_s3 at 100 ms per request. The ``cpu`` column is the
process's CPU per chunk without the profiler (every thread). Then the same runs go under
cProfile with the codec pool's work run inline on the loop's thread (so the one profile holds
all the CPU and no GIL wait is charged to a function), and self time (time inside a function,
not its callees) is grouped into the parts of the client. cProfile slows Python code more than
C code, so the parts add up to more than ``cpu``: they say where to cut, ``cpu`` what it costs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from client_cost_worker import CHUNKS, NCHUNKS, SHAPE, workload
from latency import Server

GROUPS = ("event loop + sockets", "HTTP client", "signing", "store engine", "planning", "codecs",
          "scatter/gather", "other")


def group_of(file: str, func: str) -> str:
    """The part of the client a function belongs to (by module, and a few names)."""
    f = file.replace("\\", "/")
    if "_s3http" in f:
        return "signing" if func in ("headers", "canonical_request", "string_to_sign", "uri_encode",
                                     "_signing_key", "<genexpr>", "<listcomp>", "__call__") else "HTTP client"
    if f == "~":  # built-ins: named by their object
        if "of 'select." in func:
            return "idle"  # waiting in epoll/select for answers: not CPU, left out of the table
        if any(s in func for s in ("_hashlib", "hmac", "sha256", "hexdigest")):
            return "signing"
        if any(s in func for s in ("zstd", "compress", "crc32c", "blosc", "frombuffer", "frame_content_size")):
            return "codecs"
        if any(s in func for s in ("socket", "select", "epoll", "poll", "uvloop", "_asyncio", "run' of 'Context",
                                   "send", "recv", "writelines", "write' of")):
            return "event loop + sockets"
        if "httptools" in func or "feed_data" in func or "HttpResponseParser" in func:
            return "HTTP client"
        return "other"
    if "/asyncio/" in f or "uvloop" in f or "selectors" in f or "/threading.py" in f or "concurrent/futures" in f:
        return "event loop + sockets"
    if "_http1" in f or "httptools" in f or "urllib/parse" in f or "yarl" in f:
        return "HTTP client"
    if "hmac" in f or "hashlib" in f:
        return "signing"
    if "azarr/stores/" in f:
        return "store engine"
    if "azarr/core/indexing" in f or "azarr/meta/" in f:
        return "planning"
    if "azarr/codecs/" in f or "numcodecs" in f or "zstandard" in f:
        return "codecs"
    if "azarr/core/chunk_io" in f and func in ("decode_into", "build", "build_into", "_decode_into"):
        return "scatter/gather"
    if "azarr/core/" in f:
        return "planning"
    return "other"


class InlinePool(ThreadPoolExecutor):
    """A codec pool that runs each task at once in the calling thread.

    With the profiler on, codec threads would make the loop thread wait for the GIL, and
    cProfile (a wall-clock profiler) would charge that wait to whatever function was running;
    run inline, every microsecond of the profile is CPU spent on the one thread.
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            fut.set_exception(exc)
        return fut


def _groups(profiles: list[cProfile.Profile]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for prof in profiles:
        stats = pstats.Stats(prof)
        for (file, _line, func), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            out[group_of(file, func)] += tottime
    return out


def _print_top(profiles: list[cProfile.Profile], n: int = 12) -> None:
    """The functions with the most self time in each part."""
    rows: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for prof in profiles:
        for (file, line, func), (_cc, nc, tottime, _ct, _callers) in pstats.Stats(prof).stats.items():  # type: ignore[attr-defined]
            rows[group_of(file, func)].append((tottime, f"{nc:>8} {file.rsplit('/', 2)[-1]}:{line}({func})"))
    for group in GROUPS:
        print(f"  {group}:")
        for tottime, what in sorted(rows[group], reverse=True)[:n]:
            print(f"    {tottime:8.4f} {what}")


def profile_table(args: argparse.Namespace) -> None:
    """Profile W1 write (replace) and read (open) ``args.runs`` times each; print µs per chunk."""
    import numcodecs

    import azarr.core.cpu
    from azarr import aio
    from azarr.stores import S3Store
    from azarr.sync import new_loop

    server = Server(args.latency, "server")
    data = workload()
    loop = new_loop()
    real_pool = azarr.core.cpu.codec_pool()
    try:
        store = S3Store("bench", "profile", endpoint_url=server.url, key="bench", secret="bench", region="us-east-1")

        async def write() -> None:
            arr = await aio.open_array(store, "w", shape=SHAPE, chunks=CHUNKS, dtype="f4",
                                       compressor=numcodecs.Zstd(level=1))
            await arr.setitem(..., data)

        async def read() -> Any:
            arr = await aio.open_array(store, "r")
            return await arr.getitem(...)

        cases = {"write": write, "read": read}
        for fn in cases.values():  # warm connections and imports
            loop.run_until_complete(fn())
        print(f"W1 ({NCHUNKS} chunks) through fake_s3 at {args.latency * 1000:.0f} ms, {type(loop).__module__} loop; "
              f"µs of CPU per chunk, {args.runs} runs; 'cpu' = process CPU without the profiler, the rest = "
              "cProfile self time by part (profiler overhead included)")
        print(f"{'case':<7}{'wall s':>8}{'cpu':>8}" + "".join(f"{g:>{max(9, len(g) + 2)}}" for g in GROUPS))
        for case, fn in cases.items():
            walls, cpus = [], []
            for _ in range(args.runs):
                c0, t0 = time.process_time(), time.perf_counter()
                loop.run_until_complete(fn())
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            main = cProfile.Profile()
            azarr.core.cpu._POOL = InlinePool(max_workers=1)
            try:
                for _ in range(args.runs):
                    main.enable()
                    loop.run_until_complete(fn())
                    main.disable()
            finally:
                azarr.core.cpu._POOL = real_pool
            groups = _groups([main])
            per = 1e6 / (NCHUNKS * args.runs)
            cells = "".join(f"{groups.get(g, 0.0) * per:>{max(9, len(g) + 2)}.1f}" for g in GROUPS)
            print(f"{case:<7}{sorted(walls)[len(walls) // 2]:>8.3f}"
                  f"{sorted(cpus)[len(cpus) // 2] * 1e6 / NCHUNKS:>8.0f}{cells}")
            if args.verbose:
                _print_top([main])
        loop.run_until_complete(store.close())
    finally:
        loop.close()
        server.close()
        asyncio.set_event_loop(None)
