"""The async public API: ``await azarr.aio.open_array(...)`` and friends.

Signatures follow zarr-python 2 where one exists. Every ``store`` argument takes a
Store, a URL/path string, or None (a new MemoryStore); ``storage_options`` are passed
to the store opened from a URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azarr.array import AsyncArray
from azarr.errors import (
    ArrayNotFoundError,
    ContainsArrayError,
    ContainsGroupError,
    GroupNotFoundError,
    ModeError,
    NodeNotFoundError,
)
from azarr.group import AsyncGroup
from azarr.node import NodeContext, classify, normalize_path
from azarr.stores.base import Store
from azarr.stores.registry import as_store

MODES = ("r", "r+", "a", "w", "w-", "x")

StoreLike = Store | str | None


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


async def _context(store: Store, path: str, use_consolidated: bool | None, mode: str) -> NodeContext:
    if use_consolidated is False:
        return NodeContext()
    from azarr.consolidated import load_consolidated

    view = await load_consolidated(store, path, required=bool(use_consolidated), mode=mode)
    return NodeContext(consolidated=view)


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
    ctx = await _context(s, p, use_consolidated, mode)
    node = classify(await ctx.read_documents(s, p), p)
    if node is None:
        if mode in ("r", "r+"):
            raise NodeNotFoundError(f"no array or group at path {p!r} in {s.name}")
        if "shape" in kwargs:
            return await open_array(s, mode, path=p, zarr_format=zarr_format, **kwargs)
        return await open_group(s, mode, path=p, zarr_format=zarr_format, use_consolidated=False, **kwargs)
    kind, meta, attrs = node
    if kind == "array":
        return AsyncArray(
            s, p, meta, attrs, read_only=mode == "r", write_empty_chunks=kwargs.get("write_empty_chunks", False), context=ctx
        )
    return AsyncGroup(s, p, meta, attrs, read_only=mode == "r", context=ctx)


async def open_array(
    store: StoreLike = None,
    mode: str = "a",
    shape: Any = None,
    chunks: Any = None,
    dtype: Any = None,
    compressor: Any = "default",
    fill_value: Any = "default",
    order: str = "C",
    *,
    path: str | None = None,
    filters: Any = None,
    dimension_separator: str | None = None,
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
    fail if something exists.
    """
    _reject_unknown(ignored, "open_array")
    mode = _check_mode(mode)
    s = _store(store, mode, storage_options)
    p = normalize_path(path)
    create_kwargs = dict(
        shape=shape,
        chunks=chunks,
        dtype="f8" if dtype is None else dtype,
        compressor=compressor,
        fill_value=fill_value,
        order=order,
        filters=filters,
        dimension_separator=dimension_separator,
        zarr_format=2 if zarr_format is None else zarr_format,
        attributes=attributes,
        write_empty_chunks=write_empty_chunks,
    )
    if mode in ("w", "w-"):
        _need_shape(shape, p)
        return await AsyncArray.create(s, p, overwrite=mode == "w", **create_kwargs)
    ctx = await _context(s, p, use_consolidated, mode) if use_consolidated else NodeContext()
    try:
        return await AsyncArray.open(
            s, p, read_only=mode == "r", write_empty_chunks=write_empty_chunks, context=ctx
        )
    except ArrayNotFoundError:
        if mode in ("r", "r+"):
            raise
        node = classify(await ctx.read_documents(s, p), p)
        if node is not None:
            raise ContainsGroupError(f"a group exists at path {p!r} in {s.name}; cannot open it as an array") from None
        _need_shape(shape, p)
        return await AsyncArray.create(s, p, context=ctx, **create_kwargs)


def _need_shape(shape: Any, path: str) -> None:
    if shape is None:
        raise ModeError(f"creating an array at {path!r} needs a shape")


def _reject_unknown(kwargs: Mapping[str, Any], fn: str) -> None:
    # zarr-python 2 keywords azarr accepts and ignores (they have no meaning here)
    harmless = {"synchronizer", "cache_metadata", "cache_attrs", "object_codec", "chunk_store", "meta_array", "partial_decompress", "zarr_version"}
    unknown = set(kwargs) - harmless
    if unknown:
        raise TypeError(f"{fn}() got unexpected keyword arguments: {', '.join(sorted(unknown))}")


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

    ``use_consolidated``: None uses ``.zmetadata`` when present (one request) and falls
    back quietly; True requires it; False ignores it.
    """
    _reject_unknown(ignored, "open_group")
    mode = _check_mode(mode)
    s = _store(store, mode, storage_options)
    p = normalize_path(path)
    fmt = 2 if zarr_format is None else zarr_format
    if mode in ("w", "w-"):
        return await AsyncGroup.create(s, p, attributes=attributes, overwrite=mode == "w", zarr_format=fmt)
    ctx = await _context(s, p, use_consolidated, mode)
    try:
        return await AsyncGroup.open(s, p, read_only=mode == "r", context=ctx)
    except GroupNotFoundError:
        if mode in ("r", "r+"):
            raise
        node = classify(await ctx.read_documents(s, p), p)
        if node is not None:
            raise ContainsArrayError(f"an array exists at path {p!r} in {s.name}; cannot open it as a group") from None
        return await AsyncGroup.create(s, p, attributes=attributes, zarr_format=fmt, context=ctx)


async def create(
    shape: Any,
    chunks: Any = None,
    dtype: Any = None,
    compressor: Any = "default",
    fill_value: Any = "default",
    order: str = "C",
    store: StoreLike = None,
    *,
    overwrite: bool = False,
    path: str | None = None,
    filters: Any = None,
    dimension_separator: str | None = None,
    zarr_format: int | str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    write_empty_chunks: bool = False,
    attributes: Mapping[str, Any] | None = None,
    **ignored: Any,
) -> AsyncArray:
    """Create an array (zarr-python 2's ``zarr.create``); fails if one exists unless ``overwrite``."""
    _reject_unknown(ignored, "create")
    s = _store(store, "a", storage_options)
    return await AsyncArray.create(
        s,
        normalize_path(path),
        shape=shape,
        chunks=chunks,
        dtype="f8" if dtype is None else dtype,
        compressor=compressor,
        fill_value=fill_value,
        order=order,
        filters=filters,
        dimension_separator=dimension_separator,
        zarr_format=2 if zarr_format is None else zarr_format,
        attributes=attributes,
        overwrite=overwrite,
        write_empty_chunks=write_empty_chunks,
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
    store: StoreLike, path: str = "", *, storage_options: Mapping[str, Any] | None = None
) -> AsyncGroup:
    """Write ``.zmetadata`` for the hierarchy at ``path`` and return the group opened from it."""
    from azarr.consolidated import consolidate

    s = _store(store, "a", storage_options)
    p = normalize_path(path)
    view = await consolidate(s, p)
    return await AsyncGroup.open(s, p, context=NodeContext(consolidated=view))


async def open_consolidated(
    store: StoreLike, mode: str = "r", *, path: str = "", storage_options: Mapping[str, Any] | None = None
) -> AsyncGroup:
    """Open the group at ``path`` from its ``.zmetadata`` with ONE store read (required)."""
    mode = _check_mode(mode)
    if mode not in ("r", "r+", "a"):
        raise ModeError(f"open_consolidated takes mode 'r', 'r+' or 'a', not {mode!r}")
    s = _store(store, mode, storage_options)
    p = normalize_path(path)
    ctx = await _context(s, p, True, mode)
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
