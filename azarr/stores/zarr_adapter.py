"""azarr's stores as zarr-python 3 stores: :class:`ZarrStoreAdapter` and :func:`as_zarr_store`.

zarr-python 3 dropped the stores of zarr-python 2 for Redis, MongoDB, SQLite, Azure (``ABSStore``)
and N5; azarr keeps all of them, async and batched, in zarr-python 2's layouts. This module
wraps any azarr :class:`~azarr.stores.base.Store` in zarr-python's ``zarr.abc.store.Store``
so ``zarr.open_group``, ``zarr.create_array``, ``xr.open_zarr`` and ``Dataset.to_zarr`` work
on them, in Zarr v2 and v3 alike.

How zarr-python's calls map onto azarr's:

* ``get`` with a byte range is one ranged read; ``get_partial_values`` and ``_get_many`` are
  ONE :meth:`~azarr.stores.base.Store.get_ranges` call (Redis MULTI/EXEC, one SQLite
  statement, one MongoDB ``$in`` find, or ranged GETs under the store's one budget);
* ``_set_many`` is one ``set_many``; ``delete_dir`` and ``clear`` are one ``delete_prefix``
  (listing, then batched deletes: S3 DeleteObjects, Redis DEL, ...);
* ``getsize_prefix`` lists once and reads the values in ``get_many`` batches.

Loops: the adapter awaits the azarr store on whatever loop calls it (zarr-python's I/O thread,
azarr's own loop, a user's loop); azarr stores keep one client per loop, so nothing is shared
across loops and nothing here ever blocks on azarr's sync shim. The blocking ``get_sync`` /
``set_sync`` / ``delete_sync`` run on zarr-python's I/O loop and refuse to run on it (that would
deadlock). Pickling carries the azarr store's configuration, which reconnects lazily (dask).

zarr-python is imported here, at import time: reach this module through
:func:`azarr.stores.as_zarr_store`, which reports a missing zarr-python 3 as
:class:`~azarr.errors.MissingDependencyError` naming the ``azarr[zarr]`` extra.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
from collections.abc import AsyncGenerator, Coroutine, Iterable
from typing import Any, TypeVar

from azarr.errors import MissingDependencyError, ReadOnlyError, StoreConfigError, StoreError, SyncShimError
from azarr.stores.base import ABSENT, Store
from azarr.stores.ranges import ByteRange, InvalidRangeError, Range, RangeRequest, SuffixRange
from azarr.stores.registry import as_store

try:
    from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
    from zarr.abc.store import Store as ZarrStore
    from zarr.core.buffer import Buffer, BufferPrototype, default_buffer_prototype
except ImportError as exc:  # zarr-python missing, or zarr-python 2 (no zarr.abc)
    raise MissingDependencyError(
        f"azarr's zarr-python adapter needs zarr-python >= 3 ({exc}); install it with pip install 'azarr[zarr]'"
    ) from exc

__all__ = [
    "MissingKeyError",
    "UnsupportedOperationError",
    "ValueTypeError",
    "ZarrReadOnlyError",
    "ZarrStoreAdapter",
    "as_zarr_store",
]

T = TypeVar("T")

#: zarr-python's own wording for a write to a read-only store; its code and tests match on it
READ_ONLY_MESSAGE = "store was opened in read-only mode and does not support writing"

#: keys per get_many call when summing sizes: bounds the values held in memory at once
SIZE_BATCH = 1024


class ZarrReadOnlyError(ReadOnlyError, ValueError):
    """A write through a read-only adapter.

    A ``ValueError`` carrying zarr-python's message, as zarr-python's own stores raise, so code
    written for them keeps working; also an azarr :class:`~azarr.errors.ReadOnlyError`.
    """


class UnsupportedOperationError(StoreError, NotImplementedError):
    """The wrapped store cannot do this at all (listing or deleting over HTTP).

    A ``NotImplementedError``, as zarr-python's stores raise for what they do not support.
    """


class MissingKeyError(StoreError, FileNotFoundError):
    """``getsize`` of a key that does not exist (zarr-python expects ``FileNotFoundError``)."""


class ValueTypeError(StoreError, TypeError):
    """A value to store is neither a zarr-python ``Buffer`` nor bytes-like."""


def _to_range(byte_range: object, store: object, key: str) -> Range:
    """azarr's range for one of zarr-python's byte requests (``None``: the whole value)."""
    try:
        if byte_range is None:
            return None
        if isinstance(byte_range, RangeByteRequest):
            return ByteRange(byte_range.start, byte_range.end)
        if isinstance(byte_range, OffsetByteRequest):
            return ByteRange(byte_range.offset, None)
        if isinstance(byte_range, SuffixByteRequest):
            return SuffixRange(byte_range.suffix)
    except InvalidRangeError as exc:
        name = str(store)
        raise InvalidRangeError(f"{name}: invalid byte range for key {key!r}: {exc}", store=name, key=key) from None
    name = str(store)
    raise InvalidRangeError(
        f"{name}: Unexpected byte_range, got {byte_range!r} for key {key!r} "
        "(expected a RangeByteRequest, OffsetByteRequest, SuffixByteRequest or None)",
        store=name,
        key=key,
    )


def _dir_prefix(prefix: str) -> str:
    """zarr-python's prefixes name directories: ``"c"`` means ``"c/..."``, never ``"cc/0"``."""
    return prefix if prefix == "" or prefix.endswith("/") else prefix + "/"


