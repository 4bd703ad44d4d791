"""zarr-python's top-level convenience functions, blocking (``azarr.zeros``, ``azarr.copy_all``,
``azarr.save``, ...): each runs its twin from :mod:`azarr.aio` on azarr's I/O loop and wraps
what it returns in :class:`~azarr.sync.Array` / :class:`~azarr.sync.Group`.

Signatures follow zarr-python 3, with zarr-python 2's spellings accepted where they are
unambiguous (positional stores, ``zarr_version=``, ``Group.create``-style names).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from azarr import aio
from azarr.core.array import AsyncArray
from azarr.core.copy import LogLike
from azarr.core.group import AsyncGroup
from azarr.errors import ArgumentError, ContainsArrayError
from azarr.sync import Array, Group, Tree, run


def _unwrap(obj: Any) -> Any:
    """The async node behind a blocking ``Array`` / ``Group`` (anything else as it is)."""
    if isinstance(obj, Array):
        return obj.async_array
    if isinstance(obj, Group):
        return obj.async_group
    return obj


def _group(obj: Any, what: str) -> AsyncGroup:
    node = _unwrap(obj)
    if isinstance(node, AsyncArray) and what == "dest":  # zarr-python's ValueError
        raise ContainsArrayError(f"{what} must be a group, but {node.name} in {node.store.name} is an array")
    if not isinstance(node, AsyncGroup):
        raise ArgumentError(f"{what} must be a group, got {obj!r}")
    return node


# --- creation -------------------------------------------------------------------------------------


def create_array(store: aio.StoreLike = None, **kwargs: Any) -> Array:
    """Create an array (zarr-python 3's ``create_array``; see :func:`azarr.aio.create_array`)."""
    return Array(run(aio.create_array(store, **kwargs)))


def from_array(store: aio.StoreLike = None, *, data: Any, **kwargs: Any) -> Array:
    """Create an array from ``data`` (zarr-python 3's ``from_array``; see :func:`azarr.aio.from_array`)."""
    return Array(run(aio.from_array(store, data=_unwrap(data), **kwargs)))


def create_group(store: aio.StoreLike = None, **kwargs: Any) -> Group:
    """Create a group (zarr-python 3's ``create_group``)."""
    return Group(run(aio.create_group(store, **kwargs)))


def array(data: Any, **kwargs: Any) -> Array:
    """Create an array holding ``data`` (``kwargs`` are :func:`azarr.create`'s)."""
    return Array(run(aio.array(_unwrap(data), **kwargs)))


def empty(shape: Any, **kwargs: Any) -> Array:
    """Create an array whose unwritten elements read as its fill value."""
    return Array(run(aio.empty(shape, **kwargs)))


def zeros(shape: Any, **kwargs: Any) -> Array:
    """Create an array of zeros."""
    return Array(run(aio.zeros(shape, **kwargs)))


def ones(shape: Any, **kwargs: Any) -> Array:
    """Create an array of ones."""
    return Array(run(aio.ones(shape, **kwargs)))


def full(shape: Any, fill_value: Any, **kwargs: Any) -> Array:
    """Create an array filled with ``fill_value``."""
    return Array(run(aio.full(shape, fill_value, **kwargs)))


def empty_like(a: Any, **kwargs: Any) -> Array:
    """Create an empty array like ``a``."""
    return Array(run(aio.empty_like(_unwrap(a), **kwargs)))


def zeros_like(a: Any, **kwargs: Any) -> Array:
    """Create an array of zeros like ``a``."""
    return Array(run(aio.zeros_like(_unwrap(a), **kwargs)))


def ones_like(a: Any, **kwargs: Any) -> Array:
    """Create an array of ones like ``a``."""
    return Array(run(aio.ones_like(_unwrap(a), **kwargs)))


def full_like(a: Any, **kwargs: Any) -> Array:
    """Create an array like ``a`` filled with ``fill_value`` (default: ``a``'s)."""
    return Array(run(aio.full_like(_unwrap(a), **kwargs)))


def open_like(a: Any, path: str, **kwargs: Any) -> Array:
    """Open or create an array like ``a`` (see :func:`azarr.aio.open_like`)."""
    return Array(run(aio.open_like(_unwrap(a), path, **kwargs)))


# --- save / load / tree -----------------------------------------------------------------------------


def save_array(store: aio.StoreLike, arr: Any, **kwargs: Any) -> None:
    """Save one array (see :func:`azarr.aio.save_array`)."""
    run(aio.save_array(store, arr, **kwargs))


def save_group(store: aio.StoreLike, *args: Any, **kwargs: Any) -> None:
    """Save several arrays as a group (see :func:`azarr.aio.save_group`)."""
    run(aio.save_group(store, *args, **kwargs))


def save(store: aio.StoreLike, *args: Any, **kwargs: Any) -> None:
    """Save one array, or several as a group (see :func:`azarr.aio.save`)."""
    run(aio.save(store, *args, **kwargs))


class LazyLoader(Mapping[str, Any]):
    """What :func:`load` returns for a group: its members by name, each array read into
    memory on first access and kept (zarr-python 2's ``LazyLoader``)."""

    def __init__(self, group: Group) -> None:
        self.group = group
        self._cache: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._cache:
            node = self.group[name]
            if not isinstance(node, Array):
                raise KeyError(f"{name!r} is a group, not an array")
            self._cache[name] = node[...]
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.group.array_keys())

    def __len__(self) -> int:
        return len(self.group.array_keys())

    def __repr__(self) -> str:
        return f"<LazyLoader: {', '.join(self)}>"


