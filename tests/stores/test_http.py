"""HTTPStore against a real static HTTP server: the read half of the conformance suite,
writes refused, no listing; arrays served over HTTP open via consolidated metadata."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest

import azarr
from azarr.errors import ReadOnlyError, StoreError
from azarr.stores import HTTPStore, RetryPolicy, Store, from_url
from azarr.stores.ranges import ByteRange, SuffixRange
from tests.services.common import free_port
from tests.stores.conformance import Factory, StoreTests
from tests.stores.request_log import RequestLog


class TestHTTPStore(StoreTests):
    writable = False
    listable = False

    @pytest.fixture
    def store_factory(self, http_server: tuple[str, Path]) -> Factory:
        url, root = http_server
        name = f"s{uuid.uuid4().hex[:8]}"
        self.dir = root / name
        self.dir.mkdir()
        return lambda **options: HTTPStore(f"{url}/{name}", **options)

    async def raw_set(self, store: Store, key: str, value: bytes) -> None:
        path = self.dir.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value)

    async def raw_get(self, store: Store, key: str) -> bytes | None:
        path = self.dir.joinpath(*key.split("/"))
        return path.read_bytes() if path.is_file() else None

    async def broken_store(self, factory: Factory) -> Store:
        return HTTPStore(f"http://127.0.0.1:{free_port()}/x", retry=RetryPolicy(attempts=2, base_delay=0.01))


def test_array_over_http_via_consolidated(http_server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = http_server
    src = tmp_path / "src.zarr"
    g = azarr.open_group(str(src), mode="w")
    g.attrs["title"] = "served"
    a = g.create_array("sub/a", shape=(40, 30), chunks=(8, 8), dtype="i2", fill_value=-5)
    a[:35, 3:] = np.arange(35 * 27).reshape(35, 27)
    azarr.consolidate_metadata(str(src))
    shutil.copytree(src, root / "served.zarr")
    remote = azarr.open_consolidated(f"{url}/served.zarr")
    assert remote.attrs["title"] == "served" and list(remote) == ["sub"]
    arr = remote["sub/a"]
    expected = np.full((40, 30), -5, "i2")
    expected[:35, 3:] = np.arange(35 * 27).reshape(35, 27)
    np.testing.assert_array_equal(arr[...], expected)
    np.testing.assert_array_equal(azarr.open_array(f"{url}/served.zarr", mode="r", path="sub/a")[5:9], expected[5:9])
    with pytest.raises(ReadOnlyError):
        arr[0, 0] = 1


def test_errors_are_not_missing(http_server: tuple[str, Path]) -> None:
    url, root = http_server
    (root / "forbidden").mkdir(exist_ok=True)
    store = HTTPStore(url, retry=RetryPolicy(attempts=1))
    assert azarr.sync.run(store.get("does/not/exist")) is None
    s = from_url(url + "/x", headers={"Authorization": "Bearer s3cr3t"})
    assert isinstance(s, HTTPStore) and "s3cr3t" not in repr(s)
    with pytest.raises(StoreError):
        azarr.open_array(HTTPStore(f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(attempts=1)), mode="r")


async def test_ranged_reads_are_one_get_each(http_server: tuple[str, Path]) -> None:
    url, root = http_server
    (root / "rg").mkdir(exist_ok=True)
    (root / "rg" / "a").write_bytes(bytes(range(100)))
    (root / "rg" / "b").write_bytes(b"0123456789")
    with RequestLog(url) as log:
        store = HTTPStore(f"{log.url}/rg")
        try:
            requests = [("a", ByteRange(0, 10)), ("a", SuffixRange(5)), ("a", ByteRange(90))] * 2 + [
                ("b", None), ("b", ByteRange(1, 3)), ("b", SuffixRange(2)), ("gone", ByteRange(0, 4)),
            ]
            got = await store.get_ranges(requests)
            assert got == {
                ("a", ByteRange(0, 10)): bytes(range(10)), ("a", SuffixRange(5)): bytes(range(95, 100)),
                ("a", ByteRange(90)): bytes(range(90, 100)),
                ("b", None): b"0123456789", ("b", ByteRange(1, 3)): b"12", ("b", SuffixRange(2)): b"89",
            }
            assert log.methods() == ["GET"] * 5, log.seen  # duplicates once, "b" once, whole
            assert log.ranges() == [None, "bytes=-5", "bytes=0-3", "bytes=0-9", "bytes=90-"], log.seen
        finally:
            await store.close()
