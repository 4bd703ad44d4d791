"""The copy engine (azarr/core/copy.py) beyond zarr-python 2 parity: store to store between
real backends, batching and bounded memory, raw chunk copies, format conversions read back
by zarr-python 3 and 2.18, consolidated metadata kept, nothing written on a conflict."""

from __future__ import annotations

import asyncio
import uuid
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr

import azarr
from azarr import aio
from azarr.core.copy import chunk_regions, copy_array_data, copy_keys
from azarr.core.streams import stream_values
from azarr.errors import ContainsArrayError, CopyError, NodeNotFoundError
from azarr.stores import LocalStore, MemoryStore, MongoDBStore, RedisStore, S3Store
from tests.counting import CountingStore
from tests.services.moto import S3_CREDENTIALS
from tests.zarr2 import run_zarr2

warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")


def build_hierarchy(store: Any, zarr_format: int) -> azarr.Group:
    """A small hierarchy: attributes, nested groups, a string array, 24 numeric chunks."""
    root = azarr.open_group(store, mode="w", zarr_format=zarr_format, attributes={"title": "src"})
    a = root.create_array("a", shape=(12, 8), chunks=(3, 2), dtype="i4", fill_value=-1, attributes={"unit": "m"})
    a[...] = np.arange(96).reshape(12, 8)
    sub = root.create_group("sub", attributes={"level": 1})
    b = sub.create_array("deep/b", shape=(5,), chunks=(2,), dtype="f8")
    b[...] = np.linspace(0.5, 1, 5)
    s = sub.create_array("s", shape=(4,), chunks=(3,), dtype=str)
    s[...] = np.array(["x", "yy", "", "zzzz"], dtype=object)
    return root


def assert_same_hierarchy(src: azarr.Group, dst: azarr.Group) -> None:
    seen: list[str] = []
    src.visit(seen.append)
    copied: list[str] = []
    dst.visit(copied.append)
    assert copied == seen
    assert dst.attrs.asdict() == src.attrs.asdict()
    for path in seen:
        a, b = src[path], dst[path]
        assert b.attrs.asdict() == a.attrs.asdict()
        if isinstance(a, azarr.Array):
            assert (b.shape, b.chunks, b.dtype) == (a.shape, a.chunks, a.dtype)
            np.testing.assert_array_equal(b[...], a[...])


def test_copy_store_redis_to_s3_is_batched_and_keeps_consolidated(redis_url: str, s3_bucket: str, s3_endpoint: str) -> None:
    prefix = f"cp-{uuid.uuid4().hex[:8]}"
    src_store = RedisStore(redis_url, prefix=prefix)
    src = build_hierarchy(src_store, 2)
    azarr.consolidate_metadata(src_store)
    keys = asyncio.run(src_store.list())
    source = CountingStore(RedisStore(redis_url, prefix=prefix))
    dest = CountingStore(S3Store(s3_bucket, "copied", endpoint_url=s3_endpoint, **S3_CREDENTIALS))
    log: list[str] = []
    n_copied, n_skipped, n_bytes = azarr.copy_store(source, dest, log=log.append)
    sizes = asyncio.run(src_store.get_many(keys))
    assert (n_copied, n_skipped, n_bytes) == (len(keys), 0, sum(len(v) for v in sizes.values()))
    assert log[-1] == f"all done: {len(keys):,} copied, 0 skipped, {n_bytes:,} bytes copied"
    # one listing each side, then batched windows: no per-key requests
    assert source.calls["get_many"] <= 2 and source.calls["get"] == 0
    assert dest.calls["set_many"] <= 2 and dest.calls["set"] == 0
    reopened = azarr.open_consolidated(S3Store(s3_bucket, "copied", endpoint_url=s3_endpoint, **S3_CREDENTIALS))
    assert_same_hierarchy(src, reopened)


