"""RedisStore against a real redis-server: conformance, batching proof, zarr-python 2 interop."""

from __future__ import annotations

import pickle
import uuid

import numpy as np
import pytest
import redis

import azarr
from azarr.errors import StoreError
from azarr.stores import RedisStore, RetryPolicy, Store, from_url
from azarr.stores.ranges import ByteRange, RangeRequest, SuffixRange
from tests.services.common import free_port
from tests.stores.conformance import Factory, StoreTests
from tests.zarr2 import run_zarr2


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


class TestRedisStore(StoreTests):
    @pytest.fixture
    def store_factory(self, redis_url: str, prefix: str) -> Factory:
        self.sync = redis.Redis.from_url(redis_url)
        self.prefix = prefix
        return lambda **options: RedisStore(redis_url, prefix=prefix, **options)

    async def raw_set(self, store: Store, key: str, value: bytes) -> None:
        self.sync.set(f"{self.prefix}:{key}", value)

    async def raw_get(self, store: Store, key: str) -> bytes | None:
        return self.sync.get(f"{self.prefix}:{key}")

    async def raw_set_many(self, store: Store, items: dict[str, bytes]) -> None:
        # one MSET from this thread: the shared sync client used from 16 threads at once has
        # failed with EBADF (a connection closed under another thread's read)
        if items:
            self.sync.mset({f"{self.prefix}:{k}": v for k, v in items.items()})

    async def raw_delete(self, store: Store, key: str) -> None:
        self.sync.delete(f"{self.prefix}:{key}")

    async def broken_store(self, factory: Factory) -> Store:
        # a real transport failure: nothing listens on this port
        return RedisStore(f"redis://127.0.0.1:{free_port()}/0", retry=RetryPolicy(attempts=2, base_delay=0.01))


def commandstats(client: redis.Redis) -> dict[str, int]:
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in client.info("commandstats").items()}


