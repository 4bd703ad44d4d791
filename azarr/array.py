"""AsyncArray: the async core of a chunked array (Zarr v2 or N5) in a Store.

A selection becomes a plan (azarr.indexing) of (chunk key, chunk selection, output
selection). A read fetches the plan's keys with ONE ``store.get_many`` call and decodes
in a thread pool; a write encodes every touched chunk first (read-modify-write only for
partially covered chunks, fetched with one ``get_many``), then stores them with one
``set_many``. Chunks equal to the fill value are deleted instead of written
(``write_empty_chunks=False``), so nothing is stored for empty regions.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from azarr import indexing
from azarr.codecs import CodecPipeline, pipeline_for
from azarr.errors import CodecError
from azarr.errors import (
    ArrayNotFoundError,
    ContainsArrayError,
    ContainsGroupError,
    MetadataError,
    ReadOnlyError,
    ShapeMismatchError,
)
from azarr.meta.v2 import ArrayMetadataV2, GroupMetadataV2
from azarr.node import (
    AttributesMixin,
    NodeContext,
    classify,
    codec_pool,
    doc_key,
    format_of,
    join_path,
    normalize_path,
)
from azarr.stores.base import Store

# Below this many stored bytes per operation, a thread hop costs more than the codec work.
_INLINE_BYTES = 1 << 20


def decode_chunk(pipeline: CodecPipeline, data: bytes, extent: tuple[int, ...] | None, key: str) -> np.ndarray:
    """Decode chunk ``key``; any failure becomes a CodecError naming the key."""
    try:
        return pipeline.decode(data, extent)
    except CodecError as exc:
        if exc.key is None:
            raise CodecError(f"chunk {key!r}: {exc}", key=key) from exc
        raise
    except Exception as exc:
        raise CodecError(f"chunk {key!r} failed to decode: {type(exc).__name__}: {exc}", key=key) from exc


def encode_chunk(pipeline: CodecPipeline, chunk: np.ndarray, extent: tuple[int, ...] | None, key: str) -> bytes:
    """Encode chunk ``key``; any failure becomes a CodecError naming the key."""
    try:
        data = pipeline.encode(chunk, extent)
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"chunk {key!r} failed to encode: {type(exc).__name__}: {exc}", key=key) from exc
    return data if isinstance(data, bytes) else memoryview(data).tobytes()  # type: ignore[arg-type]


def _fill_scalar(meta: Any) -> Any:
    fv = meta.fill_value
    if fv is None:
        return None if meta.dtype.kind == "O" else np.zeros((), meta.dtype)[()]
    return fv


def _is_fill(chunk: np.ndarray, fill: Any) -> bool:
    if fill is None:
        return False
    if chunk.dtype.kind == "O":
        return all(v == fill for v in chunk.flat)
    if chunk.dtype.kind in "fc" and np.isnan(fill):
        return bool(np.all(np.isnan(chunk)))
    if chunk.dtype.kind in "Mm" and np.isnat(fill):
        return bool(np.all(np.isnat(chunk)))
    return bool(np.all(chunk == fill))


def _show_scalar(value: Any) -> str:
    """``nan`` rather than ``np.float32(nan)``; dates keep numpy's readable repr."""
    if isinstance(value, np.generic) and value.dtype.kind not in "Mm":
        return repr(value.item())
    return repr(value)


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts) if items[i::parts]]


async def _run_cpu(work: list[Any], fn: Any, nbytes: int) -> None:
    """Run ``fn(group)`` over ``work`` inline (small) or split across the codec pool."""
    if not work:
        return
    if nbytes < _INLINE_BYTES or len(work) == 1:
        fn(work)
        return
    loop = asyncio.get_running_loop()
    pool = codec_pool()
    groups = _split(work, pool._max_workers)
    await asyncio.gather(*(loop.run_in_executor(pool, fn, g) for g in groups))


# Writes of at least this many chunks send early chunks while later ones are encoded.
_STREAM_MIN = 64
_STREAM_BATCH = 32


