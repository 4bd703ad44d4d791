"""The ``sharding_indexed`` codec (array->bytes): many inner chunks in one stored object.

A shard of ``shard_shape`` is cut into inner chunks of ``chunk_shape``; each inner chunk
goes through the inner codecs (``codecs``), the encoded chunks are concatenated in Morton
order (as zarr-python writes them; the spec allows any order), and an index of
``(offset, nbytes)`` pairs, one per inner chunk in C order, is encoded through
``index_codecs`` (``bytes`` + ``crc32c`` by default) and placed at the ``start`` or the
``end`` of the shard. ``(2^64-1, 2^64-1)`` marks an inner chunk that is not stored: it
reads as the fill value, and inner chunks equal to the fill value are never stored.

Everything here is pure CPU and knows no stores: :meth:`ShardingCodec.encode` and
:meth:`ShardingCodec.decode` handle whole shards (nested sharding is an inner codec
like any other, so it works by recursion), and the pieces the core's planning reader
needs — the index's size and place, index decoding, the inner pipeline, assembling a
shard from encoded inner chunks — are public methods of the codec once it is evolved.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

import numpy as np

from azarr.codecs.abc import ArrayBytesCodec, Buffer, ChunkSpec, Codec
from azarr.codecs.bytes import BytesCodec
from azarr.codecs.checksum import Crc32cCodec
from azarr.codecs.pipeline import CodecPipeline
from azarr.codecs.registry import codec_from_config, register_codec
from azarr.errors import CodecError, MetadataError

#: an index entry whose offset and length are both this marks an inner chunk that is not stored
MAX_UINT64 = 2**64 - 1
INDEX_LOCATIONS = ("start", "end")
_INDEX_DTYPE = np.dtype("<u8")
_CONFIG_KEYS = frozenset({"chunk_shape", "codecs", "index_codecs", "index_location"})


def morton_order(shape: tuple[int, ...]) -> np.ndarray:
    """Flat C-order indices of a grid of ``shape``, sorted by compressed Morton code.

    The first axis takes the lowest bit of each round, and axes run out of bits at their
    own length (zarr-python's order, so shards written here are byte-identical to its own).
    """
    n = math.prod(shape)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    if not shape:
        return np.zeros(1, dtype=np.intp)
    coords = np.indices(shape, dtype=np.uint64).reshape(len(shape), -1)
    bits = [(s - 1).bit_length() for s in shape]
    codes = np.zeros(n, dtype=np.uint64)
    out_bit = 0
    for bit in range(max(bits, default=0)):
        for axis, axis_bits in enumerate(bits):
            if bit < axis_bits:
                codes |= ((coords[axis] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(out_bit)
                out_bit += 1
    return np.argsort(codes, kind="stable").astype(np.intp)


def equals_fill(chunk: np.ndarray, fill: Any) -> bool:
    """Whether every element of ``chunk`` equals ``fill`` (NaN and NaT compare equal to themselves)."""
    if fill is None:
        return False
    if chunk.dtype.kind == "O":
        return all(v == fill for v in chunk.flat)
    if chunk.dtype.kind in "fc" and np.isnan(fill):
        return bool(np.all(np.isnan(chunk)))
    if chunk.dtype.kind in "Mm" and np.isnat(fill):
        return bool(np.all(np.isnat(chunk)))
    return bool(np.all(chunk == fill))


def _fill_of(spec: ChunkSpec) -> Any:
    if spec.fill_value is None:
        return None if spec.dtype.kind == "O" else np.zeros((), spec.dtype)[()]
    return spec.fill_value


def _nbytes(data: Buffer) -> int:
    return data.nbytes if isinstance(data, (memoryview, np.ndarray)) else len(data)


def _user_codecs(values: Any, what: str) -> tuple[Codec, ...]:
    """Codecs from codec objects (ours, zarr-python's, numcodecs'), entries or names."""
    from azarr.codecs.v3 import _as_codec  # the creation-keyword parser; v3 does not import this module

    if values is None:
        raise MetadataError(f"sharding_indexed: {what} must be a list of codecs, got None")
    if isinstance(values, (str, Mapping, Codec)) or not isinstance(values, Sequence):
        values = [values]
    return tuple(_as_codec(v, f"sharding_indexed {what}") for v in values)


@register_codec
class ShardingCodec(ArrayBytesCodec):
    """Store a shard of inner chunks as one object with an index (zarr-python's ``ShardingCodec``).

    ``chunk_shape`` is the inner chunk shape (the shard shape must be a multiple of it);
    ``codecs`` the inner chunks' codecs (default: ``bytes``); ``index_codecs`` the index's
    (default: ``bytes`` little-endian + ``crc32c``; they must produce a fixed size);
    ``index_location`` ``"end"`` (default) or ``"start"``.
    """

    name = "sharding_indexed"

    def __init__(
        self,
        *,
        chunk_shape: Sequence[int],
        codecs: Any = None,
        index_codecs: Any = None,
        index_location: str = "end",
    ) -> None:
        try:
            shape = tuple(int(c) for c in chunk_shape)
        except (TypeError, ValueError):
            raise MetadataError(
                f"sharding_indexed: chunk_shape must be a list of integers, got {chunk_shape!r}"
            ) from None
        if any(c < 1 for c in shape) or any(isinstance(c, bool) for c in chunk_shape):
            raise MetadataError(
                f"sharding_indexed: chunk_shape must hold positive integers, got {list(chunk_shape)}"
            )
        if index_location not in INDEX_LOCATIONS:
            raise MetadataError(
                f"sharding_indexed: index_location must be 'start' or 'end', got {index_location!r}"
            )
        self.chunk_shape: tuple[int, ...] = shape
        self.codecs: tuple[Codec, ...] = (BytesCodec(),) if codecs is None else _user_codecs(codecs, "codecs")
        self.index_codecs: tuple[Codec, ...] = (
            (BytesCodec(endian="little"), Crc32cCodec())
            if index_codecs is None
            else _user_codecs(index_codecs, "index_codecs")
        )
        self.index_location = index_location
        self.content_can_fail = any(c.content_can_fail for c in self.codecs)
        # set by evolve(): the layout of one shard of the array
        self._inner: CodecPipeline | None = None
        self._index: CodecPipeline | None = None
        self._shard_shape: tuple[int, ...] = ()
        self._chunks_per_shard: tuple[int, ...] = ()
        self._index_nbytes = 0
        self._morton: np.ndarray | None = None
        self._fill: Any = None
        self._coords: list[tuple[int, ...]] = []

    # --- configuration --------------------------------------------------------------------

    @classmethod
    def from_config(cls, configuration: Mapping[str, Any]) -> Self:
        """Build from a metadata ``configuration`` (entries are parsed as metadata, not creation keywords)."""
        config = dict(configuration)
        unknown = set(config) - _CONFIG_KEYS
        if unknown:
            raise MetadataError(f"unknown setting(s) {sorted(unknown)}")
        if "chunk_shape" not in config:
            raise MetadataError("missing 'chunk_shape'")

        def parse(entries: Any, what: str) -> tuple[Codec, ...] | None:
            if entries is None:
                return None
            if not isinstance(entries, (list, tuple)) or not entries:
                raise MetadataError(f"{what} must be a non-empty list of codecs, got {entries!r}")
            return tuple(codec_from_config(e, f"sharding_indexed {what}") for e in entries)

        return cls(
            chunk_shape=config["chunk_shape"],
            codecs=parse(config.get("codecs"), "codecs"),
            index_codecs=parse(config.get("index_codecs"), "index_codecs"),
            index_location=config.get("index_location", "end"),
        )

    def to_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "configuration": {
                "chunk_shape": list(self.chunk_shape),
                "codecs": [c.to_config() for c in self.codecs],
                "index_codecs": [c.to_config() for c in self.index_codecs],
                "index_location": self.index_location,
            },
        }

    def evolve(self, spec: ChunkSpec) -> Self:
        """Bind the codec to the array's shard ``spec``: check the shapes, build the inner and index pipelines."""
        shard = spec.shape
        if len(shard) != len(self.chunk_shape):
            raise MetadataError(
                f"sharding_indexed: chunk_shape {list(self.chunk_shape)} has {len(self.chunk_shape)} dimensions, "
                f"the shard {list(shard)} has {len(shard)}"
            )
        if any(s % c for s, c in zip(shard, self.chunk_shape)):
            raise MetadataError(
                f"sharding_indexed: the shard shape {list(shard)} must be a multiple of the inner chunk shape "
                f"{list(self.chunk_shape)}"
            )
        per_shard = tuple(s // c for s, c in zip(shard, self.chunk_shape))
        inner = CodecPipeline(
            self.codecs,
            ChunkSpec(self.chunk_shape, spec.dtype, spec.fill_value, "C"),
            where="sharding_indexed codecs",
        )
        index = CodecPipeline(
            self.index_codecs,
            ChunkSpec((*per_shard, 2), _INDEX_DTYPE, MAX_UINT64, "C"),
            where="sharding_indexed index_codecs",
        )
        index_nbytes = index.encoded_size()
        if index_nbytes is None:
            raise MetadataError(
                "sharding_indexed: index_codecs must encode to a fixed size (e.g. bytes + crc32c), "
                f"got {[c.name for c in index.codecs]}"
            )
        out = type(self)(
            chunk_shape=self.chunk_shape,
            codecs=inner.codecs,  # evolved: settings the data type decides are filled in, as zarr-python does
            index_codecs=index.codecs,
            index_location=self.index_location,
        )
        out._inner, out._index = inner, index
        out._shard_shape, out._chunks_per_shard = shard, per_shard
        out._index_nbytes = index_nbytes
        out._morton = morton_order(per_shard)
        out._fill = _fill_of(spec)
        out._coords = inner_chunk_coords(per_shard)
        return out

    def _evolved(self, spec: ChunkSpec) -> ShardingCodec:
        if self._inner is not None and self._shard_shape == spec.shape:
            return self
        return self.evolve(spec)

    # --- the shard's layout (after evolve) -------------------------------------------------

    @property
    def inner_pipeline(self) -> CodecPipeline:
        """The pipeline of one inner chunk."""
        if self._inner is None:
            raise MetadataError("sharding_indexed: the codec is not bound to an array yet (evolve it first)")
        return self._inner

    @property
    def chunks_per_shard(self) -> tuple[int, ...]:
        """Inner chunks along each axis of a shard."""
        return self._chunks_per_shard

    @property
    def inner_count(self) -> int:
        """Inner chunks per shard."""
        return math.prod(self._chunks_per_shard)

    @property
    def index_nbytes(self) -> int:
        """Bytes of the encoded index (fixed for a given shard shape)."""
        return self._index_nbytes

    def inner_region(self, flat: int) -> tuple[slice, ...]:
        """Where inner chunk ``flat`` (its C-order number in the shard) lies inside the shard."""
        # made on demand: a table of every region cost a millisecond per 256 inner chunks at open
        return tuple(slice(i * c, (i + 1) * c) for i, c in zip(self._coords[flat], self.chunk_shape))

    def inner_coords(self, flat: int) -> tuple[int, ...]:
        """The coordinates within the shard of inner chunk ``flat`` (its C-order number)."""
        return self._coords[flat]

    def decode_index(self, data: Buffer, shard_nbytes: int | None = None) -> np.ndarray:
        """The index as an ``(inner_count, 2)`` uint64 array of (offset, nbytes), C order.

        Checksum mismatches, malformed entries and (when ``shard_nbytes`` is given)
        entries pointing past the end of the shard raise :class:`CodecError`.
        """
        if self._index is None:
            raise MetadataError("sharding_indexed: the codec is not bound to an array yet (evolve it first)")
        if _nbytes(data) != self._index_nbytes:
            raise CodecError(f"shard index holds {_nbytes(data)} bytes, expected {self._index_nbytes}")
        try:
            table = self._index.decode(data)
        except CodecError as exc:
            raise CodecError(f"shard index: {exc}") from exc
        except Exception as exc:
            raise CodecError(f"shard index failed to decode: {type(exc).__name__}: {exc}") from exc
        # a copy: decoding may give a view of ``data``, and a cached index must not keep the
        # shard it was read from (megabytes) alive
        table = np.array(table, dtype=np.uint64).reshape(-1, 2)
        offsets, lengths = table[:, 0], table[:, 1]
        limit_int = (1 << 63) - 1 if shard_nbytes is None else shard_nbytes
        # the common case first, in three array operations: every entry stored and inside the shard
        # (no sum can wrap: both terms are at most limit < 2**63)
        if table.size and int(table.max()) <= limit_int and int((offsets + lengths).max()) <= limit_int:
            return table
        empty = offsets == MAX_UINT64
        # whole-array checks, no masked copies: an index is checked on every cold shard read
        half = empty != (lengths == MAX_UINT64)
        if half.any():
            bad = int(np.flatnonzero(half)[0])
            raise CodecError(
                f"shard index entry {bad} is half empty: offset {offsets[bad]}, nbytes {lengths[bad]}"
            )
        limit = np.uint64(limit_int)
        within = np.minimum(offsets, limit)
        past = ~empty & ((offsets > limit) | (lengths > limit - within))  # end > limit, without wrapping
        if past.any():
            i = int(np.flatnonzero(past)[0])
            what = f"the {int(limit)}-byte shard" if shard_nbytes is not None else "any object"
            raise CodecError(
                f"shard index is corrupt: an inner chunk at offset {int(offsets[i])} with {int(lengths[i])} bytes "
                f"lies past the end of {what}"
            )
        return table

    def encode_index(self, table: np.ndarray) -> bytes:
        """Encode an ``(inner_count, 2)`` index table through the index codecs."""
        if self._index is None:
            raise MetadataError("sharding_indexed: the codec is not bound to an array yet (evolve it first)")
        data = self._index.encode(
            np.ascontiguousarray(table, dtype=np.uint64).reshape((*self._chunks_per_shard, 2))
        )
        return data if isinstance(data, bytes) else memoryview(data).tobytes()  # type: ignore[arg-type]

    def index_of_shard(self, data: Buffer) -> np.ndarray:
        """The decoded index of a whole stored shard ``data``."""
        view = memoryview(data).cast("B")  # type: ignore[arg-type]
        n = self._index_nbytes
        if len(view) < n:
            raise CodecError(f"shard holds {len(view)} bytes, too few for its {n}-byte index")
        part = view[:n] if self.index_location == "start" else view[len(view) - n :]
        return self.decode_index(part, len(view))

    def assemble(
        self, encoded: Mapping[int, Buffer], alloc: Callable[[int], bytearray] | None = None,
    ) -> tuple[bytes | bytearray, bytes, np.ndarray] | None:
        """A shard from encoded inner chunks (C-order number -> bytes): ``(shard, index bytes, index table)``.

        Chunks are laid out in Morton order; missing or empty ones get the empty entry.
        None when no chunk is left (the shard should be deleted, not stored). With ``alloc``
        the shard is written into ``alloc(size)`` (e.g. a reused buffer) instead of new bytes.
        """
        assert self._morton is not None
        table = np.full((self.inner_count, 2), MAX_UINT64, dtype=np.uint64)
        parts: list[Buffer] = []
        pos = self._index_nbytes if self.index_location == "start" else 0
        for flat in self._morton:
            data = encoded.get(int(flat))
            if data is None:
                continue
            n = _nbytes(data)
            if not n:
                continue
            table[flat] = (pos, n)
            parts.append(data)
            pos += n
        if not parts:
            return None
        index = self.encode_index(table)
        pieces = [index, *parts] if self.index_location == "start" else [*parts, index]
        if alloc is None:
            return b"".join(pieces), index, table  # type: ignore[arg-type]  # every Buffer exports the buffer protocol
        sources = [memoryview(piece).cast("B") for piece in pieces]  # type: ignore[arg-type]
        shard = alloc(sum(len(src) for src in sources))
        view = memoryview(shard)
        at = 0
        for src in sources:
            view[at : at + len(src)] = src
            at += len(src)
        view.release()  # the caller gets the buffer with no view of it left behind
        return shard, index, table

    # --- whole shards ------------------------------------------------------------------------

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer:
        """Encode a whole shard; inner chunks equal to the fill value are not stored."""
        codec = self._evolved(spec)
        inner = codec.inner_pipeline
        fill = codec._fill
        encoded: dict[int, Buffer] = {}
        for flat in range(codec.inner_count):
            part = np.ascontiguousarray(chunk[codec.inner_region(flat)])
            if equals_fill(part, fill):
                continue
            try:
                encoded[flat] = inner.encode(part)
            except CodecError as exc:
                raise CodecError(f"inner chunk {codec.inner_coords(flat)}: {exc}") from exc
        built = codec.assemble(encoded)
        if built is None:  # nothing but fill: an index of empty entries alone
            return codec.encode_index(np.full((codec.inner_count, 2), MAX_UINT64, dtype=np.uint64))
        return built[0]

    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        """Decode a whole shard (missing inner chunks read as the fill value)."""
        codec = self._evolved(spec)
        view = memoryview(data).cast("B")  # type: ignore[arg-type]
        table = codec.index_of_shard(view)
        out = np.empty(spec.shape, dtype=spec.dtype)
        inner = codec.inner_pipeline
        for flat in range(codec.inner_count):
            region = codec.inner_region(flat)
            offset, nbytes = (int(v) for v in table[flat])
            if offset == MAX_UINT64:
                out[region] = codec._fill
                continue
            try:
                out[region] = inner.decode(view[offset : offset + nbytes])
            except CodecError as exc:
                raise CodecError(f"inner chunk {codec.inner_coords(flat)}: {exc}") from exc
            except Exception as exc:
                raise CodecError(
                    f"inner chunk {codec.inner_coords(flat)} failed to decode: {type(exc).__name__}: {exc}"
                ) from exc
        return out


def sole_sharding_codec(pipeline: CodecPipeline) -> ShardingCodec | None:
    """The sharding codec when it is an array's only codec (zarr-python's rule for ``chunks``/``shards``).

    Only then are shards read by planned byte ranges and do ``chunks``/``shards`` mean the
    inner chunks/the shards; with codecs around it, a shard is an ordinary chunk read whole.
    """
    codec = pipeline.array_bytes
    if isinstance(codec, ShardingCodec) and not pipeline.array_array and not pipeline.bytes_bytes:
        return codec
    return None


def inner_chunk_coords(chunks_per_shard: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every inner chunk's coordinates in a shard, in C order (the index's order)."""
    return list(itertools.product(*(range(n) for n in chunks_per_shard)))


__all__ = [
    "INDEX_LOCATIONS",
    "MAX_UINT64",
    "ShardingCodec",
    "equals_fill",
    "inner_chunk_coords",
    "morton_order",
    "sole_sharding_codec",
]
