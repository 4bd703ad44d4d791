"""MongoDBStore against a real MongoDB wire server: conformance, batching, size limit, zarr 2 interop."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from pymongo import MongoClient, monitoring

import azarr
from azarr.errors import StoreError
from azarr.stores import MongoDBStore, RetryPolicy, Store, from_url
from azarr.stores.mongodb import ValueTooLargeError
from azarr.stores.ranges import ByteRange, RangeRequest, SuffixRange
from tests.services.common import free_port
from tests.stores.conformance import Factory, StoreTests
from tests.zarr2 import run_zarr2


@pytest.fixture
def coll_name() -> str:
    return f"c{uuid.uuid4().hex[:10]}"


class TestMongoDBStore(StoreTests):
    @pytest.fixture
    def store_factory(self, mongodb_uri: str, coll_name: str) -> Factory:
        self.sync = MongoClient(mongodb_uri)["azarr_test"][coll_name]
        return lambda **options: MongoDBStore(mongodb_uri, database="azarr_test", collection=coll_name, **options)

    async def raw_set(self, store: Store, key: str, value: bytes) -> None:
        self.sync.replace_one({"key": key}, {"key": key, "value": value}, upsert=True)

    async def raw_set_many(self, store: Store, items: dict[str, bytes]) -> None:
        self.sync.insert_many([{"key": k, "value": v} for k, v in items.items()])

    async def raw_get(self, store: Store, key: str) -> bytes | None:
        doc = self.sync.find_one({"key": key})
        return None if doc is None else bytes(doc["value"])

    async def raw_delete(self, store: Store, key: str) -> None:
        self.sync.delete_many({"key": key})

    async def broken_store(self, factory: Factory) -> Store:
        return MongoDBStore(
            f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
            server_selection_timeout=0.3,
            retry=RetryPolicy(attempts=2, base_delay=0.01),
        )


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: object) -> None:
        pass

    def failed(self, event: object) -> None:
        pass


def test_batching_round_trips(mongodb_uri: str, coll_name: str) -> None:
    counter = CommandCounter()
    store = MongoDBStore(mongodb_uri, database="azarr_test", collection=coll_name,
                         client_options={"event_listeners": [counter]})
    z = azarr.open_array(store, mode="w", shape=(1024, 8), chunks=(1, 8), dtype="i4")
    counter.names.clear()
    z[...] = np.arange(1024 * 8).reshape(1024, 8)
    writes = counter.names.count("update") + counter.names.count("insert")
    assert writes == 11, counter.names  # one bulk_write per 100 keys, not 1024 single writes
    counter.names.clear()
    np.testing.assert_array_equal(z[...], np.arange(1024 * 8).reshape(1024, 8))
    finds = counter.names.count("find") + counter.names.count("getMore")
    assert counter.names.count("find") == 11, counter.names  # one $in query per 100 keys
    assert finds < 30, counter.names
    counter.names.clear()
    big = MongoDBStore(mongodb_uri, database="azarr_test", collection=coll_name, batch_size=1000,
                       client_options={"event_listeners": [counter]})
    np.testing.assert_array_equal(azarr.open_array(big, mode="r")[...], np.arange(1024 * 8).reshape(1024, 8))
    assert counter.names.count("find") == 3, counter.names  # metadata + 2 chunk batches


def test_index_on_key(mongodb_uri: str, coll_name: str) -> None:
    store = MongoDBStore(mongodb_uri, database="azarr_test", collection=coll_name)
    azarr.sync.run(store.set("a", b"1"))
    info = MongoClient(mongodb_uri)["azarr_test"][coll_name].index_information()
    assert any(spec["key"][0][0] == "key" for spec in info.values()), info


def test_oversize_value_refused_with_key(mongodb_uri: str, coll_name: str) -> None:
    store = MongoDBStore(mongodb_uri, database="azarr_test", collection=coll_name)
    with pytest.raises(ValueTooLargeError) as info:
        azarr.sync.run(store.set_many({"small": b"x", "big/0.0": b"\0" * (16 * 1024 * 1024 + 1)}))
    assert "big/0.0" in str(info.value) and isinstance(info.value, StoreError)
    assert azarr.sync.run(store.get("small")) is None  # nothing of the batch was written
    z = azarr.open_array(store, mode="w", path="arr", shape=(2100, 1000), chunks=(2100, 1000), dtype="f8", compressor=None)
    with pytest.raises(ValueTooLargeError, match="arr/0.0"):
        z[...] = 1.0


def test_url_options(mongodb_uri: str) -> None:
    base = mongodb_uri.split("/?")[0]
    s = from_url(f"{base}/mydb?directConnection=true&collection=mycoll")
    assert isinstance(s, MongoDBStore) and s.database == "mydb" and s.collection == "mycoll"
    assert "pw123" not in repr(MongoDBStore("mongodb://u:pw123@127.0.0.1:1/"))


def test_zarr2_interop_both_ways(mongodb_uri: str, coll_name: str) -> None:
    run_zarr2(
        """
