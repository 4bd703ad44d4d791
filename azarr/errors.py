"""One exception hierarchy for azarr.

Every exception azarr raises on purpose derives from :class:`AzarrError`. Where a
Python built-in exception is the natural thing to catch (``IndexError`` for a bad
selection, ``KeyError``-like lookups, ``FileNotFoundError`` for a missing node), the
azarr class derives from both, so ``except IndexError`` keeps working.
"""

from __future__ import annotations


class AzarrError(Exception):
    """Base class of every error azarr raises on purpose."""


# --- stores ---------------------------------------------------------------------------


class StoreError(AzarrError):
    """A store operation failed (transport, backend or permission failure).

    A missing key is never a ``StoreError``: it is a value (``None``). A ``StoreError``
    always names the store and, where there is one, the key.
    """

    def __init__(self, message: str, *, store: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.store = store
        self.key = key


class TransientStoreError(StoreError):
    """A failure worth retrying (throttling, 5xx, reset connection, timeout).

    Backends raise it (or an exception their ``_is_retryable`` accepts) so the base
    class's retry loop can try again; after the last attempt it surfaces as
    :class:`StoreError`.
    """


class ThrottledError(TransientStoreError):
    """The backend asked the client to slow down (S3 503 SlowDown, HTTP 429, Azure ServerBusy, ...).

    Retried like any transient failure, and it also lowers the store's in-flight limit
    (see :class:`azarr.stores.ConcurrencyLimiter`): throttling slows a write down rather
    than ending it.
    """


class ConditionalWriteUnsupportedError(StoreError, NotImplementedError):
    """The store cannot compare-and-swap (``supports_conditional_writes`` is False)."""


class WriteConflictError(StoreError):
    """A conditional write kept losing to other writers of the same key.

    Raised by callers of the compare-and-swap API (a read-merge-write of a chunk) after
    their bounded retries; names the store and the key.
    """


class AuthenticationError(StoreError, PermissionError):
    """The backend refused the store's credentials or denied access (HTTP 401/403, a wrong
    secret, an expired token). Never read as a missing key; names the store."""


class ReadOnlyError(StoreError, PermissionError):
    """A write or delete was attempted on a store or node opened read-only."""


class InvalidKeyError(AzarrError, ValueError):
    """A key is malformed or would escape the store's root (``..``, absolute, NUL)."""


class StoreConfigError(AzarrError, ValueError):
    """A store URL or store option is invalid or names an unknown backend."""


class ModeError(AzarrError, ValueError):
    """An invalid ``mode`` (or a mode that conflicts with the store, e.g. writing read-only)."""


class MissingDependencyError(AzarrError, ImportError):
    """An optional backend dependency is not installed (names the extra to install)."""


# --- metadata and nodes ---------------------------------------------------------------


class MetadataError(AzarrError, ValueError):
    """Metadata is invalid or unsupported; the message names the document key and why."""


class NodeNotFoundError(AzarrError, FileNotFoundError, ValueError):
    """No array or group exists at the given path (also a ``ValueError``, as zarr-python's)."""


class ArrayNotFoundError(NodeNotFoundError):
    """No array exists at the given path."""


class GroupNotFoundError(NodeNotFoundError):
    """No group exists at the given path."""


class NodeExistsError(AzarrError, FileExistsError, ValueError):
    """An array or group already exists where one was to be created (also a ``ValueError``,
    as zarr-python's ``ContainsArrayError`` / ``ContainsGroupError``)."""


class ContainsArrayError(NodeExistsError):
    """An array already exists at the path."""


class ContainsGroupError(NodeExistsError):
    """A group already exists at the path."""


class ConsolidatedMetadataError(AzarrError):
    """Consolidated metadata is required but missing, or is invalid."""


# --- data -----------------------------------------------------------------------------


class CodecError(AzarrError):
    """A chunk failed to encode or decode; the message names the chunk key."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class SelectionError(AzarrError, IndexError):
    """A selection is out of bounds or not a valid selection for the array."""


class BoundsCheckError(SelectionError):
    """An index lies outside the array's bounds."""


class NegativeStepError(SelectionError):
    """A slice with a negative step was given (zarr arrays do not support it)."""


class VindexInvalidSelectionError(SelectionError):
    """A coordinate (vindex) or mask selection is malformed."""


class TooLargeError(AzarrError, MemoryError):
    """A selection's output or a chunk is too large to allocate; names the array and the size."""


class ShapeMismatchError(AzarrError, ValueError):
    """A value's shape cannot be broadcast to the selection it is assigned to."""


class CopyError(AzarrError, RuntimeError):
    """A copy found something in its way (``if_exists="raise"``); nothing was written (as
    zarr-python's ``CopyError``, a ``RuntimeError``)."""


# --- runtime --------------------------------------------------------------------------


class ArgumentError(AzarrError, TypeError, ValueError):
    """A call's arguments are wrong: an unknown or missing keyword, conflicting ones, a value
    of the wrong kind. zarr-python raises ``TypeError`` for some of these and ``ValueError``
    for others, so this is both."""


class UnsupportedOptionError(AzarrError, TypeError):
    """A zarr-python keyword or feature azarr cannot honour (``synchronizer``, ``chunk_store``,
    ``meta_array``, ...); the message says why and what to do instead."""


class SyncShimError(AzarrError, RuntimeError):
    """The blocking API was called from azarr's own event loop (it would deadlock)."""
