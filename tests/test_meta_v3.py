"""Zarr v3 metadata (``zarr.json``): parsed in every form the writers produce, written
byte-for-byte as zarr-python 3 writes it, and every error a MetadataError naming the key."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.dtype import parse_dtype

from azarr.codecs import codecs_for
from azarr.errors import MetadataError
from azarr.meta.v3 import (
    ZARR_JSON,
    ArrayMetadataV3,
    ChunkKeyEncoding,
    GroupMetadataV3,
    node_from_documents,
    node_type,
)
from azarr.meta.v3_dtypes import data_type_from_dtype, parse_data_type

pytestmark = [
    pytest.mark.filterwarnings("ignore::zarr.errors.UnstableSpecificationWarning"),
    pytest.mark.filterwarnings("ignore::zarr.errors.ZarrUserWarning"),
]


def array_doc(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "shape": [10, 20],
        "data_type": "float32",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [5, 7]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0.0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "attributes": {},
        "zarr_format": 3,
        "node_type": "array",
        "storage_transformers": [],
    }
    doc.update(over)
    return {k: v for k, v in doc.items() if v is not DROP}


DROP = object()


def parse(doc: dict[str, Any] | bytes, path: str = "") -> tuple[ArrayMetadataV3, dict[str, Any]]:
    data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return ArrayMetadataV3.from_documents({ZARR_JSON: data}, path)


def zarr_json(**kw: Any) -> bytes:
    """The ``zarr.json`` zarr-python 3 writes for ``create_array(**kw)`` (the oracle)."""
    store = zarr.storage.MemoryStore()
    zarr.create_array(store, **kw)
    return store._store_dict[ZARR_JSON].to_bytes()


# --- written exactly as zarr-python 3 writes it ------------------------------------------------

CREATE_CASES: list[dict[str, Any]] = [
    {"dtype": "f8"},
    {"dtype": "f4", "fill_value": np.nan},
    {"dtype": "f2", "fill_value": -np.inf},
    {"dtype": "f8", "fill_value": np.inf, "dimension_names": ["x", None]},
    {"dtype": "f4", "fill_value": 1.5, "attributes": {"units": "K", "nested": {"a": [1, 2.5, None]}}},
    {"dtype": "c8", "fill_value": complex(np.nan, np.inf)},
    {"dtype": "c16", "fill_value": 1 - 2j},
    {"dtype": "?", "fill_value": True},
    {"dtype": "i1", "fill_value": -128},
    {"dtype": "u8", "fill_value": 2**64 - 1},
    {"dtype": ">i4", "fill_value": 7},
    {"dtype": "M8[ns]"},
    {"dtype": "M8[s]", "fill_value": np.datetime64("2020-01-01", "s")},
    {"dtype": "m8[10s]", "fill_value": np.timedelta64(30, "s")},
    {"dtype": "M8"},
    {"dtype": "U5"},
    {"dtype": "U2", "fill_value": "xy"},
    {"dtype": "S3"},
    {"dtype": "S3", "fill_value": b"ab"},
    {"dtype": "V4"},
    {"dtype": "V2", "fill_value": b"zz"},
    {"dtype": str},
    {"dtype": str, "fill_value": "missing"},
    {"dtype": "variable_length_bytes", "fill_value": b"\x00\xff"},
    {"dtype": "i2", "chunk_key_encoding": {"name": "v2", "separator": "."}},
    {"dtype": "i2", "chunk_key_encoding": {"name": "v2", "separator": "/"}},
    {"dtype": "i2", "chunk_key_encoding": {"name": "default", "separator": "."}},
    {"dtype": "f4", "shape": (), "chunks": ()},
    {"dtype": "f4", "shape": (0, 5), "chunks": (2, 2)},
    {"dtype": "f4", "attributes": {"ünïcode": "日本"}},
]


def _zarr_kwargs(case: dict[str, Any]) -> dict[str, Any]:
    kw = {"shape": (4, 6), "chunks": (2, 3), **case}
    if kw["dtype"] == "variable_length_bytes":
        kw["dtype"] = zarr.dtype.VariableLengthBytes()
    return kw


@pytest.mark.parametrize("case", CREATE_CASES, ids=[str(i) for i in range(len(CREATE_CASES))])
def test_create_writes_what_zarr_python_writes(case: dict[str, Any]) -> None:
    kw = _zarr_kwargs(case)
    expected = zarr_json(**kw)
    attrs = case.get("attributes", {})
    meta = ArrayMetadataV3.create(
        case.get("shape", (4, 6)),
        case.get("chunks", (2, 3)),
        case["dtype"],
        fill_value=case.get("fill_value", "default"),
        codecs=codecs_for(case["dtype"]),
        dimension_names=case.get("dimension_names"),
        chunk_key_encoding=case.get("chunk_key_encoding"),
    )
    assert meta.to_documents(attrs)[ZARR_JSON] == expected
    assert meta.attributes_documents(attrs) == meta.to_documents(attrs)


@pytest.mark.parametrize("case", CREATE_CASES, ids=[str(i) for i in range(len(CREATE_CASES))])
def test_zarr_python_documents_round_trip_byte_for_byte(case: dict[str, Any]) -> None:
    expected = zarr_json(**_zarr_kwargs(case))
    meta, attrs = parse(expected, "grp/arr")
    assert attrs == case.get("attributes", {})
    assert meta.to_documents(attrs)[ZARR_JSON] == expected
    assert meta.document_key == "grp/arr/zarr.json"
    if case["dtype"] == "M8":
        return  # zarr-python 3.1.6 cannot read its own generic-unit datetime64 arrays back
    # and zarr-python reads what azarr writes back to the same array
    store = zarr.storage.MemoryStore()
    store._store_dict[ZARR_JSON] = zarr.core.buffer.cpu.Buffer.from_bytes(meta.to_documents(attrs)[ZARR_JSON])
    assert json.dumps(zarr.open_array(store, mode="r").metadata.to_dict(), indent=2).encode() == expected


def test_group_documents_as_zarr_python_writes_them() -> None:
    store = zarr.storage.MemoryStore()
    zarr.open_group(store, mode="w", attributes={"title": "t", "n": [1, 2]})
    expected = store._store_dict[ZARR_JSON].to_bytes()
    meta, attrs = GroupMetadataV3.from_documents({ZARR_JSON: expected})
    assert attrs == {"title": "t", "n": [1, 2]} and meta.consolidated_metadata is None
    assert meta.to_documents(attrs)[ZARR_JSON] == expected
    assert GroupMetadataV3.create(root=True).to_documents({"title": "t", "n": [1, 2]})[ZARR_JSON] == expected
    assert GroupMetadataV3.create().to_documents(None)[ZARR_JSON] == (
        b'{\n  "attributes": {},\n  "zarr_format": 3,\n  "node_type": "group"\n}'
    )


def test_consolidated_group_round_trips_with_the_inline_object_in_place() -> None:
    store = zarr.storage.MemoryStore()
    g = zarr.open_group(store, mode="w")
    g.create_array("a", shape=(2,), dtype="i4")
    zarr.consolidate_metadata(store)
    expected = store._store_dict[ZARR_JSON].to_bytes()
    meta, attrs = GroupMetadataV3.from_documents({ZARR_JSON: expected})
    assert meta.consolidated_metadata is not None
    assert meta.consolidated_metadata["kind"] == "inline" and "a" in meta.consolidated_metadata["metadata"]
    assert meta.to_documents(attrs)[ZARR_JSON] == expected
    assert list(json.loads(expected)) == ["attributes", "zarr_format", "consolidated_metadata", "node_type"]


# --- read leniently, as other writers write ------------------------------------------------------


def test_tensorstore_compact_sorted_json() -> None:
    raw = (
        b'{"chunk_grid":{"configuration":{"chunk_shape":[2,3]},"name":"regular"},"chunk_key_encoding":'
        b'{"name":"default"},"codecs":[{"configuration":{"order":[1,0]},"name":"transpose"},{"configuration":'
        b'{"endian":"big"},"name":"bytes"},{"configuration":{"blocksize":0,"clevel":5,"cname":"lz4",'
        b'"shuffle":"shuffle","typesize":4},"name":"blosc"},{"name":"crc32c"}],"data_type":"float32",'
        b'"dimension_names":["a",null],"fill_value":"NaN","node_type":"array","shape":[3,4],"zarr_format":3}'
    )
    meta, attrs = parse(raw)
    assert attrs == {} and meta.shape == (3, 4) and meta.chunks == (2, 3)
    assert math.isnan(meta.fill_value) and meta.dtype == np.dtype("f4")
    assert meta.chunk_key((1, 2)) == "c/1/2"
    assert meta.dimension_names == ("a", None)
    assert meta.codecs[0] == {"name": "transpose", "configuration": {"order": [1, 0]}}
    assert meta.codecs[3] == {"name": "crc32c"}
    written = json.loads(meta.to_documents({})[ZARR_JSON])
    assert list(written) == [
        "shape", "data_type", "chunk_grid", "chunk_key_encoding", "fill_value", "codecs", "attributes",
        "dimension_names", "zarr_format", "node_type", "storage_transformers",
    ]  # fmt: skip
    assert written["chunk_key_encoding"] == {"name": "default", "configuration": {"separator": "/"}}


@pytest.mark.parametrize(
    ("value", "name", "separator", "key"),
    [
        ({"name": "default"}, "default", "/", "c/1/2"),
        ("default", "default", "/", "c/1/2"),
        ({"name": "default", "configuration": {"separator": "."}}, "default", ".", "c.1.2"),
        ({"name": "v2"}, "v2", ".", "1.2"),
        ("v2", "v2", ".", "1.2"),
        ({"name": "v2", "configuration": {"separator": "/"}}, "v2", "/", "1/2"),
        ({"name": "v2", "separator": "/"}, "v2", "/", "1/2"),  # zarr-python's creation keyword form
    ],
)
def test_chunk_key_encodings(value: Any, name: str, separator: str, key: str) -> None:
    meta, _ = parse(array_doc(chunk_key_encoding=value))
    assert meta.chunk_key_encoding == ChunkKeyEncoding(name, separator)
    assert meta.chunk_key((1, 2)) == key
    zero_d, _ = parse(array_doc(shape=[], chunk_grid={"name": "regular", "configuration": {"chunk_shape": []}},
                                chunk_key_encoding=value))  # fmt: skip
    assert zero_d.chunk_key(()) == ("c" if name == "default" else "0")
    assert zero_d.grid_shape == ()


def test_codecs_given_as_bare_names() -> None:
    meta, _ = parse(array_doc(data_type="uint8", codecs=["bytes", {"name": "gzip", "configuration": {"level": 1}}]))
    assert meta.codecs == ({"name": "bytes"}, {"name": "gzip", "configuration": {"level": 1}})
    assert json.loads(meta.to_documents({})[ZARR_JSON])["codecs"] == [
        {"name": "bytes"}, {"name": "gzip", "configuration": {"level": 1}},
    ]  # fmt: skip


def test_chunk_grid_and_data_type_as_bare_names_or_name_objects() -> None:
    meta, _ = parse(array_doc(data_type={"name": "int16"}, fill_value=3))
    assert meta.dtype == np.dtype("i2") and meta.fill_value == 3


@pytest.mark.parametrize("consolidated", [None, DROP])
def test_group_without_consolidated_metadata_and_zarr_python_313_null(consolidated: Any) -> None:
    doc = {"attributes": {"a": 1}, "zarr_format": 3, "consolidated_metadata": consolidated, "node_type": "group"}
    doc = {k: v for k, v in doc.items() if v is not DROP}
    meta, attrs = GroupMetadataV3.from_documents({ZARR_JSON: json.dumps(doc).encode()})
    assert meta.consolidated_metadata is None and attrs == {"a": 1}
    assert "consolidated_metadata" not in json.loads(meta.to_documents(attrs)[ZARR_JSON])


@pytest.mark.parametrize("value", [DROP, None, []])
def test_empty_storage_transformers_are_accepted(value: Any) -> None:
    meta, _ = parse(array_doc(storage_transformers=value))
    assert meta.storage_transformers == ()
    assert json.loads(meta.to_documents({})[ZARR_JSON])["storage_transformers"] == []


def test_must_understand_false_extensions_round_trip() -> None:
    ext = {"must_understand": False, "anything": [1, {"x": None}]}
    meta, attrs = parse(array_doc(my_extension=ext, attributes={"k": "v"}))
    assert meta.extra_fields == {"my_extension": ext}
    written = json.loads(meta.to_documents(attrs)[ZARR_JSON])
    assert written["my_extension"] == ext and list(written)[-1] == "my_extension"
    gmeta, _ = GroupMetadataV3.from_documents(
        {ZARR_JSON: json.dumps({"zarr_format": 3, "node_type": "group", "ext": ext}).encode()}
    )
    assert json.loads(gmeta.to_documents({})[ZARR_JSON])["ext"] == ext


# --- errors: every one a MetadataError naming the document key ----------------------------------


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (array_doc(data_type="foo"), "unknown data type 'foo'"),
        (array_doc(data_type={"name": "foo", "configuration": {}}), "unknown data type 'foo'"),
        (array_doc(data_type="bfloat16"), "unsupported data type 'bfloat16'"),
        (array_doc(data_type={"name": "structured", "configuration": {"fields": [["a", "int8"]]}}),
         "unsupported data type 'structured'"),
        (array_doc(data_type={"name": "struct", "configuration": {"fields": []}}), "unsupported data type 'struct'"),
        (array_doc(data_type="r12"), "multiple of 8 bits"),
        (array_doc(data_type={"name": "fixed_length_utf32", "configuration": {"length_bytes": 6}}), "multiple of 4"),
        (array_doc(data_type={"name": "null_terminated_bytes"}), "length_bytes"),
        (array_doc(data_type={"name": "numpy.datetime64", "configuration": {"unit": "fortnight", "scale_factor": 1}}),
         "invalid unit"),
        (array_doc(data_type={"name": "numpy.timedelta64", "configuration": {"unit": "s", "scale_factor": 0}}),
         "invalid scale_factor"),
        (array_doc(storage_transformers=[{"name": "chunk-manifest-json", "configuration": {}}]),
         "unsupported storage transformer.*chunk-manifest-json"),
        (array_doc(my_extension={"must_understand": True}), "unsupported metadata field 'my_extension'"),
        (array_doc(my_extension={"x": 1}), "unsupported metadata field 'my_extension'"),
        (array_doc(my_extension=5), "unsupported metadata field 'my_extension'"),
        (array_doc(zarr_format=2), "unsupported zarr_format 2"),
        (array_doc(node_type="bucket"), "node_type must be 'array' or 'group'"),
        (array_doc(node_type="group"), "not an array"),
        (array_doc(shape=DROP), "missing required field 'shape'"),
        (array_doc(codecs=DROP), "missing required field 'codecs'"),
        (array_doc(fill_value=DROP), "missing required field 'fill_value'"),
        (array_doc(shape=[10, -1]), "shape entries must be >= 0"),
        (array_doc(shape="big"), "shape must be a list of integers"),
        (array_doc(chunk_grid={"name": "rectilinear", "configuration": {}}), "unsupported chunk_grid 'rectilinear'"),
        (array_doc(chunk_grid={"name": "regular", "configuration": {"chunk_shape": [5]}}), "does not match 2"),
        (array_doc(chunk_grid={"name": "regular", "configuration": {"chunk_shape": [5, 0]}}), "must be >= 1"),
        (array_doc(chunk_grid={"name": "regular"}), "chunk_shape must be a list"),
        (array_doc(chunk_key_encoding={"name": "hilbert"}), "unsupported chunk_key_encoding 'hilbert'"),
        (array_doc(chunk_key_encoding={"name": "default", "configuration": {"separator": "-"}}), "separator"),
        (array_doc(codecs=[]), "codecs must be a non-empty list"),
        (array_doc(codecs=[5]), "invalid codec entry 5"),
        (array_doc(codecs=[{"name": "gzip", "configuration": [1]}]), "configuration must be an object"),
        (array_doc(dimension_names=["x"]), "dimension_names has 1 entries for 2 dimensions"),
        (array_doc(dimension_names=["x", 3]), "dimension_names must be a list of strings or nulls"),
        (array_doc(attributes=[1]), "attributes must be a JSON object"),
        (array_doc(fill_value="zero"), "invalid fill_value 'zero'"),
        (array_doc(fill_value=None), "fill_value must not be null"),
        (array_doc(data_type="int8", fill_value=200), "out of range"),
        (array_doc(data_type="int8", fill_value=1.5), "invalid integer fill_value"),
        (array_doc(data_type="bool", fill_value="yes"), "invalid bool fill_value"),
        (array_doc(fill_value="0xzzzzzzzz"), "invalid fill_value '0xzzzzzzzz'"),
        (array_doc(fill_value="0x7fc0000"), "4, 8 or 16 hex digits"),
        (array_doc(data_type="complex64", fill_value=[1]), r"complex fill_value must be \[real, imag\]"),
        (array_doc(data_type="r16", fill_value=[1]), "has 1 bytes, data type 'r16' has 2"),
        (array_doc(data_type="r16", fill_value=[1, 300]), "integers 0-255"),
        (array_doc(data_type="variable_length_bytes", fill_value="not base64!"), "invalid fill_value"),
        (array_doc(data_type={"name": "null_terminated_bytes", "configuration": {"length_bytes": 1}},
                   fill_value="YWI="), "exceeds the data type's length"),
        (array_doc(data_type={"name": "fixed_length_utf32", "configuration": {"length_bytes": 4}},
                   fill_value="ab"), "longer than the data type's length"),
        (array_doc(data_type={"name": "numpy.datetime64", "configuration": {"unit": "s", "scale_factor": 1}},
                   fill_value=1.5), "datetime fill_value must be an integer or 'NaT'"),
    ],
)  # fmt: skip
def test_invalid_documents_name_the_key(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(MetadataError, match=message) as info:
        parse(doc, "a/b")
    assert str(info.value).startswith("a/b/zarr.json: ")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'"zarr"', "expected a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_malformed_json_names_the_key(raw: bytes, message: str) -> None:
    for model in (ArrayMetadataV3, GroupMetadataV3):
        with pytest.raises(MetadataError, match=message) as info:
            model.from_documents({ZARR_JSON: raw}, "a/b")
        assert str(info.value).startswith("a/b/zarr.json: ")


def test_group_errors_name_the_key() -> None:
    bad = [
        ({"zarr_format": 3, "node_type": "array"}, "not a group"),
        ({"zarr_format": 3, "node_type": "group", "consolidated_metadata": 1}, "consolidated_metadata must be"),
        ({"zarr_format": 3, "node_type": "group", "x": {"must_understand": True}}, "unsupported metadata field 'x'"),
        ({"zarr_format": 3, "node_type": "group", "attributes": "a"}, "attributes must be a JSON object"),
    ]
    for doc, message in bad:
        with pytest.raises(MetadataError, match=message) as info:
            GroupMetadataV3.from_documents({ZARR_JSON: json.dumps(doc).encode()}, "g")
        assert str(info.value).startswith("g/zarr.json: ")


def test_unserialisable_attributes_are_a_metadata_error() -> None:
    meta, _ = parse(array_doc(), "x")
    with pytest.raises(MetadataError, match="x/zarr.json: attributes are not JSON-serialisable"):
        meta.to_documents({"f": object()})
    assert json.loads(meta.to_documents({"a": np.float32(1.5), "b": np.arange(3)})[ZARR_JSON])["attributes"] == {
        "a": 1.5, "b": [0, 1, 2],
    }  # fmt: skip


# --- data types and fill values --------------------------------------------------------------------

DT_S = {"name": "numpy.datetime64", "configuration": {"unit": "s", "scale_factor": 1}}
TD_10MS = {"name": "numpy.timedelta64", "configuration": {"unit": "ms", "scale_factor": 10}}
NAT = -(2**63)


def _bits(value: Any, dtype: str) -> bytes:
    return np.asarray(value, dtype=dtype).tobytes()


@pytest.mark.parametrize(
    ("data_type", "fill", "check", "written"),
    [
        ("bool", True, lambda v: v == np.True_, True),
        ("bool", 0, lambda v: v == np.False_, False),
        ("int8", -128, lambda v: v == -128 and v.dtype == np.int8, -128),
        ("int8", 1.0, lambda v: v == 1, 1),
        ("int16", "42", lambda v: v == 42, 42),
        ("uint64", 2**64 - 1, lambda v: int(v) == 2**64 - 1, 2**64 - 1),
        ("float64", 1.5, lambda v: v == 1.5, 1.5),
        ("float32", "NaN", lambda v: math.isnan(v), "NaN"),
        ("float16", "Infinity", lambda v: v == np.inf and v.dtype == np.float16, "Infinity"),
        ("float64", "-Infinity", lambda v: v == -np.inf, "-Infinity"),
        ("float32", "0x7fc00000", lambda v: _bits(v, "f4") == bytes.fromhex("0000c07f"), "NaN"),
        ("float32", "0x7fc00001", lambda v: _bits(v, "<f4") == bytes.fromhex("0100c07f"), "NaN"),  # payload kept
        ("float64", "0x3ff0000000000000", lambda v: v == 1.0, 1.0),
        ("float16", "0x3c00", lambda v: v == 1.0, 1.0),
        ("float32", "1e3", lambda v: v == 1000.0, 1000.0),
        ("float32", 7, lambda v: v == 7.0, 7.0),
        ("complex64", [1, 2], lambda v: v == 1 + 2j, [1.0, 2.0]),
        ("complex128", ["NaN", "-Infinity"], lambda v: math.isnan(v.real) and v.imag == -np.inf, ["NaN", "-Infinity"]),
        ("complex64", ["0x3f800000", 0], lambda v: v == 1 + 0j, [1.0, 0.0]),
        ("r16", [1, 2], lambda v: v.tobytes() == b"\x01\x02", [1, 2]),
        ("r16", "AQI=", lambda v: v.tobytes() == b"\x01\x02", [1, 2]),
        ({"name": "raw_bytes", "configuration": {"length_bytes": 2}}, "AQI=", lambda v: v.tobytes() == b"\x01\x02",
         "AQI="),
        ({"name": "raw_bytes", "configuration": {"length_bytes": 2}}, [1, 2], lambda v: v.tobytes() == b"\x01\x02",
         "AQI="),
        ({"name": "null_terminated_bytes", "configuration": {"length_bytes": 3}}, "YWI=", lambda v: v == b"ab",
         "YWI="),
        ({"name": "null_terminated_bytes", "configuration": {"length_bytes": 3}}, [97], lambda v: v == b"a", "YQ=="),
        ({"name": "fixed_length_utf32", "configuration": {"length_bytes": 8}}, "xy", lambda v: v == "xy", "xy"),
        ("string", "hi", lambda v: v == "hi" and type(v) is str, "hi"),
        ("string", 5, lambda v: v == "5", "5"),
        ("variable_length_bytes", "eno=", lambda v: v == b"zz" and type(v) is bytes, "eno="),
        ("bytes", "", lambda v: v == b"", ""),
        ("variable_length_bytes", [0, 255], lambda v: v == b"\x00\xff", "AP8="),
        (DT_S, 0, lambda v: v == np.datetime64("1970-01-01T00:00:00"), 0),
        (DT_S, "NaT", lambda v: np.isnat(v), NAT),
        (DT_S, NAT, lambda v: np.isnat(v), NAT),
        (DT_S, "2001-01-01", lambda v: v == np.datetime64("2001-01-01", "s"), 978307200),
        (TD_10MS, 5, lambda v: v == np.timedelta64(50, "ms") and v.dtype == np.dtype("m8[10ms]"), 5),
    ],
)  # fmt: skip
def test_fill_value_forms(data_type: Any, fill: Any, check: Any, written: Any) -> None:
    meta, _ = parse(array_doc(data_type=data_type, fill_value=fill), "t")
    assert check(meta.fill_value)
    doc = json.loads(meta.to_documents({})[ZARR_JSON])
    assert doc["fill_value"] == written
    assert doc["data_type"] == data_type


@pytest.mark.parametrize(
    ("data_type", "numpy_dtype"),
    [
        ("bool", "?"), ("int8", "i1"), ("int16", "i2"), ("int32", "i4"), ("int64", "i8"), ("uint8", "u1"),
        ("uint16", "u2"), ("uint32", "u4"), ("uint64", "u8"), ("float16", "f2"), ("float32", "f4"),
        ("float64", "f8"), ("complex64", "c8"), ("complex128", "c16"), ("r8", "V1"), ("r24", "V3"),
        ({"name": "raw_bytes", "configuration": {"length_bytes": 5}}, "V5"),
        ({"name": "null_terminated_bytes", "configuration": {"length_bytes": 5}}, "S5"),
        ({"name": "fixed_length_utf32", "configuration": {"length_bytes": 12}}, "U3"),
        ("string", "O"), ("variable_length_bytes", "O"), ("bytes", "O"),
        (DT_S, "M8[s]"), (TD_10MS, "m8[10ms]"),
        ({"name": "numpy.datetime64", "configuration": {"unit": "generic", "scale_factor": 1}}, "M8"),
    ],
)  # fmt: skip
def test_data_types_map_to_numpy(data_type: Any, numpy_dtype: str) -> None:
    meta, _ = parse(array_doc(data_type=data_type, fill_value=parse_data_type(data_type, "k").encode_fill_value(
        parse_data_type(data_type, "k").default_fill_value())))  # fmt: skip
    assert meta.dtype == np.dtype(numpy_dtype)
    assert meta.dtype.byteorder in "=|"  # native: the bytes codec handles the stored order


@pytest.mark.parametrize(
    "dtype",
    [str, "str", np.dtype("U0"), "bytes", "string", "T", np.dtypes.StringDType(), ">f4", "<i8", "M8", "m8[us]",
     "M8[10ms]", "float", int, float, complex, bool, "c16", "U5", "S3", "V4", "u1", "f2"],
)  # fmt: skip
def test_numpy_dtypes_map_as_zarr_python_maps_them(dtype: Any) -> None:
    ours = data_type_from_dtype(dtype)
    theirs = parse_dtype(dtype, zarr_format=3)
    assert ours.json == theirs.to_json(zarr_format=3)
    assert ours.default_fill_value() == theirs.default_scalar() or np.isnat(ours.default_fill_value())


@pytest.mark.parametrize(
    ("dtype", "message"),
    [
        ("U", "no length|length"), (bytes, "no length"), ("S", "no length"), ("V", "no length"),
        (object, "ambiguous"), ("|O", "ambiguous"), ("f16", "unsupported data type"),
        ([("a", "i4"), ("b", "f8")], "unsupported data type.*structured"), ("not-a-dtype", "invalid dtype"),
    ],
)  # fmt: skip
def test_dtypes_without_a_v3_form_are_clear_errors(dtype: Any, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        ArrayMetadataV3.create((4,), (2,), dtype, codecs=[{"name": "bytes"}])


def test_zarr_python_accepts_the_data_types_we_cannot_create() -> None:
    # object is ambiguous in zarr-python 3 too; both refuse it
    with pytest.raises(ValueError):
        parse_dtype(np.dtype(object), zarr_format=3)


# --- the interface the core uses -----------------------------------------------------------------


def test_array_interface() -> None:
    grid = {"name": "regular", "configuration": {"chunk_shape": [3, 2, 7]}}
    meta, _ = parse(array_doc(shape=[10, 0, 7], chunk_grid=grid, dimension_names=["t", "y", "x"]))
    assert (meta.chunks, meta.order, meta.ndim, meta.grid_shape) == ((3, 2, 7), "C", 3, (4, 0, 1))
    assert meta.zarr_format == 3 and meta.metadata_key == ZARR_JSON
    bigger = meta.with_shape((12, 4, 7))
    assert bigger.shape == (12, 4, 7) and bigger.grid_shape == (4, 2, 1) and bigger.chunks == meta.chunks
    assert json.loads(bigger.to_documents({})[ZARR_JSON])["shape"] == [12, 4, 7]
    with pytest.raises(MetadataError, match="number of dimensions"):
        meta.with_shape((1, 2))
    assert meta.to_dict()["dimension_names"] == ["t", "y", "x"]
    assert "dimension_names" not in parse(array_doc())[0].to_dict()


def test_equality_is_document_equality_even_with_nan() -> None:
    a, _ = parse(array_doc(fill_value="NaN"), "a")
    b, _ = parse(array_doc(fill_value="NaN"), "b")
    assert a == b
    assert a != parse(array_doc(fill_value=1.0))[0]
    assert a != parse(array_doc(fill_value="NaN", codecs=["bytes"], data_type="float32"))[0]


def test_create_defaults_and_chunk_guessing() -> None:
    meta = ArrayMetadataV3.create(1000, None, "f8", codecs=codecs_for("f8"))
    assert meta.shape == (1000,) and meta.chunks == (1000,) and meta.fill_value == 0.0
    assert meta.chunk_key_encoding == ChunkKeyEncoding("default", "/")
    meta = ArrayMetadataV3.create((100, 100), (10, None), "i2", fill_value=None, codecs=codecs_for("i2"))
    assert meta.chunks == (10, 100) and meta.fill_value == 0
    with pytest.raises(MetadataError, match="dimension_names has 1 entries"):
        ArrayMetadataV3.create((2, 2), (1, 1), "i2", codecs=codecs_for("i2"), dimension_names=["x"])
    with pytest.raises(MetadataError, match="invalid fill_value"):
        ArrayMetadataV3.create((2, 2), (1, 1), "i2", codecs=codecs_for("i2"), fill_value="zero")
    with pytest.raises(MetadataError, match="unsupported metadata field"):
        ArrayMetadataV3.create((2,), (1,), "i2", codecs=codecs_for("i2"), extra_fields={"x": {"must_understand": True}})


def test_nan_fill_value_payload_is_kept_when_created() -> None:
    payload_nan = np.frombuffer(bytes.fromhex("0100c07f"), dtype="<f4")[0]
    meta = ArrayMetadataV3.create((2,), (2,), "f4", fill_value=payload_nan, codecs=codecs_for("f4"))
    assert np.asarray(meta.fill_value, dtype="<f4").tobytes() == bytes.fromhex("0100c07f")
    assert json.loads(meta.to_documents({})[ZARR_JSON])["fill_value"] == "NaN"  # as zarr-python writes it


def test_node_dispatch() -> None:
    adoc = json.dumps(array_doc()).encode()
    gdoc = b'{"zarr_format": 3, "node_type": "group"}'
    assert node_type(adoc) == "array" and node_type(gdoc) == "group"
    assert isinstance(node_from_documents({ZARR_JSON: adoc}, "p")[0], ArrayMetadataV3)
    assert isinstance(node_from_documents({ZARR_JSON: gdoc}, "p")[0], GroupMetadataV3)
    with pytest.raises(MetadataError, match="p/zarr.json: unsupported zarr_format 2"):
        node_from_documents({ZARR_JSON: b'{"zarr_format": 2}'}, "p")
    meta, _ = ArrayMetadataV3.from_dict(array_doc(), "inline/a/zarr.json")
    assert meta.document_key == "inline/a/zarr.json"
