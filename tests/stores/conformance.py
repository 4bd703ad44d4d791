"""StoreTests: the one conformance suite every store backend must pass.

A backend's test module subclasses :class:`StoreTests` and provides:

* ``store_factory`` (a pytest fixture returning a callable ``factory(**options) ->
  Store``). Every store the factory makes points at the SAME fresh, empty location for
  the test (so a read-only store made by it sees what a writable one wrote);
* ``raw_set(store, key, value)`` / ``raw_get(store, key)``: async hooks that bypass the
  store under test (talk to the backend directly: the file system, the server's own
  client, ...), so the store is checked against the truth, not against itself;
* ``raw_delete(store, key)``: delete bypassing the store (for the compare-and-swap tests
  of writable backends);
* optionally ``broken_store(factory)``: a store of this backend whose backend fails
  (e.g. a closed port). The default makes the backend's primitives raise ``OSError``.

Nothing here may be skipped: a backend that cannot pass a test must fix the backend.
"""

from __future__ import annotations

import asyncio
import contextvars
import pickle
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from azarr.errors import ConditionalWriteUnsupportedError, InvalidKeyError, ReadOnlyError, StoreError
from azarr.stores.base import ABSENT, RetryPolicy, Store, Version
from azarr.stores.ranges import ByteRange, InvalidRangeError, Range, RangeRequest, SuffixRange

Factory = Callable[..., Store]


class InFlightCounter:
    """Wraps a store's backend primitives and records how many run at once.

    A primitive that calls another one (a ranged GET that asks whether a key exists, a
    ranged batch built on the key batch) is one request slot: only the outermost call of a
    task is counted.
    """

    PRIMITIVES = (
        "_get", "_get_range", "_get_suffix", "_set", "_delete", "_exists",
        "_get_batch", "_get_ranges_batch", "_set_batch", "_delete_batch",
    )

    def __init__(self, store: Store, delay: float = 0.01) -> None:
        self.current = 0
        self.peak = 0
        self.calls = 0
        self._inside: contextvars.ContextVar[bool] = contextvars.ContextVar("inside", default=False)
        for name in self.PRIMITIVES:
            fn = getattr(store, name, None)
            if fn is not None:
                setattr(store, name, self._wrap(fn, delay))

    def _wrap(self, fn: Callable[..., Any], delay: float) -> Callable[..., Any]:
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            if self._inside.get():
                return await fn(*args, **kwargs)
            token = self._inside.set(True)
            self.current += 1
            self.calls += 1
            self.peak = max(self.peak, self.current)
            try:
                await asyncio.sleep(delay)  # hold the slot so overlap is observable
                return await fn(*args, **kwargs)
            finally:
                self.current -= 1
                self._inside.reset(token)

        return wrapped


def unhedged(store: Store) -> Store:
    """``store`` with hedging off, for tests that count its concurrency limit: a hedged
    duplicate is an extra request by design, bounded by the hedging budget, not the limit."""
    store.hedger = None
    return store


# --- compare-and-swap ---------------------------------------------------------------------


async def cas_add(store: Store, key: str, tokens: list[str]) -> int:
    """Add each token to the set stored under ``key`` (space-separated), each by a read +
    conditional write redone on conflict; return how many conflicts were redone.

    A redo first checks whether its token is there already: a conditional write retried
    after a transport failure may report a conflict although it landed (the contract
    allows it), and the check keeps that from counting twice, as a region merge would.
    """
    conflicts = 0
    for token in tokens:
        while True:
            current = await store.get_for_update(key)
            members = set((current.data or b"").decode().split())
            if token in members:
                break
            await asyncio.sleep(0)  # let other writers run between the read and the write
            new = " ".join(sorted(members | {token})).encode()
            if await store.set_if(key, new, current.version):
                break
            conflicts += 1
    return conflicts


def _tokens(writer: int, count: int) -> list[str]:
    return [f"w{writer}-{i}" for i in range(count)]


def _add_in_process(blob: bytes, key: str, tokens: list[str]) -> int:
    """Child-process side of the cross-process test."""
    store = pickle.loads(blob)

    async def main() -> int:
        try:
            return await cas_add(store, key, tokens)
        finally:
            await store.close()

    return asyncio.run(main())


