"""Creation keywords -> validated array metadata, and which format a new node gets.

The default format of new arrays and groups is Zarr v3 (as in zarr-python 3 and xarray),
except that a call using keywords that exist only in Zarr v2 (``compressor=``,
``dimension_separator=``, ``object_codec=``, numcodecs objects as ``filters=``) and no
``zarr_format`` creates v2, so zarr-python 2 code keeps writing what it wrote. A node created
without ``zarr_format`` inside an existing hierarchy takes the hierarchy's format.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from azarr.errors import ArgumentError, MetadataError, UnsupportedOptionError
from azarr.meta.formats import format_for

#: keywords only Zarr v2 knows
V2_ONLY_KEYWORDS = ("compressor", "dimension_separator", "object_codec")
#: the format of new nodes when nothing else decides
DEFAULT_FORMAT = 3


def _is_numcodecs(obj: Any) -> bool:
    return hasattr(obj, "get_config") and hasattr(obj, "codec_id")


def v2_only_keywords(options: Mapping[str, Any]) -> list[str]:
    """The v2-only keywords among ``options`` (``filters`` counts when it holds numcodecs codecs)."""
    used = [k for k in V2_ONLY_KEYWORDS if k in options]
    filters = options.get("filters")
    if filters and not isinstance(filters, (str, bytes)):
        try:
            if any(_is_numcodecs(f) or (isinstance(f, Mapping) and "id" in f) for f in filters):
                used.append("filters")
        except TypeError:
            pass
    return used


def choose_format(zarr_format: Any, options: Mapping[str, Any], hierarchy_format: Any = None) -> Any:
    """The format a new array gets: explicit > v2-only keywords > the hierarchy's > v3."""
    if zarr_format is not None:
        fmt = format_for(zarr_format).key
        v2_only = [k for k in v2_only_keywords(options) if k != "filters"]
        if fmt == 3 and v2_only:
            raise MetadataError(
                f"{', '.join(v2_only)} {'is a' if len(v2_only) == 1 else 'are'} Zarr v2 keyword"
                f"{'' if len(v2_only) == 1 else 's'}; zarr_format=3 arrays take compressors=[...], "
                "serializer= and chunk_key_encoding= instead"
            )
        return fmt
    if v2_only_keywords(options):
        return 2
    if hierarchy_format is not None:
        return hierarchy_format
    return DEFAULT_FORMAT


#: zarr-python 2's shorthand dtypes for object arrays -> the object codec they imply
_OBJECT_DTYPES = {"str": "vlen-utf8", "bytes": "vlen-bytes", "array": "vlen-array"}


def _v2_dtype(dtype: Any, options: dict[str, Any]) -> Any:
    """zarr-python 2's ``dtype=str`` / ``bytes`` / ``"array:i4"``: an object array with the
    matching object codec (``str`` arrays get zarr-python 3's fill value ``""``)."""
    name = dtype.__name__ if isinstance(dtype, type) and dtype in (str, bytes) else dtype
    if not isinstance(name, str):
        return dtype
    key, _, arg = name.partition(":")
    codec_id = _OBJECT_DTYPES.get(key)
    if codec_id is None:
        return dtype
    if options.get("object_codec") is None:
        import numcodecs

        config: dict[str, Any] = {"id": codec_id}
        if codec_id == "vlen-array":
            if not arg:
                raise MetadataError(f"dtype {name!r}: give the item type, e.g. 'array:i4'")
            config["dtype"] = np.dtype(arg).str
        options["object_codec"] = numcodecs.get_codec(config)
    if key == "str":
        options.setdefault("fill_value", "")
    return np.dtype(object)


