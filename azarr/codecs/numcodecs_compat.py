"""numcodecs codecs as pipeline codecs (what Zarr v2 and zarr-python's ``numcodecs.*`` names use).

zarr-python 3 writes numcodecs codecs in v3 metadata as ``{"name": "numcodecs.<id>",
"configuration": {<the numcodecs config without "id">}}``, and sorts them into the three
codec kinds (filters such as ``delta`` are array->array, ``pcodec``/``zfpy`` are
array->bytes, the rest bytes->bytes). It also fills in settings the data type decides
when an array is created (``shuffle``'s ``elementsize``, ``fixedscaleoffset``/``quantize``'s
``dtype``, ``astype``'s ``decode_dtype``): :meth:`evolve` does the same here.

numcodecs' compressors release the GIL, so chunks decoded in the core's thread pool
decompress in parallel with the next I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Self

import numcodecs
import numpy as np
from numcodecs.compat import ensure_contiguous_ndarray_like

from azarr.codecs.abc import ArrayArrayCodec, ArrayBytesCodec, Buffer, BytesBytesCodec, ChunkSpec, Codec
from azarr.errors import CodecError, MetadataError

PREFIX = "numcodecs."

# zarr-python's ``numcodecs.<id>`` names: which kind of codec each numcodecs id is
_ARRAY_ARRAY_IDS = frozenset({"delta", "fixedscaleoffset", "quantize", "packbits", "astype", "bitround"})
_ARRAY_BYTES_IDS = frozenset({"pcodec", "zfpy"})
#: checksums append 4 bytes, so the size after them stays known
_CHECKSUM_IDS = frozenset({"crc32", "crc32c", "adler32", "fletcher32", "jenkins_lookup3"})
#: the setting zarr-python fills from the array's dtype when it was left out
_DTYPE_SETTINGS = {"fixedscaleoffset": "dtype", "quantize": "dtype", "astype": "decode_dtype"}


def get_numcodec(config: Mapping[str, Any], what: str = "codec") -> numcodecs.abc.Codec:
    """Instantiate a numcodecs codec from its ``{"id": ...}`` config; unknown ids raise MetadataError."""
    try:
        return numcodecs.get_codec(dict(config))
    except (ValueError, TypeError, KeyError) as exc:
        raise MetadataError(f"unsupported {what} {dict(config)!r}: {exc}") from None


def numcodecs_entry(codec: numcodecs.abc.Codec) -> dict[str, Any]:
    """A numcodecs codec as zarr-python 3 writes it: ``{"name": "numcodecs.<id>", "configuration": ...}``."""
    cfg = dict(codec.get_config())
    return {"name": PREFIX + str(cfg.pop("id")), "configuration": cfg}


class _Numcodec(Codec):
    """Holds the numcodecs config (with ``id``) and the codec built from it (deferred until
    :meth:`evolve` when it needs a setting only the dtype gives)."""

    def __init__(self, codec: numcodecs.abc.Codec | Mapping[str, Any], name: str | None = None) -> None:
        if isinstance(codec, Mapping):
            self.config = dict(codec)
            self._codec: numcodecs.abc.Codec | None = None
        else:
            self.config = dict(codec.get_config())
            self._codec = codec
        self.codec_id = str(self.config["id"])
        self.name = name or PREFIX + self.codec_id

    @property
    def codec(self) -> numcodecs.abc.Codec:
        """The numcodecs codec (built on first use)."""
        if self._codec is None:
            self._codec = get_numcodec(self.config, f"codec {self.name!r}")
        return self._codec

    def to_config(self) -> dict[str, Any]:
        cfg = dict(self.config)
        cfg.pop("id", None)
        return {"name": self.name, "configuration": cfg}

    def _evolved(self, setting: str, value: Any) -> Self:
        if self.config.get(setting) is not None:
            return self
        out = type(self)({**self.config, setting: value}, self.name)
        out.codec  # noqa: B018 - build now, so a bad configuration fails when the pipeline is built
        return out


class NumcodecsBytesCodec(_Numcodec, BytesBytesCodec):
    """A numcodecs compressor as a bytes->bytes codec (Zarr v2 ``compressor``, v3 ``numcodecs.*``)."""

    @classmethod
    def from_numcodecs_config(cls, config: Mapping[str, Any], what: str = "compressor") -> NumcodecsBytesCodec:
        """Build from a numcodecs ``{"id": ...}`` config."""
        return cls(get_numcodec(config, what))

    def evolve(self, spec: ChunkSpec) -> Self:
        """``shuffle`` without an ``elementsize`` takes the item size (as zarr-python)."""
        if self.codec_id == "shuffle":
            return self._evolved("elementsize", spec.dtype.itemsize)
        self.codec  # noqa: B018 - a bad configuration fails when the pipeline is built
        return self

    def encoded_size(self, size: int | None) -> int | None:
        if size is not None and self.codec_id in _CHECKSUM_IDS:
            return size + 4
        return None

    def encode(self, data: Buffer, spec: ChunkSpec) -> Buffer:
        """Compress ``data``."""
        return self.codec.encode(data)

    @property
    def decodes_into(self) -> bool:  # type: ignore[override]
        """zstd and blosc decode into a given buffer (with their stated sizes checked first)."""
        from azarr.codecs.compression import INTO_NUMCODECS

        return self.codec_id in INTO_NUMCODECS

    def decode_into(self, data: Buffer, spec: ChunkSpec, out: memoryview) -> bool:
        """Decompress straight into ``out`` (zstd, blosc) when the data states ``len(out)`` bytes."""
        from azarr.codecs.compression import INTO_NUMCODECS

        into = INTO_NUMCODECS.get(self.codec_id)
        return bool(into(data, out)) if into is not None else False

    def decode(self, data: Buffer, spec: ChunkSpec, max_size: int | None = None) -> Buffer:
        """Decompress ``data``, refusing to produce more than ``max_size`` bytes.

        The compressors Zarr data uses (zstd, gzip, zlib, blosc, lz4, bz2, lzma) are decoded
        with a bound, so a decompression bomb fails before it allocates; any other is checked
        after decoding.
        """
        if max_size is not None:
            from azarr.codecs.compression import BOUNDED_NUMCODECS

            bounded = BOUNDED_NUMCODECS.get(self.codec_id)
            if bounded is not None:
                return bounded(self.codec, data, max_size)
        out = self.codec.decode(data)
        if max_size is not None and memoryview(out).nbytes > max_size:
            raise CodecError(f"{self.name}: chunk decodes to more than the {max_size} bytes a chunk can hold")
        return out


class NumcodecsArrayCodec(_Numcodec, ArrayArrayCodec):
    """A numcodecs filter as an array->array codec (v3 ``numcodecs.delta`` etc.)."""

    # a filter can reject one chunk's values after accepting another's
    content_can_fail = True

    def evolve(self, spec: ChunkSpec) -> Self:
        """Fill the dtype setting zarr-python fills (``fixedscaleoffset``, ``quantize``, ``astype``)."""
        setting = _DTYPE_SETTINGS.get(self.codec_id)
        if setting is not None:
            return self._evolved(setting, str(spec.dtype))
        self.codec  # noqa: B018 - a bad configuration fails when the pipeline is built
        return self

    def resolve(self, spec: ChunkSpec) -> ChunkSpec:
        """The encoded chunk: packbits packs to uint8 bytes; ``astype`` settings change the dtype."""
        if self.codec_id == "packbits":
            return replace(spec, shape=(1 + math.ceil(math.prod(spec.shape) / 8),), dtype=np.dtype("u1"))
        if self.codec_id == "astype":
            return replace(spec, dtype=np.dtype(self.config["encode_dtype"]))
        astype = self.config.get("astype") if self.codec_id in ("delta", "fixedscaleoffset") else None
        if astype:
            return replace(spec, dtype=np.dtype(astype))
        return spec

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        """Apply the filter; the result has the shape and dtype :meth:`resolve` states."""
        out_spec = self.resolve(spec)
        out = np.asarray(ensure_contiguous_ndarray_like(self.codec.encode(np.ascontiguousarray(chunk))))
        if out.dtype != out_spec.dtype:
            # same width: the filter handed back the bits under another dtype (bitround's uints)
            same_width = out.dtype.itemsize == out_spec.dtype.itemsize
            out = out.view(out_spec.dtype) if same_width else out.astype(out_spec.dtype)
        return out.reshape(out_spec.shape)

    def decode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        """Undo the filter into ``spec``'s dtype and shape."""
        out = np.asarray(ensure_contiguous_ndarray_like(self.codec.decode(np.ascontiguousarray(chunk))))
        if out.dtype != spec.dtype:
            if out.nbytes == spec.nbytes:
                out = out.view(spec.dtype)
            elif out.size == math.prod(spec.shape):
                out = out.astype(spec.dtype)
            else:
                raise CodecError(f"{self.name} decoded {out.nbytes} bytes, expected {spec.nbytes}")
        return out.reshape(spec.shape)


