"""SQLiteStore: conformance, zarr-python 2 layout, transactions, URLs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

import azarr
from azarr.errors import StoreError
from azarr.stores import SQLiteStore, Store, from_url
from azarr.stores.ranges import ByteRange, RangeRequest, SuffixRange
from tests.stores.conformance import Factory, StoreTests
from tests.zarr2 import run_zarr2


class TestSQLiteStore(StoreTests):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Factory:
        path = tmp_path / "data.db"
        made: list[Store] = []

        def factory(**options: object) -> Store:
            s = SQLiteStore(path, **options)  # type: ignore[arg-type]
            made.append(s)
            return s

        return factory

    async def raw_set(self, store: Store, key: str, value: bytes) -> None:
        # raw_set_many runs 16 of these at once: wait for the write lock as long as it takes
        # (SQLite's default 5 s ran out on a loaded machine)
        with sqlite3.connect(store.path, timeout=60) as conn:  # type: ignore[attr-defined]
            conn.execute("CREATE TABLE IF NOT EXISTS zarr(k TEXT PRIMARY KEY, v BLOB)")
            conn.execute("REPLACE INTO zarr VALUES (?, ?)", (key, value))

    async def raw_get(self, store: Store, key: str) -> bytes | None:
        conn = sqlite3.connect(store.path)  # type: ignore[attr-defined]
        try:
            row = conn.execute("SELECT v FROM zarr WHERE k = ?", (key,)).fetchone()
        except sqlite3.OperationalError:
            return None
        finally:
            conn.close()
        return None if row is None else bytes(row[0])

    async def raw_delete(self, store: Store, key: str) -> None:
        with sqlite3.connect(store.path) as conn:  # type: ignore[attr-defined]
            conn.execute("DELETE FROM zarr WHERE k = ?", (key,))


async def test_write_batch_is_all_or_nothing(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    await store.set("keep", b"old")
    # a trigger makes the 3rd row of the batch fail: none of the batch may land
    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute("CREATE TRIGGER boom BEFORE INSERT ON zarr WHEN NEW.k = 'b/3' BEGIN SELECT RAISE(ABORT, 'boom'); END")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="boom"):
        await store.set_many({"keep": b"new", "b/1": b"1", "b/2": b"2", "b/3": b"3"})
    assert await store.get("keep") == b"old"
    assert await store.get_many(["b/1", "b/2"]) == {}
    await store.close()


async def test_prefix_with_like_wildcards(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "w.db")
    await store.set_many({"a_b/1": b"1", "axb/1": b"2", "a%/1": b"3"})
    assert [k async for k in store.list_prefix("a_b/")] == ["a_b/1"]
    assert [k async for k in store.list_prefix("a%/")] == ["a%/1"]
    await store.close()


def test_urls(tmp_path: Path) -> None:
    s = from_url(f"sqlite:///{tmp_path}/x.db")
    assert isinstance(s, SQLiteStore) and s.path == f"{tmp_path}/x.db"
    z = azarr.open_array(f"sqlite:///{tmp_path}/y.db", mode="w", shape=(6,), chunks=(4,), dtype="i2")
    z[...] = np.arange(6)
    np.testing.assert_array_equal(azarr.open_array(f"sqlite:///{tmp_path}/y.db", mode="r")[...], np.arange(6))


def test_zarr2_writes_azarr_reads(tmp_path: Path) -> None:
    path = str(tmp_path / "z2.db")
    run_zarr2(
        """
import zarr, numpy as np
store = zarr.storage.SQLiteStore(P["path"])
root = zarr.group(store=store, overwrite=True)
root.attrs["who"] = "zarr2"
a = root.create_dataset("g/a", shape=(50, 30), chunks=(7, 8), dtype="f4", fill_value=-1)
a[:40, :] = np.arange(1200, dtype="f4").reshape(40, 30)
a.attrs["units"] = "m"
store.close()
""",
        path=path,
    )
    g = azarr.open_group(f"sqlite:///{path}", mode="r")
    assert g.attrs["who"] == "zarr2"
    a = g["g/a"]
    expected = np.full((50, 30), -1, "f4")
    expected[:40] = np.arange(1200).reshape(40, 30)
    np.testing.assert_array_equal(a[...], expected)
    assert a.attrs["units"] == "m"


def test_azarr_writes_zarr2_reads(tmp_path: Path) -> None:
    path = str(tmp_path / "az.db")
    store = SQLiteStore(path)
    g = azarr.open_group(store, mode="w", zarr_format=2)
    g.attrs["who"] = "azarr"
    a = g.create_array("sub/b", shape=(33, 17), chunks=(8, 8), dtype="<i8", fill_value=3)
    a[2:30, 1:] = np.arange(28 * 16).reshape(28, 16)
    azarr.sync.run(store.close())
    res = run_zarr2(
        """
import zarr, numpy as np
store = zarr.storage.SQLiteStore(P["path"])
root = zarr.open_group(store=store, mode="r")
RESULT = {"who": root.attrs["who"], "data": root["sub/b"][...].tolist()}
""",
        path=path,
    )
    expected = np.full((33, 17), 3, "<i8")
    expected[2:30, 1:] = np.arange(28 * 16).reshape(28, 16)
    assert res["who"] == "azarr"
    np.testing.assert_array_equal(np.array(res["data"]), expected)


async def test_get_ranges_is_one_statement_per_batch(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "r.db")
    value = bytes(range(50))
    await store.set_many({f"k/{i}": value for i in range(500)} | {"empty": b""})
    requests: list[RangeRequest] = [(f"k/{i}", ByteRange(j, j + 5)) for i in range(500) for j in (0, 10, 48)]
    requests += [(f"k/{i}", SuffixRange(4)) for i in range(500)]
    requests += [("empty", ByteRange(0, 3)), ("empty", SuffixRange(2)), ("gone", ByteRange(0, 3))]
    want = {(k, r): value[r.start : r.end] if isinstance(r, ByteRange) else value[-4:] for k, r in requests if k.startswith("k/")}
    want |= {("empty", ByteRange(0, 3)): b"", ("empty", SuffixRange(2)): b""}
    statements: list[str] = []
    await store._run(lambda conn: conn.set_trace_callback(statements.append))
    try:
        assert await store.get_ranges(requests) == want
        assert len(statements) == 1 and statements[0].startswith("WITH r("), statements[:3]  # 2003 ranges, 1 SELECT
        statements.clear()
        # a build that allows few parameters per statement: several statements in one read transaction
        await store._run(lambda conn: conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 400))
        assert await store.get_ranges(requests) == want
        assert statements[0] == "BEGIN" and statements[-1] == "COMMIT", statements[:3]
        assert len(statements) == 2 + 21, len(statements)  # 100 requests (400 parameters) per SELECT
    finally:
        await store.close()


async def test_list_prefix_at_the_top_of_unicode(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "u.db")
    top = "\U0010ffff"
    keys = {f"a{top}/1": b"1", f"a{top}{top}": b"2", f"a{top}": b"3", "b/1": b"4", f"{top}/z": b"5", "a\ud7ff/x": b"6",
            "a\ue000/y": b"7"}
    await store.set_many(keys)
    assert [k async for k in store.list_prefix(f"a{top}")] == sorted([f"a{top}/1", f"a{top}{top}", f"a{top}"])
    assert [k async for k in store.list_prefix(f"a{top}/")] == [f"a{top}/1"]
    assert [k async for k in store.list_prefix(top)] == [f"{top}/z"]  # no upper bound at all
    assert [k async for k in store.list_prefix("a\ud7ff")] == ["a\ud7ff/x"]  # the next character is not a surrogate
    await store.close()
