"""Chunk I/O: the engine every format shares.

A selection's indexer yields one projection per touched chunk. A read fetches every
chunk key with ONE ``store.get_many`` call, decodes in the codec pool (as results arrive
when there are many) and scatters into the output. A write builds each touched chunk
(read-modify-write only for partially covered chunks, fetched with one ``get_many``),
encodes it, and stores it; big numeric writes to per-key stores send early chunks while
later ones are still being encoded. Chunks equal to the fill value are deleted instead of
written (``write_empty_chunks=False``), so nothing is stored for empty regions.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import os
import random
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from azarr.codecs import CodecPipeline
from azarr.codecs.pipeline import byte_view
from azarr.codecs.sharding import sole_sharding_codec
from azarr.core.cpu import INLINE_BYTES, codec_pool, prefault, run_cpu, scratch
from azarr.core.hierarchy import doc_key
from azarr.errors import CodecError, TooLargeError, WriteConflictError
from azarr.stores.base import Store

if TYPE_CHECKING:
    from azarr.core.shard_io import ShardIO, ShardReadOptions


def _named(exc: Exception, key: str, verb: str) -> CodecError:
    """``exc`` (raised while a codec worked on chunk ``key``) as a CodecError naming the key."""
    if isinstance(exc, CodecError):
        return CodecError(f"chunk {key!r}: {exc}", key=key)
    return CodecError(f"chunk {key!r} failed to {verb}: {type(exc).__name__}: {exc}", key=key)


def decode_chunk(pipeline: CodecPipeline, data: bytes, extent: tuple[int, ...] | None, key: str) -> np.ndarray:
    """Decode chunk ``key``; any failure becomes a CodecError naming the key."""
    try:
        return pipeline.decode(data, extent)
    except Exception as exc:
        if isinstance(exc, CodecError) and exc.key is not None:
            raise
        raise _named(exc, key, "decode") from exc


def encode_chunk(pipeline: CodecPipeline, chunk: np.ndarray, extent: tuple[int, ...] | None, key: str) -> bytes:
    """Encode chunk ``key``; any failure becomes a CodecError naming the key."""
    try:
        data = pipeline.encode(chunk, extent)
    except Exception as exc:
        if isinstance(exc, CodecError) and exc.key is not None:
            raise
        raise _named(exc, key, "encode") from exc
    return data if isinstance(data, bytes) else memoryview(data).tobytes()  # type: ignore[arg-type]


def fill_scalar(metadata: Any) -> Any:
    """The value unwritten elements read as: the fill value; with none (a Zarr v2 ``null``),
    NaT for datetimes and timedeltas (as zarr-python 3 reads them), zero otherwise."""
    fv = metadata.fill_value
    if fv is None:
        if metadata.dtype.kind == "O":
            return None
        if metadata.dtype.kind in "Mm":
            return np.array("NaT", dtype=metadata.dtype)[()]
        return np.zeros((), metadata.dtype)[()]
    return fv


def is_fill(chunk: np.ndarray, fill: Any) -> bool:
    """Whether every element of ``chunk`` equals the fill value (NaN and NaT included)."""
    if fill is None:
        return False
    if chunk.size and not _same(chunk.flat[0], fill, chunk.dtype.kind):
        return False  # most chunks that are not fill differ at once: no full comparison
    if chunk.dtype.kind == "O":
        return all(v == fill for v in chunk.flat)
    if chunk.dtype.kind in "fc" and np.isnan(fill):
        return bool(np.all(np.isnan(chunk)))
    if chunk.dtype.kind in "Mm" and np.isnat(fill):
        return bool(np.all(np.isnat(chunk)))
    return bool(np.all(chunk == fill))


def fill_mask(chunks: np.ndarray, fill: Any) -> np.ndarray:
    """Per chunk of a stack ``(n, *chunk_shape)`` (not object dtype): whether it is all fill (as :func:`is_fill`)."""
    flat = chunks.reshape(len(chunks), -1)
    if fill is None:
        return np.zeros(len(chunks), dtype=bool)
    if not flat.shape[1]:
        return np.ones(len(chunks), dtype=bool)  # as is_fill: an empty chunk holds nothing but fill
    kind = chunks.dtype.kind
    if kind in "fc" and np.isnan(fill):
        return np.isnan(flat).all(axis=1)  # type: ignore[no-any-return]
    if kind in "Mm" and np.isnat(fill):
        return np.isnat(flat).all(axis=1)  # type: ignore[no-any-return]
    maybe = flat[:, 0] == fill  # most chunks that are not fill differ at once
    mask = np.zeros(len(chunks), dtype=bool)
    rows = np.flatnonzero(maybe)
    if len(rows):
        mask[rows] = (flat[rows] == fill).all(axis=1)
    return mask


def _same(value: Any, fill: Any, kind: str) -> bool:
    """Whether one element equals the fill value, NaN and NaT equal to themselves."""
    if kind in "fc":
        return bool(value == fill) or bool(np.isnan(value) and np.isnan(fill))
    if kind in "Mm":
        return bool(value == fill) or bool(np.isnat(value) and np.isnat(fill))
    return bool(value == fill)


def covers_whole(chunk_selection: Any, chunk_shape: tuple[int, ...]) -> bool:
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


def does_codec_work(pipeline: CodecPipeline) -> bool:
    """Whether chunks pass through real codec work (decoding is then worth a thread)."""
    return bool(pipeline.bytes_bytes or pipeline.array_array) or pipeline.array_bytes.encoded_size(
        pipeline.spec
    ) is None


# --- reads: decode while the rest arrive -----------------------------------------------------

# Reads of at least this many chunks decode while the rest are still arriving.
_EARLY_MIN = 16
_EARLY_BATCH = 32
#: a batch goes to the codec pool at this many bytes even if it holds fewer chunks
_EARLY_BATCH_BYTES = 2 << 20
#: undecoded bytes a read may hold before its requests wait for the decoders to catch up
EARLY_BACKLOG = 16 << 20


class _EarlyDecoder:
    """Decodes chunks in the codec pool as ``get_many`` delivers them (``on_value``).

    On an object store a big read arrives in waves ~100 ms apart; decoding each wave
    while the next is in flight removes the decode tail after the last response. The
    values are not kept (``get_many(collect=False)``): what was decoded is dropped, and
    when more than :data:`EARLY_BACKLOG` bytes wait for the decoders, ``add`` returns a
    future the store awaits before its next request, so a read holds the output plus what
    is in flight, never every chunk it fetched. Used only with a store whose ``get_many``
    is the base implementation (a wrapper that overrides it may not accept ``on_value``).
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
        self.by_key = by_key  # what is left here was never delivered: missing chunks
        self.batch: list[Any] = []
        self.batch_bytes = 0
        self.pending = 0  # bytes handed over and not decoded yet
        self.room: asyncio.Future[None] | None = None
        self.futures: list[asyncio.Future[None]] = []

    def add(self, key: str, data: bytes) -> asyncio.Future[None] | None:
        p = self.by_key.pop(key, None)
        if p is None:
            return None
        n = len(data)
        self.batch.append((key, data, p))
        self.batch_bytes += n
        self.pending += n
        if len(self.batch) >= _EARLY_BATCH or self.batch_bytes >= _EARLY_BATCH_BYTES:
            self._flush()
        if self.pending <= EARLY_BACKLOG:
            return None
        self._flush()  # what the reads wait for must be on its way to the decoders
        if self.room is None:
            self.room = asyncio.get_running_loop().create_future()
        return self.room

    def _flush(self) -> None:
        if self.batch:
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(codec_pool(), self.decode, self.batch)
            fut.add_done_callback(functools.partial(self._decoded, self.batch_bytes))
            self.futures.append(fut)
            self.batch, self.batch_bytes = [], 0

    def _decoded(self, nbytes: int, fut: asyncio.Future[None]) -> None:
        self.pending -= nbytes
        room = self.room
        failed = fut.cancelled() or fut.exception() is not None
        if room is not None and (self.pending <= EARLY_BACKLOG or failed):
            self.room = None
            if not room.done():
                room.set_result(None)  # a failure is raised by finish(); the reads must not wait for it

    async def finish(self) -> None:
        self._flush()
        await asyncio.gather(*self.futures)

    async def abandon(self) -> None:
        await asyncio.gather(*self.futures, return_exceptions=True)


