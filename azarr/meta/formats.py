"""The format registry: what each on-store format (Zarr v2, Zarr v3, N5) calls its
documents, how it parses and writes them, and its consolidated-metadata form.

The core never branches on a format: it asks :func:`format_for` / :func:`detect` for a
:class:`Format` and calls it. Pure: no I/O, no codecs.
"""

from __future__ import annotations

import abc
import json
import unicodedata
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from azarr.errors import ConsolidatedMetadataError, MetadataError
from azarr.meta.common import json_loads


@dataclass(frozen=True)
class Node:
    """What a node's documents describe: an array or a group, its metadata and attributes."""

    kind: Literal["array", "group"]
    metadata: Any
    attributes: dict[str, Any]


#: parsed consolidated metadata: relative node path ("" = the consolidated group) ->
#: {document name: parsed JSON object}
Entries = dict[str, dict[str, Any]]


class Format(abc.ABC):
    """One on-store format."""

    #: the value of ``zarr_format`` this format answers to (2, 3 or "n5")
    key: ClassVar[int | str]
    #: every document name that can describe a node of this format
    documents: ClassVar[tuple[str, ...]]
    #: the root document that holds a group's consolidated metadata (None: the format has none)
    consolidated_key: ClassVar[str | None] = None

    @abc.abstractmethod
    def parse(self, docs: dict[str, bytes], path: str) -> Node | None:
        """The node ``docs`` (name -> bytes, for the node at ``path``) describe, or None."""

    @abc.abstractmethod
    def create_array(self, **kwargs: Any) -> Any:
        """Array metadata for new arrays from normalized creation arguments."""

    @abc.abstractmethod
    def create_group(self, root: bool) -> Any:
        """Metadata for a new group (``root``: the top of a hierarchy)."""

    def is_metadata_document(self, name: str) -> bool:
        """Whether a key's last component names a document consolidation gathers."""
        return name in self.documents

    # consolidated metadata -----------------------------------------------------------------

    def parse_consolidated(self, docs: dict[str, bytes], root: str) -> Entries | None:
        """Entries from the documents at a group's root (None when it has none)."""
        return None

    def consolidated_documents(self, entries: Entries) -> dict[str, bytes]:
        """The documents to write at the consolidated group's root for ``entries``."""
        raise ConsolidatedMetadataError(f"format {self.key!r} has no consolidated metadata")

    def documents_from_entry(self, entry: dict[str, Any]) -> dict[str, bytes]:
        """A node's documents (as stored bytes) from its consolidated entry."""
        return {name: json.dumps(obj).encode() for name, obj in entry.items()}

    def entry_from_documents(self, docs: dict[str, bytes], where: str) -> dict[str, Any]:
        """A node's consolidated entry from its documents."""
        return {name: json_loads(data, where) for name, data in docs.items() if self.is_metadata_document(name)}


class ZarrV2(Format):
    """Zarr v2: ``.zarray`` / ``.zgroup`` / ``.zattrs``; consolidated in ``.zmetadata``."""

    key = 2
    documents = (".zarray", ".zgroup", ".zattrs")
    consolidated_key = ".zmetadata"

    def parse(self, docs: dict[str, bytes], path: str) -> Node | None:
        from azarr.meta.v2 import ZARRAY, ZGROUP, ArrayMetadataV2, GroupMetadataV2

        if ZARRAY in docs:
            meta, attrs = ArrayMetadataV2.from_documents(docs, path)
            return Node("array", meta, attrs)
        if ZGROUP in docs:
            gmeta, attrs = GroupMetadataV2.from_documents(docs, path)
            return Node("group", gmeta, attrs)
        return None

    def create_array(self, **kwargs: Any) -> Any:
        from azarr.meta.v2 import ArrayMetadataV2

        return ArrayMetadataV2.create(kwargs.pop("shape"), kwargs.pop("chunks"), kwargs.pop("dtype"), **kwargs)

    def create_group(self, root: bool) -> Any:
        from azarr.meta.v2 import GroupMetadataV2

        return GroupMetadataV2()

    def parse_consolidated(self, docs: dict[str, bytes], root: str) -> Entries | None:
        data = docs.get(".zmetadata")
        if data is None:
            return None
        where = f"{root}/.zmetadata" if root else ".zmetadata"
        try:
            doc = json_loads(data, where)
        except MetadataError as exc:
            raise ConsolidatedMetadataError(str(exc)) from None
        if not isinstance(doc, dict) or doc.get("zarr_consolidated_format") != 1:
            raise ConsolidatedMetadataError(f"{where}: expected zarr_consolidated_format 1")
        meta = doc.get("metadata")
        if not isinstance(meta, dict):
            raise ConsolidatedMetadataError(f"{where}: 'metadata' must be an object")
        entries: Entries = {}
        for key, obj in meta.items():
            rel, _, name = key.rpartition("/")
            if name in self.documents:
                entries.setdefault(rel, {})[name] = obj
        return entries

    def consolidated_documents(self, entries: Entries) -> dict[str, bytes]:
        from azarr.meta.v2 import json_dumps

        flat = {}
        for rel, docs in entries.items():
            for name, obj in docs.items():
                flat[f"{rel}/{name}" if rel else name] = obj
        return {".zmetadata": json_dumps({"zarr_consolidated_format": 1, "metadata": flat})}

    def documents_from_entry(self, entry: dict[str, Any]) -> dict[str, bytes]:
        from azarr.meta.v2 import json_dumps

        return {name: json_dumps(obj) for name, obj in entry.items()}


