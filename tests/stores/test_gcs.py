"""GCSStore against fake-gcs-server: conformance, end to end through gs:// URLs, credentials hidden."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest
from aiohttp import web

import azarr
from azarr.errors import StoreError
from azarr.stores import GCSStore, RetryPolicy, Store, from_url
from azarr.stores.ranges import ByteRange, SuffixRange
from tests.faultproxy import FaultProxy
from tests.services.common import free_port
from tests.stores.conformance import Factory, StoreTests
from tests.stores.request_log import RequestLog


class DeletePreconditionProxy(FaultProxy):
    """fake-gcs-server as installed from PyPI (1.54) ignores ``ifGenerationMatch`` on
    DELETE (upstream enforces it since 2026-08); GCS answers such a DELETE with 412 when
    the generation differs and 404 when the object is gone. This proxy answers those two
    cases as GCS does, from the emulator's own metadata, and forwards everything else."""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        expected = request.query.get("ifGenerationMatch")
        if request.method == "DELETE" and expected is not None:
            assert self._session is not None
            async with self._session.get(self.upstream + request.rel_url.raw_path) as meta:
                if meta.status == 404:
                    return web.json_response({"error": {"code": 404, "message": "No such object"}}, status=404)
                generation = str((await meta.json())["generation"])
            if generation != expected:
                return web.json_response({"error": {"code": 412, "message": "Precondition Failed"}}, status=412)
        return await super()._handle(request)


@pytest.fixture(scope="module")
def gcs_cas_endpoint(gcs_endpoint: str) -> Iterator[str]:
    """The emulator behind :class:`DeletePreconditionProxy`."""
    with DeletePreconditionProxy(gcs_endpoint) as proxy:
        yield proxy.url


class TestGCSStore(StoreTests):
    @pytest.fixture
    def store_factory(self, gcs_cas_endpoint: str, gcs_endpoint: str, gcs_bucket: str) -> Factory:
        self.endpoint, self.bucket = gcs_endpoint, gcs_bucket
        return lambda **options: GCSStore(gcs_bucket, "pre/fix", endpoint_url=gcs_cas_endpoint, **options)

    def _name(self, key: str) -> str:
        return urllib.parse.quote(f"pre/fix/{key}", safe="")

    async def raw_set(self, store: Store, key: str, value: bytes) -> None:
        req = urllib.request.Request(
            f"{self.endpoint}/upload/storage/v1/b/{self.bucket}/o?uploadType=media&name={self._name(key)}",
            data=value, headers={"Content-Type": "application/octet-stream"}, method="POST",
        )
        urllib.request.urlopen(req, timeout=10).read()

    async def raw_get(self, store: Store, key: str) -> bytes | None:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/storage/v1/b/{self.bucket}/o/{self._name(key)}?alt=media", timeout=10) as r:
                return r.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    async def raw_delete(self, store: Store, key: str) -> None:
        req = urllib.request.Request(f"{self.endpoint}/storage/v1/b/{self.bucket}/o/{self._name(key)}", method="DELETE")
        try:
            urllib.request.urlopen(req, timeout=10).read()
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise

    async def broken_store(self, factory: Factory) -> Store:
        return GCSStore("bucket", endpoint_url=f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(attempts=1))


class TestGCSStoreGcsfsPath(TestGCSStore):
    """The same conformance (compare-and-swap included) through gcsfs only."""

    @pytest.fixture
    def store_factory(self, gcs_cas_endpoint: str, gcs_endpoint: str, gcs_bucket: str) -> Factory:
        self.endpoint, self.bucket = gcs_endpoint, gcs_bucket
        return lambda **options: GCSStore(gcs_bucket, "pre/fix", endpoint_url=gcs_cas_endpoint, fast_path=False,
                                          **options)


