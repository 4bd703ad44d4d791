"""Unpickled stores of equal configuration share one live instance per process."""

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


def _forget_shared_after_fork() -> None:
    _SHARED.clear()


os.register_at_fork(after_in_child=_forget_shared_after_fork)
