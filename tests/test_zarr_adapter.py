"""The zarr-python adapter's own behaviour: how zarr-python's calls map onto azarr's batched calls
(counted on the store and on the servers), event loops, errors, forms of as_zarr_store, pickling
(a spawned process and a dask LocalCluster)."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import zarr
import zarr.api.asynchronous as zarr_async
from zarr.abc.store import OffsetByteRequest, RangeByteRequest, SuffixByteRequest
from zarr.core.buffer import cpu, default_buffer_prototype

import azarr
from azarr.errors import (
    AzarrError,
    InvalidKeyError,
    ReadOnlyError,
    StoreConfigError,
    StoreError,
    SyncShimError,
)
from azarr.stores import MemoryStore, RedisStore, RetryPolicy, SQLiteStore, Store, as_zarr_store
from azarr.stores.ranges import InvalidRangeError
from azarr.stores.zarr_adapter import (
    SIZE_BATCH,
    MissingKeyError,
    ValueTypeError,
    ZarrReadOnlyError,
    ZarrStoreAdapter,
)
from tests.faultproxy import FaultProxy
from tests.services.common import free_port
from tests.services.moto import S3_CREDENTIALS, boto3_client
from tests.stores.request_log import RequestLog

PROTO = default_buffer_prototype()


def buf(data: bytes) -> cpu.Buffer:
    return cpu.Buffer.from_bytes(data)


class Spy:
    """Records the calls a store's public methods receive (wrapped on the instance)."""

    METHODS = ("get", "get_many", "get_ranges", "set", "set_many", "delete", "delete_many",
               "delete_prefix", "exists", "list_prefix", "list_dir")

    def __init__(self, store: Store) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        for name in self.METHODS:
            setattr(store, name, self._wrap(name, getattr(store, name)))

    def _wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args))
            return fn(*args, **kwargs)  # the coroutine or async iterator itself

        return wrapped

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def spied() -> tuple[ZarrStoreAdapter, Spy, dict[str, bytes]]:
    data: dict[str, bytes] = {}
    inner = MemoryStore(data)
    return as_zarr_store(inner), Spy(inner), data


@pytest.fixture
def redis_location(redis_url: str) -> tuple[str, str, redis.Redis]:
    prefix = f"z{uuid.uuid4().hex[:10]}"
    return f"{redis_url}?prefix={prefix}", prefix, redis.Redis.from_url(redis_url)


def commandstats(client: redis.Redis) -> dict[str, int]:
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in client.info("commandstats").items()}


# --- zarr-python's calls -> azarr's batched calls -----------------------------------------------


async def test_get_partial_values_is_one_get_ranges(spied: tuple[ZarrStoreAdapter, Spy, dict[str, bytes]]) -> None:
    store, spy, data = spied
    for i in range(20):
        data[f"c/{i}"] = bytes(range(i, i + 30))
    key_ranges = [(f"c/{i}", RangeByteRequest(2, 9)) for i in range(20)]
    key_ranges += [(f"c/{i}", SuffixByteRequest(4)) for i in range(0, 20, 2)]
    key_ranges += [("c/3", OffsetByteRequest(25)), ("c/3", None), ("c/3", RangeByteRequest(2, 9)), ("gone", None)]
    got = await store.get_partial_values(PROTO, key_ranges)
    assert spy.names() == ["get_ranges"]
    assert len(spy.calls[0][1][0]) == len(key_ranges)
    want = [data[k][r.start : r.end] if isinstance(r, RangeByteRequest) else data[k][-4:] for k, r in key_ranges[:30]]
    want += [data["c/3"][25:], data["c/3"], data["c/3"][2:9], None]
    assert [None if b is None else b.to_bytes() for b in got] == want


