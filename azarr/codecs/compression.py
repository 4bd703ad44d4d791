"""Compressors (bytes->bytes): ``zstd``, ``gzip`` and ``blosc``.

Every decoder honours ``max_size`` (the most bytes a valid chunk decodes to, known when
the codecs before it produce a fixed size): a chunk that would decode to more — a
decompression bomb or a corrupt frame — raises :class:`CodecError` before more than
``max_size`` bytes are allocated. zstd and blosc check the size their header states;
zstd frames without one and gzip streams are decompressed with an output bound. zstd
frames are decoded with python-zstandard, which reads a frame's stated size and takes an
output bound (numcodecs does neither).

The libraries are imported on first use, so ``import azarr`` stays light.
"""

from __future__ import annotations

import functools
import threading
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np

from azarr.codecs.abc import Buffer, BytesBytesCodec, ChunkSpec
from azarr.codecs.registry import register_codec
from azarr.errors import CodecError, MetadataError


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise MetadataError(f"{what} must be an integer from {lo} to {hi}, got {value!r}")
    return int(value)


def _readable(data: Buffer) -> Any:
    """``data`` as something every compression library reads: bytes, or a flat byte view."""
    if isinstance(data, bytes):
        return data
    return memoryview(data).cast("B")  # type: ignore[arg-type]  # ndarrays export buffers


def _too_big(codec: str, size: int, max_size: int) -> CodecError:
    return CodecError(f"{codec}: chunk decodes to {size} bytes, more than the {max_size} a chunk can hold")


# --- zstd -------------------------------------------------------------------------------------

# python-zstandard's decompressors are not thread-safe and hold no settings: one per thread
# for the whole process, made on first use (not one per array and thread)
_ZSTD_LOCAL = threading.local()


def _zstd_decompressor() -> Any:
    try:
        return _ZSTD_LOCAL.decompressor
    except AttributeError:
        import zstandard

        _ZSTD_LOCAL.decompressor = zstandard.ZstdDecompressor()
        return _ZSTD_LOCAL.decompressor


def _zstd_compressor(level: int, checksum: bool) -> Any:
    """This thread's python-zstandard compressor for ``level``/``checksum`` (not thread-safe either)."""
    compressors = getattr(_ZSTD_LOCAL, "compressors", None)
    if compressors is None:
        compressors = _ZSTD_LOCAL.compressors = {}
    compressor = compressors.get((level, checksum))
    if compressor is None:
        import zstandard

        compressor = compressors[(level, checksum)] = zstandard.ZstdCompressor(
            level=level, write_checksum=checksum, write_content_size=True
        )
    return compressor


#: "small" chunks go through python-zstandard: up to this many input bytes its frames are
#: byte-identical to numcodecs' (zarr-python's) at every level (beyond, numcodecs sizes its
#: blocks differently), and for them it costs less per call than numcodecs' decompress-into
_ZSTD_SMALL = 128 << 10


def zstd_encode(data: Buffer, level: int, checksum: bool) -> Buffer:
    """Compress ``data`` into one zstd frame stating its size, as numcodecs (zarr-python) does.

    Inputs up to 128 KiB (inner chunks of shards, most small chunks) go through a per-thread
    python-zstandard compressor: the same bytes, less overhead per call, and the GIL
    released while compressing, so codec threads compress in parallel.
    """
    buf = _readable(data)
    if len(buf) <= _ZSTD_SMALL:
        return _zstd_compressor(level, checksum).compress(buf)  # type: ignore[no-any-return]
    import numcodecs.zstd

    return numcodecs.zstd.compress(buf, level, checksum)  # type: ignore[no-any-return]


def zstd_decode(data: Buffer, max_size: int | None) -> Buffer:
    """Decompress one zstd frame, refusing to produce more than ``max_size`` bytes."""
    import zstandard

    buf = _readable(data)
    try:
        size = zstandard.frame_content_size(buf)
    except zstandard.ZstdError as exc:
        raise CodecError(f"zstd: not a zstd frame ({exc})") from None
    if max_size is not None and size > max_size:
        raise _too_big("zstd", size, max_size)
    try:
        if size >= 0:
            return _zstd_decompressor().decompress(buf)
        if max_size is not None:
            # no size in the frame header: the bound is the output buffer's size
            return _zstd_decompressor().decompress(buf, max_output_size=max_size)
        return _zstd_decompressor().decompressobj().decompress(buf)
    except zstandard.ZstdError as exc:
        if size < 0 and max_size is not None:
            raise CodecError(
                f"zstd: chunk is corrupt or decodes to more than the {max_size} bytes a chunk can hold ({exc})"
            ) from None
        raise CodecError(f"zstd: {exc}") from None


