"""Store key rules: what a well-formed key or prefix is, and what a value may be."""

from __future__ import annotations

import re

from azarr.errors import InvalidKeyError, StoreError

# A well-formed key in one match (every request checks its key): segments of anything but
# "/", NUL and backslash, none empty, "." or ".."; no drive ("c:..."). Keys it refuses go
# through the step-by-step checks below, which say what is wrong.
_WELL_FORMED = re.compile(r"(?!.:)(?:(?!\.\.?(?:/|\Z))[^/\x00\\]+)(?:/(?!\.\.?(?:/|\Z))[^/\x00\\]+)*", re.DOTALL)


def validate_key(key: str) -> str:
    """Check that ``key`` is a well-formed relative store key and return it.

    Rejects non-strings, empty keys, NUL bytes, absolute keys, backslashes and ``.`` /
    ``..`` / empty path segments, so no key can escape a store's root.
    """
    if type(key) is str and _WELL_FORMED.fullmatch(key) is not None:
        return key
    if not isinstance(key, str):
        raise InvalidKeyError(f"store keys must be str, got {type(key).__name__}: {key!r}")
    if not key:
        raise InvalidKeyError("store key is empty")
    if "\x00" in key:
        raise InvalidKeyError(f"store key contains a NUL byte: {key!r}")
    if key.startswith("/") or "\\" in key or (len(key) > 1 and key[1] == ":"):
        raise InvalidKeyError(f"store key must be relative (no leading '/', '\\' or drive): {key!r}")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise InvalidKeyError(f"store key has an empty, '.' or '..' segment: {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """Check a listing prefix: ``""`` or a key-like string (a trailing ``/`` is allowed)."""
    if not isinstance(prefix, str):
        raise InvalidKeyError(f"prefix must be str, got {type(prefix).__name__}")
    if prefix:
        validate_key(prefix.removesuffix("/"))
    return prefix


def to_bytes(key: str, value: object) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    try:
        return memoryview(value).tobytes()  # type: ignore[arg-type]
    except TypeError:
        raise StoreError(
            f"value for key {key!r} must be bytes-like, got {type(value).__name__}", key=key
        ) from None
