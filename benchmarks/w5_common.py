"""W5 (sharded arrays) shared by benchmarks/sharding.py and its zarr-python peer process.

Imports only numpy and the standard library: the zarr-python 3 peer runs it from its own
Python 3.12 virtualenv (``.venv-peer312``), where azarr is not installed.

W5: float32 (4096, 4096) in shards of (1024, 1024) holding inner chunks of (64, 64)
(16 shards x 256 inner chunks), Zstd level 1. Cases: full write; full read; a region
touching parts of 4 shards ``[960:1088, 960:1088]`` with a cold and a warm index cache;
1,000 random points (``vindex``), cold and warm.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np

SHAPE, SHARDS, INNER = (4096, 4096), (1024, 1024), (64, 64)
REGION = (slice(960, 1088), slice(960, 1088))
CASES = ("write", "read", "region cold", "region warm", "vindex cold", "vindex warm")


def workload() -> np.ndarray:
    """Random-but-compressible float32 data (smooth field + quantised noise), as W1's."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]].astype("f4")
    field = np.sin(x / 97.0) * np.cos(y / 61.0) * 50 + 273
    return (field + np.round(rng.standard_normal(SHAPE) * 4) / 4).astype("f4")


def points() -> tuple[np.ndarray, np.ndarray]:
    """The 1,000 random coordinates of the vindex cases."""
    rng = np.random.default_rng(5)
    return rng.integers(0, SHAPE[0], 1000), rng.integers(0, SHAPE[1], 1000)


def round_trips(trace: list[list[float]]) -> int:
    """The longest chain of requests each started after the previous one was answered.

    Requests sent together overlap and count once; a request that had to wait for an
    answer (an index before its data, a wave after a full budget) starts a new round trip.
    """
    by_start = sorted(trace)
    by_end = sorted(range(len(by_start)), key=lambda i: by_start[i][1])
    depth = [0] * len(by_start)
    best = 0  # deepest chain among requests answered so far
    j = 0
    for i, (start, _) in enumerate(by_start):
        while j < len(by_end) and by_start[by_end[j]][1] <= start:
            best = max(best, depth[by_end[j]])
            j += 1
        depth[i] = best + 1
    return max(depth, default=0)


class Endpoint:
    """The benchmark S3 endpoint's counters (benchmarks/fake_s3.py)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        self._get("/__reset_stats")

    def requests_and_round_trips(self) -> tuple[int, int]:
        stats = self._get("/__stats")
        return int(stats.get("requests", 0)), round_trips(self._get("/__trace"))


def measure(endpoint: Endpoint, run: Callable[[Any], object], runs: int, prepare: Callable[[], Any] = lambda: None,
            check: Callable[[Any], None] | None = None) -> tuple[float, int, int]:
    """Median seconds of ``run(prepare())`` over ``runs`` (``prepare`` untimed), with the
    requests and round trips the endpoint saw in the last run; ``check`` sees each result."""
    times: list[float] = []
    reqs = trips = 0
    for _ in range(runs):
        state = prepare()
        endpoint.reset()
        t0 = time.perf_counter()
        result = run(state)
        times.append(time.perf_counter() - t0)
        reqs, trips = endpoint.requests_and_round_trips()
        if check is not None:
            check(result)
    return statistics.median(times), reqs, trips


def checker(case: str, data: np.ndarray) -> Callable[[Any], None] | None:
    """A check that a read case returned the right values (None for the write)."""
    expected: dict[str, Any] = {
        "read": data,
        "region cold": data[REGION],
        "region warm": data[REGION],
        "vindex cold": data[points()],
        "vindex warm": data[points()],
    }
    want = expected.get(case)
    if want is None:
        return None

    def check(result: Any) -> None:
        if not np.array_equal(np.asarray(result), want):
            raise AssertionError(f"{case}: wrong values read")

    return check
