"""Passwords and tokens in store URLs never show in a store's repr, name, errors, tracebacks or logs.

Each store is given credentials in the URL positions its users put them (user-info, query
parameters, connection strings) and pointed at a closed port, so every request fails; the
test then reads everything that crosses the boundary: repr, ``name``, the error message,
the formatted traceback (causes included) and every log record azarr emitted.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import pytest

import azarr
from azarr.errors import ReadOnlyError, StoreError
from azarr.stores import RetryPolicy, Store
from azarr.stores._redact import redact
from tests.services.common import free_port

SECRET = "S3CRETvalue"
RETRY = RetryPolicy(attempts=2, base_delay=0.001)


def _redis(port: int) -> list[Store]:
    from azarr.stores import RedisStore

    return [
        RedisStore(f"redis://127.0.0.1:{port}/0?password={SECRET}", retry=RETRY),  # the issue's example
        RedisStore(f"redis://:{SECRET}@127.0.0.1:{port}/0", retry=RETRY),
        RedisStore(f"redis://user:{SECRET}@127.0.0.1:{port}/0?prefix=p", retry=RETRY),
    ]


def _mongodb(port: int) -> list[Store]:
    from azarr.stores import MongoDBStore

    return [MongoDBStore(
        f"mongodb://user:{SECRET}@127.0.0.1:{port}/?directConnection=true"
        f"&authMechanismProperties=AWS_SESSION_TOKEN:{SECRET}",
        server_selection_timeout=0.3, retry=RETRY,
    )]


def _http(port: int) -> list[Store]:
    from azarr.stores import HTTPStore

    return [
        HTTPStore(f"http://user:{SECRET}@127.0.0.1:{port}/data", retry=RETRY),
        HTTPStore(f"http://127.0.0.1:{port}/data", headers={"Authorization": f"Bearer {SECRET}"}, retry=RETRY),
    ]


def _s3(port: int) -> list[Store]:
    from azarr.stores import S3Store

    return [
        S3Store("bkt", endpoint_url=f"http://user:{SECRET}@127.0.0.1:{port}", key="AKIAX", secret=SECRET, retry=RETRY),
        S3Store("bkt", endpoint_url=f"http://127.0.0.1:{port}", key="AKIAX", secret=SECRET, token=SECRET, retry=RETRY,
                fast_path=False),
    ]


def _gcs(port: int) -> list[Store]:
    from azarr.stores import GCSStore

    return [GCSStore("bkt", endpoint_url=f"http://user:{SECRET}@127.0.0.1:{port}", retry=RETRY)]


def _azure(port: int) -> list[Store]:
    from azarr.stores import AzureBlobStore
    from tests.services.azurite import KEY

    base = f"http://127.0.0.1:{port}/devstoreaccount1"
    return [
        AzureBlobStore("c", account_url=f"{base}?sv=2021-08-06&sp=r&sig={SECRET}", retry=RETRY),
        AzureBlobStore("c", account_url=base, account_name="devstoreaccount1", sas_token=f"sv=2021-08-06&sig={SECRET}",
                       retry=RETRY),
        AzureBlobStore("c", connection_string=f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                                              f"AccountKey={KEY};BlobEndpoint={base};", retry=RETRY),
    ]


@pytest.mark.parametrize("make", [_redis, _mongodb, _http, _s3, _gcs, _azure], ids=lambda f: f.__name__.strip("_"))
async def test_no_secret_crosses_the_boundary(make: Callable[[int], list[Store]], caplog: pytest.LogCaptureFixture) -> None:
    from tests.services.azurite import KEY

    secrets = (SECRET, KEY[8:40])
    caplog.set_level(logging.DEBUG, logger="azarr")
    for store in make(free_port()):
        try:
            shown = [repr(store), store.name]
            with pytest.raises(StoreError) as info:
                await store.get("arr/0.0")
            shown += [str(info.value), str(info.value.store), "".join(traceback.format_exception(info.value))]
            assert "arr/0.0" in str(info.value) and type(store).__name__ in str(info.value)
            reader = store.with_read_only(True)
            with pytest.raises(ReadOnlyError) as refused:
                await reader.set("arr/0.0", b"x")
            shown.append(str(refused.value))
        finally:
            await store.close()
        shown += [record.getMessage() for record in caplog.records]
        for text in shown:
            assert not any(s in text for s in secrets), text
    if make is not _mongodb:  # (a dead MongoDB fails once, after the server-selection wait)
        assert any("retrying" in r.getMessage() for r in caplog.records)  # the log lines were there to check


def test_redact_every_url_position() -> None:
    cases = {
        "redis://host:6379/0?password=S3CRET": "redis://host:6379/0?password=***",
        "redis://:S3CRET@host/0": "redis://:***@host/0",
        "https://user:S3CRET@host/p?x=1": "https://user:***@host/p?x=1",
        "https://acct.blob.core.windows.net/c?sv=2021&sig=S3CRET%3D&se=2030": "https://acct.blob.core.windows.net/c?sv=2021&sig=***&se=2030",
        "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F&X-Amz-Signature=S3CRET&X-Amz-Security-Token=S3CRET":
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***",
        "https://storage.googleapis.com/b/o?X-Goog-Signature=S3CRET&X-Goog-Date=1": "https://storage.googleapis.com/b/o?X-Goog-Signature=***&X-Goog-Date=1",
        "http://h/x?token=S3CRET&access_token=S3CRET&api_key=S3CRET&page=2": "http://h/x?token=***&access_token=***&api_key=***&page=2",
        "AccountName=a;AccountKey=S3CRET==;SharedAccessSignature=sv=1&sig=S3CRET;": "AccountName=a;AccountKey=***;SharedAccessSignature=***&sig=***;",
        "failed: URL('http://u:S3CRET@h/p?secret=S3CRET')": "failed: URL('http://u:***@h/p?secret=***')",
        "Authorization: Bearer S3CRET.part": "Authorization: Bearer ***",
        "nothing to hide in s3://bucket/prefix?versionId=3": "nothing to hide in s3://bucket/prefix?versionId=3",
    }
    for text, expected in cases.items():
        assert redact(text) == expected


def test_redis_password_from_the_issue() -> None:
    store = azarr.stores.from_url("redis://host:6379/0?password=S")
    assert repr(store) == "RedisStore('redis://host:6379/0?password=***', prefix='zarr')"