@pytest.mark.parametrize("fast_path", [True, False], ids=["lean", "gcsfs"])
def test_end_to_end_gs_url(gcs_endpoint: str, gcs_bucket: str, fast_path: bool) -> None:
    url = f"gs://{gcs_bucket}/data.zarr"
    opts = {"endpoint_url": gcs_endpoint, "fast_path": fast_path}
    z = azarr.open_array(url, mode="w", shape=(100, 80), chunks=(16, 16), dtype="u2", storage_options=opts)
    data = np.random.default_rng(1).integers(0, 60000, (100, 80)).astype("u2")
    z[...] = data
    np.testing.assert_array_equal(azarr.open(url, mode="r", storage_options=opts)[...], data)
    g = azarr.open_group(f"gcs://{gcs_bucket}/grp", mode="w", storage_options=opts)
    g.create_array("a", shape=(3,), dtype="i1")[...] = [1, 2, 3]
    assert list(azarr.open_group(f"gs://{gcs_bucket}/grp", mode="r", storage_options=opts)) == ["a"]


def test_token_not_in_repr_or_errors() -> None:
    s = from_url("gs://b/p", token={"client_email": "x", "private_key": "SUPERSECRETKEY"}, endpoint_url=f"http://127.0.0.1:{free_port()}",
                 retry=RetryPolicy(attempts=1))
    assert isinstance(s, GCSStore) and "SUPERSECRETKEY" not in repr(s)

    async def go() -> None:
        await s.get("k")

    with pytest.raises(Exception) as info:
        azarr.sync.run(go())
    assert "SUPERSECRETKEY" not in str(info.value)
    assert isinstance(info.value, StoreError) or "SUPERSECRETKEY" not in repr(info.value)


async def test_lean_path_and_gcsfs_path_agree(gcs_endpoint: str, gcs_bucket: str) -> None:
    lean = GCSStore(gcs_bucket, "paths", endpoint_url=gcs_endpoint)
    sdk = GCSStore(gcs_bucket, "paths", endpoint_url=gcs_endpoint, fast_path=False)
    try:
        await lean.set("a b/ü.0", b"0123456789")
        assert await lean._lean() is not None  # per-object requests bypass gcsfs
        assert await sdk._lean() is None
        for store in (lean, sdk):
            assert await store.get("a b/ü.0") == b"0123456789"
            assert await store.get_range("a b/ü.0", 2, 5) == b"234"
            assert await store.get_range("a b/ü.0", 20) == b""
            assert await store.get_ranges([("a b/ü.0", SuffixRange(3)), ("a b/ü.0", ByteRange(8, 20)), ("nope", SuffixRange(1))]) == {
                ("a b/ü.0", SuffixRange(3)): b"789", ("a b/ü.0", ByteRange(8, 20)): b"89",
            }
            assert await store.exists("a b/ü.0") and not await store.exists("nope")
            assert await store.get("nope") is None
        await sdk.set("x", b"from gcsfs")
        assert await lean.get("x") == b"from gcsfs"
        await lean.delete("x")
        await lean.delete("x")  # a missing object is fine
        assert await sdk.get("x") is None
    finally:
        await lean.close()
        await sdk.close()


