"""Interop with zarr-python (3.x writing/reading zarr_format=2) as the oracle."""

from __future__ import annotations

from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr

import azarr

DTYPES = ["|b1", "|i1", "<i2", ">i4", "<i8", "|u1", ">u2", "<u4", "<u8", "<f2", "<f4", ">f8", "<c8", "<c16",
          "<M8[s]", "<m8[ms]", "|S6", "<U4"]
COMPRESSORS = {
    "blosc": numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
    "zstd": numcodecs.Zstd(level=3),
    "gzip": numcodecs.GZip(level=5),
    "lz4": numcodecs.LZ4(),
    "none": None,
}


def sample(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
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
        return rng.integers(0, 10**6, shape).astype("i8").view(dt.str.replace(">", "<")).astype(dt)
    if dt.kind == "S":
        return np.array([f"b{i % 997}".encode() for i in range(n)], dtype=dt).reshape(shape)
    if dt.kind == "U":
        return np.array([f"u{i % 97}" for i in range(n)], dtype=dt).reshape(shape)
    raise AssertionError(dt)


def zarr_write(path: Path, data: np.ndarray, chunks: tuple[int, ...], **kw: object) -> None:
    z = zarr.create_array(str(path), shape=data.shape, chunks=chunks, dtype=data.dtype, zarr_format=2, **kw)
    z[...] = data


@pytest.mark.parametrize("dtype", DTYPES)
def test_zarr_python_dtypes_read_by_azarr(tmp_path: Path, dtype: str) -> None:
    data = sample((13, 9), dtype)
    zarr_write(tmp_path / "a", data, (5, 4))
    z = azarr.open_array(str(tmp_path / "a"), mode="r")
    assert z.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(z[...], data)
    np.testing.assert_array_equal(z[3:11:3, -5:], data[3:11:3, -5:])


@pytest.mark.parametrize("dtype", DTYPES)
def test_azarr_dtypes_read_by_zarr_python(tmp_path: Path, dtype: str) -> None:
    data = sample((11, 7), dtype, seed=1)
    z = azarr.open_array(str(tmp_path / "a"), mode="w", shape=data.shape, chunks=(4, 3), dtype=dtype)
    z[...] = data
    back = zarr.open_array(str(tmp_path / "a"), mode="r")
    np.testing.assert_array_equal(back[...], data)


@pytest.mark.parametrize("name", list(COMPRESSORS))
@pytest.mark.parametrize("order", ["C", "F"])
def test_compressors_and_orders_both_ways(tmp_path: Path, name: str, order: str) -> None:
    data = sample((30, 17), "<f8")
    comp = COMPRESSORS[name]
    z = zarr.create_array(str(tmp_path / "z"), shape=data.shape, chunks=(8, 5), dtype=data.dtype, zarr_format=2,
                          compressors=comp, order=order)
    z[...] = data
    a = azarr.open_array(str(tmp_path / "z"), mode="r")
    assert a.order == order
    np.testing.assert_array_equal(a[...], data)
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=data.shape, chunks=(8, 5), dtype=data.dtype,
                         compressor=comp, order=order)
    w[...] = data
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "w"), mode="r")[...], data)
    # the stored chunk bytes are identical to zarr-python's (same codec, same layout)
    if name != "blosc":  # blosc embeds a thread/blocksize choice; values are checked above
        ours, theirs = (tmp_path / "w" / "1.2").read_bytes(), (tmp_path / "z" / "1.2").read_bytes()
        if name == "gzip":  # the gzip header's MTIME (bytes 4-7) is the second each was written in
            ours, theirs = ours[:4] + ours[8:], theirs[:4] + theirs[8:]
        assert ours == theirs


