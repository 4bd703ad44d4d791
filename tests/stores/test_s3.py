"""S3Store against a moto S3 server: conformance, byte ranges, batch deletes, URLs, pickling."""

from __future__ import annotations

import multiprocessing
import pickle
from typing import Any

import numpy as np
import pytest

import azarr
from azarr.errors import StoreError
from azarr.stores import RetryPolicy, S3Store, Store, from_url
from azarr.stores.hedging import HedgePolicy
from azarr.stores.ranges import ByteRange, SuffixRange
from tests.faultproxy import FaultProxy
from tests.services.common import free_port
from tests.services.moto import S3_CREDENTIALS, boto3_client
from tests.stores.conformance import Factory, StoreTests
from tests.stores.request_log import RequestLog


class TestS3Store(StoreTests):
    @pytest.fixture
    def store_factory(self, s3_endpoint: str, s3_bucket: str) -> Factory:
        self.raw = boto3_client(s3_endpoint)
        self.bucket = s3_bucket
        return lambda **options: S3Store(s3_bucket, "some/prefix", endpoint_url=s3_endpoint, **S3_CREDENTIALS, **options)

    async def raw_set(self, store: Store, key: str, value: bytes) -> None:
        self.raw.put_object(Bucket=self.bucket, Key=f"some/prefix/{key}", Body=value)

    async def raw_get(self, store: Store, key: str) -> bytes | None:
        try:
            return self.raw.get_object(Bucket=self.bucket, Key=f"some/prefix/{key}")["Body"].read()
        except self.raw.exceptions.NoSuchKey:
            return None

    async def raw_delete(self, store: Store, key: str) -> None:
        self.raw.delete_object(Bucket=self.bucket, Key=f"some/prefix/{key}")

    async def broken_store(self, factory: Factory) -> Store:
        return S3Store("bucket", endpoint_url=f"http://127.0.0.1:{free_port()}", **S3_CREDENTIALS,
                       retry=RetryPolicy(attempts=2, base_delay=0.01))


class TestS3StoreSDKPath(TestS3Store):
    """The same conformance (compare-and-swap included) through aiobotocore only."""

    @pytest.fixture
    def store_factory(self, s3_endpoint: str, s3_bucket: str) -> Factory:
        self.raw = boto3_client(s3_endpoint)
        self.bucket = s3_bucket
        return lambda **options: S3Store(s3_bucket, "some/prefix", endpoint_url=s3_endpoint, **S3_CREDENTIALS,
                                         fast_path=False, **options)


def _child_read(blob: bytes, q: multiprocessing.Queue) -> None:
    arr = pickle.loads(blob)
    q.put(arr[...].tolist())


