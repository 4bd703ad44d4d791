"""GCSStore: objects in a Google Cloud Storage bucket, on gcsfs's async API.

One ``GCSFileSystem(asynchronous=True)`` per running event loop (its aiohttp session is
bound to that loop), created lazily with the listings cache off so listings are never
stale. Configuration follows gcsfs: ``endpoint_url``, else ``STORAGE_EMULATOR_HOST``
(``host:port`` means http, as in gcsfs); credentials from ``token`` (None runs gcsfs's
chain: ``GOOGLE_APPLICATION_CREDENTIALS`` / application-default credentials, the gcloud
cache, the metadata server, then anonymous; "anon"; a service account file; a dict;
google.auth credentials), which never appear in repr or errors.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlparse

from azarr.errors import AuthenticationError, MissingDependencyError, StoreConfigError, StoreError
from azarr.stores._gcshttp import GCSObjectClient
from azarr.stores._http1 import HTTPStatusError, tls_context
from azarr.stores._parts import get_in_parts, get_versioned_in_parts, http_range, range_answer
from azarr.stores._proxy import lean_supports, proxy_for
from azarr.stores._redact import redact
from azarr.stores.base import OBJECT_STORE_CONCURRENCY, PerLoop, RetryPolicy, Store, Version, Versioned
from azarr.stores.hedging import HedgePolicy
from azarr.stores.ranges import ByteRange, SuffixRange

# gcsfs >= 2026 probes bucket types over TLS gRPC when this is on, which stalls every
# write against emulators for 60 s; azarr needs none of those experimental features.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

try:
    import aiohttp
    import gcsfs
    from gcsfs.retry import HttpError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("GCSStore needs gcsfs: pip install 'azarr[gcs]'") from exc

_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_THROTTLE_STATUS = {429, 503}  # rateLimitExceeded and "slow down" answers


def emulator_host() -> str | None:
    """``STORAGE_EMULATOR_HOST`` as gcsfs reads it: ``host:port`` means http; "default" is unset."""
    host = os.environ.get("STORAGE_EMULATOR_HOST", "")
    if host in ("", "default"):
        return None
    return host if host.startswith(("http://", "https://")) else f"http://{host}"


class _SingleAttemptGCSFileSystem(gcsfs.GCSFileSystem):
    """gcsfs with its own retry loop removed: retries happen once, in the Store base
    (gcsfs would otherwise retry 6 times with up to 31 s of backoff underneath ours)."""

    _request = getattr(gcsfs.GCSFileSystem._request, "__wrapped__", gcsfs.GCSFileSystem._request)


class GCSStore(Store):
    """A store under ``prefix`` in GCS bucket ``bucket`` (``gs://bucket/prefix``).

    Compare-and-swap: the version is the object's generation; conditional writes are
    uploads and deletes with ``ifGenerationMatch`` (``0``: must not exist), which GCS
    checks atomically.
    """

    url_schemes = ("gs", "gcs")
    supports_conditional_writes = True
    share_unpickled = True
    hedge_by_default = True

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        project: str | None = None,
        token: Any = None,
        endpoint_url: str | None = None,
        requester_pays: bool | str = False,
        read_only: bool = False,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        hedge: HedgePolicy | bool | None = None,
        timeout: float = 60.0,
        fast_path: bool = True,
        part_size: int | None = 8 * 1024 * 1024,
        ca_bundle: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(read_only=read_only, concurrency=concurrency, retry=retry, hedge=hedge)
        if not bucket or "/" in bucket:
            raise StoreConfigError(f"invalid GCS bucket name {bucket!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.project = project
        self._token = token
        self._endpoint_arg = endpoint_url
        self.endpoint_url = endpoint_url or emulator_host()
        self.ca_bundle = ca_bundle
        self._ssl_context = ssl_context
        self.requester_pays = requester_pays
        self.timeout = timeout
        self.fast_path = fast_path
        self.part_size = int(part_size) if part_size else None
        self._fss: PerLoop[Any] = PerLoop()
        self._objects: PerLoop[GCSObjectClient | bool] = PerLoop()  # False: use gcsfs

    @classmethod
    def default_concurrency(cls) -> int:
        """An object store: ~100 ms per request, so many requests in flight."""
        return OBJECT_STORE_CONCURRENCY

    def _config(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "project": self.project,
            "token": self._token,
            "endpoint_url": self._endpoint_arg,
            "ca_bundle": self.ca_bundle,
            "ssl_context": self._ssl_context,
            "requester_pays": self.requester_pays,
            "timeout": self.timeout,
            "fast_path": self.fast_path,
            "part_size": self.part_size,
            "hedge": self.hedge_policy or False,
            **self._base_config(),
        }

    def __reduce__(self) -> tuple[Any, ...]:
        if self._ssl_context is not None:
            raise StoreConfigError(f"{self.name} has an ssl_context, which cannot be pickled; pass ca_bundle= instead")
        return super().__reduce__()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> GCSStore:
        """Open ``gs://bucket/prefix`` (or ``gcs://``); options are constructor keywords."""
        p = urlparse(url)
        return cls(p.netloc, p.path, **options)

    def __repr__(self) -> str:
        where = f"gs://{self.bucket}/{self.prefix}".rstrip("/")
        return f"GCSStore({where!r}" + (f", endpoint_url={redact(self.endpoint_url)!r})" if self.endpoint_url else ")")

    async def _fs(self) -> Any:
        fs = self._fss.get()
        if fs is None:
            # no project unless given: gcsfs's google_default refuses credentials whose project differs
            project = {"project": self.project} if self.project else {}
            fs = _SingleAttemptGCSFileSystem(
                **project,
                token=self._token,
                endpoint_url=self.endpoint_url,
                requester_pays=self.requester_pays,
                asynchronous=True,
                loop=asyncio.get_running_loop(),
                skip_instance_cache=True,
                use_listings_cache=False,
                # aiohttp's default pool (100) would cap the store's concurrency budget; trust_env:
                # gcsfs's requests honour HTTP(S)_PROXY / NO_PROXY, as the lean path does
                session_kwargs={"connector": aiohttp.TCPConnector(limit=self.concurrency, ssl=self._tls() or True),
                                "trust_env": True},
            )
            await fs._set_session()
            self._fss.set(fs)
        return fs

    async def _lean(self) -> GCSObjectClient | None:
        """This loop's lean object client (None when requests must go through gcsfs)."""
        client = self._objects.get()
        if client is None:
            fs = await self._fs()
            client = self._objects.get()  # another request may have made it meanwhile
            if client is None:
                client = self._objects.set(self._make_lean(fs) or False)
        return client if isinstance(client, GCSObjectClient) else None

    def _tls(self) -> ssl.SSLContext | None:
        if self._ssl_context is not None or self.ca_bundle:
            return self._ssl_context or tls_context(self.ca_bundle)
        return None

    def _make_lean(self, fs: Any) -> GCSObjectClient | None:
        # Client certificates (mTLS) and proxies the lean client does not speak are gcsfs's business.
        if not self.fast_path or getattr(fs, "_use_client_cert", False) or not lean_supports():
            return None
        user_project = None
        if self.requester_pays:
            user_project = self.requester_pays if isinstance(self.requester_pays, str) else fs.project
        return GCSObjectClient(fs._location, self.bucket, self.concurrency, self.timeout,
                               fs.credentials.apply, user_project,
                               ssl_context=self._tls(), proxy=proxy_for(fs._location))

    async def close(self) -> None:
        """Close the session of the running loop."""
        lean = self._objects.take()
        if isinstance(lean, GCSObjectClient):
            await lean.close()
        fs = self._fss.take()
        session = getattr(fs, "_session", None) if fs is not None else None
        if session is not None and not session.closed:
            await session.close()
        await super().close()

    def _is_retryable(self, exc: BaseException) -> bool:
        """429/5xx answers, connection errors and timeouts are transient."""
        if isinstance(exc, HttpError):
            return (exc.code or 0) in _TRANSIENT_STATUS
        if isinstance(exc, HTTPStatusError):
            return exc.status in _TRANSIENT_STATUS
        if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
            return True
        return super()._is_retryable(exc)

    def _is_throttled(self, exc: BaseException) -> bool:
        """429 (rate limit exceeded) and 503."""
        if isinstance(exc, HttpError):
            return (exc.code or 0) in _THROTTLE_STATUS
        if isinstance(exc, HTTPStatusError):
            return exc.status in _THROTTLE_STATUS
        return super()._is_throttled(exc)

    def _failure(self, op: str, key: str | None, exc: BaseException, attempts: int) -> StoreError:
        err = super()._failure(op, key, exc, attempts)
        status = exc.status if isinstance(exc, HTTPStatusError) else getattr(exc, "code", None)
        if status in (401, 403):  # refused credentials: say so, never "missing" and never a bare 403
            return AuthenticationError(f"{err} (the credentials were refused: check token / "
                                       "GOOGLE_APPLICATION_CREDENTIALS)", store=err.store, key=err.key)
        return err

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _path(self, key: str) -> str:
        return f"{self.bucket}/{self.prefix}/{key}" if self.prefix else f"{self.bucket}/{key}"

    async def _get(self, key: str) -> bytes | None:
        lean = await self._lean()
        if lean is not None:
            name = self._name(key)
            if self.part_size:  # big objects as concurrent ranges pinned to the generation
                return await get_in_parts(
                    lambda rng, gen: lean.get(name, rng, gen), self.part_size,
                    version_header="x-goog-generation", store=self, key=key,
                )
            status, body, _ = await lean.get(name)
            return None if status == 404 else body
        fs = await self._fs()
        try:
            return await fs._cat_file(self._path(key))
        except FileNotFoundError:
            return None

    async def _get_range(self, key: str, start: int, end: int | None) -> bytes | None:
        return await self._ranged(key, ByteRange(start, end))

    async def _get_suffix(self, key: str, length: int) -> bytes | None:
        return await self._ranged(key, SuffixRange(length))  # GCS serves bytes=-N natively

    async def _ranged(self, key: str, rng: ByteRange | SuffixRange) -> bytes | None:
        if rng.is_empty:  # no bytes to ask for: only whether the object exists
            return b"" if await self._exists(key) else None
        lean = await self._lean()
        if lean is not None:
            status, body, headers = await lean.get(self._name(key), http_range(rng))
            return await range_answer(status, body, headers, rng, lambda: self._exists(key), store=self, key=key)
        fs = await self._fs()
        if isinstance(rng, SuffixRange):  # fsspec sends a negative start without end as bytes=-N
            start, end = -rng.length, None
        else:
            start, end = rng.start, rng.end
        try:
            return await fs._cat_file(self._path(key), start=start, end=end)
        except FileNotFoundError:
            return None
        except HttpError as exc:
            if exc.code == 416:
                return b"" if await self._exists(key) else None
            raise

    async def _set(self, key: str, value: bytes) -> None:
        lean = await self._lean()
        if lean is not None:
            await lean.put(self._name(key), value)
            return
        fs = await self._fs()
        await fs._pipe_file(self._path(key), value)

    async def _delete(self, key: str) -> None:
        lean = await self._lean()
        if lean is not None:
            await lean.delete(self._name(key))
            return
        fs = await self._fs()
        try:
            await fs._rm_file(self._path(key))
        except FileNotFoundError:
            pass

    async def _exists(self, key: str) -> bool:
        lean = await self._lean()
        if lean is not None:
            return await lean.exists(self._name(key))
        fs = await self._fs()
        try:
            info = await fs._info(self._path(key))
        except FileNotFoundError:
            return False
        return info.get("type") == "file"

    async def _list_prefix(self, prefix: str) -> AsyncIterator[str]:
        async for key, _ in self._listing(prefix):
            yield key

    async def _list_prefix_sizes(self, prefix: str) -> AsyncIterator[tuple[str, int]]:
        async for item in self._listing(prefix):
            yield item

    async def _listing(self, prefix: str) -> AsyncIterator[tuple[str, int]]:
        """``(key, size)`` below ``prefix`` through gcsfs, which lists with sizes whether asked
        for them or not: one listing serves both kinds."""
        fs = await self._fs()
        base = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        directory = prefix.rpartition("/")[0]
        root = f"{base}/{directory}" if directory else base
        strip = len(base) + 1
        try:
            found = await fs._find(root, detail=True)
        except FileNotFoundError:
            return
        for path, info in found.items():
            key = path[strip:]
            if key.startswith(prefix):
                yield key, int(info.get("size") or 0)

    # --- compare-and-swap: generations, ifGenerationMatch -----------------------------------------

    async def _get_versioned(self, key: str) -> Versioned:
        lean = await self._lean()
        if lean is None:
            return await self._gcsfs_get_versioned(key)
        name = self._name(key)
        if self.part_size:
            data, gen = await get_versioned_in_parts(
                lambda rng, pin: lean.get(name, rng, pin), self.part_size, version_header="x-goog-generation",
                store=self, key=key,
            )
        else:
            status, body, headers = await lean.get(name)
            data, gen = (None, None) if status == 404 else (body, headers.get("x-goog-generation"))
        if data is not None and not gen:  # a ranged answer without the header: ask again, whole
            status, body, headers = await lean.get(name)
            data, gen = (None, None) if status == 404 else (body, headers.get("x-goog-generation"))
        if data is not None and not gen:
            raise StoreError(f"{self.name}: GET {key!r} answered without a generation", store=self.name, key=key)
        return Versioned(data, gen)

    async def _set_if(self, key: str, value: bytes | None, expected: Version) -> bool:
        if expected is not None and not (isinstance(expected, str) and expected.isdigit()):
            return False  # a version from another kind of store can only conflict
        if value is None and expected is None:  # "delete if absent": check it still is
            return not await self._exists(key)
        lean = await self._lean()
        if lean is None:
            return await self._gcsfs_set_if(key, value, expected)
        if value is None:
            assert expected is not None
            return await lean.delete_if(self._name(key), expected)
        return await lean.put_if(self._name(key), value, expected or "0")

    async def _gcsfs_get_versioned(self, key: str) -> Versioned:
        fs = await self._fs()
        try:
            headers, data = await fs._call("GET", fs.url(self._path(key)))
        except FileNotFoundError:
            return Versioned(None, None)
        gen = headers.get("x-goog-generation")
        if not gen:
            raise StoreError(f"{self.name}: GET {key!r} answered without a generation", store=self.name, key=key)
        return Versioned(data, gen)

    async def _gcsfs_set_if(self, key: str, value: bytes | None, expected: str | None) -> bool:
        fs = await self._fs()
        # gcsfs answers 412 with FileExistsError and 404 with FileNotFoundError
        try:
            if value is None:
                await fs._call("DELETE", "b/{}/o/{}", self.bucket, self._name(key), ifGenerationMatch=expected)
                return True
            boundary = secrets.token_hex(16)
            head = (f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
                    f"{json.dumps({'name': self._name(key)})}\r\n--{boundary}\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n")
            await fs._call(
                "POST", f"{fs._location}/upload/storage/v1/b/{quote(self.bucket)}/o", uploadType="multipart",
                ifGenerationMatch=expected or "0", headers={"Content-Type": f"multipart/related; boundary={boundary}"},
                data=head.encode() + value + f"\r\n--{boundary}--\r\n".encode(),
            )
            return True
        except FileExistsError:
            return False
        except FileNotFoundError:
            if value is None:
                return False  # the object is gone: someone else deleted it
            raise