def test_copy_group_local_to_mongodb_raw_bytes(tmp_path: Path, mongodb_uri: str) -> None:
    src = build_hierarchy(str(tmp_path / "src"), 3)
    dest_store = MongoDBStore(mongodb_uri, database="azarr_test", collection=f"copy_{uuid.uuid4().hex[:8]}")
    dst = azarr.open_group(dest_store, mode="w", zarr_format=3)
    counts = azarr.copy_all(src, dst)
    assert counts == (5, 0, 96 * 4 + 5 * 8 + 4 * 8)  # a, sub, sub/deep, sub/deep/b, sub/s; arrays count size * itemsize
    assert_same_hierarchy(src, azarr.open_group(dest_store, mode="r"))
    # same format, nothing overridden: chunks are copied as stored, never re-encoded
    local = LocalStore(str(tmp_path / "src"))
    src_chunks = {k: v for k, v in asyncio.run(local.get_many(asyncio.run(local.list()))).items() if "/c/" in k}
    assert asyncio.run(dest_store.get_many(list(src_chunks))) == src_chunks


def test_copy_v3_read_by_zarr_python3(tmp_path: Path) -> None:
    src = build_hierarchy(str(tmp_path / "src"), 3)
    azarr.consolidate_metadata(str(tmp_path / "src"))
    dst = azarr.open_group(str(tmp_path / "dst"), mode="w")
    assert azarr.copy(src, dst, name="copied")[0] == 6
    # the source had consolidated metadata: so does its copy
    back = zarr.open_consolidated(str(tmp_path / "dst"), path="copied")
    assert back.attrs.asdict() == {"title": "src"}
    np.testing.assert_array_equal(back["a"][...], np.arange(96).reshape(12, 8))
    assert back["a"].attrs.asdict() == {"unit": "m"} and back["a"].fill_value == -1
    assert list(back["sub/s"][...]) == ["x", "yy", "", "zzzz"]
    np.testing.assert_array_equal(back["sub/deep/b"][...], np.linspace(0.5, 1, 5))


def test_copy_across_formats_read_by_both_zarr_pythons(tmp_path: Path) -> None:
    src2 = build_hierarchy(str(tmp_path / "v2"), 2)
    to_v3 = azarr.open_group(str(tmp_path / "as_v3"), mode="w", zarr_format=3)
    azarr.copy_all(src2, to_v3)
    back3 = zarr.open_group(str(tmp_path / "as_v3"), mode="r")
    assert back3.metadata.zarr_format == 3 and back3["a"].metadata.zarr_format == 3
    np.testing.assert_array_equal(back3["a"][...], np.arange(96).reshape(12, 8))
    assert list(back3["sub/s"][...]) == ["x", "yy", "", "zzzz"]

    src3 = build_hierarchy(str(tmp_path / "v3"), 3)
    to_v2 = azarr.open_group(str(tmp_path / "as_v2"), mode="w", zarr_format=2)
    azarr.copy_all(src3, to_v2)
    seen = run_zarr2(
        """
        import zarr
        g = zarr.open_group(P["path"], mode="r")
        RESULT = {"a": g["a"][...].tolist(), "s": list(g["sub/s"][...]), "b": g["sub/deep/b"][...].tolist(),
                  "attrs": [dict(g.attrs), dict(g["a"].attrs), dict(g["sub"].attrs)], "fill": int(g["a"].fill_value)}
        """,
        path=str(tmp_path / "as_v2"),
    )
    assert seen["a"] == np.arange(96).reshape(12, 8).tolist()
    assert seen["s"] == ["x", "yy", "", "zzzz"] and seen["b"] == np.linspace(0.5, 1, 5).tolist()
    assert seen["attrs"] == [{"title": "src"}, {"unit": "m"}, {"level": 1}] and seen["fill"] == -1


class TrackedPair:
    """A source and a destination that count the chunk bytes read but not yet written."""

    def __init__(self) -> None:
        self.outstanding = 0
        self.peak = 0
        self.source = _Tracked(MemoryStore(), self, +1)
        self.dest = _Tracked(MemoryStore(), self, -1)

    def move(self, n: int) -> None:
        self.outstanding += n
        self.peak = max(self.peak, self.outstanding)


class _Tracked(MemoryStore):
    def __init__(self, inner: MemoryStore, pair: TrackedPair, sign: int) -> None:
        super().__init__()
        self._pair = pair
        self._sign = sign
        self.batches: list[int] = []

    async def get_many(self, keys: Iterable[str], **kw: Any) -> dict[str, bytes]:
        found = await super().get_many(keys, **kw)
        self.batches.append(sum(len(v) for v in found.values()))
        self._pair.move(self._sign * self.batches[-1])
        return found

    async def set_many(self, items: Mapping[str, Any]) -> None:
        await super().set_many(items)
        self._pair.move(self._sign * sum(len(v) for v in items.values()))