def _streams_writes(meta: Any, store: Store, chunks: int, nbytes: int) -> bool:
    """Whether a write may overlap encoding with sending.

    Only where a codec cannot fail on one chunk after accepting another: numeric data
    through a compressor alone (no filters, no object dtype). The first batch is still
    encoded before anything is sent, so a codec that rejects the array stores nothing.
    Stores with a native batch write (Redis, MongoDB, SQLite) already send a few
    requests for the whole write, so they keep the encode-then-send path.
    """
    return (
        chunks >= _STREAM_MIN
        and nbytes >= _INLINE_BYTES
        and meta.dtype.kind != "O"
        and not getattr(meta, "filters", None)
        and store._set_batch is None
        and type(store).set_many is Store.set_many
    )


async def _encode_while_sending(
    work: list[Any], build: Callable[[list[Any]], tuple[dict[str, bytes], list[str]]], store: Store
) -> list[str]:
    """Encode ``work`` in the codec pool in batches and send each chunk as soon as it is ready.

    On an object store the encode of a big write (~60 ms for 1024 16 KiB zstd chunks on
    2 cores) would otherwise all happen before the first PUT. At most ``concurrency``
    sender tasks pull encoded chunks from one queue (a task per chunk, or senders queued
    on the store's semaphore, cost more loop time than the PUTs). Returns the keys to
    delete (chunks equal to the fill value). The first failure stops everything pending.
    """
    loop = asyncio.get_running_loop()
    pool = codec_pool()
    batches = [work[i : i + _STREAM_BATCH] for i in range(0, len(work), _STREAM_BATCH)]
    first_set, to_delete = await loop.run_in_executor(pool, build, batches[0])
    # one queue, one wake-up per chunk (an Event would wake every idle sender per batch)
    queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
    n_senders = min(store.concurrency, len(work))
    left = len(batches) - 1
    failure: list[BaseException] = []

    def stop_senders() -> None:
        for _ in range(n_senders):
            queue.put_nowait(None)

    def encoded(fut: asyncio.Future[tuple[dict[str, bytes], list[str]]]) -> None:
        nonlocal left
        left -= 1
        if fut.cancelled() or failure:
            return
        exc = fut.exception()
        if exc is not None:
            failure.append(exc)
            stop_senders()
            return
        done, deleted = fut.result()
        for item in done.items():
            queue.put_nowait(item)
        to_delete.extend(deleted)
        if not left:
            stop_senders()

    for item in first_set.items():
        queue.put_nowait(item)
    if not left:
        stop_senders()
    encodes = [loop.run_in_executor(pool, build, b) for b in batches[1:]]
    for fut in encodes:
        fut.add_done_callback(encoded)

    async def sender() -> None:
        while (item := await queue.get()) is not None and not failure:
            await store.set(*item)

    senders = [asyncio.ensure_future(sender()) for _ in range(n_senders)]
    try:
        await asyncio.gather(*senders)
        if failure:
            raise failure[0]
    except BaseException:
        unfinished: list[asyncio.Future[Any]] = [*encodes, *senders]
        for pending in unfinished:
            pending.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        raise
    return to_delete


# Reads of at least this many chunks decode while the rest are still arriving.
_EARLY_MIN = 16
_EARLY_BATCH = 32


class _EarlyDecoder:
    """Decodes chunks in the codec pool as ``get_many`` delivers them (``on_value``).

    On an object store a big read arrives in waves ~100 ms apart; decoding each wave
    while the next is in flight removes the decode tail after the last response.
    Used only with a store whose ``get_many`` is the base implementation (a wrapper
    that overrides it may not accept ``on_value``).
    """

    @classmethod
    def for_read(
        cls, decode: Callable[[list[Any]], None], keys: list[str], projections: list[Any], store: Store
    ) -> _EarlyDecoder | None:
        """A decoder for this read, or None where early decoding does not apply."""
        if len(keys) < _EARLY_MIN or type(store).get_many is not Store.get_many:
            return None
        by_key = dict(zip(keys, projections))
        return cls(decode, by_key) if len(by_key) == len(keys) else None

    def __init__(self, decode: Callable[[list[Any]], None], by_key: dict[str, Any]) -> None:
        self.decode = decode
        self.by_key = by_key
        self.batch: list[Any] = []
        self.futures: list[asyncio.Future[None]] = []

    def add(self, key: str, data: bytes) -> None:
        p = self.by_key.pop(key, None)  # what is left in by_key has not been decoded yet
        if p is None:
            return
        self.batch.append((key, data, p))
        if len(self.batch) >= _EARLY_BATCH:
            self._flush()

    def _flush(self) -> None:
        if self.batch:
            loop = asyncio.get_running_loop()
            self.futures.append(loop.run_in_executor(codec_pool(), self.decode, self.batch))
            self.batch = []

    async def finish(self) -> None:
        self._flush()
        await asyncio.gather(*self.futures)

    async def abandon(self) -> None:
        await asyncio.gather(*self.futures, return_exceptions=True)


