"""``copy`` and ``convert``: a hierarchy or one array, store to store, through the copy engine
(:func:`azarr.core.copy.copy_nodes`): raw bytes in batched windows when the format stays the
same, re-encoded slab by slab (whole shards) otherwise; metadata after data; resumable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from azarr import aio
from azarr.cli.common import CommandError, Location
from azarr.core.array import AsyncArray
from azarr.core.copy import copy_nodes
from azarr.core.group import AsyncGroup
from azarr.core.hierarchy import NodeContext
from azarr.core.streams import CopyProgress
from azarr.meta.formats import format_for

#: the command line's ``--if-exists`` choices, as the engine's ``if_exists`` modes
IF_EXISTS = {"fail": "raise", "replace": "replace", "skip": "resume"}


def compressor_options(spec: str | None, zarr_format: Any) -> dict[str, Any]:
    """``--compressor`` (``zstd[:level]``, ``gzip[:level]``, ``blosc[:cname[:clevel]]``,
    ``none``) as the creation keyword of the target format."""
    if spec is None:
        return {}
    fmt = format_for(zarr_format).key
    name, *args = spec.lower().split(":")
    try:
        numbers = [int(a) for a in args if a.isdigit()]
    except ValueError:  # pragma: no cover - isdigit() guards int()
        numbers = []
    words = [a for a in args if not a.isdigit()]
    if fmt == "n5":
        raise CommandError("--compressor", "converting to N5 takes the source's compression (N5 targets take no --compressor)")
    if name == "none":
        return {"compressors": []} if fmt == 3 else {"compressor": None}
    if name == "zstd" and len(args) <= 1 and not words:
        level = numbers[0] if numbers else 3
        return _codec(fmt, lambda c: c.ZstdCodec(level=level), lambda n: n.Zstd(level=level))
    if name == "gzip" and len(args) <= 1 and not words:
        level = numbers[0] if numbers else 5
        return _codec(fmt, lambda c: c.GzipCodec(level=level), lambda n: n.GZip(level=level))
    if name == "blosc" and len(words) <= 1 and len(numbers) <= 1:
        cname = words[0] if words else "zstd"
        clevel = numbers[0] if numbers else 5
        return _codec(fmt, lambda c: c.BloscCodec(cname=cname, clevel=clevel), lambda n: n.Blosc(cname=cname, clevel=clevel))
    raise CommandError("--compressor", f"expected zstd[:LEVEL], gzip[:LEVEL], blosc[:CNAME[:CLEVEL]] or none, got {spec!r}")


def _codec(fmt: Any, v3: Callable[[Any], Any], v2: Callable[[Any], Any]) -> dict[str, Any]:
    if fmt == 3:
        import azarr.codecs

        return {"compressors": [v3(azarr.codecs)]}
    import numcodecs

    return {"compressor": v2(numcodecs)}


class ShapedKeywords:
    """Creation keywords per source array: ``chunks`` and ``shards`` go only to arrays with
    as many dimensions as they have (a hierarchy's 1-d coordinates keep their chunks when
    its 3-d variables are rechunked); the arrays left out are remembered, to be told."""

    def __init__(self, kws: dict[str, Any]) -> None:
        self.kws = kws
        self.left_out: set[str] = set()

    def __call__(self, source: AsyncArray) -> dict[str, Any]:
        out = dict(self.kws)
        for name in ("chunks", "shards"):
            if name in out and len(out[name]) != source.ndim:
                del out[name]
                self.left_out.add(source.name)
        return out


async def transfer(
    src: Location,
    dst: Location,
    *,
    if_exists: str,
    progress: CopyProgress,
    zarr_format: Any = None,
    create_kws: ShapedKeywords | None = None,
    dry_run: bool = False,
    log: Callable[[str], object] | None = None,
) -> tuple[int, int, int]:
    """Copy the node at ``src`` (array or group, everything below it) to ``dst``'s path:
    in the source's format (``zarr_format=None``) or converted. Returns the engine's
    ``(nodes copied, nodes skipped, bytes of data)``; ``progress`` counts stored objects."""
    # a listable source is walked for real (consolidated metadata may be stale); one that
    # cannot list (HTTP) is read from its consolidated metadata
    node = await aio.open(src.store, mode="r", path=src.path, use_consolidated=None if not src.store.supports_listing else False)
    fmt = node.zarr_format if zarr_format is None else format_for(zarr_format).key
    if dst.store is src.store or (dst.store.name == src.store.name and _overlaps(src.path, dst.path)):
        raise CommandError(dst.shown, f"the destination overlaps the source ({src.shown})")
    dest = AsyncGroup(dst.store, dst.path, format_for(fmt).create_group(root=dst.path == ""), {}, context=NodeContext())
    return await copy_nodes(
        [(node, "")],
        dest,
        if_exists=IF_EXISTS[if_exists],
        create_kws=create_kws if create_kws is not None else {},
        progress=progress,
        dry_run=dry_run,
        log=log,
    )


def _overlaps(a: str, b: str) -> bool:
    return a == b or not a or not b or a.startswith(b + "/") or b.startswith(a + "/")


__all__ = ["IF_EXISTS", "ShapedKeywords", "compressor_options", "transfer"]
