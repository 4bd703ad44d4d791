"""Async key/value stores. Backends with optional dependencies import lazily."""

from __future__ import annotations

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

_LAZY = {
    "SQLiteStore": "sqlite",
    "RedisStore": "redis",
    "MongoDBStore": "mongodb",
    "S3Store": "s3",
    "GCSStore": "gcs",
    "AzureBlobStore": "azure",
    "HTTPStore": "http",
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
    "as_store",
    "from_url",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"azarr.stores.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'azarr.stores' has no attribute {name!r}")