def whole_chunk_view(out: np.ndarray, p: Any, chunk_shape: tuple[int, ...]) -> np.ndarray | None:
    """The view of ``out`` that chunk ``p`` fills entirely, if the selection takes the whole
    chunk through plain slices (the chunk can then be decoded straight into it)."""
    sel = p.out_selection
    if not p.is_complete_chunk or type(sel) is not tuple or len(sel) != out.ndim:
        return None
    if not all(type(s) is slice for s in sel) or not covers_whole(p.chunk_selection, chunk_shape):
        return None
    dest = out[sel]
    return dest if type(dest) is np.ndarray and dest.shape == chunk_shape else None


def decode_chunk_into(pipeline: CodecPipeline, data: Any, dest: np.ndarray, key: str) -> bool:
    """:meth:`CodecPipeline.decode_into` with failures as a CodecError naming the key."""
    try:
        return pipeline.decode_into(data, dest)
    except Exception as exc:
        if isinstance(exc, CodecError) and exc.key is not None:
            raise
        raise _named(exc, key, "decode") from exc


#: per codec thread: the buffer local chunk files are read into (kept only up to this size)
_SCRATCH_MAX = 16 << 20
_scratch = threading.local()


# --- writes: send early chunks while later ones encode ----------------------------------------

# Writes of at least this many chunks send early chunks while later ones are encoded.
STREAM_MIN = 64
_STREAM_BATCH = 32


