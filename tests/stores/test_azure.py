"""AzureBlobStore against Azurite: conformance, end to end through az:// URLs, secrets hidden."""

from __future__ import annotations

import numpy as np
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

import azarr
from azarr.errors import StoreError
from azarr.stores import AzureBlobStore, RetryPolicy, Store, from_url
from azarr.stores.ranges import ByteRange, SuffixRange
from tests.services.azurite import KEY
from tests.services.common import free_port
from tests.stores.conformance import Factory, StoreTests


class TestAzureBlobStore(StoreTests):
    @pytest.fixture
    def store_factory(self, azurite_connection_string: str, azure_container: str) -> Factory:
        self.raw = BlobServiceClient.from_connection_string(azurite_connection_string).get_container_client(azure_container)
        return lambda **options: AzureBlobStore(azure_container, "pre/fix", connection_string=azurite_connection_string, **options)

    async def raw_set(self, store: Store, key: str, value: bytes) -> None:
        self.raw.upload_blob(f"pre/fix/{key}", value, overwrite=True)

    async def raw_get(self, store: Store, key: str) -> bytes | None:
        try:
            return self.raw.download_blob(f"pre/fix/{key}").readall()
        except ResourceNotFoundError:
            return None

    async def raw_delete(self, store: Store, key: str) -> None:
        try:
            self.raw.delete_blob(f"pre/fix/{key}")
        except ResourceNotFoundError:
            pass

    async def broken_store(self, factory: Factory) -> Store:
        conn = f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};BlobEndpoint=http://127.0.0.1:{free_port()}/devstoreaccount1;"
        return AzureBlobStore("c", connection_string=conn, retry=RetryPolicy(attempts=2, base_delay=0.01))


class TestAzureBlobStoreSDKPath(TestAzureBlobStore):
    """The same conformance (compare-and-swap included) through azure-storage-blob only."""

    @pytest.fixture
    def store_factory(self, azurite_connection_string: str, azure_container: str) -> Factory:
        self.raw = BlobServiceClient.from_connection_string(azurite_connection_string).get_container_client(azure_container)
        return lambda **options: AzureBlobStore(azure_container, "pre/fix", connection_string=azurite_connection_string,
                                                fast_path=False, **options)


@pytest.mark.parametrize("fast_path", [True, False], ids=["lean", "sdk"])
def test_end_to_end_az_url(azurite_connection_string: str, azure_container: str, fast_path: bool) -> None:
    opts = {"connection_string": azurite_connection_string, "fast_path": fast_path}
    url = f"az://{azure_container}/data.zarr"
    z = azarr.open_array(url, mode="w", shape=(64, 50), chunks=(16, 16), dtype="f8", fill_value=np.nan, storage_options=opts)
    data = np.random.default_rng(2).standard_normal((64, 50))
    z[...] = data
    np.testing.assert_array_equal(azarr.open(f"abfs://{azure_container}/data.zarr", mode="r", storage_options=opts)[...], data)
    z.resize(10, 10)  # deletes chunks outside: exercises the batch-delete fallback on Azurite
    np.testing.assert_array_equal(azarr.open_array(url, mode="r", storage_options=opts)[...], data[:10, :10])


def test_secrets_hidden(azurite_connection_string: str) -> None:
    s = from_url("az://c/p", connection_string=azurite_connection_string)
    assert isinstance(s, AzureBlobStore) and KEY not in repr(s) and "AccountKey" not in repr(s)
    bad = AzureBlobStore("c", account_url=f"http://127.0.0.1:{free_port()}/devstoreaccount1", sas_token="sv=1&sig=TOPSECRETSIG",
                         retry=RetryPolicy(attempts=1))
    assert "TOPSECRETSIG" not in repr(bad)
    with pytest.raises(StoreError) as info:
        azarr.open_array(bad, mode="r")
    assert "TOPSECRETSIG" not in str(info.value)


def _conn_with_key(conn: str, key: str) -> str:
    return ";".join(f"AccountKey={key}" if p.startswith("AccountKey=") else p for p in conn.split(";"))


