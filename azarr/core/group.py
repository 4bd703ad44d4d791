"""AsyncGroup: a node that holds arrays and groups (in any format)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

import numpy as np

from azarr.core.array import AsyncArray
from azarr.core.creation import DEFAULT_FORMAT, translate_keywords
from azarr.core.hierarchy import (
    NodeBase,
    NodeContext,
    delete_node,
    doc_key,
    join_path,
    normalize_path,
    plan_node,
    write_node,
)
from azarr.errors import (
    ArgumentError,
    ContainsArrayError,
    ContainsGroupError,
    GroupNotFoundError,
    NodeNotFoundError,
    ReadOnlyError,
)
from azarr.meta.formats import NODE_DOCUMENTS, Node, detect, format_for
from azarr.stores.base import Store


class AsyncGroup(NodeBase):
    """A group of arrays and groups in a store (async API)."""

    kind = "group"

    # --- opening / creating ---------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        store: Store,
        path: str = "",
        *,
        read_only: bool = False,
        context: NodeContext | None = None,
        zarr_format: Any = None,
    ) -> AsyncGroup:
        """Open the existing group at ``path``."""
        path = normalize_path(path)
        context = context or NodeContext()
        node = await context.read_node(store, path, zarr_format)
        if node is None or node.kind != "group":
            what = "an array" if node else "nothing"
            raise GroupNotFoundError(f"no group at path {path!r} in {store.name} (found {what})")
        return cls(store, path, node.metadata, node.attributes, read_only=read_only, context=context)

    @classmethod
    async def create(
        cls,
        store: Store,
        path: str = "",
        *,
        attributes: Mapping[str, Any] | None = None,
        overwrite: bool = False,
        zarr_format: Any = None,
        context: NodeContext | None = None,
    ) -> AsyncGroup:
        """Create a group at ``path`` (parents created as needed).

        Without ``zarr_format`` the group takes the format of the hierarchy it is created
        in, or Zarr v3 at the top of a new one.
        """
        path = normalize_path(path)
        context = context or NodeContext()
        if store.read_only:
            raise ReadOnlyError(f"cannot create a group at {path!r}: {store.name} is read-only", key=path)
        if zarr_format is not None:
            format_for(zarr_format)  # reject an unknown format before any I/O
        lineage = await plan_node(store, path, context, zarr_format, overwrite)
        fmt = zarr_format if zarr_format is not None else (lineage.hierarchy_format() or DEFAULT_FORMAT)
        meta = format_for(fmt).create_group(root=path == "")
        attrs = dict(attributes or {})
        await write_node(store, lineage, fmt, meta.to_documents(attrs), context)
        return cls(store, path, meta, attrs, context=context)

    def __repr__(self) -> str:
        return f"<AsyncGroup {self.name} store={self.store.name}>"

    # --- members -------------------------------------------------------------------------------

    def _child(self, name: str) -> str:
        return join_path(self.path, normalize_path(name))

    def _wrap(self, path: str, node: Node) -> AsyncArray | AsyncGroup:
        if node.kind == "array":
            return AsyncArray(self.store, path, node.metadata, node.attributes, read_only=self.read_only, context=self.context)
        return AsyncGroup(self.store, path, node.metadata, node.attributes, read_only=self.read_only, context=self.context)

    async def getitem(self, name: str) -> AsyncArray | AsyncGroup:
        """Return the array or group at relative path ``name`` (``"a/b"`` allowed)."""
        path = self._child(name)
        node = await self.context.read_node(self.store, path, self.zarr_format)
        if node is None:
            raise NodeNotFoundError(f"no array or group named {name!r} in group {self.name} ({self.store.name})")
        return self._wrap(path, node)

    async def contains(self, name: str) -> bool:
        """Whether an array or group exists at relative path ``name``."""
        try:
            await self.getitem(name)
        except NodeNotFoundError:
            return False
        return True

    async def _child_names(self) -> list[str]:
        if self.context.consolidated is not None:
            names = self.context.consolidated.children(self.path)
            if names is not None:
                return names
        prefix = self.path + "/" if self.path else ""
        _, dirs = await self.store.list_dir(prefix)
        return dirs

    async def members(self) -> list[tuple[str, AsyncArray | AsyncGroup]]:
        """Return ``[(name, node)]`` of the direct children, sorted by name.

        One listing plus ONE batched read of every child's metadata (none at all
        when opened from consolidated metadata).
        """
        names = await self._child_names()
        if not names:
            return []
        view = self.context.consolidated
        per_child: dict[str, dict[str, bytes]]
        if view is not None and view.covers(self.path):
            per_child = {n: view.documents(self._child(n), NODE_DOCUMENTS) or {} for n in names}
        else:
            keys = {doc_key(self._child(n), d): (n, d) for n in names for d in NODE_DOCUMENTS}
            found = await self.store.get_many(list(keys))
            per_child = {n: {} for n in names}
            for key, value in found.items():
                n, d = keys[key]
                per_child[n][d] = value
        out = []
        for n in sorted(names):
            node = detect(per_child[n], self._child(n), self.zarr_format)
            if node is not None:
                out.append((n, self._wrap(self._child(n), node)))
        return out

    async def keys(self) -> list[str]:
        """Names of the direct children (arrays and groups), sorted."""
        return [n for n, _ in await self.members()]

    async def arrays(self) -> list[tuple[str, AsyncArray]]:
        """``[(name, array)]`` of the child arrays."""
        return [(n, m) for n, m in await self.members() if isinstance(m, AsyncArray)]

    async def groups(self) -> list[tuple[str, AsyncGroup]]:
        """``[(name, group)]`` of the child groups."""
        return [(n, m) for n, m in await self.members() if isinstance(m, AsyncGroup)]

    async def array_keys(self) -> list[str]:
        """Names of the child arrays."""
        return [n for n, _ in await self.arrays()]

    async def group_keys(self) -> list[str]:
        """Names of the child groups."""
        return [n for n, _ in await self.groups()]

    async def create_array(self, name: str, **kwargs: Any) -> AsyncArray:
        """Create an array ``name`` in this group, in the group's format (zarr-python's
        keywords: ``shape``, ``dtype``, ``chunks``, ``fill_value``, ``filters``, ``compressors``,
        ``serializer``, ``codecs``, ``attributes``, ``overwrite``, ...; v2's ``compressor``,
        ``order``, ``object_codec``). ``data=`` gives shape and dtype and is written unless
        ``write_data=False``. In a Zarr v3 group ``compressor=`` means ``compressors=``."""
        self._check_writable()
        from azarr.core.constructors import data_args, write_data

        kwargs = translate_keywords("create_array", kwargs)
        kwargs.setdefault("zarr_format", self.zarr_format)
        if kwargs.get("chunks") == "auto":
            kwargs["chunks"] = None
        if kwargs.get("filters") == "auto":
            del kwargs["filters"]
        if kwargs["zarr_format"] == 3 and "compressor" in kwargs and "compressors" not in kwargs:
            kwargs["compressors"] = kwargs.pop("compressor")  # zarr-python 3's deprecated spelling
        data = kwargs.pop("data", None)
        write = kwargs.pop("write_data", True)
        kwargs.pop("storage_options", None)  # the group's store is already open
        if data is not None:
            data = data_args(data, kwargs)
        if kwargs.get("shape") is None:
            raise ArgumentError(f"create_array({name!r}) needs shape= (or data=)")
        arr = await AsyncArray.create(self.store, self._child(name), context=self.context, **kwargs)
        if data is not None and write:
            await write_data(arr, data)
        return arr

    async def empty(self, name: str, **kwargs: Any) -> AsyncArray:
        """Create an array whose unwritten elements read as its fill value."""
        return await self.create_array(name, **kwargs)

    async def zeros(self, name: str, **kwargs: Any) -> AsyncArray:
        """Create an array of zeros (fill value 0)."""
        return await self.create_array(name, fill_value=0, **kwargs)

    async def ones(self, name: str, **kwargs: Any) -> AsyncArray:
        """Create an array of ones (fill value 1)."""
        return await self.create_array(name, fill_value=1, **kwargs)

    async def full(self, name: str, fill_value: Any, **kwargs: Any) -> AsyncArray:
        """Create an array filled with ``fill_value``."""
        return await self.create_array(name, fill_value=fill_value, **kwargs)

    async def array(self, name: str, data: Any = None, **kwargs: Any) -> AsyncArray:
        """Create an array holding ``data`` (zarr-python 2's ``Group.array``; 3's keyword form
        ``array(name, shape=, dtype=, data=)`` works too)."""
        if data is None:
            data = kwargs.pop("data", None)
        if data is None:
            return await self.create_array(name, **kwargs)
        return await self.create_array(name, data=data, **kwargs)

    async def _like(self, name: str, data: Any, kwargs: dict[str, Any], fill: Any = None, keep_fill: bool = False) -> AsyncArray:
        from azarr.core.constructors import like_args, like_fill

        args = {**like_args(data), **kwargs}
        if keep_fill:
            like_fill(data, args)
        if fill is not None:
            args["fill_value"] = fill
        args.pop("zarr_format", None)  # the group's format decides
        if self.zarr_format == 3 and "compressor" in args:  # a v2 array's encoding does not carry over
            for key in ("compressor", "filters", "order"):
                args.pop(key, None)
        if self.zarr_format == 2 and "codecs" in args:
            args.pop("codecs")
            args.pop("chunk_key_encoding", None)
        return await self.create_array(name, **args)

    async def empty_like(self, name: str, data: Any, **kwargs: Any) -> AsyncArray:
        """Create an empty array like ``data`` (its shape, chunks, dtype, fill value, encoding)."""
        return await self._like(name, data, kwargs, keep_fill=True)

    async def zeros_like(self, name: str, data: Any, **kwargs: Any) -> AsyncArray:
        """Create an array of zeros like ``data``."""
        return await self._like(name, data, kwargs, fill=0)

    async def ones_like(self, name: str, data: Any, **kwargs: Any) -> AsyncArray:
        """Create an array of ones like ``data``."""
        return await self._like(name, data, kwargs, fill=1)

    async def full_like(self, name: str, data: Any, **kwargs: Any) -> AsyncArray:
        """Create an array like ``data`` filled with ``fill_value`` (default: ``data``'s)."""
        return await self._like(name, data, kwargs, keep_fill=True)

    async def setitem(self, name: str, value: Any) -> AsyncArray:
        """``g[name] = value``: (re)create array ``name`` holding ``value`` with default settings."""
        return await self.create_array(name, data=value, overwrite=True)

    async def get(self, name: str, default: Any = None) -> Any:
        """The member at relative path ``name``, or ``default`` when there is none."""
        try:
            return await self.getitem(name)
        except NodeNotFoundError:
            return default

    async def values(self) -> list[AsyncArray | AsyncGroup]:
        """The direct children (arrays and groups), sorted by name."""
        return [m for _, m in await self.members()]

    async def walk(self) -> AsyncGenerator[tuple[str, AsyncArray | AsyncGroup], None]:
        """Yield ``(path relative to this group, node)`` for every node below it, depth
        first and sorted by name (the order of zarr-python 2's ``visit*``); one batched
        metadata read per group."""
        for name, node in await self.members():
            yield name, node
            if isinstance(node, AsyncGroup):
                async for sub, child in node.walk():
                    yield f"{name}/{sub}", child

    async def visitvalues(self, func: Callable[[Any], Any]) -> Any:
        """Call ``func(node)`` on every node below this group until one returns something
        other than None, and return that (``func`` may be a coroutine function)."""
        return await self._visit(lambda path, node: func(node))

    async def visit(self, func: Callable[[str], Any]) -> Any:
        """Call ``func(relative path)`` on every node below this group (see :meth:`visitvalues`)."""
        return await self._visit(lambda path, node: func(path))

    visitkeys = visit

    async def visititems(self, func: Callable[[str, Any], Any]) -> Any:
        """Call ``func(relative path, node)`` on every node below this group (see :meth:`visitvalues`)."""
        return await self._visit(func)

    async def _visit(self, func: Callable[[str, Any], Any]) -> Any:
        walker = self.walk()
        try:
            async for path, node in walker:
                result = func(path, node)
                if inspect.isawaitable(result):
                    result = await result
                if result is not None:
                    return result
        finally:
            await walker.aclose()
        return None

    async def move(self, source: str, dest: str) -> None:
        """Move member ``source`` to ``dest`` (paths relative to this group; parents of
        ``dest`` are created). Keys are copied in batches, then the originals deleted."""
        from azarr.core.copy import move

        await move(self, source, dest)

    async def create_groups(self, *names: str, overwrite: bool = False) -> tuple[AsyncGroup, ...]:
        """Create several child groups (zarr-python 2's ``create_groups``)."""
        return tuple([await self.create_group(n, overwrite=overwrite) for n in names])

    async def require_groups(self, *names: str) -> tuple[AsyncGroup, ...]:
        """Open or create several child groups (zarr-python 2's ``require_groups``)."""
        return tuple([await self.require_group(n) for n in names])

    async def create_group(
        self, name: str, *, overwrite: bool = False, attributes: Mapping[str, Any] | None = None
    ) -> AsyncGroup:
        """Create a child group ``name`` (in this group's format)."""
        self._check_writable()
        return await AsyncGroup.create(
            self.store,
            self._child(name),
            attributes=attributes,
            overwrite=overwrite,
            zarr_format=self.zarr_format,
            context=self.context,
        )

    async def require_group(self, name: str) -> AsyncGroup:
        """Open child group ``name``, creating it if missing."""
        path = self._child(name)
        node = await self.context.read_node(self.store, path, self.zarr_format)
        if node is None:
            return await self.create_group(name)
        if node.kind != "group":
            raise ContainsArrayError(f"{path!r} in {self.store.name} is an array, not a group")
        return self._wrap(path, node)  # type: ignore[return-value]

    async def require_array(self, name: str, *, shape: Any, dtype: Any = None, **kwargs: Any) -> AsyncArray:
        """Open child array ``name`` if it exists with a compatible shape/dtype, else create it."""
        path = self._child(name)
        node = await self.context.read_node(self.store, path, self.zarr_format)
        if node is None:
            if dtype is not None:
                kwargs["dtype"] = dtype
            return await self.create_array(name, shape=shape, **kwargs)
        if node.kind != "array":
            raise ContainsGroupError(f"{path!r} in {self.store.name} is a group, not an array")
        arr = self._wrap(path, node)
        assert isinstance(arr, AsyncArray)
        want = (shape,) if isinstance(shape, int) else tuple(shape)
        if arr.shape != want:
            raise ContainsArrayError(f"array {path!r} exists with shape {arr.shape}, not {want}")
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            raise ContainsArrayError(f"array {path!r} exists with dtype {arr.dtype}, not {np.dtype(dtype)}")
        return arr

    async def delitem(self, name: str) -> None:
        """Delete child ``name`` and everything below it."""
        self._check_writable()
        path = self._child(name)
        if not await self.contains(name):
            raise NodeNotFoundError(f"no array or group named {name!r} in group {self.name}")
        await delete_node(self.store, path, self.context)

    async def tree(self, level: int | None = None) -> str:
        """A text tree of the hierarchy below this group, laid out as zarr-python 3 lays it
        out (the group's name, then one line per node; arrays show shape and dtype).
        ``level`` is zarr-python 3's depth limit: 0 shows the children only, 1 their
        children too, ... (None: everything)."""
        lines = [self.name]

        async def walk(group: AsyncGroup, prefix: str, depth: int) -> None:
            members = await group.members()
            for i, (name, node) in enumerate(members):
                last = i == len(members) - 1
                connector = "└── " if last else "├── "
                if isinstance(node, AsyncArray):
                    lines.append(f"{prefix}{connector}{name} {node.shape} {node.dtype}")
                else:
                    lines.append(f"{prefix}{connector}{name}")
                    if level is None or depth < level:
                        await walk(node, prefix + ("    " if last else "│   "), depth + 1)

        await walk(self, "", 0)
        return "\n".join(lines) + "\n"

    def info_items(self) -> list[tuple[str, str]]:
        """(label, value) rows describing the group."""
        return [
            ("Type", "azarr.Group"),
            ("Name", self.name),
            ("Format", str(self.zarr_format)),
            ("Store", self.store.name),
            ("Read-only", str(self.read_only)),
        ]


__all__ = ["AsyncGroup"]
