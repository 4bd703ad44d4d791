"""What arrays and groups share: paths, reading node documents (in any format), the one
place metadata documents are written (so consolidated metadata follows), parent groups,
deleting nodes, and attribute editing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from azarr.errors import ContainsArrayError, InvalidKeyError, ReadOnlyError
from azarr.meta.formats import NODE_DOCUMENTS, Node, detect, format_for
from azarr.stores.base import Store

if TYPE_CHECKING:
    from azarr.core.consolidated import ConsolidatedView


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


@dataclass
class Prefetched:
    """Documents of one node already asked for (found ones and the names asked)."""

    found: dict[str, bytes]
    asked: frozenset[str]


@dataclass
class NodeContext:
    """Per-hierarchy state shared by the nodes opened from one root.

    ``consolidated`` is set when the hierarchy was opened from consolidated metadata:
    document reads are then answered from it (no requests) and document writes also
    update it (so it stays true). ``prefetched`` holds documents fetched while looking for
    consolidated metadata, so opening the node there costs no second request for them.
    """

    consolidated: ConsolidatedView | None = None
    prefetched: dict[str, Prefetched] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    async def read_documents(self, store: Store, path: str, names: Iterable[str] = NODE_DOCUMENTS) -> dict[str, bytes]:
        """Return ``{name: bytes}`` of the node's documents that exist (at most one store call)."""
        names = tuple(names)
        view = self.consolidated
        if view is not None:
            docs = view.documents(path, names)
            if docs is not None:
                return docs
        pre = self.prefetched.pop(path, None)
        found = {n: v for n, v in pre.found.items() if n in names} if pre is not None else {}
        need = [n for n in names if pre is None or n not in pre.asked]
        if need:
            keys = {doc_key(path, n): n for n in need}
            got = await store.get_many(list(keys))
            found.update({keys[k]: v for k, v in got.items()})
        return found

    async def read_node(self, store: Store, path: str, prefer: Any = None) -> Node | None:
        """The array or group at ``path`` (in whichever format it is stored), or None."""
        return detect(await self.read_documents(store, path), path, prefer)

    async def write_documents(self, store: Store, path: str, docs: dict[str, bytes]) -> None:
        """Write metadata documents of the node at ``path`` (and keep consolidated metadata true)."""
        out = {doc_key(path, n): v for n, v in docs.items()}
        view = self.consolidated
        if view is None or not view.writable or not view.covers(path):
            await store.set_many(out)
            return
        async with view.lock():
            view.record(path, docs)
            out.update(view.root_documents())
            await store.set_many(out)

    async def forget(self, store: Store, path: str) -> None:
        """Drop a deleted node (and its descendants) from consolidated metadata."""
        view = self.consolidated
        if view is not None and view.writable and view.covers(path):
            async with view.lock():
                view.forget(path)
                await store.set_many(view.root_documents())


@dataclass
class Lineage:
    """What exists at a path and at each of its ancestors (read in one batch)."""

    path: str
    node: Node | None
    parents: list[tuple[str, Node | None]]
    #: the keys stored under ``path``, listed while the lineage was read for a create that
    #: replaces ``node`` (None: not listed)
    old_keys: list[str] | None = None

    def check_parents(self) -> None:
        """Raise if an array sits where a parent group must be."""
        for parent, node in self.parents:
            if node is not None and node.kind == "array":
                raise ContainsArrayError(f"cannot create {self.path!r}: an array exists at parent path {parent!r}")

    def hierarchy_format(self) -> Any:
        """The format of the nearest existing parent group (None when there is none)."""
        existing = [n for _, n in self.parents if n is not None]
        return existing[-1].metadata.zarr_format if existing else None


async def read_lineage(store: Store, path: str, context: NodeContext, prefer: Any = None) -> Lineage:
    """Read the node at ``path`` and every ancestor concurrently (one round trip)."""
    parts = path.split("/") if path else []
    parents = ["/".join(parts[:i]) for i in range(len(parts))]
    nodes = await asyncio.gather(*(context.read_node(store, p, prefer) for p in [*parents, path]))
    return Lineage(path, nodes[-1], list(zip(parents, nodes[:-1])))


async def plan_node(store: Store, path: str, context: NodeContext, zarr_format: Any, overwrite: bool) -> Lineage:
    """Read what is at ``path`` and above it for a node about to be created there: something
    already at ``path`` (unless ``overwrite``) or an array in a parent's place raises."""
    from azarr.errors import ContainsGroupError

    lineage = await read_lineage_for_create(store, path, context, zarr_format, overwrite)
    existing = lineage.node
    if existing is not None and not overwrite:
        err = ContainsArrayError if existing.kind == "array" else ContainsGroupError
        raise err(f"{existing.kind} already exists at path {path!r} in {store.name}")
    lineage.check_parents()
    return lineage


