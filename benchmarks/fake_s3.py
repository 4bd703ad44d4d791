"""A small, fast, in-memory S3-compatible endpoint for benchmarks (not for correctness tests).

moto costs ~5 ms of CPU per request on this machine, which would hide the client's own
cost; this server answers in well under a millisecond. ``--delay`` adds a fixed latency
to every request without serialising concurrent ones (each request sleeps on its own).
Path-style only; no authentication checks. Supports what the benchmark clients use:
bucket PUT/HEAD, object GET (Range) / HEAD / PUT / DELETE, DeleteObjects, ListObjectsV2.
``GET /__stats`` returns request counts; ``POST /__reset_stats`` clears them (and the trace).
``GET /__trace`` returns ``[arrived, answered]`` (monotonic seconds) of every request since the
last reset, from which a benchmark counts round trips. ``--bandwidth`` (bytes/s) adds
``body size / bandwidth`` to each response's delay, so reading more than needed costs time.

    python benchmarks/fake_s3.py --port 9000 --delay 0.1
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
from collections import Counter
from xml.sax.saxutils import escape

from aiohttp import web

BUCKETS: dict[str, dict[str, bytes]] = {}
ETAGS: dict[tuple[str, str], str] = {}  # computed once per PUT, not on every GET
STATS: Counter[str] = Counter()
TRACE: list[tuple[float, float]] = []  # (arrived, answered) per request since the last reset
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'


def _error(status: int, code: str, message: str = "") -> web.Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>'
    return web.Response(status=status, body=body.encode(), content_type="application/xml")


async def handle(request: web.Request) -> web.StreamResponse:
    path = request.path
    if path == "/__stats":
        return web.json_response(dict(STATS))
    if path == "/__trace":
        return web.json_response(TRACE)
    if path == "/__reset_stats":
        STATS.clear()
        TRACE.clear()
        return web.json_response({})
    arrived = asyncio.get_running_loop().time()
    response = await serve(request)
    bandwidth = request.app["bandwidth"]
    if bandwidth and isinstance(response, web.Response) and response.body is not None:
        await asyncio.sleep(len(response.body) / bandwidth)  # type: ignore[arg-type]
    TRACE.append((arrived, asyncio.get_running_loop().time()))
    return response


async def serve(request: web.Request) -> web.StreamResponse:
    path = request.path
    delay = request.app["delay"]
    STATS["requests"] += 1
    STATS[request.method] += 1
    if request.method == "GET" and request.app["stall_rate"] and request.app["rng"].random() < request.app["stall_rate"]:
        STATS["stalled"] += 1
        delay += request.app["stall"]  # a straggler, as object stores produce now and then
    if delay:
        await asyncio.sleep(delay)
    parts = path.lstrip("/").split("/", 1)
    bucket = parts[0]
    key = parts[1] if len(parts) > 1 else ""
    method = request.method
    if not key:
        return await bucket_op(request, bucket, method)
    objects = BUCKETS.get(bucket)
    if objects is None:
        return _error(404, "NoSuchBucket", bucket)
    if method == "PUT":
        data = await request.read()
        objects[key] = data
        etag = ETAGS[bucket, key] = _etag(data)
        return web.Response(status=200, headers={"ETag": etag})
    if method == "DELETE":
        objects.pop(key, None)
        ETAGS.pop((bucket, key), None)
        return web.Response(status=204)
    data = objects.get(key)
    if data is None:
        return _error(404, "NoSuchKey", key) if method == "GET" else web.Response(status=404)
    etag = ETAGS.get((bucket, key)) or _etag(data)
    headers = {"ETag": etag, "Last-Modified": "Wed, 25 Nov 2026 00:00:00 GMT", "Accept-Ranges": "bytes"}
    if method == "HEAD":
        headers["Content-Length"] = str(len(data))
        return web.Response(status=200, headers=headers)
    rng = request.headers.get("Range")
    if rng:
        m = _RANGE.fullmatch(rng.strip())
        if m:
            a, b = m.groups()
            n = len(data)
            if a == "":
                start, end = max(0, n - int(b)), n - 1
            else:
                start, end = int(a), (int(b) if b else n - 1)
            if start >= n:
                return _error(416, "InvalidRange", rng)
            end = min(end, n - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{n}"
            return web.Response(status=206, body=data[start : end + 1], headers=headers)
    return web.Response(status=200, body=data, headers=headers)


async def bucket_op(request: web.Request, bucket: str, method: str) -> web.StreamResponse:
    if method == "PUT":
        BUCKETS.setdefault(bucket, {})
        return web.Response(status=200)
    objects = BUCKETS.get(bucket)
    if objects is None:
        return _error(404, "NoSuchBucket", bucket)
    if method == "HEAD":
        return web.Response(status=200)
    if method == "POST" and "delete" in request.query:
        body = (await request.read()).decode()
        keys = re.findall(r"<Key>(.*?)</Key>", body, flags=re.DOTALL)
        for k in keys:
            objects.pop(k.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"), None)
        result = "".join(f"<Deleted><Key>{k}</Key></Deleted>" for k in keys)
        xml = f'<?xml version="1.0" encoding="UTF-8"?><DeleteResult>{result}</DeleteResult>'
        return web.Response(body=xml.encode(), content_type="application/xml")
    if method == "GET":
        prefix = request.query.get("prefix", "")
        delimiter = request.query.get("delimiter")
        max_keys = int(request.query.get("max-keys", "1000"))
        after = request.query.get("continuation-token") or request.query.get("start-after") or ""
        keys = sorted(k for k in objects if k.startswith(prefix) and k > after)
        contents, prefixes = [], set()
        for k in keys:
            if delimiter:
                rest = k[len(prefix) :]
                if delimiter in rest:
                    prefixes.add(prefix + rest.split(delimiter, 1)[0] + delimiter)
                    continue
            contents.append(k)
        page, more = contents[:max_keys], len(contents) > max_keys
        items = "".join(
            f"<Contents><Key>{escape(k)}</Key><Size>{len(objects[k])}</Size><ETag>{_etag(objects[k])}</ETag>"
            f"<LastModified>2026-11-25T00:00:00.000Z</LastModified><StorageClass>STANDARD</StorageClass></Contents>"
            for k in page
        )
        cps = "".join(f"<CommonPrefixes><Prefix>{escape(p)}</Prefix></CommonPrefixes>" for p in sorted(prefixes))
        token = f"<NextContinuationToken>{escape(page[-1])}</NextContinuationToken>" if more else ""
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
            f"<Name>{bucket}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(page)}</KeyCount>"
            f"<MaxKeys>{max_keys}</MaxKeys><IsTruncated>{'true' if more else 'false'}</IsTruncated>{token}{items}{cps}"
            "</ListBucketResult>"
        )
        return web.Response(body=xml.encode(), content_type="application/xml")
    return _error(405, "MethodNotAllowed", method)


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--stall-rate", type=float, default=0.0, help="fraction of GETs that stall")
    parser.add_argument("--stall", type=float, default=0.0, help="extra seconds a stalled GET waits")
    parser.add_argument("--bandwidth", type=float, default=0.0, help="bytes/s per response (0: unlimited)")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="asyncio: a heavier endpoint (aiohttp on asyncio's own loop, as a plain "
                        "aiohttp emulator runs), whose CPU per request competes with the client's")
    args = parser.parse_args()
    app = web.Application(client_max_size=1 << 30)
    app["delay"] = args.delay
    app["stall_rate"] = args.stall_rate
    app["stall"] = args.stall
    app["bandwidth"] = args.bandwidth
    app["rng"] = random.Random(0)
    app.router.add_route("*", "/{tail:.*}", handle)
    loop: asyncio.AbstractEventLoop | None = None
    if args.loop == "uvloop":
        try:  # the server's CPU per request must stay well below the clients' (see latency.py)
            import uvloop

            loop = uvloop.new_event_loop()
        except ImportError:
            pass
    loop = loop or asyncio.new_event_loop()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=4096, loop=loop)


if __name__ == "__main__":
    json  # noqa: B018 - keep the import for /__stats clients
    main()
