"""The lean HTTP/1.1 client of the object-store hot path, against scripted TCP servers.

Each test server answers with exact bytes, so framing (Content-Length, chunked, close),
keep-alive reuse and failure handling are checked on the wire, not through a mock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from azarr.stores._http1 import HTTPClient, HTTPProtocolError


class ScriptedServer:
    """A TCP server that reads one request head (and body) at a time and runs ``answer``."""

    def __init__(self, answer: Callable[[bytes, bytes, asyncio.StreamWriter, int], object]) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.origin = f"http://127.0.0.1:{port}"
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

    async def start(answer: Callable[[bytes, bytes, asyncio.StreamWriter, int], object]) -> tuple[ScriptedServer, HTTPClient]:
        server = ScriptedServer(answer)
        servers.append(server)
        clients.append(HTTPClient(await server.start()))
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


async def test_chunked_response_split_across_packets(serve) -> None:
    async def answer(head: bytes, body: bytes, w: asyncio.StreamWriter, n: int) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
        await w.drain()
        await asyncio.sleep(0.01)
        w.write(b"lo\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")

    _, client = await serve(answer)
    resp = await client.request("GET", "/k", {})
    assert resp.body == b"hello world"
    assert (await client.request("GET", "/k", {})).body == b"hello world"


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
    with pytest.raises(HTTPProtocolError, match="bad status line"):
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
