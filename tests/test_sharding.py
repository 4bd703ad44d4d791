"""Sharding (``sharding_indexed``): the codec, creation with ``shards=``, and sharded arrays
exchanged both ways with zarr-python 3 and tensorstore on the local store, S3 (moto) and
Redis; corrupted shards raise errors naming the shard."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
import zarr.codecs as zc

import azarr
import azarr.codecs as ac
from azarr import aio
from azarr.codecs import ChunkSpec, CodecPipeline, ShardingCodec
from azarr.codecs.sharding import MAX_UINT64, morton_order
from azarr.errors import CodecError, MetadataError
from azarr.stores import LocalStore, MemoryStore, RedisStore, S3Store
from tests.services.moto import S3_CREDENTIALS
from tests.test_v3 import assert_same, sample, zarr_dtype


def chain(lib: Any, name: str) -> dict[str, Any]:
    """A v3 codec chain (placed inside the sharding codec by ``shards=``), spelled with ``lib``."""
    if name == "none":
        return {"compressors": None}
    if name == "default":
        return {}
    if name == "zstd":
        return {"compressors": [lib.ZstdCodec(level=1)]}
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


def partially_filled(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    """Data whose first shard is partly fill: inner chunks equal to the fill value are not stored."""
    data = sample(shape, dtype, seed)
    data[: shape[0] // 3, : shape[1] // 4] = 0 if dtype != "str" else ""
    return data


# --- the codec ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (16, 16), (2, 3, 4), (1, 7), (5,), (33, 2, 3), ()])
def test_morton_order_is_zarr_pythons(shape: tuple[int, ...]) -> None:
    from zarr.core.indexing import _morton_order

    theirs = _morton_order(shape)
    flat = np.ravel_multi_index(theirs.T, shape) if shape else np.zeros(1, dtype=int)
    np.testing.assert_array_equal(morton_order(shape), flat)


def test_decode_index_accepts_good_tables_and_names_bad_entries() -> None:
    """Every kind of index: all stored, some or all empty, and the entries that must be refused
    (half empty, past the shard's end, past any object's end), whichever check path they take."""
    spec = ChunkSpec((4, 6), np.dtype("<i4"), np.int32(0))
    codec = CodecPipeline([ShardingCodec(chunk_shape=(2, 3))], spec).array_bytes
    assert isinstance(codec, ShardingCodec)

    def encoded(rows: list[tuple[int, int]]) -> bytes:
        return codec.encode_index(np.array(rows, dtype=np.uint64))

    empty = (int(MAX_UINT64), int(MAX_UINT64))
    for rows in ([(0, 10), (10, 5), (15, 1), (16, 84)], [(0, 10), empty, (10, 90), empty], [empty] * 4,
                 [(0, 0), (0, 100), (100, 0), (50, 50)]):
        table = codec.decode_index(encoded(rows), 100)
        assert [tuple(map(int, r)) for r in table] == rows
    bad = {
        "half empty": [(0, 10), (int(MAX_UINT64), 5), (10, 5), (15, 5)],
        "past the end of the 100-byte shard": [(0, 10), (95, 6), (10, 5), (15, 5)],
        "at offset 101": [(0, 10), (101, 0), empty, (15, 5)],
    }
    for what, rows in bad.items():
        with pytest.raises(CodecError, match=what):
            codec.decode_index(encoded(rows), 100)
    huge = [(0, 10), (1 << 63, 1), (10, 5), (15, 5)]
    with pytest.raises(CodecError, match="past the end of any object"):
        codec.decode_index(encoded(huge))
    assert [tuple(map(int, r)) for r in codec.decode_index(encoded(huge[:1] * 4))] == huge[:1] * 4


def test_codec_round_trip_skips_fill_chunks() -> None:
    codec = ShardingCodec(chunk_shape=(2, 3), codecs=[ac.BytesCodec(), ac.ZstdCodec(level=1)], index_location="start")
    spec = ChunkSpec((4, 6), np.dtype("<i4"), np.int32(-1))
    pipeline = CodecPipeline([codec], spec)
    shard = np.arange(24, dtype="<i4").reshape(4, 6)
    shard[2:, :3] = -1  # one inner chunk of fill
    data = pipeline.encode(shard)
    np.testing.assert_array_equal(pipeline.decode(data), shard)
    evolved = pipeline.array_bytes
    assert isinstance(evolved, ShardingCodec) and evolved.index_nbytes == 4 * 16 + 4
    table = evolved.index_of_shard(data)
    assert list(table[2]) == [MAX_UINT64, MAX_UINT64]  # inner chunk (1, 0): not stored
    assert int(table[:, 0][table[:, 0] != MAX_UINT64].min()) == evolved.index_nbytes  # data after the index
    assert ShardingCodec.from_config(codec.to_config()["configuration"]) == codec
    assert ac.codec_class("sharding_indexed") is ShardingCodec


@pytest.mark.parametrize(
    ("config", "spec_shape", "match"),
    [
        ({"codecs": [{"name": "bytes"}]}, (4,), "chunk_shape"),
        ({"chunk_shape": [2], "index_location": "middle"}, (4,), "index_location"),
        ({"chunk_shape": [3]}, (4,), "multiple of the inner chunk shape"),
        ({"chunk_shape": [2, 2]}, (4,), "dimensions"),
        ({"chunk_shape": [2], "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                                               {"name": "zstd", "configuration": {"level": 1}}]}, (4,), "fixed size"),
        ({"chunk_shape": [2], "surprise": 1}, (4,), "surprise"),
        ({"chunk_shape": [2], "codecs": []}, (4,), "non-empty"),
        ({"chunk_shape": [0]}, (4,), "positive"),
    ],
)
def test_bad_sharding_configuration_is_a_clear_error(config: dict[str, Any], spec_shape: tuple[int, ...], match: str) -> None:
    doc = {"zarr_format": 3, "node_type": "array", "shape": [8], "data_type": "int32",
           "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(spec_shape)}},
           "chunk_key_encoding": {"name": "default"}, "fill_value": 0,
           "codecs": [{"name": "sharding_indexed", "configuration": config}], "attributes": {}}
    store = MemoryStore()
    azarr.sync.run(store.set("bad/zarr.json", json.dumps(doc).encode()))
    with pytest.raises(MetadataError, match=match) as info:
        azarr.open_array(store, mode="r", path="bad")
    assert "bad/zarr.json" in str(info.value)


# --- creation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        ("plain", {"chunks": (10, 16), "shards": (20, 32)}),
        ("start", {"chunks": (10, 16), "shards": {"shape": (20, 32), "index_location": "start"}}),
        ("auto", {"chunks": (10, 8), "shards": "auto"}),
        ("guessed inner", {"shards": (100, 64)}),
        ("chain", {"chunks": (10, 16), "shards": (20, 32), "chain": "transpose-big-crc"}),
        ("blosc", {"chunks": (10, 16), "shards": (20, 32), "chain": "blosc"}),
        ("nested", {"chunks": (10, 16), "shards": (20, 32), "nested": (5, 8)}),
        ("sharding serializer", {"chunks": (20, 32), "nested": (5, 8), "compressors": "crc32c"}),
    ],
)
def test_zarr_json_is_zarr_pythons(tmp_path: Path, kind: str, kwargs: dict[str, Any]) -> None:
    def spelled(lib: Any) -> dict[str, Any]:
        kw = {k: v for k, v in kwargs.items() if k not in ("chain", "nested", "compressors")}
        if "chain" in kwargs:
            kw.update(chain(lib, kwargs["chain"]))
        if "nested" in kwargs:
            kw["serializer"] = lib.ShardingCodec(chunk_shape=kwargs["nested"])
            kw["compressors"] = [lib.Crc32cCodec()] if kwargs.get("compressors") == "crc32c" else None
        return kw

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr-python's notes on "auto" shards and sharding + compressors
        z = zarr.create_array(str(tmp_path / "z"), shape=(100, 64), dtype="f4", **spelled(zc))
    a = azarr.open_array(str(tmp_path / "a"), mode="w", shape=(100, 64), dtype="f4", **spelled(ac))
    assert json.loads((tmp_path / "a" / "zarr.json").read_text()) == json.loads((tmp_path / "z" / "zarr.json").read_text())
    assert (a.chunks, a.shards, a.cdata_shape, a.nchunks) == (z.chunks, z.shards, z.cdata_shape, z.nchunks)


async def test_shards_keyword_everywhere(tmp_path: Path) -> None:
    kw: dict[str, Any] = {"shape": (40, 30), "chunks": (5, 5), "shards": (20, 15), "dtype": "i2"}
    made = [
        azarr.create(store=str(tmp_path / "c"), **kw),
        azarr.open_array(str(tmp_path / "o"), mode="w", **kw),
        azarr.open_group(str(tmp_path / "g"), mode="w").create_array("x", **kw),
        await aio.create(store=str(tmp_path / "ac"), **kw),
        await aio.open_array(str(tmp_path / "ao"), mode="w", **kw),
        await (await aio.open_group(str(tmp_path / "ag"), mode="w")).create_array("x", **kw),
        await azarr.core.array.AsyncArray.create(LocalStore(tmp_path / "aa"), **kw),
    ]
    for arr in made:
        assert (arr.chunks, arr.shards) == ((5, 5), (20, 15)), arr
        assert arr.metadata.chunks == (20, 15)
    a = made[0]
    a[...] = np.arange(1200, dtype="i2").reshape(40, 30)
    assert a.nchunks_initialized == 48 == a.nchunks  # 4 shards x 12 inner chunks
    assert "Shard shape" in repr(a.info)
    assert azarr.open_array(str(tmp_path / "plain"), mode="w", shape=(4,), chunks=(2,)).shards is None


def test_shards_with_zarr_format_2_is_a_clear_error(tmp_path: Path) -> None:
    import numcodecs

    with pytest.raises(MetadataError, match="shards= needs Zarr v3"):
        azarr.open_array(str(tmp_path / "a"), mode="w", shape=(8,), chunks=(2,), shards=(4,), zarr_format=2)
    with pytest.raises(MetadataError, match="shards= needs Zarr v3"):  # a v2-only keyword chooses v2
        azarr.open_array(str(tmp_path / "b"), mode="w", shape=(8,), chunks=(2,), shards=(4,), compressor=numcodecs.Zstd())
    with pytest.raises(MetadataError, match="multiple of the"):
        azarr.open_array(str(tmp_path / "c"), mode="w", shape=(8,), chunks=(3,), shards=(4,))
    with pytest.raises(MetadataError, match="shards must be 2 positive integers"):
        azarr.open_array(str(tmp_path / "d"), mode="w", shape=(8, 8), chunks=(2, 2), shards=(4,))
    with pytest.raises(MetadataError, match="index_location"):
        azarr.open_array(str(tmp_path / "e"), mode="w", shape=(8,), chunks=(2,), shards={"shape": (4,), "index_location": "mid"})
    assert not any((tmp_path / n).exists() for n in "abcde")


# --- interop with zarr-python 3 (local store) --------------------------------------------------------


@pytest.mark.parametrize("location", ["end", "start"])
@pytest.mark.parametrize("codecs", ["default", "none", "zstd", "gzip", "blosc", "transpose-big-crc"])
def test_zarr_python_both_ways(tmp_path: Path, location: str, codecs: str) -> None:
    data = partially_filled((50, 37), "<f4")  # edge shards on both axes, one partly-filled shard
    shards = {"shape": (20, 16), "index_location": location}
    z = zarr.create_array(str(tmp_path / "z"), shape=data.shape, chunks=(5, 4), shards=shards, dtype="<f4",
                          **chain(zc, codecs))
    z[...] = data
    a = azarr.open_array(str(tmp_path / "z"), mode="r")
    assert (a.chunks, a.shards) == ((5, 4), (20, 16))
    assert_same(a[...], data)
    assert_same(a[7:43:3, 13:], data[7:43:3, 13:])
    assert_same(a.vindex[[0, 49, 25], [36, 0, 17]], data[[0, 49, 25], [36, 0, 17]])
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=data.shape, chunks=(5, 4), shards=shards, dtype="<f4",
                         **chain(ac, codecs))
    w[...] = data
    assert_same(zarr.open_array(str(tmp_path / "w"), mode="r")[...], data)
    if codecs not in ("gzip", "blosc"):  # same layout and codecs: the very same shard bytes as zarr-python
        for key in ("c/0/0", "c/2/2", "c/1/1"):
            assert (tmp_path / "w" / key).read_bytes() == (tmp_path / "z" / key).read_bytes(), key


@pytest.mark.parametrize("dtype", ["bool", "<i2", "<u8", "<f8", "<c8", "<M8[s]", "|S6", "str"])
def test_zarr_python_dtypes_both_ways(tmp_path: Path, dtype: str) -> None:
    data = sample((21, 10), dtype, seed=2)
    z = zarr.create_array(str(tmp_path / "z"), shape=data.shape, chunks=(4, 5), shards=(8, 10), dtype=zarr_dtype(dtype))
    z[...] = data
    assert_same(azarr.open_array(str(tmp_path / "z"), mode="r")[...], data)
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=data.shape, chunks=(4, 5), shards=(8, 10),
                         dtype=zarr_dtype(dtype))
    w[...] = data
    w[3:5, 2] = data[:2, 0]  # a partial write: read, merge, rewrite one shard
    expected = data.copy()
    expected[3:5, 2] = data[:2, 0]
    assert_same(zarr.open_array(str(tmp_path / "w"), mode="r")[...], expected)


def test_nested_shards_both_ways(tmp_path: Path) -> None:
    data = partially_filled((48, 40), "<i4")
    inner = {"serializer": zc.ShardingCodec(chunk_shape=(4, 5), codecs=[zc.BytesCodec(), zc.ZstdCodec(level=1)]),
             "compressors": None}
    z = zarr.create_array(str(tmp_path / "z"), shape=data.shape, chunks=(12, 10), shards=(24, 20), dtype="<i4", **inner)
    z[...] = data
    a = azarr.open_array(str(tmp_path / "z"), mode="r")
    assert (a.chunks, a.shards) == ((12, 10), (24, 20))
    assert_same(a[...], data)
    assert_same(a[5:30, 7:33], data[5:30, 7:33])
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=data.shape, chunks=(12, 10), shards=(24, 20), dtype="<i4",
                         serializer=ac.ShardingCodec(chunk_shape=(4, 5), codecs=[ac.BytesCodec(), ac.ZstdCodec(level=1)]),
                         compressors=None)
    w[...] = data
    assert_same(zarr.open_array(str(tmp_path / "w"), mode="r")[...], data)
    assert (tmp_path / "w" / "c" / "1" / "1").read_bytes() == (tmp_path / "z" / "c" / "1" / "1").read_bytes()


@pytest.mark.parametrize("around", ["crc32c after", "transpose before"])
def test_sharding_with_codecs_around_it_is_read_whole(tmp_path: Path, around: str) -> None:
    """With codecs before or after it, a shard is an ordinary chunk: read and written whole."""
    import warnings

    data = partially_filled((30, 20), "<u2")
    kw: dict[str, Any] = {"serializer": zc.ShardingCodec(chunk_shape=(5, 5)), "compressors": None}
    akw: dict[str, Any] = {"serializer": ac.ShardingCodec(chunk_shape=(5, 5)), "compressors": None}
    if around == "crc32c after":
        kw["compressors"], akw["compressors"] = [zc.Crc32cCodec()], [ac.Crc32cCodec()]
    else:
        kw["filters"], akw["filters"] = [zc.TransposeCodec(order=(1, 0))], [ac.TransposeCodec(order=(1, 0))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = zarr.create_array(str(tmp_path / "z"), shape=data.shape, chunks=(10, 10), dtype="<u2", **kw)
        z[...] = data
        a = azarr.open_array(str(tmp_path / "z"), mode="r")
        assert (a.chunks, a.shards) == ((10, 10), None)  # zarr-python's rule: not the sole codec
        assert_same(a[...], data)
        assert_same(a[3:17, 4:9], data[3:17, 4:9])
        w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=data.shape, chunks=(10, 10), dtype="<u2", **akw)
        w[...] = data
        w[1, 1] = 7
        expected = data.copy()
        expected[1, 1] = 7
        assert_same(zarr.open_array(str(tmp_path / "w"), mode="r")[...], expected)


def test_empty_inner_chunks_and_shards_are_not_stored(tmp_path: Path) -> None:
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=(40, 40), chunks=(5, 5), shards=(20, 20), dtype="f4",
                         fill_value=np.nan)
    w[0:5, 0:5] = 1.0
    w[20:25, 20:25] = np.nan  # only fill: shard (1, 1) is never stored
    assert sorted(p.relative_to(tmp_path / "w").as_posix() for p in (tmp_path / "w").rglob("*") if p.is_file()) == [
        "c/0/0", "zarr.json"]
    z = zarr.open_array(str(tmp_path / "w"), mode="r")
    expected = np.full((40, 40), np.nan, "f4")
    expected[:5, :5] = 1
    assert_same(z[...], expected)
    codec = w.async_array.codec_pipeline.array_bytes
    assert isinstance(codec, ShardingCodec)
    table = codec.index_of_shard((tmp_path / "w" / "c" / "0" / "0").read_bytes())
    assert np.flatnonzero(table[:, 0] != MAX_UINT64).tolist() == [0]  # one stored inner chunk of 16
    w[0:5, 0:5] = np.nan  # the shard is left with nothing: deleted
    assert not (tmp_path / "w" / "c" / "0" / "0").exists()
    assert np.isnan(w[...]).all()


def test_write_empty_chunks_keeps_fill_chunks(tmp_path: Path) -> None:
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=(8, 8), chunks=(2, 2), shards=(4, 4), dtype="i4",
                         write_empty_chunks=True, compressors=None)
    w[0:4, 0:4] = 0
    shard = (tmp_path / "w" / "c" / "0" / "0").read_bytes()
    assert len(shard) == 4 * (2 * 2 * 4) + 4 * 16 + 4  # every inner chunk stored, fill or not
    assert_same(zarr.open_array(str(tmp_path / "w"), mode="r")[...], np.zeros((8, 8), "i4"))


def test_resize_and_append_sharded(tmp_path: Path) -> None:
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=(30, 10), chunks=(5, 5), shards=(10, 10), dtype="i4")
    w[...] = np.arange(300).reshape(30, 10)
    w.resize(12, 10)
    assert not (tmp_path / "w" / "c" / "2" / "0").exists()  # shards wholly outside the new shape are deleted
    w.append(np.full((5, 10), -1, "i4"))
    expected = np.concatenate([np.arange(120).reshape(12, 10), np.full((5, 10), -1)])
    assert_same(w[...], expected)
    assert_same(zarr.open_array(str(tmp_path / "w"), mode="r")[...], expected)


# --- tensorstore ---------------------------------------------------------------------------------


TS_CHAINS: dict[str, list[Any]] = {
    "zstd": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "zstd", "configuration": {"level": 1}}],
    "gzip": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "gzip", "configuration": {"level": 5}}],
    "blosc": [{"name": "bytes", "configuration": {"endian": "little"}},
              {"name": "blosc", "configuration": {"cname": "lz4", "clevel": 5, "shuffle": "shuffle", "typesize": 4,
                                                  "blocksize": 0}}],
    "transpose-big-crc": [{"name": "transpose", "configuration": {"order": [1, 0]}},
                          {"name": "bytes", "configuration": {"endian": "big"}}, {"name": "crc32c"}],
}


def ts_sharded_spec(path: Path, location: str, nested: bool, chain_name: str = "zstd") -> dict[str, Any]:
    inner_codecs: list[Any] = TS_CHAINS[chain_name]
    if nested:
        inner_codecs = [{"name": "sharding_indexed", "configuration": {"chunk_shape": [3, 2], "codecs": inner_codecs,
                                                                      "index_location": "start"}}]
    return {
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": str(path)},
        "metadata": {
            "shape": [31, 22], "data_type": "int32", "fill_value": 0,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [12, 8]}},
            "codecs": [{"name": "sharding_indexed", "configuration": {
                "chunk_shape": [6, 4], "codecs": inner_codecs,
                "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
                "index_location": location}}],
        },
    }


@pytest.mark.parametrize(
    ("location", "nested", "chain_name"),
    [("end", False, "zstd"), ("start", False, "zstd"), ("end", True, "zstd"), ("start", True, "zstd"),
     ("end", False, "gzip"), ("end", False, "blosc"), ("start", False, "transpose-big-crc")],
)
def test_tensorstore_both_ways(tmp_path: Path, location: str, nested: bool, chain_name: str) -> None:
    import tensorstore as ts

    data = partially_filled((31, 22), "<i4")
    t = ts.open(ts_sharded_spec(tmp_path / "t", location, nested, chain_name), create=True).result()
    t.write(data).result()
    t[2:4, 20:22].write(np.array([[9, 9], [9, 9]], "i4")).result()  # a partial shard rewrite by tensorstore
    expected = data.copy()
    expected[2:4, 20:22] = 9
    a = azarr.open_array(str(tmp_path / "t"), mode="r")
    assert (a.chunks, a.shards) == ((6, 4), (12, 8))
    assert_same(a[...], expected)
    assert_same(a[11:25, 3:19], expected[11:25, 3:19])
    # and back: azarr writes with the same metadata, tensorstore reads
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "zarr.json").write_bytes((tmp_path / "t" / "zarr.json").read_bytes())  # tensorstore's metadata
    w = azarr.open_array(str(tmp_path / "w"), mode="r+")
    w[...] = data
    w[2:4, 20:22] = 9
    back = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path / "w")}}).result()
    assert_same(back.read().result(), expected)


# --- S3 (moto) and Redis ------------------------------------------------------------------------------


def test_s3_both_ways_with_zarr_python(s3_endpoint: str, s3_bucket: str) -> None:
    import s3fs

    fs_opts = {"key": S3_CREDENTIALS["key"], "secret": S3_CREDENTIALS["secret"],
               "client_kwargs": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"}}
    data = partially_filled((45, 30), "<f8")
    zstore = zarr.storage.FsspecStore(s3fs.S3FileSystem(asynchronous=True, **fs_opts), path=f"{s3_bucket}/z")
    z = zarr.create_array(zstore, shape=data.shape, chunks=(5, 5), shards={"shape": (20, 15), "index_location": "start"},
                          dtype="<f8")
    z[...] = data
    a = azarr.open_array(S3Store(s3_bucket, "z", endpoint_url=s3_endpoint, **S3_CREDENTIALS), mode="r")
    assert_same(a[...], data)
    assert_same(a[3:41, 7:22], data[3:41, 7:22])
    w = azarr.open_array(S3Store(s3_bucket, "w", endpoint_url=s3_endpoint, **S3_CREDENTIALS), mode="w",
                         shape=data.shape, chunks=(5, 5), shards=(20, 15), dtype="<f8", **chain(ac, "transpose-big-crc"))
    w[...] = data
    w[21, 4:9] = -1.0
    expected = data.copy()
    expected[21, 4:9] = -1
    back = zarr.open_array(zarr.storage.FsspecStore(s3fs.S3FileSystem(asynchronous=True, **fs_opts), path=f"{s3_bucket}/w"),
                           mode="r")
    assert_same(back[...], expected)
    assert_same(w[...], expected)


def test_redis_holds_zarr_pythons_shards(redis_url: str) -> None:
    import redis
    from zarr.core.buffer import cpu

    client = redis.Redis.from_url(redis_url)
    prefix = f"sh{uuid.uuid4().hex[:8]}"
    data = partially_filled((33, 17), "<i8")
    mem: dict[str, Any] = {}
    z = zarr.create_array(zarr.storage.MemoryStore(mem), shape=data.shape, chunks=(4, 4), shards=(16, 8), dtype="<i8")
    z[...] = data
    for key, buf in mem.items():
        client.set(f"{prefix}:{key}", buf.to_bytes())
    a = azarr.open_array(RedisStore(redis_url, prefix=prefix), mode="r")
    assert_same(a[...], data)
    assert_same(a.oindex[[0, 15, 32], 3:9], data[np.ix_([0, 15, 32], range(3, 9))])
    prefix2 = prefix + "w"
    w = azarr.open_array(RedisStore(redis_url, prefix=prefix2), mode="w", shape=data.shape, chunks=(4, 4),
                         shards=(16, 8), dtype="<i8")
    w[...] = data
    copied = {k.decode().removeprefix(prefix2 + ":"): cpu.Buffer.from_bytes(client.get(k))
              for k in client.scan_iter(f"{prefix2}:*")}
    assert sorted(copied) == sorted(mem)
    assert all(copied[k].to_bytes() == mem[k].to_bytes() for k in copied)  # byte-identical shards
    assert_same(zarr.open_array(zarr.storage.MemoryStore(copied), mode="r")[...], data)


# --- corrupted shards ---------------------------------------------------------------------------------


def _sharded(store: MemoryStore, location: str = "end") -> azarr.Array:
    a = azarr.open_array(store, mode="w", shape=(16, 16), chunks=(4, 4), dtype="i4",
                         shards={"shape": (8, 8), "index_location": location})
    a[...] = np.arange(256, dtype="i4").reshape(16, 16)
    return a


def _flip(store: MemoryStore, key: str, at: int) -> None:
    raw = bytearray(azarr.sync.run(store.get(key)))
    raw[at] ^= 0xFF
    azarr.sync.run(store.set(key, bytes(raw)))


@pytest.mark.parametrize("location", ["end", "start"])
@pytest.mark.parametrize("selection", [np.s_[0:2, 0:2], np.s_[...]], ids=["ranged", "whole"])
def test_corrupted_index_names_the_shard(location: str, selection: Any) -> None:
    store = MemoryStore()
    _sharded(store, location)
    size = len(azarr.sync.run(store.get("c/1/0")))
    _flip(store, "c/1/0", size - 10 if location == "end" else 10)
    fresh = azarr.open_array(store, mode="r")
    with pytest.raises(CodecError, match=r"shard 'c/1/0'.*crc32c checksum mismatch") as info:
        fresh[8:10, 0:2] if selection != np.s_[...] else fresh[...]
    assert info.value.key == "c/1/0"
    assert_same(fresh[0:8, :], np.arange(128).reshape(8, 16))  # other shards still read


@pytest.mark.parametrize("selection", [np.s_[0:2, 4:6], np.s_[...]], ids=["ranged", "whole"])
def test_corrupted_inner_chunk_names_the_shard_and_chunk(selection: Any) -> None:
    store = MemoryStore()
    _sharded(store)
    fresh = azarr.open_array(store, mode="r")
    raw = azarr.sync.run(store.get("c/0/0"))
    table = np.frombuffer(raw[-(4 * 16 + 4) : -4], "<u8").reshape(4, 2)
    _flip(store, "c/0/0", int(table[1, 0]) + 5)  # inside inner chunk (0, 1): its zstd frame breaks
    with pytest.raises(CodecError, match=r"shard 'c/0/0', inner chunk \(0, 1\)"):
        fresh[selection]


def test_index_pointing_past_the_end_is_a_clear_error() -> None:
    store = MemoryStore()
    _sharded(store)
    raw = bytearray(azarr.sync.run(store.get("c/1/1")))
    codec = azarr.open_array(store, mode="r").async_array.codec_pipeline.array_bytes
    assert isinstance(codec, ShardingCodec)
    table = codec.index_of_shard(bytes(raw)).copy()
    table[3] = (len(raw) + 100, 50)
    raw[-codec.index_nbytes :] = codec.encode_index(table)
    azarr.sync.run(store.set("c/1/1", bytes(raw)))
    with pytest.raises(CodecError, match=r"shard 'c/1/1'.*(past the end|ends before)"):
        azarr.open_array(store, mode="r")[12:14, 12:14]
    with pytest.raises(CodecError, match=r"shard 'c/1/1'.*past the end"):
        azarr.open_array(store, mode="r")[...]
    azarr.sync.run(store.set("c/1/1", b"short"))  # shorter than its index
    with pytest.raises(CodecError, match=r"shard 'c/1/1'.*(holds 5 bytes)"):
        azarr.open_array(store, mode="r")[12:14, 12:14]


# --- dask -------------------------------------------------------------------------------------------


def test_from_dask_writes_one_task_per_shard(tmp_path: Path) -> None:
    import dask
    import dask.array as da

    from azarr.dask import ChunkAlignmentError, from_dask, to_dask
    from tests.counting import CountingStore

    data = np.random.default_rng(0).standard_normal((64, 48)).astype("f4")
    with pytest.raises(ChunkAlignmentError, match="shards"):
        from_dask(da.from_array(data, chunks=(8, 8)), str(tmp_path / "bad"), chunks=(8, 8), shards=(32, 24),
                  allow_misaligned=False)
    # on a compare-and-swap store, tasks sharing a shard are allowed: each merges into it, none is lost
    shared = from_dask(da.from_array(data, chunks=(8, 8)), str(tmp_path / "shared"), chunks=(8, 8), shards=(32, 24))
    assert_same(shared[...], data)
    store = CountingStore(LocalStore(tmp_path / "ok"))
    with dask.config.set(scheduler="threads"):
        z = from_dask(da.from_array(data, chunks=(8, 8)), store, chunks=(8, 8), shards=(32, 24), safe_rechunk=True)
    assert (z.chunks, z.shards) == ((8, 8), (32, 24))
    assert store.calls["set"] + store.calls["set_many"] == 4 + 1  # one PUT per shard (4), plus zarr.json
    assert not [k for k in store.keys_read if k.startswith("c/")]  # whole shards: nothing read back
    assert_same(zarr.open_array(str(tmp_path / "ok"), mode="r")[...], data)
    lazy = to_dask(z)
    assert lazy.numblocks == (2, 2)  # one task per shard
    assert_same(lazy.compute(scheduler="threads"), data)