def zstd_decode_into(data: Buffer, out: memoryview) -> bool:
    """Decompress one zstd frame into ``out`` when its header states exactly ``len(out)`` bytes."""
    import zstandard

    buf = _readable(data)
    try:
        size = zstandard.frame_content_size(buf)
    except zstandard.ZstdError as exc:
        raise CodecError(f"zstd: not a zstd frame ({exc})") from None
    if size != len(out):
        return False  # no stated size, or another one: the bounded path decides
    try:
        if size <= _ZSTD_SMALL:
            # small chunks: python-zstandard and one copy costs less than numcodecs' call
            out[:] = _zstd_decompressor().decompress(buf)
        else:
            import numcodecs.zstd

            numcodecs.zstd.decompress(buf, out)  # no temporary; writes at most len(out) bytes
    except zstandard.ZstdError as exc:
        raise CodecError(f"zstd: {exc}") from None
    except (RuntimeError, ValueError) as exc:  # e.g. content that disagrees with the size the header states
        raise CodecError(f"zstd: {exc}") from None
    return True


#: most decompressed bytes one batch call returns (in a buffer of the library's, copied out after)
_ZSTD_BATCH_BYTES = 8 << 20


@functools.cache
def _zstd_batches() -> bool:
    """Whether python-zstandard's backend has the many-frames-per-call functions (its C
    backend, the one CPython wheels use, does; its cffi backend does not)."""
    import zstandard

    features = getattr(zstandard, "backend_features", ())
    return "multi_decompress_to_buffer" in features and "multi_compress_to_buffer" in features


def zstd_decode_batch_into(frames: Sequence[Buffer], rows: np.ndarray) -> bool:
    """Decompress ``frames[i]`` into ``rows[i]`` (C-contiguous uint8) with one library call per
    batch of up to 8 MiB of output, the GIL released once per call instead of once per frame.

    For small frames only (rows of at most 128 KiB, e.g. a shard's inner chunks); False, with
    nothing written, otherwise. A frame that does not decode to exactly its row's size raises.
    """
    count, size = rows.shape
    if count < 2 or not 0 < size <= _ZSTD_SMALL or not rows.flags.c_contiguous or not _zstd_batches():
        return False
    import zstandard

    decompressor = _zstd_decompressor()
    flat = memoryview(rows.reshape(-1).view(np.uint8))  # type: ignore[arg-type]  # ndarrays export buffers
    per_call = max(1, _ZSTD_BATCH_BYTES // size)
    sizes = np.full(min(count, per_call), size, dtype=np.uint64)  # native byte order, as the call wants
    at = 0
    for lo in range(0, count, per_call):
        part = list(frames[lo : lo + per_call])  # any contiguous buffer: the call reads it as bytes
        try:
            got = decompressor.multi_decompress_to_buffer(part, decompressed_sizes=sizes[: len(part)], threads=0)
        except (zstandard.ZstdError, ValueError, TypeError) as exc:
            raise CodecError(f"zstd: {exc}") from None
        for k in range(len(part)):
            flat[at : at + size] = got[k]
            at += size
    return True


def zstd_encode_batch(rows: np.ndarray, level: int, checksum: bool) -> list[Buffer] | None:
    """Compress each row of ``rows`` (C-contiguous uint8) into its own frame, in one library
    call: the bytes :func:`zstd_encode` gives each (tested), with the GIL released once.

    For rows of at most 128 KiB (where those bytes are numcodecs' too); None otherwise.
    """
    count, size = rows.shape
    if count < 2 or not 0 < size <= _ZSTD_SMALL or not _zstd_batches():
        return None
    got = _zstd_compressor(level, checksum).multi_compress_to_buffer(list(rows), threads=0)
    return [memoryview(got[k]) for k in range(count)]  # each keeps the library's buffer alive


@register_codec
class ZstdCodec(BytesBytesCodec):
    """Zstandard compression (zarr-python's ``ZstdCodec``; level 0 is zstd's default level)."""

    name = "zstd"

    def __init__(self, *, level: int = 0, checksum: bool = False) -> None:
        self.level = _int(level, "zstd level", -131072, 22)
        if not isinstance(checksum, bool):
            raise MetadataError(f"zstd checksum must be true or false, got {checksum!r}")
        self.checksum = checksum

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "configuration": {"level": self.level, "checksum": self.checksum}}

    def encode(self, data: Buffer, spec: ChunkSpec) -> Buffer:
        """Compress ``data`` into one zstd frame that states its decompressed size (the same
        bytes as numcodecs and zarr-python for the same level)."""
        return zstd_encode(data, self.level, self.checksum)

    def decode(self, data: Buffer, spec: ChunkSpec, max_size: int | None = None) -> Buffer:
        """Decompress one frame, refusing to produce more than ``max_size`` bytes."""
        return zstd_decode(data, max_size)

    decodes_into = True

    def decode_into(self, data: Buffer, spec: ChunkSpec, out: memoryview) -> bool:
        """Decompress straight into ``out`` when the frame states ``len(out)`` bytes."""
        return zstd_decode_into(data, out)

    def decode_batch_into(self, frames: Sequence[Buffer], spec: ChunkSpec, rows: np.ndarray) -> bool:
        """Decompress many small frames per library call (see :func:`zstd_decode_batch_into`)."""
        return zstd_decode_batch_into(frames, rows)

    def encode_batch(self, rows: np.ndarray, spec: ChunkSpec) -> list[Buffer] | None:
        """Compress many small chunks per library call (see :func:`zstd_encode_batch`)."""
        return zstd_encode_batch(rows, self.level, self.checksum)


