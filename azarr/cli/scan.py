"""One pass over a hierarchy in a store: ONE listing with sizes below a node, ONE batched read
of every metadata document found, parsed into nodes (documents that do not parse are kept as
problems, not raised). ``info``, ``ls`` and ``check`` are built on it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from azarr.core.array import AsyncArray
from azarr.core.hierarchy import doc_key
from azarr.errors import AzarrError
from azarr.meta.formats import CONSOLIDATED_DOCUMENTS, NODE_DOCUMENTS, Node, detect
from azarr.stores.base import Store

_DOCUMENTS = frozenset(NODE_DOCUMENTS) | frozenset(CONSOLIDATED_DOCUMENTS)


def relative(root: str, key: str) -> str:
    """``key`` relative to node path ``root``."""
    return key[len(root) + 1 :] if root else key


@dataclass
class Scan:
    """What is stored below node path ``root``: every key's size, every node's documents
    and what they parse to, and the documents that do not parse."""

    store: Store
    root: str
    sizes: dict[str, int]
    docs: dict[str, dict[str, bytes]] = field(default_factory=dict)  # rel node path -> {name: bytes}
    nodes: dict[str, Node] = field(default_factory=dict)  # rel node path -> node
    invalid: dict[str, str] = field(default_factory=dict)  # rel node path -> why its documents do not parse

    def node_path(self, rel: str) -> str:
        """The store path of the node at ``rel``."""
        return doc_key(self.root, rel) if rel else self.root

    def keys_of(self, rel: str) -> dict[str, int]:
        """``{key relative to the node: size}`` of every key below node ``rel``."""
        path = self.node_path(rel)
        prefix = path + "/" if path else ""
        return {k[len(prefix) :]: n for k, n in self.sizes.items() if k.startswith(prefix)}

    def array(self, rel: str) -> AsyncArray:
        """The array at ``rel`` (a read-only handle on the scanned store)."""
        node = self.nodes[rel]
        return AsyncArray(self.store, self.node_path(rel), node.metadata, node.attributes, read_only=True)


async def scan(store: Store, root: str) -> Scan:
    """Scan the hierarchy below node path ``root`` (one listing, one batched read)."""
    prefix = root + "/" if root else ""
    sizes = {k: n async for k, n in store.list_prefix_sizes(prefix)}
    result = Scan(store, root, sizes)
    doc_keys = [k for k in sizes if k.rpartition("/")[2] in NODE_DOCUMENTS]
    found = await store.get_many(doc_keys)
    for key, value in found.items():
        rel_path, _, name = relative(root, key).rpartition("/")
        result.docs.setdefault(rel_path, {})[name] = value
    for rel_path, docs in sorted(result.docs.items()):
        try:
            node = detect(docs, result.node_path(rel_path))
        except AzarrError as exc:
            result.invalid[rel_path] = str(exc)
            continue
        if node is not None:
            result.nodes[rel_path] = node
    return result


# --- an array's stored objects ----------------------------------------------------------------------


@dataclass
class ArrayStats:
    """An array's stored objects (chunks, or shards) counted from a listing with sizes."""

    objects_stored: int = 0
    objects_total: int = 0
    bytes_stored: int = 0  # of the stored objects
    metadata_bytes: int = 0
    other_keys: list[str] = field(default_factory=list)  # neither a document nor a chunk of the grid
    other_bytes: int = 0
    object_nbytes: int = 0  # one whole object, decoded

    @property
    def compression_ratio(self) -> float | None:
        """Decoded size of the stored objects (as whole objects) over the bytes they take."""
        if not self.bytes_stored or not self.object_nbytes:
            return None
        return self.objects_stored * self.object_nbytes / self.bytes_stored


_SPLIT = re.compile(r"[./]")


