"""N5 blocks as a pipeline codec: header + compressed big-endian data (pure CPU, no I/O).

A block is ``uint16 mode, uint16 ndim, ndim x uint32 size`` (sizes fastest axis first),
plus ``uint32 n`` in varlength mode (1), then the compressed elements, big-endian, with
the first N5 dimension varying fastest — which is C order of the reversed (numpy) shape.
Edge blocks are stored truncated to the part inside the dataset.
"""

from __future__ import annotations

import bz2
import lzma
import math
import struct
import zlib
from typing import Any

import numpy as np

from azarr.codecs.abc import ArrayBytesCodec, Buffer, ChunkSpec
from azarr.codecs.pipeline import CodecPipeline
from azarr.errors import CodecError, MetadataError

MODE_DEFAULT = 0
MODE_VARLENGTH = 1
MODE_OBJECT = 2



class Compression:
    """One N5 compression (raw, gzip/zlib, bzip2, xz, blosc, zstd) from its config dict."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = dict(config)
        kind = self.config.get("type")
        self.type = kind
        if kind == "raw":
            self._codec = None
        elif kind == "gzip":
            self.level = int(self.config.get("level", -1))
            self.use_zlib = bool(self.config.get("useZlib", False))
        elif kind == "bzip2":
            self.block_size = int(self.config.get("blockSize", 9))
        elif kind in ("xz", "lzma"):
            self.preset = int(self.config.get("preset", 6))
        elif kind == "blosc":
            from numcodecs import Blosc

            shuffle = int(self.config.get("shuffle", 1))
            self._codec = Blosc(
                cname=str(self.config.get("cname", "lz4")),
                clevel=int(self.config.get("clevel", 5)),
                shuffle=shuffle,
                blocksize=int(self.config.get("blocksize", 0)),
            )
        elif kind == "zstd":
            from numcodecs import Zstd

            self._codec = Zstd(level=int(self.config.get("level", 3)))
        else:
            raise MetadataError(f"attributes.json: unsupported N5 compression {config!r}")

    def encode(self, data: bytes) -> bytes:
        """Compress raw block data."""
        kind = self.type
        if kind == "raw":
            return data
        if kind == "gzip":
            wbits = 15 if self.use_zlib else 31  # zlib container or gzip container
            comp = zlib.compressobj(self.level, zlib.DEFLATED, wbits)
            return comp.compress(data) + comp.flush()
        if kind == "bzip2":
            return bz2.compress(data, compresslevel=max(1, min(9, self.block_size)))
        if kind in ("xz", "lzma"):
            return lzma.compress(data, format=lzma.FORMAT_XZ, preset=self.preset)
        assert self._codec is not None  # every other type returned above
        return bytes(self._codec.encode(data))

    def decode(self, data: bytes, max_size: int | None = None) -> bytes:
        """Decompress block data, refusing to produce more than ``max_size`` bytes."""
        from azarr.codecs import compression as comp

        kind = self.type
        if kind == "raw":
            return data
        if kind == "gzip":
            return bytes(comp.inflate(data, max_size, "gzip"))  # gzip or zlib headers
        if max_size is not None and kind == "bzip2":
            return bytes(comp.bz2_decode(None, data, max_size))
        if max_size is not None and kind in ("xz", "lzma"):
            return bytes(comp.xz_decode(data, max_size))
        if kind == "bzip2":
            return bz2.decompress(data)
        if kind in ("xz", "lzma"):
            return lzma.decompress(data)
        if kind == "blosc":
            return bytes(comp.blosc_decode(data, max_size))
        if kind == "zstd":
            return bytes(comp.zstd_decode(data, max_size))
        assert self._codec is not None  # every other type returned above
        return bytes(self._codec.decode(data))


def encode_block(chunk: np.ndarray, extent: tuple[int, ...], compression: Compression) -> bytes:
    """Encode the in-bounds ``extent`` (numpy order) of a full chunk as an N5 block."""
    part = chunk[tuple(slice(0, e) for e in extent)]
    data = np.ascontiguousarray(part, dtype=part.dtype.newbyteorder(">")).tobytes()
    sizes = tuple(reversed(extent))
    header = struct.pack(f">HH{len(sizes)}I", MODE_DEFAULT, len(sizes), *sizes)
    return header + compression.encode(data)


def decode_block(
    raw: bytes, chunks: tuple[int, ...], dtype: np.dtype, compression: Compression, fill: Any = 0
) -> np.ndarray:
    """Decode an N5 block into a full chunk (numpy order, native endian), padding truncated blocks."""
    if len(raw) < 4:
        raise CodecError(f"N5 block too short ({len(raw)} bytes)")
    mode, ndim = struct.unpack_from(">HH", raw, 0)
    if mode not in (MODE_DEFAULT, MODE_VARLENGTH):
        raise CodecError(f"unsupported N5 block mode {mode}")
    if ndim != len(chunks):
        raise CodecError(f"N5 block has {ndim} dimensions, dataset has {len(chunks)}")
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise CodecError("N5 block header is truncated")
    sizes = struct.unpack_from(f">{ndim}I", raw, 4)
    extent = tuple(reversed(sizes))
    count = math.prod(extent)
    if mode == MODE_VARLENGTH:
        (count,) = struct.unpack_from(">I", raw, offset)
        offset += 4
    if any(e > c for e, c in zip(extent, chunks)):
        raise CodecError(f"N5 block size {list(sizes)} exceeds the dataset's blockSize")
    data = compression.decode(raw[offset:], count * dtype.itemsize)
    be = dtype.newbyteorder(">")
    if len(data) < count * be.itemsize:
        raise CodecError(f"N5 block holds {len(data)} bytes, expected {count * be.itemsize}")
    values = np.frombuffer(data, dtype=be, count=count)
    if count != math.prod(extent):
        raise CodecError(f"varlength N5 block with {count} elements cannot fill block {list(sizes)}")
    values = values.reshape(extent).astype(dtype.newbyteorder("="), copy=False)
    if extent == tuple(chunks):
        return values
    out = np.full(chunks, fill, dtype=dtype)
    out[tuple(slice(0, e) for e in extent)] = values
    return out


class N5BlockCodec(ArrayBytesCodec):
    """An N5 block: header, then the compressed big-endian elements; edge blocks truncated."""

    name = "n5-block"
    #: edge chunks are stored truncated to the part inside the dataset
    truncates_edges = True

    def __init__(self, compression: dict[str, Any]) -> None:
        self.compression = Compression(compression)

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "configuration": {"compression": dict(self.compression.config)}}

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer:
        """Encode the in-bounds part (``spec.extent``) of a full chunk."""
        extent = spec.extent if spec.extent is not None else spec.shape
        return encode_block(np.asarray(chunk, dtype=spec.dtype), extent, self.compression)

    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        """Decode a block into a full chunk (a truncated block padded with the fill value)."""
        return decode_block(bytes(data), spec.shape, spec.dtype, self.compression, spec.fill_value or 0)


def n5_pipeline(meta: Any) -> CodecPipeline:
    """The pipeline of an N5 dataset (:class:`~azarr.meta.n5.N5ArrayMetadata`)."""
    spec = ChunkSpec(tuple(meta.chunks), meta.dtype, 0)
    return CodecPipeline([N5BlockCodec(meta.compression)], spec, where="attributes.json")
