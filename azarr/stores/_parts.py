"""Large objects as concurrent byte-range GETs, for every object store's lean path.

One GET streams one object over one connection; a 100 MB chunk then takes as long as
one connection's throughput allows. Reading the first ``part`` bytes tells the total
size (``Content-Range``); the rest is fetched as concurrent ranges, each pinned to the
first answer's version (``If-Match`` on the ETag, or the store's equivalent), so an
object replaced mid-read is re-read from scratch (a transient error the store retries),
never stitched together from two versions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from azarr.errors import StoreError, TransientStoreError
from azarr.stores.ranges import ByteRange, SuffixRange, read_range, resolve

# fetch(range header value, version to pin or None) -> (status, body, lower-cased headers)
Fetch = Callable[[str, str | None], Awaitable[tuple[int, bytes, Mapping[str, str]]]]


def range_header(start: int, end: int | None) -> str:
    """The ``Range`` value for bytes ``[start, end)`` (``end=None``: to the end)."""
    return f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"


def http_range(rng: ByteRange | SuffixRange) -> str:
    """The ``Range`` value for a non-empty range (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``).

    An empty range has no HTTP form (``bytes=-0`` is unsatisfiable, and some servers
    answer it with the whole object): callers check existence instead.
    """
    if isinstance(rng, SuffixRange):
        return f"bytes=-{rng.length}"
    return range_header(rng.start, rng.end)


def _unsatisfied_length(content_range: str | None) -> int | None:
    """The length in a 416's ``Content-Range: bytes */length`` (None if absent)."""
    if not content_range or "*/" not in content_range:
        return None
    length = content_range.rsplit("/", 1)[1].strip()
    return int(length) if length.isdigit() else None


async def range_answer(
    status: int, body: bytes, headers: Mapping[str, str], rng: ByteRange | SuffixRange,
    exists: Callable[[], Awaitable[bool]], *, store: object = "", key: str | None = None,
) -> bytes | None:
    """A ranged GET's result, with the Store contract's semantics.

    404 is missing. 416 (nothing of the range exists: a start at or past the end, or any
    range of an empty object) is ``b""``: a 416 that states the object's length (RFC 9110's
    ``Content-Range: bytes */length``) proves the object exists; without it, ``exists()``
    asks. 200 means the server ignored the range and sent the whole object: the range is
    cut from it here. A 206 whose ``Content-Range`` starts elsewhere than asked raises
    (``store`` and ``key`` name it; the store is formatted only then).
    """
    if status == 404:
        return None
    if status == 416:
        if _unsatisfied_length(headers.get("content-range")) is not None:
            return b""
        return b"" if await exists() else None
    if status == 200:
        return read_range(body, rng)
    answered = headers.get("content-range")
    total = total_size(answered)
    if total is not None and answered is not None:
        first = answered.split(" ", 1)[-1].split("-", 1)[0]
        # the first byte resolved against the length (some servers echo a start past the end)
        expected = {resolve(rng, total)[0]}
        if isinstance(rng, ByteRange):
            expected.add(rng.start)
        if first.isdigit() and int(first) not in expected:
            name = str(store)
            raise StoreError(
                f"{name}: asked {http_range(rng)} of {key!r}, the server answered {answered!r}", store=name, key=key
            )
    return body


def total_size(content_range: str | None) -> int | None:
    """The total from a ``Content-Range: bytes a-b/total`` header."""
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1]
    return int(total) if total.isdigit() else None


async def get_in_parts(
    fetch: Fetch, part: int, *, version_header: str = "etag", what: str = "object", store: object = "", key: str | None = None
) -> bytes | None:
    """GET an object as ranges of ``part`` bytes; None if it does not exist.

    ``version_header`` names the response header whose value pins the later ranges.
    ``store`` is the store (or its name) for error messages; it is only formatted on error.
    """
    body, _ = await get_versioned_in_parts(fetch, part, version_header=version_header, what=what, store=store, key=key)
    return body


async def get_versioned_in_parts(
    fetch: Fetch, part: int, *, version_header: str = "etag", what: str = "object", store: object = "", key: str | None = None
) -> tuple[bytes | None, str | None]:
    """:func:`get_in_parts`, also returning the version (``version_header``) every part was
    read at (``None`` for a missing object)."""
    status, body, headers = await fetch(first_part(part), None)
    return await rest_of_parts(fetch, part, status, body, headers, version_header=version_header, what=what,
                               store=store, key=key)


def first_part(part: int) -> str:
    """The ``Range`` of the first GET of an object read in parts of ``part`` bytes."""
    return f"bytes=0-{part - 1}"


def whole_after_first_part(status: int, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether the answer to :func:`first_part` already holds the whole object (or says it is
    missing or empty): the common case of a chunk smaller than a part, with no more to read."""
    if status != 206:
        return True
    total = total_size(headers.get("content-range"))
    return total is None or total <= len(body)


async def rest_of_parts(
    fetch: Fetch, part: int, status: int, body: bytes, headers: Mapping[str, str], *, version_header: str = "etag",
    what: str = "object", store: object = "", key: str | None = None,
) -> tuple[bytes | None, str | None]:
    """:func:`get_versioned_in_parts` from the answer to its first GET (``first_part``) on."""
    if status == 404:
        return None, None
    version = headers.get(version_header)
    if status == 416:  # an empty object has no byte 0
        return b"", version
    total = total_size(headers.get("content-range"))
    if status != 206 or total is None or total <= len(body):
        return body, version
    ranges = [(start, min(start + part, total) - 1) for start in range(len(body), total, part)]
    answers = await asyncio.gather(*(fetch(f"bytes={a}-{b}", version) for a, b in ranges))
    for (a, b), (st, chunk, _) in zip(ranges, answers):
        if st != 206 or len(chunk) != b - a + 1:
            name = str(store)
            raise TransientStoreError(f"{name}: {what} {key!r} changed while being read in parts", store=name, key=key)
    return body + b"".join(chunk for _, chunk, _ in answers), version
