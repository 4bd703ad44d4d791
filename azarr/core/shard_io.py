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

import asyncio
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from azarr.codecs.sharding import MAX_UINT64, ShardingCodec
from azarr.core.chunk_io import _encode_while_sending, covers_whole, is_fill
from azarr.core.cpu import INLINE_BYTES, codec_pool, run_cpu
from azarr.errors import CodecError
from azarr.stores.base import Store
from azarr.stores.ranges import ByteRange, Range, RangeRequest, SuffixRange

_EMPTY = int(MAX_UINT64)


@dataclass(frozen=True)
class ShardReadOptions:
    """How sharded arrays are read (set per array as ``AsyncArray.shard_options``).

    ``coalesce_gap``: inner chunks of one shard at most this many bytes apart are read in
    one range (the gap is read and thrown away). ``coalesce_max``: no coalesced range
    grows beyond this many bytes. ``whole_fraction``: a shard is read whole, without
    waiting for its index, when at least this fraction of its inner chunks is needed
    (when its index is cached: of its stored bytes). ``index_cache_bytes``: the most
    decoded-index bytes one array keeps.
    """

    coalesce_gap: int = 1 << 20
    coalesce_max: int = 16 << 20
    whole_fraction: float = 0.5
    index_cache_bytes: int = 32 << 20


DEFAULT_SHARD_OPTIONS = ShardReadOptions()


# --- the index cache ------------------------------------------------------------------------------


