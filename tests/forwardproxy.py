"""A forward HTTP proxy on 127.0.0.1 (own thread and loop) that records what passes through.

Plain-http requests arrive in absolute form (``GET http://host:port/path HTTP/1.1``) and
are relayed to that host; ``CONNECT host:port`` opens a byte tunnel (what clients do for
https origins). Every request line and its ``Proxy-Authorization`` header are kept in
``seen``, so a test can tell whether — and to where — a client went through the proxy.
A CONNECT to a port nothing listens on is answered 502, which is how tests observe where
a store *would* connect (``s3.eu-west-2.amazonaws.com:443``) without any network.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Self
from urllib.parse import urlsplit


class ForwardProxy:
    """``with ForwardProxy() as proxy:`` serves on ``proxy.url`` until the block ends.

    ``resolve`` maps host names a test uses to 127.0.0.1 ports (e.g. a made-up AWS host to
    a local server); other names are refused with 502 (the tests never touch the network).
    """

    def __init__(self, resolve: dict[str, tuple[str, int]] | None = None) -> None:
        self.resolve = dict(resolve or {})
        self.seen: list[tuple[str, str | None]] = []  # (request line, Proxy-Authorization)
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def _where(self, host: str, port: int) -> tuple[str, int] | None:
        if host in self.resolve:
            return self.resolve[host]
        if host in ("127.0.0.1", "localhost"):
            return "127.0.0.1", port
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        auth = next((ln.split(":", 1)[1].strip() for ln in lines[1:] if ln.lower().startswith("proxy-authorization:")),
                    None)
        self.seen.append((lines[0], auth))
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            where = self._where(host, int(port))
        else:
            parts = urlsplit(target)
            where = self._where(parts.hostname or "", parts.port or 80)
        upstream = None
        if where is not None:
            try:
                upstream = await asyncio.open_connection(*where)
            except OSError:
                upstream = None
        if upstream is None:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        up_reader, up_writer = upstream
        if method == "CONNECT":
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            # Relay the first request in origin form; later requests on this connection are
            # rewritten by the pump below (clients keep one origin per connection).
            up_writer.write(self._origin_form(head))
        await asyncio.gather(self._pump(reader, up_writer, rewrite=method != "CONNECT"),
                             self._pump(up_reader, writer, rewrite=False), return_exceptions=True)

    def _origin_form(self, head: bytes) -> bytes:
        first, rest = head.split(b"\r\n", 1)
        method, target, version = first.split(b" ", 2)
        parts = urlsplit(target.decode("latin-1"))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kept = b"\r\n".join(ln for ln in rest.split(b"\r\n") if not ln.lower().startswith(b"proxy-authorization:"))
        return b" ".join((method, path.encode("latin-1"), version)) + b"\r\n" + kept

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, rewrite: bool) -> None:
        try:
            while True:
                data = await src.read(1 << 16)
                if not data:
                    break
                if rewrite and b" http://" in data.split(b"\r\n", 1)[0]:
                    # A new request head on a keep-alive connection: record and rewrite it.
                    head, sep, body = data.partition(b"\r\n\r\n")
                    line = head.split(b"\r\n", 1)[0].decode("latin-1")
                    auth = next((ln.split(b":", 1)[1].strip().decode() for ln in head.split(b"\r\n")
                                 if ln.lower().startswith(b"proxy-authorization:")), None)
                    self.seen.append((line, auth))
                    data = self._origin_form(head + sep) + body
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        loop.run_until_complete(self._start())
        self._ready.set()
        loop.run_forever()
        assert self._server is not None
        self._server.close()
        tasks = asyncio.all_tasks(loop)  # connections still being relayed
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(self._server.wait_closed())
        loop.close()

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the forward proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def targets(self) -> list[str]:
        """The request lines seen so far (``CONNECT host:port HTTP/1.1``, ``GET http://... HTTP/1.1``)."""
        return [line for line, _ in self.seen]
