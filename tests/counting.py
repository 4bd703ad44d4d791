"""A Store wrapper that counts the requests an operation makes (to prove batching claims)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from azarr.stores.base import Store
from azarr.stores.ranges import RangeRequest


class Delegating(Store):
    """A wrapper whose public methods delegate to ``self.inner``; the ABC's primitives are
    never reached, but the ABC requires them."""

    inner: Store

    async def _get(self, key: str) -> bytes | None:  # pragma: no cover
        return await self.inner._get(key)

    async def _set(self, key: str, value: bytes) -> None:  # pragma: no cover
        await self.inner._set(key, value)

    async def _delete(self, key: str) -> None:  # pragma: no cover
        await self.inner._delete(key)

    def _list_prefix(self, prefix: str) -> AsyncIterator[str]:  # pragma: no cover
        return self.inner._list_prefix(prefix)


class CountingStore(Delegating):
    """Delegates to ``inner`` and counts public calls (``calls``), keys read (``keys_read``) and
    the requests of each ``get_ranges`` call (``range_calls``: one list per call, i.e. per round trip)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(read_only=inner.read_only, concurrency=inner.concurrency, retry=inner.retry)
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.keys_read: list[str] = []
        self.range_calls: list[list[RangeRequest]] = []

    def reset(self) -> None:
        """Forget the counts so far."""
        self.calls.clear()
        self.keys_read.clear()
        self.range_calls.clear()

    @property
    def reads(self) -> int:
        """Number of read requests (get, get_range, get_many, exists, listings)."""
        return sum(
            self.calls[k] for k in ("get", "get_range", "get_many", "get_ranges", "exists", "list_prefix", "list_dir")
        )

    def _config(self) -> dict[str, Any]:
        return self.inner._config()

    def __reduce__(self) -> tuple[Any, ...]:
        return self.inner.__reduce__()

    def with_read_only(self, read_only: bool = True) -> CountingStore:
        return CountingStore(self.inner.with_read_only(read_only))

    def __repr__(self) -> str:
        return f"Counting({self.inner!r})"

    async def get(self, key: str) -> bytes | None:
        self.calls["get"] += 1
        self.keys_read.append(key)
        return await self.inner.get(key)

    async def get_range(self, key: str, start: int, end: int | None = None) -> bytes | None:
        self.calls["get_range"] += 1
        return await self.inner.get_range(key, start, end)

    async def get_many(self, keys: Iterable[str], *, on_value: Any = None) -> dict[str, bytes]:
        keys = list(keys)
        self.calls["get_many"] += 1
        self.keys_read.extend(keys)
        return await self.inner.get_many(keys, on_value=on_value)

    async def get_ranges(self, requests: Iterable[RangeRequest], *, on_value: Any = None) -> dict[RangeRequest, bytes]:
        requests = list(requests)
        self.calls["get_ranges"] += 1
        self.range_calls.append(requests)
        self.keys_read.extend(k for k, _ in requests)
        return await self.inner.get_ranges(requests, on_value=on_value)

    async def exists(self, key: str) -> bool:
        self.calls["exists"] += 1
        return await self.inner.exists(key)

    async def set(self, key: str, value: Any) -> None:
        self.calls["set"] += 1
        await self.inner.set(key, value)

    async def set_many(self, items: Mapping[str, Any]) -> None:
        self.calls["set_many"] += 1
        await self.inner.set_many(items)

    async def delete(self, key: str) -> None:
        self.calls["delete"] += 1
        await self.inner.delete(key)

    async def delete_many(self, keys: Iterable[str]) -> None:
        self.calls["delete_many"] += 1
        await self.inner.delete_many(keys)

    async def list_prefix(self, prefix: str = "") -> AsyncIterator[str]:
        self.calls["list_prefix"] += 1
        async for k in self.inner.list_prefix(prefix):
            yield k

    async def list_dir(self, prefix: str = "") -> tuple[list[str], list[str]]:
        self.calls["list_dir"] += 1
        return await self.inner.list_dir(prefix)

    async def close(self) -> None:
        await self.inner.close()