# --- gzip -------------------------------------------------------------------------------------


def inflate(data: Buffer, max_size: int | None, codec: str = "gzip") -> Buffer:
    """Decompress gzip members or a zlib stream, refusing to produce more than ``max_size`` bytes."""
    buf = _readable(data)
    if max_size is None:
        try:
            return zlib.decompress(buf, 47)  # 32 + 15: a gzip or zlib header
        except zlib.error as exc:
            raise CodecError(f"{codec}: {exc}") from None
    parts: list[bytes] = []
    produced = 0
    rest: Any = buf
    while True:
        d = zlib.decompressobj(47)
        try:
            out = d.decompress(rest, max_size - produced + 1)
        except zlib.error as exc:
            raise CodecError(f"{codec}: {exc}") from None
        produced += len(out)
        if produced > max_size or d.unconsumed_tail:
            raise CodecError(f"{codec}: chunk decodes to more than the {max_size} bytes a chunk can hold")
        if not d.eof:
            raise CodecError(f"{codec}: the compressed stream is truncated")
        parts.append(out)
        rest = d.unused_data
        if not rest:  # a further member (concatenated gzip) is decoded in turn
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


@register_codec
class GzipCodec(BytesBytesCodec):
    """gzip (RFC 1952) compression (zarr-python's ``GzipCodec``; zlib streams are read too)."""

    name = "gzip"

    def __init__(self, *, level: int = 5) -> None:
        self.level = _int(level, "gzip level", 0, 9)

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "configuration": {"level": self.level}}

    def encode(self, data: Buffer, spec: ChunkSpec) -> Buffer:
        """Compress ``data`` as one gzip member (no file name, zero mtime)."""
        return zlib.compress(_readable(data), self.level, wbits=31)

    def decode(self, data: Buffer, spec: ChunkSpec, max_size: int | None = None) -> Buffer:
        """Decompress every gzip member, refusing to produce more than ``max_size`` bytes."""
        return inflate(data, max_size, "gzip")


# --- blosc ------------------------------------------------------------------------------------

_SHUFFLES = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}
_CNAMES = ("lz4", "lz4hc", "blosclz", "snappy", "zlib", "zstd")
#: a blosc (v1) header: version, versionlz, flags, typesize, then uint32 nbytes, blocksize, cbytes
_BLOSC_HEADER = 16


def _blosc() -> Any:
    import numcodecs.blosc

    return numcodecs.blosc


