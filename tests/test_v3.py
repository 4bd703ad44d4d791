"""Zarr v3 end to end: azarr against zarr-python 3 and tensorstore as oracles, on the local
store, S3 (moto) and Redis; creation rules; consolidated v3; bad input."""

from __future__ import annotations

import json
import uuid
import warnings
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
import zarr.codecs as zc

import azarr
import azarr.codecs as ac
from azarr import aio
from azarr.errors import AzarrError, CodecError, ConsolidatedMetadataError, MetadataError
from azarr.stores import LocalStore, MemoryStore, RedisStore, S3Store
from tests.counting import CountingStore
from tests.roundtrips import LoggingProxy
from tests.services.moto import S3_CREDENTIALS

warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")

NUMERIC = ["bool", "int8", "<i2", "<i4", "<i8", "uint8", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8", "<c8", "<c16"]
OTHER = ["<M8[s]", "<m8[ms]", "|S6", "<U4", "|V2", "str"]


def sample(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if dtype == "str":
        return np.array([f"s{i % 13}" * (i % 4) for i in range(n)], dtype=object).reshape(shape)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(max(info.min, -1000), min(info.max, 1000), shape).astype(dt)
    if dt.kind == "f":
        return (rng.standard_normal(shape) * 100).astype(dt)
    if dt.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    if dt.kind in "Mm":
        return rng.integers(0, 10**6, shape).astype("i8").view(dt)
    if dt.kind == "S":
        return np.array([f"b{i % 997}".encode() for i in range(n)], dtype=dt).reshape(shape)
    if dt.kind == "U":
        return np.array([f"u{i % 97}" for i in range(n)], dtype=dt).reshape(shape)
    if dt.kind == "V":
        return rng.integers(0, 256, n * dt.itemsize).astype("u1").view(dt).reshape(shape)
    raise AssertionError(dtype)


def as_comparable(a: Any) -> np.ndarray:
    """zarr-python 3 returns numpy StringDType for v3 strings; azarr object arrays."""
    a = np.asarray(a)
    if a.dtype.kind in "OT":
        return a.astype(object)
    return a


def assert_same(got: Any, expected: Any) -> None:
    np.testing.assert_array_equal(as_comparable(got), as_comparable(expected))


def zarr_dtype(dtype: str) -> Any:
    return str if dtype == "str" else dtype


def chain(lib: Any, name: str) -> dict[str, Any]:
    """The same codec chain spelled with ``lib`` (zarr.codecs or azarr.codecs)."""
    if name == "none":
        return {"compressors": None}
    if name == "zstd":
        return {"compressors": [lib.ZstdCodec(level=3)]}
    if name == "gzip":
        return {"compressors": [lib.GzipCodec(level=5)]}
    if name == "blosc":
        return {"compressors": [lib.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")]}
    if name == "transpose-big-crc":
        return {
            "filters": [lib.TransposeCodec(order=(1, 0))],
            "serializer": lib.BytesCodec(endian="big"),
            "compressors": [lib.ZstdCodec(level=1), lib.Crc32cCodec()],
        }
    raise AssertionError(name)


# --- interop with zarr-python 3 on the local store ----------------------------------------------


@pytest.mark.parametrize("dtype", NUMERIC + OTHER)
def test_zarr_python_v3_dtypes_read_by_azarr(tmp_path: Path, dtype: str) -> None:
    data = sample((13, 9), dtype)
    z = zarr.create_array(str(tmp_path / "a"), shape=data.shape, chunks=(5, 4), dtype=zarr_dtype(dtype), zarr_format=3)
    z[...] = data
    a = azarr.open(str(tmp_path / "a"), mode="r")
    assert isinstance(a, azarr.Array) and a.zarr_format == 3
    assert_same(a[...], data)
    assert_same(a[3:11:3, -5:], data[3:11:3, -5:])
    assert_same(a.oindex[[0, 12], [1, 8]], data[np.ix_([0, 12], [1, 8])])


@pytest.mark.parametrize("dtype", NUMERIC + OTHER)
def test_azarr_v3_dtypes_read_by_zarr_python(tmp_path: Path, dtype: str) -> None:
    data = sample((11, 7), dtype, seed=1)
    z = azarr.open_array(str(tmp_path / "a"), mode="w", shape=data.shape, chunks=(4, 3), dtype=zarr_dtype(dtype))
    assert z.zarr_format == 3  # the default format of new arrays
    z[...] = data
    assert (tmp_path / "a" / "zarr.json").exists()
    back = zarr.open_array(str(tmp_path / "a"), mode="r")
    assert back.metadata.zarr_format == 3
    assert_same(back[...], data)


@pytest.mark.parametrize("codecs", ["none", "zstd", "gzip", "blosc", "transpose-big-crc"])
@pytest.mark.parametrize("dtype", ["<i4", "<f8", "str"])
def test_codec_chains_both_ways(tmp_path: Path, codecs: str, dtype: str) -> None:
    if dtype == "str" and codecs == "transpose-big-crc":
        # zarr-python 3.1 serialises vlen strings ignoring a transpose before them (it cannot
        # read its own such arrays back), so strings take this chain without the transpose
        kw, akw = chain(zc, codecs), chain(ac, codecs)
        for k in (kw, akw):
            k.pop("serializer")
            k.pop("filters")
    else:
        kw, akw = chain(zc, codecs), chain(ac, codecs)
    data = sample((30, 17), dtype)
    z = zarr.create_array(str(tmp_path / "z"), shape=data.shape, chunks=(8, 5), dtype=zarr_dtype(dtype), **kw)
    z[...] = data
    assert_same(azarr.open_array(str(tmp_path / "z"), mode="r")[...], data)
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=data.shape, chunks=(8, 5), dtype=zarr_dtype(dtype), **akw)
    w[...] = data
    assert_same(zarr.open_array(str(tmp_path / "w"), mode="r")[...], data)
    assert json.loads((tmp_path / "w" / "zarr.json").read_text())["codecs"] == json.loads(
        (tmp_path / "z" / "zarr.json").read_text()
    )["codecs"]
    if codecs != "blosc":  # same codecs, same layout: the stored chunk bytes are zarr-python's
        mine, theirs = ((tmp_path / d / "c" / "1" / "2").read_bytes() for d in ("w", "z"))
        if codecs == "gzip":  # gzip header bytes 4-10: timestamp and OS, which writers set freely
            mine, theirs = mine[:4] + mine[10:], theirs[:4] + theirs[10:]
        assert mine == theirs


@pytest.mark.parametrize(
    "encoding",
    [
        {"name": "default", "separator": "/"},
        {"name": "default", "separator": "."},
        {"name": "v2", "separator": "."},
        {"name": "v2", "separator": "/"},
    ],
)
def test_chunk_key_encodings_both_ways(tmp_path: Path, encoding: dict[str, str]) -> None:
    data = sample((9, 8, 7), "<i4")
    z = zarr.create_array(str(tmp_path / "z"), shape=data.shape, chunks=(4, 4, 4), dtype=data.dtype,
                          chunk_key_encoding=encoding)
    z[...] = data
    assert_same(azarr.open_array(str(tmp_path / "z"), mode="r")[...], data)
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=data.shape, chunks=(4, 4, 4), dtype=data.dtype,
                         chunk_key_encoding=encoding)
    w[...] = data
    sep = encoding["separator"]
    key = ("c" + sep if encoding["name"] == "default" else "") + sep.join(["1", "1", "1"])
    assert (tmp_path / "w" / key).exists()
    assert_same(zarr.open_array(str(tmp_path / "w"), mode="r")[...], data)


@pytest.mark.parametrize(
    ("dtype", "fill"),
    [("<f4", np.nan), ("<f4", np.inf), ("<f8", -np.inf), ("<f4", 42.5), ("<i2", -7), ("<u8", 2**64 - 1),
     ("bool", True), ("<c8", complex(1, -2)), ("<M8[s]", "NaT"), ("str", "missing"), ("|S6", b"ab")],
)
def test_fill_values_both_ways(tmp_path: Path, dtype: str, fill: Any) -> None:
    fv = np.datetime64(fill) if dtype.startswith("<M8") else fill
    z = zarr.create_array(str(tmp_path / "z"), shape=(10, 10), chunks=(3, 3), dtype=zarr_dtype(dtype), fill_value=fv)
    expected = np.asarray(z[...])
    data = sample((1, 1), dtype) if dtype != "bool" else np.array([[not fill]])
    z[0, 0] = data[0, 0]
    expected[0, 0] = data[0, 0]
    assert_same(azarr.open_array(str(tmp_path / "z"), mode="r")[...], expected)
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=(10, 10), chunks=(3, 3), dtype=zarr_dtype(dtype),
                         fill_value=fv)
    w[0, 0] = data[0, 0]
    assert_same(zarr.open_array(str(tmp_path / "w"), mode="r")[...], expected)
    assert json.loads((tmp_path / "w" / "zarr.json").read_text())["fill_value"] == json.loads(
        (tmp_path / "z" / "zarr.json").read_text()
    )["fill_value"]
    assert len([p for p in (tmp_path / "w").rglob("*") if p.is_file()]) == 2  # zarr.json + the one chunk


def test_datetime_missing_chunks_read_as_nat(tmp_path: Path) -> None:
    w = azarr.open_array(str(tmp_path / "t"), mode="w", shape=(6,), chunks=(2,), dtype="<M8[s]")
    w[0] = np.datetime64("2020-01-01")
    got = w[...]
    assert got[0] == np.datetime64("2020-01-01") and np.isnat(got[1:]).all()


def test_zero_dim_and_edge_chunks(tmp_path: Path) -> None:
    z = zarr.create_array(str(tmp_path / "s"), shape=(), chunks=(), dtype="f8")
    z[...] = 3.5
    assert azarr.open_array(str(tmp_path / "s"), mode="r")[...] == 3.5
    w = azarr.open_array(str(tmp_path / "t"), mode="w", shape=(), dtype="i4")
    w[...] = 7
    assert (tmp_path / "t" / "c").exists()
    assert zarr.open_array(str(tmp_path / "t"), mode="r")[...] == 7
    e = azarr.open_array(str(tmp_path / "e"), mode="w", shape=(7, 5), chunks=(3, 2), dtype="u2")
    e[...] = np.arange(35).reshape(7, 5)
    assert_same(zarr.open_array(str(tmp_path / "e"), mode="r")[6:, 4:], [[34]])


def test_numcodecs_names_both_ways(tmp_path: Path) -> None:
    data = np.arange(200, dtype="<i4").reshape(20, 10)
    import zarr.codecs.numcodecs as znc

    z = zarr.create_array(str(tmp_path / "z"), shape=data.shape, chunks=(6, 4), dtype="<i4",
                          filters=[znc.Delta(dtype="<i4")], compressors=[znc.LZ4()])
    z[...] = data
    assert_same(azarr.open_array(str(tmp_path / "z"), mode="r")[...], data)
    w = azarr.open_array(str(tmp_path / "w"), mode="w", zarr_format=3, shape=data.shape, chunks=(6, 4),
                         dtype="<i4", filters=[numcodecs.Delta(dtype="<i4")], compressors=[numcodecs.LZ4()])
    w[...] = data
    names = [c["name"] for c in json.loads((tmp_path / "w" / "zarr.json").read_text())["codecs"]]
    assert names == ["numcodecs.delta", "bytes", "numcodecs.lz4"]
    assert_same(zarr.open_array(str(tmp_path / "w"), mode="r")[...], data)


def test_groups_attributes_and_shape_changes_both_ways(tmp_path: Path) -> None:
    root = zarr.open_group(str(tmp_path / "g"), mode="w")
    root.attrs["title"] = "from zarr"
    x = root.create_group("sub").create_array("x", shape=(4,), chunks=(2,), dtype="i2", dimension_names=["t"])
    x[...] = [1, 2, 3, 4]
    x.attrs["units"] = "m"
    g = azarr.open_group(str(tmp_path / "g"), mode="r+")
    assert g.zarr_format == 3 and g.attrs["title"] == "from zarr"
    assert list(g) == ["sub"] and "sub/x" in g
    ax = g["sub/x"]
    assert ax.attrs["units"] == "m" and ax.metadata.dimension_names == ("t",)
    ax.append(np.array([5, 6], dtype="i2"))
    ax.attrs["more"] = 1
    g.create_group("new").create_array("y", shape=(2, 2), chunks=(1, 1), dtype="f4")
    assert g["new"].zarr_format == 3 and g["new/y"].zarr_format == 3  # the hierarchy's format
    zx = zarr.open_array(str(tmp_path / "g" / "sub" / "x"), mode="r")
    assert zx.shape == (6,) and zx.attrs["more"] == 1 and zx.metadata.dimension_names == ("t",)
    assert_same(zx[...], [1, 2, 3, 4, 5, 6])
    ax.resize(3)
    assert not (tmp_path / "g" / "sub" / "x" / "c" / "2").exists()  # chunks outside the new shape deleted
    assert zarr.open_array(str(tmp_path / "g" / "sub" / "x"), mode="r").shape == (3,)
    del g["new"]
    assert "new" not in zarr.open_group(str(tmp_path / "g"), mode="r")
    tree = azarr.open_group(str(tmp_path / "g"), mode="r").tree()
    assert "x (3,) int16" in tree


# --- tensorstore's zarr3 driver --------------------------------------------------------------


def ts_spec(path: Path) -> dict[str, Any]:
    return {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path)}}


