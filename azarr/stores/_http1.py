"""A minimal HTTP/1.1 keep-alive client on asyncio protocols, for the object-store hot path.

Why not aiohttp's ``ClientSession`` here: on 2 cores, W1 through a 100 ms endpoint spent
~150 µs of client CPU per chunk request inside aiohttp (URL objects, header
multidicts, tracing hooks, response wrappers), and that CPU is serialised on the event
loop between waves of requests. A chunk request needs none of that: one request line,
a few headers, a body of known length. This module writes the request bytes directly
and parses the answer with llhttp (through ``httptools``, the parser aiohttp and uvicorn
build on) in strict mode: malformed framing (bad chunk sizes, conflicting or signed
Content-Length, missing CRLFs, bytes after the end of a response) raises instead of
being guessed at. Everything else (listing, batch deletes, credentials) stays with the
full SDK clients.

Scope, on purpose: HTTP/1.1 only; responses framed by Content-Length, chunked transfer
coding or connection close; an ``http://`` forward proxy (absolute-form requests, or a
``CONNECT`` tunnel for https origins); no redirects, cookies or compression. TLS through
the standard ``ssl`` module, with a context per client. Errors surface as
``ConnectionError`` / ``TimeoutError`` (which the store engine retries),
:class:`HTTPProtocolError` (a malformed answer) or :class:`InvalidRequestError` (a
request that must not be sent).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import itertools
import re
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import httptools

from azarr._bufferpool import BufferPool

_DNS_TTL = 60.0
#: Default bound on one response body: far above any chunk or part a store asks for, low
#: enough that a server streaming garbage cannot exhaust memory.
DEFAULT_MAX_BODY = 4 * 1024**3
# Methods a client may send twice (RFC 9110 section 9.2.2): only these are resent after a
# reused connection turns out to be dead, because the server may have acted on the first copy.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})

# An RFC 9110 token: what a method or a header name may consist of.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Header names joined by ":": each a token, none empty.
_NAMES = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?::[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*")
# Control characters other than TAB end or split a header line (CR/LF injection) or are invalid.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")

_XML_CODE = re.compile(rb"<Code>([^<]*)</Code>")
_XML_MESSAGE = re.compile(rb"<Message>([^<]*)</Message>")


def xml_error(body: bytes) -> tuple[str | None, str]:
    """``(Code, Message)`` of an S3/Azure-style XML error body (best effort)."""
    code = _XML_CODE.search(body)
    msg = _XML_MESSAGE.search(body)
    return (
        code.group(1).decode(errors="replace") if code else None,
        msg.group(1).decode(errors="replace").split("\n")[0] if msg else "",
    )


class PerSecond:
    """A timestamp string formatted at most once per second (signers need one per request)."""

    def __init__(self, fmt: Callable[[int], str]) -> None:
        self.fmt = fmt
        self._cache: tuple[int, str] = (-1, "")

    def __call__(self) -> str:
        second = int(time.time())
        if self._cache[0] != second:
            self._cache = (second, self.fmt(second))
        return self._cache[1]


@functools.cache
def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context: trusting only ``ca_bundle`` (a PEM file) when one is given,
    as botocore does with ``AWS_CA_BUNDLE``; otherwise the system store plus certifi's bundle
    (the SDKs this client stands in for trust certifi's)."""
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    ctx = ssl.create_default_context()
    try:
        import certifi

        ctx.load_verify_locations(certifi.where())
    except (ImportError, OSError):
        pass
    return ctx


class HTTPStatusError(Exception):
    """A non-success answer: HTTP status, the service's error code (if any), its message."""

    def __init__(self, status: int, code: str = "", message: str = "") -> None:
        head = f"HTTP {status} {code}".rstrip()
        super().__init__(f"{head}: {message}" if message else head)
        self.status = status
        self.code = code


class HTTPProtocolError(ConnectionError):
    """The server sent something that is not a valid HTTP/1.1 response."""


class InvalidRequestError(ValueError):
    """A request that must not be sent: a method, target, header name or value that would
    break the request's framing (CR/LF injection) or is not valid HTTP."""


