"""zarr-python 3 and xarray through azarr's adapter on Redis, MongoDB, SQLite and S3 (real servers).

Round trips in Zarr v2 and v3: what zarr-python writes through ``as_zarr_store`` reads back through
a fresh adapter and through azarr directly (same keys), and the other way round; xarray's
``to_zarr`` / ``open_zarr`` (consolidated, appends, regions); data written by zarr-python 2's
removed ``RedisStore`` / ``MongoDBStore`` / ``SQLiteStore`` opens in zarr-python 3.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

import azarr
from azarr.stores import as_zarr_store, from_url
from azarr.stores.zarr_adapter import ZarrStoreAdapter
from tests.services.moto import S3_CREDENTIALS
from tests.zarr2 import run_zarr2

Location = tuple[str, dict[str, Any]]  # (URL, storage options) of a fresh, empty location


@pytest.fixture(params=["redis", "mongodb", "sqlite", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    tag = f"z{uuid.uuid4().hex[:10]}"
    if request.param == "redis":
        return f"{request.getfixturevalue('redis_url')}?prefix={tag}", {}
    if request.param == "mongodb":
        return request.getfixturevalue("mongodb_uri"), {"database": "azarr_test", "collection": tag}
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data.db'}", {}
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/{tag}.zarr", {"endpoint_url": request.getfixturevalue("s3_endpoint"), **S3_CREDENTIALS}


def adapter(loc: Location, read_only: bool = False) -> ZarrStoreAdapter:
    url, options = loc
    return as_zarr_store(url, read_only=read_only, **options)


def dataset() -> xr.Dataset:
    rng = np.random.default_rng(7)
    time = pd.date_range("2024-01-01", periods=6, freq="D")
    return xr.Dataset(
        {
            "t2m": (("time", "y", "x"), rng.standard_normal((6, 5, 4)).astype("f4"), {"units": "K"}),
            "flag": (("y", "x"), np.arange(20, dtype="i2").reshape(5, 4)),
        },
        coords={"time": time, "y": np.linspace(0, 1, 5), "x": [10, 20, 30, 40]},
        attrs={"title": "through azarr"},
    )


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_python_round_trip(location: Location, zarr_format: int) -> None:
    data = np.arange(40 * 30, dtype="f8").reshape(40, 30) / 7
    root = zarr.open_group(adapter(location), mode="w", zarr_format=zarr_format)
    root.attrs["who"] = "zarr-python"
    a = root.create_array("sub/a", shape=(40, 30), chunks=(8, 7), dtype="f8", fill_value=-1.0)
    a[:35, 2:] = data[:35, 2:]
    b = zarr.create_array(adapter(location), name="b", shape=(100,), chunks=(9,), dtype="i4", fill_value=3,
                          zarr_format=zarr_format)
    b[10:50] = np.arange(40)

    again = zarr.open_group(adapter(location, read_only=True), mode="r")
    assert again.attrs["who"] == "zarr-python" and sorted(again.keys()) == ["b", "sub"]
    expected = np.full((40, 30), -1.0)
    expected[:35, 2:] = data[:35, 2:]
    np.testing.assert_array_equal(again["sub/a"][...], expected)
    np.testing.assert_array_equal(again["sub/a"][3:19, 5:6], expected[3:19, 5:6])
    expected_b = np.full(100, 3, "i4")
    expected_b[10:50] = np.arange(40)
    np.testing.assert_array_equal(again["b"][...], expected_b)
    assert again["b"].nbytes_stored() > 0

    # the same keys on azarr's side: azarr reads what zarr-python wrote ...
    url, options = location
    mine = azarr.open_group(url, mode="r", storage_options=options)
    assert mine.attrs["who"] == "zarr-python"
    np.testing.assert_array_equal(mine["sub/a"][...], expected)
    # ... and zarr-python reads what azarr wrote
    c = azarr.open_group(url, mode="a", storage_options=options).create_array(
        "c", shape=(12, 12), chunks=(5, 5), dtype="u2", fill_value=9
    )
    c[2:11, 1:4] = 77
    expected_c = np.full((12, 12), 9, "u2")
    expected_c[2:11, 1:4] = 77
    np.testing.assert_array_equal(zarr.open_array(adapter(location), path="c", mode="r")[...], expected_c)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_consolidated_metadata(location: Location, zarr_format: int) -> None:
    root = zarr.open_group(adapter(location), mode="w", zarr_format=zarr_format)
    for name in ("x", "y/z"):
        root.create_array(name, shape=(4,), chunks=(2,), dtype="i1")[...] = [1, 2, 3, 4]
    zarr.consolidate_metadata(adapter(location))
    g = zarr.open_consolidated(adapter(location, read_only=True), mode="r", zarr_format=zarr_format)
    assert g.metadata.consolidated_metadata is not None
    np.testing.assert_array_equal(g["y/z"][...], [1, 2, 3, 4])
    url, options = location
    np.testing.assert_array_equal(azarr.open_consolidated(url, storage_options=options)["x"][...], [1, 2, 3, 4])


def test_overwrite_and_delete(location: Location) -> None:
    store = adapter(location)
    root = zarr.open_group(store, mode="w")
    root.create_array("a", shape=(50,), chunks=(5,), dtype="i8")[...] = np.arange(50)
    root.create_group("g").create_array("b", shape=(3,), dtype="i1")[...] = 1
    del root["a"]
    assert sorted(root.keys()) == ["g"]
    assert not [k for k in zarr.core.sync.collect_aiterator(store.list_prefix("a/"))]
    zarr.open_group(store, mode="w")  # mode "w" clears the hierarchy
    assert zarr.core.sync.collect_aiterator(store.list()) == ("zarr.json",)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_xarray_round_trip(location: Location, zarr_format: int) -> None:
    ds = dataset()
    ds.chunk({"time": 2}).to_zarr(adapter(location), zarr_format=zarr_format, consolidated=True, mode="w")
    got = xr.open_zarr(adapter(location), zarr_format=zarr_format)
    xr.testing.assert_identical(got.load(), ds)
    # appending along time, then overwriting a region
    more = dataset().assign_coords(time=pd.date_range("2024-01-07", periods=6, freq="D"))
    more[["t2m"]].to_zarr(adapter(location), append_dim="time")
    grown = xr.open_zarr(adapter(location), zarr_format=zarr_format)
    assert grown.sizes["time"] == 12
    np.testing.assert_array_equal(grown["t2m"][6:].values, more["t2m"].values)
    patch = (grown[["t2m"]].isel(time=slice(0, 2)).load() * 0 + 1).drop_vars(["x", "y"])
    patch.to_zarr(adapter(location), region={"time": slice(0, 2)})
    assert float(xr.open_zarr(adapter(location))["t2m"][:2].mean()) == 1.0
    # azarr's own xarray engine reads what xarray wrote through the adapter
    url, options = location
    mine = xr.open_dataset(url, engine="azarr", storage_options=options)
    np.testing.assert_array_equal(mine["t2m"].values, xr.open_zarr(adapter(location))["t2m"].values)


def test_xarray_dask_write_and_read(location: Location) -> None:
    ds = dataset().chunk({"time": 3, "y": 5, "x": 4})
    ds.to_zarr(adapter(location), mode="w", consolidated=False, compute=True)
    got = xr.open_zarr(adapter(location), consolidated=False, chunks={})
    assert got["t2m"].chunks is not None
    xr.testing.assert_identical(got.compute(), dataset())


ZARR2_WRITERS: dict[str, Callable[[Location], str]] = {
    "redis": lambda loc: (
        "from urllib.parse import urlparse\n"
        "u = urlparse(P['url'])\n"
        "store = zarr.storage.RedisStore(prefix=u.query.split('=')[1], host=u.hostname, port=u.port, db=int(u.path.strip('/') or 0))\n"
    ),
    "mongodb": lambda loc: (
        "store = zarr.storage.MongoDBStore(host=P['url'], database=P['options']['database'], "
        "collection=P['options']['collection'])\n"
    ),
    "sqlite": lambda loc: "store = zarr.storage.SQLiteStore(P['url'].removeprefix('sqlite:///'))\n",
}


@pytest.mark.parametrize("location", ["redis", "mongodb", "sqlite"], indirect=True)
def test_data_of_zarr2s_removed_stores_opens_in_zarr3(location: Location, request: pytest.FixtureRequest) -> None:
    kind = request.node.callspec.params["location"]
    url, options = location
    run_zarr2(
        "import zarr, numpy as np\n"
        + ZARR2_WRITERS[kind](location)
        + """
root = zarr.group(store=store, overwrite=True)
root.attrs["who"] = "zarr2"
a = root.create_dataset("m/n", shape=(15, 10), chunks=(4, 6), dtype="<i4", fill_value=-2)
a[2:, 3:] = np.arange(13 * 7).reshape(13, 7)
store.close() if hasattr(store, "close") else None
""",
        url=url, options=options,
    )
    g = zarr.open_group(adapter(location), mode="r")
    assert g.attrs["who"] == "zarr2" and g.metadata.zarr_format == 2
    expected = np.full((15, 10), -2, "<i4")
    expected[2:, 3:] = np.arange(13 * 7).reshape(13, 7)
    np.testing.assert_array_equal(g["m/n"][...], expected)
    # and zarr-python 2 reads what zarr-python 3 then adds through the adapter
    zarr.open_group(adapter(location), mode="a")["m/n"][0, 0] = 1234
    back = run_zarr2(
        "import zarr\n" + ZARR2_WRITERS[kind](location) + "RESULT = int(zarr.open_group(store=store, mode='r')['m/n'][0, 0])\n",
        url=url, options=options,
    )
    assert back == 1234
    from_url(url, **options)  # the location's URL still opens as azarr's store