@pytest.mark.parametrize("dtype", ["bool", "int8", "<u2", "<i8", "<f2", "<f4", "<f8", "<c16"])
@pytest.mark.parametrize("codecs", ["zstd", "transpose-big-crc"])
def test_tensorstore_both_ways(tmp_path: Path, dtype: str, codecs: str) -> None:
    import tensorstore as ts

    data = sample((13, 9), dtype)
    w = azarr.open_array(str(tmp_path / "a"), mode="w", shape=data.shape, chunks=(5, 4), dtype=dtype,
                         chunk_key_encoding={"name": "default", "separator": "."}, **chain(ac, codecs))
    w[...] = data
    t = ts.open(ts_spec(tmp_path / "a")).result()
    assert_same(t.read().result(), data)
    codec_json = json.loads((tmp_path / "a" / "zarr.json").read_text())["codecs"]
    t2 = ts.open(
        {**ts_spec(tmp_path / "b"), "metadata": {"shape": list(data.shape), "chunk_grid": {"name": "regular",
         "configuration": {"chunk_shape": [5, 4]}}, "data_type": json.loads((tmp_path / "a" / "zarr.json")
         .read_text())["data_type"], "codecs": codec_json}},
        create=True,
    ).result()
    t2.write(data).result()
    # tensorstore writes compact sorted JSON; azarr reads it as it is
    assert_same(azarr.open_array(str(tmp_path / "b"), mode="r")[...], data)