def test_raw_copy_holds_at_most_two_windows() -> None:
    pair = TrackedPair()
    chunk = 64 * 1024
    values = {f"a/c/{i}": bytes([i % 251]) * chunk for i in range(200)}
    asyncio.run(pair.source.set_many(values))
    pair.outstanding = pair.peak = 0
    budget = 32 * chunk
    copied = asyncio.run(copy_keys(pair.source, pair.dest, [(k, "b" + k[1:]) for k in sorted(values)], budget=budget))
    assert copied == 200 * chunk
    assert asyncio.run(pair.dest.get_many([f"b/c/{i}" for i in range(200)])) == {f"b/c/{i}": values[f"a/c/{i}"] for i in range(200)}
    first, *rest = pair.source.batches
    assert first == 64 * chunk and max(rest) <= budget  # sizes are unknown for the first window, then adapt
    # in flight: at most the window being written and the one read ahead
    assert pair.peak <= first + budget


def test_stream_values_reads_ahead_and_stops_cleanly() -> None:
    async def main() -> None:
        store = MemoryStore()
        await store.set_many({f"k{i:03d}": b"x" * 100 for i in range(50)})
        keys = [f"k{i:03d}" for i in range(60)]  # 10 missing
        seen: list[str] = []
        async for window, found in stream_values(store, keys, budget=1000, first=5):
            seen.extend(window)
            assert set(found) == {k for k in window if int(k[1:]) < 50}
        assert seen == keys
        agen = stream_values(store, keys, budget=1000, first=5)
        async for _ in agen:
            break
        await agen.aclose()  # the read-ahead is cancelled, nothing left running

    asyncio.run(main())


def test_decoded_copy_slabs_stay_within_budget() -> None:
    regions = chunk_regions((100, 60, 7), (10, 6, 7), 8, budget=10 * 6 * 7 * 8 * 12)
    covered = np.zeros((100, 60, 7), dtype=int)
    for r in regions:
        covered[r] += 1
        assert np.prod([s.stop - s.start for s in r]) * 8 <= 10 * 6 * 7 * 8 * 12
        assert all(s.start % c == 0 for s, c in zip(r, (10, 6, 7)))  # chunk-aligned
    assert (covered == 1).all()
    assert chunk_regions((0, 5), (2, 2), 8, 100) == []
    assert chunk_regions((5,), (2,), 8, 1) == [(slice(0, 2),), (slice(2, 4),), (slice(4, 5),)]  # a chunk at least

    async def main() -> None:
        src = await aio.create((30, 20), chunks=(4, 5), dtype="f8", zarr_format=2, compressor=numcodecs.Zlib())
        data = np.random.default_rng(1).standard_normal((30, 20))
        await src.setitem(..., data)
        dst = await aio.create((30, 20), chunks=(7, 20), dtype="f8", zarr_format=3)
        await copy_array_data(src, dst, budget=7 * 20 * 8 * 2)
        np.testing.assert_array_equal(await dst.getitem(...), data)

    asyncio.run(main())


def test_conflict_raises_before_anything_is_written() -> None:
    src = build_hierarchy(MemoryStore(), 3)
    dest_store = MemoryStore()
    dst = azarr.open_group(dest_store, mode="w")
    dst.create_group("copy").create_array("sub/deep/b", shape=(1,), dtype="i1")  # the last node of the copy
    before = dict(dest_store._data)
    with pytest.raises(CopyError) as info:
        azarr.copy(src, dst, name="copy")
    assert "copy/sub/deep/b" in str(info.value) and isinstance(info.value, RuntimeError)
    assert dest_store._data == before  # zarr-python 2 would have copied everything before it
    before = asyncio.run(dest_store.list())
    with pytest.raises(CopyError):
        azarr.copy_store(src.store, dest_store)
    assert asyncio.run(dest_store.list()) == before


