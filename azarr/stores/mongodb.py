"""MongoDBStore: documents ``{key, value}`` as zarr-python 2's MongoDBStore, on pymongo's AsyncMongoClient.

``get_many`` is one ``find({"key": {"$in": [...]}})`` per batch (``get_ranges`` too: documents are
read whole and sliced here, as MongoDB cannot slice binary data), ``set_many`` one unordered
``bulk_write`` of upserts per batch, ``delete_many`` one ``delete_many`` per batch. An
index on ``key`` is ensured once per client. A value that cannot fit MongoDB's 16 MiB
document limit is refused with :class:`ValueTooLargeError` naming the key, before
anything is sent (values are never split or truncated).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse, urlunparse

from azarr.errors import MissingDependencyError, StoreConfigError, StoreError
from azarr.stores.base import PerLoop, RetryPolicy, Store
from azarr.stores.ranges import RangeRequest, read_range

try:
    from bson import Binary
    from pymongo import AsyncMongoClient, ReplaceOne
    from pymongo import errors as mongo_errors
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("MongoDBStore needs pymongo >= 4.13: pip install 'azarr[mongodb]'") from exc

#: MongoDB's BSON document size limit, less room for the key and document overhead.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
_OVERHEAD = 1024


class ValueTooLargeError(StoreError, ValueError):
    """A value exceeds what one MongoDB document can hold (16 MiB)."""


def _hide_password(url: str) -> str:
    p = urlparse(url)
    if "@" not in p.netloc:
        return url
    return urlunparse(p._replace(netloc="***@" + p.netloc.rpartition("@")[2]))


class MongoDBStore(Store):
    """A store in a MongoDB collection.

    ``MongoDBStore("mongodb://host:27017", database="mongodb_zarr",
    collection="zarr_collection")`` or ``MongoDBStore(client)`` with an
    ``AsyncMongoClient`` (pickling then reconnects with the client's host list).
    """

    url_schemes = ("mongodb", "mongodb+srv")
    share_unpickled = True
    #: keys per ``$in`` find / bulk_write. Measured (benchmarks/db_batching.py): the test
    #: server's ``$in`` cost grows faster than linearly, so moderate batches run several
    #: finds concurrently instead of one huge one; pass ``batch_size=`` to tune.
    batch_size = 100

    def __init__(
        self,
        url: str | Any = "mongodb://127.0.0.1:27017",
        *,
        database: str = "mongodb_zarr",
        collection: str = "zarr_collection",
        read_only: bool = False,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        client_options: dict[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> None:
        super().__init__(read_only=read_only, concurrency=concurrency, retry=retry)
        if batch_size is not None:
            if int(batch_size) < 1:
                raise StoreConfigError(f"batch_size must be >= 1, got {batch_size}")
            self.batch_size = int(batch_size)
        self._given_client = None
        if isinstance(url, str):
            self.url = url
        elif url is not None and hasattr(url, "address") and hasattr(url, "get_database"):
            self._given_client = url
            nodes = getattr(url, "_topology_settings", None)
            seeds = getattr(nodes, "seeds", None) if nodes is not None else None
            hosts = ",".join(f"{h}:{p}" for h, p in (seeds or [("127.0.0.1", 27017)]))
            self.url = f"mongodb://{hosts}/?directConnection=true" if len(seeds or []) <= 1 else f"mongodb://{hosts}/"
        else:
            raise StoreConfigError(f"MongoDBStore needs a mongodb:// URL or an AsyncMongoClient, got {type(url).__name__}")
        self.database = database
        self.collection = collection
        self.client_options = dict(client_options or {})
        self._clients: PerLoop[Any] = PerLoop()
        self._indexed: set[int] = set()

    def _config(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "database": self.database,
            "collection": self.collection,
            "client_options": self.client_options or None,
            "batch_size": self.batch_size,
            **self._base_config(),
        }

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MongoDBStore:
        """Open ``mongodb://host:port/database?collection=name`` (database/collection default to zarr-python 2's)."""
        p = urlparse(url)
        db = p.path.strip("/")
        params = dict(x.split("=", 1) for x in p.query.split("&") if "=" in x)
        coll = params.pop("collection", None)
        if db:
            options.setdefault("database", db)
        if coll:
            options.setdefault("collection", coll)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return cls(urlunparse(p._replace(path="/", query=query)), **options)

    def __repr__(self) -> str:
        return f"MongoDBStore({_hide_password(self.url)!r}, database={self.database!r}, collection={self.collection!r})"

    # --- clients, one per event loop ---------------------------------------------------------

    def _coll(self) -> Any:
        client = self._clients.get()
        if client is None:
            if self._given_client is not None and not self._clients:
                client = self._given_client
            else:
                opts = {"maxPoolSize": self.concurrency, "serverSelectionTimeoutMS": 10_000, **self.client_options}
                client = AsyncMongoClient(self.url, **opts)
            self._clients.set(client)
        return client.get_database(self.database).get_collection(self.collection)

    async def _ready(self) -> Any:
        coll = self._coll()
        client_id = id(coll.database.client)
        if client_id not in self._indexed and not self.read_only:
            await coll.create_index("key")
            self._indexed.add(client_id)
        return coll

    async def close(self) -> None:
        """Close the client of the running loop."""
        client = self._clients.take()
        if client is not None and client is not self._given_client:
            await client.close()
        self._indexed.clear()
        await super().close()

    def _is_retryable(self, exc: BaseException) -> bool:
        """Network errors, timeouts and pymongo's own "retryable" labels are transient."""
        if isinstance(exc, (mongo_errors.AutoReconnect, mongo_errors.NetworkTimeout, mongo_errors.ServerSelectionTimeoutError)):
            return True
        if isinstance(exc, mongo_errors.PyMongoError) and exc.has_error_label("RetryableWriteError"):
            return True
        return super()._is_retryable(exc)

    def _check_size(self, key: str, value: bytes | memoryview) -> None:
        if len(value) + len(key.encode()) + _OVERHEAD > MAX_DOCUMENT_BYTES:
            raise ValueTooLargeError(
                f"{self.name}: value for key {key!r} is {len(value)} bytes; a MongoDB document holds at most "
                f"16 MiB (use smaller chunks)",
                store=self.name,
                key=key,
            )

    async def set_many(self, items: Any) -> None:
        """Store every pair; every size is checked first, so an oversize value writes nothing."""
        for k, v in items.items():
            self._check_size(k, memoryview(v).cast("B") if not isinstance(v, bytes) else v)
        await super().set_many(items)

    # --- primitives ------------------------------------------------------------------------------

    async def _get(self, key: str) -> bytes | None:
        doc = await self._coll().find_one({"key": key}, {"_id": 0, "value": 1})
        return None if doc is None else bytes(doc["value"])

    async def _set(self, key: str, value: bytes) -> None:
        self._check_size(key, value)
        coll = await self._ready()
        await coll.replace_one({"key": key}, {"key": key, "value": Binary(value)}, upsert=True)

    async def _delete(self, key: str) -> None:
        await self._coll().delete_many({"key": key})

    async def _exists(self, key: str) -> bool:
        return await self._coll().count_documents({"key": key}, limit=1) > 0

    async def _list_prefix(self, prefix: str) -> AsyncIterator[str]:
        query = {"key": {"$regex": "^" + re.escape(prefix)}} if prefix else {}
        async for doc in self._coll().find(query, {"_id": 0, "key": 1}):
            yield doc["key"]

    # --- native batches ----------------------------------------------------------------------------

    async def _get_batch(self, keys: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        async for doc in self._coll().find({"key": {"$in": keys}}, {"_id": 0, "key": 1, "value": 1}):
            out[doc["key"]] = bytes(doc["value"])
        return out

    async def _get_ranges_batch(self, requests: list[RangeRequest]) -> dict[RangeRequest, bytes]:
        values = await self._get_batch(list(dict.fromkeys(k for k, _ in requests)))
        return {(k, r): read_range(values[k], r) for k, r in requests if k in values}

    async def _set_batch(self, items: dict[str, bytes]) -> None:
        for k, v in items.items():
            self._check_size(k, v)
        coll = await self._ready()
        ops = [ReplaceOne({"key": k}, {"key": k, "value": Binary(v)}, upsert=True) for k, v in items.items()]
        await coll.bulk_write(ops, ordered=False)

    async def _delete_batch(self, keys: list[str]) -> None:
        await self._coll().delete_many({"key": {"$in": keys}})
