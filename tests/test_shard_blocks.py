"""Shards a read covers whole are planned as blocks of the output (``ShardIO.plan``): no
per-inner-chunk projections, one decode job straight into the block. Every way such a shard
can be read must give what the per-inner-chunk path gives: cold and cached index, a shard
rewritten behind a cached index, a missing shard, a shard whose every inner chunk is empty,
``whole_fraction`` above 1 (never read whole), mixed with partial and edge shards."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from azarr import aio
from azarr.codecs import ZstdCodec
from azarr.codecs.sharding import MAX_UINT64
from azarr.core.indexing import basic_indexer
from azarr.core.shard_io import ShardReadOptions
from azarr.stores import MemoryStore
from tests.counting import CountingStore

SHAPE, INNER, SHARD = (100, 90), (8, 10), (32, 40)  # 4 x 3 shards; the last row and column are edges


def _data() -> np.ndarray:
    return (np.arange(SHAPE[0] * SHAPE[1], dtype="f4").reshape(SHAPE) % 977) + 1


async def _written(store: Any, fill: float = 0.0) -> tuple[aio.AsyncArray, np.ndarray]:
    a = await aio.open_array(store, "w", shape=SHAPE, chunks=INNER, shards=SHARD, dtype="f4",
                             fill_value=fill, compressors=[ZstdCodec(level=1)])
    data = _data()
    await a.setitem(..., data)
    return a, data


def _io(a: aio.AsyncArray) -> Any:
    io = a.chunk_io.shards
    assert io is not None
    return io


async def test_plan_gives_interior_shards_covered_whole_a_block_and_no_projections() -> None:
    a, _ = await _written(MemoryStore())
    io = _io(a)
    out = np.empty((64, 90), dtype="f4")
    shards = io.plan(basic_indexer(np.s_[0:64, :], SHAPE, INNER), out)
    blocks = {k: sh for k, sh in shards.items() if sh.block is not None}
    # shards (0, 0), (0, 1), (1, 0), (1, 1) are interior and covered whole; (0, 2), (1, 2) are edges
    assert sorted(blocks) == ["c/0/0", "c/0/1", "c/1/0", "c/1/1"]
    assert all(not sh.needed for sh in blocks.values())
    assert blocks["c/1/1"].block.shape == (32, 40)
    assert np.shares_memory(blocks["c/1/1"].block, out[32:64, 40:80])
    assert sorted(k for k in shards if k not in blocks) == ["c/0/2", "c/1/2"]
    assert all(len(shards[k].needed) == 4 for k in ("c/0/2", "c/1/2"))  # 4 x 1 inner chunks in bounds each
    # a shard cut in part is projected per inner chunk, the whole ones beside it still blocks
    shards = io.plan(basic_indexer(np.s_[0:40, 0:80], SHAPE, INNER), np.empty((40, 80), dtype="f4"))
    assert sorted(k for k, sh in shards.items() if sh.block is not None) == ["c/0/0", "c/0/1"]
    assert len(shards["c/1/0"].needed) == 4  # one row of inner chunks
    # strided selections and integer axes are never blocks
    for sel in (np.s_[0:64:2, :], np.s_[5, :]):
        indexer = basic_indexer(sel, SHAPE, INNER)
        shards = io.plan(indexer, np.empty(indexer.buffer_shape, dtype="f4"))
        assert all(sh.block is None for sh in shards.values())


@pytest.mark.parametrize("sel", [np.s_[...], np.s_[0:64, 0:80], np.s_[32:96, :], np.s_[0:40, 0:80], np.s_[:, 40:90]])
async def test_block_reads_cold_then_cached(sel: Any) -> None:
    store = CountingStore(MemoryStore())
    _, data = await _written(store)
    b = await aio.open_array(store, "r")
    np.testing.assert_array_equal(await b.getitem(sel), data[sel])  # cold: whole shards, no index wait
    store.reset()
    np.testing.assert_array_equal(await b.getitem(sel), data[sel])  # cached index
    assert store.calls["get_ranges"] == 1  # still one round trip


async def test_a_shard_rewritten_behind_a_cached_index_reads_new_values() -> None:
    store = MemoryStore()
    a, data = await _written(store)
    b = await aio.open_array(store, "r")
    np.testing.assert_array_equal(await b.getitem(...), data)
    new = data.copy()
    new[0:32, 0:40] = -7  # shard (0, 0) rewritten by another writer
    new[40, 45] = 3.5
    await a.setitem(np.s_[0:32, 0:40], new[0:32, 0:40])
    await a.setitem(np.s_[40, 45], new[40, 45])
    np.testing.assert_array_equal(await b.getitem(...), new)


async def test_missing_and_all_empty_block_shards_read_as_fill() -> None:
    store = MemoryStore()
    a, data = await _written(store, fill=-1.0)
    io = _io(a)
    await store.delete("c/1/1")  # gone
    data[32:64, 40:80] = -1.0
    # a shard object whose index says every inner chunk is empty (other writers may store one)
    empty_index = io.codec.encode_index(np.full((io.codec.inner_count, 2), MAX_UINT64, dtype=np.uint64))
    await store.set("c/0/1", empty_index)
    data[0:32, 40:80] = -1.0
    b = await aio.open_array(store, "r")
    for _ in range(2):  # cold, then with the indexes cached
        np.testing.assert_array_equal(await b.getitem(...), data)
        np.testing.assert_array_equal(await b.getitem(np.s_[0:64, 0:80]), data[0:64, 0:80])


async def test_never_whole_reads_block_shards_through_their_index() -> None:
    store = CountingStore(MemoryStore())
    _, data = await _written(store)
    b = await aio.open_array(store, "r")
    b.shard_options = ShardReadOptions(whole_fraction=2.0)
    for _ in range(2):
        store.reset()
        np.testing.assert_array_equal(await b.getitem(np.s_[0:64, 0:80]), data[0:64, 0:80])
        asked = [r for call in store.range_calls for r in call]
        assert all(rng is not None for _, rng in asked)  # only indexes and data ranges, never a whole shard


async def test_a_cached_index_does_not_keep_its_shard_alive() -> None:
    store = MemoryStore()
    _, data = await _written(store)
    b = await aio.open_array(store, "r")
    np.testing.assert_array_equal(await b.getitem(...), data)
    io = _io(b)
    entry = io.cache.get("c/0/0")
    assert entry is not None
    raw, table = entry
    root = table
    while isinstance(root.base, np.ndarray):
        root = root.base
    assert root.base is None and root.flags.owndata  # its own memory, not a view of the shard
    assert isinstance(raw, bytes) and len(raw) == io.codec.index_nbytes