def _v2_options(options: dict[str, Any], dtype: Any) -> dict[str, Any]:
    object_codec = options.pop("object_codec", None)
    is_object = np.dtype(dtype).kind == "O"
    if object_codec is not None and not is_object:
        warnings.warn("object_codec= is only used by object arrays (dtype=object); ignored", UserWarning, stacklevel=4)
    elif object_codec is not None:  # zarr-python 2: the object codec becomes the first filter
        options["filters"] = [object_codec, *(options.get("filters") or [])]
    elif is_object and not options.get("filters"):
        raise MetadataError(
            "an object array (dtype=object) needs object_codec= (e.g. numcodecs.VLenUTF8(), VLenBytes(), "
            "VLenArray(dtype), JSON(), MsgPack()) or an object codec in filters="
        )
    compressors = options.pop("compressors", "auto")
    if not (isinstance(compressors, str) and compressors == "auto"):
        # zarr-python 3's spelling for v2 arrays: at most one compressor; None means none
        if "compressor" in options:
            raise MetadataError("give compressor= or compressors=, not both")
        if compressors is None:
            options["compressor"] = None
        elif isinstance(compressors, (list, tuple)):
            if len(compressors) > 1:
                raise MetadataError(f"Zarr v2 arrays take at most one compressor, got {len(compressors)}")
            options["compressor"] = compressors[0] if compressors else None
        else:
            options["compressor"] = compressors
    # configurations as the stored JSON gives them back (tuples become lists), so the new
    # array's codecs equal those of the same array opened later
    for key in ("compressor", "filters"):
        value = options.get(key)
        if value is not None and not isinstance(value, str):
            options[key] = _as_json(value)
    for unknown in ("serializer", "dimension_names", "chunk_key_encoding"):
        if options.get(unknown) is not None:
            raise MetadataError(f"{unknown}= is a Zarr v3 keyword; it cannot be used with zarr_format=2")
        options.pop(unknown, None)
    return options


def _is_auto(value: Any) -> bool:
    return isinstance(value, str) and value == "auto"


def _as_json(value: Any) -> Any:
    """numcodecs codecs (or configs, or a list of them) as JSON-normalised config dicts."""
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    config = value.get_config() if hasattr(value, "get_config") else value
    try:
        return json.loads(json.dumps(config))
    except (TypeError, ValueError):
        return config  # not JSON: the metadata model reports it, naming the key


def _v3_options(options: dict[str, Any], dtype: Any, chunk_shape: tuple[int, ...]) -> dict[str, Any]:
    from azarr.codecs.v3 import codecs_for

    options.pop("order", None)  # v3 stores C order; ``order`` is only an in-memory layout there
    codecs = options.pop("codecs", None)
    if codecs is not None:  # zarr-python 3's ``create(codecs=[...])``: the whole chain, as given
        given = [k for k in ("filters", "serializer", "compressors") if k in options and not _is_auto(options[k])]
        if given:
            raise MetadataError(f"give codecs= or {'/'.join(given)}=, not both")
        for k in ("filters", "serializer", "compressors"):
            options.pop(k, None)
        options["codecs"] = _chain(codecs, dtype)
        return options
    codecs = codecs_for(
        dtype,
        filters=options.pop("filters", None),
        serializer=options.pop("serializer", "auto"),
        compressors=options.pop("compressors", "auto"),
        chunk_shape=chunk_shape,
    )
    options["codecs"] = codecs
    return options


def _chain(codecs: Any, dtype: Any) -> list[dict[str, Any]]:
    """A user's full ``codecs`` list (codec objects, zarr-python codecs, dicts or names) as
    metadata entries, sorted into zarr-python 3's three slots and validated."""
    from azarr.codecs.abc import ArrayArrayCodec, BytesBytesCodec
    from azarr.codecs.v3 import _as_codec, codecs_for

    items = [codecs] if isinstance(codecs, (str, Mapping)) or not hasattr(codecs, "__iter__") else list(codecs)
    objs = [_as_codec(c, "codecs") for c in items]
    filters = [c for c in objs if isinstance(c, ArrayArrayCodec)]
    compressors = [c for c in objs if isinstance(c, BytesBytesCodec)]
    serializers = [c for c in objs if c not in filters and c not in compressors]
    if len(serializers) != 1 or objs != [*filters, *serializers, *compressors]:
        raise MetadataError(
            "codecs= must be array->array codecs, then exactly one array->bytes codec, then bytes->bytes codecs; "
            f"got {[c.name for c in objs]}"
        )
    return codecs_for(dtype, filters=filters, serializer=serializers[0], compressors=compressors)


#: every creation keyword the formats know (anything else is rejected, naming it)
CREATION_OPTIONS = frozenset(
    {
        "compressor", "compressors", "filters", "serializer", "codecs", "fill_value", "order",
        "dimension_separator", "dimension_names", "chunk_key_encoding", "object_codec", "shards",
    }
)  # fmt: skip


