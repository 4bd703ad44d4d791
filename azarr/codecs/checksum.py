"""The ``crc32c`` codec: a 4-byte little-endian CRC-32C appended to the chunk (bytes->bytes).

Verified on every read: a mismatch raises :class:`CodecError` (the core adds the chunk
key). The checksum comes from the ``crc32c`` package (hardware CRC32C instructions where
the processor has them), which reads any buffer without copying it.
"""

from __future__ import annotations

from typing import Any, Self

from azarr.codecs.abc import Buffer, BytesBytesCodec, ChunkSpec
from azarr.codecs.registry import register_codec
from azarr.errors import CodecError


def _crc32c() -> Any:
    import crc32c

    return crc32c.crc32c


@register_codec
class Crc32cCodec(BytesBytesCodec):
    """Append and verify a CRC-32C checksum (zarr-python's ``Crc32cCodec``)."""

    name = "crc32c"

    def __init__(self) -> None:
        self._crc: Any = None

    def evolve(self, spec: ChunkSpec) -> Self:
        """Bind the checksum function once (imported on first use)."""
        out = type(self)()
        out._crc = _crc32c()
        return out

    def encoded_size(self, size: int | None) -> int | None:
        return None if size is None else size + 4

    def encode(self, data: Buffer, spec: ChunkSpec) -> Buffer:
        """``data`` followed by its CRC-32C (one copy, into the joined result)."""
        view = memoryview(data).cast("B")  # type: ignore[arg-type]  # ndarrays export buffers
        crc = (self._crc or _crc32c())(view)
        return b"".join((view, crc.to_bytes(4, "little")))

    def decode(self, data: Buffer, spec: ChunkSpec, max_size: int | None = None) -> Buffer:
        """Check the trailing CRC-32C and return a view of the data before it."""
        view = memoryview(data).cast("B")  # type: ignore[arg-type]  # ndarrays export buffers
        if len(view) < 4:
            raise CodecError(f"crc32c: chunk of {len(view)} bytes is too short to hold a checksum")
        body = view[:-4]
        if max_size is not None and len(body) > max_size:
            raise CodecError(f"crc32c: chunk holds {len(body)} bytes, more than the {max_size} it can hold")
        stored = int.from_bytes(view[-4:], "little")
        computed = (self._crc or _crc32c())(body)
        if stored != computed:
            raise CodecError(f"crc32c checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")
        return body


__all__ = ["Crc32cCodec"]