def load(store: aio.StoreLike = None, zarr_version: Any = None, path: str | None = None, **kwargs: Any) -> Any:
    """An array's data as numpy, or for a group a lazy ``{name: ndarray}`` mapping of its arrays."""
    if zarr_version is not None:
        kwargs["zarr_version"] = zarr_version
    node = run(aio.open(store, "r", path=path, **kwargs))
    if isinstance(node, AsyncArray):
        return run(node.getitem(Ellipsis))
    return LazyLoader(Group(node))


def tree(grp: Any, expand: bool | None = None, level: int | None = None) -> Tree:
    """The text tree of group ``grp``, ``level`` levels deep."""
    return Tree(run(_group(grp, "grp").tree(level=level)))


# --- copies ---------------------------------------------------------------------------------------------


def copy(
    source: Any,
    dest: Any,
    name: str | None = None,
    shallow: bool = False,
    without_attrs: bool = False,
    log: LogLike = None,
    if_exists: str = "raise",
    dry_run: bool = False,
    **create_kws: Any,
) -> tuple[int, int, int]:
    """Copy an array or group into group ``dest`` (zarr-python 2's ``copy``): returns
    ``(n_copied, n_skipped, n_bytes_copied)``. See :mod:`azarr.core.copy`."""
    return run(
        aio.copy(_unwrap(source), _group(dest, "dest"), name, shallow, without_attrs, log, if_exists, dry_run, **create_kws)
    )


def copy_all(
    source: Any,
    dest: Any,
    shallow: bool = False,
    without_attrs: bool = False,
    log: LogLike = None,
    if_exists: str = "raise",
    dry_run: bool = False,
    **create_kws: Any,
) -> tuple[int, int, int]:
    """Copy every child of group ``source`` into group ``dest`` (zarr-python 2's ``copy_all``)."""
    return run(
        aio.copy_all(
            _group(source, "source"), _group(dest, "dest"), shallow, without_attrs, log, if_exists, dry_run, **create_kws
        )
    )


def copy_store(source: aio.StoreLike, dest: aio.StoreLike, *args: Any, **kwargs: Any) -> tuple[int, int, int]:
    """Copy every key below ``source_path`` as raw bytes (zarr-python 2's ``copy_store``)."""
    return run(aio.copy_store(source, dest, *args, **kwargs))


__all__ = [
    "LazyLoader",
    "array",
    "copy",
    "copy_all",
    "copy_store",
    "create_array",
    "create_group",
    "empty",
    "empty_like",
    "from_array",
    "full",
    "full_like",
    "load",
    "ones",
    "ones_like",
    "open_like",
    "save",
    "save_array",
    "save_group",
    "tree",
    "zeros",
    "zeros_like",
]