async def test_lean_path_signs_and_fails_loudly(azurite_connection_string: str, azure_container: str) -> None:
    store = AzureBlobStore(azure_container, "lean", connection_string=azurite_connection_string)
    assert store._endpoint is not None  # per-blob requests bypass the SDK
    try:
        await store.set("a/0.0", b"abc")
        assert await store.get("a/0.0") == b"abc"
        assert await store.get_range("a/0.0", 1, 10) == b"bc"
        assert await store.exists("a/0.0") and not await store.exists("a/none")
        assert await store.get("a/none") is None
        await store.delete("a/0.0")
        await store.delete("a/0.0")  # deleting a missing blob is fine
        assert await store.get("a/0.0") is None
    finally:
        await store.close()

    # Azurite checks Shared Key signatures: a wrong key is an error, never "missing".
    wrong = _conn_with_key(azurite_connection_string, "AAAA" + KEY[4:])
    bad = AzureBlobStore(azure_container, "lean", connection_string=wrong, retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(StoreError, match="403") as info:
            await bad.get("a/0.0")
        assert KEY[4:20] not in str(info.value)
    finally:
        await bad.close()

    # A missing container is an error too (404 ContainerNotFound is not a missing blob).
    gone = AzureBlobStore("no-such-container", connection_string=azurite_connection_string,
                          retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(StoreError, match="ContainerNotFound"):
            await gone.get("x")
        with pytest.raises(StoreError, match="ContainerNotFound"):
            await gone.exists("x")
    finally:
        await gone.close()


async def test_lean_path_with_sas_token(azurite_connection_string: str, azure_container: str) -> None:
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    parts = dict(p.split("=", 1) for p in azurite_connection_string.split(";") if "=" in p)
    sas = generate_container_sas(
        parts["AccountName"], azure_container, account_key=parts["AccountKey"],
        permission=ContainerSasPermissions(read=True, write=True, delete=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    store = AzureBlobStore(azure_container, "sas", account_url=parts["BlobEndpoint"], account_name=parts["AccountName"],
                           sas_token=sas)
    assert store._endpoint is not None and store._endpoint.sas
    try:
        await store.set_many({"k/0": b"zero", "k/1": b"one"})
        assert await store.get_many(["k/0", "k/1", "k/2"]) == {"k/0": b"zero", "k/1": b"one"}
        assert [k async for k in store.list_prefix("k/")] == ["k/0", "k/1"]
    finally:
        await store.close()


async def test_sdk_path_still_available(azurite_connection_string: str, azure_container: str) -> None:
    store = AzureBlobStore(azure_container, "sdk", connection_string=azurite_connection_string, fast_path=False)
    assert store._endpoint is None
    try:
        await store.set("x", b"1")
        assert await store.get("x") == b"1"
        assert await store.get("y") is None
    finally:
        await store.close()


async def test_large_blobs_read_as_pinned_ranges(azurite_connection_string: str, azure_container: str) -> None:
    raw = BlobServiceClient.from_connection_string(azurite_connection_string).get_container_client(azure_container)
    old, new = bytes(range(256)) * 40, bytes(reversed(range(256))) * 40  # 10240 bytes each
    raw.upload_blob("big/obj", old, overwrite=True)
    raw.upload_blob("big/empty", b"", overwrite=True)
    store = AzureBlobStore(azure_container, "big", connection_string=azurite_connection_string, part_size=1000,
                           retry=RetryPolicy(attempts=3, base_delay=0.01))
    try:
        client = store._blobs()
        plain = client.request
        ranges: list[str | None] = []

        async def counting(method: str, name: str, **kw: object) -> tuple[int, bytes, dict[str, str]]:
            ranges.append(kw.get("rng"))  # type: ignore[arg-type]
            return await plain(method, name, **kw)  # type: ignore[arg-type]

        client.request = counting  # type: ignore[method-assign]
        assert await store.get("obj") == old
        assert len(ranges) == 11  # ceil(10240 / 1000) concurrent ranged GETs
        assert await store.get("empty") == b"" and await store.get("missing") is None

        # The blob is replaced after its first range was read: the pinned ranges answer 412,
        # the read starts over, and the result is wholly the new version, never a mix.
        replaced = False

        async def replacing(method: str, name: str, **kw: object) -> tuple[int, bytes, dict[str, str]]:
            nonlocal replaced
            answer = await plain(method, name, **kw)  # type: ignore[arg-type]
            if not replaced:
                replaced = True
                raw.upload_blob("big/obj", new, overwrite=True)
            return answer

        client.request = replacing  # type: ignore[method-assign]
        assert await store.get("obj") == new
    finally:
        await store.close()


async def test_refused_batch_delete_falls_back_within_the_budget(azurite_connection_string: str, azure_container: str) -> None:
    store = AzureBlobStore(azure_container, "del", connection_string=azurite_connection_string)
    try:
        await store.set_many({f"k/{i}": b"x" for i in range(40)})
        await store.delete_many([f"k/{i}" for i in range(20)])  # Azurite refuses the Batch API
        assert store._delete_batch is None  # later delete_many calls go key by key under the limiter
        await store.delete_many([f"k/{i}" for i in range(20, 40)])
        assert [k async for k in store.list_prefix("k/")] == []
    finally:
        await store.close()


async def test_ranged_reads_requests(azurite_connection_string: str, azure_container: str) -> None:
    raw = BlobServiceClient.from_connection_string(azurite_connection_string).get_container_client(azure_container)
    raw.upload_blob("rg/a", bytes(range(100)), overwrite=True)
    raw.upload_blob("rg/empty", b"", overwrite=True)
    store = AzureBlobStore(azure_container, "rg", connection_string=azurite_connection_string)
    # counted at the lean client (a proxy would change the headers that Shared Key signs)
    client = store._blobs()
    plain = client.request
    seen: list[tuple[str, str | None, bool]] = []

    async def counting(method: str, name: str, **kw: object) -> tuple[int, bytes, dict[str, str]]:
        seen.append((method, kw.get("rng"), bool(kw.get("if_match"))))  # type: ignore[arg-type]
        return await plain(method, name, **kw)  # type: ignore[arg-type]

    client.request = counting  # type: ignore[method-assign]
    try:
        got = await store.get_ranges([("a", ByteRange(0, 10)), ("a", ByteRange(90)), ("a", ByteRange(95, 99))] * 2)
        assert got == {("a", ByteRange(0, 10)): bytes(range(10)), ("a", ByteRange(90)): bytes(range(90, 100)),
                       ("a", ByteRange(95, 99)): bytes(range(95, 99))}
        assert sorted(seen, key=str) == [("GET", f"bytes={r}", False) for r in ("0-9", "90-", "95-98")]  # one GET each
        seen.clear()
        # Blob storage has no bytes=-N: a suffix costs a HEAD for the size, then an ETag-pinned GET
        assert await store.get_ranges([("a", SuffixRange(5))]) == {("a", SuffixRange(5)): bytes(range(95, 100))}
        assert seen == [("HEAD", None, False), ("GET", "bytes=95-", True)], seen
        seen.clear()
        # a 416 that states the blob's length (Content-Range: bytes */N) proves it exists: no HEAD
        assert await store.get_ranges([("a", ByteRange(150, 160)), ("empty", ByteRange(0, 4))]) == {
            ("a", ByteRange(150, 160)): b"", ("empty", ByteRange(0, 4)): b"",
        }
        assert sorted(m for m, _, _ in seen) == ["GET", "GET"], seen
    finally:
        await store.close()


async def test_suffix_of_a_blob_replaced_between_head_and_get(azurite_connection_string: str, azure_container: str) -> None:
    raw = BlobServiceClient.from_connection_string(azurite_connection_string).get_container_client(azure_container)
    raw.upload_blob("tail/x", b"old-old-old", overwrite=True)
    store = AzureBlobStore(azure_container, "tail", connection_string=azurite_connection_string,
                           retry=RetryPolicy(attempts=3, base_delay=0.01))
    try:
        client = store._blobs()
        plain = client.request
        replaced = False

        async def replacing(method: str, name: str, **kw: object) -> tuple[int, bytes, dict[str, str]]:
            nonlocal replaced
            answer = await plain(method, name, **kw)  # type: ignore[arg-type]
            if method == "HEAD" and not replaced:
                replaced = True
                raw.upload_blob("tail/x", b"new!", overwrite=True)
            return answer

        client.request = replacing  # type: ignore[method-assign]
        # the pinned GET answers 412, the read starts over: the tail of the new blob, never a mix
        assert await store.get_range("x", -3) == b"ew!"
        assert await store.get_ranges([("x", SuffixRange(10))]) == {("x", SuffixRange(10)): b"new!"}
    finally:
        await store.close()
    sdk = AzureBlobStore(azure_container, "tail", connection_string=azurite_connection_string, fast_path=False)
    try:
        assert await sdk.get_ranges([("x", SuffixRange(2)), ("gone", SuffixRange(2))]) == {("x", SuffixRange(2)): b"w!"}
    finally:
        await sdk.close()


@pytest.mark.parametrize("fast_path", [True, False], ids=["lean", "sdk"])
def test_wrong_key_is_an_authentication_error(azurite_connection_string: str, azure_container: str,
                                              fast_path: bool) -> None:
    from azarr.errors import AuthenticationError

    url = f"az://{azure_container}/auth.zarr"
    z = azarr.open_array(url, mode="w", shape=(8,), chunks=(4,), dtype="i4", fill_value=-1,
                         storage_options={"connection_string": azurite_connection_string})
    z[...] = np.arange(8)
    wrong = _conn_with_key(azurite_connection_string, "AAAA" + KEY[4:])
    opts = {"connection_string": wrong, "fast_path": fast_path, "retry": RetryPolicy(attempts=1)}
    with pytest.raises(AuthenticationError) as info:
        azarr.open_array(url, mode="r", storage_options=opts)
    assert azure_container in str(info.value) and KEY[4:20] not in str(info.value)