def test_get_many_is_one_mget_per_batch(redis_url: str, prefix: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    z = azarr.open_array(RedisStore(redis_url, prefix=prefix), mode="w", shape=(1024, 64), chunks=(1, 64), dtype="f4")
    z[...] = np.arange(1024 * 64, dtype="f4").reshape(1024, 64)
    r = azarr.open_array(RedisStore(redis_url, prefix=prefix), mode="r")  # metadata: one MGET
    sync.config_resetstat()
    np.testing.assert_array_equal(r[...], np.arange(1024 * 64, dtype="f4").reshape(1024, 64))
    stats = commandstats(sync)
    assert stats.get("mget") == 2, stats  # 1024 chunks in batches of 1000
    assert "get" not in stats, stats
    sync.config_resetstat()
    z[...] = 1.0
    stats = commandstats(sync)
    assert stats.get("mset") == 2 and "set" not in stats, stats


def test_scan_not_keys(redis_url: str, prefix: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    g = azarr.open_group(RedisStore(redis_url, prefix=prefix), mode="w")
    g.create_array("a", shape=(2,), dtype="i1")
    sync.config_resetstat()
    assert list(g) == ["a"]
    stats = commandstats(sync)
    assert "scan" in stats and "keys" not in stats, stats


def test_url_prefix_and_password_not_in_repr(redis_url: str, prefix: str) -> None:
    s = from_url(redis_url + f"?prefix={prefix}")
    assert isinstance(s, RedisStore) and s.prefix == prefix
    secret = RedisStore("redis://user:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in repr(secret)


def test_client_object_and_pickle(redis_url: str, prefix: str) -> None:
    import pickle

    import redis.asyncio as aioredis

    async def main() -> bytes | None:
        client = aioredis.Redis.from_url(redis_url)
        store = RedisStore(client, prefix=prefix)
        await store.set("k", b"v")
        clone = pickle.loads(pickle.dumps(store))
        out = await clone.get("k")
        await clone.close()
        await client.aclose()
        return out

    assert azarr.sync.run(main()) == b"v"


def test_error_not_missing(redis_url: str) -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", retry=RetryPolicy(attempts=2, base_delay=0.01))
    with pytest.raises(StoreError):
        azarr.open_array(store, mode="r")


def test_zarr2_interop_both_ways(redis_url: str, prefix: str) -> None:
    host, port_db = redis_url.removeprefix("redis://").split(":")
    port = int(port_db.split("/")[0])
    run_zarr2(
        """
import zarr, numpy as np
store = zarr.storage.RedisStore(prefix=P["prefix"], host=P["host"], port=P["port"])
root = zarr.group(store=store, overwrite=True)
root.attrs["who"] = "zarr2"
a = root.create_dataset("x/y", shape=(20, 9), chunks=(6, 4), dtype="<u2", fill_value=7)
a[3:, :5] = np.arange(17 * 5).reshape(17, 5)
""",
        prefix=prefix + "a", host=host, port=port,
    )
    g = azarr.open_group(RedisStore(redis_url, prefix=prefix + "a"), mode="r")
    expected = np.full((20, 9), 7, "<u2")
    expected[3:, :5] = np.arange(17 * 5).reshape(17, 5)
    assert g.attrs["who"] == "zarr2"
    np.testing.assert_array_equal(g["x/y"][...], expected)

    mine = azarr.open_group(RedisStore(redis_url, prefix=prefix + "b"), mode="w", zarr_format=2)
    mine.attrs["who"] = "azarr"
    b = mine.create_array("p/q", shape=(11, 5), chunks=(4, 4), dtype="f8", fill_value=np.nan)
    b[1:10, 1:4] = 2.5
    res = run_zarr2(
        """
import zarr
store = zarr.storage.RedisStore(prefix=P["prefix"], host=P["host"], port=P["port"])
root = zarr.open_group(store=store, mode="r")
RESULT = {"who": root.attrs["who"], "data": [[None if v != v else v for v in row] for row in root["p/q"][...].tolist()]}
""",
        prefix=prefix + "b", host=host, port=port,
    )
    expected2 = np.full((11, 5), np.nan)
    expected2[1:10, 1:4] = 2.5
    got = np.array([[np.nan if v is None else v for v in row] for row in res["data"]])
    assert res["who"] == "azarr"
    np.testing.assert_array_equal(got, expected2)


def test_get_ranges_is_one_transaction_per_batch(redis_url: str, prefix: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    value = bytes(range(50))
    for i in range(300):
        sync.set(f"{prefix}:k/{i}", value)
    sync.set(f"{prefix}:empty", b"")
    store = RedisStore(redis_url, prefix=prefix)
    requests: list[RangeRequest] = [(f"k/{i}", ByteRange(j, j + 5)) for i in range(300) for j in (0, 10, 48)]
    requests += [(f"k/{i}", SuffixRange(4)) for i in range(300)]
    requests += [("empty", ByteRange(0, 3)), ("empty", SuffixRange(2)), ("gone", ByteRange(0, 3)), ("gone", SuffixRange(1))]

    async def main() -> dict[RangeRequest, bytes]:
        try:
            await store.get(".warm")  # connect before counting
            sync.config_resetstat()
            return await store.get_ranges(requests)
        finally:
            await store.close()

    got = azarr.sync.run(main())
    stats = commandstats(sync)
    want = {(k, r): value[r.start : r.end] if isinstance(r, ByteRange) else value[-4:] for k, r in requests if k.startswith("k/")}
    want |= {("empty", ByteRange(0, 3)): b"", ("empty", SuffixRange(2)): b""}
    assert got == want
    # 1204 requests in batches of at most 1000 that never split a key: two MULTI/EXEC round trips
    assert stats.get("exec") == 2 and stats.get("multi") == 2, stats
    assert stats.get("getrange") == 1204 and stats.get("exists") == 302, stats  # one EXISTS per key
    assert "get" not in stats and "mget" not in stats, stats


def test_get_ranges_of_a_non_string_key_raises(redis_url: str, prefix: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    sync.rpush(f"{prefix}:a-list", b"x")
    sync.set(f"{prefix}:ok", b"0123")
    store = RedisStore(redis_url, prefix=prefix, retry=RetryPolicy(attempts=1))

    async def main() -> None:
        try:
            with pytest.raises(StoreError, match="WRONGTYPE"):  # an error, never "missing"
                await store.get_ranges([("ok", ByteRange(0, 2)), ("a-list", SuffixRange(1))])
        finally:
            await store.close()

    azarr.sync.run(main())


def test_prefix_in_the_url_is_honoured_by_the_constructor(redis_url: str, prefix: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    store = RedisStore(f"{redis_url}?prefix={prefix}")
    assert store.prefix == prefix and "prefix" not in (store.url or "")
    azarr.sync.run(store.set("k", b"v"))
    assert sync.get(f"{prefix}:k") == b"v" and sync.get("zarr:k") is None
    assert RedisStore(f"{redis_url}?prefix={prefix}", prefix="explicit").prefix == "explicit"  # the keyword wins
    assert RedisStore(redis_url).prefix == "zarr"  # zarr-python 2's default
    clone = pickle.loads(pickle.dumps(store))
    assert clone.prefix == prefix and azarr.sync.run(clone.get("k")) == b"v"


def test_conditional_batch_is_one_round_trip(redis_url: str, prefix: str) -> None:
    sync = redis.Redis.from_url(redis_url)
    store = RedisStore(redis_url, prefix=prefix)

    async def main() -> set[str]:
        read = await store.get_many_for_update([f"c/{i}" for i in range(500)])
        await store.set_if("warm", b"", None)  # loads the script into the server
        sync.config_resetstat()
        conflicts = await store.set_many_if({k: (b"v", v.version) for k, v in read.items()})
        await store.close()
        return conflicts

    assert azarr.sync.run(main()) == set()
    stats = commandstats(sync)
    assert stats.get("evalsha") == 1 and "mset" not in stats, stats  # the 500 SETs ran inside the one script
    assert sync.get(f"{prefix}:c/499") == b"v"
