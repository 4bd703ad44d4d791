"""Zarr v3 data types and their fill values (pure: no I/O, no codecs).

A v3 ``data_type`` is a name (``"float32"``, ``"r16"``) or a named configuration
(``{"name": "numpy.datetime64", "configuration": {"unit": "s", "scale_factor": 1}}``).
:class:`DataTypeV3` keeps the JSON form it was read from (so it is written back as read)
beside the numpy dtype azarr computes with. The names beyond the core spec's are what
zarr-python 3 writes: ``string``, ``variable_length_bytes`` (formerly ``bytes``),
``fixed_length_utf32``, ``null_terminated_bytes``, ``raw_bytes``, ``numpy.datetime64``
and ``numpy.timedelta64``.

Fill values are read in every form the spec and zarr-python use (numbers, ``"NaN"``,
``"Infinity"``, ``"-Infinity"``, hex bit patterns, ``[re, im]`` pairs, base64 strings,
byte arrays, ``"NaT"``) and written as zarr-python 3 writes them.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from azarr.errors import MetadataError
from azarr.meta.common import encode_float

#: core numeric names -> numpy dtype (native byte order; the ``bytes`` codec sets the stored order)
NUMERIC_TYPES: dict[str, np.dtype] = {
    name: np.dtype(code)
    for name, code in {
        "bool": "?",
        "int8": "i1", "int16": "i2", "int32": "i4", "int64": "i8",
        "uint8": "u1", "uint16": "u2", "uint32": "u4", "uint64": "u8",
        "float16": "f2", "float32": "f4", "float64": "f8",
        "complex64": "c8", "complex128": "c16",
    }.items()
}  # fmt: skip
_NUMERIC_BY_DTYPE = {dt: name for name, dt in NUMERIC_TYPES.items()}

#: names other writers use that azarr does not read (yet): a clear "unsupported" error, not "unknown"
UNSUPPORTED_TYPES = frozenset(
    {
        "bfloat16", "int2", "int4", "uint2", "uint4", "float4_e2m1fn", "float6_e2m3fn", "float6_e3m2fn",
        "float8_e3m4", "float8_e4m3", "float8_e4m3b11fnuz", "float8_e4m3fn", "float8_e4m3fnuz",
        "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu", "complex_bfloat16", "complex_float16",
        "complex_float32", "complex_float64", "struct", "structured",
    }
)  # fmt: skip

#: numpy's datetime units (zarr-python's ``unit`` values)
TIME_UNITS = ("Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as", "generic")
_RAW = re.compile(r"r([1-9][0-9]*)")
_NAT = np.iinfo(np.int64).min

#: the kind of each data type, which decides its fill value's JSON form
KINDS = (
    "bool", "int", "float", "complex", "raw", "raw_bytes", "null_terminated_bytes",
    "fixed_length_utf32", "string", "variable_length_bytes", "datetime",
)  # fmt: skip


@dataclass(frozen=True)
class DataTypeV3:
    """One Zarr v3 data type: its JSON form, the numpy dtype azarr uses, and its kind.

    ``string`` and ``variable_length_bytes`` are numpy object arrays (of ``str`` and
    ``bytes``); ``r<N>`` and ``raw_bytes`` are numpy ``V``; ``null_terminated_bytes`` is
    ``S``; ``fixed_length_utf32`` is ``U``.
    """

    json: Any
    dtype: np.dtype
    kind: str

    @property
    def name(self) -> str:
        """The data type's name (``"float32"``, ``"numpy.datetime64"``, ``"r16"``)."""
        return self.json if isinstance(self.json, str) else str(self.json["name"])

    @property
    def has_endianness(self) -> bool:
        """Whether stored elements have a byte order (the ``bytes`` codec needs ``endian``)."""
        return self.dtype.byteorder not in ("|",) and self.dtype.kind != "O"

    @property
    def item_size(self) -> int | None:
        """Bytes per element, or None for variable-length types (blosc's ``typesize``)."""
        return None if self.dtype.kind == "O" else self.dtype.itemsize

    # --- fill values ---------------------------------------------------------------

    def default_fill_value(self) -> Any:
        """zarr-python 3's default fill value: zero, False, "", b"", zero bytes or NaT."""
        if self.kind == "string":
            return ""
        if self.kind == "variable_length_bytes":
            return b""
        if self.kind == "datetime":
            return np.array(_NAT, dtype="i8").view(self.dtype)[()]
        return np.zeros((), dtype=self.dtype)[()]

    def decode_fill_value(self, value: Any, key: str) -> Any:
        """Parse a JSON fill value into a numpy scalar (or str/bytes for variable-length types)."""
        try:
            return _decode_fill(self, value, key)
        except MetadataError:
            raise
        except (TypeError, ValueError, OverflowError, binascii.Error) as exc:
            raise MetadataError(f"{key}: invalid fill_value {value!r} for data type {self.name!r} ({exc})") from None

    def encode_fill_value(self, value: Any) -> Any:
        """The JSON form of ``value`` as zarr-python 3 writes it."""
        kind = self.kind
        if kind == "bool":
            return bool(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return encode_float(float(value))
        if kind == "complex":
            c = complex(value)
            return [encode_float(c.real), encode_float(c.imag)]
        if kind == "datetime":
            return int(np.asarray(value, dtype=self.dtype).view("i8"))
        if kind == "string":
            return str(value)
        if kind == "fixed_length_utf32":
            return str(np.asarray(value, dtype=self.dtype)[()])
        if kind == "raw":  # the core spec writes r<N> fill values as byte arrays
            return list(np.asarray(value, dtype=self.dtype).tobytes())
        raw = _fill_bytes(self, value)
        return base64.standard_b64encode(raw).decode("ascii")

    def coerce_fill_value(self, value: Any, key: str) -> Any:
        """A user's fill value (Python/numpy scalar) as this type's scalar; errors name ``key``."""
        if value is None:
            return self.default_fill_value()
        try:
            encoded = self.encode_fill_value(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise MetadataError(f"{key}: invalid fill_value {value!r} for data type {self.name!r} ({exc})") from None
        if self.kind == "float" and isinstance(value, (float, np.floating)) and math.isnan(value):
            # keep a NaN's payload (the JSON form "NaN" names only the canonical one)
            return np.asarray(value, dtype=self.dtype)[()]
        return self.decode_fill_value(encoded, key)


def _fill_bytes(dt: DataTypeV3, value: Any) -> bytes:
    if dt.kind == "variable_length_bytes":
        return bytes(value)
    if dt.kind == "null_terminated_bytes":
        return bytes(np.asarray(value, dtype=dt.dtype)[()])
    return np.asarray(value, dtype=dt.dtype).tobytes()


def _json_bytes(value: Any, dt: DataTypeV3, key: str) -> bytes:
    """Bytes given as base64 (zarr-python) or as an array of integers 0-255 (the spec's r<N>)."""
    if isinstance(value, str):
        return base64.b64decode(value.encode("ascii"), validate=True)
    if isinstance(value, list) and all(isinstance(b, int) and not isinstance(b, bool) for b in value):
        if any(not 0 <= b <= 255 for b in value):
            raise MetadataError(f"{key}: fill_value bytes must be integers 0-255, got {value!r}")
        return bytes(value)
    raise MetadataError(f"{key}: fill_value for data type {dt.name!r} must be base64 or a byte array, got {value!r}")


def _json_float(value: Any, dtype: np.dtype, key: str) -> Any:
    if isinstance(value, bool):
        raise MetadataError(f"{key}: invalid float fill_value {value!r}")
    if isinstance(value, (int, float)):
        return np.array(value, dtype=dtype)[()]
    if isinstance(value, str):
        special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
        if value in special:
            return np.array(special[value], dtype=dtype)[()]
        if value.startswith("0x"):
            # a bit pattern, big-endian hex: the only way to name a NaN other than the canonical one
            digits = value[2:]
            codes = {4: ">f2", 8: ">f4", 16: ">f8"}
            code = codes.get(len(digits))
            if code is None:
                raise MetadataError(f"{key}: hex fill_value {value!r} must have 4, 8 or 16 hex digits")
            scalar = np.frombuffer(bytes.fromhex(digits), dtype=code)[0]
            if np.dtype(code).itemsize == dtype.itemsize:
                return scalar.astype(dtype)  # a byte swap only: the NaN payload is kept
            return np.array(float(scalar), dtype=dtype)[()]
        return np.array(float(value), dtype=dtype)[()]  # "1.5", as zarr-python also accepts
    raise MetadataError(f"{key}: invalid float fill_value {value!r}")


def _decode_fill(dt: DataTypeV3, value: Any, key: str) -> Any:
    kind = dt.kind
    if value is None:
        raise MetadataError(f"{key}: fill_value must not be null for data type {dt.name!r}")
    if kind == "bool":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return np.bool_(bool(value))
        raise MetadataError(f"{key}: invalid bool fill_value {value!r}")
    if kind == "int":
        if isinstance(value, bool):
            raise MetadataError(f"{key}: invalid integer fill_value {value!r}")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str):
            value = int(value)  # "42", as zarr-python accepts
        if not isinstance(value, int):
            raise MetadataError(f"{key}: invalid integer fill_value {value!r}")
        info = np.iinfo(dt.dtype)
        if not info.min <= value <= info.max:
            raise MetadataError(f"{key}: fill_value {value!r} out of range for data type {dt.name!r}")
        return np.array(value, dtype=dt.dtype)[()]
    if kind == "float":
        return _json_float(value, dt.dtype, key)
    if kind == "complex":
        part = np.dtype(f"f{dt.dtype.itemsize // 2}")
        if isinstance(value, list) and len(value) == 2:
            re_, im = (float(_json_float(v, part, key)) for v in value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            re_, im = float(value), 0.0
        else:
            raise MetadataError(f"{key}: complex fill_value must be [real, imag], got {value!r}")
        return np.array(complex(re_, im), dtype=dt.dtype)[()]
    if kind == "datetime":
        if value == "NaT":
            return np.array(_NAT, dtype="i8").view(dt.dtype)[()]
        if isinstance(value, int) and not isinstance(value, bool):
            return np.array(value, dtype="i8").view(dt.dtype)[()]
        if isinstance(value, str):  # an ISO date, as some writers emit
            return np.array(value, dtype=dt.dtype)[()]
        raise MetadataError(f"{key}: datetime fill_value must be an integer or 'NaT', got {value!r}")
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # zarr-python accepts numbers for strings
        raise MetadataError(f"{key}: string fill_value must be a string, got {value!r}")
    if kind == "fixed_length_utf32":
        if not isinstance(value, str):
            raise MetadataError(f"{key}: fill_value must be a string, got {value!r}")
        if len(value) > dt.dtype.itemsize // 4:
            raise MetadataError(f"{key}: fill_value {value!r} is longer than the data type's length")
        return np.str_(value)
    raw = _json_bytes(value, dt, key)
    if kind == "variable_length_bytes":
        return raw
    if kind == "null_terminated_bytes":
        if len(raw) > dt.dtype.itemsize:
            raise MetadataError(f"{key}: fill_value of {len(raw)} bytes exceeds the data type's length")
        return np.bytes_(raw)
    # raw / raw_bytes: exactly the element's bytes
    if len(raw) != dt.dtype.itemsize:
        raise MetadataError(f"{key}: fill_value has {len(raw)} bytes, data type {dt.name!r} has {dt.dtype.itemsize}")
    return np.frombuffer(raw, dtype=dt.dtype)[0]


# --- parsing the data_type field -----------------------------------------------------------


def _length_bytes(config: Any, name: str, key: str) -> int:
    n = config.get("length_bytes") if isinstance(config, dict) else None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise MetadataError(f"{key}: data type {name!r} needs a positive integer 'length_bytes', got {config!r}")
    return n


def _time_dtype(name: str, config: Any, key: str) -> tuple[dict[str, Any], np.dtype]:
    if not isinstance(config, dict):
        raise MetadataError(f"{key}: data type {name!r} needs a configuration with 'unit' and 'scale_factor'")
    unit = config.get("unit")
    scale = config.get("scale_factor", 1)
    if unit not in TIME_UNITS:
        raise MetadataError(f"{key}: data type {name!r} has invalid unit {unit!r} (expected one of {TIME_UNITS})")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise MetadataError(f"{key}: data type {name!r} has invalid scale_factor {scale!r}")
    code = "M8" if name == "numpy.datetime64" else "m8"
    dtype = np.dtype(code if unit == "generic" else f"{code}[{scale if scale != 1 else ''}{unit}]")
    return {"name": name, "configuration": {"unit": unit, "scale_factor": scale}}, dtype


def parse_data_type(value: Any, key: str) -> DataTypeV3:
    """Parse a ``data_type`` field; unknown or unsupported types raise MetadataError naming ``key``."""
    name: Any = value
    config: Any = None
    if isinstance(value, dict):
        name = value.get("name")
        config = value.get("configuration")
    if not isinstance(name, str):
        raise MetadataError(f"{key}: invalid data_type {value!r}")
    if name in NUMERIC_TYPES:
        dtype = NUMERIC_TYPES[name]
        kind = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}[dtype.kind]
        return DataTypeV3(name, dtype, kind)
    raw = _RAW.fullmatch(name)
    if raw:
        bits = int(raw.group(1))
        if bits % 8:
            raise MetadataError(f"{key}: raw data type {name!r} must have a multiple of 8 bits")
        return DataTypeV3(name, np.dtype(f"V{bits // 8}"), "raw")
    if name in ("string", "variable_length_bytes", "bytes"):
        kind = "string" if name == "string" else "variable_length_bytes"
        return DataTypeV3(name, np.dtype(object), kind)
    if name in ("raw_bytes", "null_terminated_bytes", "fixed_length_utf32"):
        n = _length_bytes(config, name, key)
        if name == "fixed_length_utf32":
            if n % 4:
                raise MetadataError(f"{key}: fixed_length_utf32 length_bytes must be a multiple of 4, got {n}")
            dtype = np.dtype(f"U{n // 4}")
        else:
            dtype = np.dtype(f"{'V' if name == 'raw_bytes' else 'S'}{n}")
        return DataTypeV3({"name": name, "configuration": {"length_bytes": n}}, dtype, name)
    if name in ("numpy.datetime64", "numpy.timedelta64"):
        doc, dtype = _time_dtype(name, config, key)
        return DataTypeV3(doc, dtype, "datetime")
    if name in UNSUPPORTED_TYPES:
        raise MetadataError(f"{key}: unsupported data type {name!r}")
    raise MetadataError(f"{key}: unknown data type {name!r}")


# --- numpy dtype -> v3 data type (creation) --------------------------------------------------------------


def data_type_from_dtype(dtype: Any, key: str = "zarr.json") -> DataTypeV3:
    """The v3 data type zarr-python 3 would write for a user's ``dtype``.

    Accepts v3 names and objects (``"string"``, ``"r16"``, ``{"name": "raw_bytes", ...}``),
    zarr-python data type objects, and anything numpy accepts. As in zarr-python 3:
    ``str``/``"str"``/``"T"`` -> ``string``; ``"U5"`` -> ``fixed_length_utf32``; ``"S3"`` ->
    ``null_terminated_bytes``; ``"V4"`` -> ``raw_bytes``; ``"bytes"`` ->
    ``variable_length_bytes``; ``object`` is ambiguous and rejected.
    """
    if isinstance(dtype, DataTypeV3):
        return dtype
    to_json = getattr(dtype, "to_json", None)
    if callable(to_json) and not isinstance(dtype, (np.dtype, type)):  # a zarr-python ZDType
        return parse_data_type(to_json(zarr_format=3), key)
    if isinstance(dtype, dict):
        return parse_data_type(dtype, key)
    if isinstance(dtype, str):
        if dtype in ("string", "str", "T"):
            return parse_data_type("string", key)
        if dtype in ("bytes", "variable_length_bytes"):
            return parse_data_type("variable_length_bytes", key)
        if _RAW.fullmatch(dtype) or dtype in NUMERIC_TYPES:
            return parse_data_type(dtype, key)
    if dtype is str:
        return parse_data_type("string", key)
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise MetadataError(f"{key}: invalid dtype {dtype!r}: {exc}") from None
    return _from_numpy(dt, dtype, key)


def _from_numpy(dt: np.dtype, given: Any, key: str) -> DataTypeV3:
    kind = dt.kind
    if dt.fields is not None:
        raise MetadataError(f"{key}: unsupported data type {dt} (structured dtypes are not supported in Zarr v3 yet)")
    if kind in "biufc":
        name = _NUMERIC_BY_DTYPE.get(dt.newbyteorder("="))
        if name is None:
            raise MetadataError(f"{key}: unsupported data type {dt} (no Zarr v3 equivalent)")
        return parse_data_type(name, key)
    if kind == "T":
        return parse_data_type("string", key)
    if kind == "O":
        raise MetadataError(
            f"{key}: dtype object is ambiguous in Zarr v3: use dtype=str for strings "
            "or dtype='variable_length_bytes' for bytes"
        )
    if kind == "U":
        if dt.itemsize == 0:
            if isinstance(given, str):  # "U" names no length (as zarr-python reads it)
                raise MetadataError(f"{key}: dtype {given!r} has no length (give one, e.g. 'U8', or use str)")
            return parse_data_type("string", key)  # numpy's dtype(str)
        return parse_data_type({"name": "fixed_length_utf32", "configuration": {"length_bytes": dt.itemsize}}, key)
    if kind in "SV":
        if dt.itemsize == 0:
            raise MetadataError(f"{key}: dtype {given!r} has no length (give one, e.g. 'S8')")
        name = "null_terminated_bytes" if kind == "S" else "raw_bytes"
        return parse_data_type({"name": name, "configuration": {"length_bytes": dt.itemsize}}, key)
    if kind in "Mm":
        unit, scale = np.datetime_data(dt)
        name = "numpy.datetime64" if kind == "M" else "numpy.timedelta64"
        config = {"unit": unit, "scale_factor": int(scale)}
        return parse_data_type({"name": name, "configuration": config}, key)
    raise MetadataError(f"{key}: unsupported data type {dt}")


__all__ = ["DataTypeV3", "data_type_from_dtype", "parse_data_type"]
