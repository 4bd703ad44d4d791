"""HTTPStore: read-only access to a store served over HTTP(S), on aiohttp.

Keys are appended to the base URL (percent-encoded per segment). 404 (and 403 from
static hosts that hide missing files, when ``missing_on_403=True``) is a missing key;
every other non-2xx answer is an error. Byte ranges use the Range header. HTTP has no
listing, so ``supports_listing`` is False: consolidated metadata (``.zmetadata``) is the
way to open hierarchies over HTTP.

Credentials (the ``headers`` given, and a ``user:password@`` in the URL, sent as Basic
authorisation) go only to the URL's own origin (scheme, host and port): redirects are
followed here, not by aiohttp, and a request redirected to another origin, a plain-HTTP
one included, goes without them, as browsers and ``requests`` drop ``Authorization``.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from azarr.errors import MissingDependencyError, StoreError, ThrottledError, TransientStoreError
from azarr.stores._parts import http_range
from azarr.stores._redact import redact
from azarr.stores.base import OBJECT_STORE_CONCURRENCY, PerLoop, RetryPolicy, Store
from azarr.stores.hedging import HedgePolicy
from azarr.stores.ranges import ByteRange, SuffixRange, read_range

try:
    import aiohttp
    from yarl import URL
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("HTTPStore needs aiohttp: pip install 'azarr[http]'") from exc

_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_THROTTLE_STATUS = {429, 503}
_REDIRECT_STATUS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 10


def _origin(url: str | URL) -> tuple[str, str, int | None]:
    u = URL(url) if isinstance(url, str) else url
    return (u.scheme.lower(), (u.host or "").lower(), u.port)


def _split_userinfo(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without ``user:password@``, and the Basic ``Authorization`` header it stood for."""
    p = urlsplit(url)
    if "@" not in p.netloc:
        return url, {}
    userinfo, _, host = p.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(p._replace(netloc=host)), {"Authorization": f"Basic {token}"}


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
        plain_url, basic = _split_userinfo(self.url)
        self._base = plain_url  # keys are appended to this; credentials travel as headers
        self._origin = _origin(plain_url)
        self._credentials = {**basic, **self.headers}
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
        return f"HTTPStore({redact(self.url)!r})"

    def _connector(self) -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(limit=self.concurrency)

    def _session(self) -> aiohttp.ClientSession:
        session = self._sessions.get()
        if session is None or session.closed:
            session = aiohttp.ClientSession(
                connector=self._connector(),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
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
        """Connection errors, timeouts and payload errors are transient (a certificate a
        client does not trust is not)."""
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return False
        if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError)):
            return True
        return super()._is_retryable(exc)

    def _key_url(self, key: str) -> str:
        return self._base + "/" + "/".join(quote(part, safe="") for part in key.split("/"))

    async def _fetch(self, key: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, bytes]:
        url = URL(self._key_url(key))
        for _ in range(MAX_REDIRECTS + 1):
            # credentials only for the store's own origin: never after a redirect elsewhere
            send = {**self._credentials, **(headers or {})} if _origin(url) == self._origin else dict(headers or {})
            async with self._session().request(method, url, headers=send, allow_redirects=False) as resp:
                location = resp.headers.get("Location")
                if resp.status in _REDIRECT_STATUS and location:
                    url = resp.url.join(URL(location))
                    if resp.status == 303 and method != "HEAD":
                        method = "GET"
                    continue
                if resp.status == 404 or (resp.status == 403 and self.missing_on_403):
                    return 404, b""
                if resp.status == 416:
                    return 416, b""
                if resp.status in _TRANSIENT_STATUS:
                    cls = ThrottledError if resp.status in _THROTTLE_STATUS else TransientStoreError
                    raise cls(f"HTTP {resp.status} {resp.reason}", store=self.name, key=key)
                if resp.status >= 400:
                    raise StoreError(f"{self.name}: GET {key!r} answered HTTP {resp.status} {resp.reason}", store=self.name, key=key)
                return resp.status, await resp.read()
        raise StoreError(f"{self.name}: GET {key!r} redirected more than {MAX_REDIRECTS} times", store=self.name, key=key)

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
