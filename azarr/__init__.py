"""azarr: an asyncio-native client for Zarr (v2, v3) and N5 arrays in cloud and database stores.

Blocking API here (``azarr.open_array(...)[0:10]``); the async API with the same names
is in :mod:`azarr.aio`; stores are in :mod:`azarr.stores`.
"""

from __future__ import annotations

from azarr import aio, errors, stores
from azarr.convenience import (
    LazyLoader,
    array,
    copy,
    copy_all,
    copy_store,
    create_array,
    create_group,
    empty,
    empty_like,
    from_array,
    full,
    full_like,
    load,
    ones,
    ones_like,
    open_like,
    save,
    save_array,
    save_group,
    tree,
    zeros,
    zeros_like,
)
from azarr.core.array import AsyncArray
from azarr.core.group import AsyncGroup
from azarr.errors import AzarrError
from azarr.sync import (
    Array,
    Group,
    consolidate_metadata,
    create,
    group,
    open,
    open_array,
    open_consolidated,
    open_group,
)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # dask integration is optional: imported on first use only
    if name in ("to_dask", "from_dask"):
        from azarr import dask as _dask

        return getattr(_dask, name)
    raise AttributeError(f"module 'azarr' has no attribute {name!r}")

__all__ = [
    "Array",
    "AsyncArray",
    "AsyncGroup",
    "AzarrError",
    "Group",
    "LazyLoader",
    "aio",
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
    "errors",
    "from_array",
    "from_dask",
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
    "stores",
    "to_dask",
    "tree",
    "zeros",
    "zeros_like",
]
