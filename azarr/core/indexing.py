"""Selections -> per-chunk plans, with zarr-python's semantics. Pure: no I/O.

An indexer turns a selection on an array of ``shape`` split into ``chunks`` into
:class:`ChunkProjection` items, one per touched chunk, in C order of chunk coordinates:

* reading: ``buf = np.empty(indexer.buffer_shape)``; for each projection
  ``buf[p.out_selection] = chunk[p.chunk_selection]``; result ``buf.reshape(indexer.shape)``;
* writing: ``value = np.broadcast_to(value, indexer.shape).reshape(indexer.buffer_shape)``;
  for each projection ``chunk[p.chunk_selection] = value[p.out_selection]``.

``buffer_shape`` differs from ``shape`` for coordinate/mask selections (a flat buffer)
and for orthogonal selections that mix integers with arrays (integer axes are kept as
length-1 axes in the buffer so numpy never reorders advanced-index axes).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from azarr.errors import BoundsCheckError, NegativeStepError, SelectionError, VindexInvalidSelectionError


class ChunkProjection(NamedTuple):
    """How one chunk contributes to a selection."""

    chunk_coords: tuple[int, ...]
    chunk_selection: Any
    out_selection: Any
    is_complete_chunk: bool


# --- per-dimension pieces ---------------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, (numbers.Integral, np.integer)) and not isinstance(x, (bool, np.bool_))


def _norm_int(i: Any, size: int, axis: int) -> int:
    i = int(i)
    if i < -size or i >= size:
        raise BoundsCheckError(f"index {i} is out of bounds for axis {axis} with size {size}")
    return i + size if i < 0 else i


def _norm_slice(s: slice, size: int, axis: int) -> tuple[int, int, int]:
    for part in (s.start, s.stop, s.step):
        if part is not None and not _is_int(part):
            raise SelectionError(f"slice {s} on axis {axis} must have integer bounds and step")
    step = 1 if s.step is None else int(s.step)
    if step < 1:
        if step == 0:
            raise SelectionError(f"slice step cannot be zero (axis {axis})")
        raise NegativeStepError(f"negative slice step {step} on axis {axis} is not supported")
    start, stop, step = s.indices(size)
    stop = max(stop, start)
    return start, stop, step


def _extent(c: int, chunk: int, size: int) -> int:
    return min(chunk, size - c * chunk)


class _SliceDim:
    """The chunks a slice touches along one axis: (chunk index, chunk slice, output slice,
    covers the whole in-bounds chunk) per chunk, computed lazily, so a selection over a huge
    axis costs no memory until its chunks are visited."""

    __slots__ = ("_n", "chunk", "size", "start", "step", "stop")

    def __init__(self, start: int, stop: int, step: int, size: int, chunk: int) -> None:
        self.start, self.stop, self.step, self.size, self.chunk = start, stop, step, size, chunk
        if stop <= start:
            self._n = 0
        else:
            n = -(-(stop - start) // step)
            last = start + (n - 1) * step
            # every chunk in range holds a selected index when step <= chunk; else each index its own chunk
            self._n = last // chunk - start // chunk + 1 if step <= chunk else n

    def __len__(self) -> int:
        return self._n

    @property
    def count(self) -> int:
        """Number of chunks touched (also beyond ``sys.maxsize``, where ``len`` cannot answer)."""
        return self._n

    def __iter__(self) -> Iterator[tuple[int, Any, Any, bool]]:
        start, stop, step, size, chunk = self.start, self.stop, self.step, self.size, self.chunk
        if stop <= start:
            return
        n = -(-(stop - start) // step)
        last = start + (n - 1) * step
        c = start // chunk
        while c <= last // chunk:
            c0 = c * chunk
            c1 = min(c0 + chunk, size)
            # first selected index >= c0
            first = start if start >= c0 else start + (-(-(c0 - start) // step)) * step
            if first >= c1 or first > last:
                c = first // chunk if first > c0 else c + 1  # jump over chunks the step skips
                continue
            stop_here = min(c1, last + 1)
            k0 = (first - start) // step
            k1 = (stop_here - 1 - start) // step + 1
            complete = step == 1 and first == c0 and stop_here == c1
            yield (c, slice(first - c0, stop_here - c0, step), slice(k0, k1), complete)
            c += 1


def _slice_dim(start: int, stop: int, step: int, size: int, chunk: int) -> _SliceDim:
    """The per-chunk pieces of a slice along one axis (a lazy sequence)."""
    return _SliceDim(start, stop, step, size, chunk)


def _int_dim(i: int, size: int, chunk: int) -> list[tuple[int, Any, Any, bool]]:
    c = i // chunk
    return [(c, i - c * chunk, None, _extent(c, chunk, size) == 1)]


def _array_dim(idx: np.ndarray, size: int, chunk: int) -> list[tuple[int, Any, Any, bool]]:
    """Per chunk: (chunk index, within-chunk int array, output positions array, complete)."""
    if idx.size == 0:
        return []
    chunk_ids = idx // chunk
    order = np.argsort(chunk_ids, kind="stable")
    sorted_ids = chunk_ids[order]
    bounds = np.flatnonzero(np.diff(sorted_ids)) + 1
    out = []
    for pos in np.split(order, bounds):
        c = int(chunk_ids[pos[0]])
        within = idx[pos] - c * chunk
        ext = _extent(c, chunk, size)
        complete = len(within) == ext and np.array_equal(np.sort(within), np.arange(ext))
        out.append((c, within, pos, bool(complete)))
    return out


def _as_index_array(sel: Any, size: int, axis: int) -> np.ndarray:
    arr = np.asarray(sel)
    if arr.dtype == bool:
        if arr.ndim != 1 or arr.shape[0] != size:
            raise SelectionError(
                f"boolean selection on axis {axis} must be 1-D of length {size}, got shape {arr.shape}"
            )
        return np.flatnonzero(arr)
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            return np.zeros(0, dtype=np.intp)
        raise SelectionError(f"array selection on axis {axis} must hold integers or booleans, got {arr.dtype}")
    if arr.ndim != 1:
        raise SelectionError(f"orthogonal array selection on axis {axis} must be 1-D, got {arr.ndim}-D")
    arr = arr.astype(np.intp, copy=False)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < -size or hi >= size:
            bad = lo if lo < -size else hi
            raise BoundsCheckError(f"index {bad} is out of bounds for axis {axis} with size {size}")
        if lo < 0:
            arr = np.where(arr < 0, arr + size, arr)
    return arr


def _is_array_like(sel: Any) -> bool:
    return isinstance(sel, (list, np.ndarray)) or (hasattr(sel, "__array__") and not _is_int(sel))


def _expand(selection: Any, ndim: int) -> tuple[Any, ...]:
    """Tuple-ify, expand Ellipsis, pad with full slices; check the count."""
    if not isinstance(selection, tuple):
        selection = (selection,)
    n_ell = sum(1 for s in selection if s is Ellipsis)
    if n_ell > 1:
        raise SelectionError("a selection can contain at most one Ellipsis")
    if n_ell:
        i = next(i for i, s in enumerate(selection) if s is Ellipsis)
        fill = ndim - (len(selection) - 1)
        selection = selection[:i] + (slice(None),) * max(fill, 0) + selection[i + 1 :]
    if len(selection) > ndim:
        raise SelectionError(f"too many indices: array is {ndim}-dimensional, but {len(selection)} were given")
    return tuple(selection) + (slice(None),) * (ndim - len(selection))


# --- indexers -------------------------------------------------------------------------------------


class _ProductIndexer:
    """Basic and orthogonal selections: the outer product of per-axis pieces."""

    def __init__(self, dims: list[Any], shape: tuple[int, ...],
                 buffer_shape: tuple[int, ...], kinds: list[str]) -> None:
        self.shape = shape
        self.buffer_shape = buffer_shape
        self._dims = dims
        self._kinds = kinds
        n_arrays = sum(1 for k in kinds if k == "array")
        self._ix = n_arrays >= 2

    def __iter__(self) -> Iterator[ChunkProjection]:
        if not self._dims:
            yield ChunkProjection((), (), (), True)
            return
        yield from self.projections(self._dims)

    @property
    def axis_pieces(self) -> list[Any] | None:
        """Per axis, the pieces ``(chunk index, chunk selection, output slice, complete)`` the
        selection cuts from that axis's chunks, when every axis is a plain slice (the output
        keeps every axis, each piece's output is a slice); None otherwise."""
        if not self._dims or any(k != "slice" for k in self._kinds):
            return None
        return self._dims

    def projections(self, dims: list[Any]) -> Iterator[ChunkProjection]:
        """The projections of the outer product of ``dims``: per axis, pieces (or a subset of
        them) as this indexer cuts them (a sharded read plans some shards' inner chunks only)."""
        kinds = self._kinds
        out_axes = [i for i, k in enumerate(kinds) if k != "int"]
        every_axis = len(out_axes) == len(kinds)
        ix = self._ix
        # one zip per projection splits the per-axis pieces (a full read plans thousands of
        # chunks before its first request, so this loop is kept lean)
        for combo in _product(dims):
            coords, chunk_sel, out_all, complete = zip(*combo)
            out_sel = out_all if every_axis else tuple(out_all[i] for i in out_axes)
            if ix:
                chunk_sel = np.ix_(*(_to_array(s) for s in chunk_sel))
                out_sel = np.ix_(*(_to_array(s) for s in out_sel))
            yield ChunkProjection(coords, chunk_sel, out_sel, all(complete))

    def __len__(self) -> int:
        return self.nchunks

    @property
    def nchunks(self) -> int:
        """Number of chunks the selection touches."""
        return math.prod(_count(d) for d in self._dims)