def stored_grid(arr: AsyncArray) -> tuple[int, ...]:
    """Stored objects (chunks, or shards) of ``arr`` along each axis."""
    return tuple(-(-s // c) for s, c in zip(arr.shape, arr.metadata.chunks))


def chunk_coords(arr: AsyncArray, rel: str) -> tuple[int, ...] | None:
    """The stored-grid coordinates whose key (relative to the array) is ``rel``, or None.

    Parsed without knowing the format: the key's integers (after an optional ``c``
    component), in either order, must map back to exactly ``rel`` inside the grid.
    """
    grid = stored_grid(arr)
    parts = _SPLIT.split(rel)
    if parts and parts[0] == "c":
        parts = parts[1:]
    if not all(p.isdigit() for p in parts):
        return None
    numbers = tuple(int(p) for p in parts)
    candidates = [numbers, numbers[::-1]] if numbers else [()]
    if not grid:
        candidates.append(())
    for coords in candidates:
        inside = len(coords) == len(grid) and all(0 <= c < g for c, g in zip(coords, grid))
        if inside and arr.metadata.chunk_key(coords) == rel:
            return coords
    return None


def array_stats(arr: AsyncArray, keys: dict[str, int]) -> ArrayStats:
    """Count ``keys`` (relative to the array, with sizes) as documents, stored objects of
    the grid, or other keys."""
    grid = stored_grid(arr)
    stats = ArrayStats(objects_total=math.prod(grid))
    if arr.dtype.kind != "O":
        stats.object_nbytes = math.prod(arr.metadata.chunks) * arr.dtype.itemsize
    for rel, size in keys.items():
        if rel in _DOCUMENTS:
            stats.metadata_bytes += size
        elif chunk_coords(arr, rel) is not None:
            stats.objects_stored += 1
            stats.bytes_stored += size
        else:
            stats.other_keys.append(rel)
            stats.other_bytes += size
    return stats


def describe_codecs(arr: AsyncArray) -> Any:
    """The array's codecs as its metadata document spells them (v3 ``codecs``; v2
    ``filters`` + ``compressor``; N5 ``compression``)."""
    import json

    docs = arr.metadata.to_documents({})
    for data in docs.values():
        doc = json.loads(data)
        if not isinstance(doc, dict):
            continue
        if "codecs" in doc:
            return doc["codecs"]
        if "compressor" in doc:
            return {"filters": doc.get("filters"), "compressor": doc["compressor"]}
        if "compression" in doc:
            return {"compression": doc["compression"]}
    return None


def codec_summary(codecs: Any) -> str:
    """A one-line form of :func:`describe_codecs`' answer."""

    def one(c: Any) -> str:
        if not isinstance(c, dict):
            return str(c)
        if "name" in c:
            config = c.get("configuration") or {}
            if c["name"] == "sharding_indexed":
                inner = " -> ".join(one(x) for x in config.get("codecs", []))
                return f"sharding_indexed(chunk_shape={tuple(config.get('chunk_shape', ()))}, codecs=[{inner}])"
            args = ", ".join(f"{k}={v}" for k, v in config.items())
            return f"{c['name']}({args})" if args else c["name"]
        if "id" in c:
            args = ", ".join(f"{k}={v}" for k, v in c.items() if k != "id")
            return f"{c['id']}({args})" if args else c["id"]
        if "type" in c:
            args = ", ".join(f"{k}={v}" for k, v in c.items() if k != "type")
            return f"{c['type']}({args})" if args else c["type"]
        return str(c)

    if isinstance(codecs, list):
        return " -> ".join(one(c) for c in codecs) or "-"
    if isinstance(codecs, dict) and "compressor" in codecs:
        filters = [one(f) for f in codecs.get("filters") or []]
        comp = one(codecs["compressor"]) if codecs["compressor"] else "no compressor"
        return " -> ".join([*filters, comp])
    if isinstance(codecs, dict) and "compression" in codecs:
        return one(codecs["compression"])
    return "-"


__all__ = [
    "ArrayStats",
    "Scan",
    "array_stats",
    "chunk_coords",
    "codec_summary",
    "describe_codecs",
    "relative",
    "scan",
    "stored_grid",
]
