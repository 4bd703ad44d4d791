"""LocalStore: a directory on the local file system (``file://`` or a plain path)."""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlparse

from azarr.errors import InvalidKeyError
from azarr.stores.base import RetryPolicy, Store
from azarr.stores.ranges import Range, RangeRequest, resolve

# Small files: the thread hop costs more than the read, so batches are split into a
# few groups per worker thread instead of one hop per key.
_GROUPS = 8
_HAS_PREAD = hasattr(os, "pread")


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _pread(fd: int, start: int, stop: int) -> bytes:
    """Bytes ``[start, stop)`` of an open file, by positioned reads (no shared file offset)."""
    parts: list[bytes] = []
    pos = start
    while pos < stop:
        # one read may return less than asked (Linux caps a read at ~2 GiB)
        if _HAS_PREAD:
            part = os.pread(fd, stop - pos, pos)
        else:  # Windows has no pread; the descriptor is ours alone, so seeking is safe
            os.lseek(fd, pos, os.SEEK_SET)
            part = os.read(fd, stop - pos)
        if not part:
            break
        parts.append(part)
        pos += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _read_ranges(path: str, ranges: list[Range]) -> list[bytes] | None:
    """Every range of one file, opened once (None if it is not a file). The size is read
    once, so each range is truncated against the same file: writes replace files by
    rename, so the open file never changes under us."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # a directory opens fine on Linux; it is no key
            return None
        return [_pread(fd, *resolve(rng, info.st_size)) for rng in ranges]
    finally:
        os.close(fd)


def _write_atomic(path: str, value: bytes) -> None:
    # temp file in the same directory + rename: readers never see a partial value,
    # and a failed write leaves the previous value in place.
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".azarr-", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(value)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _remove(path: str, root: str) -> None:
    try:
        os.remove(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    except IsADirectoryError:
        return
    # prune directories left empty, never the root itself
    parent = os.path.dirname(path)
    while parent != root and parent.startswith(root):
        try:
            os.rmdir(parent)
        except OSError:
            break
        parent = os.path.dirname(parent)


class LocalStore(Store):
    """A store whose keys are files below ``root`` (``/`` in keys maps to directories).

    Writes are atomic (temp file + rename). Keys are validated so that none can escape
    ``root``: ``..``, absolute paths and NUL bytes are rejected with
    :class:`~azarr.errors.InvalidKeyError`.
    """

    url_schemes = ("file",)

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        read_only: bool = False,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(read_only=read_only, concurrency=concurrency, retry=retry)
        self.root = os.path.abspath(os.fspath(root))

    @classmethod
    def default_concurrency(cls) -> int:
        """Local disks gain little from deep queues; a small thread-friendly budget."""
        return 16

    def _config(self) -> dict[str, Any]:
        return {"root": self.root, **self._base_config()}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> LocalStore:
        """Open ``file:///abs/dir`` (or a plain path)."""
        parsed = urlparse(url)
        path = unquote(parsed.path) if parsed.scheme == "file" else url
        if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
            path = "/" + parsed.netloc + path  # file://relative/dir is a common slip
        return cls(path, **options)

    def __repr__(self) -> str:
        return f"LocalStore({self.root!r})"

    def _path(self, key: str) -> str:
        path = os.path.normpath(os.path.join(self.root, *key.split("/")))
        if path != self.root and not path.startswith(self.root + os.sep):
            raise InvalidKeyError(f"key {key!r} escapes the root of {self!r}")
        return path

    async def _get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(_read, self._path(key))

    async def _set(self, key: str, value: bytes) -> None:
        await asyncio.to_thread(_write_atomic, self._path(key), value)

    async def _delete(self, key: str) -> None:
        await asyncio.to_thread(_remove, self._path(key), self.root)

    async def _exists(self, key: str) -> bool:
        return await asyncio.to_thread(os.path.isfile, self._path(key))

    async def _list_prefix(self, prefix: str) -> AsyncIterator[str]:
        for key in await asyncio.to_thread(self._walk, prefix):
            yield key

    def _walk(self, prefix: str) -> list[str]:
        # walk only the directory the prefix names, not the whole tree
        base_dir = prefix.rpartition("/")[0]
        start = self._path(base_dir) if base_dir else self.root
        out: list[str] = []
        if not os.path.isdir(start):
            return out
        root_len = len(self.root) + 1
        for dirpath, _dirnames, filenames in os.walk(start):
            for fn in filenames:
                if fn.startswith(".azarr-") and fn.endswith(".partial"):
                    continue
                key = os.path.join(dirpath, fn)[root_len:].replace(os.sep, "/")
                if key.startswith(prefix):
                    out.append(key)
        return out

    # Batches: a few thread hops per batch rather than one per key.
    batch_size = 1 << 30

    async def _get_batch(self, keys: list[str]) -> dict[str, bytes]:
        paths = [self._path(k) for k in keys]

        def read_group(idx: range) -> list[tuple[str, bytes]]:
            found = []
            for i in idx:
                v = _read(paths[i])
                if v is not None:
                    found.append((keys[i], v))
            return found

        groups = [range(i, len(keys), _GROUPS) for i in range(min(_GROUPS, len(keys)))]
        out: dict[str, bytes] = {}
        for part in await asyncio.gather(*(asyncio.to_thread(read_group, g) for g in groups)):
            out.update(part)
        return out

    async def _get_ranges_batch(self, requests: list[RangeRequest]) -> dict[RangeRequest, bytes]:
        by_key: dict[str, list[Range]] = {}
        for key, rng in requests:
            by_key.setdefault(key, []).append(rng)
        jobs = [(key, self._path(key), ranges) for key, ranges in by_key.items()]

        def read_group(idx: range) -> list[tuple[RangeRequest, bytes]]:
            found: list[tuple[RangeRequest, bytes]] = []
            for i in idx:
                key, path, ranges = jobs[i]
                parts = _read_ranges(path, ranges)
                if parts is not None:
                    found.extend(((key, rng), part) for rng, part in zip(ranges, parts))
            return found

        groups = [range(i, len(jobs), _GROUPS) for i in range(min(_GROUPS, len(jobs)))]
        out: dict[RangeRequest, bytes] = {}
        for part in await asyncio.gather(*(asyncio.to_thread(read_group, g) for g in groups)):
            out.update(part)
        return out

    async def _set_batch(self, items: dict[str, bytes]) -> None:
        pairs = [(self._path(k), v) for k, v in items.items()]

        def write_group(idx: range) -> None:
            for i in idx:
                _write_atomic(*pairs[i])

        groups = [range(i, len(pairs), _GROUPS) for i in range(min(_GROUPS, len(pairs)))]
        await asyncio.gather(*(asyncio.to_thread(write_group, g) for g in groups))

    async def _delete_batch(self, keys: list[str]) -> None:
        paths = [self._path(k) for k in keys]

        def remove_all() -> None:
            for path in paths:
                _remove(path, self.root)

        await asyncio.to_thread(remove_all)