# --- the same layout on S3 and Redis ---------------------------------------------------------------


def test_s3_both_ways_with_zarr_python(s3_endpoint: str, s3_bucket: str) -> None:
    import s3fs

    fs_opts = {"key": S3_CREDENTIALS["key"], "secret": S3_CREDENTIALS["secret"],
               "client_kwargs": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}}
    data = sample((20, 12), "<f4")
    zstore = zarr.storage.FsspecStore(s3fs.S3FileSystem(asynchronous=True, **fs_opts), path=f"{s3_bucket}/z")
    z = zarr.create_array(zstore, shape=data.shape, chunks=(6, 5), dtype=data.dtype, fill_value=np.nan)
    z[2:, :] = data[2:]
    expected = data.copy()
    expected[:2] = np.nan
    a = azarr.open_array(S3Store(s3_bucket, "z", endpoint_url=s3_endpoint, **S3_CREDENTIALS), mode="r")
    assert a.zarr_format == 3
    assert_same(a[...], expected)
    w = azarr.open_array(S3Store(s3_bucket, "w", endpoint_url=s3_endpoint, **S3_CREDENTIALS), mode="w",
                         shape=data.shape, chunks=(6, 5), dtype=data.dtype, compressors=[ac.GzipCodec(level=1)])
    w[...] = data
    back = zarr.open_array(zarr.storage.FsspecStore(s3fs.S3FileSystem(asynchronous=True, **fs_opts), path=f"{s3_bucket}/w"), mode="r")
    assert_same(back[...], data)


