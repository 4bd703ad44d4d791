"""``bench``: measure a store from where the user sits. On a scratch prefix it removes
afterwards (also when interrupted): GET and PUT latency one request at a time (percentiles),
then throughput at several concurrency levels, and the number of requests in flight that
hides the latency (Little's law: throughput x latency)."""

from __future__ import annotations

import functools
import math
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from azarr.stores.base import Store
from azarr.stores.registry import from_url

#: a level within this fraction of the best throughput counts as saturated
SATURATION = 0.9


@dataclass
class Level:
    """Throughput at one concurrency level."""

    concurrency: int
    get_per_s: float
    put_per_s: float
    get_bytes_per_s: float
    put_bytes_per_s: float


@dataclass
class BenchResult:
    """What ``bench`` measured."""

    url: str
    size: int
    get_ms: list[float] = field(default_factory=list)
    put_ms: list[float] = field(default_factory=list)
    levels: list[Level] = field(default_factory=list)
    default_concurrency: int = 0
    scratch: str = ""

    def percentile(self, op: str, q: float) -> float:
        """The ``q``-th percentile (0-100) of the ``op`` ("get"/"put") latencies, in ms."""
        values = sorted(self.get_ms if op == "get" else self.put_ms)
        if not values:
            return math.nan
        rank = (len(values) - 1) * q / 100
        lo, hi = math.floor(rank), math.ceil(rank)
        return values[lo] + (values[hi] - values[lo]) * (rank - lo)

    def saturation(self, op: str) -> int | None:
        """The lowest level within :data:`SATURATION` of the best ``op`` throughput."""
        rates = [(lv.concurrency, lv.get_per_s if op == "get" else lv.put_per_s) for lv in self.levels]
        if not rates:
            return None
        best = max(r for _, r in rates)
        return next(c for c, r in rates if r >= SATURATION * best)

    def needed(self, op: str) -> float:
        """Requests in flight that sustain the best measured ``op`` throughput at the median
        single-request latency (Little's law)."""
        rates = [lv.get_per_s if op == "get" else lv.put_per_s for lv in self.levels]
        if not rates:
            return math.nan
        return max(rates) * self.percentile(op, 50) / 1000

    def as_dict(self) -> dict[str, Any]:
        """The result for ``--json``."""
        return {
            "url": self.url,
            "object_bytes": self.size,
            "latency_ms": {
                op: {f"p{q}": round(self.percentile(op, q), 2) for q in (50, 90, 99)} | {"n": len(ms)}
                for op, ms in (("get", self.get_ms), ("put", self.put_ms))
            },
            "throughput": [
                {"concurrency": lv.concurrency, "get_per_s": round(lv.get_per_s, 1), "put_per_s": round(lv.put_per_s, 1),
                 "get_bytes_per_s": round(lv.get_bytes_per_s), "put_bytes_per_s": round(lv.put_bytes_per_s)}
                for lv in self.levels
            ],
            "saturation": {"get": self.saturation("get"), "put": self.saturation("put")},
            "in_flight_needed": {"get": round(self.needed("get"), 1), "put": round(self.needed("put"), 1)},
            "default_concurrency": self.default_concurrency,
        }


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await fn()
    return (time.perf_counter() - start) * 1000


async def bench(
    url: str,
    options: dict[str, Any],
    *,
    size: int,
    samples: int,
    levels: Sequence[int],
    on_step: Callable[[str], None] | None = None,
) -> BenchResult:
    """Measure the store at ``url``; everything is written below a scratch prefix that is
    deleted before returning (or raising, or being cancelled)."""
    levels = sorted(set(levels))
    top = max(levels)
    scratch = f".azarr-bench-{uuid.uuid4().hex[:12]}"
    result = BenchResult(url, size, scratch=scratch)
    stores: list[Store] = []

    def store_at(concurrency: int) -> Store:
        store = from_url(url, **{**options, "concurrency": concurrency})
        stores.append(store)
        return store

    def step(text: str) -> None:
        if on_step is not None:
            on_step(text)

    first = store_at(top)
    result.default_concurrency = type(first).default_concurrency()
    if first.read_only:
        raise ValueError(f"{first.name} is read-only: bench writes (and then deletes) objects below {scratch}/")
    payload = os.urandom(size)
    try:
        step(f"latency: {samples} PUTs and {samples} GETs of {size:,} bytes, one at a time")
        latency_keys = [f"{scratch}/lat/{i}" for i in range(samples)]
        for key in latency_keys:
            result.put_ms.append(await _timed(functools.partial(first.set, key, payload)))
        for key in latency_keys:
            result.get_ms.append(await _timed(functools.partial(first.get, key)))
        for level in levels:
            step(f"throughput at {level} in flight")
            store = store_at(level)
            n = max(2 * level, samples)
            keys = [f"{scratch}/c{level}/{i}" for i in range(n)]
            start = time.perf_counter()
            await store.set_many(dict.fromkeys(keys, payload))
            put_s = time.perf_counter() - start
            start = time.perf_counter()
            found = await store.get_many(keys)
            get_s = time.perf_counter() - start
            if len(found) != n:
                raise RuntimeError(f"bench: read back {len(found)} of the {n} objects just written")
            result.levels.append(Level(level, n / get_s, n / put_s, n * size / get_s, n * size / put_s))
        return result
    finally:
        step(f"removing the scratch prefix {scratch}/")
        try:
            await first.delete_prefix(scratch + "/")
        finally:
            for store in stores:
                await store.close()


__all__ = ["SATURATION", "BenchResult", "Level", "bench"]
