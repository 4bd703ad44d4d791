"""AsyncArray: an N-dimensional chunked array in a store (the async API).

Selections become per-chunk plans (:mod:`azarr.core.indexing`); the chunk I/O engine
(:mod:`azarr.core.chunk_io`) fetches and stores them in batches through the array's codec
pipeline. The array itself knows no format: metadata, pipeline and documents come from
the format registry.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
from collections.abc import AsyncIterator, Mapping
from typing import Any

import numpy as np

from azarr.codecs import CodecPipeline, pipeline_for
from azarr.codecs.sharding import sole_sharding_codec
from azarr.core import indexing
from azarr.core.blocks import block_to_basic
from azarr.core.chunk_io import ChunkIO, chunk_keys
from azarr.core.creation import UNSET, build_array_metadata, choose_format
from azarr.core.hierarchy import (
    NodeBase,
    NodeContext,
    doc_key,
    normalize_path,
    plan_node,
    write_node,
)
from azarr.core.shard_io import ShardReadOptions
from azarr.errors import (
    ArgumentError,
    ArrayNotFoundError,
    ConsolidatedMetadataError,
    MetadataError,
    ReadOnlyError,
    ShapeMismatchError,
    UnsupportedOptionError,
)
from azarr.meta.formats import format_for
from azarr.stores.base import Store


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("", "K", "M", "G", "T"):
        if size < 2**10:
            return f"{size:.1f}{unit}" if unit else str(n)
        size /= 2**10
    return f"{size:.1f}P"


def _bytestr(n: int) -> str:
    """A byte count as zarr-python 3 prints it in ``info`` (``"1048576 (1.0M)"``)."""
    return str(n) if n < 2**10 else f"{n} ({_human_size(n)})"


def _show_scalar(value: Any) -> str:
    """``nan`` rather than ``np.float32(nan)``; dates keep numpy's readable repr."""
    if isinstance(value, np.generic) and value.dtype.kind not in "Mm":
        return repr(value.item())
    return repr(value)


