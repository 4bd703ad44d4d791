"""S3Store against a moto S3 server: conformance, byte ranges, batch deletes, URLs, pickling."""

from __future__ import annotations

import multiprocessing
import pickle

import numpy as np
import pytest

import azarr
from azarr.errors import StoreError
from azarr.stores import RetryPolicy, S3Store, Store, from_url
from tests.services.common import free_port
from tests.services.moto import S3_CREDENTIALS, boto3_client
from tests.stores.conformance import Factory, StoreTests


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

    async def broken_store(self, factory: Factory) -> Store:
        return S3Store("bucket", endpoint_url=f"http://127.0.0.1:{free_port()}", **S3_CREDENTIALS,
                       retry=RetryPolicy(attempts=2, base_delay=0.01))


def _child_read(blob: bytes, q: multiprocessing.Queue) -> None:
    arr = pickle.loads(blob)
    q.put(arr[...].tolist())


def test_end_to_end_url_and_other_process(s3_endpoint: str, s3_bucket: str) -> None:
    opts = {"endpoint_url": s3_endpoint, **S3_CREDENTIALS}
    url = f"s3://{s3_bucket}/data/demo.zarr"
    z = azarr.open_array(url, mode="w", shape=(256, 256), chunks=(32, 32), dtype="f4", storage_options=opts)
    data = np.random.default_rng(3).standard_normal((256, 256)).astype("f4")
    z[...] = data
    r = azarr.open(url, mode="r", storage_options=opts)
    np.testing.assert_array_equal(r[...], data)
    np.testing.assert_array_equal(r[100:140, 7:90:3], data[100:140, 7:90:3])
    keys = [o["Key"] for o in boto3_client(s3_endpoint).list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert "data/demo.zarr/.zarray" in keys and "data/demo.zarr/7.7" in keys
    # a pickled array works in a fresh (spawned) process
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    small = azarr.open_array(url, mode="r", storage_options=opts)
    p = ctx.Process(target=_child_read, args=(pickle.dumps(small), q))
    p.start()
    got = q.get(timeout=60)
    p.join(30)
    np.testing.assert_array_equal(np.array(got, dtype="f4"), data)


def test_delete_many_uses_delete_objects(s3_endpoint: str, s3_bucket: str) -> None:
    calls = []
    store = S3Store(s3_bucket, endpoint_url=s3_endpoint, **S3_CREDENTIALS)

    async def main() -> None:
        await store.set_many({f"d/{i}": b"x" for i in range(1100)})
        client = await store._client()
        original = client.delete_objects

        async def spy(**kw: object) -> object:
            calls.append(len(kw["Delete"]["Objects"]))  # type: ignore[index]
            return await original(**kw)

        client.delete_objects = spy
        await store.delete_many([f"d/{i}" for i in range(1100)])
        assert [k async for k in store.list_prefix("d/")] == []
        await store.close()

    azarr.sync.run(main())
    assert sorted(calls) == [100, 1000]


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
