"""N5 metadata: ``attributes.json`` for datasets and groups (pure: no I/O).

Axis order: N5 lists ``dimensions`` and ``blockSize`` fastest-first (column-major).
azarr follows zarr-python 2's N5Store and z5py: the numpy shape is ``dimensions``
reversed, so data written by Java tools reads as a C-order numpy array. (tensorstore's
n5 driver keeps N5's order: its array is azarr's transposed.)

N5 has no fill value: missing blocks read as 0, so ``fill_value`` is 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Self

import numpy as np

from azarr.errors import MetadataError
from azarr.meta.common import normalize_chunks

N5_DTYPES = {
    "uint8": "u1", "uint16": "u2", "uint32": "u4", "uint64": "u8",
    "int8": "i1", "int16": "i2", "int32": "i4", "int64": "i8",
    "float32": "f4", "float64": "f8",
}
NUMPY_TO_N5 = {np.dtype(v).str[1:]: k for k, v in N5_DTYPES.items()}
#: the settings each N5 compression type takes
COMPRESSIONS: dict[str, tuple[str, ...]] = {
    "raw": (),
    "gzip": ("level", "useZlib"),
    "bzip2": ("blockSize",),
    "xz": ("preset",),
    "lzma": ("preset",),
    "blosc": ("cname", "clevel", "shuffle", "blocksize", "nthreads"),
    "zstd": ("level",),
}

ATTRS = "attributes.json"
N5_VERSION = "4.0.0"
RESERVED = ("dimensions", "blockSize", "dataType", "compression", "compressionType")


def _load(data: bytes, key: str = ATTRS) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{key}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise MetadataError(f"{key}: expected a JSON object")
    return doc


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=4, sort_keys=True).encode()


def parse_compression(doc: dict[str, Any]) -> dict[str, Any]:
    """The compression config of a dataset's attributes (new ``compression`` or legacy ``compressionType``)."""
    comp = doc.get("compression")
    if comp is None:
        comp = {"type": doc.get("compressionType", "raw")}
    if not isinstance(comp, dict) or comp.get("type") not in COMPRESSIONS:
        raise MetadataError(f"{ATTRS}: unsupported N5 compression {comp!r}")
    return comp


def is_n5_array(doc: dict[str, Any]) -> bool:
    """Whether an attributes.json document describes a dataset (array)."""
    return all(k in doc for k in ("dimensions", "blockSize", "dataType"))


def compression_from_compressor(compressor: Any) -> dict[str, Any]:
    """Map a zarr-style compressor (numcodecs codec, its config, an N5 config, None) to N5."""
    if compressor is None:
        return {"type": "raw"}
    if isinstance(compressor, str) and compressor == "default":
        return {"type": "gzip", "level": -1, "useZlib": False}
    cfg = compressor if isinstance(compressor, dict) else compressor.get_config()
    if "type" in cfg:  # already an N5 compression
        parse_compression({"compression": cfg})
        return dict(cfg)
    cid = cfg.get("id")
    if cid == "gzip":
        return {"type": "gzip", "level": int(cfg.get("level", -1)), "useZlib": False}
    if cid == "zlib":
        return {"type": "gzip", "level": int(cfg.get("level", -1)), "useZlib": True}
    if cid == "bz2":
        return {"type": "bzip2", "blockSize": int(cfg.get("level", 9))}
    if cid == "lzma":
        return {"type": "xz", "preset": int(cfg.get("preset") or 6)}
    if cid == "blosc":
        return {
            "type": "blosc",
            "cname": cfg.get("cname", "lz4"),
            "clevel": int(cfg.get("clevel", 5)),
            "shuffle": int(cfg.get("shuffle", 1)),
            "blocksize": int(cfg.get("blocksize", 0)),
            "nthreads": 1,
        }
    if cid == "zstd":
        return {"type": "zstd", "level": int(cfg.get("level", 3))}
    raise MetadataError(f"compressor {cfg!r} has no N5 equivalent (use raw, gzip, zlib, bz2, lzma, blosc or zstd)")