def test_redis_holds_the_same_keys_and_bytes(redis_url: str) -> None:
    import redis

    prefix = f"v3{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    data = sample((9, 10), "<i8")
    # zarr-python 3 writes into memory; its keys are copied byte for byte into Redis
    mem: dict[str, Any] = {}
    z = zarr.create_array(zarr.storage.MemoryStore(mem), shape=data.shape, chunks=(4, 4), dtype=data.dtype,
                          attributes={"a": 1})
    z[...] = data
    for key, buf in mem.items():
        client.set(f"{prefix}:{key}", buf.to_bytes())
    a = azarr.open_array(RedisStore(redis_url, prefix=prefix), mode="r")
    assert a.zarr_format == 3 and a.attrs["a"] == 1
    assert_same(a[...], data)
    # and the reverse: what azarr writes to Redis, zarr-python reads
    prefix2 = prefix + "w"
    w = azarr.open_array(RedisStore(redis_url, prefix=prefix2), mode="w", shape=data.shape, chunks=(4, 4),
                         dtype=data.dtype)
    w[...] = data
    from zarr.core.buffer import cpu

    copied = {k.decode().removeprefix(prefix2 + ":"): cpu.Buffer.from_bytes(client.get(k))
              for k in client.scan_iter(f"{prefix2}:*")}
    assert_same(zarr.open_array(zarr.storage.MemoryStore(copied), mode="r")[...], data)


