"""Async key/value stores. Backends with optional dependencies import lazily."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from azarr.stores.base import (
    ABSENT,
    DEFAULT_CONCURRENCY,
    ConcurrencyLimiter,
    RetryPolicy,
    Store,
    Version,
    Versioned,
)
from azarr.stores.local import LocalStore
from azarr.stores.memory import MemoryStore
from azarr.stores.registry import as_store, from_url

if TYPE_CHECKING:  # pragma: no cover
    from azarr.stores.azure import AzureBlobStore
    from azarr.stores.gcs import GCSStore
    from azarr.stores.http import HTTPStore
    from azarr.stores.mongodb import MongoDBStore
    from azarr.stores.redis import RedisStore
    from azarr.stores.s3 import S3Store
    from azarr.stores.sqlite import SQLiteStore
    from azarr.stores.zarr_adapter import ZarrStoreAdapter

_LAZY = {
    "SQLiteStore": "sqlite",
    "RedisStore": "redis",
    "MongoDBStore": "mongodb",
    "S3Store": "s3",
    "GCSStore": "gcs",
    "AzureBlobStore": "azure",
    "HTTPStore": "http",
    "ZarrStoreAdapter": "zarr_adapter",
}

__all__ = [
    "ABSENT",
    "DEFAULT_CONCURRENCY",
    "AzureBlobStore",
    "ConcurrencyLimiter",
    "GCSStore",
    "HTTPStore",
    "LocalStore",
    "MemoryStore",
    "MongoDBStore",
    "RedisStore",
    "RetryPolicy",
    "S3Store",
    "SQLiteStore",
    "Store",
    "Version",
    "Versioned",
    "ZarrStoreAdapter",
    "as_store",
    "as_zarr_store",
    "from_url",
]


def as_zarr_store(
    store_or_url: Store | ZarrStoreAdapter | str | os.PathLike[str] | None,
    read_only: bool = False,
    **storage_options: Any,
) -> ZarrStoreAdapter:
    """An azarr store (or a store URL) as a zarr-python 3 store, for ``zarr.open_group``,
    ``zarr.create_array``, ``xr.open_zarr`` and ``Dataset.to_zarr``.

    ``zarr.open_group(as_zarr_store("redis://host:6379/0?prefix=x"), mode="w")``.
    ``storage_options`` go to the azarr store's constructor when a URL is given. Needs
    zarr-python >= 3 (``pip install 'azarr[zarr]'``; a
    :class:`~azarr.errors.MissingDependencyError` says so otherwise). See
    :class:`~azarr.stores.zarr_adapter.ZarrStoreAdapter`.
    """
    from azarr.stores import zarr_adapter

    return zarr_adapter.as_zarr_store(store_or_url, read_only, **storage_options)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"azarr.stores.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'azarr.stores' has no attribute {name!r}")
