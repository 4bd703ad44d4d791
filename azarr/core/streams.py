"""Reading many keys in windows: one batched ``get_many`` per window, the next window in
flight while the caller handles the current one, memory bounded by a byte budget.

Whole-store passes (copies, ``nbytes_stored``, ``digest``) go through here so that they
keep the store's batching and concurrency without holding a whole array in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from azarr.stores.base import Store

#: bytes a window aims for (two windows are in memory at most: the one handled, the one read)
WINDOW_BYTES = 64 * 2**20
#: keys in the first window, before value sizes are known
FIRST_WINDOW = 64
MIN_WINDOW = 16
MAX_WINDOW = 4096


def _next_size(total_bytes: int, total_values: int, budget: int, max_keys: int = MAX_WINDOW) -> int:
    if total_values == 0:
        return max_keys  # only missing keys so far: nothing costs memory
    mean = max(1, total_bytes // total_values)
    return max(MIN_WINDOW, min(max_keys, budget // mean))


async def stream_values(
    store: Store,
    keys: Sequence[str],
    *,
    budget: int = WINDOW_BYTES,
    first: int = FIRST_WINDOW,
    max_keys: int = MAX_WINDOW,
) -> AsyncIterator[tuple[list[str], dict[str, bytes]]]:
    """Yield ``(window_keys, {key: value})`` for consecutive windows of ``keys`` in order
    (missing keys are absent from the dict). The next window is read while the caller
    handles the current one; window sizes adapt so a window holds about ``budget`` bytes,
    and at most ``max_keys`` keys."""
    start = 0
    max_keys = max(MIN_WINDOW, min(MAX_WINDOW, max_keys))
    size = max(1, min(first, max_keys, len(keys)))
    seen_bytes = seen_values = 0
    pending: asyncio.Future[dict[str, bytes]] | None = None
    pending_keys: list[str] = []
    try:
        while start < len(keys) or pending is not None:
            if pending is None:
                pending_keys = list(keys[start : start + size])
                start += len(pending_keys)
                pending = asyncio.ensure_future(store.get_many(pending_keys))
            found = await pending
            current = pending_keys
            pending = None
            seen_bytes += sum(len(v) for v in found.values())
            seen_values += len(found)
            size = _next_size(seen_bytes, seen_values, budget, max_keys)
            if start < len(keys):  # read ahead while the caller handles this window
                pending_keys = list(keys[start : start + size])
                start += len(pending_keys)
                pending = asyncio.ensure_future(store.get_many(pending_keys))
            yield current, found
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)


async def keys_under(store: Store, prefix: str) -> list[str]:
    """Every key below node path ``prefix`` (``""``: the whole store), sorted."""
    return [k async for k in store.list_prefix(prefix + "/" if prefix else "")]


async def sizes_under(store: Store, prefix: str) -> dict[str, int]:
    """``{key: size}`` of every key below node path ``prefix``, from one listing where the
    store's listing reports sizes (:meth:`~azarr.stores.base.Store.list_prefix_sizes`)."""
    return {k: n async for k, n in store.list_prefix_sizes(prefix + "/" if prefix else "")}


class CopyProgress:
    """What a copy has planned, done and skipped, in stored objects (chunks or shards) and
    bytes, updated as it runs (after each window is written). A display subclasses it and
    overrides :meth:`changed`; a caller interrupted mid-copy reads the counts to say how far
    it got."""

    def __init__(self) -> None:
        self.total_chunks = 0
        self.total_bytes = 0
        self.done_chunks = 0
        self.done_bytes = 0
        self.skipped_chunks = 0
        self.skipped_bytes = 0

    def plan(self, chunks: int, nbytes: int) -> None:
        """Add work to the totals (a copy plans each stream before it starts it)."""
        self.total_chunks += chunks
        self.total_bytes += nbytes
        self.changed()

    def advance(self, chunks: int, nbytes: int) -> None:
        """Record objects written."""
        self.done_chunks += chunks
        self.done_bytes += nbytes
        self.changed()

    def skip(self, chunks: int, nbytes: int) -> None:
        """Record planned objects found already at the destination (a resumed copy)."""
        self.skipped_chunks += chunks
        self.skipped_bytes += nbytes
        self.changed()

    def changed(self) -> None:
        """Called after every update (nothing here)."""


__all__ = ["WINDOW_BYTES", "CopyProgress", "keys_under", "sizes_under", "stream_values"]