async def write_node(
    store: Store, lineage: Lineage, zarr_format: Any, docs: dict[str, bytes], context: NodeContext
) -> None:
    """Store a new node's documents: replace what was at its path, create missing parents.

    A node being replaced is deleted while the new documents are written (see
    :func:`replace_node`), so replacing costs no round trip more than creating.
    """

    async def write() -> None:
        await create_missing_parents(store, lineage, zarr_format, context)
        await context.write_documents(store, lineage.path, docs)

    if lineage.node is not None:
        await replace_node(store, lineage.path, context, lineage.old_keys, docs, write)
    else:
        await write()


async def create_missing_parents(store: Store, lineage: Lineage, zarr_format: Any, context: NodeContext) -> None:
    """Create the parent groups of ``lineage.path`` that do not exist (as zarr-python does)."""
    missing = [p for p, n in lineage.parents if n is None]
    if not missing:
        return
    fmt = format_for(zarr_format)
    for parent in missing:
        gmeta = fmt.create_group(root=parent == "")
        await context.write_documents(store, parent, gmeta.to_documents({}))


async def delete_node(store: Store, path: str, context: NodeContext) -> None:
    """Delete everything stored under ``path`` (the node and its descendants)."""
    await store.delete_prefix(path + "/" if path else "")
    await context.forget(store, path)


async def _keys_under(store: Store, path: str) -> list[str]:
    return [k async for k in store.list_prefix(path + "/" if path else "")]


async def read_lineage_for_create(
    store: Store, path: str, context: NodeContext, prefer: Any, overwrite: bool
) -> Lineage:
    """:func:`read_lineage`, and, for a create that may replace a node (``overwrite``), the keys
    under ``path`` listed in the same round trip (``old_keys``; None when nothing is there).

    Listing after the read would put a serial round trip before a replacing write's first
    chunk; on a fresh path the listing is one wasted request, sent alongside the read.
    """
    if not overwrite or not store.supports_listing or context.consolidated is not None:
        return await read_lineage(store, path, context, prefer)
    listing = asyncio.ensure_future(_keys_under(store, path))
    try:
        lineage = await read_lineage(store, path, context, prefer)
    except BaseException:
        listing.cancel()
        await asyncio.gather(listing, return_exceptions=True)
        raise
    if lineage.node is None:
        listing.cancel()
        await asyncio.gather(listing, return_exceptions=True)
        return lineage
    lineage.old_keys = await listing
    return lineage


async def replace_node(
    store: Store,
    path: str,
    context: NodeContext,
    old_keys: list[str] | None,
    new_documents: Iterable[str],
    write: Callable[[], Awaitable[None]],
) -> None:
    """Replace the node at ``path``: delete what is stored under it and run ``write`` (which
    writes the new node's documents).

    With the old keys listed (:func:`read_lineage_for_create`), every one of them except the
    documents the new node overwrites is deleted WHILE ``write`` runs: the two touch disjoint
    keys, so their order does not matter, and when this returns nothing of the old node is
    left. Without them (consolidated hierarchies, stores that cannot list) the node is
    deleted first, then written.
    """
    if old_keys is None:
        await delete_node(store, path, context)
        await write()
        return
    keep = {doc_key(path, name) for name in new_documents}
    stale = [k for k in old_keys if k not in keep]
    # both run to the end before a failure is raised: never a delete still running afterwards
    results = await asyncio.gather(store.delete_many(stale), write(), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


class NodeBase:
    """What arrays and groups share: location, metadata, attributes, read-only rules.

    Every attribute change is written through the node's context (so consolidated
    metadata follows) before it is visible.
    """

    kind = "node"

    def __init__(
        self,
        store: Store,
        path: str,
        metadata: Any,
        attributes: dict[str, Any] | None = None,
        *,
        read_only: bool = False,
        context: NodeContext | None = None,
    ) -> None:
        self.store = store
        self.path = normalize_path(path)
        self.metadata = metadata
        self._attrs: dict[str, Any] = dict(attributes or {})
        self.read_only = bool(read_only or store.read_only)
        self.context = context or NodeContext()

    @property
    def name(self) -> str:
        """The node's path with a leading slash (as zarr-python)."""
        return "/" + self.path

    @property
    def basename(self) -> str:
        """Last component of the path."""
        return self.path.rpartition("/")[2]

    @property
    def zarr_format(self) -> Any:
        """2 or 3 for Zarr, "n5" for N5."""
        return self.metadata.zarr_format

    @property
    def attrs(self) -> Mapping[str, Any]:
        """The attributes, read-only (change them with :meth:`update_attributes`, which
        writes them to the store; item assignment here would be lost, so it raises)."""
        return MappingProxyType(dict(self._attrs))

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(f"{self.kind} {self.name} in {self.store.name} is read-only", key=self.path)

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
        await self.context.write_documents(self.store, self.path, self.metadata.attributes_documents(attrs))
        self._attrs = attrs


__all__ = [
    "Lineage",
    "NodeBase",
    "NodeContext",
    "Prefetched",
    "create_missing_parents",
    "delete_node",
    "doc_key",
    "join_path",
    "normalize_path",
    "plan_node",
    "read_lineage",
    "write_node",
]
