"""No lost updates: two processes writing disjoint regions that share chunks (or shards), on real stores.

Rows 0-1049 and 1050-1999 of an array chunked by 100 rows share chunk 10. Each trial writes
both regions at the same moment (a barrier) from two processes; the final array must hold
both regions exactly, trial after trial.
"""

from __future__ import annotations

import multiprocessing
import pickle
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import azarr
from azarr.stores import LocalStore, RedisStore, S3Store, SQLiteStore, Store
from tests.services.moto import S3_CREDENTIALS

SHAPE, CHUNKS = (2000, 8), (100, 8)
SPLIT = 1050
TRIALS = 12


def _writer(store_bytes: bytes, rows: tuple[int, int], value: int, barrier: Any, trials: int) -> None:
    store = pickle.loads(store_bytes)
    for t in range(trials):
        z = azarr.open_array(store, mode="r+", path=f"t{t}")
        barrier.wait(60)
        z[rows[0] : rows[1]] = value


def _run_trials(store: Store, **layout: Any) -> None:
    layout = layout or {"chunks": CHUNKS}
    for t in range(TRIALS):
        azarr.open_array(store, mode="w", path=f"t{t}", shape=SHAPE, dtype="i4", fill_value=0, **layout)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    blob = pickle.dumps(store)
    procs = [
        ctx.Process(target=_writer, args=(blob, (0, SPLIT), 1, barrier, TRIALS)),
        ctx.Process(target=_writer, args=(blob, (SPLIT, SHAPE[0]), 2, barrier, TRIALS)),
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
        assert p.exitcode == 0, f"writer process failed ({p.exitcode})"
    expected = np.zeros(SHAPE, "i4")
    expected[:SPLIT] = 1
    expected[SPLIT:] = 2
    for t in range(TRIALS):
        got = azarr.open_array(store, mode="r", path=f"t{t}")[...]
        assert (got == expected).all(), f"trial {t}: rows {np.flatnonzero((got != expected).any(axis=1))} lost"


def test_local(tmp_path: Path) -> None:
    _run_trials(LocalStore(tmp_path / "data"))


def test_sqlite(tmp_path: Path) -> None:
    _run_trials(SQLiteStore(tmp_path / "data.db"))


def test_redis(redis_url: str) -> None:
    _run_trials(RedisStore(redis_url, prefix=f"cw{uuid.uuid4().hex[:8]}"))


def test_s3(s3_endpoint: str, s3_bucket: str) -> None:
    _run_trials(S3Store(s3_bucket, "cw", endpoint_url=s3_endpoint, **S3_CREDENTIALS))


# sharded: rows 1000-1199 are one shard of two inner chunks, written by both processes
SHARDED = {"chunks": (100, 8), "shards": (200, 8)}


def test_sharded_local(tmp_path: Path) -> None:
    _run_trials(LocalStore(tmp_path / "data"), **SHARDED)


def test_sharded_s3(s3_endpoint: str, s3_bucket: str) -> None:
    _run_trials(S3Store(s3_bucket, "cws", endpoint_url=s3_endpoint, **S3_CREDENTIALS), **SHARDED)


async def test_conflicts_are_merged_not_lost() -> None:
    """A writer whose partial chunk changed since it read it merges again from the new bytes."""
    from azarr import aio
    from azarr.stores import MemoryStore

    class Interfering(MemoryStore):
        """After the first versioned read, another writer changes the chunk (once)."""

        interfered = False

        async def get_many_for_update(self, keys: Any) -> Any:
            got = await super().get_many_for_update(keys)
            if not self.interfered:
                self.interfered = True
                other = await aio.open_array(self, "r+")
                await other.setitem(slice(0, 5), 7)
            return got

    store = Interfering()
    a = await aio.open_array(store, "w", shape=(10,), chunks=(10,), dtype="i4")
    await a.setitem(slice(5, 10), 3)
    np.testing.assert_array_equal(await a.getitem(...), [7] * 5 + [3] * 5)
    assert store.interfered


async def test_endless_conflicts_raise_naming_the_chunk() -> None:
    from azarr import aio
    from azarr.errors import WriteConflictError
    from azarr.stores import MemoryStore

    class AlwaysChanged(MemoryStore):
        async def set_many_if(self, items: Any) -> set[str]:
            return set(items)  # every conditional write loses

    a = await aio.open_array(AlwaysChanged(), "w", shape=(10,), chunks=(5,), dtype="i4")
    with pytest.raises(WriteConflictError, match="c/1"):
        await a.setitem(slice(6, 8), 1)
