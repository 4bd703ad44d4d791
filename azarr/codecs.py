"""Chunk bytes <-> ndarray for Zarr v2 (filters + compressor via numcodecs). Pure CPU.

numcodecs' compressors release the GIL, so the array core runs these functions in a
thread pool and decompression overlaps the next I/O.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numcodecs
import numpy as np
from numcodecs.compat import ensure_bytes, ensure_ndarray_like

from azarr.errors import CodecError, MetadataError

if TYPE_CHECKING:
    from azarr.meta.v2 import ArrayMetadataV2


def get_codec(config: dict[str, Any], what: str = "codec") -> numcodecs.abc.Codec:
    """Instantiate a numcodecs codec from its config; unknown ids raise MetadataError."""
    try:
        return numcodecs.get_codec(dict(config))
    except (ValueError, TypeError, KeyError) as exc:
        raise MetadataError(f"unsupported {what} {config!r}: {exc}") from None


class V2ChunkCodec:
    """Encode/decode Zarr v2 chunks: ``compressor(filters(chunk in order))``."""

    def __init__(self, meta: ArrayMetadataV2) -> None:
        self.chunks = tuple(meta.chunks)
        self.dtype = meta.dtype
        self.order: Any = meta.order  # "C" or "F" (numpy wants the literal type)
        self.compressor = get_codec(meta.compressor, "compressor") if meta.compressor else None
        self.filters = [get_codec(f, "filter") for f in (meta.filters or [])]
        self.nbytes = math.prod(self.chunks) * self.dtype.itemsize
        self.object_dtype = self.dtype.kind == "O"

    def decode(self, data: bytes) -> np.ndarray:
        """Return the chunk as an array of shape ``chunks`` (read-only views are fine)."""
        buf: Any = data
        if self.compressor is not None:
            buf = self.compressor.decode(buf)
        for f in reversed(self.filters):
            buf = f.decode(buf)
        return self._shape(buf)

    def _shape(self, buf: Any) -> np.ndarray:
        arr = ensure_ndarray_like(buf)
        if self.object_dtype:
            arr = np.asarray(arr, dtype=object)
        elif arr.dtype != self.dtype:
            if arr.nbytes != self.nbytes:
                raise ValueError(f"decoded {arr.nbytes} bytes, expected {self.nbytes} for chunk shape {self.chunks}")
            arr = arr.view(self.dtype)
        if arr.size != math.prod(self.chunks):
            raise ValueError(f"decoded {arr.size} items, expected {math.prod(self.chunks)}")
        return arr.reshape(self.chunks, order=self.order)

    def encode(self, chunk: np.ndarray) -> bytes:
        """Return the stored bytes of a full chunk (shape ``chunks``)."""
        if self.object_dtype:
            arr: Any = np.asarray(chunk, dtype=object).reshape(-1, order=self.order)
        else:
            arr = np.asarray(chunk, dtype=self.dtype)
            arr = np.ascontiguousarray(arr) if self.order == "C" else np.asfortranarray(arr)
        for f in self.filters:
            arr = f.encode(arr)
        if self.compressor is not None:
            arr = self.compressor.encode(arr)
        return ensure_bytes(arr) if not isinstance(arr, bytes) else arr


def decode_chunk(meta: Any, data: bytes, coords: tuple[int, ...], key: str) -> np.ndarray:
    """Decode chunk ``key``; any failure becomes a CodecError naming the key."""
    try:
        return meta.decode_chunk(data, coords)
    except CodecError as exc:
        if exc.key is None:
            raise CodecError(f"chunk {key!r}: {exc}", key=key) from exc
        raise
    except Exception as exc:
        raise CodecError(f"chunk {key!r} failed to decode: {type(exc).__name__}: {exc}", key=key) from exc


def encode_chunk(meta: Any, chunk: np.ndarray, coords: tuple[int, ...], key: str) -> bytes:
    """Encode chunk ``key``; any failure becomes a CodecError naming the key."""
    try:
        return meta.encode_chunk(chunk, coords)
    except CodecError:
        raise
    except Exception as exc:
        raise CodecError(f"chunk {key!r} failed to encode: {type(exc).__name__}: {exc}", key=key) from exc
