"""MemoryStore passes the shared conformance suite."""

from __future__ import annotations

import pytest

from azarr.stores import MemoryStore, Store
from tests.stores.conformance import Factory, StoreTests


class TestMemoryStore(StoreTests):
    shared_across_processes = False  # a pickled MemoryStore is a snapshot
    @pytest.fixture
    def store_factory(self) -> Factory:
        data: dict[str, bytes] = {}
        return lambda **options: MemoryStore(data, **options)

    async def raw_set(self, store: Store, key: str, value: bytes) -> None:
        store._data[key] = value  # type: ignore[attr-defined]

    async def raw_get(self, store: Store, key: str) -> bytes | None:
        return store._data.get(key)  # type: ignore[attr-defined]

    async def raw_delete(self, store: Store, key: str) -> None:
        store._data.pop(key, None)  # type: ignore[attr-defined]