def _streams_writes(pipeline: CodecPipeline, dtype: np.dtype, store: Store, chunks: int, nbytes: int) -> bool:
    """Whether a write may overlap encoding with sending.

    Only where a codec cannot fail on one chunk after accepting another: numeric data
    through bytes->bytes codecs alone (no filters, no object dtype). The first batch is
    still encoded before anything is sent, so a codec that rejects the array stores
    nothing. Stores with a native batch write (Redis, MongoDB, SQLite) already send a
    few requests for the whole write, so they keep the encode-then-send path.
    """
    return (
        chunks >= STREAM_MIN
        and nbytes >= INLINE_BYTES
        and dtype.kind != "O"
        and not pipeline.content_can_fail
        and store._set_batch is None
        and type(store).set_many is Store.set_many
    )


async def _encode_while_sending(
    work: list[Any],
    build: Callable[[list[Any]], tuple[dict[str, bytes], list[str]]],
    store: Store,
    batch_size: int = _STREAM_BATCH,
) -> list[str]:
    """Encode ``work`` in the codec pool in batches and send each chunk as soon as it is ready.

    On an object store the encode of a big write would otherwise all happen before the
    first PUT. At most ``concurrency`` sender tasks pull encoded chunks from one queue (a
    task per chunk, or senders queued on the store's semaphore, cost more loop time than
    the PUTs). ``work`` is encoded ``batch_size`` items per pool task (a sharded write
    passes fewer: each item is a whole shard). Returns the keys to delete (chunks equal
    to the fill value). The first failure stops everything pending.
    """
    loop = asyncio.get_running_loop()
    pool = codec_pool()
    batches = [work[i : i + batch_size] for i in range(0, len(work), batch_size)]
    # every batch starts encoding at once (the pool's threads all work); nothing is sent before
    # the first batch is encoded, so a codec that rejects the array still stores nothing
    first = loop.run_in_executor(pool, build, batches[0])
    encodes = [loop.run_in_executor(pool, build, b) for b in batches[1:]]
    try:
        first_set, to_delete = await first
    except BaseException:
        for fut in encodes:
            fut.cancel()
        await asyncio.gather(*encodes, return_exceptions=True)
        raise
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


# --- the engine -----------------------------------------------------------------------------------

#: chunks planned and fetched per wave: a selection over millions of chunks holds one wave's plan
WAVE = 1 << 16
#: rounds of read-merge-write a partial chunk gets against concurrent writers before giving up
CAS_ATTEMPTS = 12


