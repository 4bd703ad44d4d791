"""dask.distributed: parallel reads and writes from worker processes, small pickles, no metadata storm."""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator

import dask.array as da
import numpy as np
import pytest
import redis
from distributed import Client, LocalCluster

import azarr
from azarr.dask import ChunkAlignmentError, from_dask, to_dask
from azarr.stores import RedisStore, S3Store
from tests.services.moto import S3_CREDENTIALS

SHAPE, CHUNKS = (1024, 64), (16, 16)  # 64 x 4 = 256 chunks; the 1024-chunk runs use (8, 8)


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c


def test_pickles_are_small(tmp_path: object) -> None:
    z = azarr.open_array(str(tmp_path), mode="w", shape=(100, 100), chunks=(10, 10), dtype="f4")
    assert len(pickle.dumps(z)) < 1500
    s3 = S3Store("bucket", "a/b", endpoint_url="http://127.0.0.1:1", key="k", secret="s")
    assert len(pickle.dumps(s3)) < 1000
    assert len(pickle.dumps(RedisStore("redis://127.0.0.1:1/0"))) < 600


@pytest.mark.parametrize(("zarr_format", "meta_key"), [(2, ".zarray"), (3, "zarr.json")])
def test_redis_read_write_1024_chunks_no_metadata_storm(client: Client, redis_url: str, zarr_format: int,
                                                        meta_key: str) -> None:
    prefix = f"dask{uuid.uuid4().hex[:8]}"
    store = RedisStore(redis_url, prefix=prefix)
    data = np.random.default_rng(0).standard_normal((256, 256)).astype("f4")
    darr = da.from_array(data, chunks=(8, 8))  # 32 x 32 = 1024 chunks
    z = from_dask(darr, store, chunks=(8, 8), zarr_format=zarr_format)
    assert z.zarr_format == zarr_format
    assert z.nchunks == 1024
    np.testing.assert_array_equal(z[...], data)
    sync = redis.Redis.from_url(redis_url)
    lazy = to_dask(z)
    assert lazy.numblocks == (32, 32)
    # prove workers read no metadata: remove it after the graph is built
    meta = sync.get(f"{prefix}:{meta_key}")
    sync.delete(f"{prefix}:{meta_key}")
    sync.config_resetstat()
    result = lazy.compute()
    stats = {k.removeprefix("cmdstat_"): v["calls"] for k, v in sync.info("commandstats").items()}
    np.testing.assert_array_equal(result, data)
    assert stats.get("mget", 0) == 1024, stats  # exactly one batched read per chunk task, no metadata reads
    sync.set(f"{prefix}:{meta_key}", meta)
    # a second write from workers, through the pickled array
    (lazy * 2).store(z, lock=False)
    np.testing.assert_array_equal(z[...], data * 2)


def test_s3_read_write_1024_chunks(client: Client, s3_endpoint: str, s3_bucket: str) -> None:
    opts = {"endpoint_url": s3_endpoint, **S3_CREDENTIALS}
    url = f"s3://{s3_bucket}/dask.zarr"
    data = np.arange(256 * 256, dtype="i4").reshape(256, 256)
    z = from_dask(da.from_array(data, chunks=(8, 8)), url, storage_options=opts)
    back = to_dask(url, storage_options=opts)
    assert back.numblocks == (32, 32)
    np.testing.assert_array_equal(back.compute(), data)
    np.testing.assert_array_equal(azarr.open_array(url, mode="r", storage_options=opts)[...], data)
    assert z.nchunks_initialized == 1024


def test_misaligned_chunks_rejected_or_rechunked(tmp_path: object) -> None:
    darr = da.from_array(np.arange(100.0), chunks=15)
    with pytest.raises(ChunkAlignmentError, match="axis 0"):
        from_dask(darr, str(tmp_path) + "/a", chunks=(10,), allow_misaligned=False)
    # a store that can compare-and-swap takes misaligned tasks: shared chunks are merged, not lost
    z0 = from_dask(darr, str(tmp_path) + "/m", chunks=(10,))
    np.testing.assert_array_equal(z0[...], np.arange(100.0))
    # a store that cannot (this wrapper has no conditional writes) keeps refusing them
    from azarr.stores import MemoryStore
    from tests.counting import CountingStore

    with pytest.raises(ChunkAlignmentError, match="axis 0"):
        from_dask(darr, CountingStore(MemoryStore()), chunks=(10,))
    z = from_dask(darr, str(tmp_path) + "/b", chunks=(10,), safe_rechunk=True)
    np.testing.assert_array_equal(z[...], np.arange(100.0))
    z2 = from_dask(da.from_array(np.arange(100.0), chunks=20), str(tmp_path) + "/c", chunks=(10,))
    np.testing.assert_array_equal(z2[...], np.arange(100.0))


def test_from_array_works(tmp_path: object) -> None:
    z = azarr.open_array(str(tmp_path), mode="w", shape=(40, 30), chunks=(10, 10), dtype="i8")
    z[...] = np.arange(1200).reshape(40, 30)
    d = da.from_array(z, chunks=z.chunks)
    assert int(d.sum().compute()) == int(np.arange(1200).sum())
    assert azarr.to_dask is to_dask
