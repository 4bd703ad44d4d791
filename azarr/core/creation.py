"""Creation keywords -> validated array metadata, and which format a new node gets.

The default format of new arrays and groups is Zarr v3 (as in zarr-python 3 and xarray),
except that a call using keywords that exist only in Zarr v2 (``compressor=``,
``dimension_separator=``, ``object_codec=``, numcodecs objects as ``filters=``) and no
``zarr_format`` creates v2, so zarr-python 2 code keeps writing what it wrote. A node created
without ``zarr_format`` inside an existing hierarchy takes the hierarchy's format.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azarr.errors import MetadataError
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


def _v2_options(options: dict[str, Any], dtype: Any) -> dict[str, Any]:
    object_codec = options.pop("object_codec", None)
    if object_codec is not None:  # zarr-python 2: the object codec becomes the first filter
        options["filters"] = [object_codec, *(options.get("filters") or [])]
    compressors = options.pop("compressors", None)
    if compressors is not None:  # zarr-python 3's spelling for v2 arrays: at most one compressor
        if "compressor" in options:
            raise MetadataError("give compressor= or compressors=, not both")
        if isinstance(compressors, (list, tuple)):
            if len(compressors) > 1:
                raise MetadataError(f"Zarr v2 arrays take at most one compressor, got {len(compressors)}")
            options["compressor"] = compressors[0] if compressors else None
        elif compressors == "auto":
            pass
        else:
            options["compressor"] = compressors
    for unknown in ("serializer", "dimension_names", "chunk_key_encoding"):
        if options.get(unknown) is not None:
            raise MetadataError(f"{unknown}= is a Zarr v3 keyword; it cannot be used with zarr_format=2")
        options.pop(unknown, None)
    return options


def _v3_options(options: dict[str, Any], dtype: Any) -> dict[str, Any]:
    from azarr.codecs.v3 import codecs_for

    options.pop("order", None)  # v3 stores C order; ``order`` is only an in-memory layout there
    codecs = codecs_for(
        dtype,
        filters=options.pop("filters", None),
        serializer=options.pop("serializer", "auto"),
        compressors=options.pop("compressors", "auto"),
    )
    options["codecs"] = codecs
    return options


def build_array_metadata(zarr_format: Any, shape: Any, chunks: Any, dtype: Any, options: Mapping[str, Any]) -> Any:
    """Validated metadata of a new array in ``zarr_format`` from creation keywords."""
    fmt = format_for(zarr_format)
    opts = {k: v for k, v in options.items() if v is not _UNSET}
    if fmt.key == 2:
        opts = _v2_options(opts, dtype)
    elif fmt.key == 3:
        opts = _v3_options(opts, dtype)
    else:
        opts.pop("compressors", None)
    return fmt.create_array(shape=shape, chunks=chunks, dtype=dtype, **opts)


class _Unset:
    """Marks a keyword the caller did not give (so defaults can depend on the format)."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()
UNSET: Any = _UNSET

__all__ = ["DEFAULT_FORMAT", "UNSET", "V2_ONLY_KEYWORDS", "build_array_metadata", "choose_format", "v2_only_keywords"]