def dump_json_v3(obj: Any) -> bytes:
    """Encode a Zarr v3 document as zarr-python 3 does (2-space indent)."""
    return json.dumps(obj, indent=2, allow_nan=False).encode()


def _with_consolidated(doc: dict[str, Any], consolidated: dict[str, Any]) -> dict[str, Any]:
    """A group document with ``consolidated_metadata`` placed where zarr-python puts it."""
    out = {k: v for k, v in doc.items() if k not in ("consolidated_metadata", "node_type")}
    out["consolidated_metadata"] = consolidated
    out["node_type"] = doc.get("node_type", "group")
    return out


def _inline(metadata: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "inline", "must_understand": False, "metadata": metadata}


class ZarrV3(Format):
    """Zarr v3: one ``zarr.json`` per node; consolidated inline in the root group's ``zarr.json``."""

    key = 3
    documents = ("zarr.json",)
    consolidated_key = "zarr.json"

    def parse(self, docs: dict[str, bytes], path: str) -> Node | None:
        data = docs.get("zarr.json")
        if data is None:
            return None
        from azarr.meta.v3 import ArrayMetadataV3, GroupMetadataV3

        where = f"{path}/zarr.json" if path else "zarr.json"
        doc = json_loads(data, where)
        kind = doc.get("node_type") if isinstance(doc, dict) else None
        if kind == "array":
            meta, attrs = ArrayMetadataV3.from_documents({"zarr.json": data}, path)
            return Node("array", meta, attrs)
        if kind == "group":
            gmeta, attrs = GroupMetadataV3.from_documents({"zarr.json": data}, path)
            return Node("group", gmeta, attrs)
        raise MetadataError(f"{where}: node_type must be 'array' or 'group', got {kind!r}")

    def create_array(self, **kwargs: Any) -> Any:
        from azarr.meta.v3 import ArrayMetadataV3

        return ArrayMetadataV3.create(**kwargs)

    def create_group(self, root: bool) -> Any:
        from azarr.meta.v3 import GroupMetadataV3

        return GroupMetadataV3.create(root=root)

    def parse_consolidated(self, docs: dict[str, bytes], root: str) -> Entries | None:
        data = docs.get("zarr.json")
        if data is None:
            return None
        where = f"{root}/zarr.json" if root else "zarr.json"
        doc = json_loads(data, where)
        if not isinstance(doc, dict) or doc.get("node_type") != "group":
            return None
        inline = doc.get("consolidated_metadata")
        if inline is None:
            return None
        if not isinstance(inline, dict) or inline.get("kind") != "inline" or not isinstance(
            inline.get("metadata"), dict
        ):
            raise ConsolidatedMetadataError(f"{where}: invalid consolidated_metadata {inline!r}")
        entries: Entries = {"": {"zarr.json": {k: v for k, v in doc.items() if k != "consolidated_metadata"}}}
        for rel, obj in inline["metadata"].items():
            if not isinstance(obj, dict):
                raise ConsolidatedMetadataError(f"{where}: consolidated entry {rel!r} is not an object")
            entries[rel.strip("/")] = {"zarr.json": {k: v for k, v in obj.items() if k != "consolidated_metadata"}}
        return entries

    def entry_from_documents(self, docs: dict[str, bytes], where: str) -> dict[str, Any]:
        entry = super().entry_from_documents(docs, where)
        obj = entry.get("zarr.json")
        if isinstance(obj, dict) and "consolidated_metadata" in obj:
            entry["zarr.json"] = {k: v for k, v in obj.items() if k != "consolidated_metadata"}
        return entry

    def consolidated_documents(self, entries: Entries) -> dict[str, bytes]:
        # zarr-python's layout: members flat, sorted by depth then case-folded name; member
        # groups carry an empty inline document of their own
        own = entries.get("", {}).get("zarr.json") or {"attributes": {}, "zarr_format": 3, "node_type": "group"}
        members: dict[str, Any] = {}
        order = sorted((k for k in entries if k), key=lambda k: (k.count("/"), unicodedata.normalize("NFKC", k).casefold()))
        for rel in order:
            obj = entries[rel].get("zarr.json")
            if not isinstance(obj, dict):
                continue
            members[rel] = _with_consolidated(obj, _inline({})) if obj.get("node_type") == "group" else obj
        return {"zarr.json": dump_json_v3(_with_consolidated(own, _inline(members)))}

    def documents_from_entry(self, entry: dict[str, Any]) -> dict[str, bytes]:
        return {name: dump_json_v3(obj) for name, obj in entry.items()}


