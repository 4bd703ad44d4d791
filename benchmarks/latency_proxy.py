"""A TCP latency proxy: every byte a client sends reaches the upstream ``--delay`` seconds later.

Put it in front of any emulator (fake_s3.py, moto, fake-gcs-server, Azurite, Redis, a
MongoDB wire server) to give each request a fixed extra latency, as a far-away object
store would. It works below HTTP: each segment read from the client is forwarded after
the delay on its own timer, so concurrent connections are never serialised and, on a
keep-alive HTTP/1.1 connection (one request at a time), every request gets exactly one
delay. Answers flow back undelayed. It runs as its own process so its CPU does not
share a GIL with the client being measured.

    python benchmarks/latency_proxy.py --port 9100 --upstream 127.0.0.1:9000 --delay 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy ``reader`` to ``writer``; with a delay, each segment is written ``delay`` later."""
    loop = asyncio.get_running_loop()
    try:
        while data := await reader.read(1 << 16):
            if delay:
                # Timers with equal delays fire in order, so the byte stream stays ordered.
                loop.call_later(delay, _write, writer, data)
            else:
                writer.write(data)
                await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        if delay:
            await asyncio.sleep(delay)  # let the queued segments go out first
        with contextlib.suppress(Exception):
            writer.write_eof() if writer.can_write_eof() else writer.close()


def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    if not writer.is_closing():
        writer.write(data)


async def _handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, host: str, port: int, delay: float) -> None:
    try:
        up_r, up_w = await asyncio.open_connection(host, port)
    except OSError:
        client_w.close()
        return
    await asyncio.gather(_pipe(client_r, up_w, delay), _pipe(up_r, client_w, 0.0))
    for w in (up_w, client_w):
        w.close()


async def serve(port: int, upstream: str, delay: float) -> None:
    """Listen on 127.0.0.1:``port`` and forward to ``upstream`` (host:port) forever."""
    host, _, up_port = upstream.rpartition(":")
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, host, int(up_port), delay), "127.0.0.1", port, backlog=4096
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    """Run the proxy until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="host:port of the emulator")
    parser.add_argument("--delay", type=float, default=0.1)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(serve(args.port, args.upstream, args.delay))
    except ImportError:
        asyncio.run(serve(args.port, args.upstream, args.delay))


if __name__ == "__main__":
    main()
