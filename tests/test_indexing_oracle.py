"""Indexing plans checked against numpy on virtually chunked arrays (random selections)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from azarr.core import indexing
from azarr.errors import BoundsCheckError, NegativeStepError, SelectionError


def read(data: np.ndarray, chunks: tuple[int, ...], indexer: object) -> np.ndarray:
    """Read through the plan from full chunks padded with garbage beyond the edge."""
    buf = np.empty(indexer.buffer_shape, dtype=data.dtype)  # type: ignore[attr-defined]
    seen = set()
    for p in indexer:  # type: ignore[attr-defined]
        assert p.chunk_coords not in seen
        seen.add(p.chunk_coords)
        chunk = np.full(chunks, -999, dtype=data.dtype)
        region = tuple(slice(c * k, min((c + 1) * k, s)) for c, k, s in zip(p.chunk_coords, chunks, data.shape))
        part = data[region]
        chunk[tuple(slice(0, n) for n in part.shape)] = part
        buf[p.out_selection] = chunk[p.chunk_selection]
    return buf.reshape(indexer.shape)  # type: ignore[attr-defined]


def write(shape: tuple[int, ...], chunks: tuple[int, ...], indexer: object, value: np.ndarray) -> np.ndarray:
    grid = [range(-(-s // c)) for s, c in zip(shape, chunks)]
    store = {cc: np.zeros(chunks, dtype=value.dtype) for cc in itertools.product(*grid)}
    vals = np.broadcast_to(value, indexer.shape).reshape(indexer.buffer_shape)  # type: ignore[attr-defined]
    for p in indexer:  # type: ignore[attr-defined]
        if p.is_complete_chunk:  # a complete chunk must really be fully covered in bounds
            probe = np.zeros(chunks, dtype=bool)
            probe[p.chunk_selection] = True
            ext = tuple(min(k, s - c * k) for c, k, s in zip(p.chunk_coords, chunks, shape))
            assert probe[tuple(slice(0, e) for e in ext)].all()
        store[p.chunk_coords][p.chunk_selection] = vals[p.out_selection]
    out = np.zeros(shape, dtype=value.dtype)
    for cc, chunk in store.items():
        region = tuple(slice(c * k, min((c + 1) * k, s)) for c, k, s in zip(cc, chunks, shape))
        out[region] = chunk[tuple(slice(0, r.stop - r.start) for r in region)]
    return out


def rand_slice(rng: np.random.Generator, n: int) -> object:
    kind = rng.integers(0, 4)
    if kind == 0:
        return slice(None)
    if kind == 1:
        return int(rng.integers(-n, n))
    a, b = sorted(rng.integers(-n - 2, n + 3, 2).tolist())
    return slice(a, b, int(rng.integers(1, 5)))


SHAPES = [((17,), (5,)), ((9, 13), (4, 5)), ((6, 7, 5), (2, 3, 5)), ((4, 3, 5, 2), (3, 2, 2, 1)), ((5, 5), (10, 10)), ((8,), (1,))]


@pytest.mark.parametrize(("shape", "chunks"), SHAPES)
def test_basic_random(shape: tuple[int, ...], chunks: tuple[int, ...]) -> None:
    rng = np.random.default_rng(sum(shape))
    data = np.arange(np.prod(shape)).reshape(shape)
    for _ in range(150):
        sel = tuple(rand_slice(rng, n) for n in shape[: rng.integers(1, len(shape) + 1)])
        ix = indexing.basic_indexer(sel, shape, chunks)
        np.testing.assert_array_equal(read(data, chunks, ix), data[sel])
        expected = np.zeros(shape, dtype=int)
        val = np.arange(np.prod(expected[sel].shape)).reshape(expected[sel].shape) + 1
        expected[sel] = val
        np.testing.assert_array_equal(write(shape, chunks, ix, val), expected)


@pytest.mark.parametrize(("shape", "chunks"), SHAPES)
def test_orthogonal_random(shape: tuple[int, ...], chunks: tuple[int, ...]) -> None:
    rng = np.random.default_rng(7 + sum(shape))
    data = np.arange(np.prod(shape)).reshape(shape)
    for _ in range(100):
        sel = []
        for n in shape:
            k = rng.integers(0, 4)
            if k == 0:
                sel.append(rng.integers(-n, n, rng.integers(0, 6)))
            elif k == 1:
                sel.append(rng.random(n) > 0.5)
            else:
                sel.append(rand_slice(rng, n))
        ix = indexing.orthogonal_indexer(tuple(sel), shape, chunks)
        np_sel = []
        for s, n in zip(sel, shape):
            if isinstance(s, np.ndarray):
                np_sel.append(np.flatnonzero(s) if s.dtype == bool else s)
            elif isinstance(s, slice):
                np_sel.append(np.arange(n)[s])
            else:
                np_sel.append(s)
        arrays = [s for s in np_sel if isinstance(s, np.ndarray)]
        expected = data[np.ix_(*[s if isinstance(s, np.ndarray) else np.array([s]) for s in np_sel])]
        expected = expected.reshape([len(s) for s in np_sel if isinstance(s, np.ndarray)])
        assert arrays or True
        np.testing.assert_array_equal(read(data, chunks, ix), expected)


@pytest.mark.parametrize(("shape", "chunks"), SHAPES)
def test_coordinate_and_mask_random(shape: tuple[int, ...], chunks: tuple[int, ...]) -> None:
    rng = np.random.default_rng(11 + sum(shape))
    data = np.arange(np.prod(shape)).reshape(shape)
    for _ in range(60):
        pts = tuple(rng.integers(-n, n, (3, 4)) for n in shape)
        ix = indexing.coordinate_indexer(pts, shape, chunks)
        np.testing.assert_array_equal(read(data, chunks, ix), data[pts])
        mask = rng.random(shape) > 0.6
        mx = indexing.mask_indexer(mask, shape, chunks)
        np.testing.assert_array_equal(read(data, chunks, mx), data[mask])
        expected = np.zeros(shape, dtype=int)
        expected[mask] = 5
        np.testing.assert_array_equal(write(shape, chunks, mx, np.array(5)), expected)


def test_zero_d_and_empty() -> None:
    ix = indexing.basic_indexer((), (), ())
    assert ix.shape == () and [p.chunk_coords for p in ix] == [()]
    e = indexing.basic_indexer(slice(5, 5), (10,), (3,))
    assert e.shape == (0,) and list(e) == []
    z = indexing.basic_indexer(..., (0, 4), (2, 2))
    assert z.shape == (0, 4) and list(z) == []


def test_dispatch() -> None:
    shape, chunks = (6, 8), (2, 3)
    assert isinstance(indexing.indexer_for(np.ones(shape, bool), shape, chunks), indexing._PointIndexer)
    assert isinstance(indexing.indexer_for(([1], [2]), shape, chunks), indexing._PointIndexer)
    assert isinstance(indexing.indexer_for(([1], slice(None)), shape, chunks), indexing._ProductIndexer)
    assert indexing.indexer_for((1, slice(2, 4)), shape, chunks).shape == (2,)


@pytest.mark.parametrize(
    ("sel", "err"),
    [((6,), BoundsCheckError), ((0, -9), BoundsCheckError), ((slice(None, None, -1),), NegativeStepError),
     ((0, 0, 0), SelectionError), (("a",), SelectionError), ((1.5,), SelectionError), ((..., ...), SelectionError),
     ((slice(0, 2, 0),), SelectionError)],
)
def test_errors(sel: tuple, err: type) -> None:
    with pytest.raises(err):
        indexing.basic_indexer(sel, (6, 8), (2, 3))
    assert issubclass(err, IndexError)


def test_array_errors() -> None:
    with pytest.raises(BoundsCheckError):
        indexing.orthogonal_indexer(([0, 6],), (6,), (2,))
    with pytest.raises(SelectionError):
        indexing.orthogonal_indexer((np.ones(5, bool),), (6,), (2,))
    with pytest.raises(SelectionError):
        indexing.coordinate_indexer(([0], slice(None)), (6, 6), (2, 2))
    with pytest.raises(SelectionError):
        indexing.mask_indexer(np.ones((2, 2), bool), (6, 6), (2, 2))
    with pytest.raises(BoundsCheckError):
        indexing.coordinate_indexer(([0], [7]), (6, 6), (2, 2))
