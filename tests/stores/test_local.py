"""LocalStore passes the shared conformance suite, plus file-system specifics."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from azarr.errors import InvalidKeyError
from azarr.stores import LocalStore, Store, from_url
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
