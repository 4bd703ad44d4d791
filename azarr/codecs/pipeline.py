"""A chunk's codec chain: ``(array->array)* (array->bytes) (bytes->bytes)*``.

An array builds its pipeline once (:func:`azarr.codecs.pipeline_for`); the pipeline
resolves the chunk spec at every position when it is built, so encoding or decoding a
chunk is only the codec calls. Errors are left to the caller, which names the chunk key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from azarr.codecs.abc import ArrayArrayCodec, ArrayBytesCodec, Buffer, BytesBytesCodec, ChunkSpec, Codec
from azarr.errors import CodecError, MetadataError

#: the most bytes a chunk whose serialised size varies (strings, bytes, objects) may decode
#: to; set AZARR_MAX_DECODED_CHUNK_BYTES to change it
VARIABLE_CHUNK_CEILING = int(os.environ.get("AZARR_MAX_DECODED_CHUNK_BYTES", 1 << 30))


def decode_ceiling(spec: ChunkSpec) -> int:
    """The most bytes a compressed chunk of ``spec`` may decode to when its size is not fixed.

    Numeric data behind size-changing filters (v2 ``filters``, ``astype``) never needs more
    than 8x its items' bytes; variable-length data gets :data:`VARIABLE_CHUNK_CEILING`.
    """
    if spec.dtype.kind == "O":
        return VARIABLE_CHUNK_CEILING
    return max(8 * spec.nbytes, 1 << 16)


def byte_view(arr: np.ndarray) -> memoryview:
    """A writable flat byte view of a C-contiguous array (any dtype: datetimes export no buffer
    of their own, their bytes do)."""
    return memoryview(arr.reshape(-1).view(np.uint8))  # type: ignore[arg-type]


class CodecPipeline:
    """Encode and decode chunks of one array through its codecs."""

    __slots__ = (
        "_aa_specs",
        "_ab_spec",
        "_bb_max",
        "_encoded_size",
        "_into_order",
        "_raw_c",
        "array_array",
        "array_bytes",
        "bytes_bytes",
        "spec",
        "truncates_edges",
    )

    def __init__(self, codecs: Sequence[Codec], spec: ChunkSpec, where: str = "array") -> None:
        aa: list[ArrayArrayCodec] = []
        ab: ArrayBytesCodec | None = None
        bb: list[BytesBytesCodec] = []
        for codec in codecs:
            if isinstance(codec, ArrayArrayCodec):
                if ab is not None:
                    raise MetadataError(f"{where}: array->array codec {codec.name!r} after the array->bytes codec")
                aa.append(codec)
            elif isinstance(codec, ArrayBytesCodec):
                if ab is not None:
                    raise MetadataError(f"{where}: more than one array->bytes codec ({ab.name!r}, {codec.name!r})")
                ab = codec
            elif isinstance(codec, BytesBytesCodec):
                if ab is None:
                    raise MetadataError(f"{where}: bytes->bytes codec {codec.name!r} before an array->bytes codec")
                bb.append(codec)
            else:
                raise MetadataError(f"{where}: {codec!r} is not a codec")
        if ab is None:
            raise MetadataError(f"{where}: the codecs need exactly one array->bytes codec (e.g. 'bytes')")
        self.spec = spec
        # resolve the spec each codec sees, evolving codecs that depend on it
        aa_specs = []
        current = spec
        for i, aa_codec in enumerate(aa):
            aa[i] = aa_codec = aa_codec.evolve(current)
            aa_specs.append(current)
            current = aa_codec.resolve(current)
        ab = ab.evolve(current)
        size = ab.encoded_size(current)
        bb_max: list[int | None] = []
        for i, bb_codec in enumerate(bb):
            bb[i] = bb_codec = bb_codec.evolve(current)
            bb_max.append(size if size is not None else decode_ceiling(current))
            size = bb_codec.encoded_size(size)
        self.array_array: tuple[ArrayArrayCodec, ...] = tuple(aa)
        self.array_bytes: ArrayBytesCodec = ab
        self.bytes_bytes: tuple[BytesBytesCodec, ...] = tuple(bb)
        self._aa_specs = tuple(aa_specs)
        self._ab_spec = current
        self._bb_max = tuple(bb_max)
        self._encoded_size = size
        self.truncates_edges = bool(getattr(ab, "truncates_edges", False))
        # decoding can write straight into an output array: no array->array step, a plain
        # byte layout, and a first bytes->bytes codec (if any) that decodes into a buffer
        self._into_order = None if aa or self.truncates_edges else ab.raw_order(current)
        # the serialised chunk is its elements' bytes in C order: batches skip the array->bytes call
        self._raw_c = self._into_order == "C" and spec.dtype.kind != "O"
        if bb and not bb[0].decodes_into:
            self._into_order = None

    @property
    def array_bytes_spec(self) -> ChunkSpec:
        """The spec of the array the array->bytes codec serialises."""
        return self._ab_spec

    @property
    def content_can_fail(self) -> bool:
        """Whether encoding may fail on one chunk's content after succeeding on another's."""
        return any(c.content_can_fail for c in self.codecs)

    @property
    def codecs(self) -> tuple[Codec, ...]:
        """Every codec, in encoding order."""
        return (*self.array_array, self.array_bytes, *self.bytes_bytes)

    def encoded_size(self) -> int | None:
        """Stored bytes of any encoded chunk, or None when it varies (compression)."""
        return self._encoded_size

    def decode(self, data: Buffer, extent: tuple[int, ...] | None = None) -> np.ndarray:
        """Stored bytes -> a chunk of ``spec.shape`` (may be a read-only view)."""
        for bb_codec, max_size in zip(reversed(self.bytes_bytes), reversed(self._bb_max)):
            data = bb_codec.decode(data, self._ab_spec, max_size)
        ab_spec = self._ab_spec if extent is None else self._ab_spec.with_extent(extent)
        chunk = self.array_bytes.decode(data, ab_spec)
        for aa_codec, spec in zip(reversed(self.array_array), reversed(self._aa_specs)):
            chunk = aa_codec.decode(chunk, spec)
        if chunk.shape != self.spec.shape:
            raise CodecError(f"decoded chunk has shape {chunk.shape}, expected {self.spec.shape}")
        return chunk

    @property
    def decodes_into(self) -> bool:
        """Whether :meth:`decode_into` can ever succeed for this pipeline."""
        return self._into_order is not None

    @property
    def into_order(self) -> str | None:
        """The memory order ``decode_into`` writes chunks in ("C" or "F"), None if it cannot."""
        return self._into_order

    def decode_into(self, data: Buffer, out: np.ndarray) -> bool:
        """Decode a whole chunk straight into ``out`` (no temporary chunk, no copy afterwards).

        ``out`` must have the chunk's shape and dtype and be contiguous in the chunk's order
        (a view of the output where a chunk lies whole, e.g. a full-width row block). Returns
        False, having written nothing, when this pipeline or ``out`` does not allow it or the
        data does not state exactly the chunk's size; the caller then decodes the usual way
        (:meth:`decode`), which reports whatever is wrong with the data.
        """
        order = self._into_order
        if order is None or out.shape != self.spec.shape or out.dtype != self.spec.dtype:
            return False
        if not (out.flags.c_contiguous if order == "C" else out.flags.f_contiguous) or not out.flags.writeable:
            return False
        target = byte_view(out if order == "C" else out.T)
        bb = self.bytes_bytes
        for bb_codec, max_size in zip(reversed(bb[1:]), reversed(self._bb_max[1:])):
            data = bb_codec.decode(data, self._ab_spec, max_size)
        if bb:
            return bb[0].decode_into(data, self._ab_spec, target)
        src = memoryview(data).cast("B")  # type: ignore[arg-type]  # ndarrays export buffers
        if len(src) != len(target):
            return False
        target[:] = src
        return True

    def decode_batch(self, frames: Sequence[Buffer], out: np.ndarray) -> None:
        """Decode whole chunks: ``frames[i]`` into ``out[i]`` (``out`` shaped ``(n, *spec.shape)``).

        The loop for the many small chunks of a shard: where the chunk's bytes are its
        elements' (``bytes`` codec, no array->array codec) each frame decodes straight into
        its slot of ``out`` with no per-chunk array built. Raises what :meth:`decode` would;
        the caller names the chunk (decoding the frames one by one finds which).
        """
        if not frames:
            return
        if not self._raw_c or not out.flags.c_contiguous or out.dtype != self.spec.dtype:
            for i, frame in enumerate(frames):
                out[i] = self.decode(frame)
            return
        rows = out.reshape(len(frames), -1).view(np.uint8)
        ab_spec, bb = self._ab_spec, self.bytes_bytes
        first = bb[0] if bb and bb[0].decodes_into else None
        rest = tuple(zip(reversed(bb[1:] if first else bb), reversed(self._bb_max[1:] if first else self._bb_max)))
        if first is not None and not rest and first.decode_batch_into(frames, ab_spec, rows):
            return
        for i, data in enumerate(frames):
            for bb_codec, max_size in rest:
                data = bb_codec.decode(data, ab_spec, max_size)
            target = memoryview(rows[i])
            if first is not None:
                if first.decode_into(data, ab_spec, target):
                    continue
                out[i] = self.decode(frames[i])  # the frame states another size: decode() says what is wrong
                continue
            src = memoryview(data).cast("B")  # type: ignore[arg-type]  # every Buffer exports the buffer protocol
            if len(src) != len(target):
                out[i] = self.decode(frames[i])
                continue
            target[:] = src

    def encode_batch(self, chunks: np.ndarray) -> list[Buffer]:
        """Encode ``chunks[i]`` for each i (``chunks`` shaped ``(n, *spec.shape)``): the stored bytes of each."""
        if not self._raw_c or chunks.dtype != self.spec.dtype or not len(chunks):
            return [self.encode(c) for c in chunks]
        rows = np.ascontiguousarray(chunks).reshape(len(chunks), -1).view(np.uint8)
        ab_spec, bb = self._ab_spec, self.bytes_bytes
        if len(bb) == 1:
            batch = bb[0].encode_batch(rows, ab_spec)
            if batch is not None:
                return batch
        encoded: list[Buffer] = []
        for row in rows:
            data: Buffer = row
            for bb_codec in bb:
                data = bb_codec.encode(data, ab_spec)
            encoded.append(data)
        return encoded

    def encode(self, chunk: np.ndarray, extent: tuple[int, ...] | None = None) -> Buffer:
        """A chunk of ``spec.shape`` -> the bytes to store."""
        for aa_codec, spec in zip(self.array_array, self._aa_specs):
            chunk = aa_codec.encode(chunk, spec)
        ab_spec = self._ab_spec if extent is None else self._ab_spec.with_extent(extent)
        data: Buffer = self.array_bytes.encode(chunk, ab_spec)
        for bb_codec in self.bytes_bytes:
            data = bb_codec.encode(data, self._ab_spec)
        return data

    def __repr__(self) -> str:
        return f"CodecPipeline({', '.join(repr(c) for c in self.codecs)})"

    def describe(self) -> list[dict[str, Any]]:
        """The codecs' metadata entries, in encoding order."""
        return [c.to_config() for c in self.codecs]


__all__ = ["CodecPipeline", "byte_view"]