class IndexCache:
    """Decoded shard indexes by shard key, least recently used dropped first beyond ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[bytes, np.ndarray]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: str) -> tuple[bytes, np.ndarray] | None:
        """``(encoded index, decoded table)`` for ``key``, or None."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, raw: bytes, table: np.ndarray) -> None:
        """Remember the index of shard ``key``."""
        self.drop(key)
        size = len(raw) + table.nbytes
        if size > self.max_bytes:
            return
        self._entries[key] = (raw, table)
        self._bytes += size
        self._evict()

    def resize(self, max_bytes: int) -> None:
        """Change the bound, dropping the least recently used entries beyond it."""
        self.max_bytes = max_bytes
        self._evict()

    def _evict(self) -> None:
        while self._bytes > self.max_bytes:
            _, (old_raw, old_table) = self._entries.popitem(last=False)
            self._bytes -= len(old_raw) + old_table.nbytes

    def drop(self, key: str) -> None:
        """Forget shard ``key``."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[0]) + entry[1].nbytes

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self._bytes = 0


# --- planning -------------------------------------------------------------------------------------

#: one inner chunk inside a coalesced range: (C-order number in the shard, offset in the shard, nbytes)
Piece = tuple[int, int, int]


def coalesce(pieces: Iterable[Piece], gap: int, max_span: int) -> list[tuple[int, int, list[Piece]]]:
    """Group inner chunks into ranges ``(start, end, pieces)``: sorted by offset, a chunk joins
    the previous range when it starts at most ``gap`` bytes after it ends and the range stays
    within ``max_span`` bytes (a single chunk bigger than that is a range of its own)."""
    ranges: list[tuple[int, int, list[Piece]]] = []
    for piece in sorted(pieces, key=lambda p: p[1]):
        _, offset, nbytes = piece
        end = offset + nbytes
        if ranges:
            start, last_end, members = ranges[-1]
            if offset - last_end <= gap and max(end, last_end) - start <= max_span:
                members.append(piece)
                ranges[-1] = (start, max(end, last_end), members)
                continue
        ranges.append((offset, end, [piece]))
    return ranges


class _Shard:
    """One shard touched by a read: what it needs and where its read stands."""

    __slots__ = ("answered", "cached", "coords", "empties", "key", "needed", "pending", "state")

    def __init__(self, key: str, coords: tuple[int, ...]) -> None:
        self.key = key
        self.coords = coords
        self.needed: dict[int, Any] = {}  # inner chunk number -> projection, until decoded or filled
        self.cached: tuple[bytes, np.ndarray] | None = None
        self.state = "cold"  # cold | unverified (cached index in use) | ready | stale
        self.pending: list[tuple[int, list[Piece], bytes]] = []  # ranges that arrived before verification
        self.empties: list[int] = []  # needed chunks the cached index says are not stored
        self.answered = False


class _Decoder:
    """Decodes inner chunks in the codec pool in batches as their ranges arrive."""

    BATCH = 32

    def __init__(self, decode: Callable[[list[Any]], None]) -> None:
        self.decode = decode
        self.batch: list[Any] = []
        self.batch_bytes = 0
        self.futures: list[asyncio.Future[None]] = []

    def add(self, item: Any, nbytes: int) -> None:
        self.batch.append(item)
        self.batch_bytes += nbytes
        if len(self.batch) >= self.BATCH or self.batch_bytes >= INLINE_BYTES:
            loop = asyncio.get_running_loop()
            self.futures.append(loop.run_in_executor(codec_pool(), self.decode, self.batch))
            self.batch, self.batch_bytes = [], 0

    async def finish(self) -> None:
        """Decode what is left (inline when small) and wait for every batch."""
        rest, nbytes = self.batch, self.batch_bytes
        self.batch, self.batch_bytes = [], 0
        await run_cpu(rest, self.decode, nbytes + (INLINE_BYTES if self.futures else 0))
        await asyncio.gather(*self.futures)

    async def abandon(self) -> None:
        await asyncio.gather(*self.futures, return_exceptions=True)


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

    def group(self, projections: list[Any]) -> dict[str, _Shard]:
        """The projections (on the inner grid) grouped by the shard that holds them."""
        if not self.per_shard:  # 0-d: one shard holding one inner chunk
            return self._group_0d(projections)
        # vectorised: a full read of a big array has thousands of projections, and this runs
        # on the event loop before the first request goes out
        per = np.array(self.per_shard, dtype=np.int64)
        inner = np.array([p.chunk_coords for p in projections], dtype=np.int64).reshape(len(projections), -1)
        shard_coords = inner // per
        flats = np.ravel_multi_index(tuple((inner % per).T), self.per_shard).tolist()
        shards: dict[tuple[int, ...], _Shard] = {}
        key = self.io.key
        for coords, flat, p in zip(map(tuple, shard_coords.tolist()), flats, projections):
            sh = shards.get(coords)
            if sh is None:
                sh = shards[coords] = _Shard(key(coords), coords)
            sh.needed[flat] = p
        return {sh.key: sh for sh in shards.values()}

    def _group_0d(self, projections: list[Any]) -> dict[str, _Shard]:
        sh = _Shard(self.io.key(()), ())
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
        out = np.empty(indexer.buffer_shape, dtype=self.io.dtype)
        projections = list(indexer)
        if projections:
            await _Read(self, out, projections, list(extra_keys), verify).run()
        result = out.reshape(indexer.shape)
        if result.ndim == 0:
            return result[()]
        return result

    # --- writing -------------------------------------------------------------------------------

    async def write(self, indexer: Any, values: np.ndarray) -> None:
        """Write ``values`` (shaped as ``indexer.buffer_shape``) into the selection, a shard per PUT."""
        projections = list(indexer)
        if not projections:
            return
        shards = self.group(projections)
        partial = [
            sh.key
            for sh in shards.values()
            if len(sh.needed) < self.inner_in_bounds(sh.coords)
            or not all(p.is_complete_chunk for p in sh.needed.values())
        ]
        store = self.store
        existing = await store.get_many(partial) if partial else {}
        codec, inner, inner_shape = self.codec, self.inner, self.inner_shape
        dtype, fill = self.io.dtype, self.io.fill
        skip_empty = not self.io.write_empty_chunks
        new_indexes: dict[str, tuple[bytes, np.ndarray] | None] = {}

        def build_shard(sh: _Shard) -> bytes | None:
            encoded: dict[int, Any] = {}
            old = existing.get(sh.key)
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
            built = codec.assemble(encoded)
            if built is None:
                new_indexes[sh.key] = None
                return None
            data, index, table = built
            new_indexes[sh.key] = (index, table)  # a dict store from a pool thread: atomic under the GIL
            return data

        def build(items: list[_Shard]) -> tuple[dict[str, bytes], list[str]]:
            to_set: dict[str, bytes] = {}
            to_delete: list[str] = []
            for sh in items:
                data = build_shard(sh)
                if data is None:
                    to_delete.append(sh.key)
                else:
                    to_set[sh.key] = data
            return to_set, to_delete

        work = list(shards.values())
        inner_nbytes = math.prod(inner_shape) * dtype.itemsize
        nbytes = sum(len(sh.needed) for sh in work) * inner_nbytes
        try:
            if self._streams(len(work), nbytes):
                shard_nbytes = max(1, inner_nbytes * codec.inner_count)
                batch = max(1, min(32, (4 << 20) // shard_nbytes))
                to_delete = await _encode_while_sending(work, build, store, batch)
            else:
                # everything is encoded before anything is written: a codec failure stores nothing
                to_set: dict[str, bytes] = {}
                to_delete = []

                def build_into(items: list[_Shard]) -> None:
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
        for key, entry in new_indexes.items():
            if entry is None:
                self.cache.drop(key)
            else:
                self.cache.put(key, *entry)

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


class _Read:
    """One read of a sharded array: at most two waves of one ``get_ranges`` call each."""

    def __init__(
        self,
        io: ShardIO,
        out: np.ndarray,
        projections: list[Any],
        extra: list[str],
        verify: Callable[[dict[str, bytes]], None] | None,
    ) -> None:
        self.io = io
        self.out = out
        self.fill = io.io.fill
        self.extra = extra
        self.verify = verify
        self.shards = io.group(projections)
        self.handlers: dict[RangeRequest, Callable[[bytes], None]] = {}
        self.next_wave: list[tuple[RangeRequest, Callable[[bytes], None]]] = []
        self.decoder = _Decoder(self._decode_into)

    # --- the waves ---------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            first = self._first_wave()
            await self._wave(first, self.extra)
            for sh in self.shards.values():
                if not sh.answered:  # the shard is not stored: every inner chunk reads as fill
                    self.io.cache.drop(sh.key)
                    self._fill_all(sh)
            if self.next_wave:
                # handlers are registered only now, so no late answer of wave 1 reaches them
                requests: list[RangeRequest] = []
                for request, handler in self.next_wave:
                    self._ask(request, handler, requests)
                self.next_wave = []
                await self._wave(requests, [])
            await self.decoder.finish()
        except BaseException:
            await self.decoder.abandon()
            raise
        for sh in self.shards.values():  # whatever no range delivered (e.g. deleted between waves)
            self._fill_all(sh)

    async def _wave(self, requests: list[RangeRequest], extra: list[str]) -> None:
        """One ``get_ranges`` call; results are handled as they arrive (after ``verify`` when given)."""
        store = self.io.store
        requests = requests + [(k, None) for k in extra]
        if self.verify is not None and extra:
            # nothing is decoded before the extra documents are verified
            found = await store.get_ranges(requests)
            self.verify({k: found[(k, None)] for k in extra if (k, None) in found})
            for request, data in found.items():
                self._arrived(request, data)
            return
        await store.get_ranges(requests, on_value=self._arrived)

    def _arrived(self, request: RangeRequest, data: bytes) -> None:
        handler = self.handlers.pop(request, None)
        if handler is not None:
            handler(data)

    def _ask(self, request: RangeRequest, handler: Callable[[bytes], None], into: list[RangeRequest]) -> None:
        self.handlers[request] = handler
        into.append(request)

    def _first_wave(self) -> list[RangeRequest]:
        io, options = self.io, self.io.options
        requests: list[RangeRequest] = []
        for sh in self.shards.values():
            sh.cached = io.cache.get(sh.key)
            if sh.cached is None:
                if len(sh.needed) >= options.whole_fraction * io.inner_in_bounds(sh.coords):
                    self._ask((sh.key, None), partial(self._on_whole, sh), requests)
                else:
                    self._ask((sh.key, io.index_range), partial(self._on_index, sh), requests)
                continue
            table = sh.cached[1]
            ranges, empties = self._plan(sh, table)
            needed_bytes = sum(end - start for start, end, _ in ranges)
            stored = table[table[:, 0] != MAX_UINT64]
            if ranges and needed_bytes >= options.whole_fraction * int(stored[:, 1].sum()):
                self._ask((sh.key, None), partial(self._on_whole, sh), requests)
                continue
            sh.state = "unverified"
            sh.empties = empties
            self._ask((sh.key, io.index_range), partial(self._on_verify, sh), requests)
            for start, end, pieces in ranges:
                self._ask(
                    (sh.key, ByteRange(start, end)),
                    partial(self._on_range, sh, start, pieces),
                    requests,
                )
        return requests

    def _plan(self, sh: _Shard, table: np.ndarray) -> tuple[list[tuple[int, int, list[Piece]]], list[int]]:
        """Coalesced ranges of the needed inner chunks that are stored, and those that are not."""
        pieces: list[Piece] = []
        empties: list[int] = []
        for flat in sh.needed:
            offset, nbytes = int(table[flat, 0]), int(table[flat, 1])
            if offset == _EMPTY:
                empties.append(flat)
            else:
                pieces.append((flat, offset, nbytes))
        options = self.io.options
        return coalesce(pieces, options.coalesce_gap, options.coalesce_max), empties

    def _request_data(self, sh: _Shard, table: np.ndarray) -> None:
        """With a current index: fill the empty entries, ask for the rest in the next wave."""
        sh.state = "ready"
        ranges, empties = self._plan(sh, table)
        for flat in empties:
            self._fill(sh, flat)
        for start, end, pieces in ranges:
            self.next_wave.append(
                (
                    (sh.key, ByteRange(start, end)),
                    partial(self._on_range, sh, start, pieces),
                )
            )

    # --- results -----------------------------------------------------------------------------

    def _decode_index(self, sh: _Shard, data: bytes) -> np.ndarray:
        try:
            table = self.io.codec.decode_index(data)
        except Exception as exc:
            raise self.io._error(sh.key, None, exc) from exc
        self.io.cache.put(sh.key, bytes(data), table)
        return table

    def _on_whole(self, sh: _Shard, data: bytes) -> None:
        sh.answered = True
        sh.state = "ready"
        codec = self.io.codec
        view = memoryview(data)
        try:
            table = codec.index_of_shard(view)
        except Exception as exc:
            raise self.io._error(sh.key, None, exc) from exc
        n = codec.index_nbytes
        raw = view[:n] if codec.index_location == "start" else view[len(view) - n :]
        self.io.cache.put(sh.key, raw.tobytes(), table)
        for flat in list(sh.needed):
            offset, nbytes = int(table[flat, 0]), int(table[flat, 1])
            if offset == _EMPTY:
                self._fill(sh, flat)
            else:
                self._decode(sh, flat, view[offset : offset + nbytes])

    def _on_index(self, sh: _Shard, data: bytes) -> None:
        sh.answered = True
        self._request_data(sh, self._decode_index(sh, data))

    def _on_verify(self, sh: _Shard, data: bytes) -> None:
        sh.answered = True
        assert sh.cached is not None
        if data == sh.cached[0]:
            sh.state = "ready"
            for flat in sh.empties:
                self._fill(sh, flat)
            pending, sh.pending = sh.pending, []
            for start, pieces, chunk_data in pending:
                self._take(sh, start, pieces, chunk_data)
            return
        # rewritten since the index was cached: what arrived may be anything; read again
        sh.state = "stale"
        sh.pending = []
        for request in [r for r in self.handlers if r[0] == sh.key]:
            del self.handlers[request]
        self._request_data(sh, self._decode_index(sh, data))

    def _on_range(self, sh: _Shard, start: int, pieces: list[Piece], data: bytes) -> None:
        if sh.state == "unverified":
            sh.pending.append((start, pieces, data))
        elif sh.state == "ready":
            self._take(sh, start, pieces, data)

    def _take(self, sh: _Shard, start: int, pieces: list[Piece], data: bytes) -> None:
        view = memoryview(data)
        for flat, offset, nbytes in pieces:
            part = view[offset - start : offset - start + nbytes]
            if len(part) != nbytes:
                raise CodecError(
                    f"shard {sh.key!r}, inner chunk {self.io.codec.inner_coords(flat)}: the index places it at bytes "
                    f"[{offset}, {offset + nbytes}) but the shard ends before that (corrupt index)",
                    key=sh.key,
                )
            self._decode(sh, flat, part)

    # --- output ------------------------------------------------------------------------------

    def _decode(self, sh: _Shard, flat: int, data: memoryview) -> None:
        p = sh.needed.pop(flat, None)
        if p is not None:
            self.decoder.add((sh.key, flat, data, p), len(data))

    def _fill(self, sh: _Shard, flat: int) -> None:
        p = sh.needed.pop(flat, None)
        if p is not None:
            self.out[p.out_selection] = self.fill

    def _fill_all(self, sh: _Shard) -> None:
        for flat in list(sh.needed):
            self._fill(sh, flat)

    def _decode_into(self, items: list[Any]) -> None:
        inner, out, io = self.io.inner, self.out, self.io
        for key, flat, data, p in items:
            try:
                chunk = inner.decode(data)
            except Exception as exc:
                raise io._error(key, flat, exc) from exc
            out[p.out_selection] = chunk[p.chunk_selection]


__all__ = ["DEFAULT_SHARD_OPTIONS", "IndexCache", "ShardIO", "ShardReadOptions", "coalesce"]
