"""numcodecs codecs as pipeline codecs (what Zarr v2 and zarr-python's ``numcodecs.*`` names use).

numcodecs' compressors release the GIL, so chunks decoded in the core's thread pool
decompress in parallel with the next I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numcodecs
import numpy as np
from numcodecs.compat import ensure_contiguous_ndarray_like

from azarr.codecs.abc import ArrayArrayCodec, Buffer, BytesBytesCodec, ChunkSpec
from azarr.errors import CodecError, MetadataError


def get_numcodec(config: Mapping[str, Any], what: str = "codec") -> numcodecs.abc.Codec:
    """Instantiate a numcodecs codec from its ``{"id": ...}`` config; unknown ids raise MetadataError."""
    try:
        return numcodecs.get_codec(dict(config))
    except (ValueError, TypeError, KeyError) as exc:
        raise MetadataError(f"unsupported {what} {dict(config)!r}: {exc}") from None


class NumcodecsBytesCodec(BytesBytesCodec):
    """A numcodecs compressor as a bytes->bytes codec (Zarr v2 ``compressor``, v3 ``numcodecs.*``)."""

    def __init__(self, codec: numcodecs.abc.Codec, name: str | None = None) -> None:
        self.codec = codec
        self.name = name or f"numcodecs.{codec.codec_id}"

    @classmethod
    def from_numcodecs_config(cls, config: Mapping[str, Any], what: str = "compressor") -> NumcodecsBytesCodec:
        """Build from a numcodecs ``{"id": ...}`` config."""
        return cls(get_numcodec(config, what))

    def to_config(self) -> dict[str, Any]:
        cfg = dict(self.codec.get_config())
        cfg.pop("id", None)
        return {"name": self.name, "configuration": cfg}

    def encode(self, data: Buffer, spec: ChunkSpec) -> Buffer:
        """Compress ``data``."""
        return self.codec.encode(data)

    def decode(self, data: Buffer, spec: ChunkSpec, max_size: int | None = None) -> Buffer:
        """Decompress ``data``."""
        return self.codec.decode(data)


class NumcodecsArrayCodec(ArrayArrayCodec):
    """A numcodecs filter that maps arrays to arrays of the same shape (v3 ``numcodecs.delta`` etc.)."""

    content_can_fail = True

    def __init__(self, codec: numcodecs.abc.Codec, name: str | None = None) -> None:
        self.codec = codec
        self.name = name or f"numcodecs.{codec.codec_id}"

    def to_config(self) -> dict[str, Any]:
        cfg = dict(self.codec.get_config())
        cfg.pop("id", None)
        return {"name": self.name, "configuration": cfg}

    def resolve(self, spec: ChunkSpec) -> ChunkSpec:
        astype = getattr(self.codec, "astype", None)
        if astype is not None:
            from dataclasses import replace

            return replace(spec, dtype=np.dtype(astype))
        return spec

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        """Apply the filter; the result keeps the chunk's shape."""
        out = ensure_contiguous_ndarray_like(self.codec.encode(np.ascontiguousarray(chunk)))
        return np.asarray(out).reshape(chunk.shape)

    def decode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        """Undo the filter into ``spec``'s dtype and shape."""
        out = np.asarray(ensure_contiguous_ndarray_like(self.codec.decode(np.ascontiguousarray(chunk))))
        if out.dtype != spec.dtype:
            if out.nbytes != spec.nbytes:
                raise CodecError(f"{self.name} decoded {out.nbytes} bytes, expected {spec.nbytes}")
            out = out.view(spec.dtype)
        return out.reshape(spec.shape)





# zarr-python's ``numcodecs.<id>`` names: which kind of codec each numcodecs id is
_ARRAY_ARRAY_IDS = frozenset({"delta", "fixedscaleoffset", "quantize", "packbits", "astype", "bitround"})


def numcodecs_v3_codec(name: str, configuration: Mapping[str, Any], where: str) -> ArrayArrayCodec | BytesBytesCodec:
    """A v3 codec entry named ``numcodecs.<id>`` as a pipeline codec (served by numcodecs)."""
    codec_id = name.removeprefix("numcodecs.")
    codec = get_numcodec({**dict(configuration), "id": codec_id}, f"codec in {where}")
    if codec_id in _ARRAY_ARRAY_IDS:
        return NumcodecsArrayCodec(codec, name)
    return NumcodecsBytesCodec(codec, name)

__all__ = ["NumcodecsArrayCodec", "NumcodecsBytesCodec", "get_numcodec", "numcodecs_v3_codec"]
