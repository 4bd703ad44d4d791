"""Unpickled stores, and stores opened from URLs, of equal configuration share one live
instance per process."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azarr.stores.base import Store

# Unpickled stores of the same configuration share one instance per process, so the
# tasks a dask worker runs reuse one client / connection pool instead of building one
# per task (an aiobotocore client costs ~100 ms to create).
_SHARED: OrderedDict[tuple[type, bytes], Store] = OrderedDict()
_SHARED_MAX = 64


def rebuild(cls: type[Store], config: dict[str, Any]) -> Store:
    """Recreate a pickled store from its configuration (reusing a live equal one)."""
    if not cls.share_unpickled:
        return cls(**config)
    try:
        key = (cls, pickle.dumps(sorted(config.items(), key=lambda kv: kv[0])))
    except Exception:
        return cls(**config)
    store = _SHARED.get(key)
    if store is None or store._closed:
        store = cls(**config)
        _SHARED[key] = store
        while len(_SHARED) > _SHARED_MAX:
            _SHARED.popitem(last=False)
    else:
        _SHARED.move_to_end(key)
    return store


def shared(store: Store) -> Store:
    """``store``, or the live store of equal configuration opened before it in this process.

    Stores opened from URLs go through here, so that opening the same location again (each
    ``azarr.open_array("s3://...")``) reuses the first one's client and keep-alive connections
    instead of building new ones (~0.15 s of CPU for an S3 client and its first connections).
    """
    if not store.share_unpickled:
        return store
    try:
        key = (type(store), pickle.dumps(sorted(store._config().items(), key=lambda kv: kv[0])))
    except Exception:
        return store
    live = _SHARED.get(key)
    if live is None or live._closed:
        _SHARED[key] = store
        while len(_SHARED) > _SHARED_MAX:
            _SHARED.popitem(last=False)
        return store
    _SHARED.move_to_end(key)
    return live


def _forget_shared_after_fork() -> None:
    _SHARED.clear()


os.register_at_fork(after_in_child=_forget_shared_after_fork)
