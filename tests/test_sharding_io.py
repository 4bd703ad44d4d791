"""Sharded reads and writes proven by request counts: round trips (cold partial read <= 2,
warm <= 1), one get_ranges call per wave for every touched shard, coalescing, whole-shard
reads, the index cache never serving stale data, whole-shard writes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import azarr
from azarr import aio
from azarr.core.shard_io import ShardReadOptions
from azarr.core.shard_plan import coalesce
from azarr.stores import MemoryStore, RedisStore, S3Store, SQLiteStore
from azarr.stores.ranges import ByteRange, SuffixRange
from tests.counting import CountingStore
from tests.roundtrips import LoggingProxy
from tests.services.moto import S3_CREDENTIALS

SHAPE, INNER, SHARD = (64, 64), (4, 4), (32, 32)  # 4 shards of 64 inner chunks
REGION = np.s_[28:36, 28:36]  # one inner chunk of each of the 4 shards


def field() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:64]
    return (np.sin(x / 7.0) * 100 + y).astype("f4")


async def sharded(store: Any, **kw: Any) -> aio.AsyncArray:
    a = await aio.open_array(store, "w", shape=SHAPE, chunks=INNER, shards=SHARD, dtype="f4", **kw)
    await a.setitem(..., field())
    return a


def ranges_of(call: list[Any]) -> list[Any]:
    return [r for _, r in call]


# --- round trips and batching (counted at the store) --------------------------------------------------


async def test_cold_partial_read_is_two_calls_warm_is_one() -> None:
    store = CountingStore(MemoryStore())
    await sharded(store)
    a = await aio.open_array(store, "r")
    store.reset()
    np.testing.assert_array_equal(await a.getitem(REGION), field()[REGION])
    assert store.calls["get_ranges"] == 2 and store.reads == 2  # the 4 indexes, then the 4 inner chunks
    first, second = store.range_calls
    assert sorted(k for k, _ in first) == ["c/0/0", "c/0/1", "c/1/0", "c/1/1"]
    assert all(r == SuffixRange(64 * 16 + 4) for r in ranges_of(first))
    assert len(second) == 4 and all(isinstance(r, ByteRange) for r in ranges_of(second))
    store.reset()
    np.testing.assert_array_equal(await a.getitem(REGION), field()[REGION])
    assert store.calls["get_ranges"] == 1 and store.reads == 1  # warm: data and index revalidation together
    (only,) = store.range_calls
    assert sum(isinstance(r, SuffixRange) for r in ranges_of(only)) == 4
    assert sum(isinstance(r, ByteRange) for r in ranges_of(only)) == 4


async def test_selections_spanning_shards_are_one_call_per_wave() -> None:
    store = CountingStore(MemoryStore())
    await sharded(store)
    data = field()
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 64, 50), rng.integers(0, 64, 50)
    for read in (
        lambda a: a.get_coordinate_selection((rows, cols)),
        lambda a: a.get_orthogonal_selection((np.array([1, 40, 63]), slice(2, 60, 7))),
        lambda a: a.getitem((slice(None), 33)),
    ):
        a = await aio.open_array(store, "r")
        store.reset()
        await read(a)
        assert store.calls["get_ranges"] <= 2 and store.reads == store.calls["get_ranges"]
    a = await aio.open_array(store, "r")
    np.testing.assert_array_equal(await a.get_coordinate_selection((rows, cols)), data[rows, cols])
    np.testing.assert_array_equal(await a.get_orthogonal_selection((np.array([1, 40, 63]), slice(2, 60, 7))),
                                  data[np.ix_([1, 40, 63], range(2, 60, 7))])


async def test_full_read_fetches_whole_shards_without_the_index() -> None:
    store = CountingStore(MemoryStore())
    await sharded(store)
    a = await aio.open_array(store, "r")
    store.reset()
    np.testing.assert_array_equal(await a.getitem(...), field())
    assert store.range_calls == [[("c/0/0", None), ("c/0/1", None), ("c/1/0", None), ("c/1/1", None)]]
    store.reset()
    np.testing.assert_array_equal(await a.getitem(np.s_[0:32, 0:24]), field()[0:32, 0:24])  # 3/4 of a shard
    assert store.range_calls == [[("c/0/0", None)]]


async def test_missing_shards_and_empty_inner_chunks_read_as_fill() -> None:
    store = CountingStore(MemoryStore())
    a = await aio.open_array(store, "w", shape=SHAPE, chunks=INNER, shards=SHARD, dtype="f4", fill_value=-1)
    await a.setitem((slice(0, 4), slice(0, 4)), 5.0)  # one inner chunk of shard (0, 0)
    store.reset()
    got = await a.getitem(REGION)
    assert (got == -1).all()
    assert store.calls["get_ranges"] == 1  # the index of (0, 0) says "empty"; the others are missing
    expected = np.full(SHAPE, -1, "f4")
    expected[:4, :4] = 5
    np.testing.assert_array_equal(await a.getitem(np.s_[0:8, 0:40]), expected[0:8, 0:40])


async def test_coalescing_merges_nearby_inner_chunks() -> None:
    store = CountingStore(MemoryStore())
    await sharded(store, compressors=None)  # 64-byte inner chunks, in Morton order in each shard
    a = await aio.open_array(store, "r")
    await a.getitem(np.s_[0:1, 0:1])  # warm the index of shard (0, 0)

    async def data_ranges(selection: Any, options: ShardReadOptions) -> list[Any]:
        a.shard_options = options
        store.reset()
        np.testing.assert_array_equal(await a.getitem(selection), field()[selection])
        (call,) = store.range_calls
        return [r for r in ranges_of(call) if isinstance(r, ByteRange)]

    # 2x2 inner chunks are 4 consecutive chunks in Morton order: one range even without a gap allowed
    assert len(await data_ranges(np.s_[0:8, 0:8], ShardReadOptions(coalesce_gap=0))) == 1
    # inner chunks (0, 0) and (0, 2) are Morton numbers 0 and 8: 7 chunks = 448 bytes between them
    apart = np.s_[0:4, 0:12:8]
    assert len(await data_ranges(apart, ShardReadOptions(coalesce_gap=0))) == 2
    assert len(await data_ranges(apart, ShardReadOptions(coalesce_gap=447))) == 2
    (merged,) = await data_ranges(apart, ShardReadOptions(coalesce_gap=448))
    assert (merged.start, merged.end) == (0, 9 * 64)
    # the span limit splits a long run of chunks
    assert len(await data_ranges(np.s_[0:8, 0:8], ShardReadOptions(coalesce_gap=0, coalesce_max=128))) == 2


def test_bad_options_are_a_clear_error() -> None:
    from azarr.core.shard_plan import ShardOptionsError

    for bad in ({"coalesce_gap": -1}, {"coalesce_max": 0}, {"whole_fraction": -0.5}, {"index_cache_bytes": 1.5},
                {"whole_fraction": "all"}):
        with pytest.raises(ShardOptionsError, match=next(iter(bad))):
            ShardReadOptions(**bad)


def test_coalesce_function() -> None:
    pieces = [(0, 0, 10), (1, 10, 10), (2, 25, 5), (3, 100, 10), (4, 5, 3)]
    assert [(s, e) for s, e, _ in coalesce(pieces, gap=0, max_span=1000)] == [(0, 20), (25, 30), (100, 110)]
    assert [(s, e) for s, e, _ in coalesce(pieces, gap=5, max_span=1000)] == [(0, 30), (100, 110)]
    assert [(s, e) for s, e, _ in coalesce(pieces, gap=100, max_span=25)] == [(0, 20), (25, 30), (100, 110)]
    assert [len(m) for _, _, m in coalesce(pieces, gap=100, max_span=10**6)] == [5]


# --- the index cache: never stale, bounded -----------------------------------------------------------


@pytest.mark.parametrize("compressors", ["auto", None], ids=["sizes change", "sizes stay"])
async def test_a_cached_index_never_gives_stale_data(compressors: Any) -> None:
    store = CountingStore(MemoryStore())
    await sharded(store, compressors=compressors)
    reader = await aio.open_array(store, "r")
    np.testing.assert_array_equal(await reader.getitem(REGION), field()[REGION])  # indexes cached
    writer = await aio.open_array(store, "r+")
    new = np.random.default_rng(3).standard_normal(SHAPE).astype("f4")
    await writer.setitem(..., new)  # every shard rewritten behind the reader's back
    store.reset()
    np.testing.assert_array_equal(await reader.getitem(REGION), new[REGION])
    # compressed: the index changed, so the data is read again with the new one (2 waves);
    # uncompressed: every offset is the same, the index bytes match and 1 wave is enough
    assert store.calls["get_ranges"] == (2 if compressors == "auto" else 1)
    await writer.setitem(np.s_[0:32, 0:32], 0.0)  # shard (0, 0) left all fill: deleted
    store.reset()
    got = await reader.getitem(REGION)
    assert (got[:4, :4] == 0).all() and (got[4:, 4:] == new[32:36, 32:36]).all()
    assert "c/0/0" not in reader.chunk_io.shards.cache  # type: ignore[union-attr]


async def test_writes_refresh_the_cache_and_it_is_bounded() -> None:
    store = CountingStore(MemoryStore())
    a = await sharded(store)
    store.reset()
    np.testing.assert_array_equal(await a.getitem(REGION), field()[REGION])
    assert store.calls["get_ranges"] == 1  # the write left every shard's index in the cache
    small = await aio.open_array(store, "r")
    small.shard_options = ShardReadOptions(index_cache_bytes=2 * (64 * 16 + 4 + 64 * 16))  # two indexes
    await small.getitem(REGION)
    assert len(small.chunk_io.shards.cache) == 2  # type: ignore[union-attr]


# --- writes --------------------------------------------------------------------------------------------


async def test_whole_shard_writes_read_nothing_partial_ones_read_merge_rewrite() -> None:
    store = CountingStore(MemoryStore())
    a = await aio.open_array(store, "w", shape=SHAPE, chunks=INNER, shards=SHARD, dtype="f4")
    store.reset()
    await a.setitem(np.s_[0:64, 0:32], field()[:, :32])  # shards (0, 0) and (1, 0), whole
    assert store.reads == 0 and store.calls["set_many"] == 1
    assert sorted(k for k in store.inner._data if k.startswith("c/")) == ["c/0/0", "c/1/0"]  # type: ignore[attr-defined]
    store.reset()
    await a.setitem(np.s_[30:34, 30:34], 1.0)  # parts of all four shards
    assert store.calls["get_many"] == 1 and store.keys_read == ["c/0/0", "c/0/1", "c/1/0", "c/1/1"]
    expected = np.zeros(SHAPE, "f4")
    expected[:, :32] = field()[:, :32]
    expected[30:34, 30:34] = 1
    np.testing.assert_array_equal(await (await aio.open_array(store, "r")).getitem(...), expected)


async def test_edge_shards() -> None:
    store = CountingStore(MemoryStore())
    a = await aio.open_array(store, "w", shape=(50, 45), chunks=(4, 5), shards=(16, 20), dtype="i4")
    data = np.arange(50 * 45, dtype="i4").reshape(50, 45)
    store.reset()
    await a.setitem(np.s_[48:50, 40:45], data[48:, 40:])  # all of the corner shard's in-bounds part
    assert store.reads == 0  # an edge shard covered up to the array's end is written without reading it
    await a.setitem(..., data)
    fresh = await aio.open_array(store, "r")
    np.testing.assert_array_equal(await fresh.getitem(np.s_[45:, 38:]), data[45:, 38:])
    np.testing.assert_array_equal(await fresh.getitem(...), data)


# --- real stores -------------------------------------------------------------------------------------


def test_round_trips_on_s3(s3_endpoint: str, s3_bucket: str) -> None:
    setup = S3Store(s3_bucket, "w5", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    azarr.open_array(setup, mode="w", shape=SHAPE, chunks=INNER, shards=SHARD, dtype="f4")[...] = field()
    with LoggingProxy(s3_endpoint, delay=0.2) as proxy:
        store = S3Store(s3_bucket, "w5", endpoint_url=proxy.url, **S3_CREDENTIALS, hedge=False)
        a = azarr.open_array(store, mode="r")
        proxy.reset()
        np.testing.assert_array_equal(a[REGION], field()[REGION])
        assert proxy.round_trips() == 2  # cold: indexes, then data
        gets = proxy.paths("GET")
        assert len(gets) == 8 and sorted(set(gets)) == [f"/{s3_bucket}/w5/c/{i}/{j}" for i in (0, 1) for j in (0, 1)]
        proxy.reset()
        np.testing.assert_array_equal(a[REGION], field()[REGION])
        assert proxy.round_trips() == 1  # warm
        rng = np.random.default_rng(1)
        points = rng.integers(0, 64, 100), rng.integers(0, 64, 100)
        cold = azarr.open_array(store, mode="r")
        proxy.reset()
        np.testing.assert_array_equal(cold.vindex[points], field()[points])
        assert proxy.round_trips() <= 2
        cold = azarr.open_array(store, mode="r")
        proxy.reset()
        np.testing.assert_array_equal(cold[...], field())
        assert proxy.round_trips() == 1 and len(proxy.paths("GET")) == 4  # whole shards, no index wait


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_native_ranged_batches(kind: str, redis_url: str, tmp_path: Any) -> None:
    import uuid

    store: Any = RedisStore(redis_url, prefix=f"shio{uuid.uuid4().hex[:8]}") if kind == "redis" else SQLiteStore(
        tmp_path / "s.db")
    counting = CountingStore(store)
    azarr.open_array(counting, mode="w", shape=SHAPE, chunks=INNER, shards=SHARD, dtype="f4")[...] = field()
    a = azarr.open_array(counting, mode="r")
    counting.reset()
    np.testing.assert_array_equal(a[REGION], field()[REGION])
    np.testing.assert_array_equal(a[REGION], field()[REGION])
    assert counting.calls["get_ranges"] == 3  # cold 2 + warm 1


async def test_consolidated_staleness_rides_with_the_first_wave() -> None:
    from azarr.errors import ConsolidatedMetadataError

    store = MemoryStore()
    root = await aio.open_group(store, "w")
    arr = await root.create_array("x", shape=SHAPE, chunks=INNER, shards=SHARD, dtype="f4")
    await arr.setitem(..., field())
    await aio.consolidate_metadata(store)
    counting = CountingStore(store)
    g = await aio.open_consolidated(counting)
    x = await g.getitem("x")
    counting.reset()
    np.testing.assert_array_equal(await x.getitem(REGION), field()[REGION])
    assert counting.calls["get_ranges"] == 2 and ("x/zarr.json", None) in counting.range_calls[0]
    await aio.open_array(store, "w", path="x", shape=SHAPE, chunks=INNER, shards=(16, 16), dtype="f4")
    stale = await (await aio.open_consolidated(store)).getitem("x")
    with pytest.raises(ConsolidatedMetadataError, match="stale"):
        await stale.getitem(REGION)
