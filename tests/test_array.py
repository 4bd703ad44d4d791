"""The async core: create/open/modes, reads and writes, batching, resize/append, errors."""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import numpy as np
import pytest

import azarr
from azarr import aio
from azarr.errors import (
    ArrayNotFoundError,
    AzarrError,
    CodecError,
    ContainsArrayError,
    ContainsGroupError,
    MetadataError,
    ModeError,
    ReadOnlyError,
    SelectionError,
    ShapeMismatchError,
    StoreError,
)
from azarr.stores import MemoryStore


class CountingStore(MemoryStore):
    """MemoryStore that records every public call (to prove batching)."""

    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.calls: list[tuple[str, int]] = []

    async def get(self, key: str) -> bytes | None:
        self.calls.append(("get", 1))
        return await super().get(key)

    async def get_many(self, keys: Any) -> dict[str, bytes]:
        keys = list(keys)
        self.calls.append(("get_many", len(keys)))
        return await super().get_many(keys)

    async def set_many(self, items: Any) -> None:
        self.calls.append(("set_many", len(items)))
        await super().set_many(items)

    async def set(self, key: str, value: Any) -> None:
        self.calls.append(("set", 1))
        await super().set(key, value)

    async def get_many_for_update(self, keys: Any) -> Any:
        keys = list(keys)
        self.calls.append(("get_many_for_update", len(keys)))
        return await super().get_many_for_update(keys)

    async def set_many_if(self, items: Any) -> set[str]:
        self.calls.append(("set_many_if", len(items)))
        return await super().set_many_if(items)


async def test_read_is_one_get_many() -> None:
    store = CountingStore()
    a = await aio.open_array(store, "w", shape=(100, 100), chunks=(10, 10), dtype="i4")
    data = np.arange(10000, dtype="i4").reshape(100, 100)
    store.calls.clear()
    await a.setitem(..., data)
    assert store.calls == [("set_many", 100)]  # complete chunks: no read-modify-write reads
    store.calls.clear()
    np.testing.assert_array_equal(await a.getitem(...), data)
    assert store.calls == [("get_many", 100)]
    store.calls.clear()
    np.testing.assert_array_equal(await a.getitem((slice(5, 35), slice(95, 100))), data[5:35, 95:100])
    assert store.calls == [("get_many", 4)]


async def test_partial_write_reads_only_partial_chunks() -> None:
    store = CountingStore()
    a = await aio.open_array(store, "w", shape=(40,), chunks=(10,), dtype="f8", fill_value=-1)
    store.calls.clear()
    await a.setitem(slice(5, 35), 1.0)
    # whole chunks: one plain batch; the two edge chunks: one versioned read, one conditional write
    assert store.calls == [("set_many", 2), ("get_many_for_update", 2), ("set_many_if", 2)]
    expected = np.full(40, -1.0)
    expected[5:35] = 1
    np.testing.assert_array_equal(await a.getitem(...), expected)


FORMATS = pytest.mark.parametrize("fmt", [2, 3])
META = {2: (".zarray", ".zgroup"), 3: ("zarr.json", "zarr.json")}


@FORMATS
async def test_empty_chunks_not_written_and_deleted(fmt: int) -> None:
    store = MemoryStore()
    a = await aio.open_array(store, "w", shape=(20, 20), chunks=(10, 10), dtype="f4", fill_value=0, zarr_format=fmt)
    await a.setitem(..., 0)
    assert sorted(store._data) == [META[fmt][0]]
    await a.setitem((slice(0, 10), slice(0, 10)), 1)
    assert a.chunk_key((0, 0)) in store._data
    await a.setitem((slice(0, 10), slice(0, 10)), 0)
    assert a.chunk_key((0, 0)) not in store._data
    store2 = MemoryStore()
    nan = await aio.open_array(store2, "w", path="n", shape=(4,), chunks=(2,), dtype="f8", fill_value=np.nan,
                               zarr_format=fmt)
    await nan.setitem(..., np.nan)
    assert sorted(store2._data) == sorted([META[fmt][1], f"n/{META[fmt][0]}"])