@functools.cache
def _memory_limit() -> int:
    """Physical memory of this machine (no single array may need more); asked once."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not on Linux/macOS
        return 1 << 62


def allocate(
    shape: tuple[int, ...], dtype: np.dtype, what: str, *, fill: Any = None, order: Any = "C"
) -> np.ndarray:
    """``np.empty`` (or ``np.full`` with ``fill``), or a :class:`TooLargeError` naming ``what``
    and the size when it cannot fit in memory — checked before anything is allocated."""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > _memory_limit():
        raise TooLargeError(
            f"{what}: {nbytes:,} bytes (shape {shape}, {dtype}) do not fit in this machine's memory; "
            "read a smaller selection"
        )
    try:
        if fill is None:
            return np.empty(shape, dtype=dtype, order=order)
        return np.full(shape, fill, dtype=dtype, order=order)
    except (MemoryError, ValueError) as exc:
        raise TooLargeError(f"{what}: cannot allocate {nbytes:,} bytes (shape {shape}, {dtype}): {exc}") from None


class ChunkIO:
    """Reads and writes the chunks of one array (store + path + metadata + pipeline)."""

    def __init__(
        self,
        store: Store,
        path: str,
        metadata: Any,
        pipeline: CodecPipeline,
        *,
        write_empty_chunks: bool = False,
        shard_options: ShardReadOptions | None = None,
    ) -> None:
        self.store = store
        self.path = path
        self.metadata = metadata
        self.pipeline = pipeline
        self.write_empty_chunks = write_empty_chunks
        self.chunk_shape: tuple[int, ...] = tuple(metadata.chunks)
        self.dtype: np.dtype = metadata.dtype
        self.fill = fill_scalar(metadata)
        self._chunk_key = metadata.chunk_key
        self._prefix = path + "/" if path else ""
        self.name = f"array /{path} in {store.name}"
        # an array whose only codec is sharding is read by planned byte ranges of its
        # shards, and its selections are indexed on the inner chunk grid
        sharding = sole_sharding_codec(pipeline)
        self.shards: ShardIO | None = None
        #: the chunk grid selections are indexed on (the inner chunks of a sharded array)
        self.grid: tuple[int, ...] = self.chunk_shape
        if sharding is not None:
            from azarr.core.shard_io import ShardIO

            self.shards = ShardIO(self, sharding, shard_options)
            self.grid = sharding.chunk_shape

    def key(self, coords: tuple[int, ...]) -> str:
        """The store key of chunk ``coords``."""
        return self._prefix + self._chunk_key(coords)

    def extent(self, coords: tuple[int, ...]) -> tuple[int, ...] | None:
        """The in-bounds shape of chunk ``coords`` where the format stores edges truncated."""
        if not self.pipeline.truncates_edges:
            return None
        return tuple(min(c, s - i * c) for i, c, s in zip(coords, self.chunk_shape, self.metadata.shape))

    # --- reading ---------------------------------------------------------------------------

    async def read(
        self,
        indexer: Any,
        extra_keys: Iterable[str] = (),
        verify: Callable[[dict[str, bytes]], None] | None = None,
    ) -> Any:
        """Read the selection.

        The output is allocated first (a selection that cannot fit fails at once), then the
        touched chunks are planned, fetched and decoded in waves of :data:`WAVE` chunks.
        ``extra_keys`` ride along in the first wave's batched request (e.g. the array's
        metadata, to check consolidated metadata for staleness); ``verify({key: value})``
        sees them before any chunk is decoded and may raise. ``indexer`` is on :attr:`grid`.
        """
        if self.shards is not None:
            return await self.shards.read(indexer, extra_keys, verify)
        out = allocate(tuple(indexer.buffer_shape), self.dtype, f"selection of {self.name}")
        if not self.store.reads_sync():
            prefault(out)  # mapped while the first wave is in flight
        projections = iter(indexer)
        extra = list(extra_keys)
        while wave := list(itertools.islice(projections, WAVE)):
            await self._read_wave(wave, out, extra, verify)
            extra, verify = [], None
        result = out.reshape(indexer.shape)
        if result.ndim == 0:
            return result[()]
        return result

    def _decoder(self, out: np.ndarray) -> Callable[[list[Any]], None]:
        """A function decoding ``[(key, data, projection), ...]`` into ``out``: straight into it
        where a chunk fills a contiguous part of it and the codecs allow; else, where the codecs
        allow, into this thread's scratch chunk and copied from there (no chunk allocated per
        chunk, no codec layers between: a 64² chunk of a 2048² read is a strided block of the
        output); else through a decoded chunk that is then copied."""
        pipeline = self.pipeline
        extent = self.extent
        chunk_shape = self.chunk_shape
        into = pipeline.decodes_into
        dtype = self.dtype
        fortran = pipeline.into_order == "F"

        def decode_into(items: list[Any]) -> None:
            tmp = None
            for key, data, p in items:
                if into:
                    dest = whole_chunk_view(out, p, chunk_shape)
                    if dest is not None and (dest.flags.f_contiguous if fortran else dest.flags.c_contiguous):
                        if decode_chunk_into(pipeline, data, dest, key):
                            continue
                    else:
                        if tmp is None:
                            tmp = scratch(chunk_shape[::-1], dtype).T if fortran else scratch(chunk_shape, dtype)
                        if decode_chunk_into(pipeline, data, tmp, key):
                            if dest is not None:
                                dest[...] = tmp
                            else:
                                out[p.out_selection] = tmp[p.chunk_selection]
                            continue
                chunk = decode_chunk(pipeline, data, extent(p.chunk_coords), key)
                out[p.out_selection] = chunk[p.chunk_selection]

        return decode_into

    async def _read_wave(
        self,
        projections: list[Any],
        out: np.ndarray,
        extra: list[str],
        verify: Callable[[dict[str, bytes]], None] | None,
    ) -> None:
        store = self.store
        fill = self.fill
        keys = [self.key(p.chunk_coords) for p in projections]
        if store.reads_sync():
            await self._read_in_threads(keys, projections, out, extra, verify)
            return
        decode_into = self._decoder(out)
        # with something to verify first, nothing is decoded before it is verified
        early = None if verify is not None else _EarlyDecoder.for_read(decode_into, keys, projections, store)
        if early is not None:
            try:
                await store.get_many(keys + extra, on_value=early.add, collect=False)
                await early.finish()
            except BaseException:
                await early.abandon()
                raise
            for p in early.by_key.values():  # never delivered: not stored
                out[p.out_selection] = fill
            return
        found = await store.get_many(keys + extra)
        extras = {k: v for k in extra if (v := found.pop(k, None)) is not None}
        if verify is not None:
            verify(extras)
        work = []
        nbytes = 0
        for key, p in zip(keys, projections):
            data = found.get(key)
            if data is None:
                out[p.out_selection] = fill
            else:
                work.append((key, data, p))
                nbytes += len(data)
        await run_cpu(work, decode_into, nbytes if does_codec_work(self.pipeline) else 0)

    async def _read_in_threads(
        self,
        keys: list[str],
        projections: list[Any],
        out: np.ndarray,
        extra: list[str],
        verify: Callable[[dict[str, bytes]], None] | None,
    ) -> None:
        """Read a wave from a store with local reads (memory, files): each chunk is read in the
        codec thread that decodes it, so no read bytes wait anywhere (peak memory: the output);
        files are read with ``readinto``, raw chunks straight into the output where they fill
        a contiguous part of it, others into a buffer each thread reuses."""
        store = self.store
        if extra or verify is not None:
            extras = await store.get_many(extra) if extra else {}
            if verify is not None:
                verify(extras)
        fill = self.fill
        decode_into = self._decoder(out)
        pipeline = self.pipeline
        # the stored bytes are the elements, in this order: a file can be read into the output
        raw = pipeline.into_order if not pipeline.bytes_bytes else None
        chunk_shape = self.chunk_shape
        buffered = store.sync_reads_block  # files are read into buffers; memory is not copied at all

        def read(items: list[tuple[str, Any]]) -> None:
            buf: bytearray | None = getattr(_scratch, "buf", None) if buffered else None
            for key, p in items:
                if raw is not None and buffered:
                    dest = whole_chunk_view(out, p, chunk_shape)
                    if dest is not None and dest.dtype == pipeline.spec.dtype and (
                        dest.flags.c_contiguous if raw == "C" else dest.flags.f_contiguous
                    ):
                        target = byte_view(dest if raw == "C" else dest.T)
                        data = store.read_sync(key, target)
                        if data is None:
                            out[p.out_selection] = fill
                        elif not (isinstance(data, memoryview) and len(data) == len(target)):
                            decode_into([(key, data, p)])  # not the chunk's size: reported as such
                        continue
                data = store.read_sync(key, buf)
                if data is None:
                    out[p.out_selection] = fill
                    continue
                decode_into([(key, data, p)])
                if buffered and not isinstance(data, memoryview) and len(buf or b"") < len(data) <= _SCRATCH_MAX:
                    buf = _scratch.buf = bytearray(len(data))  # the next chunk of this size fits
                del data

        work = list(zip(keys, projections))
        nbytes = len(work) * math.prod(chunk_shape) * self.dtype.itemsize
        if buffered:  # file reads may block: never on the event loop
            loop = asyncio.get_running_loop()
            pool = codec_pool()
            groups = [work[i :: pool._max_workers] for i in range(min(pool._max_workers, len(work)))]
            await asyncio.gather(*(loop.run_in_executor(pool, read, g) for g in groups))
        else:
            await run_cpu(work, read, nbytes)

    # --- writing ---------------------------------------------------------------------------

    async def write(self, indexer: Any, values: np.ndarray) -> None:
        """Write ``values`` (already shaped as ``indexer.buffer_shape``) into the selection, in
        waves of :data:`WAVE` chunks.

        Chunks the selection covers whole are encoded and stored (no read). Chunks it covers
        in part are read, merged and written back; where the store can compare-and-swap,
        the write-back is conditional on the chunk being unchanged since the read, and a
        chunk another writer changed meanwhile is merged again from its new bytes (so two
        writers of disjoint regions that share a chunk both land), up to
        :data:`CAS_ATTEMPTS` rounds, then :class:`~azarr.errors.WriteConflictError`.
        ``indexer`` is on :attr:`grid`.
        """
        if self.shards is not None:
            await self.shards.write(indexer, values)
            return
        projections = iter(indexer)
        while wave := list(itertools.islice(projections, WAVE)):
            await self._write_wave(wave, values)

    def _builder(
        self, values: np.ndarray, existing: Mapping[str, bytes | None]
    ) -> Callable[[list[tuple[str, Any]]], tuple[dict[str, bytes], list[str]]]:
        """A function building, merging and encoding chunks: items -> (to store, to delete)."""
        fill = self.fill
        skip_empty = not self.write_empty_chunks
        chunk_shape = self.chunk_shape
        dtype = self.dtype
        order = self.metadata.order
        pipeline = self.pipeline
        extent = self.extent
        name = self.name

        def build(items: list[tuple[str, Any]]) -> tuple[dict[str, bytes], list[str]]:
            to_set: dict[str, bytes] = {}
            to_delete: list[str] = []
            for key, p in items:
                old = existing.get(key)
                if old is not None:
                    chunk = np.array(decode_chunk(pipeline, old, extent(p.chunk_coords), key), copy=True)
                    chunk[p.chunk_selection] = values[p.out_selection]
                elif p.is_complete_chunk and covers_whole(p.chunk_selection, chunk_shape):
                    src = values[p.out_selection]
                    # object codecs (VLen*, JSON, MsgPack) take typed memoryviews, which refuse the
                    # read-only arrays callers may pass: object chunks are always copied
                    if (type(src) is np.ndarray and src.shape == chunk_shape and src.dtype == dtype
                            and not dtype.hasobject
                            and (src.flags.f_contiguous if order == "F" else src.flags.c_contiguous)):
                        chunk = src  # a contiguous block of the caller's array: encoded from it, not a copy
                    else:
                        chunk = allocate(chunk_shape, dtype, f"chunk {key!r} of {name}", order=order)
                        chunk[...] = src
                else:
                    chunk = allocate(chunk_shape, dtype, f"chunk {key!r} of {name}", fill=fill, order=order)
                    chunk[p.chunk_selection] = values[p.out_selection]
                if skip_empty and is_fill(chunk, fill):
                    to_delete.append(key)
                else:
                    to_set[key] = encode_chunk(pipeline, chunk, extent(p.chunk_coords), key)
            return to_set, to_delete

        return build

    async def _write_wave(self, projections: list[Any], values: np.ndarray) -> None:
        store = self.store
        keys = [self.key(p.chunk_coords) for p in projections]
        work = list(zip(keys, projections))
        partial = [(k, p) for k, p in work if not p.is_complete_chunk]
        if partial and store.supports_conditional_writes:
            # whole chunks are plain writes; chunks shared with other writers are compare-and-swap
            await self._write_plain([(k, p) for k, p in work if p.is_complete_chunk], values, {})
            await self._write_conditional(partial, values)
            return
        existing = await store.get_many([k for k, _ in partial]) if partial else {}
        await self._write_plain(work, values, existing)

    async def _write_plain(self, work: list[tuple[str, Any]], values: np.ndarray, existing: Mapping[str, bytes]) -> None:
        if not work:
            return
        build = self._builder(values, existing)
        nbytes = len(work) * math.prod(self.chunk_shape) * self.dtype.itemsize
        if _streams_writes(self.pipeline, self.dtype, self.store, len(work), nbytes):
            to_delete = await _encode_while_sending(work, build, self.store)
        else:
            # everything is encoded before anything is written: a codec failure stores nothing
            to_set: dict[str, bytes] = {}
            to_delete = []

            def build_into(items: list[tuple[str, Any]]) -> None:
                done, dropped = build(items)
                to_set.update(done)
                to_delete.extend(dropped)

            await run_cpu(work, build_into, nbytes)
            if to_set:
                await self.store.set_many(to_set)
        if to_delete:
            await self.store.delete_many(to_delete)

    async def _write_conditional(self, work: list[tuple[str, Any]], values: np.ndarray) -> None:
        items = dict(work)

        async def build_round(keys: list[str], current: dict[str, Any]) -> dict[str, bytes | None]:
            return await build_objects(
                self._builder(values, {k: v.data for k, v in current.items()}),
                [(k, items[k]) for k in keys],
                len(keys) * math.prod(self.chunk_shape) * self.dtype.itemsize,
            )

        await read_merge_write(self.store, list(items), build_round, f"chunk of {self.name}")


async def build_objects(
    build: Callable[[list[Any]], tuple[dict[str, bytes], list[str]]], items: list[Any], nbytes: int
) -> dict[str, bytes | None]:
    """Run ``build`` over ``items`` in the codec pool: ``{key: bytes to store, or None to delete}``."""
    out: dict[str, bytes | None] = {}

    def build_into(batch: list[Any]) -> None:
        done, dropped = build(batch)
        out.update(done)
        out.update(dict.fromkeys(dropped))

    await run_cpu(items, build_into, nbytes)
    return out


async def read_merge_write(
    store: Store,
    keys: list[str],
    build_round: Callable[[list[str], dict[str, Any]], Awaitable[dict[str, bytes | None]]],
    what: str,
    on_round: Callable[[dict[str, bytes | None], set[str]], None] | None = None,
) -> None:
    """Compare-and-swap rounds over ``keys``: read them with versions, let ``build_round(keys,
    {key: Versioned})`` merge (``{key: new bytes, or None to delete}``), write each back only if
    unchanged, and redo the keys another writer changed meanwhile — up to :data:`CAS_ATTEMPTS`
    rounds, then :class:`WriteConflictError` naming the key. ``on_round(built, conflicts)`` sees
    each round's outcome (e.g. to update caches)."""
    pending = list(keys)
    for attempt in range(CAS_ATTEMPTS):
        current = await store.get_many_for_update(pending)
        built = await build_round(pending, current)
        writes = {k: (v, current[k].version) for k, v in built.items() if v is not None or current[k].exists}
        conflicts = await store.set_many_if(writes) if writes else set()
        if on_round is not None:
            on_round(built, conflicts)
        if not conflicts:
            return
        pending = [k for k in pending if k in conflicts]
        await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))  # let the other writer finish
    raise WriteConflictError(
        f"{store.name}: {what} {pending[0]!r} kept changing under {CAS_ATTEMPTS} rounds of read-merge-write "
        f"by other writers ({len(pending)} not written)",
        store=store.name,
        key=pending[0],
    )


def chunk_keys(path: str, metadata: Any, coords: Iterable[tuple[int, ...]]) -> list[str]:
    """Store keys of the chunks at ``coords`` of the array at ``path``."""
    return [doc_key(path, metadata.chunk_key(c)) for c in coords]


__all__ = [
    "CAS_ATTEMPTS",
    "STREAM_MIN",
    "WAVE",
    "ChunkIO",
    "allocate",
    "build_objects",
    "chunk_keys",
    "covers_whole",
    "decode_chunk",
    "does_codec_work",
    "encode_chunk",
    "fill_scalar",
    "is_fill",
    "read_merge_write",
    "whole_chunk_view",
]
