"""The blocking API: ``Array`` / ``Group`` and ``open_*`` twins of the async core.

One daemon thread per process runs azarr's event loop; a blocking call submits its
coroutine there and waits. That works from plain scripts and from threads that already
run a loop (Jupyter), never nests loops, and after ``fork`` the child lazily starts a
fresh thread and loop. Calling the blocking API from azarr's own loop (e.g. from a
callback running on it) raises :class:`~azarr.errors.SyncShimError` instead of
deadlocking.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping, MutableMapping
from typing import Any, TypeVar

import numpy as np

from azarr import aio
from azarr.core.array import AsyncArray
from azarr.core.group import AsyncGroup
from azarr.core.hierarchy import NodeContext
from azarr.errors import ArgumentError, SyncShimError
from azarr.meta.formats import detect

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _after_fork_in_child() -> None:
    # The parent's I/O thread does not exist in the child; start afresh on first use.
    global _loop, _thread, _lock
    _loop = None
    _thread = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


#: ``AZARR_EVENT_LOOP=asyncio`` keeps azarr's own loop on asyncio's even when uvloop is installed
LOOP_ENV = "AZARR_EVENT_LOOP"


def new_loop() -> asyncio.AbstractEventLoop:
    """A new event loop of the kind azarr's I/O thread runs: uvloop's when it is installed
    (``pip install 'azarr[fast]'``) and not turned off by ``AZARR_EVENT_LOOP=asyncio``,
    otherwise asyncio's. Only azarr's own loop is chosen here: coroutines of :mod:`azarr.aio`
    run on whatever loop the caller owns."""
    if os.environ.get(LOOP_ENV, "").strip().lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def get_loop() -> asyncio.AbstractEventLoop:
    """Return azarr's I/O event loop, starting its daemon thread on first use."""
    global _loop, _thread
    loop = _loop
    if loop is not None and _thread is not None and _thread.is_alive():
        return loop
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            fresh = new_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(fresh)
                ready.set()
                fresh.run_forever()

            thread = threading.Thread(target=run, name="azarr-io", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = fresh, thread
        return _loop


@atexit.register
def _close_connections_at_exit() -> None:
    # Stores opened through the blocking API hold sessions on the I/O loop; closing them
    # here (with a deadline) avoids "Unclosed client session" noise at interpreter exit.
    loop, thread = _loop, _thread
    if loop is None or thread is None or not thread.is_alive() or loop.is_closed():
        return
    from azarr.stores.base import LIVE_STORES

    async def close_all() -> None:
        await asyncio.gather(*(store.close() for store in list(LIVE_STORES)), return_exceptions=True)

    try:
        asyncio.run_coroutine_threadsafe(close_all(), loop).result(timeout=5)
    except Exception:  # best effort: the process is exiting anyway
        pass


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on azarr's I/O loop and return its result (blocking)."""
    loop = get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise SyncShimError(
            "the blocking azarr API was called from azarr's own event loop, which would deadlock; "
            "use the async API (azarr.aio / AsyncArray) from coroutines"
        )
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise


# --- attributes ----------------------------------------------------------------------------


class Attributes(MutableMapping[str, Any]):
    """Dict-like view of a node's attributes; assignments are written to the store."""

    def __init__(self, node: AsyncArray | AsyncGroup) -> None:
        self._node = node

    def __getitem__(self, key: str) -> Any:
        return self._node._attrs[key]

    def __setitem__(self, key: str, value: Any) -> None:
        run(self._node.update_attributes({key: value}))

    def __delitem__(self, key: str) -> None:
        run(self._node.delete_attribute(key))

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._node._attrs))

    def __len__(self) -> int:
        return len(self._node._attrs)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Merge keys into the attributes with a single write."""
        run(self._node.update_attributes(dict(*args, **kwargs)))

    def put(self, attrs: Mapping[str, Any]) -> None:
        """Replace all attributes with ``attrs``."""
        run(self._node.set_attributes(attrs))

    def asdict(self) -> dict[str, Any]:
        """A plain dict copy of the attributes."""
        return dict(self._node._attrs)

    def refresh(self) -> None:
        """Re-read the attributes from the store."""
        if isinstance(self._node, AsyncArray):
            run(self._node.refresh())
        else:
            fresh = run(AsyncGroup.open(self._node.store, self._node.path, context=self._node.context))
            self._node._attrs = fresh._attrs

    def __repr__(self) -> str:
        return repr(self._node._attrs)


class StoredBytes(int):
    """A byte count that is also callable: ``z.nbytes_stored`` (zarr-python 2's property)
    and ``z.nbytes_stored()`` (zarr-python 3's method) both give it."""

    def __call__(self) -> int:
        return int(self)


class Tree(str):
    """A hierarchy's text tree; shown as the tree itself (not a quoted string) in a REPL."""

    def __repr__(self) -> str:
        return str(self)


class Info:
    """A small table describing an array or group (``z.info``)."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items

    def __repr__(self) -> str:
        width = max(len(k) for k, _ in self.items)
        return "\n".join(f"{k:<{width}} : {v}" for k, v in self.items)

    __str__ = __repr__


# --- arrays ------------------------------------------------------------------------------------


def _rebuild_array(store: Any, path: str, docs: dict[str, bytes], read_only: bool, write_empty_chunks: bool) -> Array:
    node = detect(docs, path)
    assert node is not None and node.kind == "array"
    return Array(
        AsyncArray(store, path, node.metadata, node.attributes, read_only=read_only, write_empty_chunks=write_empty_chunks)
    )


class _Indexer:
    def __init__(self, array: Array, kind: str) -> None:
        self._array = array
        self._kind = kind

    def __getitem__(self, selection: Any) -> Any:
        a = self._array._async
        if self._kind == "o":
            return run(a.get_orthogonal_selection(selection))
        if _is_mask(selection, a.ndim):
            return run(a.get_mask_selection(selection))
        return run(a.get_coordinate_selection(selection))

    def __setitem__(self, selection: Any, value: Any) -> None:
        a = self._array._async
        if self._kind == "o":
            run(a.set_orthogonal_selection(selection, value))
        elif _is_mask(selection, a.ndim):
            run(a.set_mask_selection(selection, value))
        else:
            run(a.set_coordinate_selection(selection, value))


class _BlockIndexer:
    """``z.blocks[...]``: read and write whole chunks by grid coordinates."""

    def __init__(self, array: Array) -> None:
        self._array = array

    def __getitem__(self, selection: Any) -> Any:
        return run(self._array._async.get_block_selection(selection))

    def __setitem__(self, selection: Any, value: Any) -> None:
        run(self._array._async.set_block_selection(selection, value))


def _is_mask(selection: Any, ndim: int) -> bool:
    if isinstance(selection, tuple) and len(selection) == 1:
        selection = selection[0]
    return isinstance(selection, np.ndarray) and selection.dtype == bool and selection.ndim == ndim


class Array:
    """A chunked array with numpy-style blocking access (wraps :class:`AsyncArray`).

    ``z[...]``, ``z.oindex[...]``, ``z.vindex[...]`` read and write as in zarr-python.
    Pickles as configuration (store config + metadata), so it can be sent to workers.
    """

    def __init__(self, async_array: AsyncArray) -> None:
        self._async = async_array

    @property
    def async_array(self) -> AsyncArray:
        """The underlying :class:`AsyncArray`."""
        return self._async

    def __reduce__(self) -> tuple[Any, ...]:
        a = self._async
        return (_rebuild_array, (a.store, a.path, a.metadata.to_documents(a._attrs), a.read_only, a.write_empty_chunks))

    # metadata
    shape = property(lambda self: self._async.shape, doc="The array's shape.")
    chunks = property(lambda self: self._async.chunks, doc="The chunk shape (a sharded array's inner chunks).")
    shards = property(lambda self: self._async.shards, doc="The shard shape, or None when not sharded.")
    dtype = property(lambda self: self._async.dtype, doc="The numpy dtype.")
    fill_value = property(lambda self: self._async.fill_value, doc="Value of unwritten elements.")
    order = property(lambda self: self._async.order, doc="Chunk memory layout.")
    ndim = property(lambda self: self._async.ndim, doc="Number of dimensions.")
    size = property(lambda self: self._async.size, doc="Number of elements.")
    nbytes = property(lambda self: self._async.nbytes, doc="Uncompressed size in bytes.")
    nchunks = property(lambda self: self._async.nchunks, doc="Number of chunks in the grid.")
    cdata_shape = property(lambda self: self._async.cdata_shape, doc="Chunks per axis.")
    compressor = property(lambda self: self._async.compressor, doc="The numcodecs compressor or None.")
    compressors = property(lambda self: self._async.compressors, doc="The compressors (zarr-python 3), a tuple.")
    filters = property(lambda self: self._async.filters, doc="The filters (zarr-python 3), a tuple.")
    serializer = property(lambda self: self._async.serializer, doc="The array->bytes codec (v3) or None (v2).")
    itemsize = property(lambda self: self._async.itemsize, doc="Bytes per element.")
    path = property(lambda self: self._async.path, doc="Path in the store.")
    name = property(lambda self: self._async.name, doc="Path with a leading slash.")
    basename = property(lambda self: self._async.basename, doc="Last path component.")
    store = property(lambda self: self._async.store, doc="The Store.")
    read_only = property(lambda self: self._async.read_only, doc="Whether writes are refused.")
    zarr_format = property(lambda self: self._async.zarr_format, doc="2, 3 or 'n5'.")
    metadata = property(lambda self: self._async.metadata, doc="The metadata model.")

    @property
    def attrs(self) -> Attributes:
        """The array's attributes (assignments write through)."""
        return Attributes(self._async)

    @property
    def info(self) -> Info:
        """A table describing the array (no I/O; :meth:`info_complete` adds what is stored)."""
        return Info(self._async.info_items())

    def info_items(self) -> list[tuple[str, str]]:
        """``(label, value)`` rows, stored bytes and initialized chunks included (zarr-python 2)."""
        return run(self._async.info_complete_items())

    def info_complete(self) -> Info:
        """:attr:`info` plus stored bytes, storage ratio and initialized chunks (zarr-python 3)."""
        return Info(self.info_items())

    @property
    def nchunks_initialized(self) -> int:
        """Number of chunks that are stored."""
        return run(self._async.nchunks_initialized())

    initialized = nchunks_initialized

    @property
    def nbytes_stored(self) -> StoredBytes:
        """Bytes stored for the array, metadata included (a property in zarr-python 2, a
        method in 3: both ``z.nbytes_stored`` and ``z.nbytes_stored()`` work)."""
        return StoredBytes(run(self._async.nbytes_stored()))

    def digest(self, hashname: str = "sha1") -> bytes:
        """A checksum of the stored chunks and metadata (zarr-python 2's ``digest``)."""
        return run(self._async.digest(hashname))

    def hexdigest(self, hashname: str = "sha1") -> str:
        """:meth:`digest` as a hex string."""
        return run(self._async.hexdigest(hashname))

    def view(self, **kwargs: Any) -> Array:
        """A read-only view under another ``dtype``/``shape``/``chunks``/``fill_value``/``filters``."""
        return Array(self._async.view(**kwargs))

    def astype(self, dtype: Any) -> Array:
        """A read-only view whose values are converted to ``dtype`` as they are read."""
        return Array(self._async.astype(dtype))

    def islice(self, start: int | None = None, end: int | None = None) -> Iterator[Any]:
        """Iterate over ``z[start:end]`` along the first axis, one row of chunks read at a time."""
        a = self._async
        if not a.shape:
            raise ArgumentError("iteration over a 0-d array")
        n = a.shape[0]
        start = 0 if start is None else start
        end = n if end is None or end > n else end
        for value, what in ((start, "start"), (end, "end")):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ArgumentError(f"{what} must be a nonnegative integer, got {value!r}")
        return self._rows(start, end, a.chunks[0])

    def _rows(self, start: int, end: int, step: int) -> Iterator[Any]:
        block: Any = None
        block_start = -1
        for i in range(start, end):
            row = i - i % step
            if row != block_start:
                block = run(self._async.get_basic_selection(slice(row, row + step)))
                block_start = row
            yield block[i - row]

    def __iter__(self) -> Iterator[Any]:
        return self.islice()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d array")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<azarr.Array {self.name} shape={self.shape} dtype={self.dtype}>"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = np.asarray(self[...])
        return out.astype(dtype) if dtype is not None else out

    # data
    def __getitem__(self, selection: Any) -> Any:
        return run(self._async.getitem(selection))

    def __setitem__(self, selection: Any, value: Any) -> None:
        run(self._async.setitem(selection, value))

    def get_basic_selection(self, selection: Any = Ellipsis) -> Any:
        """Read ints/slices/Ellipsis."""
        return run(self._async.get_basic_selection(selection))

    def set_basic_selection(self, selection: Any, value: Any) -> None:
        """Write ints/slices/Ellipsis."""
        run(self._async.set_basic_selection(selection, value))

    def get_orthogonal_selection(self, selection: Any) -> Any:
        """Read an outer-product selection."""
        return run(self._async.get_orthogonal_selection(selection))

    def set_orthogonal_selection(self, selection: Any, value: Any) -> None:
        """Write an outer-product selection."""
        run(self._async.set_orthogonal_selection(selection, value))

    def get_coordinate_selection(self, selection: Any) -> Any:
        """Read points (vindex)."""
        return run(self._async.get_coordinate_selection(selection))

    def set_coordinate_selection(self, selection: Any, value: Any) -> None:
        """Write points (vindex)."""
        run(self._async.set_coordinate_selection(selection, value))

    def get_mask_selection(self, mask: Any) -> Any:
        """Read where a boolean mask is True."""
        return run(self._async.get_mask_selection(mask))

    def set_mask_selection(self, mask: Any, value: Any) -> None:
        """Write where a boolean mask is True."""
        run(self._async.set_mask_selection(mask, value))

    def get_block_selection(self, selection: Any) -> Any:
        """Read whole chunks by grid coordinates (``z.blocks[...]``)."""
        return run(self._async.get_block_selection(selection))

    def set_block_selection(self, selection: Any, value: Any) -> None:
        """Write whole chunks by grid coordinates (``z.blocks[...] = value``)."""
        run(self._async.set_block_selection(selection, value))

    @property
    def blocks(self) -> _BlockIndexer:
        """Block indexing: ``z.blocks[1, :2]`` is chunk row 1, chunk columns 0-1."""
        return _BlockIndexer(self)

    @property
    def oindex(self) -> _Indexer:
        """Orthogonal (outer) indexing: ``z.oindex[[0, 2], :]``."""
        return _Indexer(self, "o")

    @property
    def vindex(self) -> _Indexer:
        """Coordinate / mask indexing: ``z.vindex[[0, 2], [1, 3]]``."""
        return _Indexer(self, "v")

    def resize(self, *shape: Any) -> None:
        """Change the shape (chunks outside the new shape are deleted)."""
        run(self._async.resize(*shape))

    def append(self, data: Any, axis: int = 0) -> tuple[int, ...]:
        """Append along ``axis``; returns the new shape."""
        return run(self._async.append(data, axis=axis))

    def update_attributes(self, new: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``new`` into the attributes."""
        return run(self._async.update_attributes(new))


# --- groups ---------------------------------------------------------------------------------------


def _wrap(node: AsyncArray | AsyncGroup) -> Array | Group:
    return Array(node) if isinstance(node, AsyncArray) else Group(node)


def _rebuild_group(store: Any, path: str, read_only: bool) -> Group:
    return Group(run(AsyncGroup.open(store, path, read_only=read_only)))


class Group:
    """A group of arrays and groups with blocking access (wraps :class:`AsyncGroup`)."""

    def __init__(self, async_group: AsyncGroup) -> None:
        self._async = async_group

    @property
    def async_group(self) -> AsyncGroup:
        """The underlying :class:`AsyncGroup`."""
        return self._async

    def __reduce__(self) -> tuple[Any, ...]:
        g = self._async
        return (_rebuild_group, (g.store, g.path, g.read_only))

    path = property(lambda self: self._async.path, doc="Path in the store.")
    name = property(lambda self: self._async.name, doc="Path with a leading slash.")
    basename = property(lambda self: self._async.basename, doc="Last path component.")
    store = property(lambda self: self._async.store, doc="The Store.")
    read_only = property(lambda self: self._async.read_only, doc="Whether writes are refused.")
    zarr_format = property(lambda self: self._async.zarr_format, doc="2, 3 or 'n5'.")

    @property
    def attrs(self) -> Attributes:
        """The group's attributes (assignments write through)."""
        return Attributes(self._async)

    @property
    def info(self) -> Info:
        """A table describing the group."""
        return Info(self._async.info_items())

    def __repr__(self) -> str:
        return f"<azarr.Group {self.name}>"

    def __getitem__(self, name: str) -> Array | Group:
        try:
            return _wrap(run(self._async.getitem(name)))
        except FileNotFoundError as exc:
            raise KeyError(name) from exc

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and run(self._async.contains(name))

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __delitem__(self, name: str) -> None:
        run(self._async.delitem(name))

    def keys(self) -> list[str]:
        """Names of the children."""
        return run(self._async.keys())

    def members(self) -> list[tuple[str, Array | Group]]:
        """``[(name, node)]`` of the children."""
        return [(n, _wrap(m)) for n, m in run(self._async.members())]

    def items(self) -> list[tuple[str, Array | Group]]:
        """Alias of :meth:`members`."""
        return self.members()

    def arrays(self) -> list[tuple[str, Array]]:
        """``[(name, array)]`` of the child arrays."""
        return [(n, Array(m)) for n, m in run(self._async.arrays())]

    def groups(self) -> list[tuple[str, Group]]:
        """``[(name, group)]`` of the child groups."""
        return [(n, Group(m)) for n, m in run(self._async.groups())]

    def array_keys(self) -> list[str]:
        """Names of the child arrays."""
        return run(self._async.array_keys())

    def group_keys(self) -> list[str]:
        """Names of the child groups."""
        return run(self._async.group_keys())

    def create_array(self, name: str, **kwargs: Any) -> Array:
        """Create a child array (zarr-python's keywords: ``shape``, ``dtype``, ``chunks``,
        ``compressors``/``compressor``, ``filters``, ``serializer``, ``data``, ...)."""
        return Array(run(self._async.create_array(name, **kwargs)))

    create_dataset = create_array
    create = create_array

    def empty(self, name: str, **kwargs: Any) -> Array:
        """Create an array whose unwritten elements read as its fill value."""
        return Array(run(self._async.empty(name, **kwargs)))

    def zeros(self, name: str, **kwargs: Any) -> Array:
        """Create an array of zeros."""
        return Array(run(self._async.zeros(name, **kwargs)))

    def ones(self, name: str, **kwargs: Any) -> Array:
        """Create an array of ones."""
        return Array(run(self._async.ones(name, **kwargs)))

    def full(self, name: str, fill_value: Any, **kwargs: Any) -> Array:
        """Create an array filled with ``fill_value``."""
        return Array(run(self._async.full(name, fill_value, **kwargs)))

    def array(self, name: str, data: Any = None, **kwargs: Any) -> Array:
        """Create an array holding ``data``."""
        return Array(run(self._async.array(name, data, **kwargs)))

    def empty_like(self, name: str, data: Any, **kwargs: Any) -> Array:
        """Create an empty array like ``data``."""
        return Array(run(self._async.empty_like(name, data, **kwargs)))

    def zeros_like(self, name: str, data: Any, **kwargs: Any) -> Array:
        """Create an array of zeros like ``data``."""
        return Array(run(self._async.zeros_like(name, data, **kwargs)))

    def ones_like(self, name: str, data: Any, **kwargs: Any) -> Array:
        """Create an array of ones like ``data``."""
        return Array(run(self._async.ones_like(name, data, **kwargs)))

    def full_like(self, name: str, data: Any, **kwargs: Any) -> Array:
        """Create an array like ``data`` filled with ``fill_value`` (default: ``data``'s)."""
        return Array(run(self._async.full_like(name, data, **kwargs)))

    def __setitem__(self, name: str, value: Any) -> None:
        """``g[name] = data``: (re)create array ``name`` holding ``data``."""
        run(self._async.setitem(name, value))

    def get(self, name: str, default: Any = None) -> Any:
        """The member at ``name``, or ``default``."""
        node = run(self._async.get(name, None))
        return default if node is None else _wrap(node)

    def values(self) -> list[Array | Group]:
        """The direct children."""
        return [m for _, m in self.members()]

    def array_values(self) -> list[Array]:
        """The child arrays."""
        return [a for _, a in self.arrays()]

    def group_values(self) -> list[Group]:
        """The child groups."""
        return [g for _, g in self.groups()]

    def _walk(self) -> Iterator[tuple[str, Array | Group]]:
        # lazily, one group listing at a time, so a visitor that stops early reads no more
        for name, node in self.members():
            yield name, node
            if isinstance(node, Group):
                for sub, child in node._walk():
                    yield f"{name}/{sub}", child

    def visitvalues(self, func: Callable[[Any], Any]) -> Any:
        """Call ``func(node)`` for every node below, depth first and sorted, until it
        returns something other than None (returned)."""
        for _, node in self._walk():
            result = func(node)
            if result is not None:
                return result
        return None

    def visit(self, func: Callable[[str], Any]) -> Any:
        """Call ``func(relative path)`` for every node below (see :meth:`visitvalues`)."""
        for path, _ in self._walk():
            result = func(path)
            if result is not None:
                return result
        return None

    visitkeys = visit

    def visititems(self, func: Callable[[str, Any], Any]) -> Any:
        """Call ``func(relative path, node)`` for every node below (see :meth:`visitvalues`)."""
        for path, node in self._walk():
            result = func(path, node)
            if result is not None:
                return result
        return None

    def move(self, source: str, dest: str) -> None:
        """Move member ``source`` to ``dest`` (paths relative to this group)."""
        run(self._async.move(source, dest))

    def create_group(self, name: str, *, overwrite: bool = False, attributes: Mapping[str, Any] | None = None) -> Group:
        """Create a child group."""
        return Group(run(self._async.create_group(name, overwrite=overwrite, attributes=attributes)))

    def create_groups(self, *names: str, overwrite: bool = False) -> tuple[Group, ...]:
        """Create several child groups."""
        return tuple(Group(g) for g in run(self._async.create_groups(*names, overwrite=overwrite)))

    def require_group(self, name: str, overwrite: bool = False) -> Group:
        """Open a child group, creating it if missing (``overwrite=True``: replace it)."""
        if overwrite:
            return self.create_group(name, overwrite=True)
        return Group(run(self._async.require_group(name)))

    def require_groups(self, *names: str) -> tuple[Group, ...]:
        """Open or create several child groups."""
        return tuple(Group(g) for g in run(self._async.require_groups(*names)))

    def require_array(self, name: str, *, shape: Any, dtype: Any = None, **kwargs: Any) -> Array:
        """Open a child array if compatible, else create it."""
        return Array(run(self._async.require_array(name, shape=shape, dtype=dtype, **kwargs)))

    require_dataset = require_array

    def tree(self, expand: bool | None = None, level: int | None = None) -> Tree:
        """A text tree of the hierarchy, ``level`` levels deep (``expand`` is for HTML views)."""
        return Tree(run(self._async.tree(level=level)))

    def update_attributes(self, new: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``new`` into the attributes."""
        return run(self._async.update_attributes(new))


# --- functions -------------------------------------------------------------------------------------


def open(store: aio.StoreLike = None, mode: str = "a", **kwargs: Any) -> Array | Group:
    """Open an array or group (blocking twin of :func:`azarr.aio.open`)."""
    return _wrap(run(aio.open(store, mode, **kwargs)))


def open_array(store: aio.StoreLike = None, mode: str = "a", *args: Any, **kwargs: Any) -> Array:
    """Open or create an array (blocking twin of :func:`azarr.aio.open_array`)."""
    return Array(run(aio.open_array(store, mode, *args, **kwargs)))


def open_group(store: aio.StoreLike = None, mode: str = "a", **kwargs: Any) -> Group:
    """Open or create a group (blocking twin of :func:`azarr.aio.open_group`)."""
    return Group(run(aio.open_group(store, mode, **kwargs)))


def create(shape: Any, *args: Any, **kwargs: Any) -> Array:
    """Create an array (blocking twin of :func:`azarr.aio.create`)."""
    return Array(run(aio.create(shape, *args, **kwargs)))


def group(store: aio.StoreLike = None, **kwargs: Any) -> Group:
    """Open or create a group (blocking twin of :func:`azarr.aio.group`)."""
    return Group(run(aio.group(store, **kwargs)))


def consolidate_metadata(store: aio.StoreLike, path: str = "", **kwargs: Any) -> Group:
    """Write ``.zmetadata`` (blocking twin of :func:`azarr.aio.consolidate_metadata`)."""
    return Group(run(aio.consolidate_metadata(store, path, **kwargs)))


def open_consolidated(store: aio.StoreLike, mode: str = "r", **kwargs: Any) -> Group:
    """Open a group from ``.zmetadata`` (blocking twin of :func:`azarr.aio.open_consolidated`)."""
    return Group(run(aio.open_consolidated(store, mode, **kwargs)))


__all__ = [
    "Array",
    "Attributes",
    "Group",
    "NodeContext",
    "StoredBytes",
    "Tree",
    "consolidate_metadata",
    "create",
    "get_loop",
    "group",
    "open",
    "open_array",
    "open_consolidated",
    "open_group",
    "run",
]
