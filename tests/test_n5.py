"""N5: metadata, blocks, and interop with tensorstore's n5 driver and zarr-python 2.18's N5Store.

tensorstore keeps N5's axis order (fastest first); azarr (like zarr-python 2 / z5py) reverses
it, so ``ts_array == azarr_array.transpose()``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import tensorstore as ts

import azarr
from azarr.codecs import pipeline_for
from azarr.errors import CodecError, MetadataError
from azarr.meta.n5 import N5ArrayMetadata
from tests.zarr2 import run_zarr2

DTYPES = ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float32", "float64"]
COMPRESSIONS = [{"type": "raw"}, {"type": "gzip", "level": 5}, {"type": "gzip", "level": -1, "useZlib": True},
                {"type": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1}, {"type": "zstd", "level": 3},
                {"type": "bzip2", "blockSize": 9}, {"type": "xz", "preset": 6}]


def sample(shape: tuple[int, ...], n5type: str, seed: int = 0) -> np.ndarray:
    dt = np.dtype(n5type)
    rng = np.random.default_rng(seed)
    if dt.kind == "f":
        return rng.standard_normal(shape).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(max(info.min, -10**6), min(info.max, 10**6), shape, dtype=np.int64).astype(dt)


def ts_open(path: Path, metadata: dict | None = None, **kw: object) -> ts.TensorStore:
    spec: dict = {"driver": "n5", "kvstore": {"driver": "file", "path": str(path)}}
    if metadata is not None:
        spec["metadata"] = metadata
    return ts.open(spec, **kw).result()


@pytest.mark.parametrize("dtype", DTYPES)
def test_tensorstore_writes_azarr_reads_dtypes(tmp_path: Path, dtype: str) -> None:
    ts_shape = (13, 7, 5)
    data = sample(ts_shape, dtype)
    t = ts_open(tmp_path / "d", create=True, metadata={"dataType": dtype, "dimensions": list(ts_shape),
                                                        "blockSize": [4, 3, 2], "compression": {"type": "gzip"}})
    t[...] = data
    z = azarr.open(str(tmp_path / "d"), mode="r")  # no format argument: detected
    assert isinstance(z, azarr.Array) and z.zarr_format == "n5"
    assert z.shape == ts_shape[::-1] and z.chunks == (2, 3, 4)
    np.testing.assert_array_equal(z[...], data.transpose())


@pytest.mark.parametrize("compression", COMPRESSIONS, ids=lambda c: c["type"] + str(c.get("useZlib", "")))
@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_azarr_writes_tensorstore_reads(tmp_path: Path, compression: dict, ndim: int) -> None:
    shape = (11, 6, 5, 3)[:ndim]
    chunks = (4, 4, 2, 2)[:ndim]
    data = sample(shape, "int32", seed=ndim)
    z = azarr.open_array(str(tmp_path / "w"), mode="w", shape=shape, chunks=chunks, dtype="i4",
                         compressor=compression, zarr_format="n5")
    z[...] = data
    doc = json.loads((tmp_path / "w" / "attributes.json").read_text())
    assert doc["dimensions"] == list(shape[::-1]) and doc["compression"]["type"] == compression["type"]
    if compression["type"] in ("bzip2", "xz"):
        # tensorstore reads these too, but check our own round trip first
        np.testing.assert_array_equal(azarr.open(str(tmp_path / "w"), mode="r")[...], data)
    t = ts_open(tmp_path / "w")
    np.testing.assert_array_equal(t.read().result(), data.transpose())


def test_edge_blocks_are_truncated(tmp_path: Path) -> None:
    z = azarr.open_array(str(tmp_path / "e"), mode="w", shape=(5, 7), chunks=(4, 4), dtype="u2",
                         compressor=None, zarr_format="n5")
    z[...] = np.arange(35, dtype="u2").reshape(5, 7)
    raw = (tmp_path / "e" / "1" / "1").read_bytes()  # numpy block (1, 1) -> key "1/1"
    mode, ndim, s0, s1 = struct.unpack(">HHII", raw[:12])
    assert (mode, ndim, s0, s1) == (0, 2, 3, 1)  # sizes fastest-first: x=7-4=3, y=5-4=1
    assert np.frombuffer(raw[12:], ">u2").tolist() == [32, 33, 34]
    t = ts_open(tmp_path / "e")
    np.testing.assert_array_equal(t.read().result(), np.arange(35).reshape(5, 7).T)


def test_groups_attributes_and_detection(tmp_path: Path) -> None:
    root = azarr.open_group(str(tmp_path / "g.n5"), mode="w", zarr_format="n5")
    root.attrs["pixelResolution"] = {"unit": "um", "dimensions": [1, 1, 2]}
    sub = root.create_group("volumes")
    arr = sub.create_array("raw", shape=(6, 8), chunks=(3, 3), dtype="u1")
    arr[...] = np.arange(48, dtype="u1").reshape(6, 8)
    arr.attrs["resolution"] = [4, 4]
    doc = json.loads((tmp_path / "g.n5" / "attributes.json").read_text())
    assert doc["n5"] and doc["pixelResolution"]["unit"] == "um"
    adoc = json.loads((tmp_path / "g.n5" / "volumes" / "raw" / "attributes.json").read_text())
    assert adoc["resolution"] == [4, 4] and adoc["dataType"] == "uint8"
    g = azarr.open(str(tmp_path / "g.n5"), mode="r")
    assert isinstance(g, azarr.Group) and g.zarr_format == "n5"
    assert g.attrs["pixelResolution"]["dimensions"] == [1, 1, 2]
    assert list(g) == ["volumes"] and list(g["volumes"]) == ["raw"]
    r = g["volumes/raw"]
    assert r.attrs.asdict() == {"resolution": [4, 4]}
    np.testing.assert_array_equal(r[...], np.arange(48).reshape(6, 8))
    t = ts_open(tmp_path / "g.n5" / "volumes" / "raw")
    np.testing.assert_array_equal(t.read().result(), np.arange(48).reshape(6, 8).T)


def test_invalid_metadata_and_blocks() -> None:
    with pytest.raises(MetadataError, match="dataType"):
        N5ArrayMetadata.from_documents({"attributes.json": b'{"dimensions":[2],"blockSize":[1],"dataType":"complex"}'})
    with pytest.raises(MetadataError, match="compression"):
        N5ArrayMetadata.from_documents({"attributes.json": b'{"dimensions":[2],"blockSize":[1],"dataType":"uint8","compression":{"type":"lz77"}}'})
    with pytest.raises(MetadataError):
        N5ArrayMetadata.create((4,), (2,), "c8")
    with pytest.raises(MetadataError):
        N5ArrayMetadata.create((4,), (2,), "u1", compressor=numcodecs.LZ4())
    meta = N5ArrayMetadata.create((4,), (2,), "u1", compressor=None)
    with pytest.raises(CodecError):
        pipeline_for(meta).decode(b"\x00")


def test_legacy_compression_type_and_varlength(tmp_path: Path) -> None:
    d = tmp_path / "legacy"
    d.mkdir()
    (d / "attributes.json").write_text(json.dumps({"dimensions": [3, 2], "blockSize": [3, 2], "dataType": "int16",
                                                   "compressionType": "raw"}))
    (d / "0").mkdir()
    vals = np.arange(6, dtype=">i2")
    (d / "0" / "0").write_bytes(struct.pack(">HHIII", 1, 2, 3, 2, 6) + vals.tobytes())  # varlength mode
    np.testing.assert_array_equal(azarr.open(str(d), mode="r")[...], np.arange(6).reshape(2, 3))


def test_zarr2_n5store_interop(tmp_path: Path) -> None:
    path = str(tmp_path / "z2.n5")
    run_zarr2(
        """
