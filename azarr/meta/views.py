"""Array metadata for read-only views (zarr-python 2's ``Array.view`` / ``Array.astype``).

A view reads the same stored chunks as its array under other settings: another dtype
(the chunk bytes reinterpreted), shape, chunk shape, fill value or filters. ``astype``
is a view whose chunks are converted by numcodecs' ``astype`` filter, as zarr-python 2
builds it. Pure: configurations in, metadata out; views are never written.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from azarr.errors import MetadataError
from azarr.meta.common import int_tuple, normalize_chunks


def _astype_config(stored: np.dtype, wanted: np.dtype) -> dict[str, Any]:
    return {"id": "astype", "encode_dtype": stored.str, "decode_dtype": wanted.str}


def _v2_view(meta: Any, dtype: np.dtype | None, shape: Any, chunks: Any, fill_value: Any, filters: Any, astype: bool) -> Any:
    from azarr.meta.v2 import normalize_filters

    changes: dict[str, Any] = {}
    new_dtype = dtype if dtype is not None else meta.dtype
    if filters is not None:
        changes["filters"] = normalize_filters(filters)
    if astype and dtype is not None:
        changes["filters"] = [_astype_config(meta.dtype, dtype), *(changes.get("filters", meta.filters) or [])]
    if dtype is not None:
        changes["dtype"] = dtype
    # zarr-python 2 keeps the array's fill value (unconverted) unless one is given
    fill = meta.fill_value if fill_value is None else _fill(None, fill_value, new_dtype)
    return dataclasses.replace(meta, **changes, **_grid(meta, shape, chunks, new_dtype), fill_value=fill)


def _v3_view(meta: Any, dtype: np.dtype | None, shape: Any, chunks: Any, fill_value: Any, filters: Any, astype: bool) -> Any:
    from azarr.meta.v3 import normalize_codec_entry
    from azarr.meta.v3_dtypes import data_type_from_dtype

    changes: dict[str, Any] = {}
    data_type = meta.data_type if dtype is None else data_type_from_dtype(dtype, meta.document_key)
    if filters is not None:
        raise MetadataError(f"{meta.document_key}: views of Zarr v3 arrays take no filters=")
    if astype and dtype is not None:
        cfg = _astype_config(meta.dtype, data_type.dtype)
        entry = normalize_codec_entry({"name": "numcodecs.astype", "configuration": {k: v for k, v in cfg.items() if k != "id"}})
        changes["codecs"] = (entry, *meta.codecs)
    grid = _grid(meta, shape, chunks, data_type.dtype)
    if "chunks" in grid:
        grid["chunk_shape"] = grid.pop("chunks")
    fill = _fill(meta.fill_value, fill_value, data_type.dtype)
    fill = data_type.coerce_fill_value(None if fill is None else fill, meta.document_key)
    return dataclasses.replace(meta, data_type=data_type, **changes, **grid, fill_value=fill)


def _grid(meta: Any, shape: Any, chunks: Any, dtype: np.dtype) -> dict[str, Any]:
    out: dict[str, Any] = {}
    new_shape = meta.shape
    if shape is not None:
        new_shape = out["shape"] = int_tuple(shape, "shape", "view", positive=False)
    if chunks is not None:
        out["chunks"] = normalize_chunks(chunks, new_shape, dtype.itemsize)
    return out


def _fill(current: Any, given: Any, dtype: np.dtype) -> Any:
    """The view's fill value: the one given, else the array's converted to the view's dtype."""
    value = current if given is None else given
    if value is None or dtype.kind == "O":
        return value
    try:
        return np.asarray(value).astype(dtype)[()]
    except (TypeError, ValueError) as exc:
        raise MetadataError(f"view: fill value {value!r} does not convert to {dtype} ({exc})") from None


_VIEWS = {2: _v2_view, 3: _v3_view}


def view_metadata(
    meta: Any,
    *,
    dtype: Any = None,
    shape: Any = None,
    chunks: Any = None,
    fill_value: Any = None,
    filters: Any = None,
    astype: bool = False,
) -> Any:
    """The metadata of a view of the array described by ``meta``.

    ``dtype`` reinterprets the stored bytes (or, with ``astype=True``, converts the values);
    ``shape`` / ``chunks`` / ``fill_value`` / ``filters`` replace the array's. N5 arrays
    have no views.
    """
    build = _VIEWS.get(meta.zarr_format)
    if build is None:
        raise MetadataError(f"views of {meta.zarr_format!r} arrays are not supported")
    try:
        new_dtype = None if dtype is None else np.dtype(dtype)
    except TypeError as exc:
        raise MetadataError(f"view: invalid dtype {dtype!r} ({exc})") from None
    return build(meta, new_dtype, shape, chunks, fill_value, filters, astype)


__all__ = ["view_metadata"]
