"""The async public API: ``await azarr.aio.open_array(...)`` and friends.

Signatures follow zarr-python where one exists. Every ``store`` argument takes a Store, a
URL/path string, or None (a new MemoryStore); ``storage_options`` are passed to the store
opened from a URL. Reading detects the format (Zarr v2, v3 or N5) from what is stored;
creation takes ``zarr_format=2 | 3 | "n5"`` (default 3, see :mod:`azarr.core.creation`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from azarr.core import constructors
from azarr.core.array import AsyncArray
from azarr.core.copy import LogLike
from azarr.core.creation import CREATION_OPTIONS, UNSET, translate_keywords
from azarr.core.group import AsyncGroup
from azarr.core.hierarchy import NodeContext, Prefetched, normalize_path
from azarr.errors import (
    ArgumentError,
    ArrayNotFoundError,
    ContainsArrayError,
    ContainsGroupError,
    GroupNotFoundError,
    ModeError,
    NodeNotFoundError,
)
from azarr.meta.formats import format_for
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


def _keywords(fn: str, zarr_format: Any, kwargs: Mapping[str, Any], *, creating: bool) -> tuple[Any, dict[str, Any]]:
    """``(zarr_format, other keywords)`` after zarr-python's spellings are translated.

    Where an array may be created, keywords azarr does not know are passed on to
    :meth:`AsyncArray.create` (which names any it rejects); elsewhere they raise here.
    """
    out = translate_keywords(fn, {"zarr_format": zarr_format, **kwargs})
    fmt = out.pop("zarr_format", None)
    unknown = sorted(k for k in out if k not in CREATION_OPTIONS and k not in ("write_empty_chunks", "order", "chunks"))
    if unknown and not creating:
        raise ArgumentError(f"{fn}() got unexpected keyword arguments: {', '.join(unknown)}")
    return fmt, out


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
    zarr_format, kwargs = _keywords("open", zarr_format, kwargs, creating=True)
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
    write_empty_chunks: bool | None = None,
    attributes: Mapping[str, Any] | None = None,
    use_consolidated: bool | None = False,
    **kwargs: Any,
) -> AsyncArray:
    """Open (or, in modes ``a``/``w``/``w-``, create) an array.

    Modes: ``r`` read-only, must exist; ``r+`` read/write, must exist; ``a`` read/write,
    create if missing; ``w`` create, replacing anything at ``path``; ``w-``/``x`` create,
    fail if something exists. Creation keywords are zarr-python's: v2's ``compressor``,
    ``filters``, ``order``, ``dimension_separator``, ``object_codec``; v3's ``compressors``,
    ``filters``, ``serializer``, ``dimension_names``, ``chunk_key_encoding``, ``codecs`` and
    ``shards`` (zarr-python 3's: a shard shape, ``{"shape": ..., "index_location": ...}`` or
    ``"auto"``; ``chunks`` are then the inner chunks, and the codecs go inside
    ``sharding_indexed``). zarr-python's other spellings (``zarr_version``, ``config``,
    ``chunk_shape``) are accepted; ``synchronizer``, ``chunk_store`` and ``meta_array`` raise
    :class:`~azarr.errors.UnsupportedOptionError`.
    """
    read_only = bool(kwargs.pop("read_only", False))
    zarr_format, extra = _keywords(
        "open_array",
        zarr_format,
        {"write_empty_chunks": write_empty_chunks, "chunks": chunks, **kwargs},
        creating=mode != "r",
    )
    write_empty_chunks = bool(extra.pop("write_empty_chunks", None))
    chunks = extra.pop("chunks", None)
    mode = _check_mode(mode)
    s = _store(store, mode, storage_options)
    p = normalize_path(path)
    options = {**extra, **_array_options(locals())}
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
        return _read_only(await AsyncArray.create(s, p, overwrite=mode == "w", **create_kwargs), read_only)
    ctx = await _context(s, p, use_consolidated, mode, zarr_format) if use_consolidated else NodeContext()
    try:
        return _read_only(
            await AsyncArray.open(
                s, p, read_only=mode == "r", write_empty_chunks=write_empty_chunks, context=ctx, zarr_format=zarr_format
            ),
            read_only,
        )
    except ArrayNotFoundError:
        if mode in ("r", "r+"):
            raise
        node = await ctx.read_node(s, p, zarr_format)
        if node is not None:
            raise ContainsGroupError(f"a group exists at path {p!r} in {s.name}; cannot open it as an array") from None
        _need_shape(shape, p)
        return _read_only(await AsyncArray.create(s, p, context=ctx, **create_kwargs), read_only)


def _read_only(arr: AsyncArray, read_only: bool) -> AsyncArray:
    """zarr-python 2's ``read_only=True``: the returned handle refuses writes."""
    if read_only:
        arr.read_only = True
    return arr


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
    **kwargs: Any,
) -> AsyncGroup:
    """Open (or, in modes ``a``/``w``/``w-``, create) a group.

    ``use_consolidated``: None uses consolidated metadata when present (one request for
    the whole hierarchy) and falls back quietly; True requires it; False ignores it.
    ``zarr_version`` is accepted for ``zarr_format``; ``synchronizer``, ``chunk_store`` and
    ``meta_array`` raise :class:`~azarr.errors.UnsupportedOptionError`.
    """
    zarr_format, extra = _keywords("open_group", zarr_format, kwargs, creating=False)
    if extra:
        raise ArgumentError(f"open_group() got unexpected keyword arguments: {', '.join(sorted(extra))}")
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
    write_empty_chunks: bool | None = None,
    attributes: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> AsyncArray:
    """Create an array (zarr-python's ``zarr.create``); fails if one exists unless ``overwrite``.

    Takes zarr-python 2's and 3's keywords (``codecs``, ``chunk_shape``, ``config``,
    ``zarr_version``, ``read_only``, ...); others are passed to :meth:`AsyncArray.create`.
    """
    read_only = bool(kwargs.pop("read_only", False))
    kwargs.pop("mode", None)
    zarr_format, extra = _keywords(
        "create", zarr_format, {"write_empty_chunks": write_empty_chunks, "chunks": chunks, **kwargs}, creating=True
    )
    write_empty_chunks = bool(extra.pop("write_empty_chunks", None))
    chunks = extra.pop("chunks", None)
    if isinstance(chunks, str) and chunks == "auto":
        chunks = None
    s = _store(store, "a", storage_options)
    arr = await AsyncArray.create(
        s,
        normalize_path(path),
        shape=shape,
        chunks=chunks,
        dtype="f8" if dtype is None else dtype,
        zarr_format=zarr_format,
        attributes=attributes,
        overwrite=overwrite,
        write_empty_chunks=write_empty_chunks,
        **{**extra, **_array_options(locals())},
    )
    return _read_only(arr, read_only)


