"""The codec pipeline (pure CPU, no stores): Zarr v3's three codec kinds, the pipeline
that chains them, the v3 codecs, and adapters so Zarr v2 (numcodecs filters +
compressor) and N5 blocks are pipelines too.

The v3 codec classes carry zarr-python 3's names (``BytesCodec``, ``BloscCodec``, ...)
and take its keywords; :func:`~azarr.codecs.v3.codecs_for` turns zarr-python 3's
creation keywords (``filters``, ``serializer``, ``compressors``) into codec entries.
"""

from azarr.codecs.abc import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec, ChunkSpec, Codec
from azarr.codecs.pipeline import CodecPipeline
from azarr.codecs.registry import codec_class, codec_from_config, pipeline_for, register_codec
from azarr.codecs.sharding import ShardingCodec
from azarr.codecs.v3 import (
    BloscCodec,
    BytesCodec,
    Crc32cCodec,
    GzipCodec,
    TransposeCodec,
    VLenBytesCodec,
    VLenUTF8Codec,
    ZstdCodec,
    codecs_for,
    v3_pipeline,
)

__all__ = [
    "ArrayArrayCodec",
    "ArrayBytesCodec",
    "BloscCodec",
    "BytesBytesCodec",
    "BytesCodec",
    "ChunkSpec",
    "Codec",
    "CodecPipeline",
    "Crc32cCodec",
    "GzipCodec",
    "ShardingCodec",
    "TransposeCodec",
    "VLenBytesCodec",
    "VLenUTF8Codec",
    "ZstdCodec",
    "codec_class",
    "codec_from_config",
    "codecs_for",
    "pipeline_for",
    "register_codec",
    "v3_pipeline",
]
