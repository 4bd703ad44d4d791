"""A Store wrapper that adds a fixed delay to every request, concurrently (not serialised).

Models an object store's ~100 ms per-request latency in-process, so request-count effects
(batching, consolidated metadata) can be measured without a network emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from azarr.stores.base import Store


class LatencyStore(Store):
    """Delegates to ``inner``; every request sleeps ``latency`` seconds first.

    ``get_many`` costs one latency per key (as an object store without a batch GET does),
    but the requests run concurrently up to the store's concurrency limit.
    """

    def __init__(self, inner: Store, latency: float = 0.1, concurrency: int | None = None) -> None:
        super().__init__(read_only=inner.read_only, concurrency=concurrency or inner.concurrency)
        self.inner = inner
        self.latency = latency
        self.requests = 0

    def _config(self) -> dict[str, Any]:
        return {"inner": self.inner, "latency": self.latency, "concurrency": self.concurrency}

    def __repr__(self) -> str:
        return f"LatencyStore({self.inner!r}, {self.latency * 1000:.0f} ms)"

    async def _delay(self) -> None:
        self.requests += 1
        await asyncio.sleep(self.latency)

    async def _get(self, key: str) -> bytes | None:
        await self._delay()
        return await self.inner.get(key)

    async def _get_range(self, key: str, start: int, end: int | None) -> bytes | None:
        await self._delay()
        return await self.inner.get_range(key, start, end)

    async def _set(self, key: str, value: bytes) -> None:
        await self._delay()
        await self.inner.set(key, value)

    async def _delete(self, key: str) -> None:
        await self._delay()
        await self.inner.delete(key)

    async def _exists(self, key: str) -> bool:
        await self._delay()
        return await self.inner.exists(key)

    async def _list_prefix(self, prefix: str) -> AsyncIterator[str]:
        await self._delay()
        async for k in self.inner.list_prefix(prefix):
            yield k


__all__ = ["Iterable", "LatencyStore", "Mapping"]
