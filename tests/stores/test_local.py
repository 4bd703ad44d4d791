"""LocalStore passes the shared conformance suite, plus file-system specifics."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from azarr.errors import InvalidKeyError
from azarr.stores import LocalStore, Store, from_url
from azarr.stores.ranges import ByteRange, RangeRequest, SuffixRange
from tests.stores.conformance import Factory, StoreTests


class TestLocalStore(StoreTests):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Factory:
        root = tmp_path / "store"
        return lambda **options: LocalStore(root, **options)

    async def raw_set(self, store: Store, key: str, value: bytes) -> None:
        path = Path(store.root, *key.split("/"))  # type: ignore[attr-defined]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value)

    async def raw_get(self, store: Store, key: str) -> bytes | None:
        path = Path(store.root, *key.split("/"))  # type: ignore[attr-defined]
        return path.read_bytes() if path.is_file() else None

    async def raw_delete(self, store: Store, key: str) -> None:
        Path(store.root, *key.split("/")).unlink(missing_ok=True)  # type: ignore[attr-defined]


async def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    await store.set_many({f"a/{i}": b"x" * 1000 for i in range(50)})
    names = os.listdir(tmp_path / "a")
    assert sorted(names) == sorted(str(i) for i in range(50))


async def test_failed_write_keeps_old_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path)
    await store.set("k", b"old")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(Exception):
        await store.set("k", b"new")
    monkeypatch.undo()
    assert (tmp_path / "k").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["k"]


async def test_symlink_escape_key_rejected(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "root")
    with pytest.raises(InvalidKeyError):
        await store.get("../outside")


def test_from_url_forms(tmp_path: Path) -> None:
    assert isinstance(from_url(str(tmp_path)), LocalStore)
    s = from_url(f"file://{tmp_path}")
    assert isinstance(s, LocalStore) and s.root == str(tmp_path)


async def test_get_ranges_open_each_file_once_in_a_few_thread_hops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from azarr.stores import local

    store = LocalStore(tmp_path)
    value = bytes(range(50))
    await store.set_many({f"k/{i}": value for i in range(200)})
    (tmp_path / "k" / "dir").mkdir()
    requests: list[RangeRequest] = [(f"k/{i}", ByteRange(j, j + 5)) for i in range(200) for j in (0, 10, 48, 60)]
    requests += [(f"k/{i}", SuffixRange(4)) for i in range(200)] + [("gone", ByteRange(0, 1)), ("k/dir", SuffixRange(2))]
    hops: list[object] = []
    files: list[int] = []
    plain_hop, plain_read = asyncio.to_thread, local._read_ranges

    def hop(fn: object, *args: object) -> object:
        hops.append(fn)
        return plain_hop(fn, *args)  # type: ignore[arg-type]

    def read(path: str, ranges: list[object]) -> object:
        files.append(len(ranges))
        return plain_read(path, ranges)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio, "to_thread", hop)
    monkeypatch.setattr(local, "_read_ranges", read)
    got = await store.get_ranges(requests)
    assert got == {(k, r): value[r.start : r.end] if isinstance(r, ByteRange) else value[-4:]
                   for k, r in requests if k.startswith("k/") and k != "k/dir"}  # a directory is no key
    assert len(hops) == 8, len(hops)  # 1002 requests: one thread hop per group of files
    assert sorted(files) == [1, 1] + [5] * 200  # each file opened once for all its ranges


async def test_writes_and_deletes_never_follow_a_link_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"precious")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    store = LocalStore(root)
    attempts = [
        store.set("link/victim", b"overwritten"),
        store.set("link/sub/deep", b"x"),  # would create outside/sub
        store.set_many({"ok/0": b"0", "link/new": b"x"}),
        store.delete("link/victim"),
        store.delete_many(["link/victim"]),
        store.set_if("link/victim", b"overwritten", b"precious"),
        store.set_many_if({"link/victim": (None, b"precious")}),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidKeyError, match="symbolic link"):
            await attempt
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_bytes() == b"precious"
    assert not (root / "ok").exists()  # a refused batch writes none of its keys
    # reads may follow the link (documented)
    assert await store.get("link/victim") == b"precious"
    assert (await store.get_for_update("link/victim")).data == b"precious"


async def test_a_link_as_the_key_itself_is_replaced_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"precious")
    root = tmp_path / "root"
    root.mkdir()
    (root / "k").symlink_to(outside)
    (root / "d").symlink_to(outside)
    store = LocalStore(root)
    await store.set("k", b"new")
    assert not (root / "k").is_symlink() and (root / "k").read_bytes() == b"new"
    await store.delete("d")
    assert not (root / "d").exists() and not (root / "d").is_symlink()
    assert outside.read_bytes() == b"precious"


async def test_links_inside_the_root_are_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    store = LocalStore(root)
    await store.set("alias/k", b"v")
    assert (root / "real" / "k").read_bytes() == b"v"
    await store.delete("alias/k")
    assert not (root / "real" / "k").exists()
    linked_root = tmp_path / "linked-root"
    linked_root.symlink_to(root, target_is_directory=True)  # the root itself may be a link
    via_link = LocalStore(linked_root)
    await via_link.set("real/x", b"1")
    assert (root / "real" / "x").read_bytes() == b"1"


async def test_conditional_writes_leave_no_lock_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    read = await store.get_many_for_update([f"a/{i}" for i in range(20)])
    assert await store.set_many_if({k: (b"v", v.version) for k, v in read.items()}) == set()
    assert sorted(os.listdir(tmp_path / "a")) == sorted(str(i) for i in range(20))
    assert await store.set_many_if({f"a/{i}": (None, b"v") for i in range(20)}) == set()
    assert not (tmp_path / "a").exists()  # deleting the last key prunes its directory


def test_atomic_writes_survive_a_concurrent_prune(tmp_path: Path) -> None:
    """A delete prunes directories it leaves empty; a write into such a directory at that
    instant (a replace deletes the old node while it writes the new documents) must still land."""
    import threading

    from azarr.stores.local import _remove, _write_atomic

    root = str(tmp_path)
    stop = threading.Event()
    errors: list[BaseException] = []

    def pruner() -> None:
        try:
            while not stop.is_set():
                try:
                    os.makedirs(f"{root}/d/a", exist_ok=True)
                    open(f"{root}/d/a/f", "wb").close()
                except (FileNotFoundError, FileExistsError):  # the writer's side of the same race
                    continue
                _remove(f"{root}/d/a/f", root)  # prunes d/a, then d when it is empty
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=pruner)
    thread.start()
    try:
        for i in range(1000):
            _write_atomic(f"{root}/d/k", b"%d" % i)
            with open(f"{root}/d/k", "rb") as f:
                assert f.read() == b"%d" % i
            os.remove(f"{root}/d/k")
    finally:
        stop.set()
        thread.join()
    assert not errors
