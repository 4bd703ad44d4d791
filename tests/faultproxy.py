"""An HTTP proxy (aiohttp, own thread and loop) that injects faults and/or latency.

Sits in front of an S3-compatible endpoint. For a chosen fraction of requests it answers
503 SlowDown, 500 InternalError, or resets the connection, instead of forwarding; it can
also add a fixed delay to every request without serialising concurrent requests, and
throttle as S3 does: with ``rate_limit`` it answers 503 SlowDown to every request above
that many per second (a token bucket holding ``burst`` requests).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from yarl import URL

_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive"}
# Host is forwarded unchanged: it is part of what a SigV4 signature covers, and the
# emulator behind checks signatures.

SLOWDOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
INTERNAL = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>oops</Message></Error>'


class FaultProxy:
    """Forward to ``upstream``; ``fault_rate`` of requests get one of ``faults``."""

    def __init__(self, upstream: str, *, fault_rate: float = 0.0, faults: tuple[str, ...] = ("503", "500", "reset"),
                 delay: float = 0.0, seed: int = 0, stall_rate: float = 0.0, stall: float = 0.0,
                 rate_limit: float | None = None, burst: float | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.rate_limit = rate_limit
        self.burst = burst if burst is not None else max(1.0, (rate_limit or 0) / 10)
        self._tokens = self.burst
        self._refilled = time.monotonic()
        self.fault_rate = fault_rate
        self.faults = faults
        self.delay = delay
        self.stall_rate = stall_rate
        self.stall = stall
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    def _over_rate(self) -> bool:
        """Take a token from the bucket; True if there was none (the request is over the rate)."""
        assert self.rate_limit is not None
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate_limit)
        self._refilled = now
        if self._tokens < 1:
            return True
        self._tokens -= 1
        return False

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.counts["requests"] += 1
        if self.rate_limit is not None and self._over_rate():
            self.counts["throttled"] += 1
            return web.Response(status=503, body=SLOWDOWN, content_type="application/xml")
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.stall_rate and request.method == "GET" and self.rng.random() < self.stall_rate:
            self.counts["stalled"] += 1
            await asyncio.sleep(self.stall)  # a straggler: answers, but very late
        if self.fault_rate and self.rng.random() < self.fault_rate:
            fault = self.rng.choice(self.faults)
            self.counts[fault] += 1
            if fault == "503":
                return web.Response(status=503, body=SLOWDOWN, content_type="application/xml")
            if fault == "500":
                return web.Response(status=500, body=INTERNAL, content_type="application/xml")
            assert request.transport is not None
            request.transport.abort()  # connection reset mid-request
            return web.Response(status=500)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        assert self._session is not None
        async with self._session.request(
            # the raw target, not re-quoted: SigV4 signs the exact query string
            request.method, URL(self.upstream + request.raw_path, encoded=True), headers=headers, data=body,
            allow_redirects=False,
        ) as resp:
            data = await resp.read()
            out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP | {"host"}}
            return web.Response(status=resp.status, body=data, headers=out_headers)

    async def _start(self) -> str:
        self._session = ClientSession(connector=TCPConnector(limit=0), timeout=ClientTimeout(total=120),
                                      auto_decompress=False)
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}"

    def start(self) -> str:
        """Start serving in a background thread; return the proxy's URL."""
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self.url = self._loop.run_until_complete(self._start())  # type: ignore[union-attr]
            ready.set()
            self._loop.run_forever()  # type: ignore[union-attr]

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.url

    def stop(self) -> None:
        """Stop the proxy and its thread."""
        if self._loop is None:
            return

        async def shutdown() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            if self._session is not None:
                await self._session.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
