"""The ``bytes`` codec: a chunk's elements in C order, in a stated byte order (array->bytes).

Decoding is a view of the stored bytes (``np.frombuffer``), copied only to swap bytes
when the stored order is not the machine's; encoding copies only what is not already
contiguous in the stored order (e.g. after ``transpose``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, Literal, Self

import numpy as np

from azarr.codecs.abc import ArrayBytesCodec, Buffer, ChunkSpec
from azarr.codecs.registry import register_codec
from azarr.errors import CodecError, MetadataError

_ENDIANS: dict[str, Literal["<", ">"]] = {"little": "<", "big": ">"}


def _nbytes(data: Buffer) -> int:
    return data.nbytes if isinstance(data, (memoryview, np.ndarray)) else len(data)


@register_codec
class BytesCodec(ArrayBytesCodec):
    """Serialise fixed-size elements as raw bytes (zarr-python's ``BytesCodec``).

    ``endian`` ("little" or "big") is required for multi-byte types and dropped for
    one-byte types (as zarr-python writes them); it defaults to the machine's order.
    """

    name = "bytes"

    def __init__(self, *, endian: str | None = sys.byteorder) -> None:
        if endian is not None and endian not in _ENDIANS:
            raise MetadataError(f"bytes codec: endian must be 'little' or 'big', got {endian!r}")
        self.endian = endian
        self._stored: np.dtype | None = None  # the stored dtype, set by evolve()

    @classmethod
    def from_config(cls, configuration: Mapping[str, Any]) -> Self:
        """Build from a configuration; a missing ``endian`` means none was stated."""
        config = dict(configuration)
        return cls(endian=config.pop("endian", None), **config)

    def to_config(self) -> dict[str, Any]:
        if self.endian is None:
            return {"name": self.name}
        return {"name": self.name, "configuration": {"endian": self.endian}}

    def evolve(self, spec: ChunkSpec) -> Self:
        """Check the data type is fixed-size, drop ``endian`` where it means nothing, fix the stored dtype."""
        dtype = spec.dtype
        if dtype.kind == "O":
            raise MetadataError(
                f"the bytes codec cannot serialise variable-length data type {dtype} "
                "(use vlen-utf8 or vlen-bytes)"
            )
        has_order = dtype.byteorder != "|"
        if has_order and self.endian is None:
            raise MetadataError(f"the bytes codec needs 'endian' for multi-byte data type {dtype}")
        out = type(self)(endian=self.endian if has_order else None)
        out._stored = dtype.newbyteorder(_ENDIANS[self.endian]) if has_order and self.endian else dtype
        return out

    def encoded_size(self, spec: ChunkSpec) -> int | None:
        return spec.nbytes

    def raw_order(self, spec: ChunkSpec) -> str | None:
        """C order when the stored byte order is the array's (no swap on decoding)."""
        stored = self._stored if self._stored is not None else self.evolve(spec)._stored
        return "C" if stored == spec.dtype else None

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer:
        """The chunk's elements in C order and the stored byte order, as a uint8 view where possible."""
        stored = self._stored if self._stored is not None else self.evolve(spec)._stored
        arr = np.asarray(chunk)
        if arr.dtype != stored:
            arr = arr.astype(stored)
        # a flat uint8 view: every fixed-size dtype (datetimes included) exports a buffer this way
        return np.ascontiguousarray(arr).reshape(-1).view(np.uint8)

    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        """A view of ``data`` as the chunk (swapped to native order when stored otherwise)."""
        stored = self._stored if self._stored is not None else self.evolve(spec)._stored
        assert stored is not None
        expected = spec.nbytes
        if _nbytes(data) != expected:
            raise CodecError(
                f"bytes codec: chunk holds {_nbytes(data)} bytes, expected {expected} for shape {spec.shape}"
            )
        arr = np.frombuffer(data, dtype=stored).reshape(spec.shape)
        if stored != spec.dtype:
            arr = arr.astype(spec.dtype)  # byte swap into the array's (native) dtype
        return arr


__all__ = ["BytesCodec"]
