"""HTTPStore: read-only access to a store served over HTTP(S), on aiohttp.

Keys are appended to the base URL (percent-encoded per segment). 404 (and 403 from
static hosts that hide missing files, when ``missing_on_403=True``) is a missing key;
every other non-2xx answer is an error. Byte ranges use the Range header. HTTP has no
listing, so ``supports_listing`` is False: consolidated metadata (``.zmetadata``) is the
way to open hierarchies over HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from azarr.errors import MissingDependencyError, StoreError, TransientStoreError
from azarr.stores._parts import http_range
from azarr.stores.base import OBJECT_STORE_CONCURRENCY, PerLoop, RetryPolicy, Store
from azarr.stores.hedging import HedgePolicy
from azarr.stores.ranges import ByteRange, SuffixRange, read_range

try:
    import aiohttp
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("HTTPStore needs aiohttp: pip install 'azarr[http]'") from exc

_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


def _redact(url: str) -> str:
    p = urlsplit(url)
    netloc = p.netloc.rpartition("@")[2] if "@" in p.netloc else p.netloc
    return urlunsplit((p.scheme, netloc, p.path, "", ""))


class HTTPStore(Store):
    """A read-only store at ``url`` (``http(s)://host/path/to/data.zarr``)."""

    url_schemes = ("http", "https")
    share_unpickled = True
    hedge_by_default = True
    supports_writes = False
    supports_deletes = False
    supports_listing = False

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        read_only: bool = True,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        hedge: HedgePolicy | bool | None = None,
        timeout: float = 60.0,
        missing_on_403: bool = False,
    ) -> None:
        super().__init__(read_only=True, concurrency=concurrency, retry=retry, hedge=hedge)
        self.url = url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.missing_on_403 = missing_on_403
        self._sessions: PerLoop[Any] = PerLoop()

    @classmethod
    def default_concurrency(cls) -> int:
        """An object store: ~100 ms per request, so many requests in flight."""
        return OBJECT_STORE_CONCURRENCY

    def _config(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "headers": self.headers or None,
            "timeout": self.timeout,
            "missing_on_403": self.missing_on_403,
            "concurrency": self.concurrency,
            "retry": self.retry,
            "hedge": self.hedge_policy or False,
        }

    def with_read_only(self, read_only: bool = True) -> HTTPStore:
        """HTTPStore is always read-only; returns an equivalent store."""
        return HTTPStore(**self._config())

    @classmethod
    def from_url(cls, url: str, **options: Any) -> HTTPStore:
        """Open ``http(s)://...`` (options: headers, timeout, concurrency, ...)."""
        options.pop("read_only", None)
        return cls(url, **options)

    def __repr__(self) -> str:
        return f"HTTPStore({_redact(self.url)!r})"

    def _session(self) -> aiohttp.ClientSession:
        session = self._sessions.get()
        if session is None or session.closed:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.concurrency),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers=self.headers,
                auto_decompress=True,
            )
            self._sessions.set(session)
        return session

    async def close(self) -> None:
        """Close the session of the running loop."""
        session = self._sessions.take()
        if session is not None:
            await session.close()
        await super().close()

    def _is_retryable(self, exc: BaseException) -> bool:
        """Connection errors, timeouts and payload errors are transient."""
        if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)):
            return True
        return super()._is_retryable(exc)

    def _key_url(self, key: str) -> str:
        return self.url + "/" + "/".join(quote(part, safe="") for part in key.split("/"))

    async def _fetch(self, key: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, bytes]:
        async with self._session().request(method, self._key_url(key), headers=headers) as resp:
            if resp.status == 404 or (resp.status == 403 and self.missing_on_403):
                return 404, b""
            if resp.status == 416:
                return 416, b""
            if resp.status in _TRANSIENT_STATUS:
                raise TransientStoreError(f"HTTP {resp.status} {resp.reason}", store=self.name, key=key)
            if resp.status >= 400:
                raise StoreError(f"{self.name}: GET {key!r} answered HTTP {resp.status} {resp.reason}", store=self.name, key=key)
            return resp.status, await resp.read()

    async def _get(self, key: str) -> bytes | None:
        status, data = await self._fetch(key)
        return None if status == 404 else data

    async def _get_range(self, key: str, start: int, end: int | None) -> bytes | None:
        return await self._ranged(key, ByteRange(start, end))

    async def _get_suffix(self, key: str, length: int) -> bytes | None:
        return await self._ranged(key, SuffixRange(length))

    async def _ranged(self, key: str, rng: ByteRange | SuffixRange) -> bytes | None:
        if rng.is_empty:  # no bytes to ask for (and some servers answer bytes=-0 with everything)
            return b"" if await self._exists(key) else None
        status, data = await self._fetch(key, {"Range": http_range(rng)})
        if status == 404:
            return None
        if status == 416:  # nothing of the range exists: past the end, or an empty file
            return b"" if await self._exists(key) else None
        if status == 200:  # the server ignored the Range header: cut the range here
            return read_range(data, rng)
        return data

    async def _exists(self, key: str) -> bool:
        status, _ = await self._fetch(key, method="HEAD")
        return status != 404

    async def _set(self, key: str, value: bytes) -> None:  # pragma: no cover - read-only
        raise StoreError(f"{self.name} is read-only", key=key)

    async def _delete(self, key: str) -> None:  # pragma: no cover - read-only
        raise StoreError(f"{self.name} is read-only", key=key)

    async def _list_prefix(self, prefix: str) -> AsyncIterator[str]:
        raise StoreError(
            f"{self.name} cannot list keys (HTTP has no listing); open hierarchies with consolidated metadata",
            store=self.name,
            key=prefix or None,
        )
        yield ""  # pragma: no cover
