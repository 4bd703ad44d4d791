"""MemoryStore: a dict in this process (tests, scratch data, caches)."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

from azarr.stores.base import RetryPolicy, Store, Version, Versioned, validate_key
from azarr.stores.ranges import RangeRequest, read_range


class MemoryStore(Store):
    """An in-process store backed by a ``dict`` (``memory://``).

    Pickling copies the contents (there is no server to reconnect to), so a pickled
    MemoryStore is a snapshot, not a shared view.
    """

    url_schemes = ("memory",)
    sync_reads = True
    #: the version of a value is the stored bytes object itself (compared by identity,
    #: then by content)
    supports_conditional_writes = True

    def __init__(
        self,
        data: MutableMapping[str, bytes] | None = None,
        *,
        read_only: bool = False,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(read_only=read_only, concurrency=concurrency, retry=retry)
        self._data: MutableMapping[str, bytes] = {} if data is None else data

    def _config(self) -> dict[str, Any]:
        return {"data": dict(self._data), **self._base_config()}

    def with_read_only(self, read_only: bool = True) -> MemoryStore:
        """Return a view of the same dict with the given read-only flag."""
        return MemoryStore(self._data, read_only=read_only, concurrency=self.concurrency, retry=self.retry)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryStore:
        """Open an empty MemoryStore (``memory://`` carries no location)."""
        return cls(**options)

    def __repr__(self) -> str:
        return f"MemoryStore(<{len(self._data)} keys at {id(self._data):#x}>)"

    async def _get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def read_sync(self, key: str, buffer: bytearray | memoryview | None = None) -> bytes | None:
        """The stored value itself (no copy); ``buffer`` is not needed."""
        validate_key(key)
        return self._data.get(key)

    async def _set(self, key: str, value: bytes) -> None:
        self._data[key] = value

    async def _delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def _exists(self, key: str) -> bool:
        return key in self._data

    async def _list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for key in list(self._data):
            if key.startswith(prefix):
                yield key

    async def _list_prefix_sizes(self, prefix: str) -> AsyncIterator[tuple[str, int]]:
        for key, value in list(self._data.items()):
            if key.startswith(prefix):
                yield key, len(value)

    # A dict lookup needs no concurrency: one "batch" call per get_many keeps the
    # per-chunk overhead at a dict lookup.
    batch_size = 1 << 30

    async def _get_batch(self, keys: list[str]) -> dict[str, bytes]:
        data = self._data
        return {k: data[k] for k in keys if k in data}

    async def _get_ranges_batch(self, requests: list[RangeRequest]) -> dict[RangeRequest, bytes]:
        data = self._data
        return {(k, r): read_range(data[k], r) for k, r in requests if k in data}

    async def _set_batch(self, items: dict[str, bytes]) -> None:
        self._data.update(items)

    async def _delete_batch(self, keys: list[str]) -> None:
        for k in keys:
            self._data.pop(k, None)

    # --- compare-and-swap: nothing runs between the compare and the write (one loop step)

    async def _get_versioned(self, key: str) -> Versioned:
        value = self._data.get(key)
        return Versioned(value, value)

    async def _set_if(self, key: str, value: bytes | None, expected: Version) -> bool:
        current = self._data.get(key)
        if not (current is expected or current == expected):
            return False
        if value is None:
            self._data.pop(key, None)
        else:
            self._data[key] = value
        return True

    async def _get_versioned_batch(self, keys: list[str]) -> dict[str, Versioned]:
        data = self._data
        return {k: Versioned(data.get(k), data.get(k)) for k in keys}

    async def _set_if_batch(self, items: dict[str, tuple[bytes | None, Version]]) -> set[str]:
        conflicts = set()
        for key, (value, expected) in items.items():
            if not await self._set_if(key, value, expected):
                conflicts.add(key)
        return conflicts
