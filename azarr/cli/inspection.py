"""``info``, ``tree``, ``ls``, ``consolidate`` and ``check``: what is stored, how big, and
whether its metadata (and consolidated metadata) can be trusted. Each returns plain data;
rendering it as text or JSON is :mod:`azarr.cli.app`'s business."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from azarr import aio
from azarr.cli.common import CommandError, Location
from azarr.cli.scan import Scan, array_stats, codec_summary, describe_codecs, scan
from azarr.core.array import AsyncArray
from azarr.core.consolidated import consolidate, load_consolidated
from azarr.core.group import AsyncGroup
from azarr.core.hierarchy import doc_key
from azarr.errors import AzarrError


def jsonable(value: Any) -> Any:
    """A fill value or attribute as JSON can hold it (NaN and infinities spelled as Zarr v3 does)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, complex):
        return [jsonable(value.real), jsonable(value.imag)]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _root(found: Scan, loc: Location) -> Any:
    if "" in found.invalid:
        raise CommandError(loc.shown, f"invalid metadata: {found.invalid['']}")
    node = found.nodes.get("")
    if node is None:
        raise CommandError(loc.shown, f"no array or group there in {loc.store.name}")
    return node


# --- info -------------------------------------------------------------------------------------------


async def info(loc: Location) -> dict[str, Any]:
    """What the node at ``loc`` is, and what it stores: ONE listing with sizes below it and
    ONE batched read of its metadata documents (a store that cannot list answers from
    metadata alone)."""
    if not loc.store.supports_listing:
        node = await aio.open(loc.store, mode="r", path=loc.path)
        if isinstance(node, AsyncArray):
            return _array_info(loc, node, None)
        return await _group_info(loc, None, node)
    found = await scan(loc.store, loc.path)
    node = _root(found, loc)
    if node.kind == "array":
        arr = found.array("")
        return _array_info(loc, arr, found)
    group = AsyncGroup(loc.store, loc.path, node.metadata, node.attributes, read_only=True)
    return await _group_info(loc, found, group)


def _array_info(loc: Location, arr: AsyncArray, found: Scan | None) -> dict[str, Any]:
    codecs = describe_codecs(arr)
    out: dict[str, Any] = {
        "url": loc.url,
        "path": loc.path,
        "node_type": "array",
        "zarr_format": arr.zarr_format,
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
        "chunks": list(arr.chunks),
        "shards": list(arr.shards) if arr.shards is not None else None,
        "codecs": codecs,
        "codecs_summary": codec_summary(codecs),
        "fill_value": jsonable(arr.fill_value),
        "nbytes": arr.nbytes,
        "attributes": jsonable(dict(arr.attrs)),
    }
    if found is None:
        return out
    stats = array_stats(arr, found.keys_of(""))
    ratio = stats.compression_ratio
    out.update(
        {
            "stored_objects": "shards" if arr.shards is not None else "chunks",
            "objects_stored": stats.objects_stored,
            "objects_total": stats.objects_total,
            "bytes_stored": stats.bytes_stored,
            "metadata_bytes": stats.metadata_bytes,
            "compression_ratio": round(ratio, 3) if ratio is not None else None,
            "other_keys": len(stats.other_keys),
            "other_bytes": stats.other_bytes,
        }
    )
    return out


async def _group_info(loc: Location, found: Scan | None, group: AsyncGroup) -> dict[str, Any]:
    out: dict[str, Any] = {
        "url": loc.url,
        "path": loc.path,
        "node_type": "group",
        "zarr_format": group.zarr_format,
        "attributes": jsonable(dict(group.attrs)),
    }
    if found is None:
        return out
    kinds = [n.kind for rel, n in found.nodes.items() if rel]
    try:
        view, _ = await load_consolidated(loc.store, loc.path, required=False, zarr_format=group.zarr_format)
        consolidated: str | None = "yes" if view is not None else None
    except AzarrError:
        consolidated = "invalid"  # `azarr check` says why
    out.update(
        {
            "arrays": kinds.count("array"),
            "groups": kinds.count("group"),
            "keys": len(found.sizes),
            "bytes_stored": sum(found.sizes.values()),
            "consolidated": consolidated,
            "invalid_metadata": len(found.invalid),
        }
    )
    return out


# --- tree ------------------------------------------------------------------------------------------


async def tree(loc: Location, level: int | None, use_consolidated: bool | None) -> tuple[str, bool]:
    """The hierarchy as text (zarr-python 3's layout, arrays with shape and dtype), and
    whether it was read from consolidated metadata (one request for everything)."""
    node = await aio.open(loc.store, mode="r", path=loc.path, use_consolidated=use_consolidated)
    if isinstance(node, AsyncArray):
        return f"{node.name} {node.shape} {node.dtype}\n", False
    return await node.tree(level=level), node.context.consolidated is not None


# --- ls ----------------------------------------------------------------------------------------------


@dataclass
class Member:
    """One row of ``ls``: a direct member of a group."""

    name: str
    kind: str
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    chunks: tuple[int, ...] | None = None
    bytes_stored: int = 0


