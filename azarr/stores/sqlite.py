"""SQLiteStore: keys and values in one SQLite file, laid out as zarr-python 2's SQLiteStore.

Table ``zarr(k TEXT PRIMARY KEY, v BLOB)``, so files written by zarr-python 2 open
unchanged and the reverse. SQLite is blocking, so every statement runs on ONE worker
thread that owns the connection (SQLite serialises writers anyway); the event loop never
blocks. Batches are multi-row statements in one transaction: a write batch is
all-or-nothing.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import unquote

from azarr.errors import StoreConfigError
from azarr.stores.base import RetryPolicy, Store, Version, Versioned
from azarr.stores.ranges import ByteRange, RangeRequest

T = TypeVar("T")

# SQLite's default limit of host parameters per statement is 999 (32766 in newer builds).
_MAX_PARAMS = 900
# Rows per ranged statement: also keeps the SQL text (10 bytes a row) well under SQLite's 1 MB limit.
_MAX_RANGE_ROWS = 10_000
# Offsets sent to substr() stay far below 2**63 so SQLite's own start + length cannot overflow.
_CLAMP = 1 << 62
# One row per range request: (index, key, s, n). s >= 0: bytes [s, s + n) (n NULL: to the end);
# s < 0: the last -s bytes. substr() on a BLOB counts bytes (1-based); only the ranges leave
# the database. (substr of an empty BLOB is NULL: the caller reads NULL as b"".)
_RANGES_SQL = (
    "WITH r(i, k, s, n) AS (VALUES {rows}) "
    "SELECT r.i, CASE WHEN r.s < 0 THEN substr(z.v, max(length(z.v) + r.s, 0) + 1, -r.s) "
    "WHEN r.n IS NULL THEN substr(z.v, r.s + 1) ELSE substr(z.v, r.s + 1, r.n) END "
    "FROM r JOIN zarr z ON z.k = r.k"
)


def _upper_bound(prefix: str) -> str | None:
    """The least string greater than every string that starts with ``prefix`` (None: no
    such string, the prefix is all U+10FFFF). SQLite orders TEXT by its UTF-8 bytes,
    which is code point order."""
    head = prefix.rstrip("\U0010ffff")
    if not head:
        return None
    nxt = ord(head[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:  # surrogates cannot be stored; the next real character
        nxt = 0xE000
    return head[:-1] + chr(nxt)


class SQLiteStore(Store):
    """A store in an SQLite database file (``sqlite:///path/to/file.db``).

    The file is created (with the ``zarr`` table) if missing. WAL journaling is enabled
    for files so readers in other processes do not block on a writer.

    Compare-and-swap: the version of a value is its bytes; a conditional batch compares
    and writes inside one ``BEGIN IMMEDIATE`` transaction, which SQLite serialises with
    every other writer of the file (any process).
    """

    url_schemes = ("sqlite",)
    supports_conditional_writes = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        concurrency: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(read_only=read_only, concurrency=concurrency, retry=retry)
        path = os.fspath(path)
        self.path = path if path == ":memory:" else os.path.abspath(path)
        self.timeout = timeout
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._init_lock = threading.Lock()

    @classmethod
    def default_concurrency(cls) -> int:
        """One connection serialises statements; a few queued calls are plenty."""
        return 8

    def _config(self) -> dict[str, Any]:
        if self.path == ":memory:":
            raise StoreConfigError("an in-memory SQLiteStore cannot be pickled (its data lives in this process)")
        return {"path": self.path, "timeout": self.timeout, **self._base_config()}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteStore:
        """Open ``sqlite:///path/to/file.db`` (or ``sqlite:///:memory:``).

        ``sqlite:////abs.db`` is always absolute. For ``sqlite:///a/b.db`` the path is
        absolute (``/a/b.db``) when the directory ``/a`` exists, else relative to the
        working directory (so ``sqlite:///file.db`` is ``./file.db``, as in SQLAlchemy).
        """
        rest = unquote(url.split("://", 1)[1]) if "://" in url else ""
        if rest.startswith("//"):
            path = rest[1:]
        elif rest.startswith("/"):
            rel = rest[1:]
            head = os.path.dirname(rel)
            path = "/" + rel if head and os.path.isdir("/" + head) else rel
        else:
            path = rest
        if not path:
            raise StoreConfigError(f"sqlite URL names no file: {url!r}")
        return cls(path, **options)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def _is_retryable(self, exc: BaseException) -> bool:
        """A locked/busy database (another writer) is transient; everything else is not."""
        if isinstance(exc, sqlite3.OperationalError):
            msg = str(exc)
            return "locked" in msg or "busy" in msg
        return super()._is_retryable(exc)

    # --- the worker thread that owns the connection -------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.text_factory = str
        if self.path != ":memory:":
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError:
                pass  # e.g. a read-only directory: the default journal still works
        if not self.read_only:
            conn.execute("CREATE TABLE IF NOT EXISTS zarr(k TEXT PRIMARY KEY, v BLOB)")
        return conn

    def _ensure_executor(self) -> ThreadPoolExecutor:
        if self._pid != os.getpid():  # forked: the parent's thread and connection are not ours
            self._executor, self._conn, self._pid = None, None, os.getpid()
            self._init_lock = threading.Lock()
        if self._executor is None:
            with self._init_lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="azarr-sqlite")
        return self._executor

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        executor = self._ensure_executor()

        def call() -> T:
            if self._conn is None:
                self._conn = self._connect()
            return fn(self._conn)

        return await asyncio.get_running_loop().run_in_executor(executor, call)

    async def close(self) -> None:
        """Close the connection and stop the worker thread."""
        if self._executor is not None and self._pid == os.getpid():

            def shut(conn: sqlite3.Connection) -> None:
                conn.close()
                self._conn = None

            if self._conn is not None:
                await self._run(shut)
            self._executor.shutdown(wait=False)
        self._executor = None
        await super().close()

    # --- primitives -------------------------------------------------------------------------

    @staticmethod
    def _table_missing(exc: sqlite3.OperationalError) -> bool:
        return "no such table" in str(exc)

    async def _get(self, key: str) -> bytes | None:
        def q(conn: sqlite3.Connection) -> bytes | None:
            try:
                row = conn.execute("SELECT v FROM zarr WHERE (k = ?)", (key,)).fetchone()
            except sqlite3.OperationalError as exc:
                if self._table_missing(exc):
                    return None
                raise
            return None if row is None else bytes(row[0])

        return await self._run(q)

    async def _set(self, key: str, value: bytes) -> None:
        await self._run(lambda conn: conn.execute("REPLACE INTO zarr VALUES (?, ?)", (key, sqlite3.Binary(value))))

    async def _delete(self, key: str) -> None:
        await self._run(lambda conn: conn.execute("DELETE FROM zarr WHERE (k = ?)", (key,)))

    async def _exists(self, key: str) -> bool:
        def q(conn: sqlite3.Connection) -> bool:
            try:
                return conn.execute("SELECT 1 FROM zarr WHERE (k = ?)", (key,)).fetchone() is not None
            except sqlite3.OperationalError as exc:
                if self._table_missing(exc):
                    return False
                raise

        return await self._run(q)

    async def _list_prefix(self, prefix: str) -> AsyncIterator[str]:
        def q(conn: sqlite3.Connection) -> list[str]:
            # a range scan on the primary key instead of LIKE (no escaping of % and _)
            try:
                if not prefix:
                    return [r[0] for r in conn.execute("SELECT k FROM zarr")]
                upper = _upper_bound(prefix)
                if upper is None:
                    rows = conn.execute("SELECT k FROM zarr WHERE k >= ?", (prefix,))
                else:
                    rows = conn.execute("SELECT k FROM zarr WHERE k >= ? AND k < ?", (prefix, upper))
                return [r[0] for r in rows if r[0].startswith(prefix)]
            except sqlite3.OperationalError as exc:
                if self._table_missing(exc):
                    return []
                raise

        for key in await self._run(q):
            yield key

    async def _list_prefix_sizes(self, prefix: str) -> AsyncIterator[tuple[str, int]]:
        def q(conn: sqlite3.Connection) -> list[tuple[str, int]]:
            # length() of a BLOB is read from the record header: the values are not loaded
            try:
                if not prefix:
                    return [(r[0], r[1]) for r in conn.execute("SELECT k, length(v) FROM zarr")]
                upper = _upper_bound(prefix)
                if upper is None:
                    rows = conn.execute("SELECT k, length(v) FROM zarr WHERE k >= ?", (prefix,))
                else:
                    rows = conn.execute("SELECT k, length(v) FROM zarr WHERE k >= ? AND k < ?", (prefix, upper))
                return [(r[0], r[1]) for r in rows if r[0].startswith(prefix)]
            except sqlite3.OperationalError as exc:
                if self._table_missing(exc):
                    return []
                raise

        for item in await self._run(q):
            yield item

    # --- native batches: multi-row statements, one transaction ------------------------------

    batch_size = 10_000

    async def _get_batch(self, keys: list[str]) -> dict[str, bytes]:
        def q(conn: sqlite3.Connection) -> dict[str, bytes]:
            out: dict[str, bytes] = {}
            try:
                for i in range(0, len(keys), _MAX_PARAMS):
                    part = keys[i : i + _MAX_PARAMS]
                    marks = ",".join("?" * len(part))
                    for k, v in conn.execute(f"SELECT k, v FROM zarr WHERE k IN ({marks})", part):
                        out[k] = bytes(v)
            except sqlite3.OperationalError as exc:
                if not self._table_missing(exc):
                    raise
            return out

        return await self._run(q)

    async def _get_ranges_batch(self, requests: list[RangeRequest]) -> dict[RangeRequest, bytes]:
        params: list[object] = []
        for i, (key, rng) in enumerate(requests):
            if rng is None:
                params += (i, key, 0, None)
            elif isinstance(rng, ByteRange):
                end = None if rng.end is None else min(rng.end, _CLAMP)
                start = min(rng.start, _CLAMP)
                params += (i, key, start, None if end is None else end - start)
            elif rng.length:
                params += (i, key, -min(rng.length, _CLAMP), None)
            else:  # an empty suffix: substr(v, 1, 0), b"" if the key exists
                params += (i, key, 0, 0)

        def q(conn: sqlite3.Connection) -> dict[RangeRequest, bytes]:
            parameters = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            step = 4 * max(1, min(_MAX_RANGE_ROWS, parameters // 4))  # 4 parameters a row
            out: dict[RangeRequest, bytes] = {}
            several = len(params) > step
            if several:  # one read transaction: every statement sees the same snapshot
                conn.execute("BEGIN")
            try:
                for at in range(0, len(params), step):
                    part = params[at : at + step]
                    sql = _RANGES_SQL.format(rows=",".join(["(?,?,?,?)"] * (len(part) // 4)))
                    for i, data in conn.execute(sql, part):
                        out[requests[i]] = b"" if data is None else bytes(data)
            except sqlite3.OperationalError as exc:
                if not self._table_missing(exc):
                    raise
            finally:
                if several and conn.in_transaction:
                    conn.execute("COMMIT")
            return out

        return await self._run(q)

    async def _set_batch(self, items: dict[str, bytes]) -> None:
        rows = [(k, sqlite3.Binary(v)) for k, v in items.items()]

        def q(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("REPLACE INTO zarr VALUES (?, ?)", rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self._run(q)

    async def _delete_batch(self, keys: list[str]) -> None:
        def q(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for i in range(0, len(keys), _MAX_PARAMS):
                    part = keys[i : i + _MAX_PARAMS]
                    conn.execute(f"DELETE FROM zarr WHERE k IN ({','.join('?' * len(part))})", part)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self._run(q)

    # --- compare-and-swap: compare and write in one write transaction -------------------------

    async def _get_versioned(self, key: str) -> Versioned:
        value = await self._get(key)
        return Versioned(value, value)

    async def _get_versioned_batch(self, keys: list[str]) -> dict[str, Versioned]:
        found = await self._get_batch(keys)
        return {k: Versioned(found.get(k), found.get(k)) for k in keys}

    async def _set_if(self, key: str, value: bytes | None, expected: Version) -> bool:
        return not await self._set_if_batch({key: (value, expected)})

    async def _set_if_batch(self, items: dict[str, tuple[bytes | None, Version]]) -> set[str]:
        keys = list(items)

        def q(conn: sqlite3.Connection) -> set[str]:
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock before reading: no one writes in between
            try:
                current: dict[str, bytes] = {}
                for i in range(0, len(keys), _MAX_PARAMS):
                    part = keys[i : i + _MAX_PARAMS]
                    for k, v in conn.execute(f"SELECT k, v FROM zarr WHERE k IN ({','.join('?' * len(part))})", part):
                        current[k] = bytes(v)
                conflicts = {k for k in keys if current.get(k) != items[k][1]}
                writes = [(k, sqlite3.Binary(v)) for k, (v, _) in items.items() if k not in conflicts and v is not None]
                deletes = [k for k, (v, _) in items.items() if k not in conflicts and v is None and k in current]
                conn.executemany("REPLACE INTO zarr VALUES (?, ?)", writes)
                for i in range(0, len(deletes), _MAX_PARAMS):
                    part = deletes[i : i + _MAX_PARAMS]
                    conn.execute(f"DELETE FROM zarr WHERE k IN ({','.join('?' * len(part))})", part)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return conflicts

        return await self._run(q)