async def test_lean_path_http_errors_raise(gcs_endpoint: str) -> None:
    from azarr.stores._gcshttp import GCSObjectClient
    from azarr.stores._http1 import HTTPStatusError

    # A write into a bucket that does not exist fails loudly (it must not look stored).
    client = GCSObjectClient(gcs_endpoint, "no-such-bucket-here", 4, 5.0, lambda headers: None)
    try:
        with pytest.raises(HTTPStatusError, match="404"):
            await client.put("k", b"x")
    finally:
        await client.close()
    store = GCSStore("no-such-bucket-here", endpoint_url=gcs_endpoint, retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(StoreError, match="404"):
            await store.set("k", b"x")
    finally:
        await store.close()


async def test_large_objects_read_as_ranges(gcs_endpoint: str, gcs_bucket: str) -> None:
    blob = bytes(range(256)) * 40  # 10240 bytes
    store = GCSStore(gcs_bucket, "big", endpoint_url=gcs_endpoint, part_size=1000)
    try:
        await store.set("obj", blob)
        await store.set("empty", b"")
        lean = await store._lean()
        assert lean is not None
        plain = lean.get
        seen: list[tuple[str | None, str | None]] = []

        async def counting(name: str, rng: str | None = None, generation: str | None = None) -> tuple[int, bytes, dict[str, str]]:
            seen.append((rng, generation))
            return await plain(name, rng, generation)

        lean.get = counting  # type: ignore[method-assign]
        assert await store.get("obj") == blob
        assert len(seen) == 11  # ceil(10240 / 1000) ranged GETs
        assert all(gen for _, gen in seen[1:])  # later ranges are pinned to the first answer's generation
        assert await store.get("empty") == b"" and await store.get("missing") is None
    finally:
        await store.close()


async def test_lean_path_missing_bucket_raises_but_missing_object_is_none() -> None:
    # fake-gcs-server answers both with a bare 404; real GCS says which in the JSON error,
    # as this scripted endpoint does. A missing bucket must not read as fill values.
    from aiohttp import web

    def gcs_404(message: str) -> web.Response:
        body = {"error": {"code": 404, "message": message, "errors": [{"reason": "notFound", "message": message}]}}
        return web.json_response(body, status=404)

    async def handle(request: web.Request) -> web.Response:
        if "/b/no-such-bucket/" in request.path:
            return gcs_404("The specified bucket does not exist.")
        return gcs_404(f"No such object: real-bucket/{request.path.rsplit('/', 1)[-1]}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    endpoint = f"http://127.0.0.1:{port}"
    missing_bucket = GCSStore("no-such-bucket", "p", endpoint_url=endpoint, token="anon", retry=RetryPolicy(attempts=1))
    real_bucket = GCSStore("real-bucket", "p", endpoint_url=endpoint, token="anon", retry=RetryPolicy(attempts=1))
    try:
        assert await real_bucket.get("arr/0.0") is None
        assert await real_bucket.get_many(["arr/0.0", "arr/0.1"]) == {}
        with pytest.raises(StoreError, match="bucket does not exist") as info:
            await missing_bucket.get("arr/0.0")
        assert "arr/0.0" in str(info.value) and "no-such-bucket" in str(info.value)
        with pytest.raises(StoreError, match="bucket does not exist"):
            await missing_bucket.exists("arr/.zarray")
    finally:
        await missing_bucket.close()
        await real_bucket.close()
        await runner.cleanup()


async def test_ranged_reads_are_one_get_each(gcs_endpoint: str, gcs_bucket: str) -> None:
    writer = GCSStore(gcs_bucket, "rg", endpoint_url=gcs_endpoint)
    await writer.set_many({"a": bytes(range(100)), "b": b"0123456789"})
    await writer.close()
    with RequestLog(gcs_endpoint) as log:
        store = GCSStore(gcs_bucket, "rg", endpoint_url=log.url)
        try:
            assert await store._lean() is not None
            log.clear()
            requests = [("a", ByteRange(0, 10)), ("a", SuffixRange(5)), ("a", ByteRange(90))] * 2 + [
                ("b", None), ("b", ByteRange(1, 3)), ("gone", SuffixRange(4)),
            ]
            got = await store.get_ranges(requests)
            assert got == {
                ("a", ByteRange(0, 10)): bytes(range(10)), ("a", SuffixRange(5)): bytes(range(95, 100)),
                ("a", ByteRange(90)): bytes(range(90, 100)), ("b", None): b"0123456789", ("b", ByteRange(1, 3)): b"12",
            }
            # one media GET per distinct range, the suffix as GCS's own bytes=-N (no size lookup)
            assert all("/download/" in path for _, path, _ in log.seen), log.seen
            assert log.ranges() == ["bytes=-4", "bytes=-5", "bytes=0-8388607", "bytes=0-9", "bytes=90-"], log.seen
        finally:
            await store.close()


@pytest.mark.parametrize("fast_path", [True, False], ids=["lean", "gcsfs"])
async def test_refused_credentials_are_an_authentication_error(fast_path: bool) -> None:
    # fake-gcs-server accepts anything; this scripted endpoint answers as GCS does to a bad token.
    from aiohttp import web

    from azarr.errors import AuthenticationError

    async def handle(request: web.Request) -> web.Response:
        body = {"error": {"code": 401, "message": "Invalid Credentials", "errors": [{"reason": "authError"}]}}
        return web.json_response(body, status=401)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    store = GCSStore("bkt", "p", endpoint_url=f"http://127.0.0.1:{port}", token="anon", fast_path=fast_path,
                     retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(AuthenticationError, match="401") as info:
            await store.get("arr/0.0")
        assert "gs://bkt/p" in str(info.value) and "arr/0.0" in str(info.value)
    finally:
        await store.close()
        await runner.cleanup()
