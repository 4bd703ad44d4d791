"""What zarr-python's convenience constructors take from their arguments: the settings
an array "like" another copies, and the shape/dtype/chunks an array built from data gets.
Shared by the top-level functions (:mod:`azarr.aio`) and the group methods."""

from __future__ import annotations

from typing import Any

import numpy as np

from azarr.core.array import AsyncArray
from azarr.errors import ShapeMismatchError


def as_async_array(obj: Any) -> AsyncArray | None:
    """The :class:`AsyncArray` behind ``obj`` (itself, or a blocking ``Array``'s), else None."""
    if isinstance(obj, AsyncArray):
        return obj
    inner = getattr(obj, "async_array", None)
    return inner if isinstance(inner, AsyncArray) else None


def shape_and_chunks(a: Any) -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """``a``'s shape and, when it has chunks of the same rank (zarr, dask), its chunk shape."""
    shape = getattr(a, "shape", None)
    if not isinstance(shape, tuple):
        return None, None
    chunks = getattr(a, "chunks", None)
    if isinstance(chunks, tuple) and len(chunks) == len(shape) and all(isinstance(c, int) for c in chunks):
        return shape, chunks
    return shape, None


def like_args(a: Any) -> dict[str, Any]:
    """zarr-python 3's ``*_like`` settings: shape, chunks and dtype of ``a``; for an azarr
    array also its encoding (v2: order, compressor, filters; v3: the codecs and chunk key
    encoding), so the new array is stored the same way."""
    out: dict[str, Any] = {}
    shape, chunks = shape_and_chunks(a)
    if shape is not None:
        out["shape"] = shape
    if chunks is not None:
        out["chunks"] = chunks
    if hasattr(a, "dtype"):
        out["dtype"] = a.dtype
    arr = as_async_array(a)
    if arr is None:
        return out
    meta = arr.metadata
    if hasattr(meta, "compressor"):
        out.update(order=arr.order, compressor=meta.compressor, filters=meta.filters)
    elif hasattr(meta, "codecs"):
        out.update(codecs=list(meta.codecs), chunk_key_encoding=meta.chunk_key_encoding.to_dict())
    else:
        out["zarr_format"] = arr.zarr_format
    return out


def like_fill(a: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with ``a``'s fill value by default (``empty_like``, ``full_like``, ``open_like``)."""
    arr = as_async_array(a)
    if arr is not None:
        kwargs.setdefault("fill_value", arr.fill_value)
    return kwargs


def data_args(data: Any, kwargs: dict[str, Any]) -> Any:
    """Fill ``kwargs`` with the shape, dtype and (when ``data`` has them) chunks of ``data``;
    returns the data as an array-like (lists become numpy arrays; azarr arrays stay)."""
    if as_async_array(data) is None and not (hasattr(data, "shape") and hasattr(data, "dtype")):
        data = np.asanyarray(data)
    shape, chunks = shape_and_chunks(data)
    given = kwargs.get("shape")
    if given is not None and ((int(given),) if np.ndim(given) == 0 else tuple(int(s) for s in given)) != shape:
        raise ShapeMismatchError(f"shape={given!r} does not match the shape of data {shape}")
    kwargs["shape"] = shape
    if kwargs.get("dtype") is None:
        kwargs["dtype"] = data.dtype
    if kwargs.get("chunks") in (None, "auto") and chunks is not None:
        kwargs["chunks"] = chunks
    return data


async def write_data(target: AsyncArray, data: Any) -> None:
    """Write ``data`` (numpy-like, or an azarr array copied slab by slab) into ``target``."""
    source = as_async_array(data)
    if source is not None:
        from azarr.core.copy import copy_array_data

        await copy_array_data(source, target)
        return
    await target.setitem(Ellipsis, data)


__all__ = ["as_async_array", "data_args", "like_args", "like_fill", "shape_and_chunks", "write_data"]
