"""The lean HTTP/1.1 client of the object-store hot path, against scripted TCP servers.

Each test server answers with exact bytes, so framing (Content-Length, chunked, close),
keep-alive reuse and failure handling are checked on the wire, not through a mock.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from azarr.stores._http1 import HTTPClient, HTTPProtocolError, InvalidRequestError


class ScriptedServer:
    """A TCP server that reads one request head (and body) at a time and runs ``answer``."""

    def __init__(self, answer: Callable[[bytes, bytes, asyncio.StreamWriter, int], object],
                 tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self.server.sockets[0].getsockname()[1]
        self.origin = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        return self.origin

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn_no = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                body = b""
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        body = await reader.readexactly(int(line.split(b":")[1]))
                self.requests.append(head + body)
                result = self.answer(head, body, writer, conn_no)
                if asyncio.iscoroutine(result):
                    result = await result
                await writer.drain()
                if result == "close":
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., object]]:
    """``await serve(answer)`` starts a scripted server and returns it with a client of it;
    both are closed at teardown."""
    servers: list[ScriptedServer] = []
    clients: list[HTTPClient] = []

    async def start(
        answer: Callable[[bytes, bytes, asyncio.StreamWriter, int], object], tls: ssl.SSLContext | None = None,
        **options: object,
    ) -> tuple[ScriptedServer, HTTPClient]:
        server = ScriptedServer(answer, tls)
        servers.append(server)
        clients.append(HTTPClient(await server.start(), **options))  # type: ignore[arg-type]
        return server, clients[-1]

    yield start
    for client in clients:
        await client.close()
    for server in servers:
        await server.stop()


def _ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_content_length_response_and_keep_alive(serve) -> None:
    server, client = await serve(lambda head, body, w, n: w.write(_ok(b"hello", b"ETag: \"x\"\r\n")))
    for _ in range(3):
        resp = await client.request("GET", "/b/k", {"Range": "bytes=0-4"})
        assert (resp.status, resp.body, resp.headers["etag"]) == (200, b"hello", '"x"')
    assert server.connections == 1  # one connection, reused
    assert server.requests[0].startswith(b"GET /b/k HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Range: bytes=0-4\r\n" in server.requests[0]


async def test_put_sends_body_with_content_length(serve) -> None:
    server, client = await serve(lambda head, body, w, n: w.write(_ok(b"")))
    payload = bytes(range(256)) * 1000
    resp = await client.request("PUT", "/b/k", {}, payload)
    assert resp.status == 200
    assert server.requests[0].endswith(payload)
    assert b"Content-Length: 256000\r\n" in server.requests[0]
    # an empty PUT still declares its (zero) length
    await client.request("PUT", "/b/empty", {}, b"")
    assert b"Content-Length: 0\r\n" in server.requests[1]


async def test_big_bodies_go_out_whole_on_concurrent_connections(serve) -> None:
    """Multi-megabyte bodies arrive intact, several at once on separate connections."""
    server, client = await serve(lambda head, body, w, n: w.write(_ok(str(len(body)).encode())))
    payloads = [bytes([i]) * 7 + bytes(range(251)) * (12_000 + 999 * i) for i in range(4)]
    resps = await asyncio.gather(*(client.request("PUT", f"/b/{i}", {}, p) for i, p in enumerate(payloads)))
    assert [r.body for r in resps] == [str(len(p)).encode() for p in payloads]
    received = {}
    for req in server.requests:
        head, body = req.split(b"\r\n\r\n", 1)
        assert f"Content-Length: {len(body)}".encode() in head
        received[head.split(b" ")[1]] = body
    assert received == {f"/b/{i}".encode(): p for i, p in enumerate(payloads)}


async def test_big_body_to_a_server_that_reads_slowly(serve) -> None:
    """Flow control: a server reading 64 KiB at a time, with pauses, still gets every byte."""
    got: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
                     .split(b":")[1])
        body = bytearray()
        while len(body) < length:
            body += await reader.read(min(65536, length - len(body)))
            await asyncio.sleep(0.001)
        got.append(bytes(body))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = HTTPClient(f"http://127.0.0.1:{port}")
    try:
        payload = bytes(range(256)) * 24_000  # ~6 MB: more than the socket takes at once
        resp = await client.request("PUT", "/b/k", {}, payload)
        assert resp.status == 200 and got == [payload]
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


async def test_an_answer_before_the_whole_body_closes_the_connection(serve) -> None:
    """A server that answers (413) before reading a big body: the client takes the answer and
    never reuses that connection, so the rest still queued cannot become the next request."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.2)  # holds the connection open without reading the body
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = HTTPClient(f"http://127.0.0.1:{port}")
    try:
        resp = await client.request("PUT", "/b/big", {}, b"x" * (64 << 20))
        assert resp.status == 413
        assert client._idle == deque() or all(c.closed for c in client._idle)
        resp = await client.request("GET", "/b/next", {})
        assert resp.status == 413 and len(heads) == 2 and heads[1].startswith(b"GET /b/next ")
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


