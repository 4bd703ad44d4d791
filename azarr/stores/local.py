"""LocalStore: a directory on the local file system (``file://`` or a plain path)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlparse

from azarr.errors import InvalidKeyError
from azarr.stores.base import RetryPolicy, Store, Version, Versioned, validate_key
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


def _open_file(path: str) -> tuple[int, int] | None:
    """An open descriptor and the size of the regular file at ``path``; None when there is none
    (a directory opens fine on Linux, but it is no key)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        info = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None
    return fd, info.st_size


def _read_into(path: str, buffer: bytearray | memoryview | None) -> bytes | memoryview | None:
    """A file's bytes: read into the start of ``buffer`` when they fit (a view of it is
    returned), else as new bytes; None if it is not a file."""
    opened = _open_file(path)
    if opened is None:
        return None
    fd, size = opened
    try:
        if buffer is None or size > len(buffer):
            return _pread(fd, 0, size) if size else b""  # writes replace files: this one never changes
        view = memoryview(buffer)[:size]
        got = 0
        with open(fd, "rb", buffering=0, closefd=False) as f:
            while got < size and (n := f.readinto(view[got:])):
                got += n
        return view[:got]
    finally:
        os.close(fd)


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
    opened = _open_file(path)
    if opened is None:
        return None
    fd, size = opened
    try:
        return [_pread(fd, *resolve(rng, size)) for rng in ranges]
    finally:
        os.close(fd)


def _write_atomic(path: str, value: bytes) -> None:
    # temp file in the same directory + rename: readers never see a partial value,
    # and a failed write leaves the previous value in place.
    directory = os.path.dirname(path)
    for attempt in range(100):
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".azarr-", suffix=".partial")
            break
        except (FileNotFoundError, FileExistsError):
            # a concurrent delete pruned a directory, empty for an instant, under these calls
            # (a replace deletes the old node's keys while it writes the new documents):
            # makedirs then finds a parent gone, or mkstemp its directory
            if attempt == 99:
                raise
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
    _prune(path, root)


def _prune(path: str, root: str) -> None:
    # prune directories left empty, never the root itself
    parent = os.path.dirname(path)
    while parent != root and parent.startswith(root):
        try:
            os.rmdir(parent)
        except OSError:
            break
        parent = os.path.dirname(parent)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _lock_path(path: str) -> str:
    directory, name = os.path.split(path)
    return os.path.join(directory, f".azarr-{name}.lock")


