"""Issue 20's behaviour changes: azarr's own loop on uvloop, decoding into the output, local
reads in the codec threads (``readinto``), streaming reads that keep nothing, replace-array
writes that overlap deletion with writing, the lean S3 listing and batch delete, stores shared
by URL, the one-pattern key check, and writes encoded from the caller's array."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest

import azarr
from azarr import aio
from azarr.codecs import BloscCodec, BytesCodec, Crc32cCodec, GzipCodec, ZstdCodec
from azarr.codecs.pipeline import CodecPipeline
from azarr.core import chunk_io, cpu
from azarr.errors import CodecError, InvalidKeyError
from azarr.stores import LocalStore, MemoryStore, S3Store, Store, from_url
from azarr.stores.keys import validate_key
from tests.counting import Delegating
from tests.services.moto import S3_CREDENTIALS

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, env: Mapping[str, str] | None = None) -> str:
    """Run ``code`` in a fresh interpreter; its last line of output."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **(env or {})}, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


# --- the sync shim's loop ----------------------------------------------------------------------

LOOP_KIND = "import azarr.sync as s; print(type(s.get_loop()).__module__.split('.')[0])"


def test_the_shim_runs_on_uvloop_when_it_is_installed() -> None:
    assert run_python(LOOP_KIND) == "uvloop"


def test_the_shim_falls_back_to_asyncio_without_uvloop() -> None:
    assert run_python("import sys; sys.modules['uvloop'] = None\n" + LOOP_KIND) == "asyncio"


def test_azarr_event_loop_asyncio_keeps_asyncio() -> None:
    assert run_python(LOOP_KIND, {"AZARR_EVENT_LOOP": "asyncio"}) == "asyncio"


ROUND_TRIP = """
import json, sys
import numpy as np
import azarr
from azarr.stores import S3Store
store = S3Store(sys.argv[1], "loop", endpoint_url=sys.argv[2], key=sys.argv[3], secret=sys.argv[4])
data = np.arange(40 * 50, dtype="f4").reshape(40, 50)
z = azarr.open_array(store, mode="w", shape=data.shape, chunks=(4, 10), dtype="f4")
z[...] = data
z[3:17, 5:9] = -1
data[3:17, 5:9] = -1
local = azarr.open_array(sys.argv[5], mode="w", shape=data.shape, chunks=(4, 10), dtype="f4")
local[...] = data
ok = bool(np.array_equal(z[...], data) and np.array_equal(local[...], data))
print(json.dumps({"ok": ok, "loop": type(azarr.sync.get_loop()).__module__.split(".")[0]}))
"""