class ConditionalWriteTests:
    """Compare-and-swap behaviour, mixed into :class:`StoreTests` (same hooks)."""

    writable: bool
    shared_across_processes: bool

    def cas_refused(self, store: Store) -> bool:
        """For a backend without compare-and-swap, check it says so clearly; True means "stop here"."""
        if store.supports_conditional_writes:
            assert self.writable
            return False
        assert not self.writable, "every writable backend must support conditional writes"
        return True

    async def test_cas_create_update_delete(self, store: Store) -> None:
        if self.cas_refused(store):
            with pytest.raises(ConditionalWriteUnsupportedError, match="cas/k"):
                await store.get_for_update("cas/k")
            with pytest.raises((ConditionalWriteUnsupportedError, ReadOnlyError)):
                await store.set_if("cas/k", b"v", ABSENT)
            return
        missing = await store.get_for_update("cas/k")
        assert missing.data is None and missing.version is ABSENT and not missing.exists
        assert await store.set_if("cas/k", b"one", missing.version)
        assert await self.raw_get(store, "cas/k") == b"one"
        first = await store.get_for_update("cas/k")
        assert first.data == b"one" and first.exists
        assert (await store.get_for_update("cas/k")).version == first.version  # unchanged key, same version
        assert await store.set_if("cas/k", bytearray(b"two"), first.version)
        assert await self.raw_get(store, "cas/k") == b"two"
        second = await store.get_for_update("cas/k")
        assert second.data == b"two"
        assert await store.set_if("cas/k", None, second.version)  # a conditional delete
        assert await self.raw_get(store, "cas/k") is None
        assert await store.set_if("cas/k", None, ABSENT)  # "delete if still absent": nothing to do
        await self.raw_set(store, "cas/empty", b"")
        empty = await store.get_for_update("cas/empty")
        assert empty.data == b"" and empty.exists and empty.version is not ABSENT
        assert await store.set_if("cas/empty", b"filled", empty.version)
        assert await self.raw_get(store, "cas/empty") == b"filled"

    async def test_cas_conflict_when_changed(self, store: Store) -> None:
        if self.cas_refused(store):
            return
        await self.raw_set(store, "cas/c", b"base")
        read = await store.get_for_update("cas/c")
        await self.raw_set(store, "cas/c", b"someone else")
        assert not await store.set_if("cas/c", b"mine", read.version)
        assert await self.raw_get(store, "cas/c") == b"someone else"  # nothing written
        assert not await store.set_if("cas/c", None, read.version)  # a stale delete conflicts too
        assert await self.raw_get(store, "cas/c") == b"someone else"

    async def test_cas_conflict_when_created(self, store: Store) -> None:
        if self.cas_refused(store):
            return
        read = await store.get_for_update("cas/new")
        assert read.version is ABSENT
        await self.raw_set(store, "cas/new", b"theirs")
        assert not await store.set_if("cas/new", b"mine", read.version)
        assert await self.raw_get(store, "cas/new") == b"theirs"
        assert not await store.set_if("cas/new", None, ABSENT)  # "delete if absent" on an existing key

    async def test_cas_conflict_when_deleted(self, store: Store) -> None:
        if self.cas_refused(store):
            return
        await self.raw_set(store, "cas/d", b"base")
        read = await store.get_for_update("cas/d")
        await self.raw_delete(store, "cas/d")
        assert not await store.set_if("cas/d", b"mine", read.version)
        assert await self.raw_get(store, "cas/d") is None
        assert not await store.set_if("cas/d", None, read.version)
        assert await self.raw_get(store, "cas/d") is None

    async def test_cas_must_not_exist_on_existing_key(self, store: Store) -> None:
        if self.cas_refused(store):
            return
        await self.raw_set(store, "cas/e", b"exists")
        assert not await store.set_if("cas/e", b"mine", ABSENT)
        assert await self.raw_get(store, "cas/e") == b"exists"

    async def test_cas_batch_reports_exactly_the_conflicts(self, store: Store) -> None:
        if self.cas_refused(store):
            with pytest.raises((ConditionalWriteUnsupportedError, ReadOnlyError)):
                await store.set_many_if({"b/0": (b"x", ABSENT)})
            return
        await self.raw_set_many(store, {f"b/{i}": f"old{i}".encode() for i in range(8)})
        keys = [f"b/{i}" for i in range(10)]  # b/8 and b/9 are missing
        read = await store.get_many_for_update(keys)
        assert set(read) == set(keys)
        assert read["b/3"].data == b"old3" and read["b/9"].data is None and read["b/9"].version is ABSENT
        await self.raw_set(store, "b/1", b"changed")
        await self.raw_delete(store, "b/2")
        await self.raw_set(store, "b/8", b"created")
        items: dict[str, tuple[bytes | None, Version]] = {
            "b/0": (b"new0", read["b/0"].version),  # written
            "b/1": (b"new1", read["b/1"].version),  # changed since: conflict
            "b/2": (b"new2", read["b/2"].version),  # deleted since: conflict
            "b/3": (None, read["b/3"].version),  # deleted
            "b/4": (b"new4", ABSENT),  # exists: conflict
            "b/5": (None, read["b/1"].version),  # someone else's version: conflict
            "b/8": (b"new8", read["b/8"].version),  # created since: conflict
            "b/9": (b"new9", read["b/9"].version),  # created
        }
        conflicts = await store.set_many_if(items)
        assert conflicts == {"b/1", "b/2", "b/4", "b/5", "b/8"}
        expected = {"b/0": b"new0", "b/1": b"changed", "b/2": None, "b/3": None, "b/4": b"old4",
                    "b/5": b"old5", "b/6": b"old6", "b/8": b"created", "b/9": b"new9"}
        for key, value in expected.items():
            assert await self.raw_get(store, key) == value, key
        assert await store.set_many_if({}) == set()

    async def test_cas_large_batch(self, store: Store) -> None:
        if self.cas_refused(store):
            return
        # more than one native batch; a backend without one sends a request per key anyway
        keys = [f"big/{i}" for i in range(1100 if store._set_if_batch is not None else 150)]
        read = await store.get_many_for_update(keys)
        assert all(v.version is ABSENT for v in read.values())
        assert await store.set_many_if({k: (k.encode(), read[k].version) for k in keys}) == set()
        again = await store.get_many_for_update(keys)
        assert all(again[k].data == k.encode() for k in keys)
        stale = {k: (b"late", read[k].version) for k in keys}  # versions from before the writes
        assert await store.set_many_if(stale) == set(keys)
        assert await self.raw_get(store, keys[-1]) == keys[-1].encode()

    async def test_cas_refused_when_read_only(self, store_factory: Factory) -> None:
        writer = store_factory()
        if self.cas_refused(writer):
            return
        reader = store_factory(read_only=True)
        with pytest.raises(ReadOnlyError):
            await reader.set_if("ro/cas", b"v", ABSENT)
        with pytest.raises(ReadOnlyError):
            await reader.set_many_if({"ro/cas": (b"v", ABSENT)})
        assert await self.raw_get(writer, "ro/cas") is None
        await reader.close()
        await writer.close()

    async def test_cas_no_lost_update_with_concurrent_writers(self, store_factory: Factory) -> None:
        first, second = store_factory(), store_factory()
        if self.cas_refused(first):
            return
        try:
            writers = [(first, second)[w % 2] for w in range(6)]
            conflicts = await asyncio.gather(*(cas_add(s, "set", _tokens(w, 15)) for w, s in enumerate(writers)))
            stored = (await self.raw_get(first, "set") or b"").decode().split()
            assert sorted(stored) == sorted(t for w in range(6) for t in _tokens(w, 15))  # none lost, none twice
            assert sum(conflicts) > 0  # the writers did collide, and the losers redid their merge
        finally:
            await first.close()
            await second.close()

    async def test_cas_no_lost_update_across_processes(self, store: Store) -> None:
        if self.cas_refused(store) or not self.shared_across_processes:
            return
        import concurrent.futures
        import multiprocessing

        blob = pickle.dumps(store)
        ctx = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(3, mp_context=ctx) as pool:
            runs = [asyncio.wrap_future(pool.submit(_add_in_process, blob, "proc/set", _tokens(w, 20))) for w in range(3)]
            await asyncio.gather(*runs)
        stored = (await self.raw_get(store, "proc/set") or b"").decode().split()
        assert sorted(stored) == sorted(t for w in range(3) for t in _tokens(w, 20))