class AsyncArray(NodeBase):
    """An N-dimensional chunked array in a store (async API).

    Open or create one with :meth:`open` / :meth:`create` (or ``azarr.aio.open_array``).
    """

    kind = "array"

    def __init__(
        self,
        store: Store,
        path: str,
        metadata: Any,
        attributes: dict[str, Any] | None = None,
        *,
        read_only: bool = False,
        write_empty_chunks: bool = False,
        context: NodeContext | None = None,
    ) -> None:
        super().__init__(store, path, metadata, attributes, read_only=read_only, context=context)
        self.write_empty_chunks = write_empty_chunks
        #: how a sharded array's shards are read (coalescing, whole-shard reads, index cache)
        self.shard_options: ShardReadOptions | None = None
        self._pipeline: CodecPipeline | None = None
        self._io: ChunkIO | None = None

    # --- opening / creating -------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        store: Store,
        path: str = "",
        *,
        read_only: bool = False,
        write_empty_chunks: bool = False,
        context: NodeContext | None = None,
        zarr_format: Any = None,
    ) -> AsyncArray:
        """Open the existing array at ``path`` (metadata and attributes in one store call)."""
        path = normalize_path(path)
        context = context or NodeContext()
        node = await context.read_node(store, path, zarr_format)
        if node is None or node.kind != "array":
            what = "a group" if node else "nothing"
            raise ArrayNotFoundError(f"no array at path {path!r} in {store.name} (found {what})")
        arr = cls(
            store,
            path,
            node.metadata,
            node.attributes,
            read_only=read_only,
            write_empty_chunks=write_empty_chunks,
            context=context,
        )
        _ = arr.codec_pipeline  # an unknown codec fails at open, naming the array
        return arr

    @classmethod
    async def create(
        cls,
        store: Store,
        path: str = "",
        *,
        shape: int | tuple[int, ...],
        chunks: Any = None,
        dtype: Any = "f8",
        zarr_format: Any = None,
        attributes: Mapping[str, Any] | None = None,
        overwrite: bool = False,
        write_empty_chunks: bool = False,
        context: NodeContext | None = None,
        **options: Any,
    ) -> AsyncArray:
        """Create an array at ``path``; parent groups are created as needed.

        ``options`` are the format's creation keywords (``compressor``/``filters``/
        ``dimension_separator``/``order`` for v2; ``compressors``/``filters``/``serializer``/
        ``dimension_names``/``chunk_key_encoding``/``shards`` for v3; ``compressor`` for N5) and
        ``fill_value``. Without ``zarr_format`` the format is chosen as
        :func:`~azarr.core.creation.choose_format` says. Metadata is validated before
        anything is touched; ``overwrite=True`` then deletes whatever was at ``path``.
        """
        path = normalize_path(path)
        context = context or NodeContext()
        if store.read_only:
            raise ReadOnlyError(f"cannot create an array at {path!r}: {store.name} is read-only", key=path)
        options = {k: v for k, v in options.items() if v is not UNSET}
        choose_format(zarr_format, options)  # a v2 keyword with zarr_format=3 fails before any I/O
        lineage = await plan_node(store, path, context, zarr_format, overwrite)
        fmt = choose_format(zarr_format, options, lineage.hierarchy_format())
        meta = build_array_metadata(fmt, shape, chunks, dtype, options)
        pipeline = pipeline_for(meta)  # validates codec configurations before anything is written
        attrs = dict(attributes or {})
        await write_node(store, lineage, fmt, meta.to_documents(attrs), context)
        arr = cls(store, path, meta, attrs, write_empty_chunks=write_empty_chunks, context=context)
        arr._pipeline = pipeline
        return arr

    # --- properties ---------------------------------------------------------------------

    @property
    def codec_pipeline(self) -> CodecPipeline:
        """The array's codec pipeline (built once from its metadata)."""
        if self._pipeline is None:
            try:
                self._pipeline = pipeline_for(self.metadata)
            except MetadataError as exc:
                raise MetadataError(f"array {self.name} in {self.store.name}: {exc}") from None
        return self._pipeline

    @property
    def chunk_io(self) -> ChunkIO:
        """The chunk I/O engine of this array (rebuilt when its metadata changes)."""
        io = self._io
        if io is None or io.metadata is not self.metadata or io.write_empty_chunks != self.write_empty_chunks:
            io = self._io = ChunkIO(
                self.store,
                self.path,
                self.metadata,
                self.codec_pipeline,
                write_empty_chunks=self.write_empty_chunks,
                shard_options=self.shard_options,
            )
        elif io.shards is not None and self.shard_options is not None:
            io.shards.configure(self.shard_options)  # the index cache stays
        return io

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return self.metadata.shape

    @property
    def chunks(self) -> tuple[int, ...]:
        """The chunk shape (of a sharded array: its inner chunks, as zarr-python 3)."""
        sharding = sole_sharding_codec(self.codec_pipeline)
        return sharding.chunk_shape if sharding is not None else self.metadata.chunks

    @property
    def shards(self) -> tuple[int, ...] | None:
        """The shard shape of a sharded array, None otherwise (as zarr-python 3)."""
        return self.metadata.chunks if sole_sharding_codec(self.codec_pipeline) is not None else None

    def _stored_grid(self) -> tuple[int, ...]:
        """Stored objects (chunks, or shards) along each axis."""
        return tuple(-(-s // c) for s, c in zip(self.shape, self.metadata.chunks))

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of the values."""
        return self.metadata.dtype

    @property
    def fill_value(self) -> Any:
        """Value of unwritten elements."""
        return self.metadata.fill_value

    @property
    def order(self) -> str:
        """Memory layout of chunks ('C' or 'F')."""
        return self.metadata.order

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Uncompressed size of the whole array in bytes."""
        return self.size * self.dtype.itemsize

    @property
    def cdata_shape(self) -> tuple[int, ...]:
        """Number of chunks along each axis."""
        return tuple(-(-s // c) for s, c in zip(self.shape, self.chunks))

    @property
    def nchunks(self) -> int:
        """Total number of chunks in the grid."""
        return math.prod(self.cdata_shape)

    @property
    def compressor(self) -> Any:
        """The v2 compressor as a numcodecs codec (or None)."""
        cfg = getattr(self.metadata, "compressor", None)
        if cfg is None:
            return None
        from azarr.codecs.numcodecs_compat import get_numcodec

        return get_numcodec(cfg, "compressor")

    @property
    def filters(self) -> tuple[Any, ...]:
        """The filters, as zarr-python 3 gives them: numcodecs codecs for Zarr v2 arrays,
        the array->array codecs for v3 (an empty tuple when there are none)."""
        if not hasattr(self.metadata, "filters"):
            return tuple(self.codec_pipeline.array_array)
        from azarr.codecs.numcodecs_compat import get_numcodec

        return tuple(get_numcodec(c, "filter") for c in self.metadata.filters or ())

    @property
    def compressors(self) -> tuple[Any, ...]:
        """The compressors (zarr-python 3): ``(compressor,)`` as a numcodecs codec for Zarr v2
        (``()`` without one), the bytes->bytes codecs for v3."""
        if hasattr(self.metadata, "compressor"):
            compressor = self.compressor
            return () if compressor is None else (compressor,)
        return tuple(self.codec_pipeline.bytes_bytes)

    @property
    def serializer(self) -> Any:
        """The array->bytes codec of a Zarr v3 array (None for v2, whose filters serialise)."""
        if hasattr(self.metadata, "compressor"):
            return None
        return self.codec_pipeline.array_bytes

    @property
    def itemsize(self) -> int:
        """Bytes per element of the dtype."""
        return self.dtype.itemsize

    def __repr__(self) -> str:
        return f"<AsyncArray {self.name} shape={self.shape} dtype={self.dtype} store={self.store.name}>"

    def chunk_key(self, coords: tuple[int, ...]) -> str:
        """The store key of chunk ``coords``."""
        return doc_key(self.path, self.metadata.chunk_key(coords))

    async def refresh(self) -> None:
        """Re-read metadata and attributes from the store."""
        fresh = await AsyncArray.open(self.store, self.path, context=self.context)
        self.metadata, self._attrs = fresh.metadata, fresh._attrs
        self._pipeline = fresh._pipeline

    # --- reading -------------------------------------------------------------------------

    async def getitem(self, selection: Any) -> Any:
        """Read ``selection`` with numpy/zarr-python ``z[...]`` semantics."""
        return await self._read(indexing.indexer_for(selection, self.shape, self.chunks))

    async def get_basic_selection(self, selection: Any = Ellipsis) -> Any:
        """Read ints/slices/Ellipsis."""
        return await self._read(indexing.basic_indexer(selection, self.shape, self.chunks))

    async def get_orthogonal_selection(self, selection: Any) -> Any:
        """Read an outer-product selection (per-axis ints, slices, int or bool arrays)."""
        return await self._read(indexing.orthogonal_indexer(selection, self.shape, self.chunks))

    async def get_coordinate_selection(self, selection: Any) -> Any:
        """Read points given by a tuple of integer coordinate arrays (vindex)."""
        return await self._read(indexing.coordinate_indexer(selection, self.shape, self.chunks))

    async def get_mask_selection(self, mask: Any) -> Any:
        """Read the elements where a boolean mask of the array's shape is True."""
        return await self._read(indexing.mask_indexer(mask, self.shape, self.chunks))

    async def get_block_selection(self, selection: Any) -> Any:
        """Read whole chunks named by grid coordinates (``z.blocks[...]``)."""
        return await self.get_basic_selection(block_to_basic(selection, self.shape, self.chunks))

    async def islice(self, start: int | None = None, end: int | None = None) -> AsyncIterator[Any]:
        """Yield ``z[i]`` for ``start <= i < end`` along the first axis, reading one row of
        chunks at a time (zarr-python 2's ``islice``)."""
        if not self.shape:
            raise ArgumentError("iteration over a 0-d array")
        n = self.shape[0]
        start = 0 if start is None else start
        end = n if end is None or end > n else end
        for value, what in ((start, "start"), (end, "end")):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ArgumentError(f"{what} must be a nonnegative integer, got {value!r}")
        step = self.chunks[0]
        block: Any = None
        block_start = -1
        for i in range(start, end):
            row = i - i % step
            if row != block_start:
                block = await self.get_basic_selection(slice(row, row + step))
                block_start = row
            yield block[i - row]

    async def _read(self, indexer: Any) -> Any:
        check = self._stale_check_key()
        if check is None:
            return await self.chunk_io.read(indexer)
        return await self.chunk_io.read(
            indexer, (check,), lambda extras: self._verify_not_stale(check, extras.get(check))
        )

    def _stale_check_key(self) -> str | None:
        # Opened from consolidated metadata: the array's own metadata rides along with the
        # first chunk batch (no extra round trip), so stale consolidated metadata cannot yield
        # wrong data.
        view = self.context.consolidated
        if view is None or self.path in view.validated or view.documents(self.path, ()) is None:
            return None
        return doc_key(self.path, self.metadata.metadata_key)

    def _verify_not_stale(self, key: str, actual: bytes | None) -> None:
        view = self.context.consolidated
        assert view is not None
        if actual is None:
            raise ArrayNotFoundError(
                f"consolidated metadata in {self.store.name} names array {self.name}, but its "
                f"metadata {key!r} is gone (stale consolidated metadata; re-run consolidate_metadata)"
            )
        fmt = format_for(self.zarr_format)
        try:
            node = fmt.parse({self.metadata.metadata_key: actual}, self.path)
        except MetadataError:
            node = None
        if node is not None and (node.kind != "array" or node.metadata.to_dict() != self.metadata.to_dict()):
            raise ConsolidatedMetadataError(
                f"consolidated metadata for array {self.name} in {self.store.name} is stale: {key!r} "
                "has changed since it was consolidated (re-run consolidate_metadata)"
            )
        view.validated.add(self.path)

    # --- writing ---------------------------------------------------------------------------

    async def setitem(self, selection: Any, value: Any) -> None:
        """Write ``value`` (broadcast) into ``selection`` with ``z[...] = value`` semantics."""
        await self._write(indexing.indexer_for(selection, self.shape, self.chunks), value)

    async def set_basic_selection(self, selection: Any, value: Any) -> None:
        """Write into ints/slices/Ellipsis."""
        await self._write(indexing.basic_indexer(selection, self.shape, self.chunks), value)

    async def set_orthogonal_selection(self, selection: Any, value: Any) -> None:
        """Write into an outer-product selection."""
        await self._write(indexing.orthogonal_indexer(selection, self.shape, self.chunks), value)

    async def set_coordinate_selection(self, selection: Any, value: Any) -> None:
        """Write into points given by integer coordinate arrays."""
        await self._write(indexing.coordinate_indexer(selection, self.shape, self.chunks), value)

    async def set_mask_selection(self, mask: Any, value: Any) -> None:
        """Write into the elements where a boolean mask is True."""
        await self._write(indexing.mask_indexer(mask, self.shape, self.chunks), value)

    async def set_block_selection(self, selection: Any, value: Any) -> None:
        """Write whole chunks named by grid coordinates (``z.blocks[...] = value``)."""
        await self.set_basic_selection(block_to_basic(selection, self.shape, self.chunks), value)

    def _prepare_value(self, indexer: Any, value: Any) -> np.ndarray:
        dtype = self.dtype
        try:
            arr = np.asarray(value, dtype=dtype) if dtype.kind != "O" else np.asarray(value, dtype=object)
        except (TypeError, ValueError) as exc:
            raise ShapeMismatchError(f"cannot convert value to {dtype} for array {self.name}: {exc}") from None
        try:
            arr = np.broadcast_to(arr, indexer.shape)
        except ValueError:
            raise ShapeMismatchError(
                f"cannot assign a value of shape {np.shape(value)} to a selection of shape "
                f"{indexer.shape} in array {self.name}"
            ) from None
        return arr.reshape(indexer.buffer_shape)

    async def _write(self, indexer: Any, value: Any) -> None:
        self._check_writable()
        values = self._prepare_value(indexer, value)
        await self.chunk_io.write(indexer, values)

    # --- shape changes ------------------------------------------------------------------------

    async def resize(self, *shape: int | tuple[int, ...]) -> None:
        """Change the shape; chunks wholly outside the new shape are deleted."""
        self._check_writable()
        new_shape: tuple[Any, ...] = (
            tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
        )
        if len(new_shape) != self.ndim:
            raise ShapeMismatchError(f"resize of {self.name}: new shape {new_shape} must have {self.ndim} dimensions")
        old_grid = self._stored_grid()
        new_meta = self.metadata.with_shape(tuple(int(s) for s in new_shape))
        await self.context.write_documents(self.store, self.path, new_meta.to_documents(self._attrs))
        self.metadata = new_meta
        new_grid = self._stored_grid()
        if any(n < o for n, o in zip(new_grid, old_grid)):
            doomed = chunk_keys(
                self.path,
                new_meta,
                (c for c in itertools.product(*(range(g) for g in old_grid)) if any(ci >= ng for ci, ng in zip(c, new_grid))),
            )
            await self.store.delete_many(doomed)

    async def append(self, data: Any, axis: int = 0) -> tuple[int, ...]:
        """Append ``data`` along ``axis`` (growing the array) and return the new shape."""
        self._check_writable()
        data = np.asanyarray(data)
        if data.ndim != self.ndim:
            raise ShapeMismatchError(f"append to {self.name}: data has {data.ndim} dimensions, array has {self.ndim}")
        if not -self.ndim <= axis < self.ndim:
            raise ShapeMismatchError(f"append to {self.name}: axis {axis} out of range for {self.ndim} dimensions")
        axis %= self.ndim
        for i, (a, b) in enumerate(zip(self.shape, data.shape)):
            if i != axis and a != b:
                raise ShapeMismatchError(
                    f"append to {self.name}: data shape {data.shape} does not match array shape "
                    f"{self.shape} except on axis {axis}"
                )
        old = self.shape[axis]
        new_shape = tuple(s + (data.shape[axis] if i == axis else 0) for i, s in enumerate(self.shape))
        await self.resize(new_shape)
        sel = tuple(slice(old, None) if i == axis else slice(None) for i in range(self.ndim))
        await self.set_basic_selection(sel, data)
        return new_shape

    # --- info ------------------------------------------------------------------------------------

    async def nchunks_initialized(self) -> int:
        """Count the chunks that are stored (lists the array's prefix); a stored shard counts
        as all its inner chunks, as in zarr-python 3."""
        prefix = self.path + "/" if self.path else ""
        names = {self.metadata.chunk_key(c) for c in itertools.product(*(range(g) for g in self._stored_grid()))}
        n = 0
        async for key in self.store.list_prefix(prefix):
            if key[len(prefix) :] in names:
                n += 1
        shards = self.shards
        return n * math.prod(s // c for s, c in zip(shards, self.chunks)) if shards is not None else n

    def _codec_info(self) -> list[tuple[str, str]]:
        """Codec rows as each format's zarr-python shows them (v2: compressor + filters; v3: the chain)."""
        meta = self.metadata
        if self.zarr_format == 3:
            pipe = self.codec_pipeline
            return [
                ("Filters", repr(pipe.array_array)),
                ("Serializer", repr(pipe.array_bytes)),
                ("Compressors", repr(pipe.bytes_bytes)),
            ]
        if hasattr(meta, "compression"):  # N5
            return [("Compressor", repr(meta.compression))]
        return [("Compressor", repr(meta.compressor)), ("Filters", repr(meta.filters))]

    def info_items(self) -> list[tuple[str, str]]:
        """(label, value) rows describing the array without any I/O, as shown by ``info``
        (zarr-python 3's rows, plus the array's name and store)."""
        items: list[tuple[str, str]] = [
            ("Name", self.name),
            ("Type", "Array"),
            ("Zarr format", str(self.zarr_format)),
            ("Data type", str(self.dtype)),
            ("Fill value", _show_scalar(self.fill_value)),
            ("Shape", str(self.shape)),
            ("Chunk shape", str(self.chunks)),
            *([("Shard shape", str(self.shards))] if self.shards is not None else []),
            ("Order", self.order),
            ("Read-only", str(self.read_only)),
            ("Store type", type(self.store).__name__),
            ("Store", self.store.name),
            *self._codec_info(),
            ("No. bytes", _bytestr(self.nbytes)),
        ]
        return items

    async def info_complete_items(self) -> list[tuple[str, str]]:
        """:meth:`info_items` plus what needs the store: bytes stored, storage ratio and
        initialized chunks (zarr-python 2's ``info_items`` / 3's ``info_complete``)."""
        stored, initialized = await asyncio.gather(self.nbytes_stored(), self.nchunks_initialized())
        items = self.info_items()
        if stored > 0:
            items += [("No. bytes stored", _bytestr(stored)), ("Storage ratio", f"{self.nbytes / stored:.1f}")]
        items.append(("Chunks Initialized", str(initialized)))
        return items

    async def nbytes_stored(self) -> int:
        """Bytes stored for the array: its metadata documents and every stored chunk (the
        values under its prefix are read in batched windows; stores report no sizes)."""
        from azarr.core.streams import keys_under, stream_values

        keys = await keys_under(self.store, self.path)  # an array has no child nodes: every key is its own
        total = 0
        async for _, found in stream_values(self.store, keys):
            total += sum(len(v) for v in found.values())
        return total

    async def digest(self, hashname: str = "sha1") -> bytes:
        """A checksum of the stored array, as zarr-python 2 computes it: every chunk's stored
        bytes in grid order (nothing for a missing chunk), then the metadata documents."""
        from azarr.core.streams import stream_values

        h = hashlib.new(hashname)
        grid = itertools.product(*(range(g) for g in self.cdata_shape))
        keys = [self.chunk_key(c) for c in grid]
        keys += [doc_key(self.path, d) for d in format_for(self.zarr_format).documents]
        async for window, found in stream_values(self.store, keys):
            for key in window:
                value = found.get(key)
                if value is not None:
                    h.update(value)
        return h.digest()

    async def hexdigest(self, hashname: str = "sha1") -> str:
        """:meth:`digest` as a hex string."""
        return (await self.digest(hashname)).hex()

    # --- views ------------------------------------------------------------------------------

    def view(
        self,
        *,
        shape: Any = None,
        chunks: Any = None,
        dtype: Any = None,
        fill_value: Any = None,
        filters: Any = None,
        read_only: bool | None = None,
    ) -> AsyncArray:
        """A read-only view of the stored chunks under other settings (zarr-python 2's ``view``):
        ``dtype`` reinterprets the chunk bytes; ``shape``, ``chunks``, ``fill_value`` and
        ``filters`` replace the array's. Nothing is written, so the view's metadata may
        describe the data differently from the store's."""
        if read_only is False:
            raise UnsupportedOptionError(f"views are read-only in azarr (array {self.name} in {self.store.name})")
        from azarr.meta.views import view_metadata

        meta = view_metadata(self.metadata, dtype=dtype, shape=shape, chunks=chunks, fill_value=fill_value, filters=filters)
        return self._view(meta)

    def astype(self, dtype: Any) -> AsyncArray:
        """A read-only view with values converted to ``dtype`` as chunks are read."""
        from azarr.meta.views import view_metadata

        return self._view(view_metadata(self.metadata, dtype=dtype, astype=True))

    def _view(self, meta: Any) -> AsyncArray:
        view = AsyncArray(self.store, self.path, meta, self._attrs, read_only=True, context=NodeContext())
        _ = view.codec_pipeline  # a view its codecs cannot read fails now, naming the array
        return view


__all__ = ["AsyncArray"]