# Below this many pieces per axis, itertools.product (which holds every axis's pieces) is fine.
_EAGER_AXIS = 1 << 20


def _count(dim: Any) -> int:
    return dim.count if isinstance(dim, _SliceDim) else len(dim)


def _product(dims: list[Any]) -> Iterator[tuple[Any, ...]]:
    """The outer product of per-axis pieces, in C order, without holding a huge axis in memory."""
    if all(_count(d) <= _EAGER_AXIS for d in dims):
        yield from itertools.product(*dims)
        return
    if len(dims) == 1:
        for piece in dims[0]:
            yield (piece,)
        return
    for piece in dims[0]:
        for rest in _product(dims[1:]):
            yield (piece, *rest)


def _to_array(s: Any) -> np.ndarray:
    if isinstance(s, slice):
        return np.arange(s.start, s.stop, s.step)
    return np.asarray(s)


def basic_indexer(selection: Any, shape: tuple[int, ...], chunks: tuple[int, ...]) -> _ProductIndexer:
    """Indexer for ints (negative too), slices with positive steps and Ellipsis."""
    sel = _expand(selection, len(shape))
    dims: list[Any] = []
    out_shape: list[int] = []
    kinds: list[str] = []
    for axis, (s, size, chunk) in enumerate(zip(sel, shape, chunks)):
        if _is_int(s):
            dims.append(_int_dim(_norm_int(s, size, axis), size, chunk))
            kinds.append("int")
        elif isinstance(s, slice):
            start, stop, step = _norm_slice(s, size, axis)
            dims.append(_slice_dim(start, stop, step, size, chunk))
            out_shape.append(max(0, -(-(stop - start) // step)))
            kinds.append("slice")
        else:
            raise SelectionError(
                f"unsupported selection {s!r} on axis {axis} for basic indexing "
                "(use integers, slices or Ellipsis; arrays go to oindex/vindex)"
            )
    return _ProductIndexer(dims, tuple(out_shape), tuple(out_shape), kinds)


def orthogonal_indexer(selection: Any, shape: tuple[int, ...], chunks: tuple[int, ...]) -> _ProductIndexer:
    """Indexer for outer-product selections: per axis an int, slice, int array or bool array."""
    sel = _expand(selection, len(shape))
    has_array = any(_is_array_like(s) for s in sel)
    dims: list[Any] = []
    out_shape: list[int] = []
    buf_shape: list[int] = []
    kinds: list[str] = []
    for axis, (s, size, chunk) in enumerate(zip(sel, shape, chunks)):
        if _is_int(s):
            i = _norm_int(s, size, axis)
            if has_array:  # keep as a length-1 array axis so numpy never reorders axes
                c = i // chunk
                dims.append([(c, np.array([i - c * chunk]), np.array([0]), _extent(c, chunk, size) == 1)])
                buf_shape.append(1)
                kinds.append("array")
            else:
                dims.append(_int_dim(i, size, chunk))
                kinds.append("int")
        elif isinstance(s, slice):
            start, stop, step = _norm_slice(s, size, axis)
            n = max(0, -(-(stop - start) // step))
            dims.append(_slice_dim(start, stop, step, size, chunk))
            out_shape.append(n)
            buf_shape.append(n)
            kinds.append("slice")
        elif _is_array_like(s):
            idx = _as_index_array(s, size, axis)
            dims.append(_array_dim(idx, size, chunk))
            out_shape.append(len(idx))
            buf_shape.append(len(idx))
            kinds.append("array")
        else:
            raise SelectionError(f"unsupported selection {s!r} on axis {axis} for orthogonal indexing")
    shape_out = tuple(out_shape)
    return _ProductIndexer(dims, shape_out, tuple(buf_shape) if has_array else shape_out, kinds)


class _PointIndexer:
    """Coordinate and mask selections: points grouped by chunk, into a flat buffer."""

    def __init__(self, coords: list[np.ndarray], shape: tuple[int, ...], chunks: tuple[int, ...],
                 out_shape: tuple[int, ...]) -> None:
        self.shape = out_shape
        n = coords[0].size if coords else 0
        self.buffer_shape = (n,)
        self._coords = coords
        self._chunks = chunks
        self._shape = shape

    def __iter__(self) -> Iterator[ChunkProjection]:
        coords, chunks = self._coords, self._chunks
        if not coords or coords[0].size == 0:
            return
        grid = tuple(-(-s // c) for s, c in zip(self._shape, chunks))
        chunk_idx = [c // ch for c, ch in zip(coords, chunks)]
        flat = np.ravel_multi_index(tuple(chunk_idx), grid)
        order = np.argsort(flat, kind="stable")
        # everything per point is computed once, in sorted order; each chunk then takes plain
        # slices of it (views), not fancy-indexed copies (a vindex over ~1,000 chunks spent
        # most of its planning on per-chunk numpy calls)
        local = [(c - ci * ch)[order] for c, ci, ch in zip(coords, chunk_idx, chunks)]
        sorted_flat = flat[order]
        bounds = (np.flatnonzero(np.diff(sorted_flat)) + 1).tolist()
        starts = [0, *bounds]
        ends = [*bounds, len(order)]
        firsts = np.asarray(starts)
        corners = zip(*(ci[order[firsts]].tolist() for ci in chunk_idx))
        for start, end, cc in zip(starts, ends, corners):
            yield ChunkProjection(cc, tuple(axis[start:end] for axis in local), order[start:end], False)


def coordinate_indexer(selection: Any, shape: tuple[int, ...], chunks: tuple[int, ...]) -> _PointIndexer:
    """Indexer for points: a tuple of integer arrays (broadcast together), one per axis."""
    if not isinstance(selection, tuple):
        selection = (selection,)
    if len(selection) != len(shape):
        raise VindexInvalidSelectionError(
            f"coordinate selection needs one integer array per axis ({len(shape)}), got {len(selection)}"
        )
    arrays = []
    for axis, s in enumerate(selection):
        if isinstance(s, slice) or s is Ellipsis:
            raise VindexInvalidSelectionError(
                f"coordinate selection on axis {axis} must be integers, not {s!r} (use oindex for slices)"
            )
        arr = np.asarray(s)
        if arr.dtype.kind not in "iu":
            if arr.dtype == bool:
                raise VindexInvalidSelectionError(
                    f"boolean arrays in a coordinate selection (axis {axis}) are only allowed as one full-shape mask"
                )
            raise VindexInvalidSelectionError(f"coordinate selection on axis {axis} must be integers, got {arr.dtype}")
        arrays.append(arr)
    try:
        arrays = list(np.broadcast_arrays(*arrays))
    except ValueError as exc:
        raise VindexInvalidSelectionError(f"coordinate arrays do not broadcast together: {exc}") from None
    out_shape = arrays[0].shape if arrays else ()
    coords = []
    for axis, (arr, size) in enumerate(zip(arrays, shape)):
        flat = arr.reshape(-1).astype(np.intp)
        if flat.size:
            lo, hi = int(flat.min()), int(flat.max())
            if lo < -size or hi >= size:
                bad = lo if lo < -size else hi
                raise BoundsCheckError(f"index {bad} is out of bounds for axis {axis} with size {size}")
            if lo < 0:
                flat = np.where(flat < 0, flat + size, flat)
        coords.append(flat)
    return _PointIndexer(coords, shape, chunks, tuple(out_shape))


def mask_indexer(selection: Any, shape: tuple[int, ...], chunks: tuple[int, ...]) -> _PointIndexer:
    """Indexer for one boolean array of the array's shape; the result is 1-D."""
    if isinstance(selection, tuple):
        if len(selection) != 1:
            raise VindexInvalidSelectionError("a mask selection is a single boolean array")
        selection = selection[0]
    mask = np.asarray(selection)
    if mask.dtype != bool:
        raise VindexInvalidSelectionError(f"mask selection must be boolean, got {mask.dtype}")
    if mask.shape != tuple(shape):
        raise VindexInvalidSelectionError(f"mask shape {mask.shape} does not match array shape {tuple(shape)}")
    coords = [c.astype(np.intp) for c in np.nonzero(mask)]
    n = coords[0].size if coords else int(mask.item()) if mask.ndim == 0 else 0
    return _PointIndexer(coords, shape, chunks, (n,))


def _is_bool_mask(sel: Any, ndim: int) -> bool:
    return isinstance(sel, np.ndarray) and sel.dtype == bool and sel.ndim == ndim and ndim > 0


def indexer_for(selection: Any, shape: tuple[int, ...], chunks: tuple[int, ...]) -> Any:
    """Pick the indexer ``z[selection]`` uses in zarr-python 2.

    A full-shape boolean mask -> mask; integer/boolean arrays on every axis -> coordinate;
    arrays mixed with ints/slices -> orthogonal; otherwise basic.
    """
    ndim = len(shape)
    sel = selection
    if isinstance(sel, tuple) and len(sel) == 1 and _is_bool_mask(sel[0], ndim):
        sel = sel[0]
    if _is_bool_mask(sel, ndim) and ndim > 1:
        return mask_indexer(sel, shape, chunks)
    items = sel if isinstance(sel, tuple) else (sel,)
    arrays = [s for s in items if _is_array_like(s)]
    if not arrays:
        return basic_indexer(selection, shape, chunks)
    if len(items) == ndim and len(arrays) == ndim and ndim > 1 and all(
        np.asarray(s).dtype != bool for s in items
    ):
        return coordinate_indexer(tuple(items), shape, chunks)
    return orthogonal_indexer(selection, shape, chunks)


__all__ = [
    "ChunkProjection",
    "basic_indexer",
    "coordinate_indexer",
    "indexer_for",
    "mask_indexer",
    "orthogonal_indexer",
]
