"""Zarr v2 chunks as a pipeline: ``compressor(filters(chunk in order))``.

v2's ``filters`` are numcodecs codecs applied in turn to the flattened chunk (they may
change its dtype, or turn an object array into bytes), so together they form the
array->bytes step; the ``compressor`` is a bytes->bytes step.
"""

from __future__ import annotations

from typing import Any

import numcodecs
import numpy as np
from numcodecs.compat import ensure_ndarray_like

from azarr.codecs.abc import ArrayBytesCodec, Buffer, ChunkSpec
from azarr.codecs.numcodecs_compat import NumcodecsBytesCodec, get_numcodec
from azarr.codecs.pipeline import CodecPipeline
from azarr.errors import CodecError


class V2FiltersCodec(ArrayBytesCodec):
    """Flatten the chunk in its v2 ``order`` and run the v2 ``filters`` over it."""

    name = "zarr-v2-filters"

    def __init__(self, filters: list[numcodecs.abc.Codec], object_dtype: bool = False) -> None:
        self.filters = list(filters)
        self.content_can_fail = bool(filters) or object_dtype

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "configuration": {"filters": [f.get_config() for f in self.filters]}}

    def encoded_size(self, spec: ChunkSpec) -> int | None:
        if self.filters or spec.dtype.kind == "O":
            return None
        return spec.nbytes

    def raw_order(self, spec: ChunkSpec) -> str | None:
        """The v2 ``order`` when no filter changes the bytes (numeric data)."""
        if self.filters or spec.dtype.kind == "O" or spec.dtype.hasobject:
            return None
        return spec.order

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer:
        """The chunk's bytes in ``spec.order`` after every filter."""
        if spec.dtype.kind == "O":
            arr: Any = np.asarray(chunk, dtype=object).reshape(-1, order=spec.order)
        else:
            arr = np.asarray(chunk, dtype=spec.dtype)
            arr = np.ascontiguousarray(arr) if spec.order == "C" else np.asfortranarray(arr)
        for f in self.filters:
            arr = f.encode(arr)
        if isinstance(arr, np.ndarray) and arr.ndim > 1:
            arr = arr.reshape(-1, order="A")  # flat in memory order: an F-order chunk stays F
        if isinstance(arr, np.ndarray) and arr.dtype.kind in "Mm":
            arr = arr.view(np.uint8)  # datetimes export no buffer; their bytes are what is stored
        return arr

    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        """Undo the filters and shape the result as the chunk."""
        buf: Any = data
        for f in reversed(self.filters):
            buf = f.decode(buf)
        arr = ensure_ndarray_like(buf)
        if spec.dtype.kind == "O":
            arr = np.asarray(arr, dtype=object)
        elif arr.dtype != spec.dtype:
            if arr.nbytes != spec.nbytes:
                raise CodecError(f"decoded {arr.nbytes} bytes, expected {spec.nbytes} for chunk shape {spec.shape}")
            arr = arr.view(spec.dtype)
        count = 1
        for s in spec.shape:
            count *= s
        if arr.size != count:
            raise CodecError(f"decoded {arr.size} items, expected {count}")
        return arr.reshape(spec.shape, order=spec.order)


def v2_pipeline(meta: Any) -> CodecPipeline:
    """The pipeline of a Zarr v2 array (:class:`~azarr.meta.v2.ArrayMetadataV2`)."""
    filters = [get_numcodec(f, "filter") for f in (meta.filters or [])]
    codecs: list[Any] = [V2FiltersCodec(filters, meta.dtype.kind == "O")]
    if meta.compressor:
        codecs.append(NumcodecsBytesCodec(get_numcodec(meta.compressor, "compressor"), name=meta.compressor["id"]))
    spec = ChunkSpec(tuple(meta.chunks), meta.dtype, meta.fill_value, meta.order)
    return CodecPipeline(codecs, spec, where=".zarray")


__all__ = ["V2FiltersCodec", "v2_pipeline"]