# --- creation rules ---------------------------------------------------------------------------------


def test_default_format_and_v2_keywords(tmp_path: Path) -> None:
    assert azarr.open_array(str(tmp_path / "d"), mode="w", shape=(4,), dtype="i4").zarr_format == 3
    assert azarr.open_group(str(tmp_path / "g"), mode="w").zarr_format == 3
    assert azarr.create((4,), chunks=(2,), store=str(tmp_path / "c")).zarr_format == 3
    # a keyword only zarr-python 2 has, and no zarr_format: v2, as that code always wrote
    assert azarr.open_array(str(tmp_path / "a"), mode="w", shape=(4,), compressor=numcodecs.Zstd()).zarr_format == 2
    assert azarr.open_array(str(tmp_path / "b"), mode="w", shape=(4,), compressor=None).zarr_format == 2
    assert azarr.open_array(str(tmp_path / "s"), mode="w", shape=(4,), dimension_separator="/").zarr_format == 2
    assert azarr.open_array(str(tmp_path / "f"), mode="w", shape=(4,), dtype="i4",
                            filters=[numcodecs.Delta(dtype="i4")]).zarr_format == 2
    assert (tmp_path / "a" / ".zarray").exists()
    with pytest.raises(MetadataError, match="compressor"):
        azarr.open_array(str(tmp_path / "x"), mode="w", shape=(4,), compressor=numcodecs.Zstd(), zarr_format=3)
    assert not (tmp_path / "x").exists()
    with pytest.raises(MetadataError, match="dimension_separator"):
        azarr.open_array(str(tmp_path / "y"), mode="w", shape=(4,), dimension_separator="/", zarr_format=3)


