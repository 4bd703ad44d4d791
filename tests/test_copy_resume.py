"""The copy engine's additions for ``azarr copy`` / ``azarr convert``: progress counts, array
metadata written after the data (an interrupted copy leaves no array that looks complete),
``if_exists="resume"`` copying only what is missing, and re-encoded copies written whole
shard by whole shard (no shard read back, none written twice)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from azarr import aio
from azarr.core.copy import copy_array_data, copy_nodes
from azarr.core.group import AsyncGroup
from azarr.core.hierarchy import NodeContext
from azarr.core.streams import CopyProgress
from azarr.errors import CopyError
from azarr.meta.formats import format_for
from azarr.stores import LocalStore, MemoryStore, RedisStore
from azarr.stores.base import Store
from tests.counting import CountingStore


class FailingAfter(CountingStore):
    """Counts, and fails every ``set_many`` after the first ``allowed`` (an interruption)."""

    def __init__(self, inner: Store, allowed: int) -> None:
        super().__init__(inner)
        self.allowed = allowed

    async def set_many(self, items: Mapping[str, Any]) -> None:
        if self.calls["set_many"] >= self.allowed:
            raise OSError("interrupted")
        await super().set_many(items)


async def build(store: Store, zarr_format: int = 2) -> AsyncGroup:
    root = await aio.open_group(store, mode="w", zarr_format=zarr_format, attributes={"title": "t"})
    a = await root.create_array("a", shape=(40, 30), chunks=(4, 5), dtype="i4", attributes={"u": 1})
    await a.setitem(..., np.arange(1200, dtype="i4").reshape(40, 30))
    sub = await root.create_group("sub")
    b = await sub.create_array("b", shape=(100,), chunks=(7,), dtype="f8")
    await b.setitem(..., np.linspace(0, 1, 100))
    return root


def dest_group(store: Store, zarr_format: Any, path: str = "") -> AsyncGroup:
    return AsyncGroup(store, path, format_for(zarr_format).create_group(root=path == ""), {}, context=NodeContext())


async def same_data(src: Store, dst: Store) -> None:
    for path in ("a", "sub/b"):
        x = await aio.open_array(src, mode="r", path=path)
        y = await aio.open_array(dst, mode="r", path=path)
        np.testing.assert_array_equal(await y.getitem(...), await x.getitem(...))
        assert dict(y.attrs) == dict(x.attrs)


async def test_progress_counts_every_stored_object(redis_url: str) -> None:
    src = RedisStore(redis_url, prefix="resume-progress")
    root = await build(src)
    dst = MemoryStore()
    progress = CopyProgress()
    await copy_nodes([(root, "")], dest_group(dst, 2), progress=progress)
    listing = {k: n async for k, n in src.list_prefix_sizes("")}
    chunks = {k: n for k, n in listing.items() if k.rpartition("/")[2][0].isdigit()}
    assert (progress.total_chunks, progress.total_bytes) == (len(chunks), sum(chunks.values()))
    assert (progress.done_chunks, progress.done_bytes) == (len(chunks), sum(chunks.values()))
    assert progress.skipped_chunks == 0
    await same_data(src, dst)
    # a second, resumed copy finds everything there: nothing is written again
    again = CopyProgress()
    counted = CountingStore(dst)
    await copy_nodes([(root, "")], dest_group(counted, 2), if_exists="resume", progress=again)
    assert (again.done_chunks, again.skipped_chunks, again.skipped_bytes) == (0, len(chunks), sum(chunks.values()))
    assert counted.calls["set_many"] == 2 and counted.calls["set"] == 0  # the documents: groups, then arrays


async def test_interrupted_copy_leaves_no_array_metadata_and_resumes(tmp_path: Path) -> None:
    src = MemoryStore()
    root = await build(src)
    # the copy dies after its group documents and its first data window (64 of 75 chunks)
    failing = FailingAfter(LocalStore(tmp_path / "dst"), allowed=2)
    with pytest.raises(OSError, match="interrupted"):
        await copy_nodes([(root, "")], dest_group(failing, 2))
    dst = LocalStore(tmp_path / "dst")
    stored = [k async for k in dst.list_prefix("")]
    assert ".zgroup" in stored and "sub/.zgroup" in stored
    assert "a/.zarray" not in stored and "sub/b/.zarray" not in stored  # no array looks complete
    written = [k for k in stored if not k.endswith((".zgroup", ".zattrs"))]
    assert len(written) == 64  # the first window landed, each object whole
    progress = CopyProgress()
    await copy_nodes([(root, "")], dest_group(dst, 2), if_exists="resume", progress=progress)
    assert progress.skipped_chunks == len(written)
    assert progress.done_chunks + progress.skipped_chunks == progress.total_chunks
    await same_data(src, dst)
    # the source's attributes, merged into the existing root group
    assert dict((await aio.open_group(dst, mode="r")).attrs) == {"title": "t"}


async def test_resume_refuses_a_different_array() -> None:
    src, dst = MemoryStore(), MemoryStore()
    root = await build(src)
    other = await aio.open_group(dst, mode="w", zarr_format=2)
    await other.create_array("a", shape=(40, 30), chunks=(8, 5), dtype="i4")
    with pytest.raises(CopyError, match="cannot be resumed"):
        await copy_nodes([(root, "")], dest_group(dst, 2), if_exists="resume")
    assert [k async for k in dst.list_prefix("")] == [".zgroup", "a/.zarray"]  # nothing written


async def test_convert_writes_whole_shards_once_and_resumes_by_slab() -> None:
    src = MemoryStore()
    arr = await aio.create(shape=(64, 48), chunks=(8, 8), dtype="u2", store=src, zarr_format=2)
    await arr.setitem(..., np.arange(64 * 48, dtype="u2").reshape(64, 48))
    dst = CountingStore(MemoryStore())
    meta_kws = {"chunks": (8, 8), "shards": (16, 24)}
    from azarr.core.copy import _target_metadata

    meta = _target_metadata(arr, 3, meta_kws)
    target = aio.AsyncArray(dst, "t", meta, {})
    progress = CopyProgress()
    # a budget of two shards per slab: several slabs, each whole shards
    await copy_array_data(arr, target, budget=2 * 16 * 24 * 2, progress=progress)
    shard_keys = [k for k in dst.inner._data if k.startswith("t/c/")]  # type: ignore[attr-defined]
    assert len(shard_keys) == 4 * 2
    assert dst.calls["get_many"] == 0 and dst.calls["get_ranges"] == 0 and dst.calls["get"] == 0  # never read back
    assert dst.calls["set_many"] == 4  # one batched write per slab
    assert (progress.total_chunks, progress.done_chunks) == (8, 8)
    np.testing.assert_array_equal(await target.getitem(...), await arr.getitem(...))
    # resumed: every slab's shards are there, nothing is decoded or written again
    dst.reset()
    again = CopyProgress()
    await copy_array_data(arr, target, budget=2 * 16 * 24 * 2, progress=again, existing=set(dst.inner._data))  # type: ignore[attr-defined]
    assert dst.calls["set_many"] == 0 and (again.skipped_chunks, again.done_chunks) == (8, 0)
