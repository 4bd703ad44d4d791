"""HTTPStore against a real static HTTP server: the read half of the conformance suite,
writes refused, no listing; arrays served over HTTP open via consolidated metadata."""

from __future__ import annotations

import base64
import shutil
import ssl
import uuid
from pathlib import Path
from typing import Any, Self

import aiohttp
import numpy as np
import pytest
from aiohttp import web

import azarr
from azarr.errors import ReadOnlyError, StoreError
from azarr.stores import HTTPStore, RetryPolicy, Store, from_url
from azarr.stores.ranges import ByteRange, SuffixRange
from tests.services.common import free_port
from tests.stores.conformance import Factory, StoreTests
from tests.stores.request_log import RequestLog


class TestHTTPStore(StoreTests):
    writable = False
    listable = False

    @pytest.fixture
    def store_factory(self, http_server: tuple[str, Path]) -> Factory:
        url, root = http_server
        name = f"s{uuid.uuid4().hex[:8]}"
        self.dir = root / name
        self.dir.mkdir()
        return lambda **options: HTTPStore(f"{url}/{name}", **options)

    async def raw_set(self, store: Store, key: str, value: bytes) -> None:
        path = self.dir.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value)

    async def raw_get(self, store: Store, key: str) -> bytes | None:
        path = self.dir.joinpath(*key.split("/"))
        return path.read_bytes() if path.is_file() else None

    async def broken_store(self, factory: Factory) -> Store:
        return HTTPStore(f"http://127.0.0.1:{free_port()}/x", retry=RetryPolicy(attempts=2, base_delay=0.01))


def test_array_over_http_via_consolidated(http_server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_server
    src = tmp_path / "src.zarr"
    g = azarr.open_group(str(src), mode="w")
    g.attrs["title"] = "served"
    a = g.create_array("sub/a", shape=(40, 30), chunks=(8, 8), dtype="i2", fill_value=-5)
    a[:35, 3:] = np.arange(35 * 27).reshape(35, 27)
    azarr.consolidate_metadata(str(src))
    shutil.copytree(src, root / "served.zarr")
    remote = azarr.open_consolidated(f"{url}/served.zarr")
    assert remote.attrs["title"] == "served" and list(remote) == ["sub"]
    arr = remote["sub/a"]
    expected = np.full((40, 30), -5, "i2")
    expected[:35, 3:] = np.arange(35 * 27).reshape(35, 27)
    np.testing.assert_array_equal(arr[...], expected)
    np.testing.assert_array_equal(azarr.open_array(f"{url}/served.zarr", mode="r", path="sub/a")[5:9], expected[5:9])
    with pytest.raises(ReadOnlyError):
        arr[0, 0] = 1


def test_errors_are_not_missing(http_server: tuple[str, Path]) -> None:
    url, root = http_server
    (root / "forbidden").mkdir(exist_ok=True)
    store = HTTPStore(url, retry=RetryPolicy(attempts=1))
    assert azarr.sync.run(store.get("does/not/exist")) is None
    s = from_url(url + "/x", headers={"Authorization": "Bearer s3cr3t"})
    assert isinstance(s, HTTPStore) and "s3cr3t" not in repr(s)
    with pytest.raises(StoreError):
        azarr.open_array(HTTPStore(f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(attempts=1)), mode="r")


async def test_ranged_reads_are_one_get_each(http_server: tuple[str, Path]) -> None:
    url, root = http_server
    (root / "rg").mkdir(exist_ok=True)
    (root / "rg" / "a").write_bytes(bytes(range(100)))
    (root / "rg" / "b").write_bytes(b"0123456789")
    with RequestLog(url) as log:
        store = HTTPStore(f"{log.url}/rg")
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
            assert log.methods() == ["GET"] * 5, log.seen  # duplicates once, "b" once, whole
            assert log.ranges() == [None, "bytes=-5", "bytes=0-3", "bytes=0-9", "bytes=90-"], log.seen
        finally:
            await store.close()
# --- credentials and redirects: two real servers, and what each of them received -------------


class Recorder:
    """A real HTTP server on 127.0.0.1 (aiohttp, this loop) that records request headers and
    answers each path from a table: ``bytes`` (200) or ``("redirect", status, location)``."""

    def __init__(self, routes: dict[str, Any], ssl_context: ssl.SSLContext | None = None) -> None:
        self.routes = routes
        self.ssl_context = ssl_context
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.runner: web.AppRunner | None = None
        self.origin = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path, {k.lower(): v for k, v in request.headers.items()}))
        answer = self.routes.get(request.path)
        if answer is None:
            return web.Response(status=404)
        if isinstance(answer, bytes):
            return web.Response(body=answer)
        _, status, location = answer
        return web.Response(status=status, headers={"Location": location})

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port, ssl_context=self.ssl_context).start()
        self.origin = f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def headers_for(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.seen if p == path]