class AsyncArray(AttributesMixin):
    """An N-dimensional chunked array in a store (async API).

    Open or create one with :meth:`open` / :meth:`create` (or ``azarr.aio.open_array``).
    """

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
        self.store = store
        self.path = normalize_path(path)
        self.metadata = metadata
        self._attrs: dict[str, Any] = dict(attributes or {})
        self.read_only = bool(read_only or store.read_only)
        self.write_empty_chunks = write_empty_chunks
        self.context = context or NodeContext()
        self._pipeline: CodecPipeline | None = None

    @property
    def codec_pipeline(self) -> CodecPipeline:
        """The array's codec pipeline (built once from its metadata)."""
        if self._pipeline is None:
            self._pipeline = pipeline_for(self.metadata)
        return self._pipeline

    def _extent(self, coords: tuple[int, ...]) -> tuple[int, ...] | None:
        """The in-bounds shape of chunk ``coords`` where the format stores edges truncated."""
        if not self.codec_pipeline.truncates_edges:
            return None
        return tuple(min(c, s - i * c) for i, c, s in zip(coords, self.metadata.chunks, self.metadata.shape))

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
    ) -> AsyncArray:
        """Open the existing array at ``path`` (metadata and attributes in one store call)."""
        path = normalize_path(path)
        context = context or NodeContext()
        docs = await context.read_documents(store, path)
        node = classify(docs, path)
        if node is None or node[0] != "array":
            what = "a group" if node else "nothing"
            raise ArrayNotFoundError(f"no array at path {path!r} in {store.name} (found {what})")
        _, meta, attrs = node
        return cls(
            store, path, meta, attrs, read_only=read_only, write_empty_chunks=write_empty_chunks, context=context
        )

    @classmethod
    async def create(
        cls,
        store: Store,
        path: str = "",
        *,
        shape: int | tuple[int, ...],
        chunks: Any = None,
        dtype: Any = "f8",
        compressor: Any = "default",
        fill_value: Any = "default",
        order: str = "C",
        filters: Any = None,
        dimension_separator: str | None = None,
        zarr_format: int | str = 2,
        attributes: Mapping[str, Any] | None = None,
        overwrite: bool = False,
        write_empty_chunks: bool = False,
        context: NodeContext | None = None,
    ) -> AsyncArray:
        """Create an array at ``path``; parent groups are created as needed.

        Metadata is validated before anything is touched; ``overwrite=True`` then
        deletes whatever was at ``path`` (array or group) before writing.
        """
        path = normalize_path(path)
        context = context or NodeContext()
        if store.read_only:
            raise ReadOnlyError(f"cannot create an array at {path!r}: {store.name} is read-only", key=path)
        meta = build_array_metadata(
            zarr_format,
            shape=shape,
            chunks=chunks,
            dtype=dtype,
            compressor=compressor,
            fill_value=fill_value,
            order=order,
            filters=filters,
            dimension_separator=dimension_separator,
        )
        pipeline = pipeline_for(meta)  # validates the codec configurations before anything is written
        attrs = dict(attributes or {})
        docs = meta.to_documents(attrs)
        existing = classify(await context.read_documents(store, path), path)
        if existing is not None:
            if not overwrite:
                err = ContainsArrayError if existing[0] == "array" else ContainsGroupError
                raise err(f"{existing[0]} already exists at path {path!r} in {store.name}")
            await delete_node(store, path, context)
        await ensure_parents(store, path, zarr_format, context)
        await context.write_documents(store, path, docs)
        arr = cls(store, path, meta, attrs, write_empty_chunks=write_empty_chunks, context=context)
        arr._pipeline = pipeline
        return arr

    # --- properties ---------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return self.metadata.shape

    @property
    def chunks(self) -> tuple[int, ...]:
        """The chunk shape."""
        return self.metadata.chunks

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
        """The compressor as a numcodecs codec (or None)."""
        cfg = getattr(self.metadata, "compressor", None)
        if cfg is None:
            return None
        from azarr.codecs.numcodecs_compat import get_numcodec

        return get_numcodec(cfg, "compressor")

    @property
    def filters(self) -> list[Any] | None:
        """The filters as numcodecs codecs (or None)."""
        cfgs = getattr(self.metadata, "filters", None)
        if not cfgs:
            return None
        from azarr.codecs.numcodecs_compat import get_numcodec

        return [get_numcodec(c, "filter") for c in cfgs]

    @property
    def zarr_format(self) -> Any:
        """2 for Zarr v2, "n5" for N5."""
        return format_of(self.metadata)

    @property
    def name(self) -> str:
        """The array's path with a leading slash (as zarr-python)."""
        return "/" + self.path

    @property
    def basename(self) -> str:
        """Last component of the path."""
        return self.path.rpartition("/")[2]

    @property
    def attrs(self) -> Mapping[str, Any]:
        """The array's attributes, read-only (change them with :meth:`update_attributes`,
        which writes them to the store; item assignment here would be lost, so it raises)."""
        return MappingProxyType(dict(self._attrs))

    def __repr__(self) -> str:
        return f"<AsyncArray {self.name} shape={self.shape} dtype={self.dtype} store={self.store.name}>"

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(f"array {self.name} in {self.store.name} is read-only", key=self.path)

    def chunk_key(self, coords: tuple[int, ...]) -> str:
        """The store key of chunk ``coords``."""
        return doc_key(self.path, self.metadata.chunk_key(coords))

    # --- attributes -----------------------------------------------------------------------

    async def refresh(self) -> None:
        """Re-read metadata and attributes from the store."""
        fresh = await AsyncArray.open(self.store, self.path, context=self.context)
        self.metadata, self._attrs = fresh.metadata, fresh._attrs

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

    async def _read(self, indexer: Any) -> Any:
        meta = self.metadata
        projections = list(indexer)
        fill = _fill_scalar(meta)
        pipeline = self.codec_pipeline
        extent = self._extent
        out = np.empty(indexer.buffer_shape, dtype=meta.dtype)
        keys = [self.chunk_key(p.chunk_coords) for p in projections]
        check = self._stale_check_key() if keys else None

        def decode_into(items: list[Any]) -> None:
            for key, data, p in items:
                chunk = decode_chunk(pipeline, data, extent(p.chunk_coords), key)
                out[p.out_selection] = chunk[p.chunk_selection]

        early = _EarlyDecoder.for_read(decode_into, keys, projections, self.store)
        try:
            found: dict[str, bytes] = {}
            if keys:
                stream = {"on_value": early.add} if early is not None else {}
                found = await self.store.get_many(keys + [check] if check else keys, **stream)
            if check:
                self._verify_not_stale(check, found.pop(check, None))
            if early is not None:
                await early.finish()
        except BaseException:
            if early is not None:
                await early.abandon()
            raise
        work = []
        nbytes = 0
        for key, p in zip(keys, projections):
            data = found.get(key)
            if data is None:
                out[p.out_selection] = fill
            elif early is None or key in early.by_key:  # not decoded early
                work.append((key, data, p))
                nbytes += len(data)

        await _run_cpu(work, decode_into, nbytes if _compressed(pipeline) else 0)
        result = out.reshape(indexer.shape)
        if result.ndim == 0:
            return result[()]
        return result

    def _stale_check_key(self) -> str | None:
        # Opened from consolidated metadata: the array's own metadata rides along with the
        # first chunk batch (no extra round trip), so a stale .zmetadata cannot yield wrong data.
        view = self.context.consolidated
        if view is None or self.path in view.validated or view.documents(self.path, ()) is None:
            return None
        return doc_key(self.path, self.metadata.metadata_key)

    def _verify_not_stale(self, key: str, actual: bytes | None) -> None:
        from azarr.errors import ConsolidatedMetadataError

        view = self.context.consolidated
        assert view is not None
        if actual is None:
            raise ArrayNotFoundError(
                f"consolidated metadata in {self.store.name} names array {self.name}, but its "
                f"metadata {key!r} is gone (stale .zmetadata; re-run consolidate_metadata)"
            )
        try:
            current = self.metadata.from_json(actual, key) if hasattr(self.metadata, "from_json") else None
        except MetadataError:
            current = None
        if current is not None and current.to_dict() != self.metadata.to_dict():
            raise ConsolidatedMetadataError(
                f"consolidated metadata for array {self.name} in {self.store.name} is stale: {key!r} "
                "has changed since .zmetadata was written (re-run consolidate_metadata)"
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

    def _prepare_value(self, indexer: Any, value: Any) -> np.ndarray:
        meta = self.metadata
        arr = np.asarray(value, dtype=meta.dtype) if meta.dtype.kind != "O" else np.asarray(value, dtype=object)
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
        meta = self.metadata
        try:
            values = self._prepare_value(indexer, value)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ShapeMismatchError):
                raise
            raise ShapeMismatchError(f"cannot convert value to {meta.dtype} for array {self.name}: {exc}") from None
        projections = list(indexer)
        if not projections:
            return
        fill = _fill_scalar(meta)
        keys = [self.chunk_key(p.chunk_coords) for p in projections]
        partial_keys = [k for k, p in zip(keys, projections) if not p.is_complete_chunk]
        existing = await self.store.get_many(partial_keys) if partial_keys else {}
        skip_empty = not self.write_empty_chunks
        chunk_shape = meta.chunks
        pipeline = self.codec_pipeline
        extent = self._extent

        def build(items: list[tuple[str, Any]]) -> tuple[dict[str, bytes], list[str]]:
            to_set: dict[str, bytes] = {}
            to_delete: list[str] = []
            for key, p in items:
                old = existing.get(key)
                if old is not None:
                    chunk = np.array(decode_chunk(pipeline, old, extent(p.chunk_coords), key), copy=True)
                elif p.is_complete_chunk and _covers_whole(p.chunk_selection, chunk_shape):
                    chunk = np.empty(chunk_shape, dtype=meta.dtype, order=meta.order)
                else:
                    chunk = np.full(chunk_shape, fill, dtype=meta.dtype, order=meta.order)
                chunk[p.chunk_selection] = values[p.out_selection]
                if skip_empty and _is_fill(chunk, fill):
                    to_delete.append(key)
                else:
                    to_set[key] = encode_chunk(pipeline, chunk, extent(p.chunk_coords), key)
            return to_set, to_delete

        work = list(zip(keys, projections))
        nbytes = len(projections) * math.prod(chunk_shape) * meta.dtype.itemsize
        if _streams_writes(meta, self.store, len(work), nbytes):
            to_delete = await _encode_while_sending(work, build, self.store)
        else:
            # everything is encoded before anything is written: a codec failure stores nothing
            to_set: dict[str, bytes] = {}
            to_delete = []

            def build_into(items: list[tuple[str, Any]]) -> None:
                done, dropped = build(items)
                to_set.update(done)
                to_delete.extend(dropped)

            await _run_cpu(work, build_into, nbytes)
            if to_set:
                await self.store.set_many(to_set)
        if to_delete:
            await self.store.delete_many(to_delete)

    # --- shape changes ------------------------------------------------------------------------

    async def resize(self, *shape: int | tuple[int, ...]) -> None:
        """Change the shape; chunks wholly outside the new shape are deleted."""
        self._check_writable()
        new_shape: tuple[Any, ...] = (
            tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
        )
        if len(new_shape) != self.ndim:
            raise ShapeMismatchError(f"resize of {self.name}: new shape {new_shape} must have {self.ndim} dimensions")
        old_meta = self.metadata
        new_meta = old_meta.with_shape(tuple(int(s) for s in new_shape))
        await self.context.write_documents(self.store, self.path, new_meta.to_documents(self._attrs))
        self.metadata = new_meta
        old_grid = old_meta.grid_shape if hasattr(old_meta, "grid_shape") else self.cdata_shape
        new_grid = self.cdata_shape
        if any(n < o for n, o in zip(new_grid, old_grid)):
            import itertools

            doomed = [
                self.chunk_key(c)
                for c in itertools.product(*(range(g) for g in old_grid))
                if any(ci >= ng for ci, ng in zip(c, new_grid))
            ]
            await self.store.delete_many(doomed)

    async def append(self, data: Any, axis: int = 0) -> tuple[int, ...]:
        """Append ``data`` along ``axis`` (growing the array) and return the new shape."""
        self._check_writable()
        data = np.asanyarray(data)
        if data.ndim != self.ndim:
            raise ShapeMismatchError(
                f"append to {self.name}: data has {data.ndim} dimensions, array has {self.ndim}"
            )
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
        """Count the chunks that are stored (lists the array's prefix)."""
        prefix = self.path + "/" if self.path else ""
        names = {self.metadata.chunk_key(c) for c in _all_coords(self.cdata_shape)}
        n = 0
        async for key in self.store.list_prefix(prefix):
            if key[len(prefix) :] in names:
                n += 1
        return n

    def info_items(self) -> list[tuple[str, str]]:
        """(label, value) rows describing the array, as shown by ``info``."""
        comp = getattr(self.metadata, "compressor", None) or getattr(self.metadata, "compression", None)
        return [
            ("Type", "azarr.Array"),
            ("Name", self.name),
            ("Format", str(self.zarr_format)),
            ("Data type", str(self.dtype)),
            ("Shape", str(self.shape)),
            ("Chunk shape", str(self.chunks)),
            ("Order", self.order),
            ("Fill value", _show_scalar(self.fill_value)),
            ("Compressor", repr(comp)),
            ("Filters", repr(getattr(self.metadata, "filters", None))),
            ("Store", self.store.name),
            ("No. bytes", str(self.nbytes)),
            ("Chunks", str(self.nchunks)),
            ("Read-only", str(self.read_only)),
        ]