@pytest.mark.parametrize("kind", ["uvloop", "asyncio"])
def test_blocking_api_on_either_loop(kind: str, s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    code = ("import sys; sys.modules['uvloop'] = None\n" if kind == "asyncio" else "") + ROUND_TRIP
    done = subprocess.run([sys.executable, "-c", code, s3_bucket, s3_endpoint, S3_CREDENTIALS["key"],
                           S3_CREDENTIALS["secret"], str(tmp_path / "l")], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"ok": True, "loop": kind}


USER_LOOP = """
import asyncio, json
import numpy as np
import azarr
from azarr import aio
from azarr.stores import MemoryStore
z = azarr.open_array(MemoryStore(), mode="w", shape=(20,), chunks=(5,), dtype="i4")
z[...] = np.arange(20)  # azarr's own loop (uvloop) is running in its thread now
seen = {}

async def main():
    loop = asyncio.get_running_loop()
    a = await aio.open_array(MemoryStore(), mode="w", shape=(30,), chunks=(4,), dtype="i4")
    await a.setitem(slice(None), np.arange(30))
    seen["ok"] = bool(np.array_equal(await a.getitem(slice(None)), np.arange(30)))
    seen["same loop"] = asyncio.get_running_loop() is loop
    seen["user loop"] = type(loop).__module__.split(".")[0]

asyncio.run(main())
seen["policy"] = type(asyncio.get_event_loop_policy()).__module__.split(".")[0]
seen["new loops"] = type(asyncio.new_event_loop()).__module__.split(".")[0]
print(json.dumps(seen))
"""


def test_a_users_asyncio_loop_is_never_replaced() -> None:
    seen = json.loads(run_python(USER_LOOP))
    assert seen == {"ok": True, "same loop": True, "user loop": "asyncio", "policy": "asyncio", "new loops": "asyncio"}


# --- decoding straight into the output ---------------------------------------------------------

CASES: dict[str, tuple[str, dict[str, Any], bool]] = {
    # name: (dtype, creation keywords, whether whole chunks decode into the output)
    "v3-raw": ("f4", {"zarr_format": 3, "compressors": None}, True),
    "v3-zstd": ("f4", {"zarr_format": 3, "compressors": [ZstdCodec(level=1)]}, True),
    "v3-blosc": ("i2", {"zarr_format": 3, "compressors": [BloscCodec(cname="lz4")]}, True),
    "v3-zstd-crc32c": ("f8", {"zarr_format": 3, "compressors": [ZstdCodec(), Crc32cCodec()]}, True),
    "v3-datetime": ("M8[s]", {"zarr_format": 3, "compressors": [ZstdCodec()]}, True),
    "v3-gzip": ("f4", {"zarr_format": 3, "compressors": [GzipCodec()]}, False),
    "v3-big-endian": ("f4", {"zarr_format": 3, "serializer": BytesCodec(endian="big"), "compressors": [ZstdCodec()]},
                      False),
    "v2-zstd": ("<f4", {"zarr_format": 2, "compressor": numcodecs.Zstd(level=1)}, True),
    "v2-blosc": ("<u8", {"zarr_format": 2, "compressor": numcodecs.Blosc()}, True),
    "v2-raw": ("<i4", {"zarr_format": 2, "compressor": None}, True),
    "v2-big-endian": (">i4", {"zarr_format": 2, "compressor": None}, True),  # stored as it is held
    "v2-F": ("<f4", {"zarr_format": 2, "compressor": numcodecs.Zstd(), "order": "F"}, False),  # output is C order
    "v2-filters": ("<f8", {"zarr_format": 2, "compressor": None, "filters": [numcodecs.Delta("<f8")]}, False),
    "string": ("str", {"zarr_format": 3}, False),
}


class IntoCounter:
    """Counts decode_into calls that wrote a chunk: straight into the output (``written``), or
    into a codec thread's scratch chunk that is then copied out (``via_scratch``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.written = 0
        self.via_scratch = 0
        original = CodecPipeline.decode_into

        def counting(pipeline: CodecPipeline, data: Any, out: np.ndarray) -> bool:
            done = original(pipeline, data, out)
            scratch = getattr(cpu._SCRATCH, "buf", None)
            if scratch is not None and np.shares_memory(out, scratch):
                self.via_scratch += done
            else:
                self.written += done
            return done

        monkeypatch.setattr(CodecPipeline, "decode_into", counting)


def _values(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    if dtype == "str":
        return np.array([f"s{i}" for i in range(n)], dtype=object).reshape(shape)
    if dtype.startswith("M8"):
        return (np.arange(n) + 1_600_000_000).astype("M8[s]").reshape(shape)
    return (np.arange(n) % 251 * 3 - 100).astype(dtype).reshape(shape)


@pytest.fixture(params=["memory", "local", "s3"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "memory":
        return MemoryStore()
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return S3Store(bucket, "into", endpoint_url=endpoint, **S3_CREDENTIALS)


@pytest.mark.parametrize("case", list(CASES))
def test_decoding_into_the_output_reads_the_same(case: str, any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    dtype, kwargs, into = CASES[case]
    shape = (38, 7, 9)  # 38 full-row chunks along axis 0 (enough to stream), and an edge chunk of 2 rows
    z = azarr.open_array(any_store, mode="w", shape=shape, chunks=(4, 7, 9), dtype=dtype, **kwargs)
    data = _values(dtype, shape)
    z[4:36] = data[4:36]  # chunks 0 and 9 (the edge) stay unwritten: fill values
    expected = np.full(shape, z.fill_value, dtype=z.dtype) if dtype != "str" else np.full(shape, "", dtype=object)
    if dtype.startswith("M8") and z.fill_value is None:
        expected = np.full(shape, np.datetime64("NaT"), dtype=dtype)
    expected[4:36] = data[4:36]
    counter = IntoCounter(monkeypatch)
    r = azarr.open_array(any_store, mode="r")
    for sel in [(slice(None),), (slice(4, 36),), (slice(2, 30), slice(1, 6)), (slice(5, 6),), (3, slice(None))]:
        got = r[sel]
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected[sel])
    if isinstance(any_store, LocalStore) and case in ("v3-raw", "v2-raw", "v2-big-endian"):
        into = False  # raw chunk files are read straight into the output: nothing to decode
    assert (counter.written > 0) == into, counter.written
    if case == "v2-F":  # whole chunks F-ordered in a C-ordered output: decoded into scratch, copied out
        assert counter.via_scratch > 0
    if into:  # a whole read decodes its 8 stored whole chunks into the output, no more
        counter.written = 0
        r[...]
        assert counter.written == 8


def test_sharded_inner_chunks_decode_into_the_output(any_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    z = azarr.open_array(any_store, mode="w", shape=(64, 24), chunks=(2, 24), shards=(16, 24), dtype="f4",
                         compressors=[ZstdCodec()])
    data = np.arange(64 * 24, dtype="f4").reshape(64, 24)
    z[:60] = data[:60]
    expected = data.copy()
    expected[60:] = 0
    counter = IntoCounter(monkeypatch)
    np.testing.assert_array_equal(azarr.open_array(any_store, mode="r")[...], expected)
    assert counter.written == 30  # every stored inner chunk
    np.testing.assert_array_equal(azarr.open_array(any_store, mode="r")[5:40, 3:9], expected[5:40, 3:9])


def test_a_chunk_of_the_wrong_size_is_still_an_error_naming_it(tmp_path: Path) -> None:
    z = azarr.open_array(str(tmp_path / "a"), mode="w", shape=(8, 16), chunks=(2, 16), dtype="f4", compressors=None)
    z[...] = 1.5
    key = z.async_array.chunk_key((1, 0))
    (tmp_path / "a" / key).write_bytes(b"\0" * 100)  # a raw chunk of 128 bytes expected
    with pytest.raises(CodecError, match=key.replace(".", r"\.")):
        azarr.open_array(str(tmp_path / "a"), mode="r")[...]
    z2 = azarr.open_array(str(tmp_path / "b"), mode="w", shape=(8, 16), chunks=(2, 16), dtype="f4",
                          compressors=[ZstdCodec()])
    z2[...] = 1.5
    data = numcodecs.zstd.compress(np.zeros(40, "f4"), 1, False)  # a frame that states 160 bytes, not 128
    (tmp_path / "b" / key).write_bytes(data)
    with pytest.raises(CodecError, match=key.replace(".", r"\.")):
        azarr.open_array(str(tmp_path / "b"), mode="r")[...]


# --- local reads in the codec threads --------------------------------------------------------------


def test_local_read_sync_reads_into_a_buffer_when_it_fits(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    azarr.sync.run(store.set("a/k", b"0123456789"))
    (tmp_path / "d").mkdir()
    buf = bytearray(16)
    got = store.read_sync("a/k", buf)
    assert isinstance(got, memoryview) and bytes(got) == b"0123456789" and buf[:10] == b"0123456789"
    small = store.read_sync("a/k", bytearray(4))
    assert type(small) is bytes and small == b"0123456789"
    assert store.read_sync("a/k") == b"0123456789"
    assert store.read_sync("missing", buf) is None and store.read_sync("d", buf) is None
    with pytest.raises(InvalidKeyError):
        store.read_sync("../x", buf)
    mem = MemoryStore({"k": b"v"})
    assert mem.read_sync("k") is mem._data["k"]  # no copy


def test_only_unchanged_local_stores_are_read_in_threads() -> None:
    class Counting(MemoryStore):
        async def get_many(self, keys: Iterable[str], **kw: Any) -> dict[str, bytes]:
            return await super().get_many(keys, **kw)

    class Reading(MemoryStore):
        async def _get(self, key: str) -> bytes | None:
            return await super()._get(key)

    assert MemoryStore().reads_sync() and LocalStore("/tmp").reads_sync()
    assert not Counting().reads_sync() and not Reading().reads_sync()
    assert not S3Store("b", endpoint_url="http://127.0.0.1:1", key="k", secret="s").reads_sync()


def test_raw_local_chunks_are_read_straight_into_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    z = azarr.open_array(str(tmp_path), mode="w", shape=(64, 100), chunks=(4, 100), dtype="<f8", compressors=None)
    data = np.random.default_rng(1).standard_normal((64, 100))
    z[...] = data
    calls: list[Any] = []
    monkeypatch.setattr(CodecPipeline, "decode", lambda *a, **k: calls.append(a) or pytest.fail("decoded"))
    np.testing.assert_array_equal(azarr.open_array(str(tmp_path), mode="r")[...], data)
    assert not calls  # every chunk went from the file into the output


# --- streaming reads keep nothing ----------------------------------------------------------------


class PerKey(MemoryStore):
    """A MemoryStore read key by key (like an object store): the streaming path."""

    _get_batch = None  # type: ignore[assignment]


async def test_get_many_without_collecting_waits_for_its_consumer() -> None:
    store = PerKey({f"k{i}": b"x" * i for i in range(10)}, concurrency=3)
    seen: list[str] = []
    gate = asyncio.get_running_loop().create_future()

    def on_value(key: str, value: bytes) -> Any:
        seen.append(key)
        return gate

    reading = asyncio.ensure_future(store.get_many([f"k{i}" for i in range(10)] + ["nope"], on_value=on_value,
                                                   collect=False))
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(seen) == 3  # each of the 3 workers waits on the consumer after its first value
    gate.set_result(None)
    assert await reading == {}
    assert sorted(seen) == sorted(f"k{i}" for i in range(10))


def test_a_streaming_read_past_its_backlog_is_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunk_io, "EARLY_BACKLOG", 1)  # every chunk waits for the decoders
    store = PerKey()
    z = azarr.open_array(store, mode="w", shape=(50, 30), chunks=(5, 5), dtype="f4", compressors=[ZstdCodec()])
    data = np.arange(1500, dtype="f4").reshape(50, 30)
    z[:45] = data[:45]
    expected = data.copy()
    expected[45:] = 0
    np.testing.assert_array_equal(azarr.open_array(store, mode="r")[...], expected)


# --- replacing an array --------------------------------------------------------------------------


class Timed(Delegating):
    """Delegates to ``inner`` after ``delay`` per call, recording each call's (name, start, end)."""

    def __init__(self, inner: Store, delay: float = 0.05) -> None:
        super().__init__(concurrency=inner.concurrency)
        self.inner, self.delay = inner, delay
        self.log: list[tuple[str, float, float]] = []

    def _config(self) -> dict[str, Any]:
        return {}

    async def _timed(self, name: str, fn: Any) -> Any:
        t0 = time.monotonic()
        await asyncio.sleep(self.delay)
        out = await fn
        self.log.append((name, t0, time.monotonic()))
        return out

    async def get_many(self, keys: Iterable[str], **kw: Any) -> dict[str, bytes]:
        return await self._timed("get_many", self.inner.get_many(list(keys)))  # type: ignore[no-any-return]

    async def set_many(self, items: Mapping[str, Any]) -> None:
        await self._timed("set_many", self.inner.set_many(items))

    async def set(self, key: str, value: Any) -> None:
        await self._timed("set", self.inner.set(key, value))

    async def delete_many(self, keys: Iterable[str]) -> None:
        await self._timed("delete_many", self.inner.delete_many(list(keys)))

    async def list_prefix(self, prefix: str = "") -> AsyncIterator[str]:
        async def collect() -> list[str]:
            return [k async for k in self.inner.list_prefix(prefix)]

        for key in await self._timed("list_prefix", collect()):
            yield key



def _chain(log: list[tuple[str, float, float]]) -> int:
    """The longest chain of calls each started after the previous one ended."""
    depth: list[int] = []
    for i, (_, start, _) in enumerate(log):
        depth.append(1 + max([depth[j] for j, (_, _, end) in enumerate(log[:i]) if end <= start], default=0))
    return max(depth, default=0)


async def test_replacing_an_array_deletes_while_it_writes() -> None:
    inner = MemoryStore()
    old = await aio.open_array(inner, mode="w", path="g/a", shape=(40, 40), chunks=(10, 10), dtype="f8",
                               zarr_format=2, attributes={"old": True})
    await old.setitem(..., np.ones((40, 40)))
    store = Timed(inner)
    new = await aio.open_array(store, mode="w", path="g/a", shape=(20,), chunks=(5,), dtype="i2", zarr_format=3)
    log = sorted(store.log, key=lambda e: e[1])
    first = {name for name, _, _ in log[:-2]}
    assert first == {"get_many", "list_prefix"} and {name for name, _, _ in log[-2:]} == {"delete_many", "set_many"}
    assert _chain(log) == 2  # [read the lineage | list] then [delete the old keys | write the new documents]
    assert sorted(k for k in inner._data if k.startswith("g/a/")) == ["g/a/zarr.json"]
    await new.setitem(slice(5, 10), np.arange(5, dtype="i2"))
    assert sorted(k for k in inner._data if k.startswith("g/a/")) == ["g/a/c/1", "g/a/zarr.json"]


def test_replacing_leaves_nothing_stale(any_store: Store) -> None:
    old = azarr.open_array(any_store, mode="w", path="arr", shape=(30, 30), chunks=(10, 10), dtype="f8",
                           zarr_format=2, attributes={"old": 1})
    old[...] = 7.0
    azarr.open_group(any_store, mode="w", path="arr2")  # a sibling sharing the prefix "arr"
    sub = azarr.open_array(any_store, mode="w", path="grp/child", shape=(4,), chunks=(2,), dtype="u1")
    sub[...] = 3
    for path, shape, chunks in [("arr", (25, 25), (10, 10)), ("grp", (6,), (3,))]:
        new = azarr.open_array(any_store, mode="w", path=path, shape=shape, chunks=chunks, dtype="f4",
                               fill_value=-1.0, zarr_format=3)
        region = (slice(0, 10),) * len(shape)
        new[region] = 2.0
        expected = np.full(shape, -1.0, "f4")
        expected[region] = 2.0
        np.testing.assert_array_equal(azarr.open_array(any_store, mode="r", path=path)[...], expected)
        assert azarr.open_array(any_store, mode="r", path=path).attrs.asdict() == {}
    keys = sorted(k for k in azarr.sync.run(any_store.list()) if k.startswith(("arr/", "grp/")))
    assert keys == ["arr/c/0/0", "arr/zarr.json", "grp/c/0", "grp/c/1", "grp/zarr.json"]
    assert azarr.sync.run(any_store.list_dir("arr2")) == ([".zgroup"], [])  # the sibling is untouched


async def test_a_create_that_must_not_replace_leaves_no_listing_behind() -> None:
    store = MemoryStore()
    await aio.open_array(store, mode="w", shape=(4,), chunks=(2,), dtype="u1")
    with pytest.raises(azarr.errors.ContainsArrayError):
        await aio.create(shape=(4,), store=store, overwrite=False)
    fresh = await aio.open_array(MemoryStore(), mode="w", path="fresh/x", shape=(4,), chunks=(2,), dtype="u1")
    assert fresh.shape == (4,)
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


# --- the lean S3 listing, stores shared by URL ---------------------------------------------------------


def test_lean_listing_keeps_odd_keys(s3_endpoint: str, s3_bucket: str) -> None:
    odd = ["x/a b+c", "x/ü&<>'\".json", "x/%2F", "x/tab\there", "x/plain"]
    for fast in (True, False):
        store = S3Store(s3_bucket, f"odd{fast}", endpoint_url=s3_endpoint, fast_path=fast, **S3_CREDENTIALS)
        azarr.sync.run(store.set_many({k: b"1" for k in odd}))
        assert azarr.sync.run(store.list()) == sorted(odd)
        azarr.sync.run(store.delete_many(odd))
        assert azarr.sync.run(store.list()) == []


def test_stores_opened_from_equal_urls_are_shared(s3_endpoint: str, s3_bucket: str) -> None:
    opts = {"endpoint_url": s3_endpoint, **S3_CREDENTIALS}
    a = from_url(f"s3://{s3_bucket}/p", **opts)
    assert from_url(f"s3://{s3_bucket}/p", **opts) is a
    assert from_url(f"s3://{s3_bucket}/q", **opts) is not a
    assert from_url(f"s3://{s3_bucket}/p", read_only=True, **opts) is not a
    azarr.sync.run(a.close())
    assert from_url(f"s3://{s3_bucket}/p", **opts) is not a  # a closed store is not handed out again


# --- key checks, writes from views ------------------------------------------------------------------


def _reference_key_check(key: str) -> bool:
    if not key or "\x00" in key or key.startswith("/") or "\\" in key or (len(key) > 1 and key[1] == ":"):
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


def test_the_one_pattern_key_check_agrees_with_the_rules() -> None:
    for n in range(7):
        for chars in itertools.product(["a", ".", "/", ":", "\\", "\x00", "\n"], repeat=n):
            key = "".join(chars)
            try:
                validate_key(key)
                accepted = True
            except InvalidKeyError:
                accepted = False
            assert accepted == _reference_key_check(key), repr(key)


def test_contiguous_blocks_are_encoded_from_the_callers_array(monkeypatch: pytest.MonkeyPatch) -> None:
    data = np.random.default_rng(2).standard_normal((40, 30)).astype("f4")
    allocations: list[Any] = []
    real = chunk_io.allocate
    monkeypatch.setattr(chunk_io, "allocate", lambda *a, **k: allocations.append(a) or real(*a, **k))
    rows = MemoryStore()
    z = azarr.open_array(rows, mode="w", shape=(40, 30), chunks=(4, 30), dtype="f4", compressors=[ZstdCodec()])
    z[...] = data
    assert not [a for a in allocations if a[0] == (4, 30)]  # no chunk was copied out of ``data``
    copied = MemoryStore()
    z2 = azarr.open_array(copied, mode="w", shape=(40, 30), chunks=(4, 30), dtype="f4", compressors=[ZstdCodec()])
    z2[...] = np.asfortranarray(data)  # not C-contiguous: copied into chunks
    assert [a for a in allocations if a[0] == (4, 30)]
    assert {k: v for k, v in rows._data.items() if "/" in k} == {k: v for k, v in copied._data.items() if "/" in k}
    np.testing.assert_array_equal(z[...], data)


# --- values sent from reused buffers ------------------------------------------------------------


async def test_a_bytearray_is_sent_as_given_only_where_nothing_is_kept(s3_endpoint: str, s3_bucket: str) -> None:
    """S3 (the lean path keeps nothing of a value) sends a bytearray without copying it; a store
    that keeps values (memory) copies it, so changing the buffer afterwards changes nothing stored."""
    s3 = S3Store(s3_bucket, "buffers", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    memory = MemoryStore()
    assert s3.sends_buffers and not memory.sends_buffers
    try:
        for store in (s3, memory):
            buf = bytearray(b"abc" * 100_000)
            await store.set("one", buf)
            await store.set_many({"two": buf, "three": bytes(buf)})
            buf[:3] = b"XYZ"  # the caller reuses its buffer once set has returned
            for key in ("one", "two", "three"):
                assert await store.get(key) == b"abc" * 100_000, (store, key)
    finally:
        await s3.close()

    class Recording(S3Store):  # overrides _set, so it may keep what it is given
        async def _set(self, key: str, value: bytes) -> None:
            assert type(value) is bytes
            await super()._set(key, value)

    recording = Recording(s3_bucket, "buffers", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    try:
        assert not recording.sends_buffers
        await recording.set("four", bytearray(b"xyz"))
        assert await recording.get("four") == b"xyz"
    finally:
        await recording.close()


def test_sharded_writes_from_reused_buffers_keep_every_shard(any_store: Store) -> None:
    """Whole shards are assembled in pooled buffers for stores that send them: writes one after
    another (buffers reused between them) and a partial-shard rewrite all read back exactly."""
    from azarr.core.shard_io import SHARD_BUFFERS

    shape, shards = (256, 192), (64, 96)
    z = azarr.open_array(any_store, mode="w", shape=shape, chunks=(16, 32), shards=shards, dtype="f4",
                         compressors=[ZstdCodec(level=1)])
    rng = np.random.default_rng(7)
    for round_ in range(3):
        data = rng.standard_normal(shape).astype("f4")
        z[...] = data
        np.testing.assert_array_equal(azarr.open_array(any_store, mode="r")[...], data, err_msg=f"round {round_}")
    data[10:20, 100:150] = 5.0
    z[10:20, 100:150] = 5.0  # partial shards: read, merged, rewritten
    np.testing.assert_array_equal(azarr.open_array(any_store, mode="r")[...], data)
    if any_store.sends_buffers:
        assert SHARD_BUFFERS._buffers  # the shards went out from the pool's buffers
