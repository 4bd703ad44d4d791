"""zarr-python's keywords and names that the parity suites cannot compare directly: keywords
azarr refuses (and says why), old spellings it translates, the async twins in ``azarr.aio``,
NaT for datetimes without a fill value, views and digests of Zarr v3 arrays."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr

import azarr
from azarr import aio
from azarr.errors import (
    ArgumentError,
    AzarrError,
    ContainsArrayError,
    ContainsGroupError,
    MetadataError,
    ReadOnlyError,
    UnsupportedOptionError,
)
from azarr.stores import MemoryStore
from azarr.sync import StoredBytes, Tree
from tests.zarr2 import run_zarr2

CREATORS: list[tuple[str, Any, dict[str, Any]]] = [
    ("create", azarr.create, {"shape": (3,)}),
    ("zeros", azarr.zeros, {"shape": (3,)}),
    ("open_array", azarr.open_array, {"shape": (3,), "mode": "w"}),
    ("open", azarr.open, {"mode": "w"}),
    ("open_group", azarr.open_group, {"mode": "w"}),
    ("group", azarr.group, {}),
    ("create_array", azarr.create_array, {"shape": (3,), "dtype": "i4"}),
]


@pytest.mark.parametrize("keyword", ["synchronizer", "chunk_store", "meta_array"])
@pytest.mark.parametrize(("fn_name", "fn", "kwargs"), CREATORS, ids=[c[0] for c in CREATORS])
def test_keywords_azarr_cannot_honour_raise(fn_name: str, fn: Any, kwargs: dict[str, Any], keyword: str) -> None:
    store = MemoryStore()
    with pytest.raises(UnsupportedOptionError, match=f"{keyword}= is not supported") as info:
        fn(store=store, **kwargs, **{keyword: object()})
    assert isinstance(info.value, AzarrError) and isinstance(info.value, TypeError)
    assert asyncio.run(store.list()) == []  # refused before anything was written
    fn(store=MemoryStore(), **kwargs, **{keyword: None})  # None means "not given", as in zarr-python


def test_old_and_new_spellings() -> None:
    assert azarr.create((3,), zarr_version=2).zarr_format == 2
    assert azarr.open_group(MemoryStore(), zarr_version=2).zarr_format == 2
    with pytest.raises(MetadataError, match="disagree"):
        azarr.create((3,), zarr_version=2, zarr_format=3)
    z = azarr.create((4,), chunks=(2,), config={"write_empty_chunks": True})
    z[...] = 0
    assert z.nchunks_initialized == 2  # fill-value chunks stored, as asked
    assert azarr.create((4, 4), chunk_shape=(2, 1)).chunks == (2, 1)
    with pytest.raises(MetadataError):
        azarr.create((4,), chunks=(2,), chunk_shape=(2,))
    with pytest.raises(UnsupportedOptionError, match="config keys"):
        azarr.create((4,), config={"bogus": 1})
    with pytest.raises(ArgumentError, match="bogus"):
        azarr.create((4,), bogus=1)
    with pytest.raises(ArgumentError, match="bogus"):
        azarr.open_group(MemoryStore(), bogus=1)
    ro = azarr.create((4,), read_only=True)
    with pytest.raises(ReadOnlyError):
        ro[0] = 1
    for harmless in ("cache_metadata", "cache_attrs", "partial_decompress"):
        azarr.create((2,), **{harmless: True})


def test_codecs_keyword_is_the_whole_chain(tmp_path: Path) -> None:
    z = azarr.create((6,), chunks=(3,), dtype="<u2", store=str(tmp_path / "a"),
                     codecs=[azarr.codecs.BytesCodec(endian="big"), {"name": "gzip", "configuration": {"level": 3}}])
    z[...] = np.arange(6)
    back = zarr.open_array(str(tmp_path / "a"), mode="r")
    assert [type(c).__name__ for c in back.metadata.codecs] == ["BytesCodec", "GzipCodec"]
    np.testing.assert_array_equal(back[...], np.arange(6))
    with pytest.raises(MetadataError, match="not both"):
        azarr.create((4,), codecs=["bytes"], compressors=None)
    with pytest.raises(MetadataError, match="exactly one array->bytes"):
        azarr.create((4,), codecs=[azarr.codecs.ZstdCodec()])


def test_group_compressor_in_v3_means_compressors() -> None:
    g = azarr.group(MemoryStore())
    a = g.create_array("a", shape=(4,), dtype="i4", compressor=numcodecs.Zlib(level=2))
    assert a.zarr_format == 3 and [c.name for c in a.compressors] == ["numcodecs.zlib"]


def test_datetimes_without_fill_value_read_nat(tmp_path: Path) -> None:
    for dtype in ("M8[s]", "m8[ms]"):
        z = azarr.create((6,), chunks=(2,), dtype=dtype, fill_value=None, zarr_format=2, compressor=None,
                         store=str(tmp_path / dtype[:2]))
        assert z.fill_value is None
        assert np.isnat(z[...]).all()
        z[2:4] = np.array([5, 6]).astype(dtype)
        z[4:6] = np.array(["NaT", "NaT"], dtype=dtype)  # all NaT: nothing stored, as zarr-python 3
        assert z.nchunks_initialized == 1
        assert np.isnat(z[[0, 1, 4, 5]]).all() and z[2:4].astype("i8").tolist() == [5, 6]
    written = run_zarr2(
        """
        import zarr
        z = zarr.open_array(P["path"], mode="w", shape=(4,), chunks=(2,), dtype="M8[D]", fill_value=None)
        z[:2] = ["2020-01-01", "2020-01-02"]
        """,
        path=str(tmp_path / "z2"),
    )
    assert written is None
    back = azarr.open_array(str(tmp_path / "z2"), mode="r")
    assert back[:2].astype(str).tolist() == ["2020-01-01", "2020-01-02"] and np.isnat(back[2:]).all()


def test_aio_twins_are_awaitables(tmp_path: Path) -> None:
    async def main() -> None:
        z = await aio.zeros((4,), chunks=(2,), dtype="i2")
        assert isinstance(z, azarr.AsyncArray) and (await z.getitem(...)).tolist() == [0, 0, 0, 0]
        o = await aio.ones_like(z)
        f = await aio.full((2,), 7)
        a = await aio.array(np.arange(3))
        ca = await aio.create_array(MemoryStore(), name="x", data=np.arange(5), chunks=(2,))
        fa = await aio.from_array(MemoryStore(), data=ca)
        e = await aio.empty_like(ca)
        assert (await o.getitem(...)).tolist() == [1, 1, 1, 1] and (await f.getitem(...)).tolist() == [7, 7]
        assert (await a.getitem(...)).tolist() == [0, 1, 2] and (await fa.getitem(...)).tolist() == list(range(5))
        assert e.shape == (5,) and e.chunks == (2,)
        g = await aio.create_group(MemoryStore(), attributes={"a": 1})
        await g.zeros("z", shape=(2,))
        await g.setitem("s", np.arange(3))
        assert [p async for p, _ in g.walk()] == ["s", "z"]
        assert await g.visit(lambda p: p if p == "z" else None) == "z"

        async def async_visitor(path: str) -> str | None:
            return path if path == "s" else None

        assert await g.visit(async_visitor) == "s"
        await aio.save_group(str(tmp_path / "sg"), np.arange(2), b=np.ones(3))
        assert sorted(await aio.load(str(tmp_path / "sg"))) == ["arr_0", "b"]
        await aio.save(str(tmp_path / "one"), np.arange(3))
        assert (await aio.load(str(tmp_path / "one"))).tolist() == [0, 1, 2]
        dst = await aio.group(MemoryStore())
        assert await aio.copy(z, dst, name="z") == (1, 0, 8)
        assert await aio.copy_all(g, dst, if_exists="skip") == (1, 1, 24)
        assert await aio.copy_store(g.store, MemoryStore()) == (len(await g.store.list()), 0, await _size(g.store))
        assert "z (2,) float64" in await aio.tree(g)
        assert (await z.nbytes_stored()) > 0 and len(await z.hexdigest()) == 40
        assert [v async for v in z.islice(1, 3)] == [0, 0]

    asyncio.run(main())


async def _size(store: Any) -> int:
    return sum(len(v) for v in (await store.get_many(await store.list())).values())


def test_array_extras_on_v3(tmp_path: Path) -> None:
    z = azarr.create_array(str(tmp_path / "z"), shape=(5, 3), chunks=(2, 3), dtype="i2", fill_value=-1)
    z[:4] = np.arange(12).reshape(4, 3)
    stored = z.nbytes_stored
    assert isinstance(stored, StoredBytes) and stored == stored() == sum(
        f.stat().st_size for f in (tmp_path / "z").rglob("*") if f.is_file()
    )
    assert z.initialized == z.nchunks_initialized == 2 and z.itemsize == 2
    # digest: chunks in grid order, then the metadata document, as zarr-python 2 computes it
    h = hashlib.sha1()
    for key in ("c/0/0", "c/1/0", "c/2/0", "zarr.json"):
        path = tmp_path / "z" / key
        if path.exists():
            h.update(path.read_bytes())
    assert z.digest() == h.digest() and z.hexdigest() == h.hexdigest()
    f = z.astype("f4")
    assert f.dtype == np.float32 and f.read_only and f[...].tolist() == [*np.arange(12).reshape(4, 3).tolist(), [-1] * 3]
    with pytest.raises(ReadOnlyError):
        f[0] = 1
    u = z.view(dtype="u2")
    assert u[0].tolist() == [0, 1, 2] and u.fill_value == 65535
    assert z.view(shape=(6, 3), fill_value=7)[5].tolist() == [7, 7, 7]
    with pytest.raises(UnsupportedOptionError):
        z.view(read_only=False)
    assert [r.tolist() for r in z.islice(3)] == [[9, 10, 11], [-1, -1, -1]]
    assert [r[0] for r in z] == [0, 3, 6, 9, -1]
    with pytest.raises(ArgumentError):
        list(z.islice(-1))
    info = dict(z.info_items())
    assert info["No. bytes stored"].startswith(str(int(stored))) and info["Chunks Initialized"] == "2"
    assert "Chunks Initialized" in repr(z.info_complete()) and "Chunks Initialized" not in repr(z.info)
    assert z.compressors[0].name == "zstd" and z.serializer.name == "bytes" and z.filters == ()


def test_group_extras(tmp_path: Path) -> None:
    g = azarr.open_group(str(tmp_path / "g"), mode="w")
    g.create_groups("a", "b")
    g["a"].array("x", np.arange(3))
    tree = g.tree()
    assert isinstance(tree, Tree) and repr(tree) == str(tree) == "/\n├── a\n│   └── x (3,) int64\n└── b\n"
    assert str(azarr.tree(g, level=0)) == "/\n├── a\n└── b\n"
    assert [v.name for v in g.values()] == ["/a", "/b"]
    assert [a.name for a in g["a"].array_values()] == ["/a/x"] and len(g.group_values()) == 2
    assert g.require_group("a", overwrite=True).name == "/a" and "x" not in g["a"]
    with pytest.raises(ContainsGroupError):
        g.create_groups("b")
    with pytest.raises(AzarrError):
        g.move("a", "a/inside")
    loaded = azarr.load(str(tmp_path / "g"))
    assert isinstance(loaded, azarr.LazyLoader) and list(loaded) == []
    azarr.save_group(str(tmp_path / "s"), x=np.arange(2))
    lazy = azarr.load(str(tmp_path / "s"))
    assert list(lazy) == ["x"] and lazy["x"].tolist() == [0, 1] and len(lazy) == 1


def test_copy_arguments_checked() -> None:
    src = azarr.zeros((2,))
    dst = azarr.group()
    with pytest.raises(ArgumentError, match="no name"):
        azarr.copy(src, dst)
    with pytest.raises(ContainsArrayError, match="must be a group"):
        azarr.copy(src, src, name="x")
    with pytest.raises(ArgumentError, match="if_exists"):
        azarr.copy(src, dst, name="x", if_exists="sometimes")
    with pytest.raises(ArgumentError, match="log must be"):
        azarr.copy(src, dst, name="x", log=3)
    with pytest.raises(ArgumentError, match="source must be a group"):
        azarr.copy_all(src, dst)
    log = []
    assert azarr.copy(src, dst, name="x", log=log.append) == (1, 0, 16)
    assert log == ["copy / (2,) float64", "all done: 1 copied, 0 skipped, 16 bytes copied"]


def test_copy_log_to_file(tmp_path: Path) -> None:
    src = azarr.group()
    src.zeros("z", shape=(2,))
    azarr.copy_all(src, azarr.group(), log=str(tmp_path / "log.txt"))
    assert (tmp_path / "log.txt").read_text().splitlines() == [
        "copy /z (2,) float64",
        "all done: 1 copied, 0 skipped, 16 bytes copied",
    ]
