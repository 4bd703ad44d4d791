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
from azarr.stores._redact import redact
from azarr.stores.base import PerLoop, RetryPolicy, Store, Version, Versioned
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
_DUPLICATE_KEY = 11000
_INDEX_CONFLICTS = {85, 86}  # IndexOptionsConflict, IndexKeySpecsConflict: a non-unique index on "key" exists


class ValueTooLargeError(StoreError, ValueError):
    """A value exceeds what one MongoDB document can hold (16 MiB)."""


class MongoDBStore(Store):
    """A store in a MongoDB collection.

    ``MongoDBStore("mongodb://host:27017", database="mongodb_zarr",
    collection="zarr_collection")`` or ``MongoDBStore(client)`` with an
    ``AsyncMongoClient`` (pickling then reconnects with the client's host list).
    ``server_selection_timeout`` (seconds, default 10) bounds how long a request waits
    for a reachable server; that wait is the driver's own retry, so a dead server fails
    once, after it, with a :class:`~azarr.errors.StoreError` naming the store.

    Compare-and-swap: the version of a value is its bytes; a conditional write is a
    replace (or delete) filtered on the old value, or an insert for a key that must not
    exist, one request per key. A write store ensures a unique index on ``key`` (which
    makes "must not exist" strict); on a collection that already has a non-unique index
    there, creates fall back to a ``$setOnInsert`` upsert, which two racing creators of
    the same key can both pass (drop that index to get the strict form).
    """

    url_schemes = ("mongodb", "mongodb+srv")
    supports_conditional_writes = True
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
        server_selection_timeout: float = 10.0,
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
        if not server_selection_timeout > 0:
            raise StoreConfigError(f"server_selection_timeout must be > 0 seconds, got {server_selection_timeout!r}")
        self.server_selection_timeout = float(server_selection_timeout)
        self._clients: PerLoop[Any] = PerLoop()
        self._indexed: dict[int, bool] = {}  # client id -> whether "key" has a unique index

    def _config(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "database": self.database,
            "collection": self.collection,
            "client_options": self.client_options or None,
            "batch_size": self.batch_size,
            "server_selection_timeout": self.server_selection_timeout,
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
        return f"MongoDBStore({redact(self.url)!r}, database={self.database!r}, collection={self.collection!r})"

    # --- clients, one per event loop ---------------------------------------------------------

    def _coll(self) -> Any:
        client = self._clients.get()
        if client is None:
            if self._given_client is not None and not self._clients:
                client = self._given_client
            else:
                timeout_ms = int(self.server_selection_timeout * 1000)
                opts = {"maxPoolSize": self.concurrency, "serverSelectionTimeoutMS": timeout_ms,
                        "connectTimeoutMS": min(timeout_ms, 20_000), **self.client_options}
                client = AsyncMongoClient(self.url, **opts)
            self._clients.set(client)
        return client.get_database(self.database).get_collection(self.collection)

    async def _ready(self) -> Any:
        coll = self._coll()
        client_id = id(coll.database.client)
        if client_id not in self._indexed and not self.read_only:
            try:
                await coll.create_index("key", unique=True)
                self._indexed[client_id] = True
            except mongo_errors.OperationFailure as exc:
                if exc.code not in _INDEX_CONFLICTS and exc.code != _DUPLICATE_KEY:
                    raise
                # a non-unique index on "key" exists (or duplicate keys do): keep it
                self._indexed[client_id] = False
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
        if isinstance(exc, mongo_errors.ServerSelectionTimeoutError):
            return False  # the driver already waited server_selection_timeout for a server
        if isinstance(exc, (mongo_errors.AutoReconnect, mongo_errors.NetworkTimeout)):
            return True
        if isinstance(exc, mongo_errors.PyMongoError) and exc.has_error_label("RetryableWriteError"):
            return True
        if isinstance(exc, mongo_errors.DuplicateKeyError):
            return True  # two upserts raced to insert the same new key: the retry replaces
        if isinstance(exc, mongo_errors.BulkWriteError):
            errors = exc.details.get("writeErrors") or []
            return bool(errors) and all(e.get("code") == _DUPLICATE_KEY for e in errors)
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

    async def _list_prefix_sizes(self, prefix: str) -> AsyncIterator[tuple[str, int]]:
        query = {"key": {"$regex": "^" + re.escape(prefix)}} if prefix else {}
        # $binarySize in the projection: the server measures, no value is sent
        async for doc in self._coll().find(query, {"_id": 0, "key": 1, "size": {"$binarySize": "$value"}}):
            yield doc["key"], int(doc["size"] or 0)

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

    # --- compare-and-swap: filtered on the old value, one bulk_write per batch ------------------

    async def _get_versioned(self, key: str) -> Versioned:
        value = await self._get(key)
        return Versioned(value, value)

    async def _get_versioned_batch(self, keys: list[str]) -> dict[str, Versioned]:
        found = await self._get_batch(keys)
        return {k: Versioned(found.get(k), found.get(k)) for k in keys}

    async def _set_if(self, key: str, value: bytes | None, expected: Version) -> bool:
        # One request per key: a bulk_write reports totals, not which filtered op matched,
        # and a conflict must be known key by key (only the edges of a write are
        # conditional, so these are few).
        if value is not None:
            self._check_size(key, value)
        coll = await self._ready()
        if expected is not None and not isinstance(expected, bytes):
            return False  # a version from another kind of store can only conflict
        if expected is None and value is None:  # "delete if absent": check it still is
            return await coll.count_documents({"key": key}, limit=1) == 0
        if expected is None:
            doc = {"key": key, "value": Binary(value)}  # type: ignore[arg-type]
            if self._indexed.get(id(coll.database.client), False):
                try:
                    await coll.insert_one(doc)
                except mongo_errors.DuplicateKeyError:
                    return False
                return True
            result = await coll.update_one({"key": key}, {"$setOnInsert": doc}, upsert=True)
            return result.upserted_id is not None
        old = {"key": key, "value": Binary(expected)}
        if value is None:
            return (await coll.delete_one(old)).deleted_count == 1
        return (await coll.replace_one(old, {"key": key, "value": Binary(value)})).matched_count == 1
