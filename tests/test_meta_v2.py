"""Zarr v2 metadata: parsing and writing exactly as the spec and zarr-python."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import azarr
from azarr.errors import MetadataError
from azarr.meta.v2 import ArrayMetadataV2, decode_fill_value, encode_fill_value


def doc(**over: object) -> dict:
    base = {
        "zarr_format": 2,
        "shape": [10, 20],
        "chunks": [5, 7],
        "dtype": "<f8",
        "compressor": {"id": "zstd", "level": 1},
        "fill_value": 0.0,
        "order": "C",
        "filters": None,
        "dimension_separator": ".",
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    "dtype",
    ["|b1", "|i1", "<i2", ">i2", "<i4", ">i8", "|u1", "<u2", ">u4", "<u8", "<f2", ">f4", "<f8", "<c8", ">c16",
     "<M8[ns]", "<M8[D]", ">m8[s]", "|S7", "<U5", ">U3"],
)
def test_dtype_roundtrip(dtype: str) -> None:
    meta = ArrayMetadataV2.from_json(doc(dtype=dtype, fill_value=None))
    assert meta.dtype == np.dtype(dtype)
    assert json.loads(meta.to_json())["dtype"] == np.dtype(dtype).str


def test_structured_dtype() -> None:
    meta = ArrayMetadataV2.from_json(doc(dtype=[["a", "<i4"], ["b", "<f8", [2]]], fill_value=None))
    assert meta.dtype.names == ("a", "b")
    assert json.loads(meta.to_json())["dtype"] == [["a", "<i4"], ["b", "<f8", [2]]]


@pytest.mark.parametrize(
    ("dtype", "json_value", "check"),
    [
        ("<f8", "NaN", lambda v: math.isnan(v)),
        ("<f4", "Infinity", lambda v: v == np.inf),
        ("<f8", "-Infinity", lambda v: v == -np.inf),
        ("<f8", 1.5, lambda v: v == 1.5),
        ("<c16", ["NaN", 2.0], lambda v: math.isnan(v.real) and v.imag == 2.0),
        ("<i4", -7, lambda v: v == -7),
        ("|b1", True, lambda v: v is np.True_ or v == True),
        ("|S3", "YWJj", lambda v: v == b"abc"),
        ("<U4", "hey", lambda v: v == "hey"),
        ("<M8[D]", 10, lambda v: v == np.datetime64(10, "D")),
        ("<m8[s]", -3, lambda v: v == np.timedelta64(-3, "s")),
        ("<f8", None, lambda v: v is None),
    ],
)
def test_fill_value_roundtrip(dtype: str, json_value: object, check: object) -> None:
    dt = np.dtype(dtype)
    value = decode_fill_value(json_value, dt)
    assert check(value)  # type: ignore[operator]
    assert encode_fill_value(value, dt) == json_value


def test_to_json_matches_zarr_python_formatting() -> None:
    meta = ArrayMetadataV2.from_json(doc())
    text = meta.to_json().decode()
    assert text == json.dumps(json.loads(text), indent=4, sort_keys=True, separators=(",", ": "))
    assert json.loads(text) == doc()


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"zarr_format": 3}, "zarr_format"),
        ({"shape": [10]}, "shape"),
        ({"chunks": [0, 1]}, "chunks"),
        ({"dtype": "<x9"}, "dtype"),
        ({"order": "K"}, "order"),
        ({"dimension_separator": "-"}, "dimension_separator"),
        ({"compressor": "zstd"}, "compressor"),
        ({"filters": [1]}, "filters"),
        ({"fill_value": "banana"}, "fill_value"),
        ({"dtype": "<i4", "fill_value": 1.5}, "fill_value"),
        ({"dtype": "|u1", "fill_value": 300}, "fill_value"),
    ],
)
def test_invalid_metadata_names_field(bad: dict, words: str) -> None:
    with pytest.raises(MetadataError) as info:
        ArrayMetadataV2.from_json(doc(**bad), key="arr/.zarray")
    assert "arr/.zarray" in str(info.value)
    assert words in str(info.value)


def test_missing_field_and_bad_json() -> None:
    d = doc()
    del d["order"]
    with pytest.raises(MetadataError, match="order"):
        ArrayMetadataV2.from_json(d)
    with pytest.raises(MetadataError, match="JSON"):
        ArrayMetadataV2.from_json(b"{not json")


def test_unknown_codec_rejected_at_create() -> None:
    store = azarr.stores.MemoryStore()
    with pytest.raises(MetadataError, match="nosuchcodec"):
        azarr.create((4,), (2,), "i4", compressor={"id": "nosuchcodec"}, store=store)
    assert azarr.sync.run(store.list()) == []  # nothing written


def test_chunk_keys() -> None:
    m = ArrayMetadataV2.from_json(doc(dimension_separator="/"))
    assert m.chunk_key((1, 2)) == "1/2"
    assert ArrayMetadataV2.from_json(doc()).chunk_key((1, 2)) == "1.2"
    assert ArrayMetadataV2.from_json(doc(shape=[], chunks=[])).chunk_key(()) == "0"