class NumcodecsArrayBytesCodec(_Numcodec, ArrayBytesCodec):
    """A numcodecs codec that serialises arrays itself (v3 ``numcodecs.pcodec``, ``numcodecs.zfpy``)."""

    # a serialiser can reject one chunk's values after accepting another's
    content_can_fail = True

    def evolve(self, spec: ChunkSpec) -> Self:
        """Build the codec now, so a bad configuration fails when the pipeline is built."""
        self.codec  # noqa: B018
        return self

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer:
        """Serialise the chunk."""
        return self.codec.encode(np.ascontiguousarray(chunk))

    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        """Deserialise into ``spec``'s dtype and shape."""
        out = np.asarray(ensure_contiguous_ndarray_like(self.codec.decode(bytes(data))))
        if out.dtype != spec.dtype:
            out = out.astype(spec.dtype)
        if out.size != math.prod(spec.shape):
            raise CodecError(f"{self.name} decoded {out.size} items, expected {math.prod(spec.shape)}")
        return out.reshape(spec.shape)


def numcodecs_v3_codec(name: str, configuration: Mapping[str, Any], where: str) -> Codec:
    """A v3 codec entry named ``numcodecs.<id>`` as a pipeline codec (served by numcodecs)."""
    codec_id = name.removeprefix(PREFIX)
    config = {**dict(configuration), "id": codec_id}
    registry = numcodecs.registry
    if codec_id not in registry.codec_registry and codec_id not in registry.entries:
        raise MetadataError(f"{where}: unknown codec {name!r} (numcodecs has no codec {codec_id!r})")
    if codec_id in _ARRAY_ARRAY_IDS:
        return NumcodecsArrayCodec(config, name)
    if codec_id in _ARRAY_BYTES_IDS:
        return NumcodecsArrayBytesCodec(config, name)
    return NumcodecsBytesCodec(config, name)


__all__ = [
    "NumcodecsArrayBytesCodec",
    "NumcodecsArrayCodec",
    "NumcodecsBytesCodec",
    "get_numcodec",
    "numcodecs_entry",
    "numcodecs_v3_codec",
]