import zarr, numpy as np, numcodecs
store = zarr.N5Store(P["path"])
root = zarr.group(store=store, overwrite=True)
root.attrs["who"] = "zarr2"
a = root.create_dataset("vol", shape=(10, 9, 7), chunks=(4, 4, 4), dtype="uint16", compressor=numcodecs.GZip(5))
a[...] = np.arange(630, dtype="uint16").reshape(10, 9, 7)
""",
        path=path,
    )
    g = azarr.open(path, mode="r")
    assert g.attrs["who"] == "zarr2"
    np.testing.assert_array_equal(g["vol"][...], np.arange(630).reshape(10, 9, 7))

    mine = str(tmp_path / "az.n5")
    r = azarr.open_group(mine, mode="w", zarr_format="n5")
    b = r.create_array("x", shape=(9, 5), chunks=(4, 2), dtype="f8", compressor=numcodecs.Blosc("zstd", 3))
    b[...] = np.arange(45.0).reshape(9, 5) / 7
    b.attrs["note"] = "azarr"
    res = run_zarr2(
        """
import zarr
root = zarr.open_group(store=zarr.N5Store(P["path"]), mode="r")
RESULT = {"data": root["x"][...].tolist(), "note": root["x"].attrs["note"]}
""",
        path=mine,
    )
    assert res["note"] == "azarr"
    np.testing.assert_array_equal(np.array(res["data"]), np.arange(45.0).reshape(9, 5) / 7)


def test_n5_over_s3(tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> None:
    from tests.services.moto import S3_CREDENTIALS, boto3_client

    opts = {"endpoint_url": s3_endpoint, **S3_CREDENTIALS}
    # tensorstore writes N5 locally; the files are uploaded as-is; azarr reads them from S3
    t = ts_open(tmp_path / "vol", create=True, metadata={"dataType": "float32", "dimensions": [20, 12],
                                                        "blockSize": [8, 5], "compression": {"type": "zstd"}})
    data = sample((20, 12), "float32")
    t[...] = data
    client = boto3_client(s3_endpoint)
    for f in (tmp_path / "vol").rglob("*"):
        if f.is_file():
            client.put_object(Bucket=s3_bucket, Key="ds/vol/" + str(f.relative_to(tmp_path / "vol")), Body=f.read_bytes())
    remote = azarr.open(f"s3://{s3_bucket}/ds/vol", mode="r", storage_options=opts)
    np.testing.assert_array_equal(remote[...], data.T)
    # and azarr writes N5 to S3 and reads it back
    w = azarr.open_array(f"s3://{s3_bucket}/mine.n5", mode="w", shape=(9, 9), chunks=(4, 4), dtype="i8",
                         zarr_format="n5", storage_options=opts)
    w[...] = np.arange(81).reshape(9, 9)
    np.testing.assert_array_equal(azarr.open(f"s3://{s3_bucket}/mine.n5", mode="r", storage_options=opts)[...],
                                  np.arange(81).reshape(9, 9))