@contextmanager
def _key_lock(path: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s key, across threads and processes.

    The lock is ``flock`` on a lock file beside the value, removed again on release so
    no lock files accumulate. A waiter that got the file just before the holder removed
    it finds it gone (another inode now, or none) and locks the new one instead.
    """
    lock = _lock_path(path)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:  # the directory was pruned meanwhile
            os.makedirs(os.path.dirname(lock), exist_ok=True)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = os.fstat(fd)
            try:
                named = os.stat(lock)
            except FileNotFoundError:
                named = None
        except BaseException:
            os.close(fd)
            raise
        if named is not None and (named.st_ino, named.st_dev) == (held.st_ino, held.st_dev):
            break
        os.close(fd)
    try:
        yield
    finally:
        os.unlink(lock)  # before unlocking: a waiter then sees the name gone and starts over
        os.close(fd)


def _compare_and_swap(path: str, root: str, value: bytes | None, expected: Version) -> bool:
    """Under the key's lock: write (or delete) ``path`` if its bytes are still ``expected``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with _key_lock(path):
        swapped = _read(path) == expected
        if swapped and value is not None:
            _write_atomic(path, value)
            return True
        if swapped:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
    _prune(path, root)  # directories the lock file needed, or the delete emptied
    return swapped


class LocalStore(Store):
    """A store whose keys are files below ``root`` (``/`` in keys maps to directories).

    Writes are atomic (temp file + rename). Keys are validated so that none can escape
    ``root``: ``..``, absolute paths and NUL bytes are rejected with
    :class:`~azarr.errors.InvalidKeyError`, and so is a write or delete whose directory
    leads out of the root through a symbolic link (links inside the root are followed;
    reads follow every link).

    Compare-and-swap (``set_if``): the version of a value is its bytes; the compare and
    the write happen under an exclusive ``flock`` on a lock file beside the value
    (``.azarr-<name>.lock``, removed afterwards), so conditional writers in any thread or
    process on this machine are serialised per key. A plain ``set`` takes no lock.
    """

    url_schemes = ("file",)
    supports_conditional_writes = True
    sync_reads = True
    sync_reads_block = True

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

    def _write_path(self, key: str, real_root: str | None = None) -> str:
        """The path to write or delete ``key`` at, with every link in its directory resolved;
        raises if that directory lies outside the (resolved) root."""
        directory, name = os.path.split(self._path(key))
        real_root = real_root or os.path.realpath(self.root)
        real_dir = os.path.realpath(directory)
        if not _inside(real_dir, real_root):
            raise InvalidKeyError(
                f"{self.name}: key {key!r} leads out of the root through a symbolic link "
                f"(to {real_dir!r}); writes and deletes never follow links out of the root"
            )
        return os.path.join(real_dir, name)

    def _write_paths(self, keys: list[str]) -> list[str]:
        """:meth:`_write_path` for many keys, each directory resolved once."""
        real_root = os.path.realpath(self.root)
        dirs: dict[str, str] = {}
        out = []
        for key in keys:
            directory, _, name = key.rpartition("/")
            base = dirs.get(directory)
            if base is None:
                base = dirs[directory] = os.path.dirname(self._write_path(key, real_root))
            else:
                self._path(key)  # the lexical checks still apply to every key
            out.append(os.path.join(base, name))
        return out

    async def _get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(_read, self._path(key))

    def read_sync(self, key: str, buffer: bytearray | memoryview | None = None) -> bytes | memoryview | None:
        """Read ``key`` in this thread, into ``buffer`` when it fits (``readinto``: no new
        bytes per chunk); None if missing."""
        validate_key(key)
        try:
            return _read_into(self._path(key), buffer)
        except OSError as exc:
            raise self._failure("get", key, exc, 1) from exc

    async def _set(self, key: str, value: bytes) -> None:
        await asyncio.to_thread(_write_atomic, self._write_path(key), value)

    async def _delete(self, key: str) -> None:
        await asyncio.to_thread(_remove, self._write_path(key), os.path.realpath(self.root))

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
                if fn.startswith(".azarr-") and fn.endswith((".partial", ".lock")):
                    continue
                key = os.path.join(dirpath, fn)[root_len:].replace(os.sep, "/")
                if key.startswith(prefix):
                    out.append(key)
        return out

    async def _list_prefix_sizes(self, prefix: str) -> AsyncIterator[tuple[str, int]]:
        for item in await asyncio.to_thread(self._walk_sizes, prefix):
            yield item

    def _walk_sizes(self, prefix: str) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for key in self._walk(prefix):
            try:
                out.append((key, os.stat(self._path(key)).st_size))
            except FileNotFoundError:  # deleted since the walk: gone, not empty
                continue
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
        pairs = list(zip(self._write_paths(list(items)), items.values()))

        def write_group(idx: range) -> None:
            for i in idx:
                _write_atomic(*pairs[i])

        groups = [range(i, len(pairs), _GROUPS) for i in range(min(_GROUPS, len(pairs)))]
        await asyncio.gather(*(asyncio.to_thread(write_group, g) for g in groups))

    async def _delete_batch(self, keys: list[str]) -> None:
        paths = self._write_paths(keys)
        real_root = os.path.realpath(self.root)

        def remove_all() -> None:
            for path in paths:
                _remove(path, real_root)

        await asyncio.to_thread(remove_all)

    # --- compare-and-swap -------------------------------------------------------------------

    async def _get_versioned(self, key: str) -> Versioned:
        value = await self._get(key)
        return Versioned(value, value)

    async def _get_versioned_batch(self, keys: list[str]) -> dict[str, Versioned]:
        found = await self._get_batch(keys)
        return {k: Versioned(found.get(k), found.get(k)) for k in keys}

    async def _set_if(self, key: str, value: bytes | None, expected: Version) -> bool:
        path = self._write_path(key)
        return await asyncio.to_thread(_compare_and_swap, path, os.path.realpath(self.root), value, expected)

    async def _set_if_batch(self, items: dict[str, tuple[bytes | None, Version]]) -> set[str]:
        keys = list(items)
        paths = self._write_paths(keys)
        real_root = os.path.realpath(self.root)

        def swap_group(idx: range) -> list[str]:
            return [keys[i] for i in idx if not _compare_and_swap(paths[i], real_root, *items[keys[i]])]

        groups = [range(i, len(keys), _GROUPS) for i in range(min(_GROUPS, len(keys)))]
        conflicts: set[str] = set()
        for part in await asyncio.gather(*(asyncio.to_thread(swap_group, g) for g in groups)):
            conflicts.update(part)
        return conflicts

