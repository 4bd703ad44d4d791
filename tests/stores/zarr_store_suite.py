"""zarr-python's own store test suite (``zarr.testing.store.StoreTests``) for azarr's adapter.

A backend's class in ``test_zarr_adapter_stores.py`` subclasses :class:`AdapterStoreTests` and
provides ``store_kwargs`` (keywords of :class:`~azarr.stores.zarr_adapter.ZarrStoreAdapter`
pointing at a fresh, empty location of a real server) and the raw hooks ``raw_set`` /
``raw_get`` that talk to the backend without the store under test.

:class:`ReadOnlyAdapterStoreTests` is for a backend that can never write (HTTP): zarr-python's
write, delete and listing tests are replaced by tests that the store refuses them the way
zarr-python's own stores refuse what they cannot do (``ValueError`` with zarr-python's
read-only message, ``NotImplementedError`` for listing); nothing is skipped.
"""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator
from typing import Any

import pytest
from zarr.abc.store import SuffixByteRequest
from zarr.core.buffer import Buffer, cpu, default_buffer_prototype
from zarr.core.sync import _collect_aiterator, sync
from zarr.testing.store import StoreTests

from azarr.errors import AzarrError, ReadOnlyError
from azarr.stores.zarr_adapter import (
    READ_ONLY_MESSAGE,
    UnsupportedOperationError,
    ZarrReadOnlyError,
    ZarrStoreAdapter,
)


class AdapterStoreTests(StoreTests[ZarrStoreAdapter, cpu.Buffer]):
    """zarr-python's StoreTests over one azarr backend, through the adapter."""

    store_cls = ZarrStoreAdapter
    buffer_cls = cpu.Buffer
    #: the class name of the azarr store the adapter wraps
    backend: str = ""

    # --- hooks a backend provides ---------------------------------------------------------

    def raw_set(self, key: str, value: bytes) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def raw_get(self, key: str) -> bytes | None:  # pragma: no cover - overridden
        raise NotImplementedError

    # --- zarr-python's hooks, on the raw ones ----------------------------------------------

    async def set(self, store: ZarrStoreAdapter, key: str, value: Buffer) -> None:
        self.raw_set(key, value.to_bytes())

    async def get(self, store: ZarrStoreAdapter, key: str) -> Buffer:
        data = self.raw_get(key)
        assert data is not None, f"{key!r} was not written to the backend"
        return self.buffer_cls.from_bytes(data)

    @pytest.fixture
    async def store(self, open_kwargs: dict[str, Any]) -> AsyncIterator[ZarrStoreAdapter]:
        store = await self.store_cls.open(**open_kwargs)
        yield store
        await store.store.close()

    @pytest.fixture
    async def store_not_open(self, store_kwargs: dict[str, Any]) -> AsyncIterator[ZarrStoreAdapter]:
        store = self.store_cls(**store_kwargs)
        yield store
        await store.store.close()

    # --- zarr-python's abstract tests ---------------------------------------------------------

    def test_store_repr(self, store: ZarrStoreAdapter) -> None:
        assert repr(store).startswith(f"ZarrStoreAdapter({self.backend}(")
        assert str(store) == store.store.name

    def test_store_supports_writes(self, store: ZarrStoreAdapter) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: ZarrStoreAdapter) -> None:
        assert store.supports_listing

    # --- the adapter's own additions -----------------------------------------------------------

    def test_wraps_the_backend(self, store: ZarrStoreAdapter) -> None:
        assert type(store.store).__name__ == self.backend

    async def test_bytes_written_by_zarr_are_the_backends(self, store: ZarrStoreAdapter) -> None:
        await store.set("a/zarr.json", self.buffer_cls.from_bytes(b'{"x": 1}'))
        assert self.raw_get("a/zarr.json") == b'{"x": 1}'
        assert await store.store.get("a/zarr.json") == b'{"x": 1}'  # the same key on azarr's side

    async def test_missing_key_and_ranges_of_it_are_none(self, store: ZarrStoreAdapter) -> None:
        proto = default_buffer_prototype()
        assert await store.get("nope", proto) is None
        assert await store.get("nope", proto, SuffixByteRequest(2)) is None
        assert await store.get_partial_values(proto, [("nope", None), ("nope", SuffixByteRequest(1))]) == [None, None]


