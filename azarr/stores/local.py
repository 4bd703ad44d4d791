"""LocalStore: a directory on the local file system (``file://`` or a plain path)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlparse

from azarr.errors import InvalidKeyError
from azarr.stores.base import RetryPolicy, Store

# Small files: the thread hop costs more than the read, so batches are split into a
# few groups per worker thread instead of one hop per key.
_GROUPS = 8


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _read_range(path: str, start: int, end: int | None) -> bytes | None:
    try:
        with open(path, "rb") as f:
            if start:
                f.seek(start)
            return f.read() if end is None else f.read(max(0, end - start))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


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

    async def _get_range(self, key: str, start: int, end: int | None) -> bytes | None:
        return await asyncio.to_thread(_read_range, self._path(key), start, end)

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

