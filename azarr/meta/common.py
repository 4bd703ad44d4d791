"""What every metadata format shares: JSON in and out, integer tuples, chunk shapes,
float fill values' JSON spellings, attribute values (pure: no I/O)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from azarr.errors import MetadataError


def json_loads(data: bytes | str, key: str) -> Any:
    """Decode a JSON metadata document; errors name ``key``."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{key}: not valid JSON ({exc})") from None


def encode_float(v: float) -> float | str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return float(v)


def decode_float(v: Any, key: str) -> float:
    if isinstance(v, str):
        table = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
        if v in table:
            return table[v]
        # zarr-python 3 may write float fill values as hex strings ("0x7fc00000")
        if v.startswith("0x"):
            raise MetadataError(f"{key}: hex float fill_value {v!r} is not Zarr v2")
        raise MetadataError(f"{key}: invalid float fill_value {v!r}")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise MetadataError(f"{key}: invalid float fill_value {v!r}")
    return float(v)


def int_tuple(value: Any, name: str, key: str, *, positive: bool) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise MetadataError(f"{key}: {name} must be a list of integers, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise MetadataError(f"{key}: {name} must be a list of integers, got {value!r}")
        if v < (1 if positive else 0):
            raise MetadataError(f"{key}: {name} entries must be {'>= 1' if positive else '>= 0'}, got {value!r}")
        out.append(int(v))
    return tuple(out)


def normalize_chunks(chunks: Any, shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Resolve user ``chunks`` (None/True = guess, int, tuple with None/-1 = full axis)."""
    if chunks is None or chunks is True:
        return guess_chunks(shape, itemsize)
    if chunks is False:
        return tuple(max(1, s) for s in shape)
    if isinstance(chunks, (int, np.integer)) and not isinstance(chunks, bool):
        chunks = (int(chunks),) * len(shape)
    if not isinstance(chunks, (list, tuple)):
        raise MetadataError(f"chunks must be an int or a tuple, got {chunks!r}")
    if len(chunks) < len(shape):
        chunks = tuple(chunks) + tuple(shape[len(chunks) :])
    if len(chunks) != len(shape):
        raise MetadataError(f"chunks {tuple(chunks)} do not match shape {shape}")
    out = []
    for c, s in zip(chunks, shape):
        if c is None or c == -1:
            c = max(1, s)
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1:
            raise MetadataError(f"chunk sizes must be positive integers, got {tuple(chunks)}")
        out.append(int(c))
    return tuple(out)


def guess_chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Pick chunks of roughly 1-16 MiB by halving the largest axis (zarr-python's heuristic)."""
    if not shape:
        return ()
    chunks = [max(1, s) for s in shape]
    target = 4 * 1024 * 1024
    while math.prod(chunks) * itemsize > target and any(c > 1 for c in chunks):
        i = max(range(len(chunks)), key=lambda j: chunks[j])
        chunks[i] = -(-chunks[i] // 2)
    return tuple(chunks)


def jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return encode_float(obj)
    return obj
