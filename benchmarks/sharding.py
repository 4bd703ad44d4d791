"""W5: sharded arrays through a 100 ms-per-request S3 endpoint — azarr vs zarr-python 3 and tensorstore.

W5 (benchmarks/w5_common.py): f4 (4096, 4096) in shards of (1024, 1024) of (64, 64) inner
chunks (16 shards x 256 inner chunks), Zstd level 1. Cases: full write, full read, a
region touching parts of 4 shards with a cold and a warm index cache, 1,000 random
points (vindex) cold and warm. Each stack writes its own copy, then reads it. Prints the
median of ``--runs`` (interleaved: run 1 of every stack, then run 2, ..., so the machine's
changing load falls on all alike), the requests the endpoint saw, the round trips (the
longest chain of requests each sent after another was answered) and the time against azarr's.

Stacks: azarr at its defaults; zarr-python 3 (the newest, in its own Python 3.12
virtualenv ``.venv-peer312``, built by benchmarks/setup_peer312.sh when missing; run as a
subprocess) on obstore and s3fs at its default concurrency and at 256; tensorstore's zarr3
driver on its s3 kvstore at its defaults and at 256 requests in flight (``x256+cache``
also gives it a 1 GB cache pool, so it can keep shard indexes). Every stack runs in a process
of its own (``--in-process`` puts azarr and tensorstore in this one, as earlier versions did:
their threads, allocations and garbage then share one interpreter and make the CPU-bound
cases noisier).

    .venv/bin/python benchmarks/sharding.py [--latency 0.1] [--runs 5] [--no-peers] [--only azarr,tensorstore]
    .venv/bin/python benchmarks/sharding.py --sweep --bandwidth 50e6   # azarr's coalescing settings

``--sweep`` measures azarr's read cases over coalescing gaps and whole-shard fractions;
``--bandwidth`` (bytes/s per response at the endpoint) makes reading unneeded bytes cost
time, as on a real network.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import w5_common as w5
from latency import CREDS, Server, endpoint_check, peer_python

Result = tuple[float, int, int] | str  # (seconds, requests, round trips) of one run, or an error
Cases = dict[str, tuple[Callable[[Any], object], Callable[[], Any]]]  # case -> (timed run, untimed prepare)


class Stack:
    """One client configuration: ``once(case)`` measures a single run of a W5 case."""

    name = ""

    def once(self, case: str) -> Result:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the stack holds."""


class InProcess(Stack):
    """A stack driven from this process (azarr, tensorstore)."""

    def __init__(self, name: str, server: Server, data: Any, cases: Cases, close: Callable[[], None] = lambda: None) -> None:
        self.name = name
        self.endpoint = w5.Endpoint(server.url)
        self.data = data
        self.cases = cases
        self._close = close

    def once(self, case: str) -> Result:
        run, prepare = self.cases[case]
        try:
            return w5.measure(self.endpoint, run, 1, prepare, w5.checker(case, self.data))
        except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
            return f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        self._close()


def azarr_stack(server: Server, data: Any, options: Any = None, tag: str = "", name: str = "azarr (defaults)") -> Stack:
    """azarr at its defaults (async API on its own loop); ``options`` are ShardReadOptions."""
    from azarr import aio
    from azarr.codecs import ZstdCodec
    from azarr.stores import S3Store

    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    store = S3Store("bench", f"azarr{tag}", endpoint_url=server.url, key="bench", secret="bench", region="us-east-1")
    arr = run(aio.open_array(store, "w", shape=w5.SHAPE, chunks=w5.INNER, shards=w5.SHARDS, dtype="f4",
                             compressors=[ZstdCodec(level=1)]))
    pts = w5.points()

    def opened() -> Any:
        a = run(aio.open_array(store, "r"))
        if options is not None:
            a.shard_options = options
        return a

    def warm(selection: Callable[[Any], Any]) -> Callable[[], Any]:
        def prepare() -> Any:
            a = opened()
            run(selection(a))
            return a

        return prepare

    cases: Cases = {
        "write": (lambda _: run(arr.setitem(..., data)), lambda: None),
        "read": (lambda a: run(a.getitem(...)), opened),
        "region cold": (lambda a: run(a.getitem(w5.REGION)), opened),
        "region warm": (lambda a: run(a.getitem(w5.REGION)), warm(lambda a: a.getitem(w5.REGION))),
        "vindex cold": (lambda a: run(a.get_coordinate_selection(pts)), opened),
        "vindex warm": (lambda a: run(a.get_coordinate_selection(pts)), warm(lambda a: a.get_coordinate_selection(pts))),
    }

    def close() -> None:
        run(store.close())
        loop.close()

    return InProcess(name, server, data, cases, close)


