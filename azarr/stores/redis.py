"""RedisStore: keys ``"<prefix>:<key>"`` in Redis, as zarr-python 2's RedisStore, on redis.asyncio.

``get_many`` is one MGET per batch, ``get_ranges`` one MULTI/EXEC transaction of GETRANGEs
per batch, ``set_many`` one MSET (atomic) per batch, ``delete_many`` one DEL per batch,
listing uses SCAN (never KEYS). redis.asyncio clients belong to the event loop that
created them, so one client (with a connection pool sized to the store's concurrency) is
kept per running loop and created lazily.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from azarr.errors import MissingDependencyError, StoreConfigError
from azarr.stores._redact import redact
from azarr.stores.base import PerLoop, RetryPolicy, Store, Version, Versioned
from azarr.stores.ranges import ByteRange, RangeRequest

try:
    import redis.asyncio as aioredis
    import redis.exceptions as redis_exceptions
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("RedisStore needs redis-py: pip install 'azarr[redis]'") from exc

_GLOB_SPECIAL = set("*?[]\\")


def _escape_glob(text: str) -> str:
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in text)


def _split_prefix(url: str) -> tuple[str, str | None]:
    """``url`` without its ``prefix=`` query parameter, and that parameter's value."""
    p = urlparse(url)
    if "prefix=" not in p.query:
        return url, None
    query = parse_qsl(p.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), None)
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunparse(p._replace(query=rest)), prefix


# Compare-and-swap of a whole batch in one round trip, atomically (a script runs alone).
# KEYS: the keys; ARGV, three per key: the expected SHA-1 of the value ("" = must not
# exist), "1" to set / "0" to delete, the new value. Returns the 1-based indices of the
# keys that conflicted (nothing is written for those).
_CAS_SCRIPT = """
local conflicts = {}
for i, key in ipairs(KEYS) do
  local expected = ARGV[3 * i - 2]
  local current = redis.call('GET', key)
  local same
  if current then same = expected ~= '' and redis.sha1hex(current) == expected else same = expected == '' end
  if not same then
    conflicts[#conflicts + 1] = i
  elseif ARGV[3 * i - 1] == '1' then
    redis.call('SET', key, ARGV[3 * i])
  elseif current then
    redis.call('DEL', key)
  end
end
return conflicts
"""


def _digest(value: bytes | None) -> str | None:
    return None if value is None else hashlib.sha1(value, usedforsecurity=False).hexdigest()