async def group(
    store: StoreLike = None,
    *,
    overwrite: bool = False,
    path: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    zarr_format: int | str | None = None,
    attributes: Mapping[str, Any] | None = None,
    **kwargs: Any,
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
        **kwargs,
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


# --- zarr-python 3's creation functions ------------------------------------------------------------


async def create_array(
    store: StoreLike = None,
    *,
    name: str | None = None,
    shape: Any = None,
    dtype: Any = None,
    data: Any = None,
    chunks: Any = "auto",
    filters: Any = "auto",
    compressors: Any = "auto",
    serializer: Any = "auto",
    fill_value: Any = UNSET,
    order: Any = UNSET,
    zarr_format: int | str | None = None,
    attributes: Mapping[str, Any] | None = None,
    chunk_key_encoding: Any = UNSET,
    dimension_names: Any = UNSET,
    storage_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    write_data: bool = True,
    **kwargs: Any,
) -> AsyncArray:
    """Create an array at ``name`` in ``store`` (zarr-python 3's ``create_array``).

    ``data`` (an array-like, or an azarr array) gives the shape and dtype and is written
    unless ``write_data=False``; otherwise ``shape`` and ``dtype`` are required. Without
    ``zarr_format`` the format follows azarr's rules (Zarr v3 unless v2-only keywords such
    as ``compressor=`` are given or the hierarchy is v2). Other keywords (e.g. ``config``,
    ``write_empty_chunks``, ``shards``) are passed on to :func:`create`.
    """
    if data is not None:
        if shape is not None or dtype is not None:
            raise ArgumentError("create_array(): give shape and dtype, or data, not both")
        if constructors.as_async_array(data) is not None:
            return await from_array(
                store, data=data, name=name, chunks="keep" if chunks == "auto" else chunks, write_data=write_data,
                filters=filters, compressors=compressors, serializer=serializer, fill_value=fill_value,
                order=None if order is UNSET else order, zarr_format=zarr_format, attributes=attributes,
                chunk_key_encoding=None if chunk_key_encoding is UNSET else chunk_key_encoding,
                dimension_names=None if dimension_names is UNSET else dimension_names,
                storage_options=storage_options, overwrite=overwrite, **kwargs,
            )  # fmt: skip
        sized: dict[str, Any] = {"chunks": None if chunks == "auto" else chunks}
        data = constructors.data_args(data, sized)
        shape, dtype, chunks = sized["shape"], sized["dtype"], sized["chunks"]
    if shape is None or dtype is None:
        raise ArgumentError("create_array() needs shape= and dtype= (or data=)")
    options = {k: v for k, v in (("filters", filters), ("serializer", serializer)) if not _is_auto(v)}
    if not _is_auto(compressors):
        options["compressors"] = compressors
    arr = await create(
        shape,
        chunks=None if _is_auto(chunks) else chunks,
        dtype=dtype,
        fill_value=fill_value,
        order=order,
        store=store,
        path=name,
        zarr_format=zarr_format,
        attributes=attributes,
        chunk_key_encoding=chunk_key_encoding,
        dimension_names=dimension_names,
        storage_options=storage_options,
        overwrite=overwrite,
        **options,
        **kwargs,
    )
    if data is not None and write_data:
        await constructors.write_data(arr, data)
    return arr


def _is_auto(value: Any) -> bool:
    return isinstance(value, str) and value == "auto"


def _is_keep(value: Any) -> bool:
    return isinstance(value, str) and value == "keep"


async def from_array(
    store: StoreLike = None,
    *,
    data: Any,
    write_data: bool = True,
    name: str | None = None,
    chunks: Any = "keep",
    filters: Any = "keep",
    compressors: Any = "keep",
    serializer: Any = "keep",
    fill_value: Any = UNSET,
    order: Any = None,
    zarr_format: int | str | None = None,
    attributes: Mapping[str, Any] | None = None,
    chunk_key_encoding: Any = None,
    dimension_names: Any = None,
    storage_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    **kwargs: Any,
) -> AsyncArray:
    """Create an array from ``data`` (zarr-python 3's ``from_array``): an azarr array lends
    its chunks, codecs, fill value, attributes and format where a keyword says ``"keep"``
    (the default) and is copied chunk for chunk, as raw bytes when nothing changes; any
    other array-like is written with the defaults (``"keep"`` then means ``"auto"``)."""
    source = constructors.as_async_array(data)
    if source is None:
        return await create_array(
            store, name=name, data=data, chunks="auto" if _is_keep(chunks) else chunks,
            filters="auto" if _is_keep(filters) else filters,
            compressors="auto" if _is_keep(compressors) else compressors,
            serializer="auto" if _is_keep(serializer) else serializer, fill_value=fill_value,
            order=UNSET if order is None else order, zarr_format=zarr_format, attributes=attributes,
            chunk_key_encoding=UNSET if chunk_key_encoding is None else chunk_key_encoding,
            dimension_names=UNSET if dimension_names is None else dimension_names,
            storage_options=storage_options, overwrite=overwrite, write_data=write_data, **kwargs,
        )  # fmt: skip
    fmt = source.zarr_format if zarr_format is None else zarr_format
    same = format_for(fmt).key == source.zarr_format
    options: dict[str, Any] = {}
    meta = source.metadata
    if same and hasattr(meta, "compressor"):  # Zarr v2: compressor + filters
        if _is_keep(compressors):
            options["compressor"] = meta.compressor
        elif not _is_auto(compressors):
            options["compressors"] = compressors
        if _is_keep(filters):
            options["filters"] = meta.filters
        elif not _is_auto(filters):
            options["filters"] = filters
        options["order"] = source.order if order is None else order
        options["dimension_separator"] = meta.dimension_separator
    elif same and hasattr(meta, "codecs"):  # Zarr v3: the codec chain, slot by slot
        if all(_is_keep(v) for v in (filters, serializer, compressors)):
            options["codecs"] = list(meta.codecs)
        else:
            for key, value, kept in (
                ("filters", filters, list(source.filters)),
                ("serializer", serializer, source.serializer),
                ("compressors", compressors, list(source.compressors)),
            ):
                if _is_keep(value):
                    options[key] = kept
                elif not _is_auto(value):
                    options[key] = value
        options["chunk_key_encoding"] = meta.chunk_key_encoding.to_dict() if chunk_key_encoding is None else chunk_key_encoding
        options["dimension_names"] = meta.dimension_names if dimension_names is None else dimension_names
    else:
        for key, value in (("filters", filters), ("serializer", serializer), ("compressors", compressors)):
            if not _is_keep(value) and not _is_auto(value):
                options[key] = value
        if order is not None:
            options["order"] = order
        if chunk_key_encoding is not None:
            options["chunk_key_encoding"] = chunk_key_encoding
        if dimension_names is not None:
            options["dimension_names"] = dimension_names
    dtype: Any = source.dtype
    if not same:
        from azarr.core.copy import target_dtype

        dtype = target_dtype(source, format_for(fmt).key)
    arr = await create(
        source.shape,
        chunks=source.chunks if _is_keep(chunks) else (None if _is_auto(chunks) else chunks),
        dtype=dtype,
        fill_value=source.fill_value if fill_value is UNSET else fill_value,
        store=store,
        path=name,
        zarr_format=fmt,
        attributes=dict(source._attrs) if attributes is None else attributes,
        storage_options=storage_options,
        overwrite=overwrite,
        **options,
        **kwargs,
    )
    if write_data:
        await constructors.write_data(arr, source)
    return arr


async def create_group(
    store: StoreLike = None,
    *,
    path: str | None = None,
    overwrite: bool = False,
    zarr_format: int | str | None = None,
    attributes: Mapping[str, Any] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> AsyncGroup:
    """Create a group (zarr-python 3's ``create_group``); fails if a node exists at ``path``
    unless ``overwrite``. Without ``zarr_format`` it takes its hierarchy's format (v3 at the
    top of a new one)."""
    zarr_format, extra = _keywords("create_group", zarr_format, kwargs, creating=False)
    if extra:
        raise ArgumentError(f"create_group() got unexpected keyword arguments: {', '.join(sorted(extra))}")
    s = _store(store, "a", storage_options)
    return await AsyncGroup.create(s, normalize_path(path), attributes=attributes, overwrite=overwrite, zarr_format=zarr_format)


async def array(data: Any, **kwargs: Any) -> AsyncArray:
    """Create an array holding ``data`` (zarr-python's ``zarr.array``); ``kwargs`` are
    :func:`create`'s (``store``, ``path``, ``chunks``, ...). An azarr array is copied as
    :func:`from_array` copies it."""
    if constructors.as_async_array(data) is not None:
        store = kwargs.pop("store", None)
        path = kwargs.pop("path", None)
        return await from_array(store, data=data, name=kwargs.pop("name", path), **kwargs)
    read_only = bool(kwargs.pop("read_only", False))
    data = constructors.data_args(data, kwargs)
    arr = await create(**kwargs)
    await constructors.write_data(arr, data)
    return _read_only(arr, read_only)


async def empty(shape: Any, **kwargs: Any) -> AsyncArray:
    """Create an array whose unwritten elements read as its fill value."""
    return await create(shape, **kwargs)


async def zeros(shape: Any, **kwargs: Any) -> AsyncArray:
    """Create an array of zeros (fill value 0; nothing is stored until written)."""
    return await create(shape, fill_value=0, **kwargs)


async def ones(shape: Any, **kwargs: Any) -> AsyncArray:
    """Create an array of ones (fill value 1; nothing is stored until written)."""
    return await create(shape, fill_value=1, **kwargs)


async def full(shape: Any, fill_value: Any, **kwargs: Any) -> AsyncArray:
    """Create an array filled with ``fill_value`` (nothing is stored until written)."""
    return await create(shape, fill_value=fill_value, **kwargs)


def _like(a: Any, kwargs: Mapping[str, Any], keep_fill: bool = False) -> dict[str, Any]:
    args = {**constructors.like_args(a), **kwargs}
    return constructors.like_fill(a, args) if keep_fill else args


async def empty_like(a: Any, **kwargs: Any) -> AsyncArray:
    """Create an empty array like ``a``: its shape, chunks, dtype, fill value and (for an
    azarr array) encoding."""
    return await create(**_like(a, kwargs, keep_fill=True))


async def zeros_like(a: Any, **kwargs: Any) -> AsyncArray:
    """Create an array of zeros like ``a``."""
    return await zeros(**_like(a, kwargs))


async def ones_like(a: Any, **kwargs: Any) -> AsyncArray:
    """Create an array of ones like ``a``."""
    return await ones(**_like(a, kwargs))


async def full_like(a: Any, **kwargs: Any) -> AsyncArray:
    """Create an array like ``a`` filled with ``fill_value`` (default: ``a``'s fill value)."""
    return await full(**_like(a, kwargs, keep_fill=True))


async def open_like(a: Any, path: str, **kwargs: Any) -> AsyncArray:
    """Open (or create) an array like ``a`` (:func:`open_array` with ``a``'s settings as
    defaults). With ``store=``, ``path`` is the path inside it (zarr-python 3); without,
    ``path`` names the store (zarr-python 2)."""
    args = _like(a, kwargs, keep_fill=True)
    store = args.pop("store", None)
    if store is None:
        return await open_array(path, **args)
    return await open_array(store, path=path, **args)


# --- save / load / tree ------------------------------------------------------------------------------


def _as_ndarray(value: Any, what: str) -> Any:
    if np.isscalar(value):
        return np.array(value)
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise ArgumentError(f"{what} must be a numpy or other array-like with shape and dtype, got {type(value).__name__}")
    return value


async def save_array(
    store: StoreLike,
    arr: Any,
    *,
    zarr_format: int | str | None = None,
    zarr_version: int | str | None = None,
    path: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Save one array (zarr-python 3's ``save_array``: an existing array at ``path`` is an
    error unless ``mode="w"`` or ``overwrite=True``); ``kwargs`` are :func:`create`'s."""
    data = _as_ndarray(arr, "arr")
    mode = _check_mode(kwargs.pop("mode", "a"))
    overwrite = bool(kwargs.pop("overwrite", None)) or mode == "w"
    zarr_format, extra = _keywords("save_array", zarr_format, {"zarr_version": zarr_version, **kwargs}, creating=True)
    extra.setdefault("chunks", constructors.shape_and_chunks(data)[1])
    new = await create(
        data.shape,
        dtype=data.dtype,
        store=store,
        path=path,
        zarr_format=zarr_format,
        storage_options=storage_options,
        overwrite=overwrite,
        **extra,
    )
    await constructors.write_data(new, data)


async def save_group(
    store: StoreLike,
    *args: Any,
    zarr_format: int | str | None = None,
    zarr_version: int | str | None = None,
    path: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Save several arrays as a group, replacing what is at ``path``: positional arrays
    as ``arr_0``, ``arr_1``, ... and keyword arrays under their names (zarr-python's
    ``save_group``)."""
    arrays = {f"arr_{i}": _as_ndarray(a, f"positional argument {i}") for i, a in enumerate(args)}
    for k, v in kwargs.items():
        arrays[k] = _as_ndarray(v, f"keyword argument {k!r}")
    if not arrays:
        raise ArgumentError("at least one array must be provided")
    zarr_format, _ = _keywords("save_group", zarr_format, {"zarr_version": zarr_version}, creating=False)
    s = _store(store, "w", storage_options)
    grp = await AsyncGroup.create(s, normalize_path(path), overwrite=True, zarr_format=zarr_format)
    for name, data in arrays.items():  # one after another: each reads the group it lands in
        await grp.create_array(name, data=data)


async def save(
    store: StoreLike,
    *args: Any,
    zarr_format: int | str | None = None,
    zarr_version: int | str | None = None,
    path: str | None = None,
    **kwargs: Any,
) -> None:
    """:func:`save_array` for one positional array, else :func:`save_group` (keyword
    arguments are arrays to save under their names)."""
    if not args and not kwargs:
        raise ArgumentError("at least one array must be provided")
    zarr_format, _ = _keywords("save", zarr_format, {"zarr_version": zarr_version}, creating=False)
    if len(args) == 1 and not kwargs:
        await save_array(store, args[0], zarr_format=zarr_format, path=path)
    else:
        await save_group(store, *args, zarr_format=zarr_format, path=path, **kwargs)


async def load(
    store: StoreLike = None,
    *,
    path: str | None = None,
    zarr_format: int | str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """Read an array into memory, or every array of a group into ``{name: ndarray}``."""
    zarr_format, extra = _keywords("load", zarr_format, kwargs, creating=False)
    node = await open(store, "r", path=path, zarr_format=zarr_format, storage_options=storage_options, **extra)
    if isinstance(node, AsyncArray):
        return await node.getitem(Ellipsis)
    return {name: await a.getitem(Ellipsis) for name, a in await node.arrays()}


async def tree(grp: AsyncGroup, expand: bool | None = None, level: int | None = None) -> str:
    """The text tree of ``grp`` (``level`` levels deep; ``expand`` is for HTML views and ignored)."""
    return await grp.tree(level=level)


# --- copies ---------------------------------------------------------------------------------------------


async def copy(
    source: AsyncArray | AsyncGroup,
    dest: AsyncGroup,
    name: str | None = None,
    shallow: bool = False,
    without_attrs: bool = False,
    log: LogLike = None,
    if_exists: str = "raise",
    dry_run: bool = False,
    **create_kws: Any,
) -> tuple[int, int, int]:
    """Copy an array or group into group ``dest`` (zarr-python 2's ``copy``, see
    :mod:`azarr.core.copy`); returns ``(n_copied, n_skipped, n_bytes_copied)``."""
    from azarr.core import copy as engine

    return await engine.copy(source, dest, name, shallow, without_attrs, log, if_exists, dry_run, **create_kws)


async def copy_all(
    source: AsyncGroup,
    dest: AsyncGroup,
    shallow: bool = False,
    without_attrs: bool = False,
    log: LogLike = None,
    if_exists: str = "raise",
    dry_run: bool = False,
    **create_kws: Any,
) -> tuple[int, int, int]:
    """Copy every child of ``source`` into ``dest`` (zarr-python 2's ``copy_all``)."""
    from azarr.core import copy as engine

    return await engine.copy_all(source, dest, shallow, without_attrs, log, if_exists, dry_run, **create_kws)


async def copy_store(
    source: StoreLike,
    dest: StoreLike,
    source_path: str = "",
    dest_path: str = "",
    excludes: Any = None,
    includes: Any = None,
    flags: int = 0,
    if_exists: str = "raise",
    dry_run: bool = False,
    log: LogLike = None,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> tuple[int, int, int]:
    """Copy every key below ``source_path`` as raw bytes (zarr-python 2's ``copy_store``;
    stores may be URLs)."""
    from azarr.core import copy as engine

    src = _store(source, "r", storage_options)
    dst = _store(dest, "a", storage_options)
    return await engine.copy_store(src, dst, source_path, dest_path, excludes, includes, flags, if_exists, dry_run, log)


__all__ = [
    "AsyncArray",
    "AsyncGroup",
    "array",
    "consolidate_metadata",
    "copy",
    "copy_all",
    "copy_store",
    "create",
    "create_array",
    "create_group",
    "empty",
    "empty_like",
    "from_array",
    "full",
    "full_like",
    "group",
    "load",
    "ones",
    "ones_like",
    "open",
    "open_array",
    "open_consolidated",
    "open_group",
    "open_like",
    "save",
    "save_array",
    "save_group",
    "tree",
    "zeros",
    "zeros_like",
]
