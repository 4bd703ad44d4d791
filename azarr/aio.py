"""The async public API: ``await azarr.aio.open_array(...)`` and friends.

Signatures follow zarr-python where one exists. Every ``store`` argument takes a Store, a
URL/path string, or None (a new MemoryStore); ``storage_options`` are passed to the store
opened from a URL. Reading detects the format (Zarr v2, v3 or N5) from what is stored;
creation takes ``zarr_format=2 | 3 | "n5"`` (default 3, see :mod:`azarr.core.creation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azarr.core.array import AsyncArray
from azarr.core.creation import UNSET
from azarr.core.group import AsyncGroup
from azarr.core.hierarchy import NodeContext, Prefetched, normalize_path
from azarr.errors import (
    ArrayNotFoundError,
    ContainsArrayError,
    ContainsGroupError,
    GroupNotFoundError,
    ModeError,
    NodeNotFoundError,
)
from azarr.stores.base import Store
from azarr.stores.registry import as_store

MODES = ("r", "r+", "a", "w", "w-", "x")

StoreLike = Store | str | None

#: creation keywords passed through to the format (v2, v3 or N5); unset ones are left out
_ARRAY_OPTIONS = (
    "compressor",
    "compressors",
    "filters",
    "serializer",
    "fill_value",
    "order",
    "dimension_separator",
    "dimension_names",
    "chunk_key_encoding",
    "object_codec",
    "shards",
)


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ModeError(f"invalid mode {mode!r}; expected one of {', '.join(MODES)}")
    return "w-" if mode == "x" else mode


def _store(store: StoreLike, mode: str, storage_options: Mapping[str, Any] | None) -> Store:
    options = dict(storage_options or {})
    if mode == "r":
        options["read_only"] = True
    s = as_store(store, **options)
    if mode != "r" and s.read_only:
        raise ModeError(f"mode {mode!r} needs a writable store, but {s.name} is read-only")
    return s


async def _context(store: Store, path: str, use_consolidated: bool | None, mode: str, zarr_format: Any) -> NodeContext:
    if use_consolidated is False:
        return NodeContext()
    from azarr.core.consolidated import load_consolidated

    view, prefetched = await load_consolidated(
        store, path, required=bool(use_consolidated), mode=mode, zarr_format=zarr_format
    )
    pre: dict[str, Prefetched] = {} if view is not None else {path: prefetched}
    return NodeContext(consolidated=view, prefetched=pre)


_HARMLESS = frozenset({"cache_metadata", "cache_attrs", "partial_decompress"})
_UNSUPPORTED = {
    "synchronizer": "azarr has no synchronizers; concurrent writers are handled by the store",
    "chunk_store": "azarr keeps chunks and metadata in one store; give that store as store=",
    "meta_array": "azarr reads into numpy arrays only",
}


def _reject_unknown(kwargs: Mapping[str, Any], fn: str) -> None:
    from azarr.errors import AzarrError

    for name, why in _UNSUPPORTED.items():
        if kwargs.get(name) is not None:
            raise AzarrError(f"{fn}(): {name}= is not supported ({why})")
    if "zarr_version" in kwargs:
        raise TypeError(f"{fn}(): zarr_version= was renamed zarr_format= (as in zarr-python 3)")
    unknown = set(kwargs) - _HARMLESS - set(_UNSUPPORTED)
    if unknown:
        raise TypeError(f"{fn}() got unexpected keyword arguments: {', '.join(sorted(unknown))}")


def _array_options(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in _ARRAY_OPTIONS if values.get(k, UNSET) is not UNSET}


async def open(
    store: StoreLike = None,
    mode: str = "a",
    *,
    path: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    use_consolidated: bool | None = None,
    zarr_format: int | str | None = None,
    **kwargs: Any,
) -> AsyncArray | AsyncGroup:
    """Open the array or group at ``path``; in a writing mode, create one if needed
    (an array if ``shape`` is given, else a group)."""
    mode = _check_mode(mode)
    s = _store(store, mode, storage_options)
    p = normalize_path(path)
    if mode in ("w", "w-"):
        if "shape" in kwargs:
            return await open_array(s, mode, path=p, zarr_format=zarr_format, **kwargs)
        return await open_group(s, mode, path=p, zarr_format=zarr_format, **kwargs)
    ctx = await _context(s, p, use_consolidated, mode, zarr_format)
    node = await ctx.read_node(s, p, zarr_format)
    if node is None:
        if mode in ("r", "r+"):
            raise NodeNotFoundError(f"no array or group at path {p!r} in {s.name}")
        if "shape" in kwargs:
            return await open_array(s, mode, path=p, zarr_format=zarr_format, **kwargs)
        return await open_group(s, mode, path=p, zarr_format=zarr_format, use_consolidated=False, **kwargs)
    if node.kind == "array":
        arr = AsyncArray(
            s,
            p,
            node.metadata,
            node.attributes,
            read_only=mode == "r",
            write_empty_chunks=kwargs.get("write_empty_chunks", False),
            context=ctx,
        )
        _ = arr.codec_pipeline  # an unknown codec fails at open, naming the array
        return arr
    return AsyncGroup(s, p, node.metadata, node.attributes, read_only=mode == "r", context=ctx)


async def open_array(
    store: StoreLike = None,
    mode: str = "a",
    shape: Any = None,
    chunks: Any = None,
    dtype: Any = None,
    compressor: Any = UNSET,
    fill_value: Any = UNSET,
    order: Any = UNSET,
    *,
    path: str | None = None,
    filters: Any = UNSET,
    compressors: Any = UNSET,
    serializer: Any = UNSET,
    dimension_separator: Any = UNSET,
    dimension_names: Any = UNSET,
    chunk_key_encoding: Any = UNSET,
    object_codec: Any = UNSET,
    shards: Any = UNSET,
    zarr_format: int | str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    write_empty_chunks: bool = False,
    attributes: Mapping[str, Any] | None = None,
    use_consolidated: bool | None = False,
    **ignored: Any,
) -> AsyncArray:
    """Open (or, in modes ``a``/``w``/``w-``, create) an array.

    Modes: ``r`` read-only, must exist; ``r+`` read/write, must exist; ``a`` read/write,
    create if missing; ``w`` create, replacing anything at ``path``; ``w-``/``x`` create,
    fail if something exists. Creation keywords are zarr-python's: v2's ``compressor``,
    ``filters``, ``order``, ``dimension_separator``, ``object_codec``; v3's ``compressors``,
    ``filters``, ``serializer``, ``dimension_names``, ``chunk_key_encoding`` and ``shards``
    (zarr-python 3's: a shard shape, ``{"shape": ..., "index_location": ...}`` or ``"auto"``;
    ``chunks`` are then the inner chunks, and the codecs go inside ``sharding_indexed``).
    """
    _reject_unknown(ignored, "open_array")
    mode = _check_mode(mode)
    s = _store(store, mode, storage_options)
    p = normalize_path(path)
    options = _array_options(locals())
    create_kwargs: dict[str, Any] = dict(
        shape=shape,
        chunks=chunks,
        dtype="f8" if dtype is None else dtype,
        zarr_format=zarr_format,
        attributes=attributes,
        write_empty_chunks=write_empty_chunks,
        **options,
    )
    if mode in ("w", "w-"):
        _need_shape(shape, p)
        return await AsyncArray.create(s, p, overwrite=mode == "w", **create_kwargs)
    ctx = await _context(s, p, use_consolidated, mode, zarr_format) if use_consolidated else NodeContext()
    try:
        return await AsyncArray.open(
            s, p, read_only=mode == "r", write_empty_chunks=write_empty_chunks, context=ctx, zarr_format=zarr_format
        )
    except ArrayNotFoundError:
        if mode in ("r", "r+"):
            raise
        node = await ctx.read_node(s, p, zarr_format)
        if node is not None:
            raise ContainsGroupError(f"a group exists at path {p!r} in {s.name}; cannot open it as an array") from None
        _need_shape(shape, p)
        return await AsyncArray.create(s, p, context=ctx, **create_kwargs)


def _need_shape(shape: Any, path: str) -> None:
    if shape is None:
        raise ModeError(f"creating an array at {path!r} needs a shape")


async def open_group(
    store: StoreLike = None,
    mode: str = "a",
    *,
    path: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    use_consolidated: bool | None = None,
    zarr_format: int | str | None = None,
    attributes: Mapping[str, Any] | None = None,
    **ignored: Any,
) -> AsyncGroup:
    """Open (or, in modes ``a``/``w``/``w-``, create) a group.

    ``use_consolidated``: None uses consolidated metadata when present (one request for
    the whole hierarchy) and falls back quietly; True requires it; False ignores it.
    """
    _reject_unknown(ignored, "open_group")
    mode = _check_mode(mode)
    s = _store(store, mode, storage_options)
    p = normalize_path(path)
    if mode in ("w", "w-"):
        return await AsyncGroup.create(s, p, attributes=attributes, overwrite=mode == "w", zarr_format=zarr_format)
    ctx = await _context(s, p, use_consolidated, mode, zarr_format)
    try:
        return await AsyncGroup.open(s, p, read_only=mode == "r", context=ctx, zarr_format=zarr_format)
    except GroupNotFoundError:
        if mode in ("r", "r+"):
            raise
        node = await ctx.read_node(s, p, zarr_format)
        if node is not None:
            raise ContainsArrayError(f"an array exists at path {p!r} in {s.name}; cannot open it as a group") from None
        return await AsyncGroup.create(s, p, attributes=attributes, zarr_format=zarr_format, context=ctx)


async def create(
    shape: Any,
    chunks: Any = None,
    dtype: Any = None,
    compressor: Any = UNSET,
    fill_value: Any = UNSET,
    order: Any = UNSET,
    store: StoreLike = None,
    *,
    overwrite: bool = False,
    path: str | None = None,
    filters: Any = UNSET,
    compressors: Any = UNSET,
    serializer: Any = UNSET,
    dimension_separator: Any = UNSET,
    dimension_names: Any = UNSET,
    chunk_key_encoding: Any = UNSET,
    object_codec: Any = UNSET,
    shards: Any = UNSET,
    zarr_format: int | str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    write_empty_chunks: bool = False,
    attributes: Mapping[str, Any] | None = None,
    **ignored: Any,
) -> AsyncArray:
    """Create an array (zarr-python's ``zarr.create``); fails if one exists unless ``overwrite``."""
    _reject_unknown(ignored, "create")
    s = _store(store, "a", storage_options)
    return await AsyncArray.create(
        s,
        normalize_path(path),
        shape=shape,
        chunks=chunks,
        dtype="f8" if dtype is None else dtype,
        zarr_format=zarr_format,
        attributes=attributes,
        overwrite=overwrite,
        write_empty_chunks=write_empty_chunks,
        **_array_options(locals()),
    )


async def group(
    store: StoreLike = None,
    *,
    overwrite: bool = False,
    path: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    zarr_format: int | str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> AsyncGroup:
    """Open a group, creating it if missing (``overwrite=True`` replaces what is there)."""
    return await open_group(
        store,
        "w" if overwrite else "a",
        path=path,
        storage_options=storage_options,
        zarr_format=zarr_format,
        attributes=attributes,
        use_consolidated=False,
    )


async def consolidate_metadata(
    store: StoreLike,
    path: str = "",
    *,
    storage_options: Mapping[str, Any] | None = None,
    zarr_format: int | str | None = None,
) -> AsyncGroup:
    """Write the consolidated metadata of the hierarchy at ``path`` (``.zmetadata`` for v2,
    inline in the root ``zarr.json`` for v3) and return the group opened from it."""
    from azarr.core.consolidated import consolidate

    s = _store(store, "a", storage_options)
    p = normalize_path(path)
    view = await consolidate(s, p, zarr_format)
    return await AsyncGroup.open(s, p, context=NodeContext(consolidated=view))


async def open_consolidated(
    store: StoreLike,
    mode: str = "r",
    *,
    path: str = "",
    storage_options: Mapping[str, Any] | None = None,
    zarr_format: int | str | None = None,
) -> AsyncGroup:
    """Open the group at ``path`` from its consolidated metadata with ONE store round trip (required)."""
    mode = _check_mode(mode)
    if mode not in ("r", "r+", "a"):
        raise ModeError(f"open_consolidated takes mode 'r', 'r+' or 'a', not {mode!r}")
    s = _store(store, mode, storage_options)
    p = normalize_path(path)
    ctx = await _context(s, p, True, mode, zarr_format)
    return await AsyncGroup.open(s, p, read_only=mode == "r", context=ctx)


__all__ = [
    "AsyncArray",
    "AsyncGroup",
    "consolidate_metadata",
    "create",
    "group",
    "open",
    "open_array",
    "open_consolidated",
    "open_group",
]