def _all_coords(grid: tuple[int, ...]) -> Any:
    import itertools

    return itertools.product(*(range(g) for g in grid))


def _covers_whole(chunk_selection: Any, chunk_shape: tuple[int, ...]) -> bool:
    """True when the selection covers the full chunk (not just its in-bounds part)."""
    if not isinstance(chunk_selection, tuple) or len(chunk_selection) != len(chunk_shape):
        return False
    for sel, n in zip(chunk_selection, chunk_shape):
        if not isinstance(sel, slice):
            return False
        start, stop, step = sel.indices(n)
        if start != 0 or stop != n or step != 1:
            return False
    return True


def _compressed(pipeline: CodecPipeline) -> bool:
    """Whether chunks pass through real codec work (decoding then worth a thread)."""
    return bool(pipeline.bytes_bytes or pipeline.array_array) or pipeline.array_bytes.encoded_size(
        pipeline.spec
    ) is None


def build_array_metadata(zarr_format: int | str, **kwargs: Any) -> Any:
    """Build validated array metadata for the requested format (2 or "n5")."""
    if zarr_format in (2, "2"):
        return ArrayMetadataV2.create(
            kwargs.pop("shape"), kwargs.pop("chunks"), kwargs.pop("dtype"), **kwargs
        )
    if isinstance(zarr_format, str) and zarr_format.lower() == "n5":
        from azarr.meta.n5 import N5ArrayMetadata

        return N5ArrayMetadata.create(**kwargs)
    raise MetadataError(f"unsupported zarr_format {zarr_format!r} (use 2 or 'n5')")


