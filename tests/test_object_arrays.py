"""Object arrays (``VLenUTF8``, ``VLenBytes``, ``VLenArray``, ``JSON``, ``MsgPack``) round-trip
with zarr-python 2.18 both ways: written by one, read by the other, on a local store and on
Redis (a store both libraries share)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest

import azarr
from azarr.errors import MetadataError
from azarr.stores import RedisStore
from tests.zarr2 import run_zarr2

#: name -> (codec expression in both environments, values as JSON-able Python)
CASES: dict[str, tuple[str, list[Any]]] = {
    "utf8": ("numcodecs.VLenUTF8()", ["a", "ßß", "", "zz", "x" * 300, "é"]),
    "bytes": ("numcodecs.VLenBytes()", ["61", "", "0001", "ff" * 50, "63", "64"]),  # hex
    "array": ("numcodecs.VLenArray('<i4')", [list(range(n)) for n in (0, 1, 2, 3, 40, 5)]),
    "json": ("numcodecs.JSON()", ["x", 1, [1, 2], {"k": 3}, None, 2.5]),
    "msgpack": ("numcodecs.MsgPack()", ["y", 2, [3], {"k": "v"}, 1.5, True]),
}


def to_objects(name: str, values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    if name == "bytes":
        out[:] = [bytes.fromhex(v) for v in values]
    elif name == "array":
        out[:] = [np.asarray(v, dtype="<i4") for v in values]
    else:
        out[:] = values
    return out


def from_objects(name: str, arr: np.ndarray) -> list[Any]:
    if name == "bytes":
        return [bytes(v).hex() for v in arr]
    if name == "array":
        return [np.asarray(v).tolist() for v in arr]
    return list(arr)


def zarr2_write(path: str, name: str, *, redis: tuple[str, str] | None = None) -> None:
    codec, values = CASES[name]
    run_zarr2(
        f"""
        import numcodecs, zarr, numpy as np
        values = P["values"]
        name = P["name"]
        out = np.empty(len(values), dtype=object)
        if name == "bytes":
            out[:] = [bytes.fromhex(v) for v in values]
        elif name == "array":
            out[:] = [np.asarray(v, dtype="<i4") for v in values]
        else:
            out[:] = values
        if P["redis"]:
            from zarr.storage import RedisStore
            store = RedisStore(prefix=P["redis"][1], host="127.0.0.1", port=int(P["redis"][0]))
        else:
            store = P["path"]
        z = zarr.open_array(store, mode="w", shape=(6,), chunks=(4,), dtype=object, object_codec={codec},
                            compressor=numcodecs.Zlib(level=1))
        z[...] = out
        """,
        path=path,
        name=name,
        values=values,
        redis=list(redis) if redis else None,
    )


def zarr2_read(path: str, name: str, *, redis: tuple[str, str] | None = None) -> list[Any]:
    return run_zarr2(
        """
        import zarr, numpy as np
        if P["redis"]:
            from zarr.storage import RedisStore
            store = RedisStore(prefix=P["redis"][1], host="127.0.0.1", port=int(P["redis"][0]))
        else:
            store = P["path"]
        arr = zarr.open_array(store, mode="r")[...]
        name = P["name"]
        if name == "bytes":
            RESULT = [bytes(v).hex() for v in arr]
        elif name == "array":
            RESULT = [np.asarray(v).tolist() for v in arr]
        else:
            RESULT = list(arr)
        """,
        path=path,
        name=name,
        redis=list(redis) if redis else None,
    )


def _codec(name: str) -> Any:
    return eval(CASES[name][0], {"numcodecs": numcodecs})


@pytest.mark.parametrize("name", list(CASES))
def test_zarr2_writes_azarr_reads(tmp_path: Path, name: str) -> None:
    zarr2_write(str(tmp_path / name), name)
    z = azarr.open_array(str(tmp_path / name), mode="r")
    assert z.dtype == object and z.zarr_format == 2
    assert from_objects(name, z[...]) == CASES[name][1]
    assert from_objects(name, z[2:5]) == CASES[name][1][2:5]


@pytest.mark.parametrize("name", list(CASES))
def test_azarr_writes_zarr2_reads(tmp_path: Path, name: str) -> None:
    z = azarr.open_array(str(tmp_path / name), mode="w", shape=(6,), chunks=(4,), dtype=object,
                         object_codec=_codec(name), compressor=numcodecs.Zlib(level=1))
    z[...] = to_objects(name, CASES[name][1])
    assert zarr2_read(str(tmp_path / name), name) == CASES[name][1]


@pytest.mark.parametrize("name", ["utf8", "json"])
def test_object_arrays_on_redis_both_ways(redis_url: str, name: str) -> None:
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    prefix = f"obj-{uuid.uuid4().hex[:8]}"
    zarr2_write("", name, redis=(port, prefix))
    z = azarr.open_array(RedisStore(redis_url, prefix=prefix), mode="r+")
    assert from_objects(name, z[...]) == CASES[name][1]
    z[0] = to_objects(name, CASES[name][1])[5]
    assert zarr2_read("", name, redis=(port, prefix))[0] == CASES[name][1][5]


def test_object_codec_as_filter_and_dtype_shorthands(tmp_path: Path) -> None:
    # the codec given as the first filter (how it is stored) works like object_codec=
    z = azarr.open_array(str(tmp_path / "f"), mode="w", shape=(3,), dtype=object, filters=[numcodecs.VLenUTF8()],
                         compressor=None)
    z[...] = np.array(["a", "b", "c"], dtype=object)
    assert zarr2_read(str(tmp_path / "f"), "utf8") == ["a", "b", "c"]
    s = azarr.array(np.array(["p", "qq"], dtype=object), dtype=str, zarr_format=2, store=str(tmp_path / "s"))
    assert s.dtype == object and [f.codec_id for f in s.filters] == ["vlen-utf8"] and s.fill_value == ""
    b = azarr.create((2,), dtype=bytes, zarr_format=2)
    assert [f.codec_id for f in b.filters] == ["vlen-bytes"]
    v = azarr.create((2,), dtype="array:i2", zarr_format=2)
    assert v.filters[0].get_config() == {"id": "vlen-array", "dtype": "<i2"}


def test_object_arrays_need_a_codec() -> None:
    with pytest.raises(MetadataError, match="object_codec"):
        azarr.create((3,), dtype=object, zarr_format=2)
    with pytest.raises(MetadataError, match="v2 keyword"):
        azarr.create((3,), dtype=object, object_codec=numcodecs.VLenUTF8(), zarr_format=3)
    with pytest.warns(UserWarning, match="only used by object arrays"):
        z = azarr.create((3,), dtype="i4", object_codec=numcodecs.VLenUTF8())
    assert z.filters == ()
