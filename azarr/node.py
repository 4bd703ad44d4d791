"""What arrays and groups share: paths, reading node documents, format detection, and
the one place metadata documents are written (so consolidated metadata can follow)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azarr.errors import InvalidKeyError, MetadataError
from azarr.meta.v2 import ZARRAY, ZATTRS, ZGROUP, ArrayMetadataV2, GroupMetadataV2, json_loads
from azarr.stores.base import Store

if TYPE_CHECKING:
    from azarr.consolidated import ConsolidatedView

N5_ATTRS = "attributes.json"
#: every document that can describe a node, fetched together in one get_many
NODE_DOCUMENTS = (ZARRAY, ZGROUP, ZATTRS, N5_ATTRS)


def normalize_path(path: str | None) -> str:
    """Return a store path without leading/trailing slashes; reject ``..`` and empty parts."""
    if path is None:
        return ""
    if not isinstance(path, str):
        raise InvalidKeyError(f"path must be a string, got {type(path).__name__}")
    path = path.strip("/")
    if not path:
        return ""
    for part in path.split("/"):
        if part in ("", ".", "..") or "\x00" in part:
            raise InvalidKeyError(f"invalid node path {path!r}")
    return path


def join_path(*parts: str) -> str:
    """Join path components with ``/``, skipping empty ones."""
    return "/".join(p for p in parts if p)


def doc_key(path: str, name: str) -> str:
    """The store key of document ``name`` of the node at ``path``."""
    return f"{path}/{name}" if path else name


# --- a thread pool for chunk codecs ------------------------------------------------------

_POOL: ThreadPoolExecutor | None = None


def codec_pool() -> ThreadPoolExecutor:
    """The process-wide thread pool chunk encode/decode runs in (sized to the cores)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="azarr-codec")
    return _POOL


def _reset_pool_after_fork() -> None:
    global _POOL
    _POOL = None


os.register_at_fork(after_in_child=_reset_pool_after_fork)


# --- documents ------------------------------------------------------------------------------


@dataclass
class NodeContext:
    """Per-hierarchy state shared by the nodes opened from one root.

    ``consolidated`` is set when the hierarchy was opened from consolidated metadata:
    document reads are then answered from it (no requests) and document writes also
    update it (so ``.zmetadata`` stays true).
    """

    consolidated: ConsolidatedView | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    async def read_documents(self, store: Store, path: str, names: Iterable[str] = NODE_DOCUMENTS) -> dict[str, bytes]:
        """Return ``{name: bytes}`` of the node's documents that exist (one store call)."""
        names = tuple(names)
        if self.consolidated is not None:
            docs = self.consolidated.documents(path, names)
            if docs is not None:
                return docs
        keys = {doc_key(path, n): n for n in names}
        found = await store.get_many(list(keys))
        return {keys[k]: v for k, v in found.items()}

    async def write_documents(self, store: Store, path: str, docs: dict[str, bytes]) -> None:
        """Write metadata documents of the node at ``path`` (and keep consolidated metadata true)."""
        await store.set_many({doc_key(path, n): v for n, v in docs.items()})
        if self.consolidated is not None:
            await self.consolidated.update(store, path, docs)

    async def forget(self, store: Store, path: str) -> None:
        """Drop a deleted node (and its descendants) from consolidated metadata."""
        if self.consolidated is not None:
            await self.consolidated.remove(store, path)


def classify(docs: dict[str, bytes], path: str) -> tuple[str, Any, dict[str, Any]] | None:
    """Decide what the documents describe: ``("array"|"group", metadata, attributes)``.

    Zarr v2 documents win over N5 ones; ``None`` means no node is there.
    """
    if ZARRAY in docs:
        meta, attrs = ArrayMetadataV2.from_documents(docs, path)
        return "array", meta, attrs
    if ZGROUP in docs:
        gmeta, attrs = GroupMetadataV2.from_documents(docs, path)
        return "group", gmeta, attrs
    if N5_ATTRS in docs:
        from azarr.meta import n5

        where = doc_key(path, N5_ATTRS)
        doc = json_loads(docs[N5_ATTRS], where)
        if not isinstance(doc, dict):
            raise MetadataError(f"{where}: expected a JSON object")
        if n5.is_n5_array(doc):
            ameta, attrs = n5.N5ArrayMetadata.from_documents({N5_ATTRS: docs[N5_ATTRS]})
            return "array", ameta, attrs
        nmeta, attrs = n5.N5GroupMetadata.from_documents({N5_ATTRS: docs[N5_ATTRS]})
        return "group", nmeta, attrs
    return None


def format_of(meta: Any) -> Any:
    """The ``zarr_format`` of a metadata object (2 or "n5")."""
    return getattr(meta, "zarr_format", 2)


def _attribute_documents(meta: Any, attrs: dict[str, Any]) -> dict[str, bytes]:
    """Documents to rewrite when only attributes change (N5 keeps them in attributes.json)."""
    fn = getattr(meta, "attributes_documents", None)
    return fn(attrs) if fn is not None else meta.to_documents(attrs)


class AttributesMixin:
    """Attribute editing shared by arrays and groups: every change is written through
    the node's context (so consolidated metadata follows) before it is visible."""

    store: Store
    path: str
    metadata: Any
    context: NodeContext
    _attrs: dict[str, Any]

    def _check_writable(self) -> None:  # pragma: no cover - overridden by nodes
        raise NotImplementedError

    async def update_attributes(self, new: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``new`` into the attributes, store them, and return the result."""
        self._check_writable()
        attrs = {**self._attrs, **dict(new)}
        await self._write_attrs(attrs)
        return dict(attrs)

    async def set_attributes(self, attrs: Mapping[str, Any]) -> None:
        """Replace all attributes with ``attrs``."""
        self._check_writable()
        await self._write_attrs(dict(attrs))

    async def delete_attribute(self, key: str) -> None:
        """Remove one attribute (KeyError if absent)."""
        self._check_writable()
        attrs = dict(self._attrs)
        del attrs[key]
        await self._write_attrs(attrs)

    async def _write_attrs(self, attrs: dict[str, Any]) -> None:
        await self.context.write_documents(self.store, self.path, _attribute_documents(self.metadata, attrs))
        self._attrs = attrs