@FORMATS
async def test_write_empty_chunks_option(fmt: int) -> None:
    store = MemoryStore()
    a = await aio.open_array(store, "w", shape=(4,), chunks=(2,), dtype="i1", write_empty_chunks=True, zarr_format=fmt)
    await a.setitem(..., 0)
    assert {a.chunk_key((0,)), a.chunk_key((1,))} <= set(store._data)


async def test_missing_chunks_read_fill_value() -> None:
    a = await aio.create((5, 5), chunks=(2, 2), dtype="i2", fill_value=9, store=MemoryStore())
    np.testing.assert_array_equal(await a.getitem(...), np.full((5, 5), 9, "i2"))


async def test_modes() -> None:
    store = MemoryStore()
    with pytest.raises(ArrayNotFoundError):
        await aio.open_array(store, "r")
    with pytest.raises(FileNotFoundError):
        await aio.open_array(store, "r+")
    with pytest.raises(ModeError):
        await aio.open_array(store, "a")  # needs a shape to create
    a = await aio.open_array(store, "a", shape=(3,), chunks=(2,), dtype="u1")
    await a.setitem(..., [1, 2, 3])
    again = await aio.open_array(store, "a")
    assert again.shape == (3,)
    with pytest.raises(ContainsArrayError):
        await aio.open_array(store, "w-", shape=(3,))
    with pytest.raises(ContainsArrayError):
        await aio.open_array(store, "x", shape=(3,))
    ro = await aio.open_array(store, "r")
    with pytest.raises(ReadOnlyError):
        await ro.setitem(0, 5)
    with pytest.raises(ReadOnlyError):
        await ro.update_attributes({"a": 1})
    w = await aio.open_array(store, "w", shape=(2,), dtype="i8")
    np.testing.assert_array_equal(await w.getitem(...), [0, 0])
    with pytest.raises(ModeError):
        await aio.open_array(store, "q")
    gstore = MemoryStore()
    await aio.open_group(gstore, "w", path="grp")
    with pytest.raises(ContainsGroupError):
        await aio.open_array(gstore, "a", path="grp", shape=(1,))
    with pytest.raises(ContainsArrayError):  # an array at the root cannot hold children
        await aio.open_group(store, "w", path="grp")


async def test_create_validates_before_touching_store() -> None:
    store = MemoryStore()
    a = await aio.open_array(store, "w", shape=(4,), chunks=(2,), dtype="i4")
    await a.setitem(..., [1, 2, 3, 4])
    before = dict(store._data)
    with pytest.raises(MetadataError):
        await aio.open_array(store, "w", shape=(4,), chunks=(2,), dtype="i4", compressor={"id": "nope"})
    with pytest.raises(AzarrError):
        await aio.open_array(store, "w", shape=(4,), chunks=(0,), dtype="i4")
    assert store._data == before


@FORMATS
async def test_codec_error_names_key(fmt: int) -> None:
    store = MemoryStore()
    a = await aio.open_array(store, "w", path="arr", shape=(4,), chunks=(2,), dtype="i4", zarr_format=fmt)
    await a.setitem(..., [1, 2, 3, 4])
    key = a.chunk_key((1,))
    store._data[key] = b"garbage"
    with pytest.raises(CodecError) as info:
        await a.getitem(...)
    assert key in str(info.value)


@FORMATS
async def test_large_read_decodes_early_and_matches(fmt: int) -> None:
    # >= 16 chunks through the base get_many: chunks are decoded as they arrive.
    store = MemoryStore()
    data = np.random.default_rng(1).integers(0, 1000, (96, 80)).astype("i4")
    a = await aio.open_array(store, "w", path="e", shape=data.shape, chunks=(8, 8), dtype="i4", fill_value=-1,
                             zarr_format=fmt)
    await a.setitem(..., data)
    await store.delete(a.chunk_key((3, 4)))  # a missing chunk still reads as fill
    expect = data.copy()
    expect[24:32, 32:40] = -1
    np.testing.assert_array_equal(await a.getitem(...), expect)
    np.testing.assert_array_equal(await a.getitem((slice(3, 90, 2), slice(None, None, 3))), expect[3:90:2, ::3])
    np.testing.assert_array_equal(await a.get_orthogonal_selection(([1, 50, 95], slice(None))), expect[[1, 50, 95]])


