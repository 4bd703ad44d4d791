"""Codec names -> codec classes (Zarr v3 ``codecs`` entries), and metadata -> pipeline.

Codec modules register their classes with :func:`register_codec`; an array's pipeline
is built once from its metadata by the builder registered for its format.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from azarr.codecs.abc import ChunkSpec, Codec
from azarr.codecs.pipeline import CodecPipeline
from azarr.errors import MetadataError

_CODECS: dict[str, type[Codec]] = {}
_builtins_loaded = False

#: modules whose import registers the built-in v3 codecs (imported on first lookup)
_CODEC_MODULES = ("azarr.codecs.v3", "azarr.codecs.sharding")

#: the pipeline builder of each format, as "module:function" (imported on first use)
_BUILDERS: dict[Any, str] = {
    2: "azarr.codecs.v2:v2_pipeline",
    3: "azarr.codecs.v3:v3_pipeline",
    "n5": "azarr.codecs.n5:n5_pipeline",
}
_loaded_builders: dict[Any, Callable[[Any], CodecPipeline]] = {}


def register_codec(cls: type[Codec]) -> type[Codec]:
    """Register a codec class under its ``name`` (usable as a class decorator)."""
    _CODECS[cls.name] = cls
    return cls


def _load_builtin_codecs() -> None:
    global _builtins_loaded
    for module in _CODEC_MODULES:
        importlib.import_module(module)
    _builtins_loaded = True


def codec_class(name: str) -> type[Codec] | None:
    """The class registered for codec ``name`` (None if unknown)."""
    if not _builtins_loaded:  # not "if not _CODECS": importing one codec module registers only its own
        _load_builtin_codecs()
    return _CODECS.get(name)


def codec_from_config(entry: Any, where: str = "array") -> Codec:
    """Build a codec from a v3 ``codecs`` entry (``{"name", "configuration"}`` or a bare name).

    Unknown names raise :class:`MetadataError` naming the codec and ``where``; names of
    the form ``numcodecs.<id>`` (zarr-python's) are served by numcodecs.
    """
    if isinstance(entry, Codec):
        return entry
    config: Mapping[str, Any]
    if isinstance(entry, str):
        name, config = entry, {}
    elif isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
        name = entry["name"]
        config = entry.get("configuration") or {}
        if not isinstance(config, Mapping):
            raise MetadataError(f"{where}: codec {name!r} configuration must be an object, got {config!r}")
    else:
        raise MetadataError(f"{where}: invalid codec entry {entry!r}")
    cls = codec_class(name)
    if cls is None and name.startswith("numcodecs."):
        from azarr.codecs.numcodecs_compat import numcodecs_v3_codec

        return numcodecs_v3_codec(name, config, where)
    if cls is None:
        raise MetadataError(f"{where}: unknown codec {name!r}")
    try:
        return cls.from_config(config)
    except MetadataError as exc:
        raise MetadataError(f"{where}: codec {name!r}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise MetadataError(f"{where}: invalid configuration for codec {name!r}: {exc}") from None


def pipeline_for(meta: Any) -> CodecPipeline:
    """Build the codec pipeline of an array from its metadata (once per array)."""
    fmt = meta.zarr_format
    build = _loaded_builders.get(fmt)
    if build is None:
        target = _BUILDERS.get(fmt)
        if target is None:
            raise MetadataError(f"no codec pipeline for zarr_format {fmt!r}")
        module, _, fn = target.partition(":")
        build = _loaded_builders[fmt] = getattr(importlib.import_module(module), fn)
    return build(meta)


__all__ = ["ChunkSpec", "codec_class", "codec_from_config", "pipeline_for", "register_codec"]