import zarr, numpy as np
store = zarr.storage.MongoDBStore(host=P["uri"], database="azarr_test", collection=P["coll"])
root = zarr.group(store=store, overwrite=True)
root.attrs["who"] = "zarr2"
a = root.create_dataset("m/n", shape=(15, 10), chunks=(4, 6), dtype="<i4", fill_value=-2)
a[2:, 3:] = np.arange(13 * 7).reshape(13, 7)
""",
        uri=mongodb_uri, coll=coll_name + "a",
    )
    g = azarr.open_group(MongoDBStore(mongodb_uri, database="azarr_test", collection=coll_name + "a"), mode="r")
    expected = np.full((15, 10), -2, "<i4")
    expected[2:, 3:] = np.arange(13 * 7).reshape(13, 7)
    assert g.attrs["who"] == "zarr2"
    np.testing.assert_array_equal(g["m/n"][...], expected)

    mine = azarr.open_group(MongoDBStore(mongodb_uri, database="azarr_test", collection=coll_name + "b"), mode="w",
                            zarr_format=2)
    mine.attrs["who"] = "azarr"
    b = mine.create_array("r/s", shape=(9, 9), chunks=(4, 4), dtype="<u1", fill_value=1)
    b[:5, :5] = 200
    res = run_zarr2(
        """
import zarr
store = zarr.storage.MongoDBStore(host=P["uri"], database="azarr_test", collection=P["coll"])
root = zarr.open_group(store=store, mode="r")
RESULT = {"who": root.attrs["who"], "data": root["r/s"][...].tolist()}
""",
        uri=mongodb_uri, coll=coll_name + "b",
    )
    expected2 = np.ones((9, 9), "<u1")
    expected2[:5, :5] = 200
    assert res["who"] == "azarr"
    np.testing.assert_array_equal(np.array(res["data"]), expected2)


def test_get_ranges_is_one_find_per_batch(mongodb_uri: str, coll_name: str) -> None:
    counter = CommandCounter()
    store = MongoDBStore(mongodb_uri, database="azarr_test", collection=coll_name,
                         client_options={"event_listeners": [counter]})
    value = bytes(range(50))
    azarr.sync.run(store.set_many({f"k/{i}": value for i in range(50)}))
    requests: list[RangeRequest] = [(f"k/{i}", ByteRange(j, j + 5)) for i in range(50) for j in (0, 10, 20, 48)]
    requests += [(f"k/{i}", SuffixRange(4)) for i in range(50)] + [("gone", ByteRange(0, 1))]
    many = [("k/7", ByteRange(j, j + 2)) for j in range(300)]  # one key, more ranges than batch_size
    counter.names.clear()
    got = azarr.sync.run(store.get_ranges(requests))
    assert got == {(k, r): value[r.start : r.end] if isinstance(r, ByteRange) else value[-4:] for k, r in requests if k != "gone"}
    # 251 requests, at most 100 per batch and never one key split: 20 keys (100 requests) per find
    assert counter.names.count("find") == 3, counter.names
    counter.names.clear()
    got = azarr.sync.run(store.get_ranges(many))
    assert got == {(k, r): value[r.start : r.end] for k, r in many}
    assert counter.names.count("find") == 1, counter.names  # the document is read once, sliced 300 times


def test_dead_server_fails_within_the_selection_timeout() -> None:
    import time

    assert MongoDBStore().server_selection_timeout == 10.0  # the default bound
    store = MongoDBStore(f"mongodb://127.0.0.1:{free_port()}/?directConnection=true", server_selection_timeout=1.0,
                         collection="dead")
    t0 = time.monotonic()
    with pytest.raises(StoreError) as info:
        azarr.sync.run(store.get("k"))
    elapsed = time.monotonic() - t0
    assert elapsed < 3.0, elapsed  # one wait for a server, not one per retry
    assert "MongoDBStore(" in str(info.value) and "'k'" in str(info.value) and info.value.store == store.name
    with pytest.raises(StoreError):
        azarr.sync.run(store.set("k", b"v"))
    with pytest.raises(Exception, match="server_selection_timeout"):
        MongoDBStore(server_selection_timeout=0)


def test_conditional_creates_on_a_collection_with_a_non_unique_index(mongodb_uri: str, coll_name: str) -> None:
    sync = MongoClient(mongodb_uri)["azarr_test"][coll_name]
    sync.create_index("key")  # as earlier azarr versions made it: not unique
    sync.insert_one({"key": "there", "value": b"old"})
    store = MongoDBStore(mongodb_uri, database="azarr_test", collection=coll_name)

    async def main() -> set[str]:
        try:
            read = await store.get_many_for_update(["there", "new"])
            return await store.set_many_if({"there": (b"x", None), "new": (b"n", read["new"].version)})
        finally:
            await store.close()

    assert azarr.sync.run(main()) == {"there"}
    assert [bytes(d["value"]) for d in sync.find({"key": "there"})] == [b"old"]
    assert [bytes(d["value"]) for d in sync.find({"key": "new"})] == [b"n"]