@FORMATS
async def test_large_read_codec_error_names_key(fmt: int) -> None:
    store = MemoryStore()
    a = await aio.open_array(store, "w", path="big", shape=(64, 64), chunks=(8, 8), dtype="i4", zarr_format=fmt)
    await a.setitem(..., np.ones((64, 64), "i4"))
    key = a.chunk_key((5, 6))
    store._data[key] = b"garbage"
    with pytest.raises(CodecError) as info:
        await a.getitem(...)
    assert key in str(info.value)


async def test_bad_selections() -> None:
    a = await aio.create((5, 6), chunks=(2, 2), dtype="i4", store=MemoryStore())
    for sel in [(5, 0), (0, -7), (0, 0, 0), (slice(None, None, -1),), "x", 1.5]:
        with pytest.raises(IndexError):
            await a.getitem(sel)
        with pytest.raises(SelectionError):
            await a.getitem(sel)
    with pytest.raises(ShapeMismatchError):
        await a.setitem((slice(0, 2), slice(0, 2)), np.ones((3, 3)))


async def test_orthogonal_coordinate_mask() -> None:
    data = np.arange(60).reshape(6, 10)
    a = await aio.create(data.shape, chunks=(4, 3), dtype=data.dtype, store=MemoryStore())
    await a.setitem(..., data)
    np.testing.assert_array_equal(await a.get_orthogonal_selection(([0, 5, 2], slice(1, 9, 2))), data[[0, 5, 2]][:, 1:9:2])
    np.testing.assert_array_equal(await a.get_coordinate_selection(([0, 5, 2], [9, 0, 3])), data[[0, 5, 2], [9, 0, 3]])
    mask = data % 7 == 0
    np.testing.assert_array_equal(await a.get_mask_selection(mask), data[mask])
    await a.set_coordinate_selection(([1, 4], [1, 8]), [-1, -2])
    await a.set_mask_selection(data == 59, -3)
    await a.set_orthogonal_selection((slice(None), [0]), -4)
    expected = data.copy()
    expected[[1, 4], [1, 8]] = [-1, -2]
    expected[data == 59] = -3
    expected[:, [0]] = -4
    np.testing.assert_array_equal(await a.getitem(...), expected)


async def test_resize_and_append() -> None:
    store = MemoryStore()
    a = await aio.create((10, 4), chunks=(3, 2), dtype="i4", store=store)
    data = np.arange(40).reshape(10, 4)
    await a.setitem(..., data)
    await a.resize(5, 4)
    assert a.shape == (5, 4)
    assert "3.0" not in store._data  # chunks wholly outside are gone
    np.testing.assert_array_equal(await a.getitem(...), data[:5])
    shape = await a.append(np.full((2, 4), 7))
    assert shape == (7, 4)
    np.testing.assert_array_equal(await a.getitem(slice(5, 7)), np.full((2, 4), 7))
    reopened = await aio.open_array(store, "r")
    assert reopened.shape == (7, 4)
    await a.append(np.zeros((7, 1), "i4"), axis=1)
    assert a.shape == (7, 5)
    with pytest.raises(ShapeMismatchError):
        await a.append(np.zeros((2, 3)))


async def test_attributes_persist() -> None:
    store = MemoryStore()
    a = await aio.create((2,), store=store, path="x", attributes={"a": 1})
    await a.update_attributes({"b": [1, 2], "c": np.float64(1.5)})
    again = await aio.open_array(store, "r", path="x")
    assert again.attrs == {"a": 1, "b": [1, 2], "c": 1.5}


async def test_group_api_and_tree() -> None:
    store = MemoryStore()
    g = await aio.open_group(store, "w")
    sub = await g.create_group("a")
    await sub.create_array("x", shape=(3,), chunks=(2,), dtype="i1")
    await g.create_array("b/c/y", shape=(2, 2), dtype="f4")
    assert await g.keys() == ["a", "b"]
    assert (await g.getitem("b/c")).path == "b/c"
    assert isinstance(await g.getitem("a/x"), azarr.AsyncArray)
    tree = await g.tree()
    assert "x (3,) int8" in tree and "y (2, 2) float32" in tree
    assert await g.contains("a/x") and not await g.contains("zz")
    await g.delitem("a")
    assert await g.keys() == ["b"]
    with pytest.raises(ContainsArrayError):
        await g.create_group("b/c/y")


