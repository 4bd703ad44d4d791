"""AzureBlobStore: blobs in an Azure Storage container, on azure-storage-blob's aio client.

One ``ContainerClient`` per running event loop (its aiohttp session is bound to that
loop), created lazily with a connection pool sized to the store's concurrency and the
SDK's own retries off (retries happen once, in the Store base). Settings come from the
arguments and then the environment in adlfs's order (:mod:`azarr.stores._azconfig`): a
connection string, an account key, a SAS token, any azure.core credential (or
``credential="default"`` for DefaultAzureCredential), a service principal, anonymous
access. None of them appear in repr or errors.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

from azarr.errors import (
    AuthenticationError,
    MissingDependencyError,
    StoreConfigError,
    StoreError,
    TransientStoreError,
)
from azarr.stores._azconfig import make_credential, resolve
from azarr.stores._azhttp import BlobClient, endpoint_from
from azarr.stores._http1 import HTTPStatusError, tls_context
from azarr.stores._parts import get_in_parts, get_versioned_in_parts, http_range, range_answer
from azarr.stores._proxy import lean_supports, proxy_for
from azarr.stores._redact import redact
from azarr.stores.base import OBJECT_STORE_CONCURRENCY, PerLoop, RetryPolicy, Store, Version, Versioned
from azarr.stores.hedging import HedgePolicy
from azarr.stores.ranges import ByteRange

try:
    import aiohttp
    from azure.core import MatchConditions
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ResourceModifiedError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.core.pipeline.transport import AioHttpTransport
    from azure.storage.blob.aio import ContainerClient
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("AzureBlobStore needs azure-storage-blob: pip install 'azarr[azure]'") from exc

_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_THROTTLE_STATUS = {429, 503}  # 503 ServerBusy: an account or partition over its request rate


def _account_from_connection_string(conn: str) -> str:
    parts = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
    if "BlobEndpoint" in parts:
        return parts["BlobEndpoint"].rstrip("/")
    return parts.get("AccountName", "?")


class AzureBlobStore(Store):
    """A store under ``prefix`` in an Azure Blob container (``az://container/prefix``).

    Compare-and-swap: the version is the blob's ETag; conditional writes are Put Blob
    with ``If-Match`` (``If-None-Match: *`` for "must not exist") and Delete Blob with
    ``If-Match``, which the service checks atomically.
    """

    url_schemes = ("az", "abfs", "abfss")
    supports_conditional_writes = True
    share_unpickled = True
    hedge_by_default = True

    def __init__(
        self,
        container: str,
        prefix: str = "",
        *,
        connection_string: str | None = None,
        account_name: str | None = None,
        account_url: str | None = None,
        account_key: str | None = None,
        sas_token: str | None = None,
        credential: Any = None,
        read_only: bool = False,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        hedge: HedgePolicy | bool | None = None,
        timeout: float = 60.0,
        fast_path: bool = True,
        part_size: int | None = 8 * 1024 * 1024,
        anon: bool | None = None,
        ca_bundle: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(read_only=read_only, concurrency=concurrency, retry=retry, hedge=hedge)
        if not container:
            raise StoreConfigError("AzureBlobStore needs a container name")
        self.container = container
        self.prefix = prefix.strip("/")
        # the arguments as given (pickled; each process resolves them against its own environment)
        self._args = {"connection_string": connection_string, "account_name": account_name,
                      "account_url": account_url, "account_key": account_key, "sas_token": sas_token,
                      "credential": credential, "anon": anon}
        settings = resolve(**self._args, store=f"AzureBlobStore(container={container!r})")
        self._settings = settings
        self._connection_string = settings.connection_string
        self.account_name = settings.account_name
        self.account_url = settings.account_url or (
            f"https://{settings.account_name}.blob.core.windows.net" if settings.account_name else None)
        self.ca_bundle = ca_bundle
        self._ssl_context = ssl_context
        self.timeout = timeout
        self._clients: PerLoop[Any] = PerLoop()
        self._batch_delete_ok = True
        self.fast_path = fast_path
        self.part_size = int(part_size) if part_size else None
        # Per-blob requests take the lean path with a key, a SAS or anonymous access; token
        # credentials (Azure AD) and anything the SDK must resolve stay on the SDK, as do
        # proxies the lean client does not speak (https://, SOCKS).
        self._endpoint = (
            endpoint_from(settings.connection_string, self.account_url, settings.account_name, settings.account_key,
                          settings.sas_token)
            if fast_path and settings.credential is None and lean_supports() else None
        )
        self._blob_clients: PerLoop[BlobClient] = PerLoop()

    @classmethod
    def default_concurrency(cls) -> int:
        """An object store: ~100 ms per request, so many requests in flight."""
        return OBJECT_STORE_CONCURRENCY

    def _config(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "prefix": self.prefix,
            **self._args,
            "ca_bundle": self.ca_bundle,
            "ssl_context": self._ssl_context,
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
    def from_url(cls, url: str, **options: Any) -> AzureBlobStore:
        """Open ``az://container/prefix`` (``abfs://``: ``container@account.dfs.core.windows.net/prefix`` works too)."""
        p = urlparse(url)
        container, _, host = p.netloc.partition("@")
        if host and "account_name" not in options and "account_url" not in options and "connection_string" not in options:
            options["account_name"] = host.split(".")[0]
        return cls(container, p.path, **options)

    def __repr__(self) -> str:
        where = self.account_url or (_account_from_connection_string(self._connection_string) if self._connection_string else "?")
        return f"AzureBlobStore({redact(where)!r}, container={self.container!r}, prefix={self.prefix!r})"

    # --- clients, one per event loop ---------------------------------------------------------

    def _tls(self) -> ssl.SSLContext | None:
        if self._ssl_context is not None or self.ca_bundle:
            return self._ssl_context or tls_context(self.ca_bundle)
        return None

    def _client(self) -> Any:
        client = self._clients.get()
        if client is None:
            # trust_env: the SDK path honours HTTP(S)_PROXY / NO_PROXY, as the lean path does
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.concurrency, ssl=self._tls() or True),
                                            trust_env=True)
            transport = AioHttpTransport(session=session, session_owner=True)
            common = {"transport": transport, "retry_total": 0, "connection_timeout": self.timeout, "read_timeout": self.timeout}
            if self._connection_string:
                client = ContainerClient.from_connection_string(self._connection_string, self.container, **common)
            else:
                assert self.account_url is not None  # resolve() requires an account
                client = ContainerClient(self.account_url, self.container, credential=make_credential(self._settings),
                                         **common)
            self._clients.set(client)
        return client

    async def close(self) -> None:
        """Close the client of the running loop."""
        client = self._clients.take()
        if client is not None:
            await client.close()
        blobs = self._blob_clients.take()
        if blobs is not None:
            await blobs.close()
        await super().close()

    def _is_retryable(self, exc: BaseException) -> bool:
        """429/5xx answers, connection errors and timeouts are transient."""
        if isinstance(exc, (ServiceRequestError, ServiceResponseError, aiohttp.ClientError, asyncio.TimeoutError)):
            return True
        if isinstance(exc, HttpResponseError):
            return (exc.status_code or 0) in _TRANSIENT_STATUS
        if isinstance(exc, HTTPStatusError):
            return exc.status in _TRANSIENT_STATUS
        return super()._is_retryable(exc)

    def _is_throttled(self, exc: BaseException) -> bool:
        """503 ServerBusy and 429."""
        if isinstance(exc, HttpResponseError):
            return (exc.status_code or 0) in _THROTTLE_STATUS
        if isinstance(exc, HTTPStatusError):
            return exc.status in _THROTTLE_STATUS
        return super()._is_throttled(exc)

    def _failure(self, op: str, key: str | None, exc: BaseException, attempts: int) -> StoreError:
        err = super()._failure(op, key, exc, attempts)
        status = exc.status if isinstance(exc, HTTPStatusError) else getattr(exc, "status_code", None)
        if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
            # refused credentials: say so, never "missing" and never a bare 403
            return AuthenticationError(redact(f"{err} (the credentials were refused: check the account key, SAS "
                                               "token or credential)"), store=err.store, key=err.key)
        return err

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    # --- primitives ------------------------------------------------------------------------------

    def _blobs(self) -> BlobClient:
        client = self._blob_clients.get()
        if client is None:
            assert self._endpoint is not None
            client = self._blob_clients.set(BlobClient(
                self._endpoint, self.container, self.concurrency, self.timeout,
                ssl_context=self._tls(), proxy=proxy_for(self._endpoint.origin),
            ))
        return client

    async def _get(self, key: str) -> bytes | None:
        if self._endpoint is not None:
            name = self._name(key)
            if self.part_size:  # big blobs as concurrent ranges pinned to the ETag
                return await get_in_parts(
                    lambda rng, etag: self._blobs().request("GET", name, rng=rng, if_match=etag),
                    self.part_size, what="blob", store=self, key=key,
                )
            status, body, _ = await self._blobs().request("GET", name)
            return None if status == 404 else body
        try:
            stream = await self._client().download_blob(self._name(key))
            return await stream.readall()
        except ResourceNotFoundError:
            return None

    async def _get_range(self, key: str, start: int, end: int | None) -> bytes | None:
        if end is not None and end <= start:
            return b"" if await self._exists(key) else None
        if self._endpoint is not None:
            rng = ByteRange(start, end)
            status, body, headers = await self._blobs().request("GET", self._name(key), rng=http_range(rng))
            return await range_answer(status, body, headers, rng, lambda: self._exists(key), store=self, key=key)
        try:
            stream = await self._client().download_blob(
                self._name(key), offset=start, length=None if end is None else end - start
            )
            return await stream.readall()
        except ResourceNotFoundError:
            return None
        except HttpResponseError as exc:
            if exc.status_code == 416:
                return b"" if await self._exists(key) else None
            raise

    async def _get_suffix(self, key: str, length: int) -> bytes | None:
        # Blob storage has no suffix ranges (it accepts bytes=a- and bytes=a-b only; Azurite
        # answers bytes=-N with a malformed response): the size comes from a HEAD, then the
        # tail is read pinned to that HEAD's ETag, so a blob replaced in between is read again.
        if length == 0:
            return b"" if await self._exists(key) else None
        if self._endpoint is None:
            return await self._sdk_suffix(key, length)
        name = self._name(key)
        status, _, head = await self._blobs().request("HEAD", name)
        if status == 404:
            return None
        size = int(head.get("content-length") or 0)
        if size == 0:
            return b""
        rng = ByteRange(max(0, size - length))
        status, body, headers = await self._blobs().request(
            "GET", name, rng=http_range(rng), if_match=head.get("etag")
        )
        if status == 412:
            raise self._changed(key)
        return await range_answer(status, body, headers, rng, lambda: self._exists(key), store=self, key=key)

    async def _sdk_suffix(self, key: str, length: int) -> bytes | None:
        name = self._name(key)
        try:
            props = await self._client().get_blob_client(name).get_blob_properties()
            if props.size == 0:
                return b""
            stream = await self._client().download_blob(
                name, offset=max(0, props.size - length), etag=props.etag,
                match_condition=MatchConditions.IfNotModified,
            )
            return await stream.readall()
        except ResourceNotFoundError:
            return None
        except ResourceModifiedError as exc:
            raise self._changed(key) from exc

    def _changed(self, key: str) -> TransientStoreError:
        # transient: the store's retry reads the new blob from the start (HEAD, then GET)
        return TransientStoreError(
            f"{self.name}: blob {key!r} changed while its tail was read", store=self.name, key=key
        )

    async def _set(self, key: str, value: bytes) -> None:
        if self._endpoint is not None:
            status, body, _ = await self._blobs().request("PUT", self._name(key), data=value)
            if status >= 300:  # never a silently lost write
                raise HTTPStatusError(status, "PutFailed", body[:200].decode(errors="replace"))
            return
        await self._client().upload_blob(self._name(key), value, overwrite=True)

    async def _delete(self, key: str) -> None:
        if self._endpoint is not None:
            await self._blobs().request("DELETE", self._name(key))
            return
        try:
            await self._client().delete_blob(self._name(key))
        except ResourceNotFoundError:
            pass

    async def _exists(self, key: str) -> bool:
        if self._endpoint is not None:
            status, _, _ = await self._blobs().request("HEAD", self._name(key))
            return status != 404
        return bool(await self._client().get_blob_client(self._name(key)).exists())

    async def _list_prefix(self, prefix: str) -> AsyncIterator[str]:
        base = self.prefix + "/" if self.prefix else ""
        async for blob in self._client().list_blobs(name_starts_with=base + prefix):
            yield blob.name[len(base) :]

    async def _list_prefix_sizes(self, prefix: str) -> AsyncIterator[tuple[str, int]]:
        base = self.prefix + "/" if self.prefix else ""
        async for blob in self._client().list_blobs(name_starts_with=base + prefix):
            yield blob.name[len(base) :], int(blob.size or 0)

    # --- compare-and-swap: ETags, If-Match / If-None-Match ----------------------------------------

    async def _get_versioned(self, key: str) -> Versioned:
        if self._endpoint is None:
            return await self._sdk_get_versioned(key)
        name = self._name(key)
        if self.part_size:
            data, etag = await get_versioned_in_parts(
                lambda rng, pin: self._blobs().request("GET", name, rng=rng, if_match=pin), self.part_size,
                what="blob", store=self, key=key,
            )
        else:
            status, body, headers = await self._blobs().request("GET", name)
            data, etag = (None, None) if status == 404 else (body, headers.get("etag"))
        if data is not None and not etag:  # e.g. an empty blob's 416 without an ETag: ask again, whole
            status, body, headers = await self._blobs().request("GET", name)
            data, etag = (None, None) if status == 404 else (body, headers.get("etag"))
        if data is not None and not etag:
            raise StoreError(f"{self.name}: GET {key!r} answered without an ETag", store=self.name, key=key)
        return Versioned(data, etag)

    async def _set_if(self, key: str, value: bytes | None, expected: Version) -> bool:
        if expected is not None and not isinstance(expected, str):
            return False  # a version from another kind of store can only conflict
        if value is None and expected is None:  # "delete if absent": check it still is
            return not await self._exists(key)
        if self._endpoint is None:
            return await self._sdk_set_if(key, value, expected)
        if value is None:
            status, body, headers = await self._blobs().request("DELETE", self._name(key), if_match=expected)
        else:
            status, body, headers = await self._blobs().request(
                "PUT", self._name(key), data=value, if_match=expected, if_none_match=None if expected else "*"
            )
        if status < 300:
            return True
        if status in (404, 409, 412):  # changed (412), created (409 BlobAlreadyExists) or deleted (404)
            return False
        raise HTTPStatusError(status, headers.get("x-ms-error-code", ""), body[:200].decode(errors="replace"))

    async def _sdk_get_versioned(self, key: str) -> Versioned:
        try:
            stream = await self._client().download_blob(self._name(key))
            data = await stream.readall()
        except ResourceNotFoundError:
            return Versioned(None, None)
        return Versioned(data, stream.properties.etag)

    async def _sdk_set_if(self, key: str, value: bytes | None, expected: str | None) -> bool:
        client = self._client()
        try:
            if value is None:
                await client.delete_blob(self._name(key), etag=expected, match_condition=MatchConditions.IfNotModified)
            elif expected is None:
                await client.upload_blob(self._name(key), value, overwrite=False)
            else:
                await client.upload_blob(self._name(key), value, overwrite=True, etag=expected,
                                         match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceExistsError, ResourceNotFoundError):
            return False
        return True

    batch_size = 256  # the Blob Batch API takes at most 256 sub-requests

    async def _delete_batch(self, keys: list[str]) -> None:
        names = [self._name(k) for k in keys]
        if self._batch_delete_ok:
            try:
                results = await self._client().delete_blobs(*names, raise_on_any_failure=False)
                statuses = [resp.status_code async for resp in results]
                bad = [(n, st) for n, st in zip(names, statuses) if st not in (200, 202, 404)]
                if bad:
                    raise HttpResponseError(message=f"batch delete of {bad[0][0]!r} answered {bad[0][1]}")
                return
            except HttpResponseError as exc:
                if exc.status_code in _TRANSIENT_STATUS:
                    raise
                # Some services (e.g. Azurite) reject the Blob Batch API. From now on
                # delete_many takes the per-key path under the store's concurrency budget
                # (the instance attribute hides this method from the base class) ...
                self._batch_delete_ok = False
                self._delete_batch = None  # type: ignore[assignment]
        # ... and this batch, already inside one budget slot, goes a few at a time.
        gate = asyncio.Semaphore(8)

        async def one(key: str) -> None:
            async with gate:
                await self._delete(key)

        await asyncio.gather(*(one(k) for k in keys))
