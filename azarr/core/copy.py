"""Copying arrays, groups and whole stores, store to store (zarr-python 2's ``copy``,
``copy_all`` and ``copy_store``; the ``azarr copy`` command builds on this module).

A copy is planned before anything is written: the source hierarchy is walked (one
batched metadata read per group, none when it was opened from consolidated metadata), the
destination is checked for every target at once, and ``if_exists="raise"`` fails before
the first write (zarr-python 2 fails part-way). Then every new metadata document goes out
in one batched write, and data follows:

- an array whose destination metadata equals its source's (same format, chunks and
  codecs: the default for a copy within one format) has its stored chunks copied as raw
  bytes, never decoded. The chunks of every such array in the copy form ONE stream: the
  source is listed once, and batched ``get_many`` windows feed ``set_many`` windows, the
  next read in flight while the last is written, memory bounded by
  :data:`~azarr.core.streams.WINDOW_BYTES` per window;
- any other array (another format, or creation keywords that change chunks or codecs)
  is read and written in chunk-aligned slabs of at most the same budget, the next slab
  read while the last is written.

Counts are zarr-python's: ``(n_copied, n_skipped, n_bytes_copied)``, with arrays counting
their uncompressed size (``size * itemsize``) and ``copy_store`` the bytes it moved.
Attributes are copied (merged into an existing group) unless ``without_attrs``; a source
group with consolidated metadata gets it in the destination too, and a destination opened
from consolidated metadata keeps it true.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from azarr.core.array import AsyncArray
from azarr.core.creation import build_array_metadata, translate_keywords
from azarr.core.group import AsyncGroup
from azarr.core.hierarchy import (
    create_missing_parents,
    delete_node,
    doc_key,
    join_path,
    normalize_path,
    read_lineage,
)
from azarr.core.streams import WINDOW_BYTES, CopyProgress, keys_under, sizes_under, stream_values
from azarr.errors import (
    ArgumentError,
    AzarrError,
    ContainsArrayError,
    CopyError,
    InvalidKeyError,
    NodeNotFoundError,
)
from azarr.meta.formats import NODE_DOCUMENTS, Node, detect, format_for
from azarr.stores.base import Store

#: what a ``log=`` may be: a callable taking one message, a file path, or a writable file
LogLike = Callable[[str], object] | str | IO[str] | None

IF_EXISTS = ("raise", "replace", "skip", "skip_initialized")
STORE_IF_EXISTS = ("raise", "replace", "skip")


class CopyLog:
    """zarr-python 2's copy log: messages go to a callable, a file opened by path, or a
    file-like object (flushed after each line); None discards them."""

    def __init__(self, log: LogLike) -> None:
        self._func: Callable[[str], object] | None = None
        self._file: IO[str] | None = None
        self._owned = False
        if log is None:
            return
        if callable(log):
            self._func = log
        elif isinstance(log, str):
            self._file = open(log, "w")  # noqa: SIM115 - closed by close() when the copy ends
            self._owned = True
        elif hasattr(log, "write"):
            self._file = log
        else:
            raise ArgumentError(f"log must be a callable, a file path or a file-like object, got {log!r}")

    def __call__(self, message: str) -> None:
        if self._func is not None:
            self._func(message)
        elif self._file is not None:
            print(message, file=self._file)
            if hasattr(self._file, "flush"):
                self._file.flush()

    def summary(self, dry_run: bool, counts: tuple[int, int, int]) -> None:
        """The closing line zarr-python 2 writes."""
        n_copied, n_skipped, n_bytes = counts
        message = ("dry run: " if dry_run else "all done: ") + f"{n_copied:,} copied, {n_skipped:,} skipped"
        if not dry_run:
            message += f", {n_bytes:,} bytes copied"
        self(message)

    def close(self) -> None:
        """Close a log file opened by path."""
        if self._owned and self._file is not None:
            self._file.close()


# --- raw key streams ----------------------------------------------------------------------------


async def copy_keys(
    source: Store,
    dest: Store,
    pairs: Sequence[tuple[str, str]],
    *,
    budget: int = WINDOW_BYTES,
    progress: CopyProgress | None = None,
) -> int:
    """Copy the values of ``(source key, dest key)`` pairs as they are (a key gone from the
    source is skipped); returns the bytes copied. Batched reads feed batched writes, the
    next window read while the last is written; ``progress`` advances after each window
    is written (so an interrupted copy has counted only what landed).

    A window holds at most twice the larger of the two stores' concurrency budgets: enough
    to keep both busy, small enough that reading the next window overlaps writing this one
    for the whole copy (one huge window would be read first and written after, serially).
    """
    target = dict(pairs)
    total = 0
    max_keys = 2 * max(source.concurrency, dest.concurrency)
    async for _, found in stream_values(source, list(target), budget=budget, max_keys=max_keys):
        if found:
            await dest.set_many({target[k]: v for k, v in found.items()})
            nbytes = sum(len(v) for v in found.values())
            total += nbytes
            if progress is not None:
                progress.advance(len(found), nbytes)
    return total


def _compile(patterns: str | Iterable[str] | None, flags: int) -> list[re.Pattern[str]]:
    if patterns is None:
        return []
    if isinstance(patterns, str):
        patterns = [patterns]
    return [re.compile(p, flags) for p in patterns]


async def copy_store(
    source: Store,
    dest: Store,
    source_path: str = "",
    dest_path: str = "",
    excludes: str | Iterable[str] | None = None,
    includes: str | Iterable[str] | None = None,
    flags: int = 0,
    if_exists: str = "raise",
    dry_run: bool = False,
    log: LogLike = None,
) -> tuple[int, int, int]:
    """Copy every key below ``source_path`` to the same relative key below ``dest_path``
    (zarr-python 2's ``copy_store``): metadata, consolidated metadata and chunks alike,
    as raw bytes. A key matching an ``excludes`` regex is left out unless it also matches
    an ``includes`` one. ``if_exists``: ``raise`` (before anything is written),
    ``replace`` or ``skip``. Returns ``(n_copied, n_skipped, n_bytes_copied)``."""
    if if_exists not in STORE_IF_EXISTS:
        raise ArgumentError(f"if_exists must be one of {list(STORE_IF_EXISTS)!r}; found {if_exists!r}")
    src_prefix = normalize_path(source_path)
    dst_prefix = normalize_path(dest_path)
    excl, incl = _compile(excludes, flags), _compile(includes, flags)
    writer = CopyLog(log)
    try:
        keys = await keys_under(source, src_prefix)
        start = len(src_prefix) + 1 if src_prefix else 0
        plan: list[tuple[str, str]] = []
        for key in keys:
            if any(p.search(key) for p in excl) and not any(p.search(key) for p in incl):
                continue
            plan.append((key, join_path(dst_prefix, key[start:])))
        existing: set[str] = set()
        if if_exists != "replace" and plan:
            existing = set(await keys_under(dest, dst_prefix))
        if if_exists == "raise":
            clash = next((d for _, d in plan if d in existing), None)
            if clash is not None:
                raise CopyError(f"key {clash!r} exists in destination {dest.name}; nothing was copied")
        todo: list[tuple[str, str]] = []
        n_skipped = 0
        for src_key, dst_key in plan:
            descr = src_key if src_key == dst_key else f"{src_key} -> {dst_key}"
            if dst_key in existing:
                writer(f"skip {descr}")
                n_skipped += 1
            else:
                writer(f"copy {descr}")
                todo.append((src_key, dst_key))
        n_bytes = 0 if dry_run or not todo else await copy_keys(source, dest, todo)
        counts = (len(todo), n_skipped, n_bytes)
        writer.summary(dry_run, counts)
        return counts
    finally:
        writer.close()


# --- nodes ----------------------------------------------------------------------------------------


@dataclass
class _Step:
    """One source node and what happens to it."""

    source: AsyncArray | AsyncGroup
    target: str  # destination path
    existing: Node | None = None
    action: str = "copy"  # copy | skip | replace (resume: copy into what exists)
    merge: bool = False  # copy a group into an existing group
    children: list[_Step] = field(default_factory=list)


def _describe(node: AsyncArray | AsyncGroup) -> str:
    if isinstance(node, AsyncArray):
        return f"{node.name} {node.shape} {node.dtype}"
    return node.name


async def _walk(node: AsyncArray | AsyncGroup, target: str, shallow: bool, root: bool) -> _Step | None:
    """The copy plan below ``node``: groups below the root only when not ``shallow``."""
    if isinstance(node, AsyncArray):
        return _Step(node, target)
    if not root and shallow:
        return None
    step = _Step(node, target)
    members = await node.members()
    children = await asyncio.gather(*(_walk(m, join_path(target, n), shallow, False) for n, m in members))
    step.children = [c for c in children if c is not None]
    return step


def _flatten(step: _Step) -> list[_Step]:
    out = [step]
    for child in step.children:
        out.extend(_flatten(child))
    return out


#: creation keywords for each source array (``azarr convert`` applies ``--chunks`` only where they fit)
KeywordsFor = Callable[[AsyncArray], Mapping[str, Any]]


async def _decide(step: _Step, dest: AsyncGroup, if_exists: str, create_kws: KeywordsFor) -> None:
    """Set each step's action from what exists at its target (pre-order; a skipped group's
    subtree is dropped)."""
    existing = step.existing
    if if_exists == "resume":
        _decide_resume(step, dest, create_kws)
        return
    if isinstance(step.source, AsyncArray):
        if existing is None:
            return
        if if_exists == "raise":
            raise CopyError(
                f"an object {step.target!r} already exists in destination {dest.store.name}; nothing was copied"
            )
        if if_exists == "skip":
            step.action = "skip"
        elif if_exists == "skip_initialized":
            if existing.kind != "array":
                raise CopyError(
                    f"a group {step.target!r} exists in destination {dest.store.name} where array "
                    f"{step.source.name} would go; nothing was copied"
                )
            arr = AsyncArray(dest.store, step.target, existing.metadata, existing.attributes, context=dest.context)
            step.action = "skip" if await arr.nchunks_initialized() == arr.nchunks else "replace"
        else:
            step.action = "replace"
        return
    if existing is not None and existing.kind == "array":
        if if_exists == "raise":
            raise CopyError(
                f"an array {step.target!r} already exists in destination {dest.store.name}; nothing was copied"
            )
        step.action = "skip" if if_exists == "skip" else "replace"
    elif existing is not None:
        step.merge = True
    if step.action == "skip":
        step.children = []
        return
    for child in step.children:
        await _decide(child, dest, if_exists, create_kws)


def _decide_resume(step: _Step, dest: AsyncGroup, create_kws: KeywordsFor) -> None:
    """Resuming: what exists is kept and completed. An existing group is merged into; an
    existing array must be the array the copy would create (same metadata documents),
    else the copy cannot be resumed into it."""
    existing = step.existing
    where = f"{step.target!r} in destination {dest.store.name}"
    if isinstance(step.source, AsyncArray):
        if existing is not None:
            if existing.kind != "array":
                raise CopyError(f"a group exists at {where} where array {step.source.name} would go; nothing was copied")
            want = _target_metadata(step.source, dest.zarr_format, create_kws(step.source))
            if existing.metadata.to_documents({}) != want.to_documents({}):
                raise CopyError(
                    f"the array at {where} differs from the one this copy writes (shape, chunks, dtype or codecs); "
                    "it cannot be resumed: replace it instead; nothing was copied"
                )
        return
    if existing is not None and existing.kind == "array":
        raise CopyError(f"an array exists at {where} where group {step.source.name} would go; nothing was copied")
    step.merge = existing is not None
    for child in step.children:
        _decide_resume(child, dest, create_kws)


def _check_replacements(steps: Sequence[_Step], dest: AsyncGroup) -> None:
    """Refuse a plan that would delete part of its own source (a replaced target that is,
    or holds, a node being copied from the same store)."""
    sources = [s.source.path for s in steps if s.source.store is dest.store]
    for step in steps:
        if step.action != "replace":
            continue
        target = step.target
        if any(p == target or p.startswith(target + "/") or not target for p in sources):
            raise CopyError(
                f"replacing {target!r} in {dest.store.name} would delete part of the source being copied; "
                "nothing was copied"
            )


def target_dtype(source: AsyncArray, fmt: Any) -> Any:
    """The dtype to create in format ``fmt`` for ``source`` (object arrays by their codec)."""
    if source.dtype.kind != "O" or fmt == source.zarr_format:
        return source.dtype
    if fmt == 2:
        kind = getattr(source.metadata, "data_type", None)
        return "bytes" if kind is not None and kind.kind == "variable_length_bytes" else str
    ids = [f.get("id") for f in getattr(source.metadata, "filters", None) or []]
    if "vlen-utf8" in ids:
        return str
    if "vlen-bytes" in ids:
        return "bytes"
    raise CopyError(
        f"array {source.name} in {source.store.name}: object arrays encoded with {ids} have no Zarr v{fmt} equivalent"
    )


def _inner_codecs(codecs: Sequence[Any]) -> list[Any]:
    """A sharded array's codecs inside its ``sharding_indexed`` codec (what a rechunked or
    resharded copy keeps), or the codecs themselves."""
    if len(codecs) == 1:
        entry = codecs[0]
        entry = entry.to_dict() if hasattr(entry, "to_dict") else entry
        if isinstance(entry, Mapping) and entry.get("name") == "sharding_indexed":
            return list(entry.get("configuration", {}).get("codecs", []))
    return list(codecs)


def _target_metadata(source: AsyncArray, fmt: Any, create_kws: Mapping[str, Any]) -> Any:
    """The destination's array metadata: the source's own when the format is the same and
    nothing is overridden (so chunks copy as raw bytes), else built from creation keywords
    as zarr-python 2's ``copy`` builds them (a sharded source rechunked keeps its inner codecs)."""
    if fmt == source.zarr_format and not create_kws:
        return source.metadata
    try:
        return _build_target_metadata(source, fmt, create_kws)
    except AzarrError as exc:
        raise CopyError(f"array {source.name} in {source.store.name}: {exc}") from exc


