"""Zarr v3 chunks as a pipeline, and zarr-python 3's creation keywords as codec entries.

Importing this module registers the built-in v3 codecs (``bytes``, ``transpose``,
``blosc``, ``gzip``, ``zstd``, ``crc32c``, ``vlen-utf8``, ``vlen-bytes``); names
``numcodecs.<id>`` are served by numcodecs (:mod:`azarr.codecs.numcodecs_compat`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from azarr.codecs.abc import ArrayArrayCodec, ArrayBytesCodec, BytesBytesCodec, ChunkSpec, Codec
from azarr.codecs.bytes import BytesCodec
from azarr.codecs.checksum import Crc32cCodec
from azarr.codecs.compression import BloscCodec, GzipCodec, ZstdCodec
from azarr.codecs.pipeline import CodecPipeline
from azarr.codecs.registry import codec_class, codec_from_config
from azarr.codecs.transpose import TransposeCodec
from azarr.codecs.vlen import VLenBytesCodec, VLenUTF8Codec
from azarr.errors import MetadataError
from azarr.meta.v3 import ArrayMetadataV3, normalize_codec_entry
from azarr.meta.v3_dtypes import DataTypeV3, data_type_from_dtype

_KINDS: dict[str, tuple[type[Codec], str]] = {
    "filters": (ArrayArrayCodec, "an array->array codec (e.g. transpose)"),
    "serializer": (ArrayBytesCodec, "an array->bytes codec (e.g. bytes, vlen-utf8)"),
    "compressors": (BytesBytesCodec, "a bytes->bytes codec (e.g. zstd, crc32c)"),
}


def v3_pipeline(meta: ArrayMetadataV3) -> CodecPipeline:
    """The pipeline of a Zarr v3 array; unknown or misplaced codecs raise MetadataError naming the array."""
    where = meta.document_key
    spec = ChunkSpec(tuple(meta.chunk_shape), meta.dtype, meta.fill_value, "C")
    codecs = [codec_from_config(entry, where) for entry in meta.codecs]
    try:
        return CodecPipeline(codecs, spec, where=where)
    except MetadataError as exc:
        if str(exc).startswith(where):
            raise
        raise MetadataError(f"{where}: {exc}") from None


# --- creation keywords -> codec entries ------------------------------------------------------------


def _as_codec(value: Any, where: str) -> Codec:
    """One user codec: ours, zarr-python's, numcodecs', a dict or a bare name."""
    if isinstance(value, Codec):
        return value
    if isinstance(value, str):
        # a bare name at creation is the codec with its defaults (as zarr-python's classes:
        # bytes in the machine's order), not the bare metadata entry (bytes without endian)
        cls = codec_class(value)
        if cls is not None:
            try:
                return cls()
            except TypeError as exc:
                raise MetadataError(f"{where}: codec {value!r} needs settings: {exc}") from None
        return codec_from_config(value, where)
    if isinstance(value, Mapping):
        if "id" in value and "name" not in value:  # a numcodecs config
            cfg = dict(value)
            return codec_from_config({"name": f"numcodecs.{cfg.pop('id')}", "configuration": cfg}, where)
        return codec_from_config(normalize_codec_entry(value, where), where)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):  # a zarr-python codec object
        entry = normalize_codec_entry(to_dict(), where)
        # zarr-python fills settings left as None from the data type (blosc's typesize and
        # shuffle); its to_dict() shows placeholders for them, so leave them for evolve()
        tunable = getattr(value, "_tunable_attrs", ())
        if tunable and "configuration" in entry:
            entry["configuration"] = {k: v for k, v in entry["configuration"].items() if k not in tunable}
        return codec_from_config(entry, where)
    get_config = getattr(value, "get_config", None)
    if callable(get_config) and hasattr(value, "codec_id"):  # a numcodecs codec, as zarr-python 3 names it
        cfg = dict(get_config())
        return codec_from_config({"name": f"numcodecs.{cfg.pop('id')}", "configuration": cfg}, where)
    raise MetadataError(f"{where}: {value!r} is not a codec (give a codec object, a dict or a codec name)")


def _codec_list(value: Any, slot: str, where: str) -> list[Codec]:
    if value is None:
        return []
    if isinstance(value, (str, Mapping, Codec)) or not isinstance(value, Sequence):
        value = [value]
    cls, what = _KINDS[slot]
    out = []
    for item in value:
        codec = _as_codec(item, where)
        if not isinstance(codec, cls):
            raise MetadataError(f"{where}: {slot} takes {what}, got {codec.name!r}")
        out.append(codec)
    return out


def default_serializer(data_type: DataTypeV3) -> Codec:
    """zarr-python 3's serializer for a data type: vlen-utf8, vlen-bytes or bytes."""
    if data_type.kind == "string":
        return VLenUTF8Codec()
    if data_type.kind == "variable_length_bytes":
        return VLenBytesCodec()
    return BytesCodec()