class Response(NamedTuple):
    """A complete response: status, lower-cased header names, body.

    ``body`` is ``bytes``, or a ``bytearray`` (read straight into, see :class:`_Connection`)
    when the answer announced a length of 256 KiB or more.
    """

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Proxy:
    """An ``http://`` forward proxy: where to connect and the Proxy-Authorization to send."""

    host: str
    port: int
    authorization: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Proxy:
        """Parse ``http://[user:password@]host[:port]``; other proxy schemes raise ValueError."""
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http:// proxies are supported by the lean client, not {parts.scheme}://")
        auth = None
        if parts.username is not None:
            user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(user_pass.encode()).decode()
        return cls(parts.hostname, parts.port or 80, auth)

    def __repr__(self) -> str:  # never show the proxy's password
        return f"Proxy({self.host}:{self.port})"


#: Bytes one read from a socket may take (asyncio's own per-read size): answers' heads and
#: small bodies are read into one such buffer per client and parsed from there.
_READ_SIZE = 256 * 1024


class _Connection(asyncio.BufferedProtocol):
    """One keep-alive connection; one request at a time, each answer parsed by a fresh llhttp parser.

    A buffered protocol: the transport reads into a buffer this connection hands out. Heads
    and small bodies go to the client's shared read buffer (``scratch``: reads are handed
    over and consumed synchronously on the one loop, so connections can share it) and
    through the parser; a body of :data:`_READ_SIZE` bytes or more is read straight into a
    ``bytearray`` of its announced length, so a multi-megabyte answer costs no per-read
    allocations and no final join (on a 3 MB shard those were most of the client's time).
    """

    def __init__(self, max_body: int, scratch: bytearray | None = None, pool: BufferPool | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self._scratch = scratch if scratch is not None else bytearray(_READ_SIZE)
        self._pool = pool if pool is not None else BufferPool(0)
        self._into: memoryview | None = None  # the big body's own buffer while it is read
        self.closed = False
        self.max_body = max_body
        self._parser: httptools.HttpResponseParser | None = None
        self._waiter: asyncio.Future[Response] | None = None
        self._head_only = False
        self._status = 0
        self._interim = False
        self._headers: dict[str, str] = {}
        self._raw: list[bytes] = []  # header names and values as received, alternating
        self._headers_done = False
        self._by_close = False  # framed by connection close (no length, not chunked)
        self._body: list[bytes] = []
        self._size = 0
        self._length: int | None = None
        self._remaining = 0
        self._complete = False
        self.received_any = False
        self.keep_alive = True
        self.deadline = 0.0  # loop time by which the current request must be answered

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview | bytearray:
        into = self._into
        if into is not None:  # exactly what the body still lacks: never a byte past its end
            return into[self._size:]
        return self._scratch

    def buffer_updated(self, nbytes: int) -> None:
        if self._into is not None:
            self.received_any = True
            self._size += nbytes
            self._remaining -= nbytes
            if not self._remaining:
                self._complete = True
                self._finish()
            return
        # a copy only where the bytes outlive this call (the rest of a small body); the parser
        # copies what it keeps (header fields, body pieces) itself
        view = memoryview(self._scratch)[:nbytes]
        self.data_received(view.tobytes() if self._remaining else view)

    def data_received(self, data: bytes | memoryview) -> None:
        self.received_any = True
        parser = self._parser
        if parser is None or self._waiter is None or self._waiter.done():
            # Bytes outside a request: the server is confused or closing; drop the connection.
            self._abort()
            return
        if self._remaining:
            self._take_body(data)
            return
        try:
            parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            cause = exc.__context__
            self._fail(cause if isinstance(cause, HTTPProtocolError) else HTTPProtocolError(f"malformed response: {exc}"))
            self._abort()
            return
        if self._complete:
            self._finish()
        elif self._length is not None and self._headers_done and not self._interim:
            # the rest of a body of known length is the next bytes as they come, past the
            # parser: a big body straight into its own buffer, a small one kept as received
            self._remaining = self._length - self._size
            if self._length >= _READ_SIZE:
                body = self._pool.take(self._length)
                body[: self._size] = b"".join(self._body)
                self._body = [body]  # type: ignore[list-item]  # a bytearray body (see Response)
                self._into = memoryview(body)

    def _take_body(self, data: bytes | memoryview) -> None:
        """Bytes of the body whose length the headers gave (after the parser saw its start)."""
        n = len(data)
        if n > self._remaining:
            self._fail(HTTPProtocolError("the server sent bytes after the end of the response "
                                         "(a body longer than its Content-Length?)"))
            self._abort()
            return
        self._body.append(data)  # type: ignore[arg-type]  # bytes: buffer_updated copied it
        self._size += n
        self._remaining -= n
        if not self._remaining:
            self._complete = True
            self._finish()

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost finishes the response

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._by_close and self._headers_done and not self._complete:
            self._complete = True
            self.keep_alive = False
            self._finish()
            return
        err = ConnectionResetError("connection closed by the server before the response was complete")
        if exc is not None:
            err.__cause__ = exc
        waiter.set_exception(err)

    # --- llhttp callbacks (called from parser.feed_data) -----------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            raise HTTPProtocolError("the server sent bytes after the end of the response "
                                    "(a body longer than its Content-Length?)")
        self._raw = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw += (name, value)  # decoded once per response, in on_headers_complete

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        status = self._parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue): the real one follows
            self._interim = True
            return
        # every field decoded and every name lowered in one go, split at NULs (llhttp refuses
        # a NUL inside a field; if one got through, the count shows it and each is decoded alone)
        raw = self._raw
        fields = b"\0".join(raw).decode("latin-1").split("\0") if raw else []
        if len(fields) != len(raw):
            fields = [item.decode("latin-1") for item in raw]
        names = fields[0::2]
        lowered = "\0".join(names).lower().split("\0") if names else []
        if len(lowered) != len(names):
            lowered = [name.lower() for name in names]
        headers = dict(zip(lowered, fields[1::2]))
        if len(headers) != len(lowered):  # repeated fields combine, in order
            headers = {}
            for key, text in zip(lowered, fields[1::2]):
                old = headers.get(key)
                headers[key] = text if old is None else f"{old}, {text}"
        self._headers = headers
        self._status = status
        self._headers_done = True
        # llhttp's verdict (only valid inside its callbacks): HTTP/1.0 without keep-alive,
        # "Connection: close" or a body framed by the connection's end rule reuse out. A HEAD
        # answer may announce a body that never comes; the next request gets a new parser.
        self.keep_alive = self._parser.should_keep_alive()
        if self._head_only:  # no body follows a HEAD (or CONNECT) answer, whatever its headers say
            self._complete = True
            return
        length = self._headers.get("content-length")
        if length is not None and int(length) > self.max_body:  # llhttp has checked it is digits
            raise HTTPProtocolError(f"response body of {length} bytes exceeds the limit of {self.max_body}")
        chunked = "chunked" in self._headers.get("transfer-encoding", "").lower()
        has_body = status not in (204, 304)
        self._by_close = length is None and has_body and not chunked
        self._length = int(length) if length is not None and has_body and not chunked else None

    def on_body(self, data: bytes) -> None:
        if self._complete:
            raise HTTPProtocolError("the server sent a body with its answer to a HEAD request")
        self._size += len(data)
        if self._size > self.max_body:
            raise HTTPProtocolError(f"response body exceeds the limit of {self.max_body} bytes")
        self._body.append(data)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
        else:
            self._complete = True

    # --- requests -------------------------------------------------------------------------

    def send(self, head: bytes, body: bytes | None, head_only: bool) -> asyncio.Future[Response]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = head_only
        self._status, self._interim, self._headers, self._raw, self._headers_done = 0, False, {}, [], False
        self._by_close = self._complete = False
        self._body, self._size = [], 0
        self._length = None  # the final answer's Content-Length, once its headers are in
        self._remaining = 0  # body bytes still to come past the parser (see data_received)
        self._into = None
        self.received_any = False
        if body:
            self.transport.writelines((head, body))
        else:
            self.transport.write(head)
        return self._waiter

    def _finish(self) -> None:
        waiter = self._waiter
        assert waiter is not None
        transport = self.transport
        if transport is not None and transport.get_write_buffer_size():
            # answered before the whole request was sent (an early error): what is still
            # queued must never reach the server as the start of another request
            self.keep_alive = False
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body = []  # an idle connection must not hold its last answer's pieces
        self._into = None
        self._parser = None
        if not waiter.done():
            waiter.set_result(Response(self._status, self._headers, body))

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def _abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class HTTPClient:
    """Keep-alive connections to one origin (``http(s)://host[:port]``), bound to one loop.

    ``ssl_context`` verifies https origins (default: :func:`tls_context`); ``proxy`` is an
    ``http://`` forward proxy URL; ``max_body`` bounds every response body.
    """

    def __init__(
        self, origin: str, *, max_idle: int = 256, connect_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None, proxy: str | None = None, max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) origin: {origin!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = (ssl_context or tls_context()) if parts.scheme == "https" else None
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self.proxy = Proxy.from_url(proxy) if proxy else None
        # Through a proxy, plain-http requests name the whole URL; https ones go through a tunnel.
        self._absolute = f"http://{self.host_header}" if self.proxy and not self.ssl else ""
        self._dial = (self.proxy.host, self.proxy.port) if self.proxy else (self.host, self.port)
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self.max_body = max_body
        self._idle: deque[_Connection] = deque()
        self._all: set[_Connection] = set()
        self._addresses: list[Any] = []
        self._resolved_at = -_DNS_TTL
        self._resolving: asyncio.Future[list[Any]] | None = None
        self._next = itertools.count()
        self._busy: set[_Connection] = set()  # connections waiting for an answer
        self._scratch = bytearray(_READ_SIZE)  # every connection's reads of heads and small bodies
        self._bodies = BufferPool()  # big bodies' buffers, reused
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweep_every = 1.0

    async def _resolve(self) -> list[Any]:
        """The addresses to dial (the proxy's, if any), looked up once per minute (not once per
        new connection: a first wave of 256 connections would otherwise queue 256 lookups)."""
        if self._addresses and time.monotonic() - self._resolved_at < _DNS_TTL:
            return self._addresses
        host, port = self._dial
        if self._resolving is None:
            loop = asyncio.get_running_loop()
            self._resolving = asyncio.ensure_future(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
            )
        resolving = self._resolving
        try:
            infos = await asyncio.shield(resolving)
        except socket.gaierror as exc:  # often transient (EAI_AGAIN): let the store retry
            raise ConnectionError(f"cannot resolve {host!r}: {exc}") from exc
        finally:
            if resolving.done() and self._resolving is resolving:
                self._resolving = None
        if not infos:
            raise ConnectionError(f"no address for {host!r}")
        self._addresses, self._resolved_at = infos, time.monotonic()
        return infos

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        direct_tls = self.ssl if self.proxy is None else None
        async with asyncio.timeout(self.connect_timeout):
            infos = await self._resolve()
            # Spread connections over the host's addresses; fall through to the next on failure.
            start = next(self._next) % len(infos)
            error: OSError | None = None
            for family, _, proto, _, sockaddr in infos[start:] + infos[:start]:
                try:
                    _, conn = await loop.create_connection(
                        lambda: _Connection(self.max_body, self._scratch, self._bodies), sockaddr[0], sockaddr[1], family=family, proto=proto,
                        ssl=direct_tls, server_hostname=self.host if direct_tls else None,
                    )
                    break
                except OSError as exc:
                    error = exc
            else:
                self._resolved_at = -_DNS_TTL  # look the host up again next time
                assert error is not None
                raise error
            self._all.add(conn)
            if self.proxy is not None and self.ssl is not None:
                try:
                    await self._tunnel(loop, conn)
                except BaseException:
                    self._discard(conn)
                    raise
        return conn

    async def _tunnel(self, loop: asyncio.AbstractEventLoop, conn: _Connection) -> None:
        """Open a CONNECT tunnel through the proxy on ``conn`` and start TLS inside it."""
        assert self.proxy is not None and self.ssl is not None
        target = f"{self.host}:{self.port}"
        lines = [f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"]
        if self.proxy.authorization:
            lines.append(f"Proxy-Authorization: {self.proxy.authorization}\r\n")
        answer = await conn.send("".join(lines + ["\r\n"]).encode("latin-1"), None, head_only=True)
        if answer.status != 200:
            raise ConnectionError(f"proxy {self.proxy.host}:{self.proxy.port} refused to tunnel to {target}: "
                                  f"HTTP {answer.status}")
        assert conn.transport is not None
        tls = await loop.start_tls(conn.transport, conn, self.ssl, server_hostname=self.host)
        if tls is None:  # pragma: no cover - only when the transport closed meanwhile
            raise ConnectionResetError(f"proxy {self.proxy.host}:{self.proxy.port} closed the tunnel to {target}")
        conn.transport = tls  # type: ignore[assignment]

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()  # most recently used: least likely to have been closed
            if not conn.closed:
                return conn
            self._all.discard(conn)
        return None

    def _head(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> bytes:
        """The request head, refusing anything that would break its framing."""
        # one pattern per part: names joined by ":" (a name never holds one) match the token
        # rule only if every name does; values joined by TAB only if every value is clean
        if (_TOKEN.fullmatch(method) is None or _BAD_TARGET.search(target) is not None
                or (headers and _NAMES.fullmatch(":".join(headers)) is None)):
            raise InvalidRequestError(f"invalid method, target or header name in {method} {target[:80]!r}")
        if _BAD_VALUE.search("\t".join(headers.values())):
            bad = next(k for k, v in headers.items() if _BAD_VALUE.search(v))
            raise InvalidRequestError(f"header {bad!r} has a control character (CR/LF) in its value")
        lines = [f"{method} {self._absolute}{target} HTTP/1.1\r\nHost: {self.host_header}\r\n"]
        lines.extend(f"{k}: {v}\r\n" for k, v in headers.items())
        if self._absolute and self.proxy is not None and self.proxy.authorization:
            lines.append(f"Proxy-Authorization: {self.proxy.authorization}\r\n")
        if body is not None or method in ("PUT", "POST"):
            lines.append(f"Content-Length: {len(body) if body else 0}\r\n")
        lines.append("\r\n")
        try:
            return "".join(lines).encode("latin-1")
        except UnicodeEncodeError as exc:
            raise InvalidRequestError(f"request {method} {target[:80]!r} has a character outside latin-1") from exc

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None = None, timeout: float = 60.0
    ) -> Response:
        """Send ``method target`` with ``headers`` (Host and Content-Length are added)."""
        head = self._head(method, target, headers, body)
        head_only = method == "HEAD"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        conn = self._take_idle()
        if conn is not None:
            try:
                return await self._exchange(conn, head, body, head_only, deadline, timeout)
            except ConnectionError:
                # A reused connection the server had already closed. Nothing came back, but the
                # request may still have reached the server: only an idempotent one is sent again.
                if conn.received_any or method not in IDEMPOTENT_METHODS:
                    raise
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(f"no answer from {self.host}:{self.port} within {timeout} s")
        async with asyncio.timeout(remaining):
            conn = await self._connect()
        return await self._exchange(conn, head, body, head_only, deadline, timeout)

    async def _exchange(
        self, conn: _Connection, head: bytes, body: bytes | None, head_only: bool, deadline: float, timeout: float
    ) -> Response:
        # The deadline is enforced by one sweeping timer per client rather than an
        # asyncio.timeout per request (a timer handle per request costs ~5 us on the loop).
        conn.deadline = deadline
        self._busy.add(conn)
        if self._sweeper is None or timeout / 10 < self._sweep_every:
            self._arm(asyncio.get_running_loop(), timeout)
        try:
            resp = await conn.send(head, body, head_only)
        except BaseException:
            self._discard(conn)
            raise
        finally:
            self._busy.discard(conn)
            conn._waiter = None  # an idle connection must not keep its last answer alive
        if conn.keep_alive and not conn.closed and len(self._idle) < self.max_idle:
            self._idle.append(conn)
        else:
            self._discard(conn)
        return resp

    def _arm(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        every = max(0.01, min(1.0, timeout / 10))  # a request times out at most ~10% late
        if self._sweeper is not None:
            if every >= self._sweep_every:
                return
            self._sweeper.cancel()
        self._sweep_every = every
        self._sweeper = loop.call_later(every, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._sweeper = None
        now = loop.time()
        for conn in [c for c in self._busy if c.deadline <= now]:
            conn._fail(TimeoutError(f"no answer from {self.host}:{self.port} within the request timeout"))
        if self._busy:
            self._sweeper = loop.call_later(self._sweep_every, self._sweep, loop)

    def _discard(self, conn: _Connection) -> None:
        self._all.discard(conn)
        conn._abort()

    async def close(self) -> None:
        """Close every connection."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._all):
            conn._abort()
        self._all.clear()
        self._idle.clear()
        self._bodies.clear()