def _in_two_packets(first: bytes, second: bytes) -> Callable[..., Awaitable[None]]:
    """An answer sent as two writes 10 ms apart (the client sees two reads)."""

    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter, n: int) -> None:
        w.write(first)
        await w.drain()
        await asyncio.sleep(0.01)
        w.write(second)

    return answer


async def test_chunked_response_split_across_packets(serve) -> None:
    answer = _in_two_packets(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
                             b"lo\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
    _, client = await serve(answer)
    resp = await client.request("GET", "/k", {})
    assert resp.body == b"hello world"
    assert (await client.request("GET", "/k", {})).body == b"hello world"


async def test_content_length_body_split_across_packets(serve) -> None:
    """Past its first piece a body of known length is taken as it arrives (not through the
    parser): pieces of any size, the next request on the same connection, 1xx first."""
    body = bytes(range(256)) * 4096  # 1 MiB

    async def answer(head: bytes, _: bytes, w: asyncio.StreamWriter, n: int) -> None:
        interim = b"HTTP/1.1 100 Continue\r\n\r\n" if b"/interim" in head else b""
        w.write(interim + b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
        for start, end in ((10, 11), (11, 70_000), (70_000, len(body))):
            await w.drain()
            await asyncio.sleep(0.005)
            w.write(body[start:end])

    server, client = await serve(answer)
    for target in ("/a", "/b", "/interim"):
        resp = await client.request("GET", target, {})
        assert (resp.status, resp.body) == (200, body)
    assert server.connections == 1


async def test_bytes_past_content_length_in_a_later_packet_raise(serve) -> None:
    server, client = await serve(_in_two_packets(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab", b"cdefEXTRA"))
    with pytest.raises(HTTPProtocolError, match="after the end of the response"):
        await client.request("GET", "/k", {})
    with pytest.raises(HTTPProtocolError):
        await client.request("GET", "/k", {})
    assert server.connections == 2  # the connection was dropped


async def test_body_until_close_when_no_length(serve) -> None:
    def answer(head: bytes, body: bytes, w: asyncio.StreamWriter, n: int) -> str:
        w.write(b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n<Error>boom</Error>")
        return "close"

    server, client = await serve(answer)
    resp = await client.request("GET", "/k", {})
    assert (resp.status, resp.body) == (500, b"<Error>boom</Error>")
    await client.request("GET", "/k", {})
    assert server.connections == 2  # a closed connection is not reused


async def test_head_and_204_have_no_body(serve) -> None:
    def answer(head: bytes, body: bytes, w: asyncio.StreamWriter, n: int) -> None:
        if head.startswith(b"HEAD"):
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n")
        else:
            w.write(b"HTTP/1.1 204 No Content\r\n\r\n")

    server, client = await serve(answer)
    head = await client.request("HEAD", "/k", {})
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "12345")
    gone = await client.request("DELETE", "/k", {})
    assert (gone.status, gone.body) == (204, b"")
    assert server.connections == 1


async def test_interim_100_continue_is_skipped(serve) -> None:
    _, client = await serve(lambda head, body, w, n: w.write(b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(b"done")))
    assert (await client.request("PUT", "/k", {}, b"x")).body == b"done"


async def test_stale_idle_connection_is_replaced_transparently(serve) -> None:
    def answer(head: bytes, body: bytes, w: asyncio.StreamWriter, n: int) -> str:
        w.write(_ok(b"conn%d" % n))
        return "close" if n == 1 else ""  # the first connection closes after answering, silently

    _, client = await serve(answer)
    # No "Connection: close" header: the client keeps the socket and finds it dead on reuse.
    assert (await client.request("GET", "/k", {})).body == b"conn1"
    await asyncio.sleep(0.05)
    assert (await client.request("GET", "/k", {})).body == b"conn2"


async def test_reset_mid_response_raises_connection_error(serve) -> None:
    def answer(head: bytes, body: bytes, w: asyncio.StreamWriter, n: int) -> str:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part")
        return "close"

    _, client = await serve(answer)
    with pytest.raises(ConnectionError):
        await client.request("GET", "/k", {})


async def test_garbage_status_line_is_a_protocol_error(serve) -> None:
    _, client = await serve(lambda head, body, w, n: w.write(b"SSH-2.0-OpenSSH\r\n\r\n"))
    with pytest.raises(HTTPProtocolError, match="malformed response"):
        await client.request("GET", "/k", {})


async def test_timeouts_are_per_request_and_the_client_recovers(serve) -> None:
    # /slow never answers; /fast answers at once. A short timeout fails only its own
    # request, a long one running beside it succeeds, and the client keeps working.
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter, n: int) -> None:
        if head.startswith(b"GET /slow"):
            await asyncio.sleep(5)
        elif head.startswith(b"GET /late"):
            await asyncio.sleep(0.3)
            w.write(_ok(b"late"))
        else:
            w.write(_ok(b"fast"))

    _, client = await serve(answer)
    loop = asyncio.get_running_loop()
    started = loop.time()
    slow = asyncio.ensure_future(client.request("GET", "/slow", {}, timeout=0.2))
    late = asyncio.ensure_future(client.request("GET", "/late", {}, timeout=5))
    with pytest.raises(TimeoutError):
        await slow
    assert 0.2 <= loop.time() - started < 0.5
    assert (await late).body == b"late"
    assert (await client.request("GET", "/fast", {}, timeout=1)).body == b"fast"
    assert not client._busy


async def test_silent_server_times_out(serve) -> None:
    _, client = await serve(lambda head, body, w, n: asyncio.sleep(5))
    with pytest.raises(TimeoutError):
        await client.request("GET", "/k", {}, timeout=0.2)


async def test_refused_connection_raises_connection_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = HTTPClient(f"http://127.0.0.1:{port}")
    with pytest.raises(ConnectionError):
        await client.request("GET", "/k", {})
    await client.close()


async def test_concurrent_requests_use_separate_connections(serve) -> None:
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter, n: int) -> None:
        await asyncio.sleep(0.1)
        w.write(_ok(head.split(b" ")[1]))

    server, client = await serve(answer)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    bodies = await asyncio.gather(*(client.request("GET", f"/k{i}", {}) for i in range(20)))
    assert [r.body for r in bodies] == [b"/k%d" % i for i in range(20)]
    assert loop.time() - t0 < 1.0  # not serialised behind one connection
    assert server.connections == 20


def test_rejects_non_http_origin() -> None:
    with pytest.raises(ValueError):
        HTTPClient("ftp://example.com")


async def test_hostname_resolution_and_address_fallback(serve) -> None:
    server, _ = await serve(lambda head, body, w, n: w.write(_ok(b"hi")))
    port = server.origin.rsplit(":", 1)[1]
    client = HTTPClient(f"http://localhost:{port}")  # may resolve to ::1 first; the server is on 127.0.0.1
    try:
        for _ in range(4):
            resp = await client.request("GET", "/k", {})
            assert resp.body == b"hi"
        assert server.requests[0].startswith(b"GET /k HTTP/1.1\r\nHost: localhost:" + port.encode())
    finally:
        await client.close()


def test_tls_context_trusts_certifi_bundle() -> None:
    from azarr.stores._http1 import tls_context

    ctx = tls_context()
    assert ctx.verify_mode.name == "CERT_REQUIRED" and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] > 0


async def test_connect_falls_through_to_the_next_address(serve) -> None:
    import socket
    import time

    server, client = await serve(lambda head, body, w, n: w.write(_ok(b"second")))
    port = int(server.origin.rsplit(":", 1)[1])
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    dead_port = dead.getsockname()[1]
    info = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
    client._addresses = [(*info, ("127.0.0.1", dead_port)), (*info, ("127.0.0.1", port))]
    client._resolved_at = time.monotonic()
    try:
        assert (await client.request("GET", "/k", {})).body == b"second"
    finally:
        dead.close()


async def test_unresolvable_host_is_a_connection_error() -> None:
    client = HTTPClient("http://no-such-host.invalid:80")
    with pytest.raises(ConnectionError, match="cannot resolve"):
        await client.request("GET", "/k", {}, timeout=10)
    await client.close()


# --- malformed responses: each is an error, never a guess -----------------------------------

MALFORMED = {
    "hex prefix in chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
    "no CRLF after chunk data": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
    "signed Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
    "underscore in Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\nabcdefghij",
    "conflicting Content-Lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "Content-Length with chunked": (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    b"3\r\nabc\r\n0\r\n\r\n"),
    "body longer than Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef",
    "second response glued on": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "bare LF line ends": b"HTTP/1.1 200 OK\nContent-Length: 3\n\nabc",
    "space in a header name": b"HTTP/1.1 200 OK\r\nContent Length: 3\r\n\r\nabc",
    "folded header line": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 3\r\n\r\nabc",
    "two-digit status": b"HTTP/1.1 20 OK\r\nContent-Length: 3\r\n\r\nabc",
    "Content-Length overflow": b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nabc",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_malformed_response_raises(serve, case: str) -> None:
    server, client = await serve(lambda head, body, w, n: w.write(MALFORMED[case]))
    with pytest.raises(HTTPProtocolError):
        await client.request("GET", "/k", {})
    # the connection is dropped, and the next request starts a new one
    with pytest.raises(HTTPProtocolError):
        await client.request("GET", "/k", {})
    assert server.connections == 2


async def test_bytes_after_a_response_poison_the_idle_connection(serve) -> None:
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter, n: int) -> None:
        w.write(_ok(b"abc"))
        if n == 1:
            await w.drain()
            await asyncio.sleep(0.02)
            w.write(b"junk")  # arrives while the connection sits idle

    server, client = await serve(answer)
    assert (await client.request("GET", "/k", {})).body == b"abc"
    await asyncio.sleep(0.1)
    assert (await client.request("GET", "/k", {})).body == b"abc"
    assert server.connections == 2  # the poisoned connection was not reused


async def test_body_limit(serve) -> None:
    def answer(head: bytes, body: bytes, w: asyncio.StreamWriter, n: int) -> str | None:
        if head.startswith(b"GET /declared"):
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world")
        elif head.startswith(b"GET /chunked"):
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n")
        elif head.startswith(b"GET /close"):
            w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world")
            return "close"
        else:
            w.write(_ok(b"0123456789"))
        return None

    _, client = await serve(answer, max_body=10)
    assert (await client.request("GET", "/fits", {})).body == b"0123456789"
    for target in ("/declared", "/chunked", "/close"):
        with pytest.raises(HTTPProtocolError, match="limit of 10"):
            await client.request("GET", target, {})


async def test_head_answered_with_a_body_raises(serve) -> None:
    _, client = await serve(lambda head, body, w, n: w.write(_ok(b"surprise")))
    with pytest.raises(HTTPProtocolError, match="HEAD"):
        await client.request("HEAD", "/k", {})


# --- requests that must not be sent --------------------------------------------------------


@pytest.mark.parametrize("method, target, headers", [
    ("GET", "/k", {"X-Meta": "a\r\nX-Injected: 1"}),
    ("GET", "/k", {"X-Meta": "a\nb"}),
    ("GET", "/k", {"X-Meta": "nul\x00"}),
    ("GET", "/k", {"Bad Name": "v"}),
    ("GET", "/k", {"X-Bad:": "v"}),
    ("GET", "/k", {"X-Unicode": "\u2603"}),
    ("GET", "/k HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET /other", {}),
    ("GET\r\n", "/k", {}),
])
async def test_invalid_request_is_refused_before_sending(serve, method: str, target: str,
                                                          headers: dict[str, str]) -> None:
    server, client = await serve(lambda head, body, w, n: w.write(_ok(b"")))
    with pytest.raises(InvalidRequestError):
        await client.request(method, target, headers)
    assert server.requests == [] and server.connections == 0
    assert (await client.request("GET", "/k", {"X-Fine": "tab\tis allowed"})).status == 200


# --- resending after a stale connection: idempotent requests only ---------------------------


@pytest.mark.parametrize("method, resent", [("GET", True), ("PUT", True), ("DELETE", True), ("POST", False)])
async def test_only_idempotent_requests_are_resent_on_a_stale_connection(serve, method: str, resent: bool) -> None:
    answered: list[int] = []

    def answer(head: bytes, body: bytes, w: asyncio.StreamWriter, n: int) -> str:
        if n == 1 and answered:
            return "close"  # the server dropped the kept-alive connection as the request arrived
        answered.append(n)
        w.write(_ok(b"conn%d" % n))
        return ""

    server, client = await serve(answer)
    assert (await client.request("GET", "/k", {})).body == b"conn1"
    if resent:
        assert (await client.request(method, "/k", {}, b"x")).body == b"conn2"
    else:
        with pytest.raises(ConnectionError):
            await client.request(method, "/k", {}, b"x")
        assert server.connections == 1  # not sent again on a new connection


# --- TLS: a context per client --------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str]:
    """A server context with a certificate for 127.0.0.1 and localhost from a private CA, and that CA's PEM file."""
    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    pem = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    return server_ctx, str(pem)


async def test_tls_with_a_per_client_ca_bundle(serve, tls_pair: tuple[ssl.SSLContext, str]) -> None:
    from azarr.stores._http1 import tls_context

    server_ctx, ca_pem = tls_pair
    _, trusting = await serve(lambda head, body, w, n: w.write(_ok(b"secret")), server_ctx,
                              ssl_context=tls_context(ca_pem))
    assert (await trusting.request("GET", "/k", {})).body == b"secret"
    _, default = await serve(lambda head, body, w, n: w.write(_ok(b"secret")), server_ctx)
    with pytest.raises(ssl.SSLCertVerificationError):  # the private CA is not trusted by default
        await default.request("GET", "/k", {})


# --- forward proxies ------------------------------------------------------------------------


async def test_plain_http_through_a_proxy_uses_absolute_form(serve) -> None:
    from tests.forwardproxy import ForwardProxy

    server, _ = await serve(lambda head, body, w, n: w.write(_ok(head.split(b" ")[1])))
    with ForwardProxy() as proxy:
        client = HTTPClient(server.origin, proxy=proxy.url.replace("http://", "http://user:p%40ss@"))
        try:
            assert (await client.request("GET", "/a?x=1", {})).body == b"/a?x=1"
            assert (await client.request("GET", "/b", {})).body == b"/b"
        finally:
            await client.close()
    port = server.origin.rsplit(":", 1)[1]
    assert proxy.targets() == [f"GET http://127.0.0.1:{port}/a?x=1 HTTP/1.1", f"GET http://127.0.0.1:{port}/b HTTP/1.1"]
    assert {auth for _, auth in proxy.seen} == {"Basic dXNlcjpwQHNz"}  # user:p@ss
    assert all(b"Proxy-Authorization" not in r for r in server.requests)  # the proxy keeps it


async def test_https_through_a_proxy_tunnels_with_connect(serve, tls_pair: tuple[ssl.SSLContext, str]) -> None:
    from azarr.stores._http1 import tls_context
    from tests.forwardproxy import ForwardProxy

    server_ctx, ca_pem = tls_pair
    server, _ = await serve(lambda head, body, w, n: w.write(_ok(b"through the tunnel")), server_ctx,
                            ssl_context=tls_context(ca_pem))
    with ForwardProxy() as proxy:
        client = HTTPClient(server.origin, proxy=proxy.url, ssl_context=tls_context(ca_pem))
        try:
            for _ in range(2):
                assert (await client.request("GET", "/k", {})).body == b"through the tunnel"
        finally:
            await client.close()
        port = server.origin.rsplit(":", 1)[1]
        assert proxy.targets() == [f"CONNECT 127.0.0.1:{port} HTTP/1.1"]  # one tunnel, kept alive

        refused = HTTPClient("https://unreachable.example:443", proxy=proxy.url)
        try:
            with pytest.raises(ConnectionError, match="refused to tunnel to unreachable.example:443: HTTP 502"):
                await refused.request("GET", "/k", {})
        finally:
            await refused.close()


def test_only_http_proxies_are_supported() -> None:
    with pytest.raises(ValueError, match="only http:// proxies"):
        HTTPClient("http://example.com", proxy="socks5://127.0.0.1:1080")


# --- big bodies: read straight into pooled buffers -------------------------------------------


async def test_big_bodies_are_bytearrays_and_a_held_one_is_never_reused(serve) -> None:
    """Bodies of 256 KiB or more arrive in a buffer of their own (a bytearray); one the caller
    still holds keeps its bytes while later answers of the same size arrive."""
    bodies = [bytes([i]) * (300_000 + i) for i in range(4)]
    small = b"small" * 100
    _, client = await serve(lambda head, body, w, n: w.write(_ok(bodies[int(head[8:9])] if b"/big" in head else small)))
    held = []
    for i in range(4):
        resp = await client.request("GET", f"/big{i}", {})
        assert isinstance(resp.body, bytearray) and resp.body == bodies[i]
        held.append(resp.body)
    assert len({id(b) for b in held}) == 4  # four distinct buffers: none handed out twice
    assert [bytes(b) for b in held] == bodies  # untouched by the answers after them
    resp = await client.request("GET", "/small", {})
    assert type(resp.body) is bytes and resp.body == small


async def test_a_released_big_body_buffer_is_reused(serve) -> None:
    body = bytes(range(256)) * 2000  # 512,000 bytes
    shorter = body[:480_000]
    _, client = await serve(lambda head, b, w, n: w.write(_ok(shorter if b"/short" in head else body)))
    first = (await client.request("GET", "/k", {})).body
    address = id(first)
    view = memoryview(first)  # a view holds the buffer too
    second = (await client.request("GET", "/k", {})).body
    assert id(second) != address and first == body == second
    del first, view
    third = (await client.request("GET", "/short", {})).body  # a smaller answer fits the released buffer
    assert id(third) == address and third == shorter and len(third) == 480_000


def test_body_pool_bounds_and_sizes() -> None:
    from azarr._bufferpool import BufferPool

    pool = BufferPool(max_bytes=1_000_000)
    a = pool.take(600_000)
    b = pool.take(600_000)  # beyond the bound: handed out, not kept
    assert len(a) == len(b) == 600_000 and pool._bytes == a.__alloc__() and len(pool._buffers) == 1
    address = id(a)
    del a, b
    c = pool.take(500_000)  # fits the kept one (allocation within 2x): reused, shortened
    assert id(c) == address and len(c) == 500_000
    del c
    d = pool.take(700_000)  # grown in place within its allocation? no: 700,000 > its 600,001 bytes
    assert id(d) != address and len(d) == 700_000
    e = pool.take(100_000)  # far smaller than the free one: a buffer of its own
    assert len(e) == 100_000
    del d, e
    # the pool is full of free buffers of sizes no longer asked for: they make room
    f = pool.take(900_000)
    assert pool._buffers == [f] and pool._bytes == f.__alloc__()
    pool.clear()
    assert pool._bytes == 0 and not pool._buffers


def test_buffer_pool_from_several_threads() -> None:
    """Threads taking and dropping buffers never get one another holds; freed ones come back."""
    import threading

    from azarr._bufferpool import BufferPool

    pool = BufferPool(max_bytes=64 << 20)
    errors: list[str] = []

    def work(tag: int) -> None:
        for round_ in range(200):
            held = [pool.take(300_000 + 1000 * (round_ % 7)) for _ in range(3)]
            for i, buf in enumerate(held):
                buf[:8] = bytes([tag, i]) * 4
            for i, buf in enumerate(held):
                if bytes(buf[:8]) != bytes([tag, i]) * 4:
                    errors.append(f"thread {tag}: buffer {i} was handed to someone else")
            del held

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    # reused: 2,400 buffers were taken, a few dozen (held at once, times the sizes asked for) kept
    assert 0 < len(pool._buffers) < 100 and pool._bytes <= pool.max_bytes


async def test_header_names_are_lowered_and_repeated_fields_combine(serve) -> None:
    answer = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Multi: one\r\nETag: \"e\"\r\nx-MULTI: two\r\n"
              b"X-Latin: caf\xe9\r\n\r\nok")
    _, client = await serve(lambda head, body, w, n: w.write(answer))
    resp = await client.request("GET", "/k", {})
    assert resp.headers == {"content-length": "2", "x-multi": "one, two", "etag": '"e"', "x-latin": "caf\xe9"}
    assert (resp.status, resp.body) == (200, b"ok")