def tensorstore_stack(server: Server, data: Any, concurrency: int | None, cache: bool) -> Stack:
    """tensorstore's zarr3 driver on its s3 kvstore (``cache``: a 1 GB cache pool)."""
    import tensorstore as ts

    os.environ.update(CREDS)
    # credentials come from the environment; without these tensorstore logs a missing ~/.aws per request
    os.environ.setdefault("AWS_CONFIG_FILE", os.devnull)
    os.environ.setdefault("AWS_SHARED_CREDENTIALS_FILE", os.devnull)

    def context() -> Any:
        spec: dict[str, Any] = {}
        if concurrency:
            spec["s3_request_concurrency"] = {"limit": concurrency}
        if cache:
            spec["cache_pool"] = {"total_bytes_limit": 1 << 30}
        return ts.Context(spec)

    kv = {"driver": "s3", "bucket": "bench", "path": f"ts-{concurrency}-{cache}/", "endpoint": server.url,
          "aws_region": "us-east-1"}
    spec = {"driver": "zarr3", "kvstore": kv}
    codecs = [{"name": "sharding_indexed", "configuration": {
        "chunk_shape": list(w5.INNER),
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": 1}}],
        "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
        "index_location": "end"}}]
    meta = {"shape": list(w5.SHAPE), "data_type": "float32",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(w5.SHARDS)}}, "codecs": codecs}
    t = ts.open({**spec, "metadata": meta}, create=True, delete_existing=True, context=context()).result()
    pts = w5.points()

    def opened() -> Any:
        return ts.open(spec, context=context()).result()

    def warm(read: Callable[[Any], Any]) -> Callable[[], Any]:
        def prepare() -> Any:
            a = opened()
            read(a)
            return a

        return prepare

    def vindex(a: Any) -> Any:
        return a.vindex[pts].read().result()

    cases: Cases = {
        "write": (lambda _: t.write(data).result(), lambda: None),
        "read": (lambda a: a.read().result(), opened),
        "region cold": (lambda a: a[w5.REGION].read().result(), opened),
        "region warm": (lambda a: a[w5.REGION].read().result(), warm(lambda a: a[w5.REGION].read().result())),
        "vindex cold": (vindex, opened),
        "vindex warm": (vindex, warm(vindex)),
    }
    return InProcess(f"tensorstore x{concurrency or 'default'}{'+cache' if cache else ''}", server, data, cases)