def test_copy_into_consolidated_destination_keeps_it_true(tmp_path: Path) -> None:
    src = build_hierarchy(MemoryStore(), 2)
    dest = str(tmp_path / "dest")
    azarr.open_group(dest, mode="w", zarr_format=2).create_group("existing")
    azarr.consolidate_metadata(dest)
    dst = azarr.open_consolidated(dest, mode="r+")
    azarr.copy(src["sub"], dst)
    reopened = azarr.open_consolidated(dest)
    assert sorted(reopened.keys()) == ["existing", "sub"]
    assert reopened["sub"].attrs.asdict() == {"level": 1}
    np.testing.assert_array_equal(reopened["sub/deep/b"][...], np.linspace(0.5, 1, 5))
    z2 = run_zarr2(
        "import zarr\ng = zarr.open_consolidated(P['path'])\nRESULT = sorted(g['sub'].keys())",
        path=dest,
    )
    assert z2 == ["deep", "s"]


def test_move_within_consolidated_group(tmp_path: Path) -> None:
    path = str(tmp_path / "g")
    build_hierarchy(path, 3)
    azarr.consolidate_metadata(path)
    g = azarr.open_consolidated(path, mode="r+")
    g.move("sub/deep", "elsewhere/deep2")
    reopened = azarr.open_consolidated(path)
    assert reopened.get("sub/deep") is None
    np.testing.assert_array_equal(reopened["elsewhere/deep2/b"][...], np.linspace(0.5, 1, 5))
    back = zarr.open_consolidated(path)
    assert sorted(back["elsewhere"].keys()) == ["deep2"]
    with pytest.raises(NodeNotFoundError):
        g.move("sub/deep", "x")
    with pytest.raises(ContainsArrayError):
        g.move("a", "sub/s")


def test_from_array_keeps_fill_value_and_attributes_and_copies_raw() -> None:
    # zarr-python 3.1 documents both defaults but drops them; azarr keeps them
    store = MemoryStore()
    src = azarr.create_array(store, name="src", shape=(6, 4), chunks=(4, 2), dtype="i4", fill_value=-1,
                             attributes={"a": 1}, compressors=azarr.codecs.ZstdCodec(level=5))
    src[:4] = 3
    copy = azarr.from_array(store, name="copy", data=src)
    assert copy.fill_value == -1 and copy.attrs.asdict() == {"a": 1}
    np.testing.assert_array_equal(copy[...], src[...])
    stored = asyncio.run(store.get_many([f"src/c/{i}/{j}" for i in range(2) for j in range(2)]))
    assert asyncio.run(store.get_many([k.replace("src", "copy") for k in stored])) == {
        k.replace("src", "copy"): v for k, v in stored.items()
    }


class _Failing(MemoryStore):
    async def set_many(self, items: Mapping[str, Any]) -> None:
        if any("/c/" in k for k in items):
            raise OSError("disk full")
        await super().set_many(items)


def test_copy_failure_surfaces(tmp_path: Path) -> None:
    src = build_hierarchy(MemoryStore(), 3)
    dst = azarr.open_group(_Failing(), mode="w")
    with pytest.raises(OSError, match="disk full"):
        azarr.copy(src["a"], dst)


def test_copy_never_deletes_its_own_source() -> None:
    store = MemoryStore()
    src = build_hierarchy(store, 3)
    before = dict(store._data)
    with pytest.raises(CopyError, match="part of the source"):
        azarr.copy(src["sub"], src, if_exists="replace")  # "sub" onto itself
    with pytest.raises(CopyError, match="part of the source"):
        azarr.copy(src["sub/deep/b"], src, name="sub", if_exists="replace")  # onto the group holding it
    assert store._data == before
    # a copy landing inside its source is planned from the source as it was
    assert azarr.copy(src, src["sub"], name="backup")[0] == 6  # the root group and its 5 nodes
    assert sorted(src["sub/backup"].keys()) == ["a", "sub"] and "backup" not in src["sub/backup/sub"]
    np.testing.assert_array_equal(src["sub/backup/a"][...], src["a"][...])


def test_skip_initialized_refuses_a_group_in_the_way() -> None:
    src = build_hierarchy(MemoryStore(), 3)
    dst = azarr.group(MemoryStore())
    dst.create_group("a")
    with pytest.raises(CopyError, match="group 'a' exists"):
        azarr.copy(src["a"], dst, if_exists="skip_initialized")
    assert dst["a"].keys() == []
