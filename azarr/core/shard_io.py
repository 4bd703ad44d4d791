"""Sharded arrays: reads planned as byte ranges, writes a whole shard per request.

Used by :class:`~azarr.core.chunk_io.ChunkIO` when an array's only codec is
``sharding_indexed`` (otherwise a shard is an ordinary chunk, read and written whole).
Selections are indexed on the INNER chunk grid; the inner chunks a selection touches
are grouped by shard.

**Reads** take at most two waves, each ONE ``store.get_ranges`` call for every touched
shard together:

1. per shard, whichever is cheapest: the whole shard (when at least ``whole_fraction`` of
   its inner chunks are needed — no index wait at all), its index alone (a suffix or
   prefix range), or, when the index is cached, the coalesced data ranges straight away
   plus the index again to prove the cached one is current;
2. the data ranges of the shards whose index arrived in wave 1 (and of any shard whose
   cached index turned out stale).

Nearby inner chunks of a shard are coalesced into one range (gaps up to
``coalesce_gap`` bytes, spans up to ``coalesce_max``). Inner chunks decode in the codec
pool as their ranges arrive. A missing shard or an empty index entry reads as the fill
value.

**The index cache** holds decoded indexes per array (LRU, ``index_cache_bytes``). A cached
index is only a guess of where the data is: every read that uses it fetches the index
again in the same wave and compares the bytes, so a shard rewritten by anyone else costs
one more wave, never stale or mixed data. Entries are replaced by what this array writes,
dropped when a shard is found missing or deleted, and the whole cache goes when the
array's metadata changes.

**Writes** group the touched inner chunks by shard. A shard the write covers entirely
is built from the new values and never read; the other shards are read whole (one
batched ``get_many``), their untouched inner chunks kept as stored bytes and the touched
ones merged, re-encoded, and the shard written back whole (read-merge-rewrite: a one-element
write into a stored shard costs a GET and a PUT of the whole shard). Each shard is one
PUT, sent while later shards are still encoding; a shard left with no stored inner chunk
is deleted.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from azarr._bufferpool import BufferPool
from azarr.codecs.sharding import MAX_UINT64, ShardingCodec
from azarr.core.chunk_io import (
    _encode_while_sending,
    allocate,
    build_objects,
    covers_whole,
    fill_mask,
    is_fill,
    read_merge_write,
)
from azarr.core.cpu import INLINE_BYTES, prefault, run_cpu, scratch
from azarr.core.shard_plan import DEFAULT_SHARD_OPTIONS, IndexCache, Shard, ShardReadOptions
from azarr.core.shard_read import ShardRead
from azarr.errors import CodecError
from azarr.stores.base import Store
from azarr.stores.ranges import ByteRange, Range, SuffixRange

#: Axes cut into more inner-chunk pieces than this are planned chunk by chunk (lazily).
_PLANNED_AXIS = 1 << 16


#: Buffers whole shards are assembled in for stores that send them without keeping them: a
#: multi-megabyte shard written into fresh memory paid a page fault per 4 KiB page (on this
#: kind of machine several microseconds each), every shard of every write. Shared by every
#: array in the process; a buffer returns to use once its PUT is done with it.
SHARD_BUFFERS = BufferPool(64 << 20)


class ShardIO:
    """Reads and writes the shards of one array whose only codec is ``sharding_indexed``."""

    def __init__(self, io: Any, codec: ShardingCodec, options: ShardReadOptions | None = None) -> None:
        self.io = io  # the ChunkIO: store, keys, fill value, dtype
        self.codec = codec
        self.options = options or DEFAULT_SHARD_OPTIONS
        self.cache = IndexCache(self.options.index_cache_bytes)
        self.inner = codec.inner_pipeline
        self.inner_shape: tuple[int, ...] = codec.chunk_shape
        self.per_shard: tuple[int, ...] = codec.chunks_per_shard
        self.shard_shape: tuple[int, ...] = tuple(io.chunk_shape)
        n = codec.index_nbytes
        self.index_range: Range = SuffixRange(n) if codec.index_location == "end" else ByteRange(0, n)

    def configure(self, options: ShardReadOptions) -> None:
        """Use ``options`` from now on (the cache keeps its entries, within the new bound)."""
        if options is self.options:
            return
        self.options = options
        self.cache.resize(options.index_cache_bytes)

    @property
    def store(self) -> Store:
        """The array's store."""
        return self.io.store  # type: ignore[no-any-return]

    # --- geometry ------------------------------------------------------------------------------

    def inner_in_bounds(self, shard: tuple[int, ...]) -> int:
        """How many of the shard's inner chunks hold elements inside the array."""
        count = 1
        for s, size, per, inner, extent in zip(
            shard, self.shard_shape, self.per_shard, self.inner_shape, self.io.metadata.shape
        ):
            count *= min(per, -(-(extent - s * size) // inner))
        return count

    def group(self, projections: list[Any]) -> dict[str, Shard]:
        """The projections (on the inner grid) grouped by the shard that holds them."""
        if not self.per_shard:  # 0-d: one shard holding one inner chunk
            return self._group_0d(projections)
        # vectorised: a full read of a big array has thousands of projections, and this runs
        # on the event loop before the first request goes out
        per = np.array(self.per_shard, dtype=np.int64)
        inner = np.array([p.chunk_coords for p in projections], dtype=np.int64).reshape(len(projections), -1)
        shard_coords = inner // per
        flats = np.ravel_multi_index(tuple((inner % per).T), self.per_shard).tolist()
        shards: dict[tuple[int, ...], Shard] = {}
        key = self.io.key
        for coords, flat, p in zip(map(tuple, shard_coords.tolist()), flats, projections):
            sh = shards.get(coords)
            if sh is None:
                sh = shards[coords] = Shard(key(coords), coords)
            sh.needed[flat] = p
        return {sh.key: sh for sh in shards.values()}

    def plan(self, indexer: Any, out: np.ndarray) -> dict[str, Shard]:
        """The shards a read of ``indexer`` into ``out`` (or a write of ``out``) touches, by key.

        A shard that a selection of plain slices covers whole (every inner chunk, all of it
        in bounds) gets its ``block`` of ``out`` and no per-inner-chunk projections: a full
        read or write of a big array plans one entry per shard, not thousands of inner
        chunks, on the event loop before its first request. The other shards' inner chunks
        are projected as :meth:`group` does.
        """
        axes = self._shard_axes(indexer)
        if axes is None:
            return self.group(list(indexer))
        shards: dict[str, Shard] = {}
        rest: list[Any] = []
        key = self.io.key
        for combo in itertools.product(*axes):
            if all(whole for _, _, whole in combo):
                coords = tuple(s for s, _, _ in combo)
                sh = Shard(key(coords), coords)
                sh.block = out[tuple(slice(pieces[0][2].start, pieces[-1][2].stop) for _, pieces, _ in combo)]
                sh.pieces = [pieces for _, pieces, _ in combo]
                shards[sh.key] = sh
            else:
                rest.extend(indexer.projections([pieces for _, pieces, _ in combo]))
        if rest:
            shards.update(self.group(rest))
        return shards

    def _shard_axes(self, indexer: Any) -> list[list[tuple[int, list[Any], bool]]] | None:
        """Per axis, the selection's inner-chunk pieces grouped by shard: ``(shard index,
        pieces, the shard's whole in-bounds extent along this axis)``; None when the selection
        is not plain slices, an axis is huge, or no shard is covered whole."""
        dims = getattr(indexer, "axis_pieces", None)
        if dims is None or not self.per_shard or any(d.count > _PLANNED_AXIS for d in dims):
            return None
        axes: list[list[tuple[int, list[Any], bool]]] = []
        for dim, per, shard, size in zip(dims, self.per_shard, self.shard_shape, self.io.metadata.shape):
            groups: dict[int, list[Any]] = {}
            for piece in dim:
                groups.setdefault(piece[0] // per, []).append(piece)
            axes.append([
                (s, pieces, (s + 1) * shard <= size and len(pieces) == per and all(p[3] for p in pieces))
                for s, pieces in groups.items()
            ])
        if not all(any(whole for _, _, whole in axis) for axis in axes):
            return None
        return axes

    def projections_of(self, indexer: Any, sh: Shard) -> None:
        """Give a planned whole shard (:meth:`plan`) its per-inner-chunk projections after all."""
        if sh.pieces is None:
            return
        for flat_sh in self.group(list(indexer.projections(sh.pieces))).values():
            sh.needed.update(flat_sh.needed)
        sh.block = sh.pieces = None

    def tiled_block(self, arr: np.ndarray, needed: dict[int, Any]) -> np.ndarray | None:
        """The block of ``arr`` that a shard's inner chunks tile exactly, if they do.

        ``needed`` maps every inner chunk of the shard (C-order number) to its projection;
        they tile a block when each is complete and selected by plain slices laid out as
        the shard's grid (a shard read or written whole through a basic selection). Such a
        shard moves between ``arr`` and its inner chunks in one strided copy.
        """
        inner_shape, codec = self.inner_shape, self.codec
        nd = len(inner_shape)
        if len(needed) != codec.inner_count or arr.ndim != nd or nd == 0:
            return None
        base: list[int] | None = None
        for flat, p in needed.items():
            sel = p.out_selection
            if not p.is_complete_chunk or type(sel) is not tuple or len(sel) != nd:
                return None
            for s, c in zip(sel, inner_shape):
                if type(s) is not slice or s.step not in (None, 1) or s.stop - s.start != c:
                    return None
            coords = codec.inner_coords(flat)
            if base is None:
                base = [sel[d].start - coords[d] * inner_shape[d] for d in range(nd)]
            elif any(sel[d].start != base[d] + coords[d] * inner_shape[d] for d in range(nd)):
                return None
        assert base is not None
        return arr[tuple(slice(b, b + n * c) for b, n, c in zip(base, self.per_shard, inner_shape))]

    def tiles_contiguously(self, block: np.ndarray) -> bool:
        """Whether each inner chunk of a tiled ``block`` is itself contiguous there, in C order
        (the shard's inner chunks are whole rows of the block, which is contiguous)."""
        return all(n == 1 for n in self.per_shard[1:]) and block.flags.c_contiguous

    def _grid_axes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The block's shape split per axis into (chunks, chunk) and the transpose between the layouts."""
        per, inner, nd = self.per_shard, self.inner_shape, len(self.inner_shape)
        split = tuple(x for d in range(nd) for x in (per[d], inner[d]))
        interleave = tuple(a for d in range(nd) for a in (d, nd + d))  # (n0, n1, .., c0, c1, ..) -> (n0, c0, ..)
        return split, interleave

    def tile(self, block: np.ndarray) -> np.ndarray:
        """A shard's block -> its inner chunks in C order, ``(inner_count, *inner_shape)``, one copy
        (into this thread's :func:`~azarr.core.cpu.scratch`: use it before the thread's next job)."""
        split, interleave = self._grid_axes()
        nd = len(self.inner_shape)
        back = tuple(interleave.index(a) for a in range(2 * nd))
        tiles = scratch((self.codec.inner_count, *self.inner_shape), block.dtype)
        tiles.reshape(tuple(split[a] for a in back))[...] = block.reshape(split).transpose(back)
        return tiles

    def untile(self, chunks: np.ndarray, block: np.ndarray) -> None:
        """Inner chunks in C order, ``(inner_count, *inner_shape)`` -> a shard's ``block`` of the output."""
        split, interleave = self._grid_axes()
        block.reshape(split)[...] = chunks.reshape(*self.per_shard, *self.inner_shape).transpose(interleave)

    def _group_0d(self, projections: list[Any]) -> dict[str, Shard]:
        sh = Shard(self.io.key(()), ())
        for p in projections:
            sh.needed[0] = p
        return {sh.key: sh}

    def _error(self, key: str, flat: int | None, exc: Exception, verb: str = "decode") -> CodecError:
        """``exc`` as a CodecError naming the shard key (and the inner chunk)."""
        where = (
            f"shard {key!r}"
            if flat is None
            else f"shard {key!r}, inner chunk {self.codec.inner_coords(flat)}"
        )
        if isinstance(exc, CodecError):
            return CodecError(f"{where}: {exc}", key=key)
        return CodecError(f"{where} failed to {verb}: {type(exc).__name__}: {exc}", key=key)

    # --- reading -------------------------------------------------------------------------------

    async def read(
        self,
        indexer: Any,
        extra_keys: Iterable[str] = (),
        verify: Callable[[dict[str, bytes]], None] | None = None,
    ) -> Any:
        """Read the selection (see the module docstring); ``extra_keys``/``verify`` as ChunkIO.read."""
        out = allocate(tuple(indexer.buffer_shape), self.io.dtype, f"selection of {self.io.name}")
        if not self.store.reads_sync():
            prefault(out)  # mapped while the first wave is in flight (as ChunkIO.read)
        shards = self.plan(indexer, out)
        if shards:
            await ShardRead(self, out, indexer, shards, list(extra_keys), verify).run()
        result = out.reshape(indexer.shape)
        if result.ndim == 0:
            return result[()]
        return result

    # --- writing -------------------------------------------------------------------------------

    async def write(self, indexer: Any, values: np.ndarray) -> None:
        """Write ``values`` (shaped as ``indexer.buffer_shape``) into the selection, a shard per PUT.

        A shard the selection covers whole is built from the values alone. A shard it covers
        in part is read, merged and rewritten; where the store can compare-and-swap, the
        rewrite is conditional on the shard being unchanged since the read, and a shard
        another writer changed meanwhile is merged again from its new bytes (bounded
        rounds, then :class:`~azarr.errors.WriteConflictError`), so writers of disjoint
        regions that share a shard both land.
        """
        shards = self.plan(indexer, values)
        if not shards:
            return
        if self.io.dtype.kind == "O" or values.dtype != self.io.dtype:
            for sh in shards.values():  # built inner chunk by inner chunk
                self.projections_of(indexer, sh)
        partial = {
            sh.key
            for sh in shards.values()
            if sh.block is None and len(sh.needed) < self.inner_in_bounds(sh.coords)
            or not all(p.is_complete_chunk for p in sh.needed.values())
        }
        store = self.store
        if partial and store.supports_conditional_writes:
            await self._write_shards([sh for sh in shards.values() if sh.key not in partial], values, {})
            await self._write_shards_conditional([sh for sh in shards.values() if sh.key in partial], values)
            return
        existing = await store.get_many(sorted(partial)) if partial else {}
        await self._write_shards(list(shards.values()), values, existing)

    def _builder(
        self,
        values: np.ndarray,
        existing: Mapping[str, bytes | None],
        new_indexes: dict[str, tuple[bytes, np.ndarray] | None],
        pooled: bool = False,
    ) -> Callable[[list[Shard]], tuple[dict[str, bytes], list[str]]]:
        """A function merging and encoding shards: shards -> (to store, to delete).

        ``pooled``: shards are assembled in reused buffers (:data:`SHARD_BUFFERS`), for a
        store that sends them without keeping them (:attr:`Store.sends_buffers`).
        """
        alloc = SHARD_BUFFERS.take if pooled else None
        codec, inner, inner_shape = self.codec, self.inner, self.inner_shape
        dtype, fill = self.io.dtype, self.io.fill
        skip_empty = not self.io.write_empty_chunks
        fast = dtype.kind != "O" and values.dtype == dtype

        def build_tiled(sh: Shard, block: np.ndarray) -> bytes | None:
            """A shard the values cover whole as a block: its inner chunks encode in one batch."""
            tiles = self.tile(block)
            keep = np.flatnonzero(~fill_mask(tiles, fill)) if skip_empty else np.arange(len(tiles))
            try:
                frames = inner.encode_batch(tiles[keep] if len(keep) != len(tiles) else tiles)
            except Exception:
                for flat in keep.tolist():  # find and name the inner chunk that fails
                    try:
                        inner.encode(tiles[flat])
                    except Exception as exc:
                        raise self._error(sh.key, flat, exc, "encode") from exc
                raise
            return finish(sh, dict(zip(keep.tolist(), frames)))

        def finish(sh: Shard, encoded: dict[int, Any]) -> bytes | None:
            built = codec.assemble(encoded, alloc)
            if built is None:
                new_indexes[sh.key] = None
                return None
            data, index, table = built
            new_indexes[sh.key] = (index, table)  # a dict store from a pool thread: atomic under the GIL
            return data  # type: ignore[return-value]  # a bytearray only for a store that sends buffers

        def build_shard(sh: Shard) -> bytes | None:
            encoded: dict[int, Any] = {}
            old = existing.get(sh.key)
            if old is None and fast:
                block = sh.block if sh.block is not None else self.tiled_block(values, sh.needed)
                if block is not None:
                    return build_tiled(sh, block)
            if old is not None:
                view = memoryview(old)
                try:
                    table = codec.index_of_shard(view)
                except Exception as exc:
                    raise self._error(sh.key, None, exc) from exc
                for stored in np.flatnonzero(table[:, 0] != MAX_UINT64).tolist():
                    offset, nbytes = int(table[stored, 0]), int(table[stored, 1])
                    encoded[stored] = view[offset : offset + nbytes]
            for flat, p in sh.needed.items():
                whole = p.is_complete_chunk and covers_whole(p.chunk_selection, inner_shape)
                chunk = values[p.out_selection] if whole else None
                if chunk is not None and chunk.shape == inner_shape:
                    pass  # the new values are the whole inner chunk: encoded from them, no copy
                elif whole:
                    chunk = np.empty(inner_shape, dtype=dtype)
                    chunk[p.chunk_selection] = values[p.out_selection]
                else:
                    if flat in encoded:
                        try:
                            chunk = np.array(inner.decode(encoded[flat]), copy=True)
                        except Exception as exc:
                            raise self._error(sh.key, flat, exc) from exc
                    else:
                        chunk = np.full(inner_shape, fill, dtype=dtype)
                    chunk[p.chunk_selection] = values[p.out_selection]
                if skip_empty and is_fill(chunk, fill):
                    encoded.pop(flat, None)
                    continue
                try:
                    encoded[flat] = inner.encode(chunk)
                except Exception as exc:
                    raise self._error(sh.key, flat, exc, "encode") from exc
            return finish(sh, encoded)

        def build(items: list[Shard]) -> tuple[dict[str, bytes], list[str]]:
            to_set: dict[str, bytes] = {}
            to_delete: list[str] = []
            for sh in items:
                data = build_shard(sh)
                if data is None:
                    to_delete.append(sh.key)
                else:
                    to_set[sh.key] = data
            return to_set, to_delete

        return build

    def _nbytes(self, work: list[Shard]) -> int:
        inner = math.prod(self.inner_shape) * self.io.dtype.itemsize
        return sum(sh.block.nbytes if sh.block is not None else len(sh.needed) * inner for sh in work)

    def _remember(self, new_indexes: dict[str, tuple[bytes, np.ndarray] | None]) -> None:
        for key, entry in new_indexes.items():
            if entry is None:
                self.cache.drop(key)
            else:
                self.cache.put(key, *entry)

    async def _write_shards(self, work: list[Shard], values: np.ndarray, existing: Mapping[str, bytes]) -> None:
        """Build and store ``work`` (plain writes), streaming big writes."""
        if not work:
            return
        store, codec = self.store, self.codec
        new_indexes: dict[str, tuple[bytes, np.ndarray] | None] = {}
        build = self._builder(values, existing, new_indexes, pooled=store.sends_buffers)
        nbytes = self._nbytes(work)
        try:
            if self._streams(len(work), nbytes):
                inner_nbytes = math.prod(self.inner_shape) * self.io.dtype.itemsize
                shard_nbytes = max(1, inner_nbytes * codec.inner_count)
                batch = max(1, min(32, (4 << 20) // shard_nbytes))
                to_delete = await _encode_while_sending(work, build, store, batch)
            else:
                # everything is encoded before anything is written: a codec failure stores nothing
                to_set: dict[str, bytes] = {}
                to_delete = []

                def build_into(items: list[Shard]) -> None:
                    done, dropped = build(items)
                    to_set.update(done)
                    to_delete.extend(dropped)

                await run_cpu(work, build_into, nbytes)
                if to_set:
                    await store.set_many(to_set)
            if to_delete:
                await store.delete_many(to_delete)
        except BaseException:
            for sh in work:
                self.cache.drop(sh.key)
            raise
        self._remember(new_indexes)

    async def _write_shards_conditional(self, work: list[Shard], values: np.ndarray) -> None:
        """Read-merge-write ``work`` as compare-and-swap rounds (shards others changed are merged again)."""
        shards = {sh.key: sh for sh in work}
        new_indexes: dict[str, tuple[bytes, np.ndarray] | None] = {}

        async def build_round(keys: list[str], current: dict[str, Any]) -> dict[str, bytes | None]:
            new_indexes.clear()
            build = self._builder(values, {k: v.data for k, v in current.items()}, new_indexes)
            items = [shards[k] for k in keys]
            return await build_objects(build, items, self._nbytes(items))

        def on_round(built: dict[str, bytes | None], conflicts: set[str]) -> None:
            self._remember({k: v for k, v in new_indexes.items() if k not in conflicts})
            for key in conflicts:
                self.cache.drop(key)

        try:
            await read_merge_write(self.store, list(shards), build_round, f"shard of {self.io.name}", on_round)
        except BaseException:
            for key in shards:
                self.cache.drop(key)
            raise

    def _streams(self, shards: int, nbytes: int) -> bool:
        """Whether a write sends early shards while later ones encode (as ChunkIO's big writes)."""
        store = self.store
        return (
            shards >= 2
            and nbytes >= INLINE_BYTES
            and self.io.dtype.kind != "O"
            and not self.inner.content_can_fail
            and store._set_batch is None
            and type(store).set_many is Store.set_many
        )


__all__ = ["DEFAULT_SHARD_OPTIONS", "IndexCache", "ShardIO", "ShardReadOptions"]