async def test_concurrent_ops_share_store_budget() -> None:
    store = MemoryStore(concurrency=2)
    a = await aio.create((64,), chunks=(1,), dtype="i4", store=store)
    await asyncio.gather(*(a.setitem(slice(i, i + 1), i) for i in range(64)))
    np.testing.assert_array_equal(await a.getitem(...), np.arange(64))
    assert store.limiter.max_in_flight <= 2


def test_sync_pickle_small_and_equal() -> None:
    z = azarr.open_array(None, "w", shape=(4,), chunks=(2,), dtype="i4")
    z[...] = [1, 2, 3, 4]
    blob = pickle.dumps(z)
    z2 = pickle.loads(blob)
    np.testing.assert_array_equal(z2[...], [1, 2, 3, 4])


async def test_failed_write_stores_nothing() -> None:
    store = MemoryStore()
    a = await aio.create((4,), chunks=(2,), dtype="i4", store=store)
    await a.setitem(..., [1, 2, 3, 4])
    before = dict(store._data)
    with pytest.raises(ShapeMismatchError):
        await a.setitem(..., ["x", "y", "z", "w"])
    assert store._data == before


class PerKeyStore(MemoryStore):
    """A MemoryStore without a native batch write, like S3: a big write streams key by key."""

    _set_batch = None  # type: ignore[assignment]

    def __init__(self, fail_key: str | None = None) -> None:
        super().__init__()
        self.fail_key = fail_key
        self.encoded_at_first_set: int | None = None
        self.encoded = 0
        self.set_keys: list[str] = []

    async def _set(self, key: str, value: bytes) -> None:
        chunk = not key.rpartition("/")[2].startswith(".") and not key.endswith("zarr.json")
        if chunk and self.encoded_at_first_set is None:
            self.encoded_at_first_set = self.encoded
        if key == self.fail_key:
            raise StoreError(f"refused {key}", key=key)
        if chunk:
            self.set_keys.append(key)
        await super()._set(key, value)