SECRET_HEADERS = {"X-Api-Key": "key-SECRET", "Authorization": "Bearer token-SECRET"}


async def test_headers_are_not_sent_to_another_origin_after_a_redirect() -> None:
    async with Recorder({"/data/x": b"from-b"}) as other:
        routes = {"/data/x": ("redirect", 302, f"{other.origin}/data/x"), "/data/same": ("redirect", 307, "/data/real"),
                  "/data/real": b"from-a"}
        async with Recorder(routes) as home:
            store = HTTPStore(f"{home.origin}/data", headers=SECRET_HEADERS)
            try:
                assert await store.get("x") == b"from-b"
                assert await store.get_range("x", 1, 3) == b"ro"  # the Range header does follow
                assert await store.get("same") == b"from-a"  # same origin: credentials kept
            finally:
                await store.close()
    assert all(h["x-api-key"] == "key-SECRET" and h["authorization"] == "Bearer token-SECRET" for _, h in home.seen)
    assert len(home.headers_for("/data/real")) == 1
    received = other.headers_for("/data/x")
    assert len(received) == 2 and received[1]["range"] == "bytes=1-2"
    for headers in received:
        assert "x-api-key" not in headers and "authorization" not in headers, headers
        assert not any("SECRET" in v for v in headers.values()), headers


async def test_url_credentials_are_not_sent_to_another_origin() -> None:
    async with Recorder({"/d/k": b"v"}) as other:
        async with Recorder({"/d/k": ("redirect", 301, f"{other.origin}/d/k")}) as home:
            host = home.origin.removeprefix("http://")
            store = HTTPStore(f"http://user:pa%40ss@{host}/d")
            try:
                assert await store.get("k") == b"v"
                assert "pa%40ss" not in repr(store) and "pa@ss" not in repr(store)
            finally:
                await store.close()
    (sent,) = home.headers_for("/d/k")
    assert sent["authorization"] == "Basic " + base64.b64encode(b"user:pa@ss").decode()
    (forwarded,) = other.headers_for("/d/k")
    assert "authorization" not in forwarded


def _self_signed(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client
    context that trusts exactly that certificate."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_no_credentials_after_a_redirect_to_plain_http(tmp_path: Path) -> None:
    server_tls, client_tls = _self_signed(tmp_path)

    class TrustingStore(HTTPStore):
        def _connector(self) -> aiohttp.TCPConnector:
            return aiohttp.TCPConnector(ssl=client_tls)

    async with Recorder({"/z/k": b"plain"}) as plain:
        async with Recorder({"/z/k": ("redirect", 302, f"{plain.origin}/z/k"), "/z/ok": b"tls"}, server_tls) as secure:
            store = TrustingStore(f"{secure.origin}/z", headers=SECRET_HEADERS)
            try:
                assert await store.get("ok") == b"tls"
                assert await store.get("k") == b"plain"
            finally:
                await store.close()
    assert secure.headers_for("/z/k")[0]["x-api-key"] == "key-SECRET"
    (downgraded,) = plain.headers_for("/z/k")
    assert not any("SECRET" in v for v in downgraded.values()), downgraded


async def test_a_redirect_loop_is_an_error_naming_the_key() -> None:
    async with Recorder({"/l/a": ("redirect", 302, "/l/b"), "/l/b": ("redirect", 302, "/l/a")}) as home:
        store = HTTPStore(f"{home.origin}/l", retry=RetryPolicy(attempts=1))
        try:
            with pytest.raises(StoreError, match="redirected more than 10 times") as info:
                await store.get("a")
            assert "'a'" in str(info.value)
        finally:
            await store.close()
    assert len(home.seen) == 11