class StoreTests(ConditionalWriteTests):
    """Shared behaviour tests; subclass and provide the fixtures/hooks above.

    Read tests set data up through ``raw_set`` so read-only backends (HTTP) run them
    all; write tests on a backend with ``writable = False`` assert that the write is
    refused with ReadOnlyError instead.
    """

    #: False for backends that can never write (HTTPStore)
    writable = True
    #: False for backends that cannot list keys (HTTPStore without an index)
    listable = True
    #: False where a pickled store is a copy, not a view of the same data (MemoryStore)
    shared_across_processes = True

    async def raw_set_many(self, store: Store, items: dict[str, bytes]) -> None:
        """Raw-write many keys: raw_set calls (blocking clients) spread over 16 threads."""
        from concurrent.futures import ThreadPoolExecutor

        def one(kv: tuple[str, bytes]) -> None:
            asyncio.run(self.raw_set(store, *kv))

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(one, items.items()))

    def refused(self, store: Store) -> bool:
        """For a read-only backend, check that a write is refused; True means "stop here"."""
        if self.writable:
            return False
        assert store.read_only or not store.supports_writes
        return True

    # --- hooks a backend provides ---------------------------------------------------

    @pytest.fixture
    def store_factory(self) -> Factory:  # pragma: no cover - must be overridden
        raise NotImplementedError("StoreTests subclasses must provide a store_factory fixture")

    async def raw_set(self, store: Store, key: str, value: bytes) -> None:  # pragma: no cover
        raise NotImplementedError

    async def raw_get(self, store: Store, key: str) -> bytes | None:  # pragma: no cover
        raise NotImplementedError

    async def raw_delete(self, store: Store, key: str) -> None:  # pragma: no cover
        raise NotImplementedError

    async def broken_store(self, factory: Factory) -> Store:
        """A store whose backend fails on every request (default: primitives raise OSError)."""
        store = factory(retry=RetryPolicy(attempts=2, base_delay=0.001))

        async def boom(*args: Any, **kwargs: Any) -> Any:
            raise OSError(5, "simulated backend I/O failure")

        for name in InFlightCounter.PRIMITIVES:
            if getattr(store, name, None) is not None:
                setattr(store, name, boom)
        return store

    # --- fixtures -----------------------------------------------------------------------

    @pytest.fixture
    async def store(self, store_factory: Factory) -> Any:
        store = store_factory()
        yield store
        await store.close()

    # --- get / set / missing ------------------------------------------------------------

    async def test_set_then_raw_get(self, store: Store) -> None:
        if self.refused(store):
            with pytest.raises(ReadOnlyError):
                await store.set("a/b/.zarray", b"{}")
            return
        await store.set("a/b/.zarray", b"{}")
        await store.set("c", bytearray(b"\x00\x01\x02"))
        assert await self.raw_get(store, "a/b/.zarray") == b"{}"
        assert await self.raw_get(store, "c") == b"\x00\x01\x02"

    async def test_raw_set_then_get(self, store: Store) -> None:
        await self.raw_set(store, "x/0.0", b"chunk-bytes")
        assert await store.get("x/0.0") == b"chunk-bytes"
        assert await store.exists("x/0.0")

    async def test_missing_key_is_none(self, store: Store) -> None:
        assert await store.get("nope") is None
        assert await store.get("deep/nope/0.0") is None
        assert await store.exists("nope") is False
        assert await store.get_range("nope", 0, 10) is None

    async def test_overwrite(self, store: Store) -> None:
        if self.refused(store):
            await self.raw_set(store, "k", b"one")
            with pytest.raises(ReadOnlyError):
                await store.set("k", b"two")
            assert await store.get("k") == b"one"
            return
        await store.set("k", b"one")
        await store.set("k", b"two-longer")
        assert await store.get("k") == b"two-longer"
        await store.set("k", b"3")
        assert await self.raw_get(store, "k") == b"3"

    async def test_empty_and_binary_values(self, store: Store) -> None:
        blob = bytes(range(256)) * 40
        await self.raw_set(store, "empty", b"")
        await self.raw_set(store, "blob", blob)
        assert await store.get("empty") == b""
        assert await store.exists("empty")
        assert await store.get("blob") == blob

    async def test_memoryview_value(self, store: Store) -> None:
        import numpy as np

        arr = np.arange(10, dtype="<i4")
        if self.refused(store):
            with pytest.raises(ReadOnlyError):
                await store.set("mv", memoryview(arr))
            return
        await store.set("mv", memoryview(arr))
        assert await store.get("mv") == arr.tobytes()

    async def test_delete(self, store: Store) -> None:
        await self.raw_set(store, "d/1", b"1")
        await self.raw_set(store, "d/2", b"2")
        if self.refused(store):
            with pytest.raises(ReadOnlyError):
                await store.delete("d/1")
            assert await store.get("d/1") == b"1"
            return
        await store.delete("d/1")
        assert await store.get("d/1") is None
        assert await self.raw_get(store, "d/1") is None
        assert await store.get("d/2") == b"2"
        await store.delete("d/never-existed")  # not an error

    # --- byte ranges --------------------------------------------------------------------

    async def test_get_range(self, store: Store) -> None:
        await self.raw_set(store, "r", b"0123456789")
        assert await store.get_range("r", 0, 4) == b"0123"
        assert await store.get_range("r", 3, 7) == b"3456"
        assert await store.get_range("r", 5) == b"56789"
        assert await store.get_range("r", 5, None) == b"56789"
        assert await store.get_range("r", 8, 100) == b"89"  # past the end: truncated
        assert await store.get_range("r", 10, 20) == b""
        assert await store.get_range("r", 15, 20) == b""
        assert await store.get_range("r", 4, 4) == b""
        assert await store.get_range("r", -3) == b"789"  # suffix

    async def test_bad_range_raises(self, store: Store) -> None:
        await self.raw_set(store, "r", b"0123456789")
        with pytest.raises(StoreError):
            await store.get_range("r", 5, 2)

    # --- batched byte ranges (get_ranges) -------------------------------------------------

    #: every kind of range against the 10-byte value b"0123456789"
    RANGE_CASES: ClassVar[dict[Range, bytes]] = {
        SuffixRange(3): b"789",  # suffix shorter than the value
        SuffixRange(10): b"0123456789",  # equal to it
        SuffixRange(25): b"0123456789",  # longer: the whole value
        SuffixRange(0): b"",
        ByteRange(2, 6): b"2345",  # inside
        ByteRange(0, 10): b"0123456789",
        ByteRange(7, 15): b"789",  # crossing the end: truncated
        ByteRange(12, 20): b"",  # past the end
        ByteRange(10, 11): b"",  # start == len
        ByteRange(10): b"",
        ByteRange(4): b"456789",
        ByteRange(0): b"0123456789",
        ByteRange(3, 3): b"",
        ByteRange(9, 10): b"9",
    }

    async def test_get_ranges_of_a_value(self, store: Store) -> None:
        await self.raw_set(store, "r/v", b"0123456789")
        got = await store.get_ranges([("r/v", rng) for rng in self.RANGE_CASES])
        assert got == {("r/v", rng): want for rng, want in self.RANGE_CASES.items()}

    async def test_get_ranges_of_an_empty_value(self, store: Store) -> None:
        await self.raw_set(store, "r/empty", b"")
        got = await store.get_ranges([("r/empty", rng) for rng in self.RANGE_CASES])
        assert got == {("r/empty", rng): b"" for rng in self.RANGE_CASES}  # present, never missing
        assert await store.get_ranges([("r/empty", None)]) == {("r/empty", None): b""}

    async def test_get_ranges_missing_keys_are_absent(self, store: Store) -> None:
        await self.raw_set_many(store, {"m/a": b"abcdef", "m/b": b"xyz"})
        requests: list[RangeRequest] = [
            ("m/a", ByteRange(1, 3)), ("m/gone", ByteRange(0, 2)), ("m/b", SuffixRange(2)),
            ("m/gone", SuffixRange(4)), ("m/gone", None), ("deep/gone/0.0", ByteRange(0)), ("m/b", ByteRange(5)),
        ]
        got = await store.get_ranges(requests)
        assert got == {("m/a", ByteRange(1, 3)): b"bc", ("m/b", SuffixRange(2)): b"yz", ("m/b", ByteRange(5)): b""}
        assert await store.get_ranges([("m/gone", ByteRange(0, 1)), ("m/gone", SuffixRange(1))]) == {}
        assert await store.get_ranges([]) == {}

    async def test_get_ranges_whole_range_and_suffix_of_one_key(self, store: Store) -> None:
        await self.raw_set_many(store, {"w/a": b"0123456789", "w/b": b"abcdefghij"})
        requests: list[RangeRequest] = [
            ("w/a", ByteRange(1, 4)), ("w/a", None), ("w/a", SuffixRange(2)), ("w/a", ByteRange(8, 50)),
            ("w/b", ByteRange(0, 2)), ("w/b", SuffixRange(3)), ("w/b", ByteRange(20)),
        ]
        assert await store.get_ranges(requests) == {
            ("w/a", ByteRange(1, 4)): b"123", ("w/a", None): b"0123456789", ("w/a", SuffixRange(2)): b"89",
            ("w/a", ByteRange(8, 50)): b"89",
            ("w/b", ByteRange(0, 2)): b"ab", ("w/b", SuffixRange(3)): b"hij", ("w/b", ByteRange(20)): b"",
        }

    async def test_get_ranges_duplicates_read_once(self, store_factory: Factory) -> None:
        store = store_factory()
        await self.raw_set(store, "dup/r", b"0123456789")
        counter = InFlightCounter(store, delay=0)
        got = await store.get_ranges([("dup/r", ByteRange(2, 5))] * 3 + [("dup/r", ByteRange(2, 5))])
        assert got == {("dup/r", ByteRange(2, 5)): b"234"}
        assert counter.calls == 1, counter.calls  # one backend request, not four
        await store.close()

    async def test_get_ranges_large_batch_honours_the_limit(self, store_factory: Factory) -> None:
        store = unhedged(store_factory(concurrency=6))
        values = {f"lb/{i}": bytes(range(i, i + 64)) for i in range(25)}
        await self.raw_set_many(store, values)
        requests: list[RangeRequest] = []
        for i in range(2000):  # thousands of requests: 80 ranges of each of 25 keys
            key = f"lb/{i % 25}"
            a = (i // 25) % 64
            requests.append((key, SuffixRange(a) if i % 3 == 0 else ByteRange(a, a + 1 + i % 7)))
        counter = InFlightCounter(store, delay=0)
        got = await store.get_ranges(requests)
        want = {}
        for key, rng in requests:
            value = values[key]
            want[(key, rng)] = value[len(value) - rng.length :] if isinstance(rng, SuffixRange) else value[rng.start : rng.end]  # type: ignore[union-attr]
        assert got == want
        assert counter.peak <= 6 and store.limiter.max_in_flight <= 6, (counter.peak, store.limiter.max_in_flight)
        await store.close()

    async def test_get_ranges_limit_shared_with_other_calls(self, store_factory: Factory) -> None:
        store = unhedged(store_factory(concurrency=2))
        await self.raw_set_many(store, {f"sr/{i}": b"0123456789" for i in range(20)})
        counter = InFlightCounter(store)
        results = await asyncio.gather(
            store.get_ranges([(f"sr/{i}", ByteRange(1, 3)) for i in range(10)]),
            store.get_ranges([(f"sr/{i}", SuffixRange(2)) for i in range(10, 20)]),
            store.get_many([f"sr/{i}" for i in range(20)]),
        )
        assert [len(r) for r in results] == [10, 10, 20]
        assert counter.peak <= 2, counter.peak
        await store.close()

    async def test_get_ranges_on_value_streams_each_result(self, store_factory: Factory) -> None:
        store = store_factory(concurrency=2)
        await self.raw_set_many(store, {f"st/{i}": bytes([i]) * (i + 1) for i in range(12)})
        counter = InFlightCounter(store)
        seen: list[tuple[RangeRequest, bytes]] = []
        calls_when_seen: list[int] = []

        def on_value(request: RangeRequest, data: bytes) -> None:
            seen.append((request, data))
            calls_when_seen.append(counter.calls)

        requests: list[RangeRequest] = [(f"st/{i}", ByteRange(0, 1 + i // 2)) for i in range(12)]
        got = await store.get_ranges(requests + [("st/missing", ByteRange(0, 1))], on_value=on_value)
        assert got == {(k, r): bytes([int(k[3:])]) * (1 + int(k[3:]) // 2) for k, r in requests}
        assert sorted(seen, key=repr) == sorted(got.items(), key=repr)  # each result once, no missing
        # the first results reached the caller while later requests were still to be sent
        # (a backend that read everything in one native batch made a single request)
        assert counter.calls == 1 or calls_when_seen[0] < counter.calls, (calls_when_seen, counter.calls)
        await store.close()

    async def test_get_ranges_invalid_requests(self, store: Store) -> None:
        with pytest.raises(InvalidRangeError):
            ByteRange(5, 2)
        with pytest.raises(InvalidRangeError):
            ByteRange(-1)
        with pytest.raises(InvalidRangeError):
            SuffixRange(-3)
        with pytest.raises(InvalidRangeError, match="must be an integer"):
            ByteRange(1.5)  # type: ignore[arg-type]
        with pytest.raises(InvalidRangeError) as info:
            await store.get_ranges([("k/0", (0, 4))])  # type: ignore[list-item]
        assert "k/0" in str(info.value) and info.value.key == "k/0" and info.value.store == store.name
        with pytest.raises(InvalidRangeError) as info2:
            await store.get_range("k/1", 5, 2)
        assert "k/1" in str(info2.value) and store.name in str(info2.value)
        with pytest.raises(InvalidRangeError):
            await store.get_range("k/1", -5, 2)  # a suffix has no end
        with pytest.raises(InvalidKeyError):
            await store.get_ranges([("../escape", ByteRange(0, 1))])

    async def test_get_ranges_backend_error_raises(self, store_factory: Factory) -> None:
        store = await self.broken_store(store_factory)
        requests: list[RangeRequest] = [("some/key", ByteRange(0, 4)), ("other/key", SuffixRange(2)), ("third", None)]
        with pytest.raises(StoreError) as info:
            await store.get_ranges(requests)
        assert not isinstance(info.value, InvalidRangeError)
        with pytest.raises(StoreError):
            await store.get_range("some/key", 0, 4)
        with pytest.raises(StoreError):
            await store.get_range("some/key", -4)
        await store.close()

    # --- batches ------------------------------------------------------------------------

    async def test_set_many(self, store: Store) -> None:
        items = {f"arr/{i}.{j}": f"{i},{j}".encode() for i in range(7) for j in range(5)}
        if self.refused(store):
            with pytest.raises(ReadOnlyError):
                await store.set_many(items)
            return
        await store.set_many(items)
        for key in ("arr/0.0", "arr/6.4"):
            assert await self.raw_get(store, key) == items[key]
        assert await store.get_many(list(items)) == items

    async def test_get_many(self, store: Store) -> None:
        items = {f"arr/{i}.{j}": f"{i},{j}".encode() for i in range(7) for j in range(5)}
        await self.raw_set_many(store, items)
        got = await store.get_many(list(items) + ["arr/missing", "other/0"])
        assert got == items
        assert await store.get_many([]) == {}

    async def test_get_many_on_value_streams_each_found_key(self, store: Store) -> None:
        items = {f"stream/{i}": bytes([i]) * (i + 1) for i in range(40)}
        await self.raw_set_many(store, items)
        seen: list[tuple[str, bytes]] = []
        got = await store.get_many(list(items) + ["stream/missing"], on_value=lambda k, v: seen.append((k, v)))
        assert got == items
        assert sorted(seen) == sorted(items.items())  # every found key once, no missing ones

    async def test_get_many_large_batch(self, store: Store) -> None:
        items = {f"big/{i}": i.to_bytes(4, "little") for i in range(1100)}  # > one 1000-key batch
        await self.raw_set_many(store, items)
        keys = list(items)[::-1] + ["big/none"]
        assert await store.get_many(keys) == items

    async def test_get_many_duplicates(self, store: Store) -> None:
        await self.raw_set(store, "dup", b"v")
        assert await store.get_many(["dup", "dup", "gone"]) == {"dup": b"v"}

    async def test_delete_many(self, store: Store) -> None:
        await self.raw_set_many(store, {f"del/{i}": b"x" for i in range(30)})
        if self.refused(store):
            with pytest.raises(ReadOnlyError):
                await store.delete_many(["del/0"])
            return
        await store.delete_many([f"del/{i}" for i in range(0, 30, 2)] + ["del/nope"])
        remaining = [k async for k in store.list_prefix("del/")]
        assert remaining == sorted(f"del/{i}" for i in range(1, 30, 2))

    async def test_delete_prefix(self, store: Store) -> None:
        await self.raw_set_many(store, {"p/a": b"1", "p/b/c": b"2", "q": b"3"})
        if self.refused(store):
            with pytest.raises(ReadOnlyError):
                await store.delete_prefix("p/")
            return
        await store.delete_prefix("p/")
        assert await store.list() == ["q"]

    # --- listing ------------------------------------------------------------------------

    async def test_list_prefix(self, store: Store) -> None:
        keys = ["g/.zgroup", "g/a/.zarray", "g/a/0.0", "g/a/0.1", "g/b/c/.zarray", "h/.zgroup", "top"]
        for k in keys:
            await self.raw_set(store, k, b"1")
        if not self.listable:
            assert not store.supports_listing
            with pytest.raises(StoreError):
                [k async for k in store.list_prefix("")]
            return
        assert [k async for k in store.list_prefix("")] == sorted(keys)
        assert [k async for k in store.list_prefix("g/")] == sorted(k for k in keys if k.startswith("g/"))
        assert [k async for k in store.list_prefix("g/a/")] == ["g/a/.zarray", "g/a/0.0", "g/a/0.1"]
        assert [k async for k in store.list_prefix("zzz/")] == []
        assert await store.list() == sorted(keys)

    async def test_list_prefix_sizes(self, store: Store, store_factory: Factory) -> None:
        values = {"g/a/.zarray": b"{}", "g/a/0.0": b"x" * 1000, "g/a/0.1": b"", "g/b/0": b"yz" * 70_000, "h/0": b"1"}
        for k, v in values.items():
            await self.raw_set(store, k, v)
        if not self.listable:
            with pytest.raises(StoreError):
                [k async for k in store.list_prefix_sizes("")]
            return
        assert store.lists_sizes  # every listable backend here has a sized listing
        sizes = {k: len(v) for k, v in values.items()}
        assert [item async for item in store.list_prefix_sizes("")] == sorted(sizes.items())
        assert [item async for item in store.list_prefix_sizes("g/")] == sorted(
            (k, n) for k, n in sizes.items() if k.startswith("g/")
        )
        assert [item async for item in store.list_prefix_sizes("zzz/")] == []
        # the same answer without the backend's sized listing (the fallback reads the values)
        fallback = store_factory()
        fallback._list_prefix_sizes = None
        assert not fallback.lists_sizes
        assert [item async for item in fallback.list_prefix_sizes("g/a/")] == [
            ("g/a/.zarray", 2), ("g/a/0.0", 1000), ("g/a/0.1", 0)
        ]

    async def test_list_dir(self, store: Store) -> None:
        for k in ["g/.zgroup", "g/a/.zarray", "g/a/0.0", "g/b/c/.zarray", "g/z", "top"]:
            await self.raw_set(store, k, b"1")
        if not self.listable:
            with pytest.raises(StoreError):
                await store.list_dir("g")
            return
        assert await store.list_dir("g") == (([".zgroup", "z"]), ["a", "b"])
        assert await store.list_dir("g/") == ([".zgroup", "z"], ["a", "b"])
        assert await store.list_dir("") == (["top"], ["g"])
        assert await store.list_dir("g/b") == ([], ["c"])
        assert await store.list_dir("missing") == ([], [])

    async def test_prefix_is_not_a_substring_match(self, store: Store) -> None:
        await self.raw_set(store, "foo/1", b"1")
        await self.raw_set(store, "foobar/1", b"1")
        if not self.listable:
            return
        assert [k async for k in store.list_prefix("foo/")] == ["foo/1"]
        assert await store.list_dir("foo") == (["1"], [])

    # --- keys ---------------------------------------------------------------------------

    @pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "a//b", "a/./b", "nul\x00", "", "a\\b"])
    async def test_invalid_keys_rejected(self, store: Store, key: str) -> None:
        with pytest.raises(InvalidKeyError):
            await store.set(key, b"x")
        with pytest.raises(InvalidKeyError):
            await store.get(key)

    async def test_unusual_but_valid_keys(self, store: Store) -> None:
        for key in ["with space/0.0", "ünïcode/.zattrs", "dots.in.name/1.2.3", "a-b_c/d", "q?x#y%20/z"]:
            await self.raw_set(store, key, key.encode())
            assert await store.get(key) == key.encode()

    # --- read-only ------------------------------------------------------------------------

    async def test_read_only_enforced(self, store_factory: Factory) -> None:
        writer = store_factory()
        await self.raw_set(writer, "ro/key", b"v")
        reader = store_factory(read_only=True)
        assert reader.read_only
        assert await reader.get("ro/key") == b"v"
        with pytest.raises(ReadOnlyError):
            await reader.set("ro/key", b"w")
        with pytest.raises(ReadOnlyError):
            await reader.set_many({"ro/a": b"w"})
        with pytest.raises(ReadOnlyError):
            await reader.delete("ro/key")
        with pytest.raises(ReadOnlyError):
            await reader.delete_many(["ro/key"])
        assert await self.raw_get(writer, "ro/key") == b"v"
        assert await self.raw_get(writer, "ro/a") is None
        ro2 = writer.with_read_only()
        with pytest.raises(ReadOnlyError):
            await ro2.set("ro/key", b"w")
        await reader.close()
        await writer.close()

    # --- pickling -------------------------------------------------------------------------

    async def test_pickle_roundtrip(self, store: Store) -> None:
        await self.raw_set(store, "pk/a", b"value")
        clone = pickle.loads(pickle.dumps(store))
        assert type(clone) is type(store)
        assert clone.read_only == store.read_only
        assert clone.concurrency == store.concurrency
        assert await clone.get("pk/a") == b"value"
        await clone.close()

    async def test_pickle_in_other_loop(self, store: Store) -> None:
        await self.raw_set(store, "pk/b", b"other-loop")
        blob = pickle.dumps(store)

        def in_thread() -> bytes | None:
            async def main() -> bytes | None:
                s = pickle.loads(blob)
                try:
                    return await s.get("pk/b")
                finally:
                    await s.close()

            return asyncio.run(main())

        assert await asyncio.to_thread(in_thread) == b"other-loop"

    # --- concurrency ----------------------------------------------------------------------

    async def test_concurrency_limit_honoured(self, store_factory: Factory) -> None:
        store = unhedged(store_factory(concurrency=3))
        assert store.concurrency == 3
        await self.raw_set_many(store, {f"cc/{i}": b"v" for i in range(40)})
        counter = InFlightCounter(store)
        values = await asyncio.gather(*(store.get(f"cc/{i}") for i in range(40)))
        assert values == [b"v"] * 40
        assert 1 < counter.peak <= 3, counter.peak
        if not self.writable:
            await store.close()
            return
        counter2 = InFlightCounter(store)
        await asyncio.gather(*(store.set(f"cc/w{i}", b"w") for i in range(20)))
        assert 1 < counter2.peak <= 3, counter2.peak
        await store.close()

    async def test_limit_shared_by_batches(self, store_factory: Factory) -> None:
        store = unhedged(store_factory(concurrency=2))
        await self.raw_set_many(store, {f"sh/{i}": b"v" for i in range(50)})
        counter = InFlightCounter(store)
        results = await asyncio.gather(*(store.get_many([f"sh/{j}" for j in range(i, 50, 5)]) for i in range(5)))
        assert sum(len(r) for r in results) == 50
        assert counter.peak <= 2, counter.peak
        await store.close()

    # --- errors vs missing ----------------------------------------------------------------

    async def test_backend_error_is_raised_not_missing(self, store_factory: Factory) -> None:
        store = await self.broken_store(store_factory)
        with pytest.raises(StoreError) as info:
            await store.get("some/key")
        assert "some/key" in str(info.value)
        with pytest.raises(StoreError):
            await store.get_many(["some/key", "other/key"])
        with pytest.raises(StoreError):
            await store.exists("some/key")
        await store.close()

    async def test_repr_names_store(self, store: Store) -> None:
        assert type(store).__name__ in repr(store)

    async def test_async_context_manager(self, store_factory: Factory) -> None:
        async with store_factory() as s:
            await self.raw_set(s, "cm", b"1")
            assert await s.get("cm") == b"1"