def group_metadata_for(zarr_format: int | str, root: bool = False) -> Any:
    """Group metadata for the requested format."""
    if isinstance(zarr_format, str) and zarr_format.lower() == "n5":
        from azarr.meta.n5 import N5GroupMetadata

        return N5GroupMetadata.create(root=root) if hasattr(N5GroupMetadata, "create") else N5GroupMetadata()
    if zarr_format in (2, "2"):
        return GroupMetadataV2()
    raise MetadataError(f"unsupported zarr_format {zarr_format!r} (use 2 or 'n5')")


async def ensure_parents(store: Store, path: str, zarr_format: int | str, context: NodeContext) -> None:
    """Create missing parent groups of ``path`` (as zarr-python 2 does); arrays in the way are an error."""
    if not path:
        return
    parts = path.split("/")
    parents = ["/".join(parts[:i]) for i in range(len(parts))]
    docs = await asyncio.gather(*(context.read_documents(store, p) for p in parents))
    for parent, d in zip(parents, docs):
        node = classify(d, parent)
        if node is None:
            gmeta = group_metadata_for(zarr_format, root=parent == "")
            await context.write_documents(store, parent, gmeta.to_documents({}))
        elif node[0] == "array":
            raise ContainsArrayError(f"cannot create {path!r}: an array exists at parent path {parent!r}")


async def delete_node(store: Store, path: str, context: NodeContext) -> None:
    """Delete everything stored under ``path`` (the node and its descendants)."""
    if path:
        await store.delete_prefix(path + "/")
    else:
        await store.delete_prefix("")
    await context.forget(store, path)


__all__ = ["AsyncArray", "join_path"]
