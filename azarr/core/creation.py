"""Creation keywords -> validated array metadata, and which format a new node gets.

The default format of new arrays and groups is Zarr v3 (as in zarr-python 3 and xarray),
except that a call using keywords that exist only in Zarr v2 (``compressor=``,
``dimension_separator=``, ``object_codec=``, numcodecs objects as ``filters=``) and no
``zarr_format`` creates v2, so zarr-python 2 code keeps writing what it wrote. A node created
without ``zarr_format`` inside an existing hierarchy takes the hierarchy's format.
"""

from __future__ import annotations

import json
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


def _v3_options(options: dict[str, Any], dtype: Any) -> dict[str, Any]:
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
        "dimension_separator", "dimension_names", "chunk_key_encoding", "object_codec",
    }
)  # fmt: skip


def build_array_metadata(zarr_format: Any, shape: Any, chunks: Any, dtype: Any, options: Mapping[str, Any]) -> Any:
    """Validated metadata of a new array in ``zarr_format`` from creation keywords."""
    fmt = format_for(zarr_format)
    opts = {k: v for k, v in options.items() if v is not _UNSET}
    unknown = sorted(set(opts) - CREATION_OPTIONS)
    if unknown:
        raise ArgumentError(f"unexpected array creation keyword(s): {', '.join(unknown)}")
    if dtype is bytes:
        dtype = "bytes"  # zarr-python 2's spelling of variable-length bytes
    if fmt.key == 2:
        dtype = _v2_dtype(dtype, opts)
        opts = _v2_options(opts, dtype)
    elif fmt.key == 3:
        opts = _v3_options(opts, dtype)
    else:
        opts.pop("compressors", None)
        opts.pop("codecs", None)
    return fmt.create_array(shape=shape, chunks=chunks, dtype=dtype, **opts)


# --- zarr-python keywords azarr translates, ignores or refuses -----------------------------------

#: keywords that change nothing here (azarr reads metadata and attributes once per handle)
IGNORED_KEYWORDS = frozenset({"cache_metadata", "cache_attrs", "partial_decompress"})
#: keywords azarr cannot honour, and why (given a value other than None, they raise)
UNSUPPORTED_KEYWORDS = {
    "synchronizer": "azarr has no synchronizers: writes of whole chunks need none, and concurrent writers "
    "to one chunk must coordinate outside azarr",
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
    "translate_keywords",
    "v2_only_keywords",
]