def test_new_nodes_take_the_hierarchys_format(tmp_path: Path) -> None:
    v2 = azarr.open_group(str(tmp_path / "old"), mode="w", zarr_format=2)
    v2.create_group("a")
    assert azarr.open_group(str(tmp_path / "old"), mode="a", path="a/b").zarr_format == 2
    assert azarr.open_array(str(tmp_path / "old"), mode="w", path="a/x", shape=(3,)).zarr_format == 2
    assert (tmp_path / "old" / "a" / "b" / ".zgroup").exists()
    v3 = azarr.open_group(str(tmp_path / "new"), mode="w")
    assert v3.create_group("k").zarr_format == 3
    assert azarr.open_array(str(tmp_path / "new"), mode="w", path="k/m/arr", shape=(3,)).zarr_format == 3
    assert json.loads((tmp_path / "new" / "k" / "m" / "zarr.json").read_text())["node_type"] == "group"


def test_v3_keywords(tmp_path: Path) -> None:
    a = azarr.open_array(str(tmp_path / "a"), mode="w", shape=(6, 4), chunks=(3, 2), dtype="<f4",
                         dimension_names=["y", "x"], attributes={"u": "K"}, fill_value=-1,
                         serializer={"name": "bytes", "configuration": {"endian": "big"}},
                         compressors=[{"name": "gzip", "configuration": {"level": 1}}])
    a[:3] = 1
    doc = json.loads((tmp_path / "a" / "zarr.json").read_text())
    assert doc["dimension_names"] == ["y", "x"] and doc["attributes"] == {"u": "K"} and doc["fill_value"] == -1.0
    assert [c["name"] for c in doc["codecs"]] == ["bytes", "gzip"]
    assert doc["codecs"][0]["configuration"]["endian"] == "big"
    z = zarr.open_array(str(tmp_path / "a"), mode="r")
    assert_same(z[...], np.where(np.arange(6)[:, None] < 3, 1, -1) * np.ones((6, 4), "f4"))


# --- consolidated v3 ------------------------------------------------------------------------------


def build(store: Any, zarr_format: int, n: int = 20) -> None:
    root = azarr.open_group(store, mode="w", zarr_format=zarr_format)
    root.attrs["title"] = "t"
    for i in range(n):
        grp = root.require_group(f"g{i % 4}")
        a = grp.create_array(f"a{i}", shape=(8,), chunks=(4,), dtype="i4", attributes={"i": i})
        a[...] = np.arange(8) + i
    azarr.consolidate_metadata(store)


@pytest.mark.parametrize("zarr_format", [3, 2])
def test_consolidated_open_is_one_round_trip(s3_endpoint: str, s3_bucket: str, zarr_format: int) -> None:
    build(S3Store(s3_bucket, "h", endpoint_url=s3_endpoint, **S3_CREDENTIALS), zarr_format)
    with LoggingProxy(s3_endpoint, delay=0.2) as proxy:
        store = S3Store(s3_bucket, "h", endpoint_url=proxy.url, **S3_CREDENTIALS, hedge=False)
        g = azarr.open_group(store, mode="r")  # consolidated metadata used when present
        tree = g.tree()
        arrays = [g[f"g{i % 4}/a{i}"] for i in range(20)]
        assert [a.attrs["i"] for a in arrays] == list(range(20)) and "a19 (8,) int32" in tree
        assert proxy.round_trips() == 1
        gets = proxy.paths("GET")
        assert len(gets) <= 2 and all(p.endswith(("/zarr.json", "/.zmetadata")) for p in gets), gets
    assert g.async_group.context.consolidated is not None


def test_consolidated_v3_is_zarr_pythons(tmp_path: Path) -> None:
    build(str(tmp_path / "a"), 3, n=6)
    # the same hierarchy consolidated by zarr-python: the root documents are identical
    build(str(tmp_path / "z"), 3, n=6)
    zarr.consolidate_metadata(str(tmp_path / "z"))
    assert (tmp_path / "a" / "zarr.json").read_bytes() == (tmp_path / "z" / "zarr.json").read_bytes()
    zg = zarr.open_consolidated(str(tmp_path / "a"))
    assert zg.attrs["title"] == "t" and sorted(zg["g1"].array_keys()) == ["a1", "a5"]
    counting = CountingStore(LocalStore(tmp_path / "z"))
    g = azarr.open_consolidated(counting)
    assert counting.reads == 1
    assert_same(g["g2/a2"][...], np.arange(8) + 2)