class WorkerStack(Stack):
    """A stack in a process of its own, measuring one run per JSON request on its stdin: no
    other stack's threads, allocations or garbage share its interpreter."""

    def __init__(self, argv: list[str], what: str) -> None:
        # tensorstore logs every credential lookup on stderr (a line per run): kept out of the
        # table; its errors still come back as JSON on stdout
        quiet = subprocess.DEVNULL if what.startswith("tensorstore") else None
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=quiet, text=True)
        assert self.proc.stdout is not None
        hello = self.proc.stdout.readline()
        if not hello:
            self.proc.wait(60)
            raise RuntimeError(f"the {what} worker exited ({self.proc.returncode}) before it was ready")
        self.info = json.loads(hello)

    def once(self, case: str) -> Result:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"case": case}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            return f"the worker process exited ({self.proc.poll()})"
        row = json.loads(line)
        if "error" in row:
            return str(row["error"])
        return row["seconds"], row["requests"], row["round_trips"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(60)


class ZarrPeer(WorkerStack):
    """The newest zarr-python 3 in .venv-peer312, as a worker process."""

    def __init__(self, python: Path, server: Server, store: str, concurrency: int | None) -> None:
        argv = [str(python), str(HERE / "sharding_zarr_peer.py"), "--url", server.url, "--store", store]
        if concurrency:
            argv += ["--concurrency", str(concurrency)]
        super().__init__(argv, "zarr-python peer")
        self.name = f"zarr {self.info['version']} x{self.info['concurrency']} {store}"


#: the stacks a worker process can run: name -> builder(server, data)
OWN_PROCESS = {
    "azarr": lambda server, data: azarr_stack(server, data),
    "tensorstore-default": lambda server, data: tensorstore_stack(server, data, None, False),
    "tensorstore-256": lambda server, data: tensorstore_stack(server, data, 256, False),
    "tensorstore-256-cache": lambda server, data: tensorstore_stack(server, data, 256, True),
}


class OwnProcess(WorkerStack):
    """azarr or tensorstore in a worker process of its own (``sharding.py --worker KIND``)."""

    def __init__(self, kind: str, server: Server) -> None:
        super().__init__([sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--url", server.url], kind)
        self.name = str(self.info["name"])


def serve_worker(kind: str, url: str) -> None:
    """The worker side of :class:`OwnProcess`: build the stack, say hello, answer one case per line."""
    data = w5.workload()
    stack = OWN_PROCESS[kind](argparse.Namespace(url=url), data)
    print(json.dumps({"name": stack.name}), flush=True)
    try:
        for line in sys.stdin:
            result = stack.once(json.loads(line)["case"])
            row = {"error": result} if isinstance(result, str) else dict(zip(("seconds", "requests", "round_trips"), result))
            print(json.dumps(row), flush=True)
    finally:
        stack.close()


def settle(quiet: float = 0.05, limit: float = 3.0) -> None:
    """Wait until the machine is idle (no CPU busy over ``quiet`` s, up to ``limit`` s): a stack's
    process may still be freeing memory or stopping threads after its run, and the next run,
    another stack's, must not pay for that."""

    def busy() -> int:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields) - fields[3] - fields[4]  # all but idle and iowait

    deadline = time.monotonic() + limit
    ticks = os.sysconf("SC_CLK_TCK")
    while time.monotonic() < deadline:
        before = busy()
        time.sleep(quiet)
        if (busy() - before) / ticks < quiet * 0.1:  # under 10% of one core
            return


def run_interleaved(stacks: list[Stack], cases: tuple[str, ...], runs: int) -> dict[str, dict[str, Result]]:
    """Median per stack and case, runs interleaved across stacks (run 1 of every stack, then run 2, ...,
    each run in a different order, each started on an idle machine: see :func:`settle`) so that the
    machine's changing load falls on every stack alike; requests and round trips are those of the last run."""
    seen: dict[str, dict[str, list[Result]]] = {st.name: {c: [] for c in cases} for st in stacks}
    for case in cases:
        for i in range(runs):
            for st in stacks[i % len(stacks):] + stacks[:i % len(stacks)]:
                settle()
                seen[st.name][case].append(st.once(case))
    out: dict[str, dict[str, Result]] = {}
    for name, by_case in seen.items():
        out[name] = {}
        for case, results in by_case.items():
            errors = [r for r in results if isinstance(r, str)]
            good = [r for r in results if not isinstance(r, str)]
            if errors:
                out[name][case] = errors[0]
            else:
                out[name][case] = (statistics.median(r[0] for r in good), good[-1][1], good[-1][2])
    return out


def print_rows(name: str, results: dict[str, Result], baseline: dict[str, Result]) -> None:
    for case in w5.CASES:
        res = results.get(case)
        if res is None:
            continue
        if isinstance(res, str):
            print(f"{name:<28}{case:<14}failed: {res}")
            continue
        med, reqs, trips = res
        base = baseline.get(case)
        ratio = f"{med / base[0]:>9.2f}" if isinstance(base, tuple) and base[0] else f"{'-':>9}"
        print(f"{name:<28}{case:<14}{med:>9.3f}{reqs:>10}{trips:>7}{ratio}")


def sweep(server: Server, data: Any, runs: int) -> None:
    """azarr's read cases over coalescing gaps and whole-shard fractions (runs interleaved)."""
    from azarr.core.shard_io import ShardReadOptions

    cases = ("region cold", "vindex cold", "vindex warm")
    settings = [(gap, 0.5) for gap in (0, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20)]
    settings += [(1 << 20, f) for f in (0.1, 0.25, 0.75, 1.0)]
    stacks = []
    for i, (gap, fraction) in enumerate(settings):
        st = azarr_stack(server, data, ShardReadOptions(coalesce_gap=gap, whole_fraction=fraction), f"-sweep{i}",
                         name=f"{gap}/{fraction}")
        st.once("write")
        stacks.append(st)
    try:
        results = run_interleaved(stacks, cases, runs)
    finally:
        for st in stacks:
            st.close()
    print(f"{'coalesce_gap':>13}{'whole_fraction':>15}  " + "".join(f"{c + ' s':>16}{'reqs':>6}" for c in cases))
    for (gap, fraction), st in zip(settings, stacks):
        cells = "".join(f"{r[0]:>16.3f}{r[1]:>6}" if isinstance(r, tuple) else f"{'failed':>22}"
                        for r in (results[st.name][c] for c in cases))
        print(f"{gap:>13}{fraction:>15}  {cells}")


def main() -> None:
    """Run every stack, interleaved, and print one table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bandwidth", type=float, default=0.0, help="bytes/s per response at the endpoint (0: unlimited)")
    parser.add_argument("--no-peers", action="store_true", help="azarr only")
    parser.add_argument("--only", default="azarr,zarr,tensorstore",
                        help="comma-separated stacks to run (azarr always runs: it is the baseline)")
    parser.add_argument("--sweep", action="store_true", help="azarr's coalescing settings instead of the peer table")
    parser.add_argument("--in-process", action="store_true",
                        help="run azarr and tensorstore in this process (default: each in a process of its own)")
    parser.add_argument("--worker", choices=sorted(OWN_PROCESS), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        serve_worker(args.worker, args.url)
        return
    extra = ("--bandwidth", str(args.bandwidth)) if args.bandwidth else ()
    server = Server(args.latency, "server", extra)
    data = w5.workload()
    stacks: list[Stack] = []
    try:
        check = endpoint_check(server)
        print(f"endpoint check: 100 concurrent GETs took {check:.3f} s at {args.latency * 1000:.0f} ms per request")
        bw = f", {args.bandwidth / 1e6:.0f} MB/s per response" if args.bandwidth else ""
        print(f"W5: f4 {w5.SHAPE}, shards {w5.SHARDS}, inner chunks {w5.INNER}, Zstd(1); "
              f"{args.latency * 1000:.0f} ms per request{bw}; median of {args.runs} interleaved runs")
        if args.sweep:
            sweep(server, data, args.runs)
            return
        only = set(args.only.split(",")) if not args.no_peers else {"azarr"}
        def own(kind: str) -> Stack:
            return OWN_PROCESS[kind](server, data) if args.in_process else OwnProcess(kind, server)

        stacks.append(own("azarr"))
        python = peer_python() if "zarr" in only else None
        for store in ("obstore", "s3fs") if python is not None else ():
            for conc in (None, 256):
                try:
                    stacks.append(ZarrPeer(python, server, store, conc))  # type: ignore[arg-type]
                except Exception as exc:  # noqa: BLE001 - a peer that cannot run here is reported, not hidden
                    print(f"zarr-python 3 {store} x{conc or 'default'}: could not run: {type(exc).__name__}: {exc}")
        for kind in ("tensorstore-default", "tensorstore-256", "tensorstore-256-cache") if "tensorstore" in only else ():
            try:
                stacks.append(own(kind))
            except Exception as exc:  # noqa: BLE001 - reported, not hidden
                print(f"{kind}: could not run: {type(exc).__name__}: {exc}")
        results = run_interleaved(stacks, w5.CASES, args.runs)
        print(f"{'stack':<28}{'case':<14}{'median s':>9}{'requests':>10}{'trips':>7}{'x azarr':>9}")
        base = results[stacks[0].name]
        for st in stacks:
            print_rows(st.name, results[st.name], base)
    finally:
        for st in stacks:
            st.close()
        server.close()


if __name__ == "__main__":
    main()
