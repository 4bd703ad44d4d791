"""One read of a sharded array: at most two waves of ONE ``get_ranges`` call each.

Wave 1 asks, per touched shard, for the whole shard, its index, or (index cached) the
data ranges plus the index again; wave 2 for the data ranges of the shards whose index
arrived in wave 1 (or turned out stale). Results are handled as they arrive: inner chunks
decode in the codec pool in batches while later ranges are still in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from azarr.codecs.sharding import MAX_UINT64
from azarr.core.chunk_io import whole_chunk_view
from azarr.core.cpu import INLINE_BYTES, codec_pool, run_cpu, scratch
from azarr.core.shard_plan import Piece, Shard, coalesce
from azarr.errors import CodecError
from azarr.stores.ranges import ByteRange, RangeRequest

if TYPE_CHECKING:
    from azarr.core.shard_io import ShardIO

_EMPTY = int(MAX_UINT64)


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

    def add_job(self, job: Callable[[], None]) -> None:
        """Run ``job`` (a whole shard's worth of decoding) in the codec pool on its own."""
        loop = asyncio.get_running_loop()
        self.futures.append(loop.run_in_executor(codec_pool(), job))

    async def finish(self) -> None:
        """Decode what is left (inline when small) and wait for every batch."""
        rest, nbytes = self.batch, self.batch_bytes
        self.batch, self.batch_bytes = [], 0
        await run_cpu(rest, self.decode, nbytes + (INLINE_BYTES if self.futures else 0))
        await asyncio.gather(*self.futures)

    async def abandon(self) -> None:
        await asyncio.gather(*self.futures, return_exceptions=True)


class ShardRead:
    """One read of a sharded array: at most two waves of one ``get_ranges`` call each."""

    def __init__(
        self,
        io: ShardIO,
        out: np.ndarray,
        indexer: Any,
        shards: dict[str, Shard],
        extra: list[str],
        verify: Callable[[dict[str, bytes]], None] | None,
    ) -> None:
        self.io = io
        self.out = out
        self.fill = io.io.fill
        self.extra = extra
        self.verify = verify
        self.indexer = indexer
        self.shards = shards  # ShardIO.plan: whole shards carry an output block, the rest projections
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
        whole_ok = options.whole_fraction <= 1
        for sh in self.shards.values():
            sh.cached = io.cache.get(sh.key)
            if sh.block is not None and not whole_ok:
                io.projections_of(self.indexer, sh)  # read by its index after all
            if sh.cached is None:
                if sh.block is not None or len(sh.needed) >= options.whole_fraction * io.inner_in_bounds(sh.coords):
                    self._ask((sh.key, None), partial(self._on_whole, sh), requests)
                else:
                    self._ask((sh.key, io.index_range), partial(self._on_index, sh), requests)
                continue
            table = sh.cached[1]
            if sh.block is not None:
                if bool((table[:, 0] != MAX_UINT64).any()):
                    self._ask((sh.key, None), partial(self._on_whole, sh), requests)
                    continue
                io.projections_of(self.indexer, sh)  # nothing stored: checked through its index
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

    def _plan(self, sh: Shard, table: np.ndarray) -> tuple[list[tuple[int, int, list[Piece]]], list[int]]:
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

    def _request_data(self, sh: Shard, table: np.ndarray) -> None:
        """With a current index: fill the empty entries, ask for the rest in the next wave."""
        sh.state = "ready"
        self.io.projections_of(self.indexer, sh)
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

    def _decode_index(self, sh: Shard, data: bytes) -> np.ndarray:
        try:
            table = self.io.codec.decode_index(data)
        except Exception as exc:
            raise self.io._error(sh.key, None, exc) from exc
        self.io.cache.put(sh.key, bytes(data), table)
        return table

    def _on_whole(self, sh: Shard, data: bytes) -> None:
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
        if sh.block is not None:
            block, sh.block, sh.pieces = sh.block, None, None
            self.decoder.add_job(partial(self._decode_block, sh.key, view, table, block))
            return
        needed, sh.needed = sh.needed, {}
        if needed:  # the whole shard is one job for a codec thread: decode in a batch, place at once
            self.decoder.add_job(partial(self._decode_shard, sh.key, view, table, needed))

    def _decode_shard(self, key: str, view: memoryview, table: np.ndarray, needed: dict[int, Any]) -> None:
        """Decode the ``needed`` inner chunks of a whole shard and place them (a codec thread).

        When they tile a block of the output (a shard read whole by plain slices, found
        chunk by chunk) they go as :meth:`_decode_block` places a planned block; otherwise
        each as :meth:`_decode_into` places it (straight into the output where it lies there
        whole and contiguous).
        """
        io, out = self.io, self.out
        block = io.tiled_block(out, needed)
        if block is not None:
            self._decode_block(key, view, table, block)
            return
        items = []
        for flat, p in needed.items():
            offset, nbytes = int(table[flat, 0]), int(table[flat, 1])
            if offset == _EMPTY:
                out[p.out_selection] = self.fill
            else:
                items.append((key, flat, view[offset : offset + nbytes], p))
        self._decode_into(items)

    def _decode_block(self, key: str, view: memoryview, table: np.ndarray, block: np.ndarray) -> None:
        """Decode every inner chunk of a whole shard into its ``block`` of the output (a codec
        thread): each straight into it when the inner chunks are its contiguous rows, else in
        one batch and one strided copy."""
        io = self.io
        offsets, lengths = table[:, 0], table[:, 1]
        stored = offsets != MAX_UINT64
        kept = np.flatnonzero(stored)
        frames = [view[o : o + n] for o, n in zip(offsets[kept].tolist(), lengths[kept].tolist())]
        count = len(offsets)
        inner = io.inner
        if inner.decodes_into and io.tiles_contiguously(block):
            # each inner chunk is a contiguous run of the block: decoded straight into it
            rows = block.reshape(count, *io.inner_shape)
            rows[~stored] = self.fill
            for flat, frame in zip(kept.tolist(), frames):
                try:
                    if not inner.decode_into(frame, rows[flat]):
                        rows[flat] = inner.decode(frame)
                except Exception as exc:
                    raise io._error(key, flat, exc) from exc
            return
        target = scratch((len(kept), *io.inner_shape), inner.spec.dtype)
        try:
            inner.decode_batch(frames, target)
        except Exception:
            self._decode_each([(key, flat, frame, None) for flat, frame in zip(kept.tolist(), frames)])
            raise
        if len(kept) == count:
            slots = target
        else:
            slots = np.empty((count, *io.inner_shape), dtype=target.dtype)
            slots[kept] = target
            slots[~stored] = self.fill
        io.untile(slots, block)

    def _on_index(self, sh: Shard, data: bytes) -> None:
        sh.answered = True
        self._request_data(sh, self._decode_index(sh, data))

    def _on_verify(self, sh: Shard, data: bytes) -> None:
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

    def _on_range(self, sh: Shard, start: int, pieces: list[Piece], data: bytes) -> None:
        if sh.state == "unverified":
            sh.pending.append((start, pieces, data))
        elif sh.state == "ready":
            self._take(sh, start, pieces, data)

    def _take(self, sh: Shard, start: int, pieces: list[Piece], data: bytes) -> None:
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

    def _decode(self, sh: Shard, flat: int, data: memoryview) -> None:
        p = sh.needed.pop(flat, None)
        if p is not None:
            self.decoder.add((sh.key, flat, data, p), len(data))

    def _fill(self, sh: Shard, flat: int) -> None:
        p = sh.needed.pop(flat, None)
        if p is not None:
            self.out[p.out_selection] = self.fill

    def _fill_all(self, sh: Shard) -> None:
        if sh.block is not None:
            sh.block[...] = self.fill
            sh.block = sh.pieces = None
        for flat in list(sh.needed):
            self._fill(sh, flat)

    def _decode_into(self, items: list[Any]) -> None:
        """Place decoded inner chunks (a codec thread): straight into the output where one lies
        there whole and contiguous, the rest decoded in one batch and copied to their selections."""
        inner, out, io = self.io.inner, self.out, self.io
        inner_shape = io.inner_shape
        rest = items
        if inner.decodes_into:
            rest = []
            for item in items:
                key, flat, data, p = item
                dest = whole_chunk_view(out, p, inner_shape)
                try:
                    if dest is not None and inner.decode_into(data, dest):
                        continue
                except Exception as exc:
                    raise io._error(key, flat, exc) from exc
                rest.append(item)
        if not rest:
            return
        slots = np.empty((len(rest), *inner_shape), dtype=inner.spec.dtype)
        try:
            inner.decode_batch([item[2] for item in rest], slots)
        except Exception:
            self._decode_each(rest)  # finds and names the inner chunk that fails
            raise
        for (_, _, _, p), chunk in zip(rest, slots):
            out[p.out_selection] = chunk[p.chunk_selection]

    def _decode_each(self, items: list[Any]) -> None:
        """Decode one by one, raising for the first inner chunk that fails, named (placed when ``p`` is given)."""
        inner, out, io = self.io.inner, self.out, self.io
        for key, flat, data, p in items:
            try:
                chunk = inner.decode(data)
            except Exception as exc:
                raise io._error(key, flat, exc) from exc
            if p is not None:
                out[p.out_selection] = chunk[p.chunk_selection]


__all__ = ["ShardRead"]