@pytest.mark.parametrize("fast_path", [True, False], ids=["lean", "aiobotocore"])
def test_end_to_end_url_and_other_process(s3_endpoint: str, s3_bucket: str, fast_path: bool) -> None:
    opts = {"endpoint_url": s3_endpoint, **S3_CREDENTIALS, "fast_path": fast_path}
    url = f"s3://{s3_bucket}/data/demo.zarr"
    z = azarr.open_array(url, mode="w", shape=(256, 256), chunks=(32, 32), dtype="f4", storage_options=opts)
    data = np.random.default_rng(3).standard_normal((256, 256)).astype("f4")
    z[...] = data
    r = azarr.open(url, mode="r", storage_options=opts)
    np.testing.assert_array_equal(r[...], data)
    np.testing.assert_array_equal(r[100:140, 7:90:3], data[100:140, 7:90:3])
    keys = [o["Key"] for o in boto3_client(s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert "data/demo.zarr/zarr.json" in keys and "data/demo.zarr/c/7/7" in keys
    # a pickled array works in a fresh (spawned) process
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    small = azarr.open_array(url, mode="r", storage_options=opts)
    p = ctx.Process(target=_child_read, args=(pickle.dumps(small), q))
    p.start()
    got = q.get(timeout=60)
    p.join(30)
    np.testing.assert_array_equal(np.array(got, dtype="f4"), data)


@pytest.mark.parametrize("fast_path", [True, False])
def test_delete_many_uses_delete_objects(s3_endpoint: str, s3_bucket: str, fast_path: bool) -> None:
    calls = []
    store = S3Store(s3_bucket, f"dm-{fast_path}", endpoint_url=s3_endpoint, fast_path=fast_path, **S3_CREDENTIALS)

    async def main() -> None:
        await store.set_many({f"d/{i}": b"x" for i in range(1100)})
        await store.set("keep/&<1>", b"y")  # a key that must be escaped in the XML documents
        if fast_path:  # the lean client's DeleteObjects
            client: Any = await store._object_client()
            original = client.delete_keys

            async def spy(keys: list[str], creds: object) -> object:
                calls.append(len(keys))
                return await original(keys, creds)

            client.delete_keys = spy
        else:
            client = await store._client()
            original = client.delete_objects

            async def spy(**kw: object) -> object:  # type: ignore[misc]
                calls.append(len(kw["Delete"]["Objects"]))  # type: ignore[index]
                return await original(**kw)

            client.delete_objects = spy
        assert len([k async for k in store.list_prefix("d/")]) == 1100  # two listing pages
        await store.delete_many([f"d/{i}" for i in range(1100)])
        assert [k async for k in store.list_prefix("d/")] == []
        assert [k async for k in store.list_prefix("")] == ["keep/&<1>"]
        await store.delete_many(["keep/&<1>"])
        assert [k async for k in store.list_prefix("")] == []
        await store.close()

    azarr.sync.run(main())
    assert sorted(calls) == [1, 100, 1000]


def test_repr_hides_credentials(s3_endpoint: str) -> None:
    s = S3Store("b", "p", endpoint_url=s3_endpoint, key="AKIASECRETKEY", secret="supersecretvalue")
    assert "supersecretvalue" not in repr(s) and "AKIASECRETKEY" not in repr(s)
    s2 = from_url("s3://b/p/q", endpoint_url=s3_endpoint, key="k", secret="topsecret", retry=RetryPolicy(attempts=1))
    assert isinstance(s2, S3Store) and s2.bucket == "b" and s2.prefix == "p/q"

    async def fail() -> None:
        await s2.get("x")

    with pytest.raises(StoreError) as info:
        azarr.sync.run(fail())
    assert "topsecret" not in str(info.value)


def test_large_objects_fetched_as_parallel_ranges(s3_endpoint: str, s3_bucket: str) -> None:
    from tests.faultproxy import FaultProxy

    blob = bytes(range(256)) * 40  # 10240 bytes
    boto3_client(s3_endpoint).put_object(Bucket=s3_bucket, Key="big/obj", Body=blob)
    boto3_client(s3_endpoint).put_object(Bucket=s3_bucket, Key="big/empty", Body=b"")
    with FaultProxy(s3_endpoint) as proxy:
        store = S3Store(s3_bucket, "big", endpoint_url=proxy.url, **S3_CREDENTIALS, part_size=1000)

        async def main() -> tuple[bytes | None, bytes | None, bytes | None]:
            try:
                return await store.get("obj"), await store.get("empty"), await store.get("missing")
            finally:
                await store.close()

        before = proxy.counts["requests"]
        got, empty, missing = azarr.sync.run(main())
        n = proxy.counts["requests"] - before
    assert got == blob and empty == b"" and missing is None
    assert n == 11 + 1 + 1  # ceil(10240 / 1000) ranged GETs, then one each


async def test_follows_bucket_region_redirect() -> None:
    # With no region, requests start signed for us-east-1 (as botocore's do); S3 answers a
    # bucket elsewhere with 301 + x-amz-bucket-region, and the store moves there once.
    import asyncio

    seen: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                length = next((int(line.split(":")[1]) for line in head.split("\r\n")
                               if line.lower().startswith("content-length:")), 0)
                if length:
                    await reader.readexactly(length)
                region = head.split("/s3/aws4_request")[0].rsplit("/", 1)[-1]
                seen.append(region)
                if region != "eu-west-1":
                    body = b"<Error><Code>PermanentRedirect</Code><Message>use eu-west-1</Message></Error>"
                    writer.write(b"HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: eu-west-1\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                elif head.startswith("GET"):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndata")
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = S3Store("bkt", endpoint_url=f"http://127.0.0.1:{port}", key="k", secret="s", part_size=None)
    try:
        values = await asyncio.gather(*(store.get(f"k{i}") for i in range(20)))
        assert values == [b"data"] * 20
        await store.set("k", b"x")
        assert await store.get("k") == b"data"
        redirected = seen.count("us-east-1")
        assert 1 <= redirected <= 20  # only requests already in flight were redirected
        assert seen[-2:] == ["eu-west-1", "eu-west-1"]
    finally:
        await store.close()
        server.close()
        await server.wait_closed()


def test_proxies_the_lean_client_cannot_speak_route_through_aiobotocore(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert S3Store("bkt")._fast is True  # a plain http:// proxy: the lean client tunnels through it
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy.example:1080")
    assert S3Store("bkt")._fast is False  # SOCKS: aiobotocore's business
    monkeypatch.delenv("HTTPS_PROXY")
    assert S3Store("bkt", config_kwargs={"proxies": {"https": "https://p:1"}})._fast is False
    assert S3Store("bkt", fast_path=False)._fast is False
    assert S3Store("data--usw2-az1--x-s3")._fast is False  # S3 Express: session auth


async def test_large_object_replaced_mid_read_is_reread(s3_endpoint: str, s3_bucket: str) -> None:
    from azarr.stores._s3http import ObjectClient

    raw = boto3_client(s3_endpoint)
    old, new = bytes(range(256)) * 40, bytes(reversed(range(256))) * 40
    raw.put_object(Bucket=s3_bucket, Key="big/obj", Body=old)
    store = S3Store(s3_bucket, "big", endpoint_url=s3_endpoint, **S3_CREDENTIALS, part_size=1000,
                    retry=RetryPolicy(attempts=3, base_delay=0.01))
    try:
        client: ObjectClient = await store._object_client()
        plain = client.request_full
        replaced = False

        async def replacing(*args: object, **kw: object) -> object:
            nonlocal replaced
            answer = await plain(*args, **kw)  # type: ignore[arg-type]
            if not replaced:
                replaced = True
                raw.put_object(Bucket=s3_bucket, Key="big/obj", Body=new)
            return answer

        client.request_full = replacing  # type: ignore[method-assign]
        assert await store.get("obj") == new  # the ETag-pinned ranges failed; read again, whole
    finally:
        await store.close()


async def test_ranged_reads_are_one_get_each(s3_endpoint: str, s3_bucket: str) -> None:

    raw = boto3_client(s3_endpoint)
    raw.put_object(Bucket=s3_bucket, Key="rg/a", Body=bytes(range(100)))
    raw.put_object(Bucket=s3_bucket, Key="rg/b", Body=b"0123456789")
    with RequestLog(s3_endpoint) as log:
        store = S3Store(s3_bucket, "rg", endpoint_url=log.url, **S3_CREDENTIALS)
        try:
            requests = [("a", ByteRange(0, 10)), ("a", SuffixRange(5)), ("a", ByteRange(90))] * 2 + [
                ("b", None), ("b", ByteRange(1, 3)), ("b", SuffixRange(2)), ("gone", ByteRange(0, 4)),
            ]
            got = await store.get_ranges(requests)
            assert got == {
                ("a", ByteRange(0, 10)): bytes(range(10)), ("a", SuffixRange(5)): bytes(range(95, 100)),
                ("a", ByteRange(90)): bytes(range(90, 100)),
                ("b", None): b"0123456789", ("b", ByteRange(1, 3)): b"12", ("b", SuffixRange(2)): b"89",
            }
            # one GET per distinct range; the suffix is S3's own bytes=-N (no HEAD for the size);
            # duplicates are read once; "b" is read whole once and its ranges cut from it
            assert log.methods() == ["GET"] * 5, log.seen
            # ("b" whole is the first part_size range of a whole-object read)
            assert log.ranges() == ["bytes=-5", "bytes=0-3", "bytes=0-8388607", "bytes=0-9", "bytes=90-"], log.seen
            log.clear()
            # moto's 416 for a range past the end states no length (Content-Range: bytes */N),
            # so whether the object exists is asked with a HEAD; a missing key is a 404 alone
            assert await store.get_ranges([("b", ByteRange(10, 20)), ("gone", SuffixRange(3))]) == {
                ("b", ByteRange(10, 20)): b"",
            }
            assert log.methods() == ["GET", "GET", "HEAD"], log.seen
        finally:
            await store.close()


def test_ranged_reads_are_hedged(s3_endpoint: str, s3_bucket: str) -> None:
    blob = bytes(range(256)) * 4
    raw = boto3_client(s3_endpoint)
    for i in range(64):
        raw.put_object(Bucket=s3_bucket, Key=f"hr/{i}", Body=blob)
    requests = [(f"{i}", ByteRange(j * 100, j * 100 + 50)) for i in range(64) for j in range(4)]
    requests += [(f"{i}", SuffixRange(30)) for i in range(64)]
    want = {(k, r): blob[r.start : r.end] if isinstance(r, ByteRange) else blob[-30:] for k, r in requests}
    with FaultProxy(s3_endpoint, stall_rate=0.03, stall=1.5, seed=5) as proxy:
        store = S3Store(s3_bucket, "hr", endpoint_url=proxy.url, **S3_CREDENTIALS, concurrency=16,
                        hedge=HedgePolicy(warmup=32, min_delay=0.05, budget=0.1))

        async def main() -> None:
            try:
                for _ in range(2):  # the first pass warms the latency window up
                    assert await store.get_ranges(requests) == want
            finally:
                await store.close()

        azarr.sync.run(main())
        stalled = proxy.counts["stalled"]
    hedger = store.hedger
    assert hedger is not None
    assert stalled > 0 and hedger.hedge_wins > 0, (stalled, hedger.hedges, hedger.hedge_wins)
    assert hedger.hedges <= 0.1 * hedger.requests


async def test_ranged_reads_through_aiobotocore(s3_endpoint: str, s3_bucket: str) -> None:
    raw = boto3_client(s3_endpoint)
    raw.put_object(Bucket=s3_bucket, Key="sdk/r", Body=b"0123456789")
    raw.put_object(Bucket=s3_bucket, Key="sdk/empty", Body=b"")
    store = S3Store(s3_bucket, "sdk", endpoint_url=s3_endpoint, **S3_CREDENTIALS, fast_path=False)
    try:
        cases = StoreTests.RANGE_CASES
        got = await store.get_ranges([("r", rng) for rng in cases] + [("empty", rng) for rng in cases] + [("gone", ByteRange(0, 2))])
        assert got == {("r", rng): want for rng, want in cases.items()} | {("empty", rng): b"" for rng in cases}
    finally:
        await store.close()


@pytest.mark.parametrize("fast_path", [True, False], ids=["lean", "aiobotocore"])
def test_wrong_secret_is_an_authentication_error_not_a_missing_chunk(
    s3_endpoint: str, s3_bucket: str, fast_path: bool
) -> None:
    from azarr.errors import AuthenticationError

    good = {"endpoint_url": s3_endpoint, **S3_CREDENTIALS}
    url = f"s3://{s3_bucket}/auth.zarr"
    z = azarr.open_array(url, mode="w", shape=(8,), chunks=(4,), dtype="i4", fill_value=-1, storage_options=good)
    z[...] = np.arange(8)
    wrong = {**good, "secret": "not-the-secret", "fast_path": fast_path, "retry": RetryPolicy(attempts=1)}
    with pytest.raises(AuthenticationError) as info:
        azarr.open_array(url, mode="r", storage_options=wrong)
    assert s3_bucket in str(info.value) and "not-the-secret" not in str(info.value)
    # a chunk read through refused credentials raises; it never reads as the fill value
    arr = azarr.open_array(url, mode="r", storage_options=good)
    refused = arr._async.store = S3Store(s3_bucket, "auth.zarr", **wrong)
    with pytest.raises(AuthenticationError, match="SignatureDoesNotMatch|403"):
        arr[...]
    azarr.sync.run(refused.close())
    unknown = {**wrong, "key": "AKIAUNKNOWNKEY000000"}
    with pytest.raises(AuthenticationError, match="InvalidAccessKeyId|403"):
        azarr.open_array(url, mode="r", storage_options=unknown)


def test_tls_options_plumbing() -> None:
    import ssl

    from azarr.errors import StoreConfigError
    from azarr.stores import AzureBlobStore, GCSStore

    s = from_url("s3://b/p", client_kwargs={"verify": "/etc/ssl/ca.pem", "endpoint_url": "https://s3.local"})
    assert isinstance(s, S3Store) and s.ca_bundle == "/etc/ssl/ca.pem"
    assert pickle.loads(pickle.dumps(s)).ca_bundle == "/etc/ssl/ca.pem"  # a bundle path travels to workers
    ctx = ssl.create_default_context()
    for store in (S3Store("b", ssl_context=ctx), GCSStore("b", ssl_context=ctx, token="anon"),
                  AzureBlobStore("c", account_name="acct", ssl_context=ctx)):
        with pytest.raises(StoreConfigError, match="ssl_context, which cannot be pickled; pass ca_bundle"):
            pickle.dumps(store)
