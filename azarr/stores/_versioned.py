"""The compare-and-swap vocabulary: a value read together with its version.

A read-merge-write of a chunk reads the chunk's bytes and an opaque *version*
(:meth:`Store.get_many_for_update`), merges, and writes back only if the version is
unchanged (:meth:`Store.set_many_if`). What a version is depends on the backend: an
ETag (S3, Azure), a generation (GCS), a digest of the value (Redis) or the value itself
(SQLite, MongoDB, LocalStore, MemoryStore). Callers never look inside it; they pass back
exactly what the read returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

#: An opaque version token (an ETag, a generation, a digest or the stored bytes).
#: ``None`` (:data:`ABSENT`) stands for "the key does not exist".
Version: TypeAlias = str | bytes | None

#: The version of a missing key: ``set_if(key, value, ABSENT)`` writes only if ``key``
#: still does not exist.
ABSENT: Final = None


@dataclass(frozen=True, slots=True)
class Versioned:
    """A key's value (``None`` if missing) and the version to pass back to a conditional write."""

    data: bytes | None
    version: Version

    @property
    def exists(self) -> bool:
        """Whether the key existed when it was read."""
        return self.data is not None
