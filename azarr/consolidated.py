"""Consolidated metadata: a hierarchy's metadata in ONE object, ``.zmetadata``.

The document is zarr-python's (``{"zarr_consolidated_format": 1, "metadata": {key:
JSON object}}``), with keys relative to the consolidated group, so xarray / zarr-python
read what azarr writes and the reverse.

Staleness rule (documented in the README): a hierarchy opened from consolidated
metadata in a writable mode keeps ``.zmetadata`` true — every metadata write through it
(new arrays or groups, attribute changes, resize, append, deletes) rewrites
``.zmetadata`` too. Changes made through a handle opened WITHOUT consolidated metadata
are not seen until :func:`consolidate` runs again. To make a stale document harmless,
the first chunk read of an array opened from consolidated metadata fetches the array's
own ``.zarray`` in the same batched request as its chunks and refuses (raises) if it
is gone or differs, so a stale document never yields wrong data.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from azarr.errors import ConsolidatedMetadataError, MetadataError
from azarr.meta.v2 import ZARRAY, ZATTRS, ZGROUP, json_dumps, json_loads
from azarr.stores.base import Store

ZMETADATA = ".zmetadata"
_META_NAMES = (ZARRAY, ZGROUP, ZATTRS)


def _rel(root: str, path: str) -> str | None:
    """``path`` relative to ``root`` ("" for root itself), or None when outside it."""
    if not root:
        return path
    if path == root:
        return ""
    if path.startswith(root + "/"):
        return path[len(root) + 1 :]
    return None


def _key(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


class ConsolidatedView:
    """The parsed ``.zmetadata`` of the group at ``root``, shared by every node opened from it."""

    def __init__(self, root: str, metadata: dict[str, Any], *, writable: bool) -> None:
        self.root = root
        self.metadata = metadata
        self.writable = writable
        self._lock: asyncio.Lock | None = None
        self.validated: set[str] = set()

    @classmethod
    def parse(cls, data: bytes, root: str, *, writable: bool) -> ConsolidatedView:
        """Parse a ``.zmetadata`` document; malformed documents raise ConsolidatedMetadataError."""
        where = f"{root}/{ZMETADATA}" if root else ZMETADATA
        try:
            doc = json_loads(data, where)
        except MetadataError as exc:
            raise ConsolidatedMetadataError(str(exc)) from None
        if not isinstance(doc, dict) or doc.get("zarr_consolidated_format") != 1:
            raise ConsolidatedMetadataError(f"{where}: expected zarr_consolidated_format 1")
        meta = doc.get("metadata")
        if not isinstance(meta, dict):
            raise ConsolidatedMetadataError(f"{where}: 'metadata' must be an object")
        return cls(root, dict(meta), writable=writable)

    def to_json(self) -> bytes:
        """The ``.zmetadata`` document as bytes."""
        return json_dumps({"zarr_consolidated_format": 1, "metadata": self.metadata})

    # --- reads (no I/O) -------------------------------------------------------------------

    def documents(self, path: str, names: Iterable[str]) -> dict[str, bytes] | None:
        """The documents of the node at ``path`` (None when ``path`` is outside this view)."""
        rel = _rel(self.root, path)
        if rel is None:
            return None
        out = {}
        for name in names:
            obj = self.metadata.get(_key(rel, name))
            if obj is not None:
                out[name] = json_dumps(obj)
        return out

    def children(self, path: str) -> list[str] | None:
        """Names of the direct children of ``path`` recorded in the document."""
        rel = _rel(self.root, path)
        if rel is None:
            return None
        prefix = rel + "/" if rel else ""
        names = set()
        for key in self.metadata:
            if key.startswith(prefix):
                rest = key[len(prefix) :]
                head, sep, _ = rest.partition("/")
                if sep:
                    names.add(head)
        return sorted(names)

    # --- writes (keep .zmetadata true) ---------------------------------------------------

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _flush(self, store: Store) -> None:
        await store.set(_key(self.root, ZMETADATA), self.to_json())

    async def update(self, store: Store, path: str, docs: dict[str, bytes]) -> None:
        """Record rewritten documents of node ``path`` and rewrite ``.zmetadata``."""
        rel = _rel(self.root, path)
        if rel is None or not self.writable:
            return
        async with self._get_lock():
            for name, data in docs.items():
                if name in _META_NAMES:
                    self.metadata[_key(rel, name)] = json.loads(data)
            await self._flush(store)

    async def remove(self, store: Store, path: str) -> None:
        """Forget node ``path`` and its descendants and rewrite ``.zmetadata``."""
        rel = _rel(self.root, path)
        if rel is None or not self.writable:
            return
        async with self._get_lock():
            prefix = rel + "/" if rel else ""
            for key in [k for k in self.metadata if k.startswith(prefix)]:
                del self.metadata[key]
            await self._flush(store)


async def load_consolidated(store: Store, path: str, *, required: bool, mode: str = "r") -> ConsolidatedView | None:
    """Read ``path/.zmetadata`` with one request; None when absent and not required."""
    key = _key(path, ZMETADATA)
    data = await store.get(key)
    if data is None:
        if required:
            raise ConsolidatedMetadataError(f"no consolidated metadata at {key!r} in {store.name}")
        return None
    return ConsolidatedView.parse(data, path, writable=mode != "r")


def _is_meta_key(key: str) -> bool:
    return key.rpartition("/")[2] in _META_NAMES


async def consolidate(store: Store, path: str = "") -> ConsolidatedView:
    """Gather every metadata document below ``path`` (one listing, one batched read) and
    write ``path/.zmetadata``; returns the view of what was written."""
    prefix = path + "/" if path else ""
    keys = [k async for k in store.list_prefix(prefix) if _is_meta_key(k)]
    found = await store.get_many(keys)
    metadata: dict[str, Any] = {}
    for key in sorted(found):
        metadata[key[len(prefix) :]] = json_loads(found[key], key)
    if ZGROUP not in metadata:
        raise ConsolidatedMetadataError(f"no group at path {path!r} in {store.name} to consolidate")
    view = ConsolidatedView(path, metadata, writable=True)
    await view._flush(store)
    return view
