"""S3Store: objects in an S3 (or S3-compatible) bucket, on aiobotocore.

One aiobotocore client per running event loop (clients are bound to the loop that
created them), created lazily, with ``max_pool_connections`` sized to the store's
concurrency budget. botocore's own retries are switched off: retries (503 SlowDown, 5xx,
resets, timeouts) happen once, in the Store base class.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

from azarr.errors import (
    AuthenticationError,
    MissingDependencyError,
    StoreConfigError,
    StoreError,
    TransientStoreError,
)
from azarr.stores._http1 import tls_context
from azarr.stores._parts import (
    first_part,
    get_versioned_in_parts,
    http_range,
    range_answer,
    rest_of_parts,
    whole_after_first_part,
)
from azarr.stores._proxy import lean_supports, proxy_for
from azarr.stores._redact import redact
from azarr.stores._s3config import new_session, object_target, session_ca_bundle
from azarr.stores._s3http import (
    Credentials,
    ObjectClient,
    S3HTTPError,
    WrongRegionError,
    error_from,
    frozen,
    xml_safe,
)
from azarr.stores.base import OBJECT_STORE_CONCURRENCY, PerLoop, RetryPolicy, Store, Version, Versioned
from azarr.stores.hedging import HedgePolicy
from azarr.stores.ranges import ByteRange, SuffixRange, read_range

T = TypeVar("T")

try:
    import aiohttp
    from aiobotocore.config import AioConfig
    from botocore import UNSIGNED
    from botocore import exceptions as boto_exceptions
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("S3Store needs aiobotocore: pip install 'azarr[s3]'") from exc

_MISSING_CODES = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}
_TRANSIENT_CODES = {
    "SlowDown", "503", "500", "502", "504", "InternalError", "ServiceUnavailable", "RequestTimeout",
    "RequestTimeTooSkewed", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "429",
}
# S3 answers "slow down" with 503 (SlowDown, or a bare ServiceUnavailable) and some
# S3-compatible services with 429.
_THROTTLE_CODES = {
    "SlowDown", "ServiceUnavailable", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
}
# A conditional write that lost: another writer changed (412), deleted (404 NoSuchKey
# under If-Match) or was concurrently writing (409) the object.
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409", "404"}


def _code(exc: Exception) -> str:
    err = getattr(exc, "response", {}).get("Error", {}) if isinstance(exc, boto_exceptions.ClientError) else {}
    return str(err.get("Code", ""))


def _status(exc: Exception) -> int:
    if isinstance(exc, boto_exceptions.ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0


# Answers that mean the credentials were refused (or lack the permission): never "missing".
_AUTH_CODES = {
    "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
    "TokenRefreshRequired", "AuthorizationHeaderMalformed", "403", "401",
}


def _denied(exc: BaseException) -> bool:
    if isinstance(exc, S3HTTPError):
        return exc.status in (401, 403) or exc.code in _AUTH_CODES
    if isinstance(exc, boto_exceptions.ClientError):
        return _code(exc) in _AUTH_CODES or _status(exc) in (401, 403)
    return isinstance(exc, boto_exceptions.NoCredentialsError)


class S3Store(Store):
    """A store under ``prefix`` in an S3 bucket (``s3://bucket/prefix``).

    Settings resolve as botocore resolves them (see :mod:`azarr.stores._s3config`):
    arguments first, then the environment and the shared config and credentials files.
    Credentials: ``key``/``secret``/``token``, a ``profile``, botocore's provider chain,
    or ``anon=True`` for public buckets; they are kept for pickling (workers need them)
    but never shown in repr or errors. ``ca_bundle`` (a PEM file) or ``ssl_context``
    verify an https endpoint (default: botocore's ``AWS_CA_BUNDLE`` / ``ca_bundle``).

    Compare-and-swap: the version is the object's ETag; conditional writes are PUTs with
    ``If-Match`` (``If-None-Match: *`` for "must not exist") and DELETEs with
    ``If-Match``, which S3 checks atomically (conditional deletes since 2025-09). An
    S3-compatible service that ignores these headers silently breaks the guarantee.
    """

    url_schemes = ("s3",)
    supports_conditional_writes = True
    share_unpickled = True
    hedge_by_default = True

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        key: str | None = None,
        secret: str | None = None,
        token: str | None = None,
        profile: str | None = None,
        anon: bool = False,
        read_only: bool = False,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        hedge: HedgePolicy | bool | None = None,
        timeout: float = 60.0,
        config_kwargs: dict[str, Any] | None = None,
        fast_path: bool = True,
        part_size: int | None = 8 * 1024 * 1024,
        ca_bundle: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(read_only=read_only, concurrency=concurrency, retry=retry, hedge=hedge)
        if not bucket or "/" in bucket:
            raise StoreConfigError(f"invalid S3 bucket name {bucket!r}")
        self.ca_bundle = ca_bundle
        self._ssl_context = ssl_context
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self._key, self._secret, self._token = key, secret, token
        self.profile = profile
        self.anon = anon
        self.timeout = timeout
        self.config_kwargs = dict(config_kwargs or {})
        self._clients: PerLoop[Any] = PerLoop()
        self._sessions: PerLoop[Any] = PerLoop()  # the botocore session each loop's client came from
        self._contexts: dict[int, Any] = {}
        self._locks: PerLoop[Any] = PerLoop()
        self.fast_path = fast_path
        # The lean client speaks plain http:// proxies itself (environment or botocore's
        # ``proxies``); https or SOCKS proxies, and buckets that need other signing (access
        # point ARNs, S3 Express), leave every request to aiobotocore.
        self._fast = (fast_path and lean_supports(self.config_kwargs.get("proxies"))
                      and not bucket.startswith("arn:") and not bucket.endswith("--x-s3"))
        self._learned_region: str | None = None  # from an x-amz-bucket-region redirect
        self._retired: list[Any] = []
        self.part_size = int(part_size) if part_size else None
        self._fast_clients: PerLoop[Any] = PerLoop()
        self._creds: PerLoop[Any] = PerLoop()  # botocore's (refreshable) credentials, per loop
        self._static_creds = Credentials(key, secret, token) if key and secret and not anon else None

    @property
    def sends_buffers(self) -> bool:
        """The lean path sends a value from the buffer it is given and keeps nothing of it; a
        subclass that overrides ``_set`` (to record or wrap writes) may keep values: it gets bytes."""
        return self._fast and type(self)._set is S3Store._set

    @classmethod
    def default_concurrency(cls) -> int:
        """Object stores answer each request in ~100 ms: keep many in flight (the peers' 10 is the thing to beat)."""
        return OBJECT_STORE_CONCURRENCY

    def _config(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "key": self._key,
            "secret": self._secret,
            "token": self._token,
            "profile": self.profile,
            "anon": self.anon,
            "timeout": self.timeout,
            "config_kwargs": self.config_kwargs or None,
            "fast_path": self.fast_path,
            "part_size": self.part_size,
            "hedge": self.hedge_policy or False,
            "ca_bundle": self.ca_bundle,
            "ssl_context": self._ssl_context,
            **self._base_config(),
        }

    def __reduce__(self) -> tuple[Any, ...]:
        if self._ssl_context is not None:
            raise StoreConfigError(f"{self.name} has an ssl_context, which cannot be pickled; pass ca_bundle= instead")
        return super().__reduce__()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3Store:
        """Open ``s3://bucket/prefix``; options are constructor keywords (fsspec-style
        ``client_kwargs={"endpoint_url": ..., "region_name": ...}`` is accepted too)."""
        p = urlparse(url)
        client_kwargs = options.pop("client_kwargs", None) or {}
        if "endpoint_url" in client_kwargs:
            options.setdefault("endpoint_url", client_kwargs["endpoint_url"])
        if "region_name" in client_kwargs:
            options.setdefault("region", client_kwargs["region_name"])
        if isinstance(client_kwargs.get("verify"), str):  # s3fs's way to name a CA bundle
            options.setdefault("ca_bundle", client_kwargs["verify"])
        if "region_name" in options:
            options.setdefault("region", options.pop("region_name"))
        if "aws_access_key_id" in options:
            options.setdefault("key", options.pop("aws_access_key_id"))
        if "aws_secret_access_key" in options:
            options.setdefault("secret", options.pop("aws_secret_access_key"))
        return cls(p.netloc, p.path, **options)

    def __repr__(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"S3Store({where!r}" + (f", endpoint_url={redact(self.endpoint_url)!r})" if self.endpoint_url else ")")

    # --- clients, one per event loop -------------------------------------------------------

    async def _client(self) -> Any:
        client = self._clients.get()
        if client is not None:
            return client
        lock = self._locks.get() or self._locks.set(asyncio.Lock())
        async with lock:
            client = self._clients.get()
            if client is None:
                session = new_session(self.profile, self.region)
                config_kwargs = dict(self.config_kwargs)
                if self._ssl_context is not None:
                    config_kwargs["connector_args"] = {**config_kwargs.get("connector_args", {}),
                                                       "ssl_context": self._ssl_context}
                cfg = AioConfig(
                    max_pool_connections=self.concurrency,
                    retries={"max_attempts": 1, "mode": "standard"},
                    connect_timeout=self.timeout,
                    read_timeout=self.timeout,
                    signature_version=UNSIGNED if self.anon else None,
                    **config_kwargs,
                )
                ctx = session.create_client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    region_name=self._learned_region or self.region,
                    aws_access_key_id=self._key,
                    aws_secret_access_key=self._secret,
                    aws_session_token=self._token,
                    verify=self.ca_bundle,
                    config=cfg,
                )
                client = await ctx.__aenter__()
                self._contexts[id(client)] = ctx
                self._sessions.set(session)
                self._clients.set(client)
        return client

    async def close(self) -> None:
        """Close the client of the running loop (clients of other loops are dropped)."""
        fast = self._fast_clients.take()
        if fast is not None:
            await fast.close()
        retired, self._retired = self._retired, []
        for old in retired:
            ctx = self._contexts.pop(id(old), None)
            if ctx is not None:  # an aiobotocore client of a region left behind
                await ctx.__aexit__(None, None, None)
            else:
                await old.close()
        client = self._clients.take()
        self._sessions.take()
        self._creds.take()
        if client is not None:
            ctx = self._contexts.pop(id(client), None)
            if ctx is not None:
                await ctx.__aexit__(None, None, None)
        self._contexts.clear()
        await super().close()

    # --- errors ------------------------------------------------------------------------------

    def _is_retryable(self, exc: BaseException) -> bool:
        """Throttling, 5xx, resets and timeouts are transient."""
        if isinstance(exc, S3HTTPError):
            return exc.code in _TRANSIENT_CODES or exc.status >= 500 or exc.status == 429
        if isinstance(exc, boto_exceptions.ClientError):
            return _code(exc) in _TRANSIENT_CODES or _status(exc) >= 500 or _status(exc) == 429
        if isinstance(
            exc,
            (
                boto_exceptions.EndpointConnectionError,
                boto_exceptions.ConnectionClosedError,
                boto_exceptions.ReadTimeoutError,
                boto_exceptions.ConnectTimeoutError,
                boto_exceptions.ResponseStreamingError,
                boto_exceptions.IncompleteReadError,
                aiohttp.ClientError,
                asyncio.TimeoutError,
            ),
        ):
            return True
        return super()._is_retryable(exc)

    def _is_throttled(self, exc: BaseException) -> bool:
        """503 SlowDown and its relatives, and 429."""
        if isinstance(exc, S3HTTPError):
            return exc.code in _THROTTLE_CODES or exc.status in (429, 503)
        if isinstance(exc, boto_exceptions.ClientError):
            return _code(exc) in _THROTTLE_CODES or _status(exc) in (429, 503)
        return super()._is_throttled(exc)

    def _failure(self, op: str, key: str | None, exc: BaseException, attempts: int) -> StoreError:
        err = super()._failure(op, key, exc, attempts)
        if _denied(exc):  # refused credentials: say so, never "missing" and never a bare 403
            return AuthenticationError(f"{err} (the credentials were refused: check key, secret, token, profile)",
                                       store=err.store, key=err.key)
        return err

    def _missing(self, exc: Exception) -> bool:
        return isinstance(exc, boto_exceptions.ClientError) and (
            _code(exc) in ("NoSuchKey", "404", "NotFound") or _status(exc) == 404
        ) and _code(exc) != "NoSuchBucket"

    def _k(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    # --- the hot path: signed requests on lean keep-alive connections --------------------------

    async def _credentials(self) -> Credentials | None:
        if self.anon:
            return None
        if self._key and self._secret:
            return Credentials(self._key, self._secret, self._token)
        creds = self._creds.get()
        if creds is None:
            await self._client()
            session = self._sessions.get()
            assert session is not None
            creds = await session.get_credentials()  # the chain the SDK client signs with
            if creds is None:
                raise StoreError(f"{self.name}: no AWS credentials found (pass key/secret, a profile, or anon=True)",
                                 store=self.name)
            self._creds.set(creds)
        # botocore refreshes expiring credentials (assume-role, SSO, credential_process, container,
        # instance) inside this call, so the lean path signs with fresh ones as the SDK does.
        return frozen(await creds.get_frozen_credentials())

    async def _object_client(self) -> ObjectClient:
        """This loop's lean client, where botocore's endpoint rules put the bucket."""
        client = self._fast_clients.get()
        if client is not None:
            return client
        sdk = await self._client()
        lock = self._locks.get()
        assert lock is not None
        async with lock:
            client = self._fast_clients.get()
            if client is None:
                target = await object_target(sdk, self.bucket, self.name)
                session = self._sessions.get()
                bundle = self.ca_bundle or session_ca_bundle(session)
                client = ObjectClient(
                    target.origin, target.base_path, target.region, self.concurrency, self.timeout,
                    ssl_context=self._ssl_context or tls_context(bundle),
                    proxy=proxy_for(target.origin, self.config_kwargs.get("proxies")),
                )
                self._fast_clients.set(client)
        return client

    async def _fast_call(self, fn: Callable[[ObjectClient, Credentials | None], Awaitable[T]]) -> T:
        """Run ``fn`` with this loop's lean client; follow one region redirect.

        With no region configured, requests start in us-east-1 (as botocore's do); S3 answers
        for a bucket elsewhere with ``x-amz-bucket-region``, and the store moves there once.
        """
        # the common case answers without awaiting: this loop's client exists, the keys are static
        client = self._fast_clients.get() or await self._object_client()
        creds = self._static_creds or await self._credentials()
        try:
            return await fn(client, creds)
        except WrongRegionError as exc:
            if self._fast_clients.get() is client:  # the first request to learn it moves the store
                self._learned_region = exc.region
                self._fast_clients.take()
                self._retired.append(client)  # closed with the store: other requests may still use it
                sdk = self._clients.take()
                if sdk is not None:
                    self._retired.append(sdk)
            return await fn(await self._object_client(), creds)

    async def _request(
        self, method: str, key: str, *, data: bytes | None = None, rng: str | None = None, if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> tuple[int, bytes, Any]:
        """One signed request on the lean path: (status, body, headers); a missing bucket raises."""
        k = self._k(key)
        status, body, headers = await self._fast_call(
            lambda c, creds: c.request_full(method, k, creds, data=data, rng=rng, if_match=if_match,
                                            if_none_match=if_none_match)
        )
        if status == 404 and b"NoSuchBucket" in body:
            raise S3HTTPError(404, "NoSuchBucket", f"bucket {self.bucket!r} does not exist")
        return status, body, headers

    # --- primitives -------------------------------------------------------------------------

    async def _get(self, key: str) -> bytes | None:
        if not self._fast:
            return await self._boto_get(key)
        client = self._fast_clients.get()
        if client is None:  # this loop's first request: the layered path makes the client
            return await self._get_layered(key)
        creds = self._static_creds or await self._credentials()
        # the chunk GET, flat: one coroutine to the HTTP client instead of five (a W1 read
        # makes 1,024 of these on one loop); anything unusual takes the layered path
        part = self.part_size
        try:
            status, body, headers = await client.request_full("GET", self._k(key), creds,
                                                              rng=first_part(part) if part else None)
        except WrongRegionError:
            return await self._get_layered(key)
        if status == 404:
            if b"NoSuchBucket" in body:
                raise S3HTTPError(404, "NoSuchBucket", f"bucket {self.bucket!r} does not exist")
            return None
        if not part or (status != 416 and whole_after_first_part(status, body, headers)):
            return body
        found, _ = await rest_of_parts(
            lambda rng, etag: self._request("GET", key, rng=rng, if_match=etag), part, status, body, headers,
            store=self, key=key,
        )
        return found

    async def _get_layered(self, key: str) -> bytes | None:
        if self.part_size:
            return await self._get_in_parts(key, self.part_size)
        status, body, _ = await self._request("GET", key)
        return None if status == 404 else body

    async def _get_in_parts(self, key: str, part: int) -> bytes | None:
        """GET the first ``part`` bytes; if the object is bigger, fetch the rest as
        concurrent byte ranges pinned to its ETag (large chunks then use many connections)."""
        body, _ = await get_versioned_in_parts(
            lambda rng, etag: self._request("GET", key, rng=rng, if_match=etag), part, store=self, key=key
        )
        return body

    async def _get_range(self, key: str, start: int, end: int | None) -> bytes | None:
        return await self._ranged(key, ByteRange(start, end))

    async def _get_suffix(self, key: str, length: int) -> bytes | None:
        return await self._ranged(key, SuffixRange(length))  # S3 serves bytes=-N natively

    async def _ranged(self, key: str, rng: ByteRange | SuffixRange) -> bytes | None:
        if rng.is_empty:  # no bytes to ask for: only whether the object exists
            return b"" if await self._exists(key) else None
        if not self._fast:
            return await self._boto_ranged(key, rng)
        status, body, headers = await self._request("GET", key, rng=http_range(rng))
        return await range_answer(status, body, headers, rng, lambda: self._exists(key), store=self, key=key)

    async def _set(self, key: str, value: bytes) -> None:
        if not self._fast:
            client = await self._client()
            await client.put_object(Bucket=self.bucket, Key=self._k(key), Body=value)
            return
        status, _, _ = await self._request("PUT", key, data=value)
        if status >= 300:  # never a silently lost write
            raise S3HTTPError(status, str(status), f"PUT {key!r} answered {status}")

    async def _delete(self, key: str) -> None:
        if not self._fast:
            client = await self._client()
            await client.delete_object(Bucket=self.bucket, Key=self._k(key))
            return
        await self._request("DELETE", key)

    async def _exists(self, key: str) -> bool:
        if not self._fast:
            return await self._boto_exists(key)
        status, _, _ = await self._request("HEAD", key)
        return status != 404

    # --- the same through aiobotocore (fast_path=False) ---------------------------------------

    async def _read_body(self, resp: dict[str, Any]) -> bytes:
        async with resp["Body"] as body:
            return await body.read()

    async def _boto_get(self, key: str) -> bytes | None:
        client = await self._client()
        try:
            resp = await client.get_object(Bucket=self.bucket, Key=self._k(key))
        except boto_exceptions.ClientError as exc:
            if self._missing(exc):
                return None
            raise
        return await self._read_body(resp)

    async def _boto_ranged(self, key: str, rng: ByteRange | SuffixRange) -> bytes | None:
        client = await self._client()
        try:
            resp = await client.get_object(Bucket=self.bucket, Key=self._k(key), Range=http_range(rng))
        except boto_exceptions.ClientError as exc:
            if self._missing(exc):
                return None
            if _code(exc) == "InvalidRange" or _status(exc) == 416:
                return b"" if await self._exists(key) else None
            raise
        data = await self._read_body(resp)
        # no Content-Range: a whole-object answer (e.g. a suffix of an empty object), cut here
        return data if resp.get("ContentRange") else read_range(data, rng)

    async def _boto_exists(self, key: str) -> bool:
        client = await self._client()
        try:
            await client.head_object(Bucket=self.bucket, Key=self._k(key))
        except boto_exceptions.ClientError as exc:
            if self._missing(exc) or _code(exc) in ("404", "NotFound"):
                return False
            raise
        return True

    async def _list_prefix(self, prefix: str) -> AsyncIterator[str]:
        full = self._k(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        if self._fast:  # keys only, on the lean client (see ObjectClient.list_keys)
            for key in await self._fast_call(lambda c, creds: c.list_keys(full, creds)):
                yield key[strip:]
            return
        client = await self._client()
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]

    async def _list_prefix_sizes(self, prefix: str) -> AsyncIterator[tuple[str, int]]:
        client = await self._client()
        full = self._k(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:], int(obj["Size"])

    # --- compare-and-swap: ETags, If-Match / If-None-Match ----------------------------------------

    async def _get_versioned(self, key: str) -> Versioned:
        if not self._fast:
            return await self._boto_get_versioned(key)
        if self.part_size:
            data, etag = await get_versioned_in_parts(
                lambda rng, pin: self._request("GET", key, rng=rng, if_match=pin), self.part_size, store=self, key=key
            )
        else:
            status, body, headers = await self._request("GET", key)
            data, etag = (None, None) if status == 404 else (body, headers.get("etag"))
        if data is not None and etag is None:  # e.g. an empty object's 416 carries no ETag
            status, body, headers = await self._request("GET", key)
            data, etag = (None, None) if status == 404 else (body, headers.get("etag"))
        if data is not None and not etag:
            raise StoreError(f"{self.name}: GET {key!r} answered without an ETag", store=self.name, key=key)
        return Versioned(data, etag)

    async def _set_if(self, key: str, value: bytes | None, expected: Version) -> bool:
        if expected is not None and not isinstance(expected, str):
            return False  # a version from another kind of store can only conflict
        if value is None and expected is None:  # "delete if absent": check it still is
            return not await self._exists(key)
        if not self._fast:
            return await self._boto_set_if(key, value, expected)
        if value is None:
            status, body, _ = await self._request("DELETE", key, if_match=expected)
        else:
            status, body, _ = await self._request(
                "PUT", key, data=value, if_match=expected, if_none_match=None if expected else "*"
            )
        if status < 300:
            return True
        error = error_from(status, body)
        if status in (404, 412) or (status == 409 and error.code == "ConditionalRequestConflict"):
            return False
        raise error

    async def _boto_get_versioned(self, key: str) -> Versioned:
        client = await self._client()
        try:
            resp = await client.get_object(Bucket=self.bucket, Key=self._k(key))
        except boto_exceptions.ClientError as exc:
            if self._missing(exc):
                return Versioned(None, None)
            raise
        return Versioned(await self._read_body(resp), resp["ETag"])

    async def _boto_set_if(self, key: str, value: bytes | None, expected: str | None) -> bool:
        client = await self._client()
        try:
            if value is None:
                await client.delete_object(Bucket=self.bucket, Key=self._k(key), IfMatch=expected)
            elif expected is None:
                await client.put_object(Bucket=self.bucket, Key=self._k(key), Body=value, IfNoneMatch="*")
            else:
                await client.put_object(Bucket=self.bucket, Key=self._k(key), Body=value, IfMatch=expected)
        except boto_exceptions.ClientError as exc:
            if _code(exc) in _CONFLICT_CODES and _code(exc) != "NoSuchBucket":
                return False
            raise
        return True

    # --- native batch delete: DeleteObjects, 1000 keys per request ------------------------------

    async def _delete_batch(self, keys: list[str]) -> None:
        full = [self._k(k) for k in keys]
        if self._fast and all(map(xml_safe, full)):
            errors = await self._fast_call(lambda c, creds: c.delete_keys(full, creds))
        else:
            client = await self._client()
            resp = await client.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in full],
                                                                            "Quiet": True})
            errors = [(e.get("Key", ""), e.get("Code", ""), e.get("Message", "")) for e in resp.get("Errors") or []]
        if errors:
            key, code, message = errors[0]
            err_cls = TransientStoreError if code in _TRANSIENT_CODES else StoreError
            raise err_cls(
                f"{self.name}: DeleteObjects failed for {len(errors)} keys, e.g. {key!r}: {code} {message}",
                store=self.name,
                key=key,
            )