def _build_target_metadata(source: AsyncArray, fmt: Any, create_kws: Mapping[str, Any]) -> Any:
    kws = translate_keywords("copy", create_kws)
    kws.pop("zarr_format", None)
    chunks = kws.pop("chunks", source.chunks)
    dtype = kws.pop("dtype", target_dtype(source, fmt))
    fill = source.fill_value
    if fill is not None and np.dtype(source.dtype).kind in "SUV" and fmt != source.zarr_format:
        fill = None  # fixed-width fill values are spelled differently across formats
    kws.setdefault("fill_value", fill)
    meta = source.metadata
    if fmt == source.zarr_format:
        if hasattr(meta, "compressor"):
            if "compressors" not in kws:
                kws.setdefault("compressor", meta.compressor)
            kws.setdefault("filters", meta.filters)
            kws.setdefault("order", source.order)
            kws.setdefault("dimension_separator", getattr(meta, "dimension_separator", None))
        elif hasattr(meta, "codecs"):
            if not {"compressors", "filters", "serializer"} & set(kws):
                resharded = source.shards is not None and ("chunks" in create_kws or "shards" in create_kws)
                kws.setdefault("codecs", _inner_codecs(meta.codecs) if resharded else list(meta.codecs))
            kws.setdefault("chunk_key_encoding", meta.chunk_key_encoding.to_dict())
            kws.setdefault("dimension_names", meta.dimension_names)
    return build_array_metadata(fmt, source.shape, chunks, dtype, kws)


