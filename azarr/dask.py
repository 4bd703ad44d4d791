"""dask integration: ``to_dask`` (one task per stored chunk) and ``from_dask`` (aligned parallel writes).

An :class:`azarr.Array` pickles as its store's configuration plus its metadata documents
(a few hundred bytes), so the graph carries everything a worker needs: workers reconnect
lazily, each on its own azarr I/O loop, and read NO metadata — a 1000-task graph does
1000 chunk reads, not 1000 metadata reads as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azarr.errors import AzarrError, MissingDependencyError
from azarr.sync import Array, open_array

try:
    import dask.array as da
    from dask.base import tokenize
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("azarr.dask needs dask: pip install 'azarr[dask]'") from exc


class ChunkAlignmentError(AzarrError, ValueError):
    """dask chunks would split stored chunks, so two tasks could write the same chunk."""


def to_dask(
    array: Array | str,
    *,
    path: str = "",
    storage_options: Mapping[str, Any] | None = None,
    chunks: Any = None,
    use_consolidated: bool | None = None,
) -> da.Array:
    """A lazy dask array over an azarr array (or the array at a URL/path).

    ``chunks`` defaults to the stored objects: one task per chunk, or per shard of a sharded
    array (a task then reads its shard in one request); any multiple of them (e.g.
    ``(z.chunks[0] * 8, z.shape[1])``) groups chunks per task.
    """
    z = array if isinstance(array, Array) else open_array(
        array, "r", path=path, storage_options=storage_options, use_consolidated=use_consolidated
    )
    name = "azarr-" + tokenize(z.store._config() if hasattr(z.store, "_config") else repr(z.store), z.path,
                               z.metadata.to_documents(z.attrs.asdict()))
    return da.from_array(z, chunks=chunks or z.shards or z.chunks, lock=False, asarray=False, fancy=False, name=name,
                         inline_array=False, meta=_meta(z))


def _meta(z: Array) -> Any:
    import numpy as np

    return np.empty((0,) * z.ndim, dtype=z.dtype)


def check_alignment(dask_chunks: tuple[tuple[int, ...], ...], stored: tuple[int, ...], shape: tuple[int, ...]) -> list[str]:
    """Return a description of every dask chunk boundary that splits a stored chunk (empty = aligned)."""
    problems = []
    for axis, (blocks, c, n) in enumerate(zip(dask_chunks, stored, shape)):
        pos = 0
        for b in blocks[:-1]:
            pos += b
            if pos % c != 0 and pos != n:
                problems.append(f"axis {axis}: dask boundary at {pos} splits stored chunks of {c}")
                break
    return problems


def from_dask(
    darr: da.Array,
    store: Any,
    *,
    path: str = "",
    mode: str = "w",
    chunks: Any = None,
    storage_options: Mapping[str, Any] | None = None,
    safe_rechunk: bool = False,
    allow_misaligned: bool | None = None,
    compute: bool = True,
    **create_kwargs: Any,
) -> Array | Any:
    """Write a dask array to a new azarr array in parallel and return the azarr Array.

    Stored chunks default to the dask array's first chunk along each axis. With
    ``shards=`` (zarr-python 3's keyword) the array is sharded: ``chunks`` are the inner
    chunks (guessed when not given) and each task writes whole shards. Dask chunks whose
    boundaries split stored objects (chunks, or shards) make two tasks write the same
    object: that is safe only on a store that can compare-and-swap (every partial write is
    then a conditional read-merge-write, so neither task's update is lost), and is allowed
    there by default (``allow_misaligned=None``). Otherwise — a store without conditional
    writes, or ``allow_misaligned=False`` — :class:`ChunkAlignmentError` is raised, or with
    ``safe_rechunk=True`` the dask array is rechunked to the stored objects first (one task
    per shard). With ``compute=False`` the delayed store is returned instead.
    """
    if chunks is not None:
        stored: Any = tuple(chunks)
    elif create_kwargs.get("shards") is not None:
        stored = None  # inner chunks are guessed (they must divide the shards)
    else:
        stored = tuple(c[0] if c else 1 for c in darr.chunks)
    z = open_array(store, mode, shape=darr.shape, chunks=stored, dtype=darr.dtype, path=path,
                   storage_options=storage_options, **create_kwargs)
    objects, what = (z.shards, "shards") if z.shards is not None else (z.chunks, "stored chunks")
    problems = check_alignment(darr.chunks, objects, z.shape)
    if allow_misaligned is None:
        allow_misaligned = z.store.supports_conditional_writes
    if problems and not allow_misaligned:
        if not safe_rechunk:
            raise ChunkAlignmentError(
                f"dask chunks {darr.chunksize} do not align with {what} {objects} of {z.name} in "
                f"{z.store.name} ({'; '.join(problems)}); rechunk, or pass safe_rechunk=True"
            )
        darr = darr.rechunk(objects)
    result = da.store(darr, z, lock=False, compute=compute, return_stored=False)
    return z if compute else result


__all__ = ["ChunkAlignmentError", "check_alignment", "from_dask", "to_dask"]