class N5(Format):
    """N5: ``attributes.json`` per node; no consolidated metadata."""

    key = "n5"
    documents = ("attributes.json",)

    def parse(self, docs: dict[str, bytes], path: str) -> Node | None:
        data = docs.get("attributes.json")
        if data is None:
            return None
        from azarr.meta import n5

        where = f"{path}/attributes.json" if path else "attributes.json"
        doc = json_loads(data, where)
        if not isinstance(doc, dict):
            raise MetadataError(f"{where}: expected a JSON object")
        if n5.is_n5_array(doc):
            ameta, attrs = n5.N5ArrayMetadata.from_documents({"attributes.json": data}, path)
            return Node("array", ameta, attrs)
        gmeta, attrs = n5.N5GroupMetadata.from_documents({"attributes.json": data}, path)
        return Node("group", gmeta, attrs)

    def create_array(self, **kwargs: Any) -> Any:
        from azarr.meta.n5 import N5ArrayMetadata

        return N5ArrayMetadata.create(**kwargs)

    def create_group(self, root: bool) -> Any:
        from azarr.meta.n5 import N5GroupMetadata

        return N5GroupMetadata.create(root=root)


#: every format, in the order detection prefers them (v3, then v2, then N5)
FORMATS: tuple[Format, ...] = (ZarrV3(), ZarrV2(), N5())
_BY_KEY: dict[Any, Format] = {f.key: f for f in FORMATS}
#: every document that can describe a node, in any format (fetched together in one batch)
NODE_DOCUMENTS: tuple[str, ...] = tuple(d for f in FORMATS for d in f.documents)
#: the documents that may hold a group's consolidated metadata
CONSOLIDATED_DOCUMENTS: tuple[str, ...] = tuple(f.consolidated_key for f in FORMATS if f.consolidated_key)


def format_for(zarr_format: Any) -> Format:
    """The :class:`Format` for a ``zarr_format`` value (2, 3, "2", "3", "n5", "N5")."""
    key: Any = zarr_format
    if isinstance(key, str):
        key = key.lower()
        if key in ("2", "3"):
            key = int(key)
    fmt = _BY_KEY.get(key)
    if fmt is None:
        raise MetadataError(f"unsupported zarr_format {zarr_format!r} (use 2, 3 or 'n5')")
    return fmt


def detect(docs: dict[str, bytes], path: str, prefer: Any = None) -> Node | None:
    """The node ``docs`` describe in whichever format they are written (``prefer``red first)."""
    order = FORMATS if prefer is None else (format_for(prefer), *(f for f in FORMATS if f.key != format_for(prefer).key))
    for fmt in order:
        node = fmt.parse(docs, path)
        if node is not None:
            return node
    return None


__all__ = [
    "CONSOLIDATED_DOCUMENTS",
    "FORMATS",
    "NODE_DOCUMENTS",
    "Entries",
    "Format",
    "Node",
    "detect",
    "format_for",
]