def _ints(value: Any, name: str, positive: bool) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise MetadataError(f"{ATTRS}: {name} must be a list of integers, got {value!r}")
    if any(v < (1 if positive else 0) for v in value):
        raise MetadataError(f"{ATTRS}: {name} entries must be {'>= 1' if positive else '>= 0'}, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class N5ArrayMetadata:
    """An N5 dataset's metadata, in numpy axis order."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    compression: dict[str, Any] = field(default_factory=lambda: {"type": "raw"})
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    fill_value: Any = 0
    order: str = "C"
    zarr_format: ClassVar[str] = "n5"
    metadata_key: ClassVar[str] = ATTRS

    @classmethod
    def create(
        cls,
        shape: Any,
        chunks: Any = None,
        dtype: Any = "f8",
        compressor: Any = "default",
        fill_value: Any = "default",
        order: str = "C",
        filters: Any = None,
        **ignored: Any,
    ) -> Self:
        """Build N5 metadata from zarr-style arguments (compressor mapped to N5)."""
        shape_t = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
        dt = np.dtype(dtype)
        if dt.str[1:] not in NUMPY_TO_N5:
            raise MetadataError(f"dtype {dt} cannot be stored in N5 (use u1-u8, i1-i8, f4 or f8)")
        if filters:
            raise MetadataError("N5 datasets do not support filters")
        if order != "C":
            raise MetadataError("N5 datasets are created in C order (N5's column-major on disk)")
        if not (fill_value is None or (isinstance(fill_value, str) and fill_value == "default") or fill_value == 0):
            raise MetadataError(f"N5 has no fill value (missing blocks read as 0); got fill_value={fill_value!r}")
        if not shape_t:
            raise MetadataError("N5 datasets need at least one dimension")
        chunks_t = normalize_chunks(chunks, shape_t, dt.itemsize)
        return cls(shape_t, chunks_t, dt.newbyteorder("="), compression_from_compressor(compressor))

    @classmethod
    def from_documents(cls, docs: dict[str, bytes], path: str = "") -> tuple[Self, dict[str, Any]]:
        """Parse ``{"attributes.json": ...}`` into (metadata, user attributes)."""
        key = f"{path}/{ATTRS}" if path else ATTRS
        doc = _load(docs[ATTRS], key)
        try:
            dims = _ints(doc["dimensions"], "dimensions", positive=False)
            block = _ints(doc["blockSize"], "blockSize", positive=True)
        except KeyError as exc:
            raise MetadataError(f"{key}: missing {exc.args[0]!r}") from None
        if len(dims) != len(block):
            raise MetadataError(f"{key}: dimensions and blockSize differ in length")
        dtype_name = doc.get("dataType")
        if dtype_name not in N5_DTYPES:
            raise MetadataError(f"{key}: unsupported dataType {dtype_name!r}")
        compression = parse_compression(doc)
        attrs = {k: v for k, v in doc.items() if k not in RESERVED}
        meta = cls(
            shape=tuple(reversed(dims)),
            chunks=tuple(reversed(block)),
            dtype=np.dtype(N5_DTYPES[dtype_name]).newbyteorder("="),
            compression=compression,
        )
        return meta, attrs

    def to_documents(self, attributes: dict[str, Any] | None) -> dict[str, bytes]:
        """``{"attributes.json": ...}`` with the reserved keys and the user attributes."""
        doc = dict(attributes or {})
        for k in RESERVED:
            doc.pop(k, None)
        doc.update(
            {
                "dimensions": list(reversed(self.shape)),
                "blockSize": list(reversed(self.chunks)),
                "dataType": NUMPY_TO_N5[self.dtype.str[1:]],
                "compression": self.compression,
            }
        )
        return {ATTRS: _dump(doc)}

    def attributes_documents(self, attributes: dict[str, Any]) -> dict[str, bytes]:
        """Documents to rewrite when only attributes change (N5 keeps them in attributes.json)."""
        return self.to_documents(attributes)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Number of blocks along each (numpy) axis."""
        return tuple(-(-s // c) for s, c in zip(self.shape, self.chunks))

    def chunk_key(self, coords: tuple[int, ...]) -> str:
        """Block key in N5 order: numpy coords reversed, joined with '/'."""
        return "/".join(str(c) for c in reversed(coords))

    def with_shape(self, shape: tuple[int, ...]) -> Self:
        """A copy with a new shape."""
        return replace(self, shape=tuple(int(s) for s in shape))


@dataclass(frozen=True)
class N5GroupMetadata:
    """An N5 group; the root group carries ``{"n5": version}``."""

    version: str | None = None
    zarr_format: ClassVar[str] = "n5"
    metadata_key: ClassVar[str] = ATTRS

    @classmethod
    def create(cls, root: bool = False) -> Self:
        """New group metadata (the root records the N5 version)."""
        return cls(N5_VERSION if root else None)

    @classmethod
    def from_documents(cls, docs: dict[str, bytes], path: str = "") -> tuple[Self, dict[str, Any]]:
        """Parse ``{"attributes.json": ...}`` into (metadata, user attributes)."""
        doc = _load(docs[ATTRS], f"{path}/{ATTRS}" if path else ATTRS)
        version = doc.get("n5")
        return cls(version if isinstance(version, str) else None), {k: v for k, v in doc.items() if k != "n5"}

    def attributes_documents(self, attributes: dict[str, Any]) -> dict[str, bytes]:
        """Documents to rewrite when only attributes change."""
        return self.to_documents(attributes)

    def to_documents(self, attributes: dict[str, Any] | None) -> dict[str, bytes]:
        """``{"attributes.json": ...}`` with the version (root) and user attributes."""
        doc = {k: v for k, v in (attributes or {}).items() if k != "n5"}
        if self.version:
            doc["n5"] = self.version
        return {ATTRS: _dump(doc)}