def _counting_encoder(store: PerKeyStore, monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> None:
    import time

    import azarr.core.chunk_io as array_module

    real = array_module.encode_chunk

    def slow_encode(*args: Any) -> bytes:
        if fail:
            raise CodecError("codec refused the chunk")
        time.sleep(0.0005)  # releases the GIL, like a real compressor
        store.encoded += 1
        return real(*args)

    monkeypatch.setattr(array_module, "encode_chunk", slow_encode)


@FORMATS
async def test_large_write_sends_early_chunks_while_encoding(monkeypatch: pytest.MonkeyPatch, fmt: int) -> None:
    store = PerKeyStore()
    data = np.random.default_rng(3).standard_normal((512, 512)).astype("f4")
    a = await aio.open_array(store, "w", path="s", shape=data.shape, chunks=(16, 16), dtype="f4", zarr_format=fmt)
    _counting_encoder(store, monkeypatch)
    await a.setitem(..., data)
    assert store.encoded == 1024
    assert store.encoded_at_first_set is not None and store.encoded_at_first_set < 512
    assert sorted(store.set_keys) == sorted(a.chunk_key((i, j)) for i in range(32) for j in range(32))
    np.testing.assert_array_equal(await a.getitem(...), data)


@pytest.mark.parametrize(("fmt", "fail_key"), [(2, "s/20.5"), (3, "s/c/20/5")])
async def test_streamed_write_failure_raises_and_stops_sending(fmt: int, fail_key: str) -> None:
    store = PerKeyStore(fail_key=fail_key)
    a = await aio.open_array(store, "w", path="s", shape=(512, 512), chunks=(16, 16), dtype="f4", zarr_format=fmt)
    with pytest.raises(StoreError) as info:
        await asyncio.wait_for(a.setitem(..., np.ones((512, 512), "f4")), 30)
    assert fail_key in str(info.value)
    sent = len(store.set_keys)
    await asyncio.sleep(0.2)
    assert len(store.set_keys) == sent  # nothing keeps writing after the error


async def test_streamed_write_codec_failure_stores_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    store = PerKeyStore()
    a = await aio.open_array(store, "w", path="s", shape=(512, 512), chunks=(16, 16), dtype="f4")
    before = dict(store._data)
    _counting_encoder(store, monkeypatch, fail=True)
    with pytest.raises(CodecError):
        await a.setitem(..., np.ones((512, 512), "f4"))
    assert store._data == before


async def test_object_dtype_write_still_encodes_everything_first(monkeypatch: pytest.MonkeyPatch) -> None:
    # a string in chunk 40 of an object array fails late: nothing may be stored before it
    store = PerKeyStore()
    import numcodecs

    a = await aio.open_array(store, "w", path="o", shape=(4096,), chunks=(64,), dtype=object,
                             object_codec=numcodecs.VLenUTF8())
    before = dict(store._data)
    values = np.array(["x" * 300] * 4096, dtype=object)
    values[40 * 64 + 3] = 7
    with pytest.raises(AzarrError):
        await a.setitem(..., values)
    assert store._data == before


async def test_unallocatable_selection_fails_at_once() -> None:
    from azarr.errors import TooLargeError

    huge = await aio.open_array(MemoryStore(), "w", shape=(2**64 - 1,), chunks=(1,), dtype="u1", zarr_format=3)
    with pytest.raises(TooLargeError, match=r"array /.*bytes") as info:
        await asyncio.wait_for(huge.getitem(...), 10)  # refused before a single chunk is planned
    assert "18,446,744,073,709,551,615" in str(info.value)
    np.testing.assert_array_equal(await huge.getitem(slice(2**64 - 3, None)), [0, 0])  # small parts still read
    big_chunks = await aio.open_array(MemoryStore(), "w", shape=(2**62,), chunks=(2**62,), dtype="f8", zarr_format=3)
    with pytest.raises(TooLargeError, match="chunk"):
        await big_chunks.setitem(slice(0, 3), 1.0)  # the chunk to merge into cannot exist


async def test_reads_and_writes_plan_in_bounded_waves(monkeypatch: pytest.MonkeyPatch) -> None:
    from azarr.core import chunk_io

    monkeypatch.setattr(chunk_io, "WAVE", 7)
    store = CountingStore()
    a = await aio.open_array(store, "w", shape=(50,), chunks=(2,), dtype="i4", zarr_format=3)
    store.calls.clear()
    await a.setitem(..., np.arange(50))
    assert [n for op, n in store.calls if op == "set_many"] == [7, 7, 7, 4]  # 25 chunks, waves of 7
    store.calls.clear()
    np.testing.assert_array_equal(await a.getitem(...), np.arange(50))
    assert [n for op, n in store.calls if op == "get_many"] == [7, 7, 7, 4]


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("compressor", [None, "zstd", "blosc"])
async def test_reads_through_the_scratch_chunk_match_numpy(order: str, compressor: str | None) -> None:
    """Chunks decoded into a thread's scratch chunk and copied out (a whole chunk that is a strided
    block of the output, a partial chunk, an edge chunk) give exactly what numpy gives, in both
    memory orders; a corrupt chunk still fails naming its key."""
    import numcodecs

    codec = {"zstd": numcodecs.Zstd(level=1), "blosc": numcodecs.Blosc(), None: None}[compressor]
    data = np.arange(130 * 70, dtype="<i4").reshape(130, 70) * 7 - 5
    store = MemoryStore()
    z = await aio.open_array(store, "w", shape=data.shape, chunks=(32, 16), dtype="<i4", order=order,
                             compressor=codec, zarr_format=2)
    await z.setitem(..., data)
    for sel in [(...,), (slice(3, 101), slice(5, 66)), (slice(None), slice(16, 32)), (slice(96, None), slice(64, None)),
                (slice(0, 32), slice(None))]:
        got = await z.getitem(sel[0] if sel == (...,) else sel)
        np.testing.assert_array_equal(got, data[sel[0] if sel == (...,) else sel])
    key = "1.2"
    await store.set(key, b"\x28\xb5\x2f\xfd garbage" if compressor == "zstd" else b"\x00" * 7)
    with pytest.raises(AzarrError, match=r"1\.2"):
        await z.getitem(...)
