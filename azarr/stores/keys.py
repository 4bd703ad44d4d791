"""Store key rules: what a well-formed key or prefix is, and what a value may be."""

from __future__ import annotations

from azarr.errors import InvalidKeyError, StoreError


def validate_key(key: str) -> str:
    """Check that ``key`` is a well-formed relative store key and return it.

    Rejects non-strings, empty keys, NUL bytes, absolute keys, backslashes and ``.`` /
    ``..`` / empty path segments, so no key can escape a store's root.
    """
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