def _data_keys(listing: Iterable[str], arrays: Mapping[str, str]) -> list[tuple[str, str]]:
    """(source key, dest key) of every stored key of the given arrays (source path ->
    dest path), from one listing of the source: a key belongs to its deepest ancestor
    that is an array, and documents are left out (they are written from the plan)."""
    pairs = []
    for key in listing:
        parent, _, name = key.rpartition("/")
        if name in NODE_DOCUMENTS and parent in arrays:
            continue
        node = parent
        while node and node not in arrays:
            node = node.rpartition("/")[0]
        if node in arrays:
            rel = key[len(node) + 1 :] if node else key
            pairs.append((key, doc_key(arrays[node], rel)))
    return pairs


def chunk_regions(shape: tuple[int, ...], chunks: tuple[int, ...], itemsize: int, budget: int) -> list[tuple[slice, ...]]:
    """Chunk-aligned slabs covering the array in C order, each at most ``budget`` bytes
    (or one chunk, if a chunk is bigger)."""
    if math.prod(shape) == 0:
        return []
    grid = [-(-s // c) for s, c in zip(shape, chunks)]
    per_chunk = max(1, math.prod(chunks) * max(1, itemsize))
    room = max(1, budget // per_chunk)
    take = [1] * len(shape)
    for axis in reversed(range(len(shape))):
        take[axis] = max(1, min(grid[axis], room))
        room //= take[axis]
        if room <= 1:
            break
    starts = [range(0, g, t) for g, t in zip(grid, take)]
    return [
        tuple(slice(b * c, min((b + t) * c, s)) for b, t, c, s in zip(block, take, chunks, shape))
        for block in itertools.product(*starts)
    ]


def _region_keys(target: AsyncArray, region: tuple[slice, ...]) -> list[str]:
    """The store keys of the stored objects (chunks, or shards) a stored-grid-aligned region covers."""
    stored = target.metadata.chunks
    ranges = [range(r.start // c, -(-r.stop // c)) for r, c in zip(region, stored)]
    return [target.chunk_key(coords) for coords in itertools.product(*ranges)]


async def copy_array_data(
    source: AsyncArray,
    target: AsyncArray,
    *,
    budget: int = WINDOW_BYTES,
    progress: CopyProgress | None = None,
    existing: Iterable[str] | None = None,
) -> None:
    """Copy the values of ``source`` into ``target`` (same shape) in slabs aligned to the
    target's stored objects (whole shards of a sharded target, so each shard is encoded
    once and written in one request), each at most ``budget`` bytes decoded, the next slab
    read while the last is written. A slab whose stored objects are all among ``existing``
    keys (a resumed copy) is not copied again."""
    regions = chunk_regions(target.shape, target.metadata.chunks, target.dtype.itemsize, budget)
    if not regions:
        if not target.shape:
            await target.setitem((), await source.getitem(()))
        return
    done = set(existing or ())
    todo: list[tuple[tuple[slice, ...], int]] = []
    for region in regions:
        keys = _region_keys(target, region)
        nbytes = math.prod(r.stop - r.start for r in region) * target.dtype.itemsize
        if progress is not None:
            progress.plan(len(keys), nbytes)
        if done and all(k in done for k in keys):
            if progress is not None:
                progress.skip(len(keys), nbytes)
            continue
        todo.append((region, len(keys)))
    if not todo:
        return
    pending = asyncio.ensure_future(source.get_basic_selection(todo[0][0]))
    try:
        for i, (region, n_keys) in enumerate(todo):
            data = await pending
            if i + 1 < len(todo):
                pending = asyncio.ensure_future(source.get_basic_selection(todo[i + 1][0]))
            await target.set_basic_selection(region, data)
            if progress is not None:
                progress.advance(n_keys, data.nbytes)
    finally:
        if not pending.done():
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)


def _group_ref(dest: AsyncGroup) -> AsyncGroup:
    if isinstance(dest, AsyncArray):
        raise ContainsArrayError(f"dest must be a group, but {dest.name} in {dest.store.name} is an array")
    if not isinstance(dest, AsyncGroup):
        raise ArgumentError(f"dest must be a group, got {dest!r}")
    return dest


async def copy_nodes(
    sources: Sequence[tuple[AsyncArray | AsyncGroup, str]],
    dest: AsyncGroup,
    *,
    shallow: bool = False,
    without_attrs: bool = False,
    log: LogLike = None,
    if_exists: str = "raise",
    dry_run: bool = False,
    create_kws: Mapping[str, Any] | KeywordsFor | None = None,
    progress: CopyProgress | None = None,
) -> tuple[int, int, int]:
    """Copy each ``(node, name)`` into group ``dest`` as ``dest/name`` (the engine behind
    :func:`copy`, :func:`copy_all` and ``azarr copy`` / ``azarr convert``); a source group
    with consolidated metadata gets it recreated at its copy. ``name`` may be ``""``: the
    node is copied to ``dest``'s own path.

    Each array's metadata documents are written after its data, so an interrupted copy
    leaves no array that looks complete but is not (every object written is whole: the
    stores write atomically). ``if_exists="resume"`` (azarr's own, besides zarr-python's
    modes) completes an earlier copy: existing groups are merged into, an existing array
    must be the one the copy writes, and stored objects already at the destination are
    not copied again (raw copies: same key and size; re-encoded ones: every object of a
    slab present). ``progress`` counts objects and bytes as they are written.
    ``create_kws`` may be a function of each source array (keywords for that array)."""
    dest = _group_ref(dest)
    if if_exists not in IF_EXISTS and if_exists != "resume":
        raise ArgumentError(f"if_exists must be one of {[*IF_EXISTS, 'resume']!r}; found {if_exists!r}")
    if callable(create_kws):
        kws_for: KeywordsFor = create_kws
    else:
        fixed = dict(create_kws or {})
        kws_for = lambda _source: fixed  # the same keywords for every array
    writer = CopyLog(log)
    try:
        roots = await asyncio.gather(*(_walk(n, join_path(dest.path, normalize_path(name)), shallow, True) for n, name in sources))
        steps = [s for r in roots if r is not None for s in _flatten(r)]
        for step, node in zip(steps, await _read_targets(dest, [s.target for s in steps])):
            step.existing = node
        for root in roots:
            if root is not None:
                await _decide(root, dest, if_exists, kws_for)
        todo = [s for r in roots if r is not None for s in _flatten(r)]
        _check_replacements(todo, dest)
        counts = _report(todo, writer)
        if not dry_run and any(s.action != "skip" for s in todo):
            for root in roots:
                if root is not None and root.action != "skip" and root.target:  # the store's root has no parents
                    lineage = await read_lineage(dest.store, root.target, dest.context, dest.zarr_format)
                    await create_missing_parents(dest.store, lineage, dest.zarr_format, dest.context)
            n_bytes = await _execute(todo, dest, without_attrs, kws_for, progress, resume=if_exists == "resume")
            counts = (counts[0], counts[1], n_bytes)
            for root in roots:
                if root is not None and root.action != "skip" and isinstance(root.source, AsyncGroup):
                    await keep_consolidated(root.source, dest.store, root.target, dest.zarr_format)
        writer.summary(dry_run, counts)
        return counts
    finally:
        writer.close()


async def _read_targets(dest: AsyncGroup, paths: Sequence[str]) -> list[Node | None]:
    """What exists at each target path: one batched read of every candidate document
    (none at all when the destination was opened from consolidated metadata)."""
    if dest.context.consolidated is not None:
        return list(await asyncio.gather(*(dest.context.read_node(dest.store, p, dest.zarr_format) for p in paths)))
    keys = {doc_key(p, d): (p, d) for p in paths for d in NODE_DOCUMENTS}
    found = await dest.store.get_many(list(keys))
    docs: dict[str, dict[str, bytes]] = {p: {} for p in paths}
    for key, value in found.items():
        path, name = keys[key]
        docs[path][name] = value
    return [detect(docs[p], p, dest.zarr_format) for p in paths]


def _report(steps: Sequence[_Step], writer: CopyLog) -> tuple[int, int, int]:
    n_copied = n_skipped = 0
    for step in steps:
        verb = "skip" if step.action == "skip" else "copy"
        writer(f"{verb} {_describe(step.source)}")
        if step.action == "skip":
            n_skipped += 1
        else:
            n_copied += 1
    return n_copied, n_skipped, 0


async def _execute(
    steps: Sequence[_Step],
    dest: AsyncGroup,
    without_attrs: bool,
    create_kws: KeywordsFor,
    progress: CopyProgress | None,
    *,
    resume: bool,
) -> int:
    fmt = dest.zarr_format
    live = [s for s in steps if s.action != "skip"]
    for step in live:
        if step.action == "replace":
            await delete_node(dest.store, step.target, dest.context)
    group_docs: dict[str, dict[str, bytes]] = {}
    array_docs: dict[str, dict[str, bytes]] = {}
    raw: dict[str, dict[str, str]] = {}  # source store name -> {source array path: dest path}
    raw_sources: dict[str, tuple[Store, list[str]]] = {}
    decoded: list[tuple[AsyncArray, AsyncArray]] = []
    n_bytes = 0
    for step in live:
        src = step.source
        attrs = {} if without_attrs else dict(src._attrs)
        if isinstance(src, AsyncGroup):
            if step.merge and step.action != "replace":
                assert step.existing is not None
                if attrs:
                    merged = {**step.existing.attributes, **attrs}
                    group_docs[step.target] = step.existing.metadata.attributes_documents(merged)
            else:
                group_docs[step.target] = format_for(fmt).create_group(root=step.target == "").to_documents(attrs)
            continue
        meta = _target_metadata(src, fmt, create_kws(src))
        array_docs[step.target] = meta.to_documents(attrs)
        n_bytes += src.size * src.dtype.itemsize
        if meta is src.metadata:
            key = f"{id(src.store)}"
            raw.setdefault(key, {})[src.path] = step.target
            raw_sources.setdefault(key, (src.store, []))[1].append(src.path)
        else:
            target = AsyncArray(dest.store, step.target, meta, attrs, context=dest.context)
            decoded.append((src, target))
    # the sources are listed (with sizes, one listing each) before anything is written:
    # a copy may land inside its source
    pairs: list[tuple[Store, list[tuple[str, str]], dict[str, int]]] = []
    for key, arrays in raw.items():
        store, paths = raw_sources[key]
        listing: dict[str, int] = {}
        for prefix in _covering_prefixes(paths):
            listing.update(await sizes_under(store, prefix))
        pairs.append((store, _data_keys(sorted(listing), arrays), listing))
    there = await _listed(dest.store, [*(t for a in raw.values() for t in a.values()), *(t.path for _, t in decoded)]) if resume else {}
    await _write_documents(dest, group_docs)
    for store, chunk_pairs, sizes in pairs:
        if progress is not None:
            progress.plan(len(chunk_pairs), sum(sizes[k] for k, _ in chunk_pairs))
        todo = []
        for src_key, dst_key in chunk_pairs:
            if there.get(dst_key, -1) == sizes[src_key]:
                if progress is not None:
                    progress.skip(1, sizes[src_key])
            else:
                todo.append((src_key, dst_key))
        await copy_keys(store, dest.store, todo, progress=progress)
    for src, target in decoded:
        await copy_array_data(src, target, progress=progress, existing=there if resume else None)
    await _write_documents(dest, array_docs)  # last: an array appears once its data is there
    return n_bytes


async def _listed(store: Store, paths: Iterable[str]) -> dict[str, int]:
    """``{key: size}`` below each of ``paths`` in ``store`` (one listing per covering path)."""
    out: dict[str, int] = {}
    for prefix in _covering_prefixes(paths):
        out.update(await sizes_under(store, prefix))
    return out


def _covering_prefixes(paths: Iterable[str]) -> list[str]:
    """The fewest node paths whose listings cover ``paths`` (each path or an ancestor given)."""
    out: list[str] = []
    for p in sorted(set(paths)):
        if not any(p == q or p.startswith(q + "/") or q == "" for q in out):
            out.append(p)
    return out


async def _write_documents(dest: AsyncGroup, docs: Mapping[str, dict[str, bytes]]) -> None:
    """Write the plan's metadata documents: one batch, or node by node through the
    destination's consolidated metadata when it must stay true."""
    view = dest.context.consolidated
    if view is not None and view.writable:
        for path, node_docs in docs.items():
            await dest.context.write_documents(dest.store, path, node_docs)
        return
    await dest.store.set_many({doc_key(path, n): v for path, node_docs in docs.items() for n, v in node_docs.items()})


async def keep_consolidated(source: AsyncGroup, store: Store, path: str, fmt: Any) -> None:
    """Consolidate the copy at ``path`` when group ``source`` has consolidated metadata."""
    from azarr.core.consolidated import consolidate, load_consolidated

    view = source.context.consolidated
    if view is None or view.root != source.path:
        view, _ = await load_consolidated(source.store, source.path, required=False, zarr_format=source.zarr_format)
    if view is not None and format_for(fmt).consolidated_key is not None:
        await consolidate(store, path, fmt)


async def copy(
    source: AsyncArray | AsyncGroup,
    dest: AsyncGroup,
    name: str | None = None,
    shallow: bool = False,
    without_attrs: bool = False,
    log: LogLike = None,
    if_exists: str = "raise",
    dry_run: bool = False,
    **create_kws: Any,
) -> tuple[int, int, int]:
    """Copy array or group ``source`` into group ``dest`` as ``name`` (default: the source's
    own name), as zarr-python 2's ``copy``. Returns ``(n_copied, n_skipped, n_bytes_copied)``."""
    dest = _group_ref(dest)
    if name is None:
        name = source.basename
        if not name:
            raise ArgumentError("source has no name, please provide the `name` parameter to indicate a name to copy to")
    if not normalize_path(name):
        raise InvalidKeyError(f"cannot copy into the destination group itself (name={name!r})")
    return await copy_nodes(
        [(source, name)],
        dest,
        shallow=shallow,
        without_attrs=without_attrs,
        log=log,
        if_exists=if_exists,
        dry_run=dry_run,
        create_kws=create_kws,
    )


async def copy_all(
    source: AsyncGroup,
    dest: AsyncGroup,
    shallow: bool = False,
    without_attrs: bool = False,
    log: LogLike = None,
    if_exists: str = "raise",
    dry_run: bool = False,
    **create_kws: Any,
) -> tuple[int, int, int]:
    """Copy every child of group ``source`` into group ``dest`` and merge the source's
    attributes into the destination's (zarr-python 2's ``copy_all``)."""
    dest = _group_ref(dest)
    if not isinstance(source, AsyncGroup):
        raise ArgumentError(f"source must be a group, got {source!r}")
    members = await source.members()
    counts = await copy_nodes(
        [(m, n) for n, m in members],
        dest,
        shallow=shallow,
        without_attrs=without_attrs,
        log=log,
        if_exists=if_exists,
        dry_run=dry_run,
        create_kws=create_kws,
    )
    if not dry_run:
        if source._attrs and not without_attrs:
            await dest.update_attributes(source._attrs)
        await keep_consolidated(source, dest.store, dest.path, dest.zarr_format)
    return counts


async def move(group: AsyncGroup, source: str, dest: str) -> None:
    """Move the node at ``source`` (relative to ``group``) to ``dest``: its keys are copied
    as raw bytes in batches, then the originals deleted (zarr-python 2's ``Group.move``).
    Parent groups of ``dest`` are created as needed."""
    group._check_writable()
    src = join_path(group.path, normalize_path(source))
    dst = join_path(group.path, normalize_path(dest))
    if src == dst or dst.startswith(src + "/") or not normalize_path(source) or not normalize_path(dest):
        raise InvalidKeyError(f"cannot move {source!r} to {dest!r} in group {group.name}")
    ctx, store = group.context, group.store
    node, there = await asyncio.gather(ctx.read_node(store, src, group.zarr_format), ctx.read_node(store, dst, group.zarr_format))
    if node is None:
        raise NodeNotFoundError(f'the source, "{source}", does not exist in group {group.name} ({store.name})')
    if there is not None:
        from azarr.errors import ContainsArrayError, ContainsGroupError

        err = ContainsArrayError if there.kind == "array" else ContainsGroupError
        raise err(f'the dest, "{dest}", already exists in group {group.name} ({store.name})')
    parent = normalize_path(dest).rpartition("/")[0]
    if parent:
        await group.require_group(parent)
    keys = await keys_under(store, src)
    await copy_keys(store, store, [(k, dst + k[len(src) :]) for k in keys])
    view = ctx.consolidated
    if view is not None and view.writable and view.covers(dst):
        moved = await _node_documents_below(store, dst, keys, src)
        async with view.lock():
            for path, docs in moved.items():
                view.record(path, docs)
    await store.delete_many(keys)
    await ctx.forget(store, src)


async def _node_documents_below(store: Store, dst: str, keys: Sequence[str], src: str) -> dict[str, dict[str, bytes]]:
    names = [dst + k[len(src) :] for k in keys if k.rpartition("/")[2] in NODE_DOCUMENTS]
    found = await store.get_many(names)
    out: dict[str, dict[str, bytes]] = {}
    for key, value in found.items():
        path, _, doc = key.rpartition("/")
        out.setdefault(path, {})[doc] = value
    return out


__all__ = [
    "IF_EXISTS",
    "CopyLog",
    "LogLike",
    "chunk_regions",
    "copy",
    "copy_all",
    "copy_array_data",
    "copy_keys",
    "copy_nodes",
    "copy_store",
    "move",
]