async def test_get_many_is_one_get_ranges_and_yields_every_request(
    spied: tuple[ZarrStoreAdapter, Spy, dict[str, bytes]],
) -> None:
    store, spy, data = spied
    data.update({"a": b"0123456789", "b": b"xyz"})
    requests = [("a", PROTO, None), ("gone", PROTO, None), ("b", PROTO, SuffixByteRequest(1)), ("a", PROTO, None)]
    got = [(k, None if v is None else v.to_bytes()) async for k, v in store._get_many(requests)]
    assert spy.names() == ["get_ranges"]
    assert sorted(got, key=str) == sorted([("a", b"0123456789"), ("a", b"0123456789"), ("b", b"z"), ("gone", None)], key=str)
    assert got[-1] == ("gone", None)  # missing keys come once everything that exists has arrived


async def test_writes_deletes_and_sizes_are_batched(spied: tuple[ZarrStoreAdapter, Spy, dict[str, bytes]]) -> None:
    store, spy, data = spied
    await store._set_many([(f"foo/c/{i}", buf(b"1234")) for i in range(2500)] + [("foo-bar/zarr.json", buf(b"{}"))])
    assert spy.names() == ["set_many"] and len(data) == 2501
    spy.calls.clear()
    assert await store.getsize_prefix("foo") == 4 * 2500  # "foo" is a directory: foo-bar/ is not in it
    assert spy.names() == ["list_prefix"] + ["get_many"] * -(-2500 // SIZE_BATCH)
    assert spy.calls[0][1] == ("foo/",)
    spy.calls.clear()
    await store.delete_dir("foo")
    # one delete_prefix: one listing, then one batched delete_many
    assert spy.names() == ["delete_prefix", "list_prefix", "delete_many"] and spy.calls[0][1] == ("foo/",)
    assert list(data) == ["foo-bar/zarr.json"]
    spy.calls.clear()
    await store.clear()
    assert spy.names() == ["delete_prefix", "list_prefix", "delete_many"] and spy.calls[0][1] == ("",) and not data


async def test_single_calls_map_one_to_one(spied: tuple[ZarrStoreAdapter, Spy, dict[str, bytes]]) -> None:
    store, spy, data = spied
    await store.set("k", buf(b"abcdef"))
    assert (await store.get("k", PROTO)).to_bytes() == b"abcdef"  # type: ignore[union-attr]
    assert (await store.get("k", PROTO, RangeByteRequest(1, 3))).to_bytes() == b"bc"  # type: ignore[union-attr]
    assert await store.exists("k")
    await store.delete("k")
    assert spy.names() == ["set", "get", "get_ranges", "exists", "delete"] and not data


def test_redis_native_batches(redis_location: tuple[str, str, redis.Redis]) -> None:
    url, prefix, raw = redis_location
    store = as_zarr_store(url)

    async def main() -> list[Any]:
        await store.exists("warm")  # connect before counting
        raw.config_resetstat()
        await store._set_many([(f"a/c/{i}", buf(bytes(range(50)))) for i in range(300)])
        stats = [commandstats(raw)]
        raw.config_resetstat()
        requests = [(f"a/c/{i}", RangeByteRequest(j, j + 5)) for i in range(300) for j in (0, 20)]
        got = await store.get_partial_values(PROTO, requests)
        stats.append(commandstats(raw))
        assert all(b is not None and len(b) == 5 for b in got)
        for i in range(300, 1500):
            raw.set(f"{prefix}:a/c/{i}", b"x")
        raw.config_resetstat()
        await store.delete_dir("a")
        stats.append(commandstats(raw))
        await store.store.close()
        return stats

    wrote, read, deleted = asyncio.run(main())
    assert wrote.get("mset") == 1 and "set" not in wrote, wrote  # 300 keys: one MSET
    assert read.get("exec") == 1 and read.get("getrange") == 600 and "get" not in read, read  # one MULTI/EXEC
    assert deleted.get("del") == 2 and "scan" in deleted, deleted  # 1500 keys: DEL per 1000
    assert not raw.keys(f"{prefix}:*")


def test_s3_delete_dir_is_delete_objects(s3_endpoint: str, s3_bucket: str) -> None:
    raw = boto3_client(s3_endpoint)
    for i in range(30):
        raw.put_object(Bucket=s3_bucket, Key=f"p/arr/c/{i}", Body=b"x")
    raw.put_object(Bucket=s3_bucket, Key="p/arr-2/zarr.json", Body=b"{}")
    with RequestLog(s3_endpoint) as log:
        store = as_zarr_store(f"s3://{s3_bucket}/p", endpoint_url=log.url, fast_path=False, **S3_CREDENTIALS)
        zarr.core.sync.sync(store.delete_dir("arr"))
        store.close()
        assert log.methods() == ["GET", "POST"], log.seen  # one listing, one DeleteObjects
    left = [o["Key"] for o in raw.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert left == ["p/arr-2/zarr.json"]


async def test_set_if_not_exists_is_one_atomic_conditional_write(redis_location: tuple[str, str, redis.Redis]) -> None:
    url, prefix, raw = redis_location
    store = as_zarr_store(url)
    outcomes: list[bool] = []
    set_if = store.store.set_if

    async def recorded(*args: Any) -> bool:
        outcomes.append(await set_if(*args))
        return outcomes[-1]

    store.store.set_if = recorded  # type: ignore[method-assign]
    await asyncio.gather(*(store.set_if_not_exists("zarr.json", buf(b"%d" % i)) for i in range(16)))
    assert sorted(outcomes) == [False] * 15 + [True]  # exactly one writer won; the others wrote nothing
    assert raw.get(f"{prefix}:zarr.json") in {b"%d" % i for i in range(16)}
    await store.store.close()


async def test_set_if_not_exists_without_compare_and_swap() -> None:
    class PlainStore(MemoryStore):
        supports_conditional_writes = False

    data: dict[str, bytes] = {"k": b"old"}
    store = as_zarr_store(PlainStore(data))
    await store.set_if_not_exists("k", buf(b"new"))
    await store.set_if_not_exists("k2", buf(b"new"))
    assert data == {"k": b"old", "k2": b"new"}


# --- event loops ----------------------------------------------------------------------------------


async def test_user_loop_and_zarr_loop_share_one_adapter(redis_location: tuple[str, str, redis.Redis]) -> None:
    url, _, _ = redis_location
    store = as_zarr_store(url)
    data = np.arange(64 * 64, dtype="i4").reshape(64, 64)
    g = await zarr_async.open_group(store=store, mode="w")  # on this test's loop
    a = await g.create_array("a", shape=(64, 64), chunks=(8, 8), dtype="i4")
    await a.setitem(..., data)
    # zarr-python's blocking API runs on its own I/O thread; a worker thread calls it
    got = await asyncio.to_thread(lambda: zarr.open_array(store, path="a", mode="r")[...])
    np.testing.assert_array_equal(got, data)
    np.testing.assert_array_equal(await a.getitem((slice(8, 24), slice(None))), data[8:24])
    assert len(store.store._clients) == 2  # type: ignore[attr-defined]  # one client per loop
    store.close()  # on a running loop: closes this loop's client by a task, never blocks
    await asyncio.sleep(0.05)
    np.testing.assert_array_equal(await a.getitem(...), data)  # reconnects lazily


def test_azarrs_own_loop_and_threads_with_their_own_loops(redis_location: tuple[str, str, redis.Redis]) -> None:
    url, _, _ = redis_location
    store = as_zarr_store(url)
    data = np.arange(100 * 40, dtype="f4").reshape(100, 40)

    async def write_on_azarrs_loop() -> None:
        a = await zarr_async.create_array(store, name="x", shape=(100, 40), chunks=(10, 10), dtype="f4")
        await a.setitem(..., data)
        # azarr's own API on the same loop and location, alongside zarr-python
        np.testing.assert_array_equal((await azarr.aio.open_array(store.store, mode="r", path="x")).shape, (100, 40))

    azarr.sync.run(write_on_azarrs_loop())
    results: list[np.ndarray] = []
    errors: list[Exception] = []

    def reader() -> None:
        async def read() -> np.ndarray:
            a = await zarr_async.open_array(store=store, path="x", mode="r")
            return await a.getitem(...)  # type: ignore[no-any-return]

        try:
            results.append(asyncio.run(read()))
        except Exception as exc:  # noqa: BLE001 - a thread reports its failure to the test below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    sync_reads = [zarr.open_array(store, path="x", mode="r")[...] for _ in range(3)]  # zarr's loop meanwhile
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 4
    for got in results + sync_reads:
        np.testing.assert_array_equal(got, data)


def test_blocking_twins_refuse_zarrs_own_loop() -> None:
    store = as_zarr_store(MemoryStore({"k": b"v"}))

    async def on_zarrs_loop(op: Callable[[], object]) -> object:
        return op()

    t0 = time.monotonic()
    for op in (lambda: store.get_sync("k"), lambda: store.set_sync("k", buf(b"w")), lambda: store.delete_sync("k")):
        with pytest.raises(SyncShimError, match="zarr-python's own event loop"):
            zarr.core.sync.sync(on_zarrs_loop(op))
    assert time.monotonic() - t0 < 10  # refused, not deadlocked
    assert store.get_sync("k").to_bytes() == b"v"  # type: ignore[union-attr]  # from a plain thread it works


async def test_blocking_twins_from_a_users_running_loop(redis_location: tuple[str, str, redis.Redis]) -> None:
    url, prefix, raw = redis_location
    store = as_zarr_store(url)
    store.set_sync("k", buf(b"\x01\x02"))  # runs on zarr-python's loop: this loop is not involved
    assert raw.get(f"{prefix}:k") == b"\x01\x02"
    assert store.get_sync("k", byte_range=SuffixByteRequest(1)).to_bytes() == b"\x02"  # type: ignore[union-attr]
    store.delete_sync("k")
    assert store.get_sync("k") is None and await store.get("k", PROTO) is None


def test_close_releases_connections_of_a_store_it_opened(redis_location: tuple[str, str, redis.Redis]) -> None:
    url, _, _ = redis_location
    owned = as_zarr_store(url)
    zarr.open_group(owned, mode="w").attrs["x"] = 1  # connects on zarr-python's loop
    assert len(owned.store._clients) == 1  # type: ignore[attr-defined]
    with owned:
        pass
    assert len(owned.store._clients) == 0 and not owned._is_open  # type: ignore[attr-defined]
    assert zarr.open_group(owned, mode="r").attrs["x"] == 1  # usable again: reconnects lazily

    mine = RedisStore(url.partition("?")[0], prefix=url.partition("=")[2])
    borrowed = as_zarr_store(mine)
    zarr.open_group(borrowed, mode="r")
    borrowed.close()
    assert len(mine._clients) == 1  # a store passed in belongs to its owner: left open


# --- errors -------------------------------------------------------------------------------------


async def test_bad_byte_ranges_raise_naming_store_and_key() -> None:
    store = as_zarr_store(MemoryStore({"c/0": b"0123"}))
    for bad in ((0, 2), "0-2", slice(0, 2)):
        with pytest.raises(InvalidRangeError, match=r"Unexpected byte_range, got .*'c/0'") as info:
            await store.get("c/0", PROTO, bad)
        assert isinstance(info.value, (AzarrError, ValueError)) and info.value.key == "c/0"
    for bad in (RangeByteRequest(3, 1), OffsetByteRequest(-1), SuffixByteRequest(-2)):
        with pytest.raises(InvalidRangeError, match="'c/0'"):
            await store.get("c/0", PROTO, bad)
        with pytest.raises(InvalidRangeError, match="'c/0'"):
            await store.get_partial_values(PROTO, [("c/0", None), ("c/0", bad)])


async def test_bad_values_keys_and_missing_sizes() -> None:
    data: dict[str, bytes] = {}
    store = as_zarr_store(MemoryStore(data))
    with pytest.raises(ValueTypeError, match="'k'.*zarr Buffer or bytes-like, got list") as info:
        await store.set("k", [1, 2])  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError) and not data
    await store.set("k", b"raw bytes")  # type: ignore[arg-type]  # bytes-like is accepted
    with pytest.raises(InvalidKeyError):
        await store.set("../escape", buf(b"x"))
    with pytest.raises(MissingKeyError, match="'nope'") as missing:
        await store.getsize("nope")
    assert isinstance(missing.value, FileNotFoundError)
    assert await store.getsize("k") == 9


def test_read_only_refuses_every_write_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ro.db"
    store = as_zarr_store(f"sqlite:///{path}", read_only=True)
    assert store.read_only and store.store.read_only  # the azarr store is opened read-only too
    writes: list[Callable[[], Any]] = [
        lambda: store.set("a", buf(b"1")),
        lambda: store.set_if_not_exists("a", buf(b"1")),
        lambda: store._set_many([("a", buf(b"1"))]),
        lambda: store.delete("a"),
        lambda: store.delete_dir("a"),
        lambda: store.clear(),
    ]
    for write in writes:
        with pytest.raises(ZarrReadOnlyError, match="store was opened in read-only mode") as info:
            zarr.core.sync.sync(write())
        assert isinstance(info.value, ValueError) and isinstance(info.value, ReadOnlyError)
    with pytest.raises(ZarrReadOnlyError, match="'a'"):
        store.set_sync("a", buf(b"1"))
    with pytest.raises(ValueError, match="read-only"):
        zarr.open_group(store, mode="w")
    assert not path.exists()  # nothing was created, not even the table


def test_transport_failure_raises_and_is_never_a_fill_value(s3_endpoint: str, s3_bucket: str) -> None:
    with FaultProxy(s3_endpoint) as proxy:
        store = as_zarr_store(f"s3://{s3_bucket}/x.zarr", endpoint_url=proxy.url, **S3_CREDENTIALS,
                              retry=RetryPolicy(attempts=2, base_delay=0.01))
        a = zarr.create_array(store, shape=(20,), chunks=(5,), dtype="i2", fill_value=0)
        a[...] = np.arange(1, 21)
        proxy.fault_rate, proxy.faults = 1.0, ("500",)
        with pytest.raises(StoreError, match="InternalError|500"):
            a[...]
    dead = as_zarr_store(f"redis://127.0.0.1:{free_port()}/0", retry=RetryPolicy(attempts=1))
    with pytest.raises(StoreError):
        zarr.open_group(dead, mode="r")


def test_secrets_never_shown() -> None:
    port = free_port()
    stores = [
        as_zarr_store(f"redis://user:hunter2@127.0.0.1:{port}/0", retry=RetryPolicy(attempts=1)),
        as_zarr_store("s3://bucket/p", endpoint_url=f"http://127.0.0.1:{port}", key="AKIDEXAMPLE", secret="hunter2",
                      region="us-east-1", retry=RetryPolicy(attempts=1)),
    ]
    for store in stores:
        assert "hunter2" not in repr(store) and "hunter2" not in str(store)
        with pytest.raises(StoreError) as info:
            zarr.open_group(store, mode="r")
        assert "hunter2" not in str(info.value)


def test_options_that_cannot_apply_are_errors(redis_url: str) -> None:
    with pytest.raises(StoreConfigError, match="cannot be applied"):
        as_zarr_store(MemoryStore(), concurrency=3)
    adapter = as_zarr_store("memory://")
    with pytest.raises(StoreConfigError, match="cannot be applied"):
        as_zarr_store(adapter, concurrency=3)
    with pytest.raises(StoreConfigError):
        as_zarr_store("nosuchscheme://x")


def test_missing_zarr_python_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['zarr'] = None\n"
        "import azarr, azarr.stores\n"
        "from azarr.errors import MissingDependencyError\n"
        "try:\n"
        "    azarr.stores.as_zarr_store('memory://')\n"
        "except MissingDependencyError as exc:\n"
        "    assert isinstance(exc, ImportError)\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install 'azarr[zarr]'" in out.stdout and "zarr-python >= 3" in out.stdout


def test_http_cannot_be_made_writable(http_server: tuple[str, Path]) -> None:
    url, root = http_server
    (root / "ro").mkdir(exist_ok=True)
    store = as_zarr_store(f"{url}/ro")
    assert store.read_only and not store.supports_writes
    with pytest.raises(ReadOnlyError, match="cannot write"):
        store.with_read_only(False)
    with pytest.raises(ValueError, match="read-only"):
        zarr.open_group(store, mode="a")


# --- forms, identity, pickling ---------------------------------------------------------------------


def test_forms_of_as_zarr_store(redis_url: str) -> None:
    inner = RedisStore(redis_url, prefix="forms")
    wrapped = as_zarr_store(inner)
    assert wrapped.store is inner and not wrapped.read_only
    assert as_zarr_store(wrapped) is wrapped
    ro = as_zarr_store(wrapped, read_only=True)
    assert ro.read_only and ro.store is inner and ro != wrapped
    assert wrapped.with_read_only(True) == ro and wrapped.with_read_only(True).store is inner
    assert as_zarr_store(f"{redis_url}?prefix=forms") == wrapped  # same location, same configuration
    assert as_zarr_store(f"{redis_url}?prefix=other") != wrapped
    assert as_zarr_store(MemoryStore()) != wrapped
    assert isinstance(azarr.stores.ZarrStoreAdapter, type) and isinstance(wrapped, zarr.abc.store.Store)
    assert pickle.loads(pickle.dumps(ro)) == ro
    # a store without a configuration to compare (its data lives in this process) equals only itself
    scratch = as_zarr_store(SQLiteStore(":memory:"))
    assert scratch == scratch.with_read_only(False) and scratch != as_zarr_store(SQLiteStore(":memory:"))


def _read_in_child(blob: bytes, q: Any) -> None:
    array = pickle.loads(blob)
    q.put(array[...].tolist())


def test_zarr_array_pickled_to_a_spawned_process(redis_location: tuple[str, str, redis.Redis]) -> None:
    url, _, _ = redis_location
    a = zarr.create_array(as_zarr_store(url), shape=(30, 30), chunks=(7, 7), dtype="i4")
    a[...] = np.arange(900).reshape(30, 30)
    blob = pickle.dumps(zarr.open_array(as_zarr_store(url, read_only=True), mode="r"))
    assert len(blob) < 20_000  # configuration, not a connection
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(blob, q))
    child.start()
    try:
        got = q.get(timeout=120)
    finally:
        child.join(60)
    np.testing.assert_array_equal(np.array(got), np.arange(900).reshape(30, 30))


def test_dask_local_cluster_reads_and_writes_through_the_adapter(redis_location: tuple[str, str, redis.Redis]) -> None:
    import dask.array as da
    from distributed import Client, LocalCluster

    url, _, _ = redis_location
    src = zarr.create_array(as_zarr_store(url), name="src", shape=(256, 256), chunks=(32, 32), dtype="f8")
    src[...] = np.arange(256 * 256, dtype="f8").reshape(256, 256)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster),
    ):
        lazy = da.from_zarr(zarr.open_array(as_zarr_store(url), path="src", mode="r"))
        assert float(lazy.sum().compute()) == float(np.arange(256 * 256).sum())
        out = zarr.create_array(as_zarr_store(url), name="out", shape=(256, 256), chunks=(32, 32), dtype="f8")
        da.to_zarr(lazy * 2, out, compute=True)  # each worker writes its chunks through its own copy
    np.testing.assert_array_equal(
        zarr.open_array(as_zarr_store(url), path="out", mode="r")[...], 2 * np.arange(256 * 256).reshape(256, 256)
    )
