"""Consolidated metadata: a hierarchy's metadata in ONE object, opened with one request.

Zarr v2 keeps it in ``.zmetadata`` (``{"zarr_consolidated_format": 1, "metadata": {key:
JSON}}``); Zarr v3 inline in the root group's ``zarr.json`` (``"consolidated_metadata":
{"kind": "inline", "must_understand": false, "metadata": {path: zarr.json}}``). Both are
written as zarr-python writes them, so xarray / zarr-python read what azarr writes and the
reverse. Which form a document takes is the format registry's business
(:mod:`azarr.meta.formats`); this module keeps the view of it in memory.

Staleness rule (documented in the README): a hierarchy opened from consolidated
metadata in a writable mode keeps it true — every metadata write through it (new arrays
or groups, attribute changes, resize, append, deletes) rewrites the consolidated document
too. Changes made through a handle opened WITHOUT consolidated metadata are not seen
until :func:`consolidate` runs again. To make a stale document harmless, the first chunk
read of an array opened from consolidated metadata fetches the array's own metadata
document in the same batched request as its chunks and refuses (raises) if it is gone or
differs, so a stale document never yields wrong data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from azarr.core.hierarchy import Prefetched, doc_key
from azarr.errors import ConsolidatedMetadataError
from azarr.meta.formats import CONSOLIDATED_DOCUMENTS, FORMATS, Entries, Format, detect, format_for
from azarr.stores.base import Store


def _rel(root: str, path: str) -> str | None:
    """``path`` relative to ``root`` ("" for root itself), or None when outside it."""
    if not root:
        return path
    if path == root:
        return ""
    if path.startswith(root + "/"):
        return path[len(root) + 1 :]
    return None


class ConsolidatedView:
    """The parsed consolidated metadata of the group at ``root``, shared by every node opened from it."""

    def __init__(self, fmt: Format, root: str, entries: Entries, *, writable: bool) -> None:
        self.format = fmt
        self.root = root
        self.entries = entries
        self.writable = writable
        self._lock: asyncio.Lock | None = None
        self.validated: set[str] = set()

    # --- reads (no I/O) -------------------------------------------------------------------

    def covers(self, path: str) -> bool:
        """Whether ``path`` lies inside the consolidated hierarchy."""
        return _rel(self.root, path) is not None

    def documents(self, path: str, names: Iterable[str]) -> dict[str, bytes] | None:
        """The documents of the node at ``path`` (None when ``path`` is outside this view)."""
        rel = _rel(self.root, path)
        if rel is None:
            return None
        entry = self.entries.get(rel)
        if not entry:
            return {}
        wanted = set(names)
        return {n: v for n, v in self.format.documents_from_entry(entry).items() if n in wanted}

    def children(self, path: str) -> list[str] | None:
        """Names of the direct children of ``path`` recorded in the document."""
        rel = _rel(self.root, path)
        if rel is None:
            return None
        prefix = rel + "/" if rel else ""
        names = set()
        for key in self.entries:
            if key and key.startswith(prefix):
                names.add(key[len(prefix) :].partition("/")[0])
        return sorted(names)

    # --- writes (keep the consolidated document true) -------------------------------------

    def lock(self) -> asyncio.Lock:
        """The lock serialising rewrites of the consolidated document."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def record(self, path: str, docs: dict[str, bytes]) -> None:
        """Record rewritten documents of node ``path``."""
        rel = _rel(self.root, path)
        if rel is None:
            return
        entry = self.format.entry_from_documents(docs, doc_key(path, "metadata"))
        if entry:
            self.entries.setdefault(rel, {}).update(entry)

    def forget(self, path: str) -> None:
        """Forget node ``path`` and its descendants."""
        rel = _rel(self.root, path)
        if rel is None:
            return
        prefix = rel + "/"
        for key in [k for k in self.entries if k == rel or k.startswith(prefix) or not rel]:
            del self.entries[key]

    def root_documents(self) -> dict[str, bytes]:
        """The consolidated document(s) to write at the root, as ``{store key: bytes}``."""
        docs = self.format.consolidated_documents(self.entries)
        return {doc_key(self.root, n): v for n, v in docs.items()}


async def load_consolidated(
    store: Store, path: str, *, required: bool, mode: str = "r", zarr_format: Any = None
) -> tuple[ConsolidatedView | None, Prefetched]:
    """Look for consolidated metadata at ``path`` with ONE batched request.

    Without a ``zarr_format``, the v3 root document and the v2 ``.zmetadata`` are asked
    for together (never one after the other). Returns the view (None when absent and not
    required) and what was fetched, so opening the root costs no second request for it.
    """
    formats = FORMATS if zarr_format is None else (format_for(zarr_format),)
    names = tuple(f.consolidated_key for f in formats if f.consolidated_key)
    keys = {doc_key(path, n): n for n in names}
    got = await store.get_many(list(keys)) if keys else {}
    found = {keys[k]: v for k, v in got.items()}
    prefetched = Prefetched(found, frozenset(names))
    for fmt in formats:
        entries = fmt.parse_consolidated(found, path)
        if entries is not None:
            return ConsolidatedView(fmt, path, entries, writable=mode != "r"), prefetched
    if required:
        what = " or ".join(repr(doc_key(path, n)) for n in names) or "anything"
        raise ConsolidatedMetadataError(f"no consolidated metadata at {what} in {store.name}")
    return None, prefetched


async def consolidate(store: Store, path: str = "", zarr_format: Any = None) -> ConsolidatedView:
    """Gather every metadata document below ``path`` (one listing, one batched read) and
    write the group's consolidated metadata; returns the view of what was written."""
    root_docs = await store.get_many(
        [doc_key(path, n) for n in dict.fromkeys(CONSOLIDATED_DOCUMENTS + _node_documents())]
    )
    root = detect({k.rpartition("/")[2]: v for k, v in root_docs.items()}, path, zarr_format)
    if root is None or root.kind != "group":
        raise ConsolidatedMetadataError(f"no group at path {path!r} in {store.name} to consolidate")
    fmt = format_for(root.metadata.zarr_format)
    if fmt.consolidated_key is None:
        raise ConsolidatedMetadataError(f"{fmt.key!r} hierarchies have no consolidated metadata ({store.name})")
    prefix = path + "/" if path else ""
    keys = [k async for k in store.list_prefix(prefix) if fmt.is_metadata_document(k.rpartition("/")[2])]
    found = await store.get_many(keys)
    per_node: dict[str, dict[str, bytes]] = {}
    for key in sorted(found):
        rel, _, name = key[len(prefix) :].rpartition("/")
        per_node.setdefault(rel, {})[name] = found[key]
    entries: Entries = {}
    for rel, docs in per_node.items():
        if fmt.parse(docs, doc_key(path, rel) if rel else path) is None:
            continue  # e.g. a lone .zattrs: not a node
        entries[rel] = fmt.entry_from_documents(docs, doc_key(doc_key(path, rel), "metadata"))
    view = ConsolidatedView(fmt, path, entries, writable=True)
    await store.set_many(view.root_documents())
    return view


def _node_documents() -> tuple[str, ...]:
    from azarr.meta.formats import NODE_DOCUMENTS

    return NODE_DOCUMENTS


__all__ = ["ConsolidatedView", "consolidate", "load_consolidated"]
