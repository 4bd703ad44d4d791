"""Planning a sharded read: its options, the per-array index cache, the shards it touches,
and the coalescing of inner chunks into byte ranges. Pure: no I/O."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from azarr.errors import AzarrError


class ShardOptionsError(AzarrError, ValueError):
    """A :class:`ShardReadOptions` setting is out of range."""


@dataclass(frozen=True)
class ShardReadOptions:
    """How sharded arrays are read (set per array as ``AsyncArray.shard_options``).

    ``coalesce_gap``: inner chunks of one shard at most this many bytes apart are read in
    one range (the gap is read and thrown away). ``coalesce_max``: no coalesced range
    grows beyond this many bytes. ``whole_fraction``: a shard is read whole, without
    waiting for its index, when at least this fraction of its inner chunks is needed
    (when its index is cached: of its stored bytes). ``index_cache_bytes``: the most
    decoded-index bytes one array keeps.
    """

    coalesce_gap: int = 1 << 20
    coalesce_max: int = 16 << 20
    whole_fraction: float = 0.5
    index_cache_bytes: int = 32 << 20

    def __post_init__(self) -> None:
        for name, low in (("coalesce_gap", 0), ("coalesce_max", 1), ("index_cache_bytes", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ShardOptionsError(f"ShardReadOptions: {name} must be an integer >= {low}, got {value!r}")
        fraction = self.whole_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction:
            raise ShardOptionsError(
                f"ShardReadOptions: whole_fraction must be a number >= 0 (above 1: never read shards whole "
                f"without their index), got {fraction!r}"
            )


DEFAULT_SHARD_OPTIONS = ShardReadOptions()


# --- the index cache ------------------------------------------------------------------------------


class IndexCache:
    """Decoded shard indexes by shard key, least recently used dropped first beyond ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[bytes, np.ndarray]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: str) -> tuple[bytes, np.ndarray] | None:
        """``(encoded index, decoded table)`` for ``key``, or None."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, raw: bytes, table: np.ndarray) -> None:
        """Remember the index of shard ``key``."""
        self.drop(key)
        size = len(raw) + table.nbytes
        if size > self.max_bytes:
            return
        self._entries[key] = (raw, table)
        self._bytes += size
        self._evict()

    def resize(self, max_bytes: int) -> None:
        """Change the bound, dropping the least recently used entries beyond it."""
        self.max_bytes = max_bytes
        self._evict()

    def _evict(self) -> None:
        while self._bytes > self.max_bytes:
            _, (old_raw, old_table) = self._entries.popitem(last=False)
            self._bytes -= len(old_raw) + old_table.nbytes

    def drop(self, key: str) -> None:
        """Forget shard ``key``."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[0]) + entry[1].nbytes

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self._bytes = 0


# --- planning -------------------------------------------------------------------------------------

#: one inner chunk inside a coalesced range: (C-order number in the shard, offset in the shard, nbytes)
Piece = tuple[int, int, int]


def coalesce(pieces: Iterable[Piece], gap: int, max_span: int) -> list[tuple[int, int, list[Piece]]]:
    """Group inner chunks into ranges ``(start, end, pieces)``: sorted by offset, a chunk joins
    the previous range when it starts at most ``gap`` bytes after it ends and the range stays
    within ``max_span`` bytes (a single chunk bigger than that is a range of its own)."""
    ranges: list[tuple[int, int, list[Piece]]] = []
    for piece in sorted(pieces, key=lambda p: p[1]):
        _, offset, nbytes = piece
        end = offset + nbytes
        if ranges:
            start, last_end, members = ranges[-1]
            if offset - last_end <= gap and max(end, last_end) - start <= max_span:
                members.append(piece)
                ranges[-1] = (start, max(end, last_end), members)
                continue
        ranges.append((offset, end, [piece]))
    return ranges


class Shard:
    """One shard touched by a read: what it needs and where its read stands."""

    __slots__ = ("answered", "block", "cached", "coords", "empties", "key", "needed", "pending", "pieces", "state")

    def __init__(self, key: str, coords: tuple[int, ...]) -> None:
        self.key = key
        self.coords = coords
        self.needed: dict[int, Any] = {}  # inner chunk number -> projection, until decoded or filled
        self.cached: tuple[bytes, np.ndarray] | None = None
        self.state = "cold"  # cold | unverified (cached index in use) | ready | stale
        self.pending: list[tuple[int, list[Piece], bytes]] = []  # ranges that arrived before verification
        self.empties: list[int] = []  # needed chunks the cached index says are not stored
        self.answered = False
        # a shard read whole into one block of the output (ShardIO.plan): its block, and the
        # per-axis pieces its inner-chunk projections come from if it must be read otherwise
        self.block: np.ndarray | None = None
        self.pieces: list[Any] | None = None


__all__ = [
    "DEFAULT_SHARD_OPTIONS",
    "IndexCache",
    "Piece",
    "Shard",
    "ShardOptionsError",
    "ShardReadOptions",
    "coalesce",
]