def _positive_shape(value: Any, ndim: int, what: str) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value),) * ndim
    if not isinstance(value, (list, tuple)) or len(value) != ndim or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in value
    ):
        raise MetadataError(f"{what} must be {ndim} positive integers (one per dimension), got {value!r}")
    return tuple(int(v) for v in value)


def _guess_inner_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """zarr-python 3's inner chunks when only ``shards`` is given: halve the largest axis to <= 1 MiB."""
    chunks = [max(1, s) for s in shape]
    while math.prod(chunks) * itemsize > 1 << 20 and any(c > 1 for c in chunks):
        i = max(range(len(chunks)), key=lambda j: chunks[j])
        chunks[i] = -(-chunks[i] // 2)
    return tuple(chunks)


def _shape(shape: Any) -> tuple[int, ...]:
    from azarr.meta.common import int_tuple

    return int_tuple(shape, "shape", "zarr.json", positive=False)


def _chunk_shape(shape: tuple[int, ...], chunks: Any, dtype: Any, *, sharded: bool) -> tuple[int, ...]:
    """The (inner) chunk shape ``chunks`` means; the guess is zarr-python 3's (~1 MiB inner chunks when sharded)."""
    from azarr.meta.common import normalize_chunks
    from azarr.meta.v3_dtypes import data_type_from_dtype

    itemsize = data_type_from_dtype(dtype).item_size or 16
    if chunks is None and sharded:
        return _guess_inner_chunks(shape, itemsize)
    return normalize_chunks(chunks, shape, itemsize)


def shard_layout(shape: Any, chunks: Any, dtype: Any, shards: Any, codecs: list[dict[str, Any]]) -> tuple[tuple[int, ...], list[dict[str, Any]]]:
    """zarr-python 3's ``shards=``: ``(chunk grid shape, codecs)`` with ``codecs`` moved inside one
    ``sharding_indexed`` codec whose inner chunks are ``chunks``.

    ``shards`` is a shape, ``{"shape": ..., "index_location": "start" | "end"}`` or ``"auto"``
    (two inner chunks per shard along axes holding more than 8 inner chunks, as zarr-python).
    Inner chunks default to ~1 MiB; the shard shape must be a multiple of them.
    """
    shape_t = _shape(shape)
    inner = _chunk_shape(shape_t, chunks, dtype, sharded=True)
    location = "end"
    if isinstance(shards, Mapping):
        unknown = set(shards) - {"shape", "index_location"}
        if unknown or "shape" not in shards:
            raise MetadataError(f"shards= takes a shape or {{'shape': ..., 'index_location': ...}}, got {dict(shards)!r}")
        location = shards.get("index_location") or "end"
        if location not in ("start", "end"):
            raise MetadataError(f"shards: index_location must be 'start' or 'end', got {location!r}")
        shards = shards["shape"]
    if isinstance(shards, str) and shards == "auto":
        shard_shape = tuple(c * 2 if s // c > 8 else c for s, c in zip(shape_t, inner))
    else:
        shard_shape = _positive_shape(shards, len(shape_t), "shards")
    if any(s % c for s, c in zip(shard_shape, inner)):
        raise MetadataError(
            f"shards {shard_shape} must be a multiple of the (inner) chunks {inner} along every axis"
        )
    sharding = {
        "name": "sharding_indexed",
        "configuration": {
            "chunk_shape": list(inner),
            "codecs": codecs,
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
            "index_location": location,
        },
    }
    return shard_shape, [sharding]


def build_array_metadata(zarr_format: Any, shape: Any, chunks: Any, dtype: Any, options: Mapping[str, Any]) -> Any:
    """Validated metadata of a new array in ``zarr_format`` from creation keywords."""
    fmt = format_for(zarr_format)
    opts = {k: v for k, v in options.items() if v is not _UNSET}
    unknown = sorted(set(opts) - CREATION_OPTIONS)
    if unknown:
        raise ArgumentError(f"unexpected array creation keyword(s): {', '.join(unknown)}")
    if dtype is bytes:
        dtype = "bytes"  # zarr-python 2's spelling of variable-length bytes
    shards = opts.pop("shards", None)
    if shards is not None and fmt.key != 3:
        raise MetadataError(
            f"shards= needs Zarr v3 (the sharding_indexed codec); a zarr_format={fmt.key!r} array cannot be "
            "sharded (create it with zarr_format=3 and v3 keywords)"
        )
    if fmt.key == 2:
        dtype = _v2_dtype(dtype, opts)
        opts = _v2_options(opts, dtype)
    elif fmt.key == 3:
        inner = _chunk_shape(_shape(shape), chunks, dtype, sharded=shards is not None)
        opts = _v3_options(opts, dtype, inner)
        if shards is not None:
            chunks, opts["codecs"] = shard_layout(shape, chunks, dtype, shards, opts["codecs"])
    else:
        opts.pop("compressors", None)
        opts.pop("codecs", None)
    return fmt.create_array(shape=shape, chunks=chunks, dtype=dtype, **opts)


# --- zarr-python keywords azarr translates, ignores or refuses -----------------------------------

#: keywords that change nothing here (azarr reads metadata and attributes once per handle)
IGNORED_KEYWORDS = frozenset({"cache_metadata", "cache_attrs", "partial_decompress"})
#: keywords azarr cannot honour, and why (given a value other than None, they raise)
UNSUPPORTED_KEYWORDS = {
    "synchronizer": "azarr has no synchronizers: writes of whole chunks need none, and a write of part of "
    "a chunk is a compare-and-swap read-merge-write on every writable store",
    "chunk_store": "azarr keeps chunks and metadata in one store; give that store as store=",
    "meta_array": "azarr reads into numpy arrays only",
    "storage_transformers": "azarr writes no storage transformers",
}
#: keys of zarr-python 3's ``config=`` azarr understands
_CONFIG_KEYS = frozenset({"write_empty_chunks", "order"})


def translate_keywords(fn: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """zarr-python's keyword spellings as azarr's, for function ``fn`` (named in errors).

    ``zarr_version`` becomes ``zarr_format`` (they must agree when both are given);
    zarr-python 3's ``config={"write_empty_chunks", "order"}`` and ``chunk_shape`` become
    the keywords of the same name and ``chunks``; :data:`IGNORED_KEYWORDS` are dropped;
    :data:`UNSUPPORTED_KEYWORDS` given a value raise :class:`UnsupportedOptionError`.
    """
    out = dict(kwargs)
    for name, why in UNSUPPORTED_KEYWORDS.items():
        if out.pop(name, None) is not None:
            raise UnsupportedOptionError(f"{fn}(): {name}= is not supported ({why})")
    for name in IGNORED_KEYWORDS:
        out.pop(name, None)
    version = out.pop("zarr_version", None)
    if version is not None:
        fmt = out.get("zarr_format")
        if fmt is not None and format_for(fmt).key != format_for(version).key:
            raise MetadataError(f"{fn}(): zarr_format={fmt!r} and zarr_version={version!r} disagree; give only one")
        out["zarr_format"] = version
    config = out.pop("config", None)
    if config is not None:
        cfg = dict(config) if isinstance(config, Mapping) else {k: getattr(config, k) for k in _CONFIG_KEYS}
        unknown = sorted(set(cfg) - _CONFIG_KEYS)
        if unknown:
            raise UnsupportedOptionError(f"{fn}(): config keys {unknown} are not supported (azarr knows {sorted(_CONFIG_KEYS)})")
        for k, v in cfg.items():
            if out.get(k, UNSET) in (UNSET, None):
                out[k] = v
    chunk_shape = out.pop("chunk_shape", None)
    if chunk_shape is not None:
        if out.get("chunks") is not None:
            raise MetadataError(f"{fn}(): give chunks= or chunk_shape=, not both")
        out["chunks"] = chunk_shape
    return out


class _Unset:
    """Marks a keyword the caller did not give (so defaults can depend on the format)."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()
UNSET: Any = _UNSET

__all__ = [
    "CREATION_OPTIONS",
    "DEFAULT_FORMAT",
    "IGNORED_KEYWORDS",
    "UNSET",
    "UNSUPPORTED_KEYWORDS",
    "V2_ONLY_KEYWORDS",
    "build_array_metadata",
    "choose_format",
    "shard_layout",
    "translate_keywords",
    "v2_only_keywords",
]