class RedisStore(Store):
    """A store in a Redis database.

    ``RedisStore("redis://host:6379/0", prefix="zarr")`` or ``RedisStore(client)`` with a
    ``redis.asyncio.Redis``. With a client, pickling recreates a client from its
    connection settings. URL query ``?prefix=...`` sets the prefix (a ``prefix=``
    keyword wins over it); without either it is zarr-python 2's ``"zarr"``.

    Compare-and-swap: the version of a value is its SHA-1; a conditional batch is one
    Lua script (one round trip) that compares and writes every key atomically.
    """

    url_schemes = ("redis", "rediss")
    supports_conditional_writes = True
    share_unpickled = True

    def __init__(
        self,
        url: str | Any = "redis://127.0.0.1:6379/0",
        *,
        prefix: str | None = None,
        read_only: bool = False,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        connection_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(read_only=read_only, concurrency=concurrency, retry=retry)
        self._given_client = None
        if isinstance(url, str):
            url, url_prefix = _split_prefix(url)
            if prefix is None:
                prefix = url_prefix
            self.url: str | None = url
            self._connection_kwargs = dict(connection_kwargs or {})
        elif url is not None and hasattr(url, "connection_pool"):
            self._given_client = url
            self.url = None
            kwargs = dict(url.connection_pool.connection_kwargs)
            self._connection_kwargs = {
                k: v for k, v in kwargs.items() if k in ("host", "port", "db", "username", "password", "socket_timeout", "ssl")
            }
        elif url is None and connection_kwargs:
            self.url, self._connection_kwargs = None, dict(connection_kwargs)
        else:
            raise StoreConfigError(f"RedisStore needs a redis:// URL or a redis.asyncio client, got {type(url).__name__}")
        if prefix is None:
            prefix = "zarr"
        if not isinstance(prefix, str) or not prefix:
            raise StoreConfigError("RedisStore prefix must be a non-empty string")
        self.prefix = prefix
        self._clients: PerLoop[Any] = PerLoop()

    def _config(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "prefix": self.prefix,
            "connection_kwargs": self._connection_kwargs or None,
            **self._base_config(),
        }

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStore:
        """Open ``redis://[user:pass@]host:port/db?prefix=name`` (``rediss://`` for TLS)."""
        return cls(url, **options)

    def __repr__(self) -> str:
        where = redact(self.url) if self.url else "{host}:{port}/{db}".format(
            host=self._connection_kwargs.get("host", "?"),
            port=self._connection_kwargs.get("port", "?"),
            db=self._connection_kwargs.get("db", 0),
        )
        return f"RedisStore({where!r}, prefix={self.prefix!r})"

    # --- clients, one per event loop -------------------------------------------------------

    def _client(self) -> Any:
        client = self._clients.get()
        if client is None:
            if self._given_client is not None and not self._clients:
                client = self._given_client
            elif self.url is not None:
                client = aioredis.Redis.from_url(
                    self.url, max_connections=self.concurrency, **self._connection_kwargs
                )
            else:
                client = aioredis.Redis(max_connections=self.concurrency, **self._connection_kwargs)
            self._clients.set(client)
        return client

    async def close(self) -> None:
        """Close the client of the running loop (clients of other loops are dropped)."""
        client = self._clients.take()
        if client is not None and client is not self._given_client:
            await client.aclose()
        await super().close()

    def _is_retryable(self, exc: BaseException) -> bool:
        """Connection problems, timeouts and a server still loading its data are transient."""
        if isinstance(exc, (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError, redis_exceptions.BusyLoadingError)):
            return True
        return super()._is_retryable(exc)

    def _k(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    # --- primitives -------------------------------------------------------------------------

    async def _get(self, key: str) -> bytes | None:
        return await self._client().get(self._k(key))

    async def _set(self, key: str, value: bytes) -> None:
        await self._client().set(self._k(key), value)

    async def _delete(self, key: str) -> None:
        await self._client().delete(self._k(key))

    async def _exists(self, key: str) -> bool:
        return bool(await self._client().exists(self._k(key)))

    async def _list_prefix(self, prefix: str) -> AsyncIterator[str]:
        offset = len(self.prefix) + 1
        pattern = _escape_glob(self._k(prefix)) + "*"
        async for raw in self._client().scan_iter(match=pattern, count=1000):
            yield (raw.decode("utf-8") if isinstance(raw, bytes) else raw)[offset:]

    async def _list_prefix_sizes(self, prefix: str) -> AsyncIterator[tuple[str, int]]:
        keys = [k async for k in self._list_prefix(prefix)]
        client = self._client()
        for i in range(0, len(keys), self.batch_size):
            part = keys[i : i + self.batch_size]
            # STRLEN per key, pipelined: one round trip per batch, no value leaves the server
            async with client.pipeline(transaction=False) as pipe:
                for key in part:
                    pipe.strlen(self._k(key))
                lengths = await pipe.execute()
            empty = [k for k, n in zip(part, lengths) if not n]
            gone: set[str] = set()
            if empty:  # STRLEN answers 0 for a missing key too: ask which of these still exist
                async with client.pipeline(transaction=False) as pipe:
                    for key in empty:
                        pipe.exists(self._k(key))
                    gone = {k for k, e in zip(empty, await pipe.execute()) if not e}
            for key, n in zip(part, lengths):
                if key not in gone:
                    yield key, int(n)

    # --- native batches: one command per batch ------------------------------------------------

    async def _get_batch(self, keys: list[str]) -> dict[str, bytes]:
        values = await self._client().mget([self._k(k) for k in keys])
        return {k: v for k, v in zip(keys, values) if v is not None}

    async def _get_ranges_batch(self, requests: list[RangeRequest]) -> dict[RangeRequest, bytes]:
        # One MULTI/EXEC round trip for the whole batch. GETRANGE answers "" for a missing
        # key, so each ranged key also gets one EXISTS, in the same transaction: the answers
        # describe one moment, and a missing key is never read as an empty value.
        replies_for: list[tuple[RangeRequest, int | None, int]] = []  # (request, data reply, exists reply)
        exists_at: dict[str, int] = {}
        n = 0
        async with self._client().pipeline(transaction=True) as pipe:
            for key, rng in requests:
                k = self._k(key)
                if rng is None:  # GET tells missing (nil) from empty itself
                    pipe.get(k)
                    replies_for.append(((key, rng), n, n))
                    n += 1
                    continue
                if key not in exists_at:
                    pipe.exists(k)
                    exists_at[key] = n
                    n += 1
                if rng.is_empty:  # GETRANGE has no empty range (k 0 -1 is the whole value)
                    replies_for.append(((key, rng), None, exists_at[key]))
                    continue
                if isinstance(rng, ByteRange):  # GETRANGE's end is inclusive; -1 = the last byte
                    pipe.getrange(k, rng.start, -1 if rng.end is None else rng.end - 1)
                else:
                    pipe.getrange(k, -rng.length, -1)  # Redis clamps a suffix longer than the value
                replies_for.append(((key, rng), n, exists_at[key]))
                n += 1
            replies = await pipe.execute()
        out: dict[RangeRequest, bytes] = {}
        for request, data_at, found_at in replies_for:
            if data_at == found_at:  # a whole GET: None is missing
                if replies[data_at] is not None:
                    out[request] = replies[data_at]
            elif replies[found_at]:
                out[request] = b"" if data_at is None else replies[data_at]
        return out

    async def _set_batch(self, items: dict[str, bytes]) -> None:
        await self._client().mset({self._k(k): v for k, v in items.items()})

    async def _delete_batch(self, keys: list[str]) -> None:
        await self._client().delete(*[self._k(k) for k in keys])

    # --- compare-and-swap: versions are SHA-1 digests, a batch is one atomic script ------------

    async def _get_versioned(self, key: str) -> Versioned:
        value = await self._get(key)
        return Versioned(value, _digest(value))

    async def _get_versioned_batch(self, keys: list[str]) -> dict[str, Versioned]:
        values = await self._client().mget([self._k(k) for k in keys])
        return {k: Versioned(v, _digest(v)) for k, v in zip(keys, values)}

    async def _set_if(self, key: str, value: bytes | None, expected: Version) -> bool:
        return not await self._set_if_batch({key: (value, expected)})

    async def _set_if_batch(self, items: dict[str, tuple[bytes | None, Version]]) -> set[str]:
        keys = list(items)
        args: list[bytes | str] = []
        for value, expected in items.values():
            if expected is not None and not isinstance(expected, str):
                expected = "not-a-digest"  # a version from elsewhere can only conflict
            args += [expected or "", "0" if value is None else "1", b"" if value is None else value]
        script = self._client().register_script(_CAS_SCRIPT)
        conflicts = await script(keys=[self._k(k) for k in keys], args=args)
        return {keys[int(i) - 1] for i in conflicts}
