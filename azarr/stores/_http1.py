"""A minimal HTTP/1.1 keep-alive client on asyncio protocols, for the object-store hot path.

Why not aiohttp's ``ClientSession`` here: on 2 cores, W1 through a 100 ms endpoint spent
~150 µs of client CPU per chunk request inside aiohttp (URL objects, header
multidicts, tracing hooks, response wrappers), and that CPU is serialised on the event
loop between waves of requests. A chunk request needs none of that: one request line,
a few headers, a body of known length. This module writes the request bytes directly
and parses the answer in a ``Protocol``; everything else (listing, batch deletes,
credentials) stays with the full SDK clients.

Scope, on purpose: HTTP/1.1 only; responses framed by Content-Length, chunked transfer
coding or connection close; no redirects, cookies, proxies or compression. TLS through
the standard ``ssl`` module. Errors surface as ``ConnectionError`` / ``TimeoutError``
(which the store engine retries) or :class:`HTTPProtocolError`.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import re
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

_MAX_HEAD = 64 * 1024
_DNS_TTL = 60.0


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
def tls_context() -> ssl.SSLContext:
    """The system trust store, plus certifi's bundle and ``AWS_CA_BUNDLE`` where present
    (the SDKs this client stands in for trust those too)."""
    ctx = ssl.create_default_context()
    try:
        import certifi

        ctx.load_verify_locations(certifi.where())
    except (ImportError, OSError):
        pass
    extra = os.environ.get("AWS_CA_BUNDLE")
    if extra:
        ctx.load_verify_locations(extra)
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


@dataclass(frozen=True)
class Response:
    """A complete response: status, lower-cased header names, body."""

    status: int
    headers: dict[str, str]
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = bytearray()
        self._waiter: asyncio.Future[Response] | None = None
        self._head_only = False
        self._status = 0
        self._headers: dict[str, str] | None = None
        self._length: int | None = None  # body bytes still expected (Content-Length)
        self._chunked = False
        self._until_close = False
        self._body: list[bytes] = []
        self.received_any = False
        self.keep_alive = True
        self.deadline = 0.0  # loop time by which the current request must be answered

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received_any = True
        if self._waiter is None or self._waiter.done():
            # Bytes outside a request: the server is confused or closing; drop the connection.
            self._abort()
            return
        self._buf += data
        try:
            self._parse()
        except HTTPProtocolError as exc:
            self._fail(exc)
            self._abort()

    def eof_received(self) -> bool | None:
        return False  # close the transport; connection_lost finishes the response

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._until_close and self._headers is not None:
            self._body.append(bytes(self._buf))
            self._finish()
            return
        err = ConnectionResetError("connection closed by the server before the response was complete")
        if exc is not None:
            err.__cause__ = exc
        waiter.set_exception(err)

    # --- requests -------------------------------------------------------------------------

    def send(self, head: bytes, body: bytes | None, head_only: bool) -> asyncio.Future[Response]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._head_only = head_only
        self._status, self._headers, self._length = 0, None, None
        self._chunked = self._until_close = False
        self._body = []
        self.received_any = False
        if body:
            self.transport.writelines((head, body))
        else:
            self.transport.write(head)
        return self._waiter

    def _parse(self) -> None:
        buf = self._buf
        while True:
            if self._headers is None:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > _MAX_HEAD:
                        raise HTTPProtocolError("response head too large")
                    return
                self._parse_head(bytes(buf[:end]))
                del buf[: end + 4]
                if self._headers is None:  # a 1xx interim answer: keep reading
                    continue
                if self._done_without_body():
                    return
            if self._length is not None:
                if len(buf) < self._length:
                    return
                self._body.append(bytes(buf[: self._length]))
                del buf[: self._length]
                self._finish()
                return
            if self._chunked:
                if not self._parse_chunks():
                    return
                self._finish()
                return
            return  # until close: connection_lost finishes

    def _parse_head(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HTTPProtocolError(f"bad status line {lines[0][:80]!r}")
        try:
            status = int(parts[1])
        except ValueError:
            raise HTTPProtocolError(f"bad status line {lines[0][:80]!r}") from None
        if 100 <= status < 200:
            return
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise HTTPProtocolError(f"bad header line {line[:80]!r}")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        self._status, self._headers = status, headers
        conn = headers.get("connection", "").lower()
        self.keep_alive = conn != "close" and parts[0] != b"HTTP/1.0"

    def _done_without_body(self) -> bool:
        headers = self._headers
        assert headers is not None
        if self._head_only or self._status in (204, 304):
            self._finish()
            return True
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._chunked = True
        elif "content-length" in headers:
            try:
                self._length = int(headers["content-length"])
            except ValueError:
                raise HTTPProtocolError("bad Content-Length") from None
            if self._length < 0:
                raise HTTPProtocolError("bad Content-Length")
        else:
            self._until_close = True
            self.keep_alive = False
        return False

    def _parse_chunks(self) -> bool:
        """Consume complete chunks from the buffer; True once the last chunk is read."""
        buf = self._buf
        while True:
            eol = buf.find(b"\r\n")
            if eol < 0:
                return False
            try:
                size = int(bytes(buf[:eol]).split(b";", 1)[0], 16)
            except ValueError:
                raise HTTPProtocolError("bad chunk size") from None
            if size == 0:
                end = buf.find(b"\r\n\r\n", eol)
                if end < 0:
                    return False  # trailers not complete yet
                del buf[: end + 4]
                return True
            if len(buf) < eol + 2 + size + 2:
                return False
            self._body.append(bytes(buf[eol + 2 : eol + 2 + size]))
            del buf[: eol + 2 + size + 2]

    def _finish(self) -> None:
        waiter = self._waiter
        assert self._headers is not None
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self._status, self._headers, body))
        if self._buf:  # a well-behaved server sends nothing after the response
            self.keep_alive = False

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def _abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class HTTPClient:
    """Keep-alive connections to one origin (``http(s)://host[:port]``), bound to one loop."""

    def __init__(self, origin: str, *, max_idle: int = 256, connect_timeout: float = 10.0) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) origin: {origin!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = tls_context() if parts.scheme == "https" else None
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self._idle: deque[_Connection] = deque()
        self._all: set[_Connection] = set()
        self._addresses: list[Any] = []
        self._resolved_at = -_DNS_TTL
        self._resolving: asyncio.Future[list[Any]] | None = None
        self._next = itertools.count()
        self._busy: set[_Connection] = set()  # connections waiting for an answer
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweep_every = 1.0

    async def _resolve(self) -> list[Any]:
        """The host's addresses, looked up once per minute (not once per new connection:
        a first wave of 256 connections would otherwise queue 256 lookups in threads)."""
        if self._addresses and time.monotonic() - self._resolved_at < _DNS_TTL:
            return self._addresses
        if self._resolving is None:
            loop = asyncio.get_running_loop()
            self._resolving = asyncio.ensure_future(
                loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
            )
        resolving = self._resolving
        try:
            infos = await asyncio.shield(resolving)
        except socket.gaierror as exc:  # often transient (EAI_AGAIN): let the store retry
            raise ConnectionError(f"cannot resolve {self.host!r}: {exc}") from exc
        finally:
            if resolving.done() and self._resolving is resolving:
                self._resolving = None
        if not infos:
            raise ConnectionError(f"no address for {self.host!r}")
        self._addresses, self._resolved_at = infos, time.monotonic()
        return infos

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            infos = await self._resolve()
            # Spread connections over the host's addresses; fall through to the next on failure.
            start = next(self._next) % len(infos)
            error: OSError | None = None
            for family, _, proto, _, sockaddr in infos[start:] + infos[:start]:
                try:
                    _, conn = await loop.create_connection(
                        _Connection, sockaddr[0], sockaddr[1], family=family, proto=proto, ssl=self.ssl,
                        server_hostname=self.host if self.ssl else None,
                    )
                    break
                except OSError as exc:
                    error = exc
            else:
                self._resolved_at = -_DNS_TTL  # look the host up again next time
                assert error is not None
                raise error
        self._all.add(conn)
        return conn

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()  # most recently used: least likely to have been closed
            if not conn.closed:
                return conn
            self._all.discard(conn)
        return None

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None = None, timeout: float = 60.0
    ) -> Response:
        """Send ``method target`` with ``headers`` (Host and Content-Length are added)."""
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {self.host_header}\r\n"]
        lines.extend(f"{k}: {v}\r\n" for k, v in headers.items())
        if body is not None or method in ("PUT", "POST"):
            lines.append(f"Content-Length: {len(body) if body else 0}\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        head_only = method == "HEAD"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        conn = self._take_idle()
        if conn is not None:
            try:
                return await self._exchange(conn, head, body, head_only, deadline, timeout)
            except ConnectionError:
                # A reused connection the server had already closed: the request never
                # reached it, so sending it again on a fresh connection is safe.
                if conn.received_any:
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
