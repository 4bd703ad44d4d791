"""Consolidated metadata (Zarr v2 .zmetadata): one read opens a hierarchy; writes keep it true; interop.

The v3 form (inline in the root zarr.json) is tested in test_v3.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr

import azarr
from azarr import aio
from azarr.errors import ArrayNotFoundError, ConsolidatedMetadataError
from azarr.stores import LocalStore, MemoryStore, Store
from tests.counting import CountingStore


async def build(store: Store) -> None:
    root = await aio.open_group(store, "w", zarr_format=2)  # v2 here; test_v3.py covers v3
    await root.update_attributes({"title": "t"})
    for i in range(5):
        a = await root.create_array(f"a{i}", shape=(10,), chunks=(5,), dtype="i4", attributes={"i": i})
        await a.setitem(..., np.arange(10) + i)
    sub = await root.create_group("sub")
    inner = await sub.create_group("inner")
    x = await inner.create_array("x", shape=(4, 4), chunks=(2, 2), dtype="f8")
    await x.setitem(..., np.eye(4))
    await aio.consolidate_metadata(store)


async def test_open_consolidated_is_one_read_and_walk_is_free() -> None:
    inner = MemoryStore()
    await build(inner)
    store = CountingStore(inner)
    g = await aio.open_consolidated(store)
    # one round trip: the v3 root document and .zmetadata asked for together
    assert store.reads == 1 and set(store.keys_read) <= {"zarr.json", ".zmetadata"}
    store.reset()
    assert await g.keys() == ["a0", "a1", "a2", "a3", "a4", "sub"]
    tree = await g.tree()
    assert "x (4, 4) float64" in tree
    arrays = [await g.getitem(f"a{i}") for i in range(5)]
    assert [a.attrs["i"] for a in arrays] == list(range(5))
    assert g.attrs == {"title": "t"}
    x = await g.getitem("sub/inner/x")
    assert store.reads == 0, store.calls
    np.testing.assert_array_equal(await x.getitem(...), np.eye(4))
    assert store.calls["get_many"] == 1 and store.reads == 1  # chunks only (metadata check rides along)


async def test_use_consolidated_modes() -> None:
    inner = MemoryStore()
    await build(inner)
    store = CountingStore(inner)
    g = await aio.open_group(store, "r")  # None: uses .zmetadata
    assert store.reads == 1
    assert await g.keys()
    assert store.reads == 1
    plain = MemoryStore()
    await aio.open_group(plain, "w")
    g2 = await aio.open_group(plain, "r")  # falls back quietly
    assert g2.context.consolidated is None
    with pytest.raises(ConsolidatedMetadataError):
        await aio.open_group(plain, "r", use_consolidated=True)
    with pytest.raises(ConsolidatedMetadataError):
        await aio.open_consolidated(plain)
    store.reset()
    g3 = await aio.open_group(store, "r", use_consolidated=False)
    assert g3.context.consolidated is None
    assert ".zmetadata" not in store.keys_read


async def test_writes_keep_zmetadata_true() -> None:
    store = MemoryStore()
    await build(store)
    g = await aio.open_consolidated(store, mode="r+")
    await g.create_array("new", shape=(3,), dtype="u1")
    await g.create_group("sub/newgroup")
    a0 = await g.getitem("a0")
    await a0.update_attributes({"changed": True})
    await a0.resize(20)
    await a0.append(np.ones(5, "i4"))
    await g.delitem("a4")
    doc = json.loads(store._data[".zmetadata"])["metadata"]
    assert "new/.zarray" in doc and "sub/newgroup/.zgroup" in doc
    assert doc["a0/.zattrs"]["changed"] is True
    assert doc["a0/.zarray"]["shape"] == [25]
    assert not any(k.startswith("a4/") for k in doc)
    fresh = await aio.open_consolidated(store)
    assert (await fresh.getitem("a0")).shape == (25,)
    assert "a4" not in await fresh.keys()


async def test_stale_document_does_not_give_wrong_data() -> None:
    store = MemoryStore()
    await build(store)
    # change the hierarchy behind the consolidated document's back
    plain = await aio.open_group(store, "r+", use_consolidated=False)
    await plain.delitem("a1")
    a2 = await aio.open_array(store, "w", path="a2", shape=(10,), chunks=(5,), dtype="f8")
    await a2.setitem(..., 1.5)
    g = await aio.open_consolidated(store)
    with pytest.raises(ArrayNotFoundError, match="stale"):
        await (await g.getitem("a1")).getitem(...)
    with pytest.raises(ConsolidatedMetadataError, match="stale"):
        await (await g.getitem("a2")).getitem(...)


def test_zarr_python_reads_azarr_consolidated(tmp_path: Path) -> None:
    g = azarr.open_group(str(tmp_path), mode="w", zarr_format=2)
    g.attrs["a"] = 1
    g.create_group("sub").create_array("x", shape=(3,), chunks=(2,), dtype="i2").__setitem__(Ellipsis, [1, 2, 3])
    azarr.consolidate_metadata(str(tmp_path))
    z = zarr.open_consolidated(str(tmp_path), zarr_format=2)
    assert z.attrs["a"] == 1
    np.testing.assert_array_equal(z["sub/x"][...], [1, 2, 3])


def test_azarr_reads_zarr_python_consolidated(tmp_path: Path) -> None:
    root = zarr.open_group(str(tmp_path), mode="w", zarr_format=2)
    root.create_group("a").create_group("b").create_array("y", shape=(4,), chunks=(2,), dtype="f4")[...] = [1, 2, 3, 4]
    root["a"].attrs["k"] = "v"
    zarr.consolidate_metadata(str(tmp_path), zarr_format=2)
    counting = CountingStore(LocalStore(tmp_path))
    g = azarr.open_consolidated(counting)
    assert counting.reads == 1
    assert g["a"].attrs["k"] == "v"
    np.testing.assert_array_equal(g["a/b/y"][...], [1, 2, 3, 4])


async def test_consolidate_reads_concurrently() -> None:
    inner = MemoryStore()
    root = await aio.open_group(inner, "w")
    for i in range(30):
        await root.create_array(f"v{i}", shape=(2,), dtype="i1")
    store = CountingStore(inner)
    await aio.consolidate_metadata(store)
    # one listing + one batched read for all member documents (not one read per array)
    assert store.calls["list_prefix"] == 1
    assert store.calls["get_many"] <= 2 and store.calls["get"] <= 1


def test_single_read_on_a_real_server(redis_url: str) -> None:
    import uuid

    from azarr.stores import RedisStore

    prefix = f"cons{uuid.uuid4().hex[:8]}"
    g = azarr.open_group(RedisStore(redis_url, prefix=prefix), mode="w", zarr_format=2)
    for i in range(10):
        g.create_group(f"grp{i}").create_array("x", shape=(4,), chunks=(2,), dtype="i2").__setitem__(Ellipsis, i)
    azarr.consolidate_metadata(RedisStore(redis_url, prefix=prefix))
    counting = CountingStore(RedisStore(redis_url, prefix=prefix))
    root = azarr.open_consolidated(counting)
    assert counting.reads == 1
    tree = root.tree()
    arrays = [root[f"grp{i}/x"] for i in range(10)]
    assert "x (4,) int16" in tree and all(a.shape == (4,) for a in arrays)
    assert counting.reads == 1  # walking the tree and opening 10 arrays: no further requests
    np.testing.assert_array_equal(arrays[3][...], [3, 3, 3, 3])
    assert counting.reads == 2  # the chunk read
