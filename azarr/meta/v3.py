"""Zarr v3 metadata: ``zarr.json`` for arrays and groups (pure: no I/O, no codecs).

Documents are written exactly as zarr-python 3 writes them (its key order, 2-space
indent, ASCII) and read leniently, as the writers in the wild produce them:
tensorstore's compact sorted JSON, ``{"name": "default"}`` without a configuration,
codecs given as bare name strings, and zarr-python <= 3.1.3's
``"consolidated_metadata": null`` on groups. Attributes live inside ``zarr.json``.

Codecs stay configurations here (``{"name": ..., "configuration": {...}}``); the codec
pipeline (:func:`azarr.codecs.v3.v3_pipeline`) turns them into codec objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Self

import numpy as np

from azarr.errors import MetadataError
from azarr.meta.common import int_tuple, json_loads, jsonable, normalize_chunks
from azarr.meta.v3_dtypes import DataTypeV3, data_type_from_dtype, parse_data_type

ZARR_JSON = "zarr.json"

_ARRAY_KEYS = frozenset(
    {
        "zarr_format", "node_type", "shape", "data_type", "chunk_grid", "chunk_key_encoding",
        "fill_value", "codecs", "attributes", "dimension_names", "storage_transformers",
    }
)  # fmt: skip
_GROUP_KEYS = frozenset({"zarr_format", "node_type", "attributes", "consolidated_metadata"})


def json_dumps(doc: Any) -> bytes:
    """Encode a ``zarr.json`` document as zarr-python 3 does (``indent=2``, ASCII)."""
    return json.dumps(doc, indent=2).encode()


def doc_key(path: str) -> str:
    """The store key of the ``zarr.json`` of the node at ``path`` (used in error messages)."""
    return f"{path.rstrip('/')}/{ZARR_JSON}" if path else ZARR_JSON


def load_document(data: bytes | str | Mapping[str, Any], key: str = ZARR_JSON) -> dict[str, Any]:
    """Parse a ``zarr.json`` document and check ``zarr_format`` is 3 and ``node_type`` is known."""
    doc = dict(data) if isinstance(data, Mapping) else json_loads(data, key)
    if not isinstance(doc, dict):
        raise MetadataError(f"{key}: expected a JSON object, got {type(doc).__name__}")
    if doc.get("zarr_format") != 3:
        raise MetadataError(f"{key}: unsupported zarr_format {doc.get('zarr_format')!r} (expected 3)")
    if doc.get("node_type") not in ("array", "group"):
        raise MetadataError(f"{key}: node_type must be 'array' or 'group', got {doc.get('node_type')!r}")
    return doc


def node_type(data: bytes | str | Mapping[str, Any], key: str = ZARR_JSON) -> str:
    """``"array"`` or ``"group"``: what a ``zarr.json`` document describes."""
    return str(load_document(data, key)["node_type"])


def _extra_fields(doc: Mapping[str, Any], known: frozenset[str], key: str) -> dict[str, Any]:
    """Unknown keys: kept only as objects with ``"must_understand": false`` (the spec's rule)."""
    extra = {}
    for name, value in doc.items():
        if name in known:
            continue
        if not (isinstance(value, dict) and value.get("must_understand") is False):
            raise MetadataError(
                f"{key}: unsupported metadata field {name!r} (an extension azarr does not know; only "
                "objects with \"must_understand\": false may be ignored)"
            )
        extra[name] = value
    return extra


def _attributes(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    attrs = doc.get("attributes")
    if attrs is None:
        return {}
    if not isinstance(attrs, dict):
        raise MetadataError(f"{key}: attributes must be a JSON object, got {type(attrs).__name__}")
    return attrs


def _encode_attributes(attributes: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    try:
        out = jsonable(dict(attributes or {}))
        json.dumps(out)
    except (TypeError, ValueError) as exc:
        raise MetadataError(f"{key}: attributes are not JSON-serialisable ({exc})") from None
    return out


def _named(value: Any, what: str, key: str) -> tuple[str, dict[str, Any]]:
    """``"name"`` or ``{"name": ..., "configuration": {...}}`` -> (name, configuration)."""
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        config = value.get("configuration")
        if config is None:
            return value["name"], {}
        if not isinstance(config, dict):
            raise MetadataError(f"{key}: {what} configuration must be an object, got {config!r}")
        return value["name"], config
    raise MetadataError(f"{key}: invalid {what} {value!r}")


# --- chunk key encoding ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkKeyEncoding:
    """How chunk coordinates become keys: ``default`` (``c/1/2``) or ``v2`` (``1.2``)."""

    name: str = "default"
    separator: str = "/"

    @classmethod
    def parse(cls, value: Any, key: str = ZARR_JSON) -> ChunkKeyEncoding:
        """Parse the ``chunk_key_encoding`` field, or a user's creation keyword.

        Accepts ``{"name", "configuration": {"separator"}}``, the name alone (string or
        ``{"name": ...}``), and zarr-python's creation form ``{"name": "v2", "separator": "."}``.
        """
        if value is None:
            return cls()
        if isinstance(value, ChunkKeyEncoding):
            return value
        name, config = _named(value, "chunk_key_encoding", key)
        if isinstance(value, dict) and "separator" in value and "separator" not in config:
            config = {"separator": value["separator"]}
        if name not in ("default", "v2"):
            raise MetadataError(f"{key}: unsupported chunk_key_encoding {name!r} (expected 'default' or 'v2')")
        sep = config.get("separator", "/" if name == "default" else ".")
        if sep not in ("/", "."):
            raise MetadataError(f"{key}: chunk_key_encoding separator must be '/' or '.', got {sep!r}")
        return cls(name, sep)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form zarr-python writes (always with its configuration)."""
        return {"name": self.name, "configuration": {"separator": self.separator}}

    def encode(self, coords: tuple[int, ...]) -> str:
        """The key of chunk ``coords``, relative to the array."""
        if self.name == "default":
            return self.separator.join(("c", *map(str, coords)))
        return self.separator.join(map(str, coords)) if coords else "0"


# --- codecs entries -------------------------------------------------------------------------


def normalize_codec_entry(entry: Any, key: str = ZARR_JSON) -> dict[str, Any]:
    """A ``codecs`` entry as ``{"name": ..., "configuration": {...}}`` (configuration only if given).

    A bare name string becomes ``{"name": name}``; other keys of the entry (e.g.
    ``must_understand``) are kept.
    """
    if isinstance(entry, str):
        return {"name": entry}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
        raise MetadataError(f"{key}: invalid codec entry {entry!r} (expected a name or {{'name': ...}})")
    out: dict[str, Any] = {"name": entry["name"]}
    config = entry.get("configuration")
    if config is not None:
        if not isinstance(config, Mapping):
            raise MetadataError(f"{key}: codec {entry['name']!r} configuration must be an object, got {config!r}")
        out["configuration"] = dict(config)
    out.update({k: v for k, v in entry.items() if k not in ("name", "configuration")})
    return out


def _codecs(value: Any, key: str) -> tuple[dict[str, Any], ...]:
    if isinstance(value, (str, Mapping)):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise MetadataError(f"{key}: codecs must be a non-empty list, got {value!r}")
    return tuple(normalize_codec_entry(e, key) for e in value)


def _dimension_names(value: Any, ndim: int, key: str) -> tuple[str | None, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(n is None or isinstance(n, str) for n in value):
        raise MetadataError(f"{key}: dimension_names must be a list of strings or nulls, got {value!r}")
    if len(value) != ndim:
        raise MetadataError(f"{key}: dimension_names has {len(value)} entries for {ndim} dimensions")
    return tuple(value)


def _storage_transformers(value: Any, key: str) -> tuple[dict[str, Any], ...]:
    if value is None or value == []:
        return ()
    if not isinstance(value, list):
        raise MetadataError(f"{key}: storage_transformers must be a list, got {value!r}")
    names = [e.get("name") if isinstance(e, dict) else e for e in value]
    raise MetadataError(f"{key}: unsupported storage transformer(s) {names!r} (azarr reads none)")


def _chunk_shape(value: Any, ndim: int, key: str) -> tuple[int, ...]:
    name, config = _named(value, "chunk_grid", key)
    if name != "regular":
        raise MetadataError(f"{key}: unsupported chunk_grid {name!r} (azarr reads 'regular')")
    chunk_shape = int_tuple(config.get("chunk_shape"), "chunk_shape", key, positive=True)
    if len(chunk_shape) != ndim:
        raise MetadataError(f"{key}: chunk_shape {list(chunk_shape)} does not match {ndim} dimensions")
    return chunk_shape


# --- arrays ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ArrayMetadataV3:
    """The contents of an array's ``zarr.json`` (attributes are passed beside it).

    ``fill_value`` is a numpy scalar of the dtype (a ``str``/``bytes`` for the
    variable-length types); ``codecs`` are normalized JSON entries; ``extra_fields``
    holds ``"must_understand": false`` extensions so they are written back.
    ``document_key`` is where the document was read from (for error messages only).
    """

    shape: tuple[int, ...]
    data_type: DataTypeV3
    chunk_shape: tuple[int, ...]
    fill_value: Any
    codecs: tuple[dict[str, Any], ...]
    chunk_key_encoding: ChunkKeyEncoding = ChunkKeyEncoding()
    dimension_names: tuple[str | None, ...] | None = None
    storage_transformers: tuple[dict[str, Any], ...] = ()
    extra_fields: Mapping[str, Any] = field(default_factory=dict)
    document_key: str = field(default=ZARR_JSON, compare=False)
    zarr_format: ClassVar[int] = 3
    metadata_key: ClassVar[str] = ZARR_JSON

    def __post_init__(self) -> None:
        if len(self.shape) != len(self.chunk_shape):
            raise MetadataError(
                f"{self.document_key}: shape {list(self.shape)} and chunk_shape {list(self.chunk_shape)} "
                "differ in length"
            )

    # --- the interface the core uses (shared with v2 and N5) -------------------------

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of decoded chunks (native byte order)."""
        return self.data_type.dtype

    @property
    def chunks(self) -> tuple[int, ...]:
        """The regular chunk grid's chunk shape."""
        return self.chunk_shape

    @property
    def order(self) -> str:
        """Always "C": in v3 a ``transpose`` codec expresses memory layouts."""
        return "C"

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Number of chunks along each axis."""
        return tuple(-(-s // c) for s, c in zip(self.shape, self.chunk_shape))

    def chunk_key(self, coords: tuple[int, ...]) -> str:
        """The key of chunk ``coords`` relative to the array (``c/1/2``, ``1.2``, 0-d ``c`` / ``0``)."""
        return self.chunk_key_encoding.encode(coords)

    def with_shape(self, shape: tuple[int, ...]) -> Self:
        """A copy with a new shape (same chunking and dimensionality)."""
        new = int_tuple(shape, "shape", self.document_key, positive=False)
        if len(new) != len(self.shape):
            raise MetadataError(f"{self.document_key}: cannot change the number of dimensions to {len(new)}")
        return replace(self, shape=new)

    def __eq__(self, other: object) -> bool:
        # compared as documents, so a NaN fill value equals itself
        return isinstance(other, ArrayMetadataV3) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    # --- construction -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        shape: int | Sequence[int],
        chunks: Any,
        dtype: Any,
        *,
        fill_value: Any = "default",
        codecs: Sequence[Any],
        dimension_names: Sequence[str | None] | None = None,
        chunk_key_encoding: Any = None,
        extra_fields: Mapping[str, Any] | None = None,
    ) -> Self:
        """Build metadata from user arguments (zarr-python 3's keywords and defaults).

        ``dtype`` is anything :func:`~azarr.meta.v3_dtypes.data_type_from_dtype` accepts;
        ``chunks`` may be None/True (guess), an int or a tuple with None/-1 for a full axis;
        ``fill_value="default"`` (or None) takes zarr-python 3's default for the type;
        ``codecs`` are normalized entries (see :func:`azarr.codecs.v3.codecs_for`);
        ``chunk_key_encoding`` is None (``default`` with ``/``), a name, or
        ``{"name": "v2", "separator": "."}``.
        """
        key = ZARR_JSON
        shape_t = int_tuple(shape, "shape", key, positive=False)
        data_type = data_type_from_dtype(dtype, key)
        itemsize = data_type.item_size or 16
        chunks_t = normalize_chunks(chunks, shape_t, itemsize)
        if isinstance(fill_value, str) and fill_value == "default":
            fill = data_type.default_fill_value()
        else:
            fill = data_type.coerce_fill_value(fill_value, key)
        meta = cls(
            shape=shape_t,
            data_type=data_type,
            chunk_shape=chunks_t,
            fill_value=fill,
            codecs=_codecs(list(codecs), key),
            chunk_key_encoding=ChunkKeyEncoding.parse(chunk_key_encoding, key),
            dimension_names=_dimension_names(
                list(dimension_names) if dimension_names is not None else None, len(shape_t), key
            ),
            extra_fields=_extra_fields(dict(extra_fields or {}), frozenset(), key),
        )
        return meta

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], key: str = ZARR_JSON) -> tuple[Self, dict[str, Any]]:
        """Parse a ``zarr.json`` array document (a dict) into (metadata, attributes)."""
        doc = load_document(doc, key)
        if doc["node_type"] != "array":
            raise MetadataError(f"{key}: node_type is {doc['node_type']!r}, not an array")
        for required in ("shape", "data_type", "chunk_grid", "chunk_key_encoding", "fill_value", "codecs"):
            if required not in doc:
                raise MetadataError(f"{key}: missing required field {required!r}")
        extra = _extra_fields(doc, _ARRAY_KEYS, key)
        shape = int_tuple(doc["shape"], "shape", key, positive=False)
        data_type = parse_data_type(doc["data_type"], key)
        meta = cls(
            shape=shape,
            data_type=data_type,
            chunk_shape=_chunk_shape(doc["chunk_grid"], len(shape), key),
            fill_value=data_type.decode_fill_value(doc["fill_value"], key),
            codecs=_codecs(doc["codecs"], key),
            chunk_key_encoding=ChunkKeyEncoding.parse(doc["chunk_key_encoding"], key),
            dimension_names=_dimension_names(doc.get("dimension_names"), len(shape), key),
            storage_transformers=_storage_transformers(doc.get("storage_transformers"), key),
            extra_fields=extra,
            document_key=key,
        )
        return meta, _attributes(doc, key)

    @classmethod
    def from_documents(cls, docs: Mapping[str, bytes], path: str = "") -> tuple[Self, dict[str, Any]]:
        """Parse ``{"zarr.json": ...}`` into (metadata, attributes); errors name ``path/zarr.json``."""
        key = doc_key(path)
        return cls.from_dict(load_document(docs[ZARR_JSON], key), key)

    # --- serialisation --------------------------------------------------------------------

    def to_dict(self, attributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``zarr.json`` document as a dict, in zarr-python 3's key order."""
        doc: dict[str, Any] = {
            "shape": list(self.shape),
            "data_type": self.data_type.json,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(self.chunk_shape)}},
            "chunk_key_encoding": self.chunk_key_encoding.to_dict(),
            "fill_value": self.data_type.encode_fill_value(self.fill_value),
            "codecs": [dict(c) for c in self.codecs],
            "attributes": _encode_attributes(attributes, self.document_key),
        }
        if self.dimension_names is not None:
            doc["dimension_names"] = list(self.dimension_names)
        doc["zarr_format"] = 3
        doc["node_type"] = "array"
        doc["storage_transformers"] = [dict(t) for t in self.storage_transformers]
        doc.update(self.extra_fields)
        return doc

    def to_documents(self, attributes: Mapping[str, Any] | None) -> dict[str, bytes]:
        """``{"zarr.json": ...}``: the metadata with the attributes inline."""
        return {ZARR_JSON: json_dumps(self.to_dict(attributes))}

    def attributes_documents(self, attributes: Mapping[str, Any]) -> dict[str, bytes]:
        """The documents to rewrite when only the attributes change (``zarr.json`` itself)."""
        return self.to_documents(attributes)


# --- groups ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupMetadataV3:
    """The contents of a group's ``zarr.json`` (attributes are passed beside it).

    ``consolidated_metadata`` is kept raw: None when absent (or ``null``, as zarr-python
    <= 3.1.3 wrote), else the inline object (``{"kind": "inline", "must_understand":
    false, "metadata": {...}}``), which the consolidated-metadata code parses.
    """

    consolidated_metadata: dict[str, Any] | None = None
    extra_fields: Mapping[str, Any] = field(default_factory=dict)
    zarr_format: ClassVar[int] = 3
    metadata_key: ClassVar[str] = ZARR_JSON

    @classmethod
    def create(cls, root: bool = False, consolidated_metadata: dict[str, Any] | None = None) -> Self:
        """New group metadata (``root`` is accepted for parity with N5; v3 roots are plain groups)."""
        return cls(consolidated_metadata)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], key: str = ZARR_JSON) -> tuple[Self, dict[str, Any]]:
        """Parse a ``zarr.json`` group document (a dict) into (metadata, attributes)."""
        doc = load_document(doc, key)
        if doc["node_type"] != "group":
            raise MetadataError(f"{key}: node_type is {doc['node_type']!r}, not a group")
        extra = _extra_fields(doc, _GROUP_KEYS, key)
        consolidated = doc.get("consolidated_metadata")
        if consolidated is not None and not isinstance(consolidated, dict):
            raise MetadataError(f"{key}: consolidated_metadata must be an object or null, got {consolidated!r}")
        return cls(consolidated, extra), _attributes(doc, key)

    @classmethod
    def from_documents(cls, docs: Mapping[str, bytes], path: str = "") -> tuple[Self, dict[str, Any]]:
        """Parse ``{"zarr.json": ...}`` into (metadata, attributes); errors name ``path/zarr.json``."""
        key = doc_key(path)
        return cls.from_dict(load_document(docs[ZARR_JSON], key), key)

    def to_dict(self, attributes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``zarr.json`` document as a dict, in zarr-python 3's key order."""
        doc: dict[str, Any] = {"attributes": _encode_attributes(attributes, ZARR_JSON), "zarr_format": 3}
        if self.consolidated_metadata is not None:
            doc["consolidated_metadata"] = self.consolidated_metadata
        doc["node_type"] = "group"
        doc.update(self.extra_fields)
        return doc

    def to_documents(self, attributes: Mapping[str, Any] | None) -> dict[str, bytes]:
        """``{"zarr.json": ...}`` with the attributes inline."""
        return {ZARR_JSON: json_dumps(self.to_dict(attributes))}

    def attributes_documents(self, attributes: Mapping[str, Any]) -> dict[str, bytes]:
        """The documents to rewrite when only the attributes change (``zarr.json`` itself)."""
        return self.to_documents(attributes)


def node_from_documents(
    docs: Mapping[str, bytes], path: str = ""
) -> tuple[ArrayMetadataV3 | GroupMetadataV3, dict[str, Any]]:
    """Parse ``{"zarr.json": ...}`` as whichever node it describes (array or group)."""
    key = doc_key(path)
    doc = load_document(docs[ZARR_JSON], key)
    if doc["node_type"] == "array":
        return ArrayMetadataV3.from_dict(doc, key)
    return GroupMetadataV3.from_dict(doc, key)


__all__ = [
    "ZARR_JSON",
    "ArrayMetadataV3",
    "ChunkKeyEncoding",
    "DataTypeV3",
    "GroupMetadataV3",
    "data_type_from_dtype",
    "doc_key",
    "json_dumps",
    "load_document",
    "node_from_documents",
    "node_type",
    "normalize_codec_entry",
    "parse_data_type",
]
