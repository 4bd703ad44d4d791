"""Turn a URL (or a plain path) into a Store, importing only the backend it names."""

from __future__ import annotations

import importlib
import os
from typing import Any

from azarr.errors import MissingDependencyError, StoreConfigError
from azarr.stores._sharing import shared
from azarr.stores.base import Store

# scheme -> (module, class, pip extra). Backends are imported lazily so the core never
# imports an optional dependency.
_SCHEMES: dict[str, tuple[str, str, str | None]] = {
    "memory": ("azarr.stores.memory", "MemoryStore", None),
    "file": ("azarr.stores.local", "LocalStore", None),
    "sqlite": ("azarr.stores.sqlite", "SQLiteStore", None),
    "redis": ("azarr.stores.redis", "RedisStore", "redis"),
    "rediss": ("azarr.stores.redis", "RedisStore", "redis"),
    "mongodb": ("azarr.stores.mongodb", "MongoDBStore", "mongodb"),
    "mongodb+srv": ("azarr.stores.mongodb", "MongoDBStore", "mongodb"),
    "s3": ("azarr.stores.s3", "S3Store", "s3"),
    "gs": ("azarr.stores.gcs", "GCSStore", "gcs"),
    "gcs": ("azarr.stores.gcs", "GCSStore", "gcs"),
    "az": ("azarr.stores.azure", "AzureBlobStore", "azure"),
    "abfs": ("azarr.stores.azure", "AzureBlobStore", "azure"),
    "abfss": ("azarr.stores.azure", "AzureBlobStore", "azure"),
    "http": ("azarr.stores.http", "HTTPStore", "http"),
    "https": ("azarr.stores.http", "HTTPStore", "http"),
}


def store_class(scheme: str) -> type[Store]:
    """Return the Store class registered for a URL scheme (importing its module)."""
    try:
        module, cls, extra = _SCHEMES[scheme]
    except KeyError:
        known = ", ".join(sorted(_SCHEMES))
        raise StoreConfigError(f"unknown store URL scheme {scheme!r} (known: {known})") from None
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        hint = f"pip install 'azarr[{extra}]'" if extra else "a standard-library module"
        raise MissingDependencyError(
            f"the {scheme}:// store needs a dependency that is not installed ({exc}); install it with {hint}"
        ) from exc
    return getattr(mod, cls)


def _scheme(url: str) -> str | None:
    head, sep, _ = url.partition("://")
    if sep and head and all(c.isalnum() or c in "+-." for c in head):
        return head.lower()
    return None


def from_url(url: str | os.PathLike[str], **options: Any) -> Store:
    """Open the store a URL names: ``memory://``, ``file:///dir`` or a plain path,
    ``sqlite:///file.db``, ``redis://host:port/db``, ``mongodb://host/db``,
    ``s3://bucket/prefix``, ``gs://``, ``az://container/prefix``, ``http(s)://``.

    ``options`` are passed to the store's constructor (e.g. ``read_only``,
    ``concurrency``, backend credentials). Network stores (S3, GCS, Azure, HTTP, Redis,
    MongoDB) opened again with an equal configuration are the same live instance, so
    reopening a location reuses its connections (closing it lets the next open start afresh).
    """
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str) or not url:
        raise StoreConfigError(f"a store URL must be a non-empty string, got {url!r}")
    scheme = _scheme(url)
    if scheme is None:
        from azarr.stores.local import LocalStore

        return LocalStore(url, **options)
    # network stores of equal configuration share one live instance (clients, connections)
    return shared(store_class(scheme).from_url(url, **options))


def as_store(store: Store | str | os.PathLike[str] | None, **options: Any) -> Store:
    """Return ``store`` itself if it is a Store, else open it with :func:`from_url`.

    ``None`` gives a new :class:`~azarr.stores.memory.MemoryStore`.
    """
    if isinstance(store, Store):
        # A Store instance is used as given: read-only access is enforced by the node
        # opened on it, and store options belong to the store's own constructor.
        extra = set(options) - {"read_only"}
        if extra:
            raise StoreConfigError(
                f"storage options {sorted(extra)} cannot be applied to an existing store {store.name}"
            )
        return store
    if store is None:
        from azarr.stores.memory import MemoryStore

        return MemoryStore(read_only=bool(options.get("read_only", False)))
    return from_url(store, **options)