async def members(loc: Location) -> list[Member]:
    """The direct members of the group at ``loc`` with the bytes stored below each (ONE
    listing with sizes); an array is listed as itself."""
    found = await scan(loc.store, loc.path)
    node = _root(found, loc)
    if node.kind == "array":
        arr = found.array("")
        return [Member(arr.basename or "/", "array", arr.shape, str(arr.dtype), arr.chunks, sum(found.sizes.values()))]
    out = []
    for rel, child in sorted(found.nodes.items()):
        if not rel or "/" in rel:
            continue
        stored = sum(found.keys_of(rel).values())
        if child.kind == "array":
            arr = found.array(rel)
            out.append(Member(rel, "array", arr.shape, str(arr.dtype), arr.chunks, stored))
        else:
            out.append(Member(rel, "group", bytes_stored=stored))
    return out


async def keys(loc: Location) -> list[tuple[str, int]]:
    """Every stored key below ``loc`` (relative to it) with its size, from ONE listing."""
    prefix = loc.path + "/" if loc.path else ""
    return [(k[len(prefix) :], n) async for k, n in loc.store.list_prefix_sizes(prefix)]


# --- consolidate ---------------------------------------------------------------------------------------


async def consolidate_at(loc: Location) -> tuple[int, str, Any]:
    """Write the consolidated metadata of the group at ``loc``: (nodes recorded, the key
    written, the format)."""
    view = await consolidate(loc.store, loc.path)
    key = doc_key(loc.path, view.format.consolidated_key or "")
    return len([e for e in view.entries if e]), key, view.format.key


# --- check -------------------------------------------------------------------------------------------------


@dataclass
class CheckReport:
    """What ``check`` found: the nodes it read, problems (non-zero exit) and notes."""

    nodes: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _normalised(entry: dict[str, Any]) -> dict[str, Any]:
    """A consolidated entry with empty attribute documents left out (zarr-python writes
    ``.zattrs`` only when there are attributes; an empty one says the same)."""
    return {k: v for k, v in entry.items() if not (k == ".zattrs" and v == {})}


def _differences(stored: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
    """The fields that differ between two entries (document.field)."""
    out: list[str] = []
    for name in sorted(set(stored) | set(recorded)):
        a, b = stored.get(name), recorded.get(name)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(f"{name}:{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
        elif a != b:
            out.append(name)
    return out


async def check(loc: Location) -> CheckReport:
    """Read every metadata document below ``loc`` (one listing, one batched read) and report
    documents that do not parse, arrays whose codecs azarr cannot build, and where the
    consolidated metadata (if any) disagrees with the documents: nodes missing from it,
    nodes it records that are gone, and nodes whose documents changed since."""
    found = await scan(loc.store, loc.path)
    report = CheckReport(nodes=len(found.nodes))
    if not found.nodes and not found.invalid:
        raise CommandError(loc.shown, f"no array or group there in {loc.store.name}")
    for rel, why in sorted(found.invalid.items()):
        report.problems.append(f"invalid metadata at {rel or '/'}: {why}")
    for rel, node in sorted(found.nodes.items()):
        if node.kind == "array":
            try:
                _ = found.array(rel).codec_pipeline
            except AzarrError as exc:
                report.problems.append(f"array {rel or '/'}: its codecs cannot be used: {exc}")
    try:
        view, _ = await load_consolidated(loc.store, loc.path, required=False)
    except AzarrError as exc:
        report.problems.append(f"invalid consolidated metadata: {exc}")
        return report
    if view is None:
        report.notes.append("no consolidated metadata")
        return report
    fmt = view.format
    stored: dict[str, dict[str, Any]] = {}
    for rel, docs in found.docs.items():
        if rel in found.invalid or rel not in found.nodes:
            continue
        own = {n: v for n, v in docs.items() if fmt.is_metadata_document(n)}
        if own:
            stored[rel] = _normalised(fmt.entry_from_documents(own, doc_key(found.node_path(rel), "metadata")))
    recorded = {rel: _normalised(entry) for rel, entry in view.entries.items()}
    where = doc_key(loc.path, fmt.consolidated_key or "")
    for rel in sorted(set(stored) - set(recorded)):
        report.problems.append(f"stale consolidated metadata ({where}): {rel or '/'} is stored but not recorded")
    for rel in sorted(set(recorded) - set(stored)):
        report.problems.append(f"stale consolidated metadata ({where}): {rel or '/'} is recorded but no longer stored")
    for rel in sorted(set(stored) & set(recorded)):
        diff = _differences(stored[rel], recorded[rel])
        if diff:
            report.problems.append(
                f"stale consolidated metadata ({where}): {rel or '/'} differs in {', '.join(diff)}"
            )
    report.notes.append(f"consolidated metadata ({where}) records {len([r for r in recorded if r])} nodes")
    return report


_FLAT_LIST = re.compile(r"\[\s*((?:-?[\d.eE+-]+|null|true|false)(?:,\s*(?:-?[\d.eE+-]+|null|true|false))*)\s*\]")


def render_json(data: Any) -> str:
    """``data`` as indented JSON, lists of numbers on one line (shapes, chunks)."""
    text = json.dumps(data, indent=2, sort_keys=False)
    return _FLAT_LIST.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)


__all__ = [
    "CheckReport",
    "Member",
    "check",
    "consolidate_at",
    "info",
    "jsonable",
    "keys",
    "members",
    "render_json",
    "tree",
]
