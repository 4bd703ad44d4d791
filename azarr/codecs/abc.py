"""The three kinds of chunk codec (Zarr v3's model), and the spec of the chunk they see.

A chunk travels ``array -> (array->array)* -> (array->bytes) -> (bytes->bytes)* -> stored bytes``
when written, and back when read. Each codec is a small, immutable object built from its
configuration; it is pure CPU and knows nothing of stores or metadata documents.

``ChunkSpec`` describes the array a codec sees at its place in the chain: an array->array
codec (``transpose``) changes it, so the pipeline resolves the spec of every position once
when it is built, not per chunk.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Self

import numpy as np

#: what a bytes-producing codec returns: anything exposing the buffer protocol
Buffer = bytes | bytearray | memoryview | np.ndarray


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    """The decoded form of one chunk at some position in a codec chain.

    ``order`` is the memory layout decoded chunks are produced in (Zarr v2's ``order``;
    always "C" for v3, where ``transpose`` expresses layouts). ``extent`` is the part of
    the chunk inside the array, set only for codecs that store edge chunks truncated (N5).
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    fill_value: Any = None
    order: Literal["C", "F"] = "C"
    extent: tuple[int, ...] | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of the decoded chunk (items x itemsize; object dtypes count pointers)."""
        n = self.dtype.itemsize
        for s in self.shape:
            n *= s
        return n

    def with_extent(self, extent: tuple[int, ...] | None) -> ChunkSpec:
        """The same spec for an edge chunk whose in-bounds part is ``extent``."""
        return replace(self, extent=extent)


class Codec(abc.ABC):
    """A chunk codec: built from a configuration, immutable, pure CPU."""

    #: the codec's name in Zarr v3 metadata (``"zstd"``, ``"bytes"``, ...); wrappers of
    #: numcodecs codecs set it per instance (``"numcodecs.delta"``)
    name: str = ""
    #: whether encoding can fail on one chunk's content after succeeding on another's (object
    #: and variable-length codecs, numcodecs filters); the core then encodes every chunk of a
    #: write before sending any, so a failed write stores nothing
    content_can_fail: bool = False

    @classmethod
    def from_config(cls, configuration: Mapping[str, Any]) -> Self:
        """Build the codec from the ``configuration`` object of its metadata entry.

        Unknown or invalid settings raise :class:`~azarr.errors.MetadataError`.
        """
        return cls(**dict(configuration))

    def to_config(self) -> dict[str, Any]:
        """The metadata entry ``{"name": ..., "configuration": {...}}`` for this codec."""
        return {"name": self.name}

    def evolve(self, spec: ChunkSpec) -> Self:
        """Return this codec with settings that depend on the array filled in.

        Called once when a pipeline is built (e.g. blosc's ``typesize`` from the dtype);
        also the place to reject an array the codec cannot handle.
        """
        return self

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and isinstance(other, Codec) and other.to_config() == self.to_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self.to_config())))

    def __repr__(self) -> str:
        cfg = self.to_config().get("configuration", {})
        args = ", ".join(f"{k}={v!r}" for k, v in cfg.items())
        return f"{type(self).__name__}({args})"


class ArrayArrayCodec(Codec):
    """Transforms the chunk array (``transpose``, numcodecs filters such as ``delta``)."""

    def resolve(self, spec: ChunkSpec) -> ChunkSpec:
        """The spec of this codec's output given its input ``spec`` (default: unchanged)."""
        return spec

    @abc.abstractmethod
    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        """Transform ``chunk`` (described by the input ``spec``) for storage."""

    @abc.abstractmethod
    def decode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        """Undo :meth:`encode`; ``spec`` is the input spec (what must come out)."""


class ArrayBytesCodec(Codec):
    """Serialises the chunk array to bytes (``bytes``, ``vlen-utf8``, ``sharding_indexed``)."""

    @abc.abstractmethod
    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer:
        """Serialise ``chunk`` (of ``spec.shape`` and ``spec.dtype``)."""

    @abc.abstractmethod
    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        """Deserialise ``data`` into an array of ``spec.shape`` (read-only views are fine)."""

    def encoded_size(self, spec: ChunkSpec) -> int | None:
        """Bytes :meth:`encode` produces for any chunk of ``spec``, or None if it varies."""
        return None

    def raw_order(self, spec: ChunkSpec) -> str | None:
        """``"C"`` or ``"F"`` when the serialised chunk is exactly its elements' bytes in that
        order and in ``spec.dtype`` (decoding is then a copy: the pipeline may decode straight
        into an output array); None otherwise."""
        return None


class BytesBytesCodec(Codec):
    """Transforms serialised bytes (compressors, checksums)."""

    @abc.abstractmethod
    def encode(self, data: Buffer, spec: ChunkSpec) -> Buffer:
        """Transform ``data`` for storage."""

    @abc.abstractmethod
    def decode(self, data: Buffer, spec: ChunkSpec, max_size: int | None = None) -> Buffer:
        """Undo :meth:`encode`.

        ``max_size`` is the most bytes a valid chunk can decode to (known when the
        codecs before this one produce a fixed size). A codec that can stop early must
        raise :class:`~azarr.errors.CodecError` rather than produce more.
        """

    def encoded_size(self, size: int | None) -> int | None:
        """Bytes :meth:`encode` produces from ``size`` input bytes, or None if it varies."""
        return None

    #: whether :meth:`decode_into` can write this codec's output into a given buffer
    decodes_into: bool = False

    def decode_into(self, data: Buffer, spec: ChunkSpec, out: memoryview) -> bool:
        """Undo :meth:`encode` straight into ``out`` (a writable byte buffer), when ``data``
        states that it decodes to exactly ``len(out)`` bytes; return False, writing nothing,
        when it does not (the caller then uses :meth:`decode`, which reports what is wrong).
        """
        return False

    def decode_batch_into(self, frames: Sequence[Buffer], spec: ChunkSpec, rows: np.ndarray) -> bool:
        """Undo :meth:`encode` for many chunks in one call: ``frames[i]`` into ``rows[i]``
        (``rows``: C-contiguous uint8, one row per frame, each the exact decoded size).

        For codecs whose per-call cost (or GIL hand-over) matters against small chunks, e.g.
        a shard's inner chunks. Returns False, having written nothing, when this codec or
        these frames do not allow it (the caller then decodes chunk by chunk); raises
        :class:`~azarr.errors.CodecError` when any frame is bad, without saying which (the
        caller finds that chunk by chunk).
        """
        return False

    def encode_batch(self, rows: np.ndarray, spec: ChunkSpec) -> list[Buffer] | None:
        """:meth:`encode` of each row of ``rows`` (C-contiguous uint8, one chunk's bytes per
        row) in one call: the same bytes per chunk, or None when this codec has no batch path."""
        return None


__all__ = ["ArrayArrayCodec", "ArrayBytesCodec", "Buffer", "BytesBytesCodec", "ChunkSpec", "Codec"]
