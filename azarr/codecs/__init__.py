"""The codec pipeline (pure CPU, no stores): Zarr v3's three codec kinds, the pipeline
that chains them, and adapters so Zarr v2 (numcodecs filters + compressor) and N5
blocks are pipelines too."""

from azarr.codecs.abc import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec, ChunkSpec, Codec
from azarr.codecs.pipeline import CodecPipeline
from azarr.codecs.registry import codec_class, codec_from_config, pipeline_for, register_codec

__all__ = [
    "ArrayArrayCodec",
    "ArrayBytesCodec",
    "BytesBytesCodec",
    "ChunkSpec",
    "Codec",
    "CodecPipeline",
    "codec_class",
    "codec_from_config",
    "pipeline_for",
    "register_codec",
]
