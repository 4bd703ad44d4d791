"""Zarr v2 metadata: ``.zarray``, ``.zgroup`` and ``.zattrs`` (pure: no I/O).

JSON is written the way zarr-python 2 writes it (4-space indent, sorted keys, ASCII)
so documents azarr writes are byte-compatible with zarr-python's.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Self

import numpy as np

from azarr.errors import MetadataError
from azarr.meta.common import (
    decode_float,
    encode_float,
    int_tuple,
    json_loads,
    jsonable,
    normalize_chunks,
)

ZARRAY = ".zarray"
ZGROUP = ".zgroup"
ZATTRS = ".zattrs"
#: the compressor of new arrays when none is named (zarr-python 3's v2 default: Zstd level 0)
DEFAULT_COMPRESSOR: dict[str, Any] = {"id": "zstd", "level": 0, "checksum": False}


def json_dumps(obj: Any) -> bytes:
    """Encode a metadata document as zarr-python 2 does."""
    return json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=True, separators=(",", ": ")).encode("ascii")


# --- dtypes ---------------------------------------------------------------------------


def _listify(descr: Any) -> Any:
    if isinstance(descr, tuple):
        return [_listify(x) for x in descr]
    if isinstance(descr, list):
        return [_listify(x) for x in descr]
    return descr


def encode_dtype(dtype: np.dtype) -> str | list[Any]:
    """Return the v2 JSON form of ``dtype`` (a typestr, or a list for structured dtypes)."""
    if dtype.fields is None:
        return dtype.str
    return _listify(dtype.descr)


def _tuplify(descr: Any) -> Any:
    out = []
    for item in descr:
        if not isinstance(item, list) or len(item) not in (2, 3):
            raise MetadataError(f"structured dtype field must be [name, type(, shape)], got {item!r}")
        name, typ = item[0], item[1]
        typ = _tuplify(typ) if isinstance(typ, list) else typ
        out.append((name, typ, tuple(item[2])) if len(item) == 3 else (name, typ))
    return out


def decode_dtype(value: Any, key: str = ZARRAY) -> np.dtype:
    """Parse the v2 ``dtype`` field; unknown or malformed types raise MetadataError."""
    try:
        if isinstance(value, str):
            dt = np.dtype(value)
        elif isinstance(value, list):
            dt = np.dtype(_tuplify(value))
        else:
            raise TypeError(f"expected a string or list, got {type(value).__name__}")
    except (TypeError, ValueError) as exc:
        raise MetadataError(f"{key}: invalid dtype {value!r} ({exc})") from None
    if dt.kind in "MmSUV" and dt.kind != "V" and dt.itemsize == 0 and dt.kind in "SU":
        raise MetadataError(f"{key}: dtype {value!r} has zero length")
    return dt


# --- fill values ------------------------------------------------------------------------


def encode_fill_value(value: Any, dtype: np.dtype) -> Any:
    """Return the v2 JSON form of a fill value for ``dtype``."""
    if value is None:
        return None
    kind = dtype.kind
    if kind == "f":
        return encode_float(float(value))
    if kind == "c":
        c = complex(value)
        return [encode_float(c.real), encode_float(c.imag)]
    if kind in "iu":
        return int(value)
    if kind == "b":
        return bool(value)
    if kind in "Mm":
        return int(np.asarray(value, dtype=dtype).view("i8"))
    if kind == "S":
        return base64.standard_b64encode(np.asarray(value, dtype=dtype).tobytes()).decode("ascii")
    if kind == "U":
        return str(value)
    if kind == "V":
        return base64.standard_b64encode(np.asarray(value, dtype=dtype).tobytes()).decode("ascii")
    if kind == "O":
        return value
    raise MetadataError(f"cannot encode fill_value {value!r} for dtype {dtype}")


def decode_fill_value(value: Any, dtype: np.dtype, key: str = ZARRAY) -> Any:
    """Parse a v2 JSON fill value into a numpy scalar of ``dtype`` (or None)."""
    if value is None:
        return None
    kind = dtype.kind
    try:
        if kind == "f":
            return np.array(decode_float(value, key), dtype=dtype)[()]
        if kind == "c":
            if not isinstance(value, list) or len(value) != 2:
                raise MetadataError(f"{key}: complex fill_value must be [real, imag], got {value!r}")
            re, im = (decode_float(v, key) for v in value)
            return np.array(complex(re, im), dtype=dtype)[()]
        if kind in "iu":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
                raise MetadataError(f"{key}: invalid integer fill_value {value!r}")
            info = np.iinfo(dtype)
            if not info.min <= int(value) <= info.max:
                raise MetadataError(f"{key}: fill_value {value!r} out of range for dtype {dtype}")
            return np.array(int(value), dtype=dtype)[()]
        if kind == "b":
            if not isinstance(value, (bool, int)):
                raise MetadataError(f"{key}: invalid bool fill_value {value!r}")
            return np.bool_(bool(value))
        if kind in "Mm":
            if isinstance(value, str):  # "NaT" or an ISO date, as some writers emit
                return np.array(value, dtype=dtype)[()]
            return np.array(int(value), dtype="i8").view(dtype)[()]
        if kind == "S":
            raw = base64.standard_b64decode(value) if isinstance(value, str) else bytes(value)
            return np.array(raw, dtype=dtype)[()]
        if kind == "U":
            return np.array(str(value), dtype=dtype)[()]
        if kind == "V":
            raw = base64.standard_b64decode(value)
            if len(raw) != dtype.itemsize:
                raise MetadataError(
                    f"{key}: fill_value {value!r} holds {len(raw)} bytes, dtype {dtype} needs {dtype.itemsize}"
                )
            return np.frombuffer(raw, dtype=dtype)[0]
        if kind == "O":
            return value
    except MetadataError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:
        raise MetadataError(f"{key}: invalid fill_value {value!r} for dtype {dtype} ({exc})") from None
    raise MetadataError(f"{key}: unsupported dtype {dtype} for fill_value")


def default_fill_value(dtype: np.dtype) -> Any:
    """zarr-python 3's default fill value for v2 arrays: zero of the dtype (None for objects)."""
    if dtype.kind == "O":
        return None
    return np.zeros((), dtype=dtype)[()]


