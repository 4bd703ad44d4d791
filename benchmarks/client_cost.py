"""W1's client cost: azarr vs tensorstore and the newest zarr-python 3, each in its own process.

Three modes, each printing a table:

* default: W1 (f4 2048² in 64² chunks = 1,024 chunks, Zstd 1, Zarr v2) ``write`` (replacing the
  array) and ``read`` (open included) at 100 ms per request, on two endpoints, each in its own
  process: ``fake`` (benchmarks/fake_s3.py on uvloop) and ``heavy`` (the same aiohttp server on
  asyncio's own loop, whose CPU per request competes with the client's on this 2-core machine).
  Every stack runs in a worker process (benchmarks/client_cost_worker.py), runs interleaved
  across stacks; the table gives median wall seconds, the ratio to tensorstore x256, and the
  client's CPU seconds per 1,000 chunks (the worker process's CPU over all its threads).
  ``floor x256`` is no real client: it only sends prepared requests and frames the answers
  (no signing, no encoding or decoding), so its row is the endpoint's own limit at 256 in flight.
  ``--before DIR`` adds azarr imported from ``DIR`` (e.g. ``git archive main azarr | tar -x -C DIR``).
* ``--profile``: where azarr's CPU goes per chunk in W1 read and write (cProfile over the event
  loop's thread and the codec pool's threads, self time grouped: event loop and sockets, HTTP
  client, signing, store engine, planning, codecs, scatter/gather copies).
* ``--memory``: peak RSS over the result's size for a 2 GiB read from LocalStore, MemoryStore
  and S3Store, each in a fresh process.

    .venv/bin/python benchmarks/client_cost.py [--runs 5] [--endpoints fake,heavy] [--before DIR]
    .venv/bin/python benchmarks/client_cost.py --profile [--runs 3]
    .venv/bin/python benchmarks/client_cost.py --memory [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from client_cost_worker import CASES, NCHUNKS
from latency import Server, endpoint_check, peer_python

ENDPOINTS = {"fake": ("fake_s3 on uvloop", ()), "heavy": ("fake_s3 on asyncio (aiohttp, no uvloop)", ("--loop", "asyncio"))}


class Worker:
    """A stack in its own process, measuring one run per request."""

    def __init__(self, argv: list[str]) -> None:
        # tensorstore logs credential lookups on stderr: kept out of the table
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        assert self.proc.stdout is not None
        hello = self.proc.stdout.readline()
        if not hello:
            self.proc.wait(60)
            raise RuntimeError(f"worker {argv[2:4]} exited ({self.proc.returncode}) before it was ready")
        info = json.loads(hello)
        if "error" in info:
            raise RuntimeError(info["error"])
        self.name: str = info["name"]

    def once(self, case: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"case": case}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        return json.loads(line) if line else {"error": f"worker exited ({self.proc.poll()})"}

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(60)


def workers_for(url: str, before: str | None, label: str) -> list[Worker]:
    script = str(HERE / "client_cost_worker.py")
    argvs = [[sys.executable, script, "--stack", "azarr", "--url", url, "--label", label]]
    if before:
        argvs.append([*argvs[0], "--azarr-src", before])
    argvs.append([sys.executable, script, "--stack", "tensorstore", "--url", url, "--label", label])
    argvs.append([sys.executable, script, "--stack", "floor", "--url", url, "--label", label])
    python = peer_python()
    if python is not None:
        argvs.append([str(python), script, "--stack", "zarr", "--url", url, "--label", label])
    workers = []
    for argv in argvs:
        try:
            workers.append(Worker(argv))
        except Exception as exc:  # noqa: BLE001 - a stack that cannot run is reported, not hidden
            print(f"{argv[3]}: could not run: {type(exc).__name__}: {exc}")
    return workers


def peer_table(args: argparse.Namespace) -> None:
    """The W1 table: every stack on every endpoint, runs interleaved."""
    print(f"W1: f4 (2048, 2048) in (64, 64) chunks ({NCHUNKS}), Zstd(1), Zarr v2; {args.latency * 1000:.0f} ms "
          f"per request; median of {args.runs} runs interleaved across stacks; write = replace the array and "
          "write it whole; read = open and read it whole; cpu = the client process's CPU s per 1,000 chunks")
    header = f"{'endpoint':<8}{'stack':<24}{'case':<7}{'median s':>9}{'x ts256':>9}{'cpu s/1k':>10}"
    rows: list[str] = []
    for endpoint in args.endpoints.split(","):
        what, extra = ENDPOINTS[endpoint]
        server = Server(args.latency, "server", extra)
        workers: list[Worker] = []
        try:
            check = endpoint_check(server)
            print(f"{endpoint}: {what}; 100 concurrent GETs take {check:.3f} s")
            workers = workers_for(server.url, args.before, endpoint)
            seen: dict[str, dict[str, list[dict[str, Any]]]] = {w.name: {c: [] for c in CASES} for w in workers}
            for case in CASES:
                for _ in range(args.runs):
                    for w in workers:
                        seen[w.name][case].append(w.once(case))
            base = next((n for n in seen if n.startswith("tensorstore")), None)
            for name, by_case in seen.items():
                for case, results in by_case.items():
                    errors = [r["error"] for r in results if "error" in r]
                    if errors:
                        rows.append(f"{endpoint:<8}{name:<24}{case:<7}failed: {errors[0]}")
                        continue
                    med = statistics.median(r["seconds"] for r in results)
                    cpu = statistics.median(r["cpu"] for r in results) / NCHUNKS * 1000
                    ratio = "-"
                    if base is not None and not any("error" in r for r in seen[base][case]):
                        ratio = f"{med / statistics.median(r['seconds'] for r in seen[base][case]):.2f}"
                    rows.append(f"{endpoint:<8}{name:<24}{case:<7}{med:>9.3f}{ratio:>9}{cpu:>10.3f}")
        finally:
            for w in workers:
                w.close()
            server.close()
    print(header)
    print("\n".join(rows))


def main() -> None:
    """Parse the options and run the chosen mode."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--endpoints", default="fake,heavy")
    parser.add_argument("--before", default=None, help="also azarr imported from this directory (e.g. main's)")
    parser.add_argument("--profile", action="store_true", help="azarr's per-chunk CPU breakdown instead")
    parser.add_argument("--memory", action="store_true", help="peak RSS of a 2 GiB read per store instead")
    parser.add_argument("--stores", default="local,memory,s3", help="with --memory: which stores")
    parser.add_argument("--verbose", action="store_true", help="with --profile: also the top functions")
    args = parser.parse_args()
    if args.profile:
        from client_cost_profile import profile_table

        profile_table(args)
    elif args.memory:
        from client_cost_memory import memory_table

        memory_table(args)
    else:
        peer_table(args)


if __name__ == "__main__":
    main()
