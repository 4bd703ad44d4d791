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


def _next_size(total_bytes: int, total_values: int, budget: int) -> int:
    if total_values == 0:
        return MAX_WINDOW  # only missing keys so far: nothing costs memory
    mean = max(1, total_bytes // total_values)
    return max(MIN_WINDOW, min(MAX_WINDOW, budget // mean))


async def stream_values(
    store: Store, keys: Sequence[str], *, budget: int = WINDOW_BYTES, first: int = FIRST_WINDOW
) -> AsyncIterator[tuple[list[str], dict[str, bytes]]]:
    """Yield ``(window_keys, {key: value})`` for consecutive windows of ``keys`` in order
    (missing keys are absent from the dict). The next window is read while the caller
    handles the current one; window sizes adapt so a window holds about ``budget`` bytes."""
    start = 0
    size = max(1, min(first, len(keys)))
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
            size = _next_size(seen_bytes, seen_values, budget)
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


__all__ = ["WINDOW_BYTES", "keys_under", "stream_values"]