# --- codecs configs ----------------------------------------------------------------------


def _codec_config(codec: Any, what: str) -> dict[str, Any] | None:
    if codec is None:
        return None
    if isinstance(codec, dict):
        if "id" not in codec:
            raise MetadataError(f"{what} config must have an 'id': {codec!r}")
        return dict(codec)
    get_config = getattr(codec, "get_config", None)
    if get_config is None:
        raise MetadataError(f"{what} must be a numcodecs codec or a config dict, got {type(codec).__name__}")
    return dict(get_config())


def normalize_compressor(compressor: Any) -> dict[str, Any] | None:
    """Turn a numcodecs codec / config dict / None into a config dict or None."""
    return _codec_config(compressor, "compressor")


def normalize_filters(filters: Any) -> list[dict[str, Any]] | None:
    """Turn a list of numcodecs codecs / configs into a list of config dicts (None if empty)."""
    if not filters:
        return None
    return [c for c in (_codec_config(f, "filter") for f in filters) if c is not None]


# --- array metadata ----------------------------------------------------------------------


@dataclass(frozen=True)
class ArrayMetadataV2:
    """The contents of a Zarr v2 ``.zarray`` document."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    compressor: dict[str, Any] | None = None
    fill_value: Any = None
    order: str = "C"
    filters: list[dict[str, Any]] | None = None
    dimension_separator: str = "."
    zarr_format: ClassVar[int] = 2
    metadata_key: ClassVar[str] = ZARRAY

    def __post_init__(self) -> None:
        if len(self.shape) != len(self.chunks):
            raise MetadataError(
                f"{ZARRAY}: shape {list(self.shape)} and chunks {list(self.chunks)} differ in length"
            )
        if self.order not in ("C", "F"):
            raise MetadataError(f"{ZARRAY}: order must be 'C' or 'F', got {self.order!r}")
        if self.dimension_separator not in (".", "/"):
            raise MetadataError(
                f"{ZARRAY}: dimension_separator must be '.' or '/', got {self.dimension_separator!r}"
            )

    # --- construction ----------------------------------------------------------------

    @classmethod
    def create(
        cls,
        shape: int | tuple[int, ...],
        chunks: int | tuple[int, ...] | bool | None,
        dtype: Any,
        *,
        compressor: Any = "default",
        fill_value: Any = "default",
        order: str = "C",
        filters: Any = None,
        dimension_separator: str | None = None,
    ) -> Self:
        """Build metadata from user arguments (zarr-python 2 keywords and defaults).

        ``chunks`` may be None/True (guess), an int (same on every axis) or a tuple
        with ``None``/-1 entries meaning "the full axis".
        """
        shape_t = int_tuple(shape, "shape", ZARRAY, positive=False)
        try:
            dt = np.dtype(dtype)
        except TypeError as exc:
            raise MetadataError(f"invalid dtype {dtype!r}: {exc}") from None
        chunks_t = normalize_chunks(chunks, shape_t, dt.itemsize)
        comp: dict[str, Any] | None
        if isinstance(compressor, str) and compressor == "default":
            comp = dict(DEFAULT_COMPRESSOR)
        else:
            comp = normalize_compressor(compressor)
        fill = default_fill_value(dt) if isinstance(fill_value, str) and fill_value == "default" else fill_value
        if fill is not None:
            fill = decode_fill_value(encode_fill_value(fill, dt), dt)
        meta = cls(
            shape=shape_t,
            chunks=chunks_t,
            dtype=dt,
            compressor=comp,
            fill_value=fill,
            order=order,
            filters=normalize_filters(filters),
            dimension_separator=dimension_separator or ".",
        )
        return meta

    @classmethod
    def from_json(cls, data: bytes | str | dict[str, Any], key: str = ZARRAY) -> Self:
        """Parse a ``.zarray`` document; invalid or unsupported content raises MetadataError."""
        doc = json_loads(data, key) if not isinstance(data, dict) else data
        if not isinstance(doc, dict):
            raise MetadataError(f"{key}: expected a JSON object, got {type(doc).__name__}")
        fmt = doc.get("zarr_format")
        if fmt != 2:
            raise MetadataError(f"{key}: unsupported zarr_format {fmt!r} (azarr reads Zarr v2 here)")
        for required in ("shape", "chunks", "dtype", "compressor", "fill_value", "order"):
            if required not in doc:
                raise MetadataError(f"{key}: missing required field {required!r}")
        shape = int_tuple(doc["shape"], "shape", key, positive=False)
        chunks = int_tuple(doc["chunks"], "chunks", key, positive=True)
        dtype = decode_dtype(doc["dtype"], key)
        compressor = doc["compressor"]
        if compressor is not None and (not isinstance(compressor, dict) or "id" not in compressor):
            raise MetadataError(f"{key}: compressor must be null or an object with an 'id', got {compressor!r}")
        filters = doc.get("filters")
        if filters is not None and (
            not isinstance(filters, list) or not all(isinstance(f, dict) and "id" in f for f in filters)
        ):
            raise MetadataError(f"{key}: filters must be null or a list of codec objects, got {filters!r}")
        sep = doc.get("dimension_separator", ".")
        if sep is None:
            sep = "."
        try:
            return cls(
                shape=shape,
                chunks=chunks,
                dtype=dtype,
                compressor=compressor,
                fill_value=decode_fill_value(doc["fill_value"], dtype, key),
                order=doc["order"],
                filters=filters or None,
                dimension_separator=sep,
            )
        except MetadataError as exc:
            raise MetadataError(str(exc).replace(ZARRAY, key, 1)) from None

    def to_dict(self) -> dict[str, Any]:
        """Return the ``.zarray`` document as a dict."""
        return {
            "zarr_format": 2,
            "shape": list(self.shape),
            "chunks": list(self.chunks),
            "dtype": encode_dtype(self.dtype),
            "compressor": self.compressor,
            "fill_value": encode_fill_value(self.fill_value, self.dtype),
            "order": self.order,
            "filters": self.filters,
            "dimension_separator": self.dimension_separator,
        }

    def to_json(self) -> bytes:
        """Return the ``.zarray`` document as bytes (zarr-python 2's formatting)."""
        return json_dumps(self.to_dict())

    # --- node documents (shared interface with the N5 model) --------------------------

    @classmethod
    def from_documents(cls, docs: dict[str, bytes], path: str = "") -> tuple[Self, dict[str, Any]]:
        """Parse ``{".zarray": ..., ".zattrs": ...}`` into (metadata, attributes)."""
        where = f"{path}/" if path else ""
        meta = cls.from_json(docs[ZARRAY], key=where + ZARRAY)
        return meta, parse_attributes(docs.get(ZATTRS), where + ZATTRS)

    def to_documents(self, attributes: dict[str, Any] | None) -> dict[str, bytes]:
        """Return the documents that describe this array (``.zattrs`` only when non-empty)."""
        docs = {ZARRAY: self.to_json()}
        if attributes:
            docs[ZATTRS] = encode_attributes(attributes)
        return docs

    def attributes_documents(self, attributes: dict[str, Any]) -> dict[str, bytes]:
        """Return the documents to rewrite when only the attributes change."""
        return {ZATTRS: encode_attributes(attributes)}

    # --- chunks -----------------------------------------------------------------------

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Number of chunks along each axis."""
        return tuple(-(-s // c) for s, c in zip(self.shape, self.chunks))

    def chunk_key(self, coords: tuple[int, ...]) -> str:
        """Return the key of chunk ``coords`` relative to the array's path."""
        if not coords:
            return "0"
        return self.dimension_separator.join(map(str, coords))

    def with_shape(self, shape: tuple[int, ...]) -> Self:
        """Return a copy with a new shape (same chunking)."""
        return replace(self, shape=int_tuple(shape, "shape", ZARRAY, positive=False))


# --- groups and attributes -----------------------------------------------------------------


@dataclass(frozen=True)
class GroupMetadataV2:
    """The contents of a Zarr v2 ``.zgroup`` document."""

    zarr_format: ClassVar[int] = 2
    metadata_key: ClassVar[str] = ZGROUP

    @classmethod
    def from_json(cls, data: bytes | str | dict[str, Any], key: str = ZGROUP) -> Self:
        """Parse a ``.zgroup`` document."""
        doc = json_loads(data, key) if not isinstance(data, dict) else data
        if not isinstance(doc, dict) or doc.get("zarr_format") != 2:
            raise MetadataError(f"{key}: expected {{'zarr_format': 2}}, got {doc!r}")
        return cls()

    def to_json(self) -> bytes:
        """Return the ``.zgroup`` document as bytes."""
        return json_dumps({"zarr_format": 2})

    @classmethod
    def from_documents(cls, docs: dict[str, bytes], path: str = "") -> tuple[Self, dict[str, Any]]:
        """Parse ``{".zgroup": ..., ".zattrs": ...}`` into (metadata, attributes)."""
        where = f"{path}/" if path else ""
        return cls.from_json(docs[ZGROUP], where + ZGROUP), parse_attributes(docs.get(ZATTRS), where + ZATTRS)

    def to_documents(self, attributes: dict[str, Any] | None) -> dict[str, bytes]:
        """Return the documents that describe this group."""
        docs = {ZGROUP: self.to_json()}
        if attributes:
            docs[ZATTRS] = encode_attributes(attributes)
        return docs

    def attributes_documents(self, attributes: dict[str, Any]) -> dict[str, bytes]:
        """Return the documents to rewrite when only the attributes change."""
        return {ZATTRS: encode_attributes(attributes)}


def parse_attributes(data: bytes | None, key: str = ZATTRS) -> dict[str, Any]:
    """Parse a ``.zattrs`` document (missing = ``{}``)."""
    if data is None:
        return {}
    doc = json_loads(data, key)
    if not isinstance(doc, dict):
        raise MetadataError(f"{key}: attributes must be a JSON object, got {type(doc).__name__}")
    return doc


def encode_attributes(attrs: dict[str, Any], key: str = ZATTRS) -> bytes:
    """Encode attributes as JSON (numpy scalars/arrays converted); errors name ``key``."""
    try:
        return json_dumps(jsonable(attrs))
    except (TypeError, ValueError) as exc:
        raise MetadataError(f"{key}: attributes are not JSON-serialisable ({exc})") from None