def _blosc_sizes(buf: Buffer) -> tuple[int, int]:
    """(nbytes, cbytes) from a blosc header (numcodecs names the function with or without ``_``)."""
    mod = _blosc()
    sizes = getattr(mod, "cbuffer_sizes", None) or mod._cbuffer_sizes
    nbytes, cbytes, _ = sizes(buf)
    return int(nbytes), int(cbytes)


@register_codec
class BloscCodec(BytesBytesCodec):
    """Blosc compression (zarr-python's ``BloscCodec``).

    As in zarr-python, ``typesize`` and ``shuffle`` left as None are set from the data
    type when the array is created: the element size, and ``bitshuffle`` for one-byte
    elements, ``shuffle`` otherwise.
    """

    name = "blosc"

    def __init__(
        self,
        *,
        typesize: int | None = None,
        cname: str = "zstd",
        clevel: int = 5,
        shuffle: str | int | None = None,
        blocksize: int = 0,
    ) -> None:
        if isinstance(shuffle, int) and not isinstance(shuffle, bool):
            shuffle = {v: k for k, v in _SHUFFLES.items()}.get(shuffle, shuffle)  # numcodecs' integers
        if shuffle is not None and shuffle not in _SHUFFLES:
            raise MetadataError(f"blosc shuffle must be one of {sorted(_SHUFFLES)}, got {shuffle!r}")
        if cname not in _CNAMES:
            raise MetadataError(f"blosc cname must be one of {list(_CNAMES)}, got {cname!r}")
        self.typesize = None if typesize is None else _int(typesize, "blosc typesize", 1, 255)
        self.cname = cname
        self.clevel = _int(clevel, "blosc clevel", 0, 9)
        self.shuffle: str | None = shuffle
        self.blocksize = _int(blocksize, "blosc blocksize", 0, 2**31 - 1)

    @classmethod
    def from_config(cls, configuration: Mapping[str, Any]) -> Self:
        """Build from a configuration (missing settings take zarr-python's defaults)."""
        return cls(**dict(configuration))

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        if self.typesize is not None:
            config["typesize"] = self.typesize
        config.update(cname=self.cname, clevel=self.clevel)
        if self.shuffle is not None:
            config["shuffle"] = self.shuffle
        config["blocksize"] = self.blocksize
        return {"name": self.name, "configuration": config}

    def evolve(self, spec: ChunkSpec) -> Self:
        """Fill ``typesize``/``shuffle`` from the data type where they were left unset."""
        item = spec.dtype.itemsize if spec.dtype.kind != "O" else 1
        item = max(1, min(item, 255))
        typesize = self.typesize if self.typesize is not None else item
        shuffle = self.shuffle if self.shuffle is not None else ("bitshuffle" if item == 1 else "shuffle")
        return type(self)(
            typesize=typesize, cname=self.cname, clevel=self.clevel, shuffle=shuffle, blocksize=self.blocksize
        )

    def encode(self, data: Buffer, spec: ChunkSpec) -> Buffer:
        """Compress ``data`` with this codec's settings."""
        codec = self if self.typesize is not None and self.shuffle is not None else self.evolve(spec)
        assert codec.shuffle is not None
        return _blosc().compress(
            data, codec.cname.encode("ascii"), codec.clevel, _SHUFFLES[codec.shuffle], codec.blocksize,
            codec.typesize,
        )  # fmt: skip

    def decode(self, data: Buffer, spec: ChunkSpec, max_size: int | None = None) -> Buffer:
        """Decompress, after checking the header's sizes against the data and ``max_size``."""
        return blosc_decode(data, max_size)

    decodes_into = True

    def decode_into(self, data: Buffer, spec: ChunkSpec, out: memoryview) -> bool:
        """Decompress straight into ``out`` when the header states ``len(out)`` bytes."""
        return blosc_decode_into(data, out)


def blosc_decode(data: Buffer, max_size: int | None) -> Buffer:
    """Decompress a blosc buffer, after checking its header's sizes against the data and ``max_size``."""
    buf = _readable(data)
    if len(buf) < _BLOSC_HEADER:
        raise CodecError(f"blosc: chunk of {len(buf)} bytes is shorter than a blosc header")
    # the header states both sizes: checked before blosc reads past the data or allocates
    nbytes, cbytes = _blosc_sizes(buf)
    if cbytes != len(buf):
        raise CodecError(f"blosc: header states {cbytes} compressed bytes, chunk holds {len(buf)}")
    if max_size is not None and nbytes > max_size:
        raise _too_big("blosc", nbytes, max_size)
    if nbytes == 0:
        return b""  # c-blosc reports an empty result as a failure
    try:
        return _blosc().decompress(buf)
    except RuntimeError as exc:
        raise CodecError(f"blosc: {exc}") from None