@pytest.mark.parametrize("filters", [[numcodecs.Delta(dtype="<i4")], [numcodecs.FixedScaleOffset(offset=10, scale=100, dtype="<f8", astype="<i4")]])
def test_filters_both_ways(tmp_path: Path, filters: list) -> None:
    dtype = filters[0].dtype
    data = (np.arange(200).reshape(20, 10) / (1 if dtype == "<i4" else 100)).astype(dtype)
    z = zarr.create_array(str(tmp_path / "z"), shape=data.shape, chunks=(6, 4), dtype=dtype, zarr_format=2,
                          filters=filters, compressors=numcodecs.Zstd(level=1))
    z[...] = data
    np.testing.assert_allclose(azarr.open_array(str(tmp_path / "z"), mode="r")[...], data)
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=data.shape, chunks=(6, 4), dtype=dtype, filters=filters)
    w[...] = data
    np.testing.assert_allclose(zarr.open_array(str(tmp_path / "w"), mode="r")[...], data)


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf, 42.5, 0.0])
def test_fill_values_both_ways(tmp_path: Path, fill: float) -> None:
    z = zarr.create_array(str(tmp_path / "z"), shape=(10, 10), chunks=(3, 3), dtype="<f4", zarr_format=2, fill_value=fill)
    z[0, 0] = 1.0
    a = azarr.open_array(str(tmp_path / "z"), mode="r")
    got = a[...]
    expected = np.full((10, 10), fill, dtype="<f4")
    expected[0, 0] = 1
    np.testing.assert_array_equal(got, expected)
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=(10, 10), chunks=(3, 3), dtype="<f4", fill_value=fill)
    w[9, 9] = 2.0
    back = zarr.open_array(str(tmp_path / "w"), mode="r")
    expected = np.full((10, 10), fill, dtype="<f4")
    expected[9, 9] = 2
    np.testing.assert_array_equal(back[...], expected)
    assert len(list((tmp_path / "w").glob("*.*"))) <= 2  # only the written chunk (+ .zarray)


@pytest.mark.parametrize("sep", [".", "/"])
def test_dimension_separators_both_ways(tmp_path: Path, sep: str) -> None:
    data = sample((9, 8, 7), "<i4")
    z = zarr.create_array(str(tmp_path / "z"), shape=data.shape, chunks=(4, 4, 4), dtype=data.dtype, zarr_format=2,
                          chunk_key_encoding={"name": "v2", "separator": sep})
    z[...] = data
    a = azarr.open_array(str(tmp_path / "z"), mode="r")
    np.testing.assert_array_equal(a[...], data)
    w = azarr.open_array(str(tmp_path / "w"), mode="w", shape=data.shape, chunks=(4, 4, 4), dtype=data.dtype,
                         dimension_separator=sep)
    w[...] = data
    assert (tmp_path / "w" / ("1/1/1" if sep == "/" else "1.1.1")).exists()
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "w"), mode="r")[...], data)


def test_groups_and_attributes_both_ways(tmp_path: Path) -> None:
    root = zarr.open_group(str(tmp_path / "g"), mode="w", zarr_format=2)
    root.attrs["title"] = "from zarr"
    sub = root.create_group("sub")
    arr = sub.create_array("x", shape=(4,), chunks=(2,), dtype="i2")
    arr[...] = [1, 2, 3, 4]
    arr.attrs["units"] = "m"
    g = azarr.open_group(str(tmp_path / "g"), mode="r")
    assert g.attrs["title"] == "from zarr"
    assert list(g) == ["sub"]
    x = g["sub/x"]
    assert x.attrs["units"] == "m"
    np.testing.assert_array_equal(x[...], [1, 2, 3, 4])

    mine = azarr.open_group(str(tmp_path / "h"), mode="w")
    mine.attrs["k"] = [1, 2]
    a = mine.create_group("inner").create_array("y", shape=(3, 3), chunks=(2, 2), dtype="f4", fill_value=-1)
    a[1:, 1:] = 5
    a.attrs["note"] = "hi"
    zg = zarr.open_group(str(tmp_path / "h"), mode="r")
    assert zg.attrs["k"] == [1, 2]
    zy = zg["inner/y"]
    assert zy.attrs["note"] == "hi"
    np.testing.assert_array_equal(zy[...], [[-1, -1, -1], [-1, 5, 5], [-1, 5, 5]])


def test_zero_dim_and_edge_chunks(tmp_path: Path) -> None:
    z = zarr.create_array(str(tmp_path / "s"), shape=(), chunks=(), dtype="f8", zarr_format=2)
    z[...] = 3.5
    assert azarr.open_array(str(tmp_path / "s"), mode="r")[...] == 3.5
    w = azarr.open_array(str(tmp_path / "t"), mode="w", shape=(), dtype="i4")
    w[...] = 7
    assert zarr.open_array(str(tmp_path / "t"), mode="r")[...] == 7
