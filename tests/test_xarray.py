"""xarray backend: datasets written by Dataset.to_zarr (zarr-python, v2 and v3) open with engine="azarr"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import azarr


def make_dataset() -> xr.Dataset:
    times = pd.date_range("2020-01-01", periods=6, freq="D")
    lat = np.linspace(-45, 45, 4)
    lon = np.linspace(0, 300, 5)
    temp = 280 + np.arange(6 * 4 * 5, dtype="f4").reshape(6, 4, 5) / 10
    temp[0, 0, 0] = np.nan
    counts = np.arange(6 * 4, dtype="i2").reshape(6, 4)
    ds = xr.Dataset(
        {
            "temp": (("time", "lat", "lon"), temp, {"units": "K", "long_name": "air temperature"}),
            "counts": (("time", "lat"), counts, {"note": "int with fill"}),
            "scaled": (("lat",), np.array([1.5, 2.5, np.nan, 4.0]), {}),
        },
        coords={"time": times, "lat": ("lat", lat, {"units": "degrees_north"}), "lon": lon},
        attrs={"title": "test", "history": "made by a test"},
    )
    ds["counts"].encoding["_FillValue"] = -1
    ds["scaled"].encoding.update({"scale_factor": 0.5, "dtype": "i2", "_FillValue": -999})
    return ds


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("consolidated", [True, False])
def test_to_zarr_reads_back_identically(tmp_path: Path, consolidated: bool, zarr_format: int) -> None:
    ds = make_dataset()
    ds = ds.assign_coords(station=("lon", np.array(["a", "bb", "ccc", "dd", "e"])))  # string coordinate
    path = tmp_path / "ds.zarr"
    ds.chunk({"time": 2}).to_zarr(path, zarr_format=zarr_format, consolidated=consolidated)
    got = xr.open_dataset(path, engine="azarr", chunks={})
    assert got["temp"].chunks is not None
    xr.testing.assert_identical(got.load(), xr.open_dataset(path, engine="zarr").load())
    xr.testing.assert_equal(got, ds)
    assert got.attrs == ds.attrs
    assert got["temp"].attrs["units"] == "K"
    assert np.isnan(got["temp"].values[0, 0, 0])
    assert got["time"].dtype.kind == "M"
    assert set(got.coords) == {"time", "lat", "lon", "station"}
    assert list(got["station"].values) == ["a", "bb", "ccc", "dd", "e"]


def test_lazy_selection_and_group(tmp_path: Path) -> None:
    ds = make_dataset()
    path = tmp_path / "g.zarr"
    ds.to_zarr(path, group="inner", zarr_format=2, consolidated=False)
    got = xr.open_dataset(str(path), engine="azarr", group="inner")
    sub = got["temp"].isel(time=slice(1, 4), lon=[0, 3])
    xr.testing.assert_equal(sub.load(), ds["temp"].isel(time=slice(1, 4), lon=[0, 3]))
    dropped = xr.open_dataset(str(path), engine="azarr", group="inner", drop_variables=["counts"])
    assert "counts" not in dropped


def test_datatree(tmp_path: Path) -> None:
    ds = make_dataset()
    path = tmp_path / "t.zarr"
    ds.to_zarr(path, zarr_format=2, consolidated=False)
    ds[["counts"]].to_zarr(path, group="child", zarr_format=2, consolidated=False)
    tree = xr.open_datatree(str(path), engine="azarr")
    assert "child" in tree.children
    xr.testing.assert_equal(tree["child"].to_dataset()["counts"], ds["counts"])


def test_azarr_written_dataset_opens(tmp_path: Path) -> None:
    g = azarr.open_group(str(tmp_path / "mine.zarr"), mode="w", zarr_format=2)
    x = g.create_array("x", shape=(3,), dtype="f8")
    x[...] = [1.0, 2.0, 3.0]
    x.attrs["_ARRAY_DIMENSIONS"] = ["x"]
    v = g.create_array("v", shape=(3,), dtype="i4", fill_value=-9)
    v[...] = [5, -9, 7]
    v.attrs["_ARRAY_DIMENSIONS"] = ["x"]
    ds = xr.open_dataset(str(tmp_path / "mine.zarr"), engine="azarr")
    np.testing.assert_array_equal(ds["v"].values, [5.0, np.nan, 7.0])


def test_azarr_written_v3_dataset_opens_as_with_the_zarr_engine(tmp_path: Path) -> None:
    g = azarr.open_group(str(tmp_path / "mine.zarr"), mode="w")
    assert g.zarr_format == 3
    x = g.create_array("x", shape=(3,), dtype="f8", dimension_names=["x"])
    x[...] = [1.0, 2.0, 3.0]
    v = g.create_array("v", shape=(3,), dtype="i4", fill_value=-9, dimension_names=["x"])
    v[...] = [5, -9, 7]
    ds = xr.open_dataset(str(tmp_path / "mine.zarr"), engine="azarr")
    # v3: the array's fill value is not a CF mask (as xarray's own zarr engine reads it)
    np.testing.assert_array_equal(ds["v"].values, [5, -9, 7])
    xr.testing.assert_identical(ds.load(), xr.open_dataset(str(tmp_path / "mine.zarr"), engine="zarr").load())