async def test_writes_keep_v3_consolidated_true() -> None:
    store = MemoryStore()
    build(store, 3, n=4)
    g = await aio.open_consolidated(store, mode="r+")
    await g.update_attributes({"title": "changed"})
    await g.create_array("new", shape=(3,), dtype="u1")
    a0 = await g.getitem("g0/a0")
    await a0.update_attributes({"changed": True})
    await a0.resize(20)
    await g.delitem("g1")
    doc = json.loads(store._data["zarr.json"])
    assert doc["attributes"]["title"] == "changed"
    meta = doc["consolidated_metadata"]["metadata"]
    assert "new" in meta and meta["g0/a0"]["attributes"]["changed"] is True and meta["g0/a0"]["shape"] == [20]
    assert not any(k == "g1" or k.startswith("g1/") for k in meta)
    fresh = await aio.open_consolidated(store)
    assert (await fresh.getitem("g0/a0")).shape == (20,)


async def test_stale_v3_consolidated_does_not_give_wrong_data() -> None:
    store = MemoryStore()
    build(store, 3, n=4)
    a2 = await aio.open_array(store, "w", path="g2/a2", shape=(8,), chunks=(4,), dtype="f8")
    await a2.setitem(..., 1.5)
    g = await aio.open_consolidated(store)
    with pytest.raises(ConsolidatedMetadataError, match="stale"):
        await (await g.getitem("g2/a2")).getitem(...)


# --- bad input --------------------------------------------------------------------------------------


def _array_doc(**changes: Any) -> bytes:
    doc: dict[str, Any] = {
        "zarr_format": 3, "node_type": "array", "shape": [4], "data_type": "int32",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
        "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}], "attributes": {},
    }
    doc.update(changes)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        (b"{not json", "zarr.json"),
        (_array_doc(codecs=[{"name": "bytes"}, {"name": "nosuchcodec"}]), "nosuchcodec"),
        (_array_doc(data_type="int33"), "int33"),
        (_array_doc(storage_transformers=[{"name": "x"}]), "storage transformer"),
        (_array_doc(my_extension={"must_understand": True}), "my_extension"),
        (_array_doc(my_extension={"must_understand": False}), None),
        (_array_doc(chunk_grid={"name": "irregular"}), "chunk_grid"),
    ],
)
def test_bad_metadata_is_a_clear_error(doc: bytes, match: str | None) -> None:
    store = MemoryStore()
    azarr.sync.run(store.set("data/zarr.json", doc))
    if match is None:
        assert azarr.open_array(store, mode="r", path="data").shape == (4,)
        return
    with pytest.raises(AzarrError, match=match) as info:
        azarr.open_array(store, mode="r", path="data")[...]
    assert "data/zarr.json" in str(info.value) or "data" in str(info.value)


def test_crc32c_mismatch_names_the_chunk() -> None:
    store = MemoryStore()
    a = azarr.open_array(store, mode="w", shape=(4,), chunks=(2,), dtype="i4",
                         compressors=[ac.Crc32cCodec()])
    a[...] = [1, 2, 3, 4]
    raw = bytearray(azarr.sync.run(store.get("c/1")))
    raw[0] ^= 0xFF
    azarr.sync.run(store.set("c/1", bytes(raw)))
    with pytest.raises(CodecError, match="c/1"):
        a[...]
    assert_same(a[:2], [1, 2])


def test_unsupported_data_type_names_the_array(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="unsupported data type|structured"):
        azarr.open_array(str(tmp_path / "s"), mode="w", shape=(2,), dtype=[("a", "i4"), ("b", "f4")], zarr_format=3)
    store = MemoryStore()
    azarr.sync.run(store.set("s/zarr.json", _array_doc(data_type={"name": "structured", "configuration": {"fields": [["a", "int32"]]}})))
    with pytest.raises(MetadataError, match="s/zarr.json"):
        azarr.open_array(store, mode="r", path="s")