class ReadOnlyAdapterStoreTests(AdapterStoreTests):
    """For a backend that cannot write or list (HTTP): refusals are asserted, never skipped."""

    def refuses_write(self) -> Any:
        return pytest.raises(ZarrReadOnlyError, match=READ_ONLY_MESSAGE)

    def refuses_listing(self) -> Any:
        return pytest.raises(UnsupportedOperationError, match="cannot list keys")

    def test_store_supports_writes(self, store: ZarrStoreAdapter) -> None:
        assert not store.supports_writes and not store.supports_deletes

    def test_store_supports_listing(self, store: ZarrStoreAdapter) -> None:
        assert not store.supports_listing

    def test_store_read_only(self, store: ZarrStoreAdapter) -> None:
        assert store.read_only
        with pytest.raises(AttributeError):
            store.read_only = False  # type: ignore[misc]

    @pytest.mark.parametrize("read_only", [True, False])
    async def test_store_open_read_only(self, open_kwargs: dict[str, Any], read_only: bool) -> None:
        store = await self.store_cls.open(**{**open_kwargs, "read_only": read_only})
        assert store._is_open
        assert store.read_only  # whatever was asked: the backend cannot write

    async def test_serializable_store(self, store: ZarrStoreAdapter) -> None:
        clone = pickle.loads(pickle.dumps(store))
        assert clone == store and clone.read_only
        self.raw_set("foo", b"\x01\x02\x03\x04")
        got = await clone.get("foo", prototype=default_buffer_prototype())
        assert got is not None and got.to_bytes() == b"\x01\x02\x03\x04"
        await clone.store.close()

    async def test_with_read_only_store(self, open_kwargs: dict[str, Any]) -> None:
        store = await self.store_cls.open(**{**open_kwargs, "read_only": True})
        with pytest.raises(ReadOnlyError, match="cannot write"):
            store.with_read_only(read_only=False)
        reader = store.with_read_only(read_only=True)
        assert reader.read_only and reader == store and not reader._is_open
        with self.refuses_write():
            await reader.set("foo", self.buffer_cls.from_bytes(b"bar"))
        with self.refuses_write():
            await reader.delete("foo")

    async def test_getsize_prefix(self, store: ZarrStoreAdapter) -> None:
        with self.refuses_write():
            await store._set_many([("c/0/0", self.buffer_cls.from_bytes(b"1234"))])
        with self.refuses_listing():
            await store.getsize_prefix("c")

    @pytest.mark.parametrize("key", ["zarr.json", "c/0", "foo/c/0.0", "foo/0/0"])
    @pytest.mark.parametrize("data", [b"\x01\x02\x03\x04", b""])
    async def test_set(self, store: ZarrStoreAdapter, key: str, data: bytes) -> None:
        with self.refuses_write():
            await store.set(key, self.buffer_cls.from_bytes(data))
        assert self.raw_get(key) is None

    async def test_set_not_open(self, store_not_open: ZarrStoreAdapter) -> None:
        assert not store_not_open._is_open
        with self.refuses_write():
            await store_not_open.set("c/0", self.buffer_cls.from_bytes(b"\x01\x02\x03\x04"))
        assert self.raw_get("c/0") is None

    async def test_set_many(self, store: ZarrStoreAdapter) -> None:
        with self.refuses_write():
            await store._set_many([("zarr.json", self.buffer_cls.from_bytes(b"x")), ("c/0", self.buffer_cls.from_bytes(b"y"))])
        assert self.raw_get("zarr.json") is None and self.raw_get("c/0") is None

    async def test_exists(self, store: ZarrStoreAdapter) -> None:
        assert not await store.exists("foo/zarr.json")
        self.raw_set("foo/zarr.json", b"bar")
        assert await store.exists("foo/zarr.json")

    async def test_delete(self, store: ZarrStoreAdapter) -> None:
        self.raw_set("foo/zarr.json", b"bar")
        with self.refuses_write():
            await store.delete("foo/zarr.json")
        assert await store.exists("foo/zarr.json")

    async def test_delete_dir(self, store: ZarrStoreAdapter) -> None:
        self.raw_set("foo/zarr.json", b"bar")
        with self.refuses_write():
            await store.delete_dir("foo")
        assert await store.exists("foo/zarr.json")

    async def test_delete_nonexistent_key_does_not_raise(self, store: ZarrStoreAdapter) -> None:
        # read-only comes first: a refused delete says so even when there is nothing to delete
        with self.refuses_write():
            await store.delete("nonexistent_key")

    async def test_is_empty(self, store: ZarrStoreAdapter) -> None:
        self.raw_set("foo/bar", b"something")
        for prefix in ("", "foo", "spam/"):
            with self.refuses_listing():
                await store.is_empty(prefix)

    async def test_clear(self, store: ZarrStoreAdapter) -> None:
        self.raw_set("key", b"something")
        with self.refuses_write():
            await store.clear()
        assert self.raw_get("key") == b"something"

    async def test_list(self, store: ZarrStoreAdapter) -> None:
        with self.refuses_listing():
            await _collect_aiterator(store.list())

    async def test_list_prefix(self, store: ZarrStoreAdapter) -> None:
        for prefix in ("", "a/", "a/b/"):
            with self.refuses_listing():
                await _collect_aiterator(store.list_prefix(prefix))

    async def test_list_empty_path(self, store: ZarrStoreAdapter) -> None:
        self.raw_set("foo/bar/zarr.json", b"")
        with self.refuses_listing():
            await _collect_aiterator(store.list_prefix(""))

    async def test_list_dir(self, store: ZarrStoreAdapter) -> None:
        self.raw_set("foo/zarr.json", b"bar")
        for prefix in ("", "foo", "foo/"):
            with self.refuses_listing():
                await _collect_aiterator(store.list_dir(prefix))

    async def test_set_if_not_exists(self, store: ZarrStoreAdapter) -> None:
        self.raw_set("k", b"0000")
        with self.refuses_write():
            await store.set_if_not_exists("k2", self.buffer_cls.from_bytes(b"1111"))
        assert self.raw_get("k2") is None
        assert (await store.get("k", default_buffer_prototype())).to_bytes() == b"0000"  # type: ignore[union-attr]

    def test_set_sync(self, store: ZarrStoreAdapter) -> None:
        with self.refuses_write():
            store.set_sync("sync_set", self.buffer_cls.from_bytes(b"\x01"))
        assert self.raw_get("sync_set") is None

    def test_delete_sync(self, store: ZarrStoreAdapter) -> None:
        self.raw_set("sync_delete", b"\x01")
        with self.refuses_write():
            store.delete_sync("sync_delete")
        assert store.get_sync("sync_delete").to_bytes() == b"\x01"  # type: ignore[union-attr]

    def test_delete_sync_missing(self, store: ZarrStoreAdapter) -> None:
        with self.refuses_write():
            store.delete_sync("nonexistent_sync")

    async def test_bytes_written_by_zarr_are_the_backends(self, store: ZarrStoreAdapter) -> None:
        with self.refuses_write():
            await store.set("a/zarr.json", self.buffer_cls.from_bytes(b'{"x": 1}'))
        self.raw_set("a/zarr.json", b'{"x": 1}')
        got = await store.get("a/zarr.json", default_buffer_prototype())
        assert got is not None and got.to_bytes() == b'{"x": 1}'
        assert await store.store.get("a/zarr.json") == b'{"x": 1}'

    def test_refusals_are_azarr_errors(self, store: ZarrStoreAdapter) -> None:
        with pytest.raises(AzarrError):
            sync(store.set("x", self.buffer_cls.from_bytes(b"1")))
        with pytest.raises(AzarrError):
            sync(_collect_aiterator(store.list()))
