"""``vlen-utf8`` and ``vlen-bytes``: variable-length strings and bytes (array->bytes).

The stored form (numcodecs' and zarr-python's): a uint32 item count, then each item as a
uint32 length and its bytes, little-endian. Decoded chunks are numpy object arrays of
``str`` (``vlen-utf8``) or ``bytes`` (``vlen-bytes``). numcodecs does the work in C.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from azarr.codecs.abc import ArrayBytesCodec, Buffer, ChunkSpec
from azarr.codecs.registry import register_codec
from azarr.errors import CodecError, MetadataError


class _VLenCodec(ArrayBytesCodec):
    """The shared shape and count checks; subclasses name the numcodecs codec."""

    _numcodecs_name = ""
    _instance: Any = None
    # an object chunk can hold an item of the wrong type (None, a number) after a good chunk
    content_can_fail = True

    @classmethod
    def _codec(cls) -> Any:
        # parameterless and stateless: one numcodecs instance serves every array and thread
        if cls._instance is None:
            import numcodecs.vlen

            cls._instance = getattr(numcodecs.vlen, cls._numcodecs_name)()
        return cls._instance

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "configuration": {}}

    def evolve(self, spec: ChunkSpec) -> Any:
        """Reject fixed-size data types (they use the ``bytes`` codec)."""
        if spec.dtype.kind not in "OT":
            raise MetadataError(f"the {self.name} codec needs a variable-length data type, not {spec.dtype}")
        return self

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer:
        """Serialise the chunk's items in C order."""
        arr = np.asarray(chunk)
        if arr.dtype.kind != "O":
            arr = arr.astype(object)
        try:
            return self._codec().encode(arr.reshape(-1))
        except (TypeError, ValueError) as exc:
            raise CodecError(f"{self.name}: cannot encode chunk ({exc})") from None

    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        """An object array of the chunk's shape."""
        try:
            items = self._codec().decode(data)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise CodecError(f"{self.name}: corrupt chunk ({exc})") from None
        count = 1
        for s in spec.shape:
            count *= s
        if items.size != count:
            raise CodecError(f"{self.name}: chunk holds {items.size} items, expected {count} for shape {spec.shape}")
        return items.reshape(spec.shape)


@register_codec
class VLenUTF8Codec(_VLenCodec):
    """Variable-length UTF-8 strings (zarr-python's ``VLenUTF8Codec``; data type ``string``)."""

    name = "vlen-utf8"
    _numcodecs_name = "VLenUTF8"


@register_codec
class VLenBytesCodec(_VLenCodec):
    """Variable-length bytes (zarr-python's ``VLenBytesCodec``; data type ``variable_length_bytes``)."""

    name = "vlen-bytes"
    _numcodecs_name = "VLenBytes"


__all__ = ["VLenBytesCodec", "VLenUTF8Codec"]
