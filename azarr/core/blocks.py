"""Block selections (``z.blocks[...]``): chunks named by their grid coordinates.

A block selection picks whole chunks per axis, an int (negative counts from the end) or
a slice with step 1; it reads as the element selection those chunks span, clipped at
the array's edge, so an int keeps its axis (``z.blocks[1]`` is the whole second chunk
row). It becomes a basic selection and goes through the usual read/write path.
"""

from __future__ import annotations

import operator
from typing import Any

from azarr.errors import BoundsCheckError, SelectionError


def _expand(selection: Any, ndim: int) -> tuple[Any, ...]:
    sel = selection if isinstance(selection, tuple) else (selection,)
    n_ellipsis = sum(1 for s in sel if s is Ellipsis)
    if n_ellipsis > 1:
        raise SelectionError(f"block selection {selection!r} has more than one Ellipsis")
    if n_ellipsis:
        i = next(i for i, s in enumerate(sel) if s is Ellipsis)
        sel = sel[:i] + (slice(None),) * (ndim - len(sel) + 1) + sel[i + 1 :]
    if len(sel) > ndim:
        raise SelectionError(f"block selection {selection!r} has {len(sel)} dimensions; the array has {ndim}")
    return sel + (slice(None),) * (ndim - len(sel))


def block_to_basic(selection: Any, shape: tuple[int, ...], chunks: tuple[int, ...]) -> tuple[slice, ...]:
    """The element slices spanned by the chunks a block selection names."""
    out = []
    for axis, (sel, size, chunk) in enumerate(zip(_expand(selection, len(shape)), shape, chunks)):
        nblocks = -(-size // chunk)
        if isinstance(sel, slice):
            start, stop, step = sel.indices(nblocks)
            if step != 1:
                raise SelectionError(f"block selection on axis {axis}: only slices with step 1 are supported, got {sel!r}")
            stop = max(start, stop)
        else:
            try:
                index = operator.index(sel)
            except TypeError:
                raise SelectionError(
                    f"block selection on axis {axis}: expected an int or a slice, got {type(sel).__name__}"
                ) from None
            if not -nblocks <= index < nblocks:
                raise BoundsCheckError(f"block index {index} out of bounds for axis {axis} with {nblocks} blocks")
            start = index % nblocks
            stop = start + 1
        out.append(slice(start * chunk, min(stop * chunk, size)))
    return tuple(out)


__all__ = ["block_to_basic"]