def codecs_for(
    dtype: Any,
    *,
    filters: Any = None,
    serializer: Any = "auto",
    compressors: Any = "auto",
    ndim: int | None = None,
    chunk_shape: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """zarr-python 3's creation keywords as the normalized ``codecs`` entries it would write.

    ``dtype`` is a numpy dtype, a v3 data type or anything
    :func:`~azarr.meta.v3_dtypes.data_type_from_dtype` takes. ``filters`` (array->array),
    ``serializer`` (array->bytes) and ``compressors`` (bytes->bytes) each take our codec
    objects, zarr-python codec objects, numcodecs codecs (written ``numcodecs.<id>``, as
    zarr-python 3 does), dicts or bare names; one codec or a list. ``"auto"`` means
    zarr-python 3's default: no filters, ``bytes`` (or ``vlen-utf8``/``vlen-bytes`` for
    string/bytes types) and ``zstd`` level 0; ``None`` or ``[]`` means none. Settings the
    data type decides (blosc's ``typesize``, ``bytes``' ``endian``) are filled in as
    zarr-python fills them. ``ndim`` checks ``transpose`` orders (taken from them if None);
    ``chunk_shape``, when given, is the chunk the codecs apply to (a ``sharding_indexed``
    serializer checks its inner chunks against it).
    """
    where = "codecs"
    data_type = data_type_from_dtype(dtype)
    if isinstance(filters, str) and filters == "auto":
        filters = None
    aa = _codec_list(filters, "filters", where)
    if serializer is None or (isinstance(serializer, str) and serializer == "auto"):
        ab = default_serializer(data_type)
    else:
        serializers = _codec_list(serializer, "serializer", where)
        if len(serializers) != 1:
            raise MetadataError(f"{where}: serializer takes exactly one array->bytes codec, got {len(serializers)}")
        ab = serializers[0]
    if isinstance(compressors, str) and compressors == "auto":
        compressors = [ZstdCodec(level=0, checksum=False)]
    bb = _codec_list(compressors, "compressors", where)
    if ndim is None:
        orders = [c.order for c in aa if isinstance(c, TransposeCodec) and isinstance(c.order, tuple)]
        ndim = len(orders[0]) if orders else 0
    shape = tuple(chunk_shape) if chunk_shape is not None else (1,) * ndim
    spec = ChunkSpec(shape, data_type.dtype, data_type.default_fill_value(), "C")
    pipeline = CodecPipeline([*aa, ab, *bb], spec, where=where)
    return pipeline.describe()


__all__ = [
    "BloscCodec",
    "BytesCodec",
    "Crc32cCodec",
    "GzipCodec",
    "TransposeCodec",
    "VLenBytesCodec",
    "VLenUTF8Codec",
    "ZstdCodec",
    "codecs_for",
    "default_serializer",
    "v3_pipeline",
]