def blosc_decode_into(data: Buffer, out: memoryview) -> bool:
    """Decompress a blosc buffer into ``out`` when its header states exactly ``len(out)`` bytes."""
    buf = _readable(data)
    if len(buf) < _BLOSC_HEADER:
        raise CodecError(f"blosc: chunk of {len(buf)} bytes is shorter than a blosc header")
    nbytes, cbytes = _blosc_sizes(buf)
    if cbytes != len(buf) or nbytes != len(out) or nbytes == 0:
        return False  # the bounded path reports it
    try:
        _blosc().decompress(buf, out)
    except RuntimeError as exc:
        raise CodecError(f"blosc: {exc}") from None
    return True


#: numcodecs compressor ids -> a decoder into a given buffer (see BytesBytesCodec.decode_into)
INTO_NUMCODECS: dict[str, Any] = {
    "zstd": lambda data, out: zstd_decode_into(data, out),
    "blosc": lambda data, out: blosc_decode_into(data, out),
}


# --- the other numcodecs compressors Zarr v2 data uses -----------------------------------------


def lz4_decode(codec: Any, data: Buffer, max_size: int) -> Buffer:
    """numcodecs' LZ4 (a little-endian uint32 size, then an LZ4 block), size checked first."""
    buf = _readable(data)
    if len(buf) < 4:
        raise CodecError(f"lz4: chunk of {len(buf)} bytes has no size header")
    size = int.from_bytes(bytes(buf[:4]), "little")
    if size > max_size:
        raise _too_big("lz4", size, max_size)
    return codec.decode(buf)


def bz2_decode(codec: Any, data: Buffer, max_size: int) -> Buffer:
    """bzip2 streams, decompressed with an output bound."""
    import bz2

    return _stream_decode("bz2", bz2.BZ2Decompressor, data, max_size)


def lzma_decode(codec: Any, data: Buffer, max_size: int) -> Buffer:
    """lzma/xz streams (numcodecs' format and filters), decompressed with an output bound."""
    import lzma

    fmt = getattr(codec, "format", lzma.FORMAT_AUTO)
    filters = getattr(codec, "filters", None) if fmt == lzma.FORMAT_RAW else None
    return _stream_decode("lzma", lambda: lzma.LZMADecompressor(format=fmt, filters=filters), data, max_size)


def xz_decode(data: Buffer, max_size: int) -> Buffer:
    """xz / lzma-alone streams (N5's ``xz``), decompressed with an output bound."""
    import lzma

    return _stream_decode("xz", lzma.LZMADecompressor, data, max_size)


def _stream_decode(codec: str, make: Any, data: Buffer, max_size: int) -> Buffer:
    parts: list[bytes] = []
    produced = 0
    rest: Any = bytes(_readable(data))
    while rest:
        d = make()
        try:
            out = d.decompress(rest, max_size - produced + 1)
        except (OSError, EOFError, ValueError) as exc:
            raise CodecError(f"{codec}: {exc}") from None
        produced += len(out)
        if produced > max_size or (not d.eof and d.needs_input is False):
            raise CodecError(f"{codec}: chunk decodes to more than the {max_size} bytes a chunk can hold")
        if not d.eof:
            raise CodecError(f"{codec}: the compressed stream is truncated")
        parts.append(out)
        rest = d.unused_data
    return b"".join(parts)


#: numcodecs compressor ids -> a decoder that honours an output bound
BOUNDED_NUMCODECS: dict[str, Any] = {
    "zstd": lambda codec, data, max_size: zstd_decode(data, max_size),
    "gzip": lambda codec, data, max_size: inflate(data, max_size, "gzip"),
    "zlib": lambda codec, data, max_size: inflate(data, max_size, "zlib"),
    "blosc": lambda codec, data, max_size: blosc_decode(data, max_size),
    "lz4": lz4_decode,
    "bz2": bz2_decode,
    "lzma": lzma_decode,
}