class ZarrStoreAdapter(ZarrStore):
    """A zarr-python 3 store (``zarr.abc.store.Store``) over an azarr store.

    ``store`` is an azarr :class:`~azarr.stores.base.Store` or anything
    :func:`azarr.stores.from_url` opens (``redis://``, ``mongodb://``, ``sqlite:///``, ``s3://``,
    ``gs://``, ``az://``, ``http(s)://``, a path, ...) with ``storage_options`` for its
    constructor. The adapter is read-only if ``read_only`` is set or the azarr store is
    read-only (``HTTPStore`` always is). The azarr store is :attr:`store`; keys are the same
    on both sides, so what zarr-python writes through the adapter azarr reads directly, and
    the other way round.
    """

    # zarr-python >= 3.4 sends every chunk through get_sync/set_sync (one blocking call per
    # chunk, from a thread pool) when a store offers them; azarr's batched async path is
    # faster for network stores, so the adapter opts out of that path (the methods remain).
    _supports_sync_io = False

    def __init__(
        self,
        store: Store | str | os.PathLike[str] | None,
        *,
        read_only: bool = False,
        **storage_options: Any,
    ) -> None:
        owns = not isinstance(store, Store)
        if owns and read_only:
            storage_options = {**storage_options, "read_only": True}
        inner = as_store(store, **storage_options)
        super().__init__(read_only=bool(read_only) or inner.read_only)
        self._store = inner
        # a store built here from a URL is closed with the adapter; one passed in belongs to the caller
        self._owns = owns
        self._closing: set[asyncio.Task[None]] = set()

    @classmethod
    def _around(cls, store: Store, read_only: bool) -> ZarrStoreAdapter:
        """An adapter sharing ``store`` (and its connections) that does not own it."""
        return cls(store, read_only=read_only)

    @property
    def store(self) -> Store:
        """The wrapped azarr store (``await adapter.store.close()`` releases its connections)."""
        return self._store

    # --- identity ---------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        """Equal when both are read-only or both writable and wrap the same location.

        Two azarr stores are the same location when they are one object or of one class
        with equal configuration (what unpickling recreates).
        """
        if not isinstance(other, ZarrStoreAdapter) or self.read_only != other.read_only:
            return False
        mine, theirs = self._store, other._store
        if mine is theirs:
            return True
        if type(mine) is not type(theirs):
            return False
        try:
            a, b = mine._config(), theirs._config()
        except StoreConfigError:  # a store with no configuration (in-memory SQLite) is only itself
            return False
        a.pop("read_only", None)
        b.pop("read_only", None)
        return bool(a == b)

    __hash__ = None  # type: ignore[assignment]  # mutable configuration, as zarr-python's stores

    def __repr__(self) -> str:
        flag = ", read_only=True" if self.read_only else ""
        return f"ZarrStoreAdapter({self._store.name}{flag})"  # name: the repr with any secret redacted

    def __str__(self) -> str:
        return self._store.name

    def __reduce__(self) -> tuple[Any, ...]:
        # the azarr store pickles as its configuration and reconnects lazily where unpickled
        return (ZarrStoreAdapter._around, (self._store, self.read_only))

    def with_read_only(self, read_only: bool = False) -> ZarrStoreAdapter:
        """A new adapter on the same location with the given read-only flag (not yet open).

        It shares the azarr store, and so its connections. A writable copy of a store that
        cannot write (``HTTPStore``) raises :class:`~azarr.errors.ReadOnlyError`.
        """
        inner = self._store
        if not read_only and inner.read_only:
            inner = inner.with_read_only(False)
            if inner.read_only:
                raise ReadOnlyError(
                    f"{inner.name} cannot write, so no writable zarr-python store can be made of it",
                    store=inner.name,
                )
        return ZarrStoreAdapter._around(inner, read_only)

    # --- capabilities -----------------------------------------------------------------------

    @property
    def supports_writes(self) -> bool:
        """Whether the wrapped store can write at all (``read_only`` aside)."""
        return self._store.supports_writes

    @property
    def supports_deletes(self) -> bool:
        """Whether the wrapped store can delete keys."""
        return self._store.supports_deletes

    @property
    def supports_listing(self) -> bool:
        """Whether the wrapped store can list keys (HTTP cannot)."""
        return self._store.supports_listing

    def _check_writable(self, op: str = "write", key: str | None = None) -> None:
        if self.read_only:
            what = f"{op} {key!r}" if key else op
            raise ZarrReadOnlyError(f"{self}: {READ_ONLY_MESSAGE} ({what})", store=str(self), key=key)

    def _unsupported(self, what: str, key: str | None = None) -> UnsupportedOperationError:
        return UnsupportedOperationError(f"{self} cannot {what}", store=str(self), key=key)

    def _opened(self) -> None:
        # azarr stores connect lazily: "opening" is only zarr-python's bookkeeping
        self._is_open = True

    # --- reads ------------------------------------------------------------------------------

    async def get(
        self,
        key: str,
        prototype: BufferPrototype | None = None,
        byte_range: Any = None,
    ) -> Buffer | None:
        """The value of ``key`` (or the bytes ``byte_range`` selects), ``None`` if missing.

        A range past the end is truncated (``b""`` when it starts at or after the end). A
        transport failure raises :class:`~azarr.errors.StoreError`; it is never ``None``.
        """
        self._opened()
        rng = _to_range(byte_range, self, key)
        if rng is None:
            data = await self._store.get(key)
        else:
            data = (await self._store.get_ranges([(key, rng)])).get((key, rng))
        if data is None:
            return None
        return (prototype or default_buffer_prototype()).buffer.from_bytes(data)

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, Any]],
    ) -> builtins.list[Buffer | None]:
        """Many (possibly partial) values, in order, ``None`` for missing keys: ONE
        :meth:`~azarr.stores.base.Store.get_ranges` call (duplicates are read once)."""
        self._opened()
        requests: builtins.list[RangeRequest] = [(key, _to_range(br, self, key)) for key, br in key_ranges]
        found = await self._store.get_ranges(requests)
        make = (prototype or default_buffer_prototype()).buffer.from_bytes
        return [None if (data := found.get(request)) is None else make(data) for request in requests]

    async def _get_many(
        self, requests: Iterable[tuple[str, BufferPrototype, Any]]
    ) -> AsyncGenerator[tuple[str, Buffer | None], None]:
        """Yield ``(key, buffer or None)`` for every request as its value arrives, from ONE
        :meth:`~azarr.stores.base.Store.get_ranges` call; missing keys come last."""
        self._opened()
        wanted = [(key, prototype, _to_range(br, self, key)) for key, prototype, br in requests]
        if not wanted:
            return
        waiting: dict[RangeRequest, builtins.list[int]] = {}
        for i, (key, _, rng) in enumerate(wanted):
            waiting.setdefault((key, rng), []).append(i)
        arrived: asyncio.Queue[tuple[RangeRequest, bytes] | None] = asyncio.Queue()
        task = asyncio.ensure_future(
            self._store.get_ranges(list(waiting), on_value=lambda req, data: arrived.put_nowait((req, data)))
        )
        task.add_done_callback(lambda _: arrived.put_nowait(None))
        try:
            while (item := await arrived.get()) is not None:
                request, data = item
                for i in waiting.pop(request, ()):
                    key, prototype, _ = wanted[i]
                    yield key, (prototype or default_buffer_prototype()).buffer.from_bytes(data)
            task.result()  # a failed read raises here, after what did arrive
            for indices in waiting.values():
                for i in indices:
                    yield wanted[i][0], None
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        self._opened()
        return await self._store.exists(key)

    async def getsize(self, key: str) -> int:
        """The size of ``key``'s value in bytes; a missing key raises :class:`MissingKeyError`.

        The Store contract has no size primitive, so this reads the value.
        """
        self._opened()
        data = await self._store.get(key)
        if data is None:
            raise MissingKeyError(f"{self}: no value for key {key!r}", store=str(self), key=key)
        return len(data)

    async def getsize_prefix(self, prefix: str) -> int:
        """The total size of the values under the directory ``prefix``: one listing, then
        the values in ``get_many`` batches of :data:`SIZE_BATCH` keys."""
        self._opened()
        keys = [key async for key in self.list_prefix(_dir_prefix(prefix))]
        total = 0
        for start in range(0, len(keys), SIZE_BATCH):
            found = await self._store.get_many(keys[start : start + SIZE_BATCH])
            total += sum(len(value) for value in found.values())
        return total

    # --- writes -----------------------------------------------------------------------------

    def _bytes(self, key: str, value: object) -> bytes:
        if isinstance(value, Buffer):
            return value.to_bytes()
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise ValueTypeError(
            f"{self}: the value for key {key!r} must be a zarr Buffer or bytes-like, got {type(value).__name__}",
            store=str(self),
            key=key,
        )

    async def set(self, key: str, value: Buffer) -> None:
        """Store ``value`` under ``key``."""
        self._check_writable("set", key)
        self._opened()
        await self._store.set(key, self._bytes(key, value))

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        """Store ``value`` under ``key`` unless the key exists.

        Atomic on a store with compare-and-swap (``set_if(key, value, ABSENT)``: every
        backend but HTTP, which cannot write): of two concurrent writers exactly one writes.
        """
        self._check_writable("set_if_not_exists", key)
        self._opened()
        data = self._bytes(key, value)
        if self._store.supports_conditional_writes:
            await self._store.set_if(key, data, ABSENT)  # False: the key exists, nothing written
        elif not await self._store.exists(key):  # zarr-python's own default (not atomic)
            await self._store.set(key, data)

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        """Store every ``(key, value)`` pair with ONE ``set_many`` call."""
        items = {key: self._bytes(key, value) for key, value in values}
        if not items:
            return
        self._check_writable("set", next(iter(items)))
        self._opened()
        await self._store.set_many(items)

    async def delete(self, key: str) -> None:
        """Delete ``key`` (a missing key is not an error)."""
        self._check_writable("delete", key)
        if not self.supports_deletes:
            raise self._unsupported(f"delete key {key!r}", key)
        self._opened()
        await self._store.delete(key)

    async def delete_dir(self, prefix: str) -> None:
        """Delete every key under the directory ``prefix`` with ONE ``delete_prefix`` call
        (a listing, then batched deletes)."""
        self._check_writable("delete_dir", prefix or None)
        if not (self.supports_deletes and self.supports_listing):
            raise self._unsupported(f"delete the directory {prefix!r} (it can neither list nor delete)")
        self._opened()
        await self._store.delete_prefix(_dir_prefix(prefix))

    async def clear(self) -> None:
        """Delete every key of the store (below its prefix, for prefixed stores)."""
        await self.delete_dir("")

    # --- listing ----------------------------------------------------------------------------

    def _check_listing(self, prefix: str) -> None:
        if not self.supports_listing:
            raise self._unsupported(
                f"list keys (prefix {prefix!r}); open hierarchies on it with consolidated metadata"
            )

    async def list(self) -> AsyncGenerator[str, None]:
        """Every key of the store, sorted."""
        async for key in self.list_prefix(""):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncGenerator[str, None]:
        """Every key that starts with ``prefix`` (full keys, sorted)."""
        self._check_listing(prefix)
        self._opened()
        async for key in self._store.list_prefix(prefix):
            yield key

    async def list_dir(self, prefix: str) -> AsyncGenerator[str, None]:
        """The names directly below the directory ``prefix``: keys and sub-directories."""
        self._check_listing(prefix)
        self._opened()
        keys, dirs = await self._store.list_dir(prefix)
        for name in sorted(set(keys).union(dirs)):
            yield name

    async def is_empty(self, prefix: str) -> bool:
        """Whether no key lies under the directory ``prefix``."""
        async for _ in self.list_prefix(_dir_prefix(prefix)):
            return False
        return True

    # --- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the adapter; the connections of a store it opened from a URL are released.

        Never blocks a running loop: on one, the store is closed by a task on it; otherwise
        on zarr-python's I/O loop (where its blocking API made the connections). The azarr
        store reconnects lazily if the adapter is used again.
        """
        super().close()
        if not self._owns:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            task = loop.create_task(self._store.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            return
        from zarr.core import sync as zarr_sync

        zarr_loop = getattr(zarr_sync, "loop", [None])[0]  # zarr-python's I/O loop, if it started one
        if zarr_loop is not None and zarr_loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._store.close(), zarr_loop)
            with contextlib.suppress(Exception):  # a failed close must not mask the caller's work
                future.result(timeout=30)

    # --- blocking twins (zarr-python's SupportsSyncStore) ---------------------------------------

    def _blocking(self, coro: Coroutine[Any, Any, T], op: str, key: str) -> T:
        """Run ``coro`` on zarr-python's I/O loop and wait; refused on that loop itself."""
        from zarr.core.sync import SyncError, sync

        try:
            return sync(coro)
        except SyncError:
            coro.close()
            raise SyncShimError(
                f"{self}: {op}({key!r}) blocks, and was called on zarr-python's own event loop, "
                f"which would deadlock; await the async method instead"
            ) from None

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: Any = None,
    ) -> Buffer | None:
        """Blocking :meth:`get` (on zarr-python's I/O loop)."""
        return self._blocking(self.get(key, prototype, byte_range), "get_sync", key)

    def set_sync(self, key: str, value: Buffer) -> None:
        """Blocking :meth:`set` (on zarr-python's I/O loop)."""
        self._check_writable("set", key)
        self._blocking(self.set(key, value), "set_sync", key)

    def delete_sync(self, key: str) -> None:
        """Blocking :meth:`delete` (on zarr-python's I/O loop)."""
        self._check_writable("delete", key)
        self._blocking(self.delete(key), "delete_sync", key)


def as_zarr_store(
    store_or_url: Store | ZarrStoreAdapter | str | os.PathLike[str] | None,
    read_only: bool = False,
    **storage_options: Any,
) -> ZarrStoreAdapter:
    """A zarr-python 3 store over an azarr store or a store URL.

    ``zarr.open_group(as_zarr_store("redis://host:6379/0?prefix=x"), mode="w")``; see
    :class:`ZarrStoreAdapter`. An adapter is returned as is (as a read-only copy if
    ``read_only`` is set and it is writable).
    """
    if isinstance(store_or_url, ZarrStoreAdapter):
        if storage_options:
            raise StoreConfigError(
                f"storage options {sorted(storage_options)} cannot be applied to an existing store {store_or_url}"
            )
        return store_or_url.with_read_only(True) if read_only and not store_or_url.read_only else store_or_url
    return ZarrStoreAdapter(store_or_url, read_only=read_only, **storage_options)
