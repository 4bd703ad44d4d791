"""Byte-range requests for :meth:`Store.get_ranges <azarr.stores.base.Store.get_ranges>`.

A request is a pair ``(key, range)`` where ``range`` is

* ``None``: the whole value;
* :class:`ByteRange` ``(start, end)``: bytes ``[start, end)``, ``end=None`` meaning to the end;
* :class:`SuffixRange` ``(length)``: the last ``length`` bytes.

Ranges are frozen, hashable values (results are keyed by the request), validated when they
are made: a negative offset or length, an end before the start, or an offset that does not
fit in 64 bits raises :class:`InvalidRangeError`.

Reading a range never fails because of the value's size: a range past the end is truncated
(``b""`` when it starts at or after the end), a suffix longer than the value is the whole
value, and every range of an empty value is ``b""``. :func:`resolve` turns a range into the
concrete ``[start, stop)`` of a value of known size, which is all a backend needs to slice.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TypeAlias

from azarr.errors import StoreError

__all__ = [
    "MAX_OFFSET",
    "ByteRange",
    "InvalidRangeError",
    "Range",
    "RangeRequest",
    "SuffixRange",
    "check_request",
    "from_bounds",
    "read_range",
    "resolve",
]

#: Offsets and lengths must fit a signed 64-bit integer (every backend's wire format does).
MAX_OFFSET = (1 << 63) - 1


class InvalidRangeError(StoreError, ValueError):
    """A byte range is malformed (negative, reversed, too large, or not a range at all).

    Raised by the range constructors (which know no store or key) and by the store methods,
    whose message and ``store`` / ``key`` attributes name the store and key.
    """


def _offset(value: object, what: str, owner: str) -> int:
    if isinstance(value, bool):  # bool is an int subclass; True is never meant as an offset
        raise InvalidRangeError(f"{owner}: {what} must be an integer, got {value!r}")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise InvalidRangeError(f"{owner}: {what} must be an integer, got {value!r}") from None
    if number < 0:
        raise InvalidRangeError(f"{owner}: {what} must be >= 0, got {number}")
    if number > MAX_OFFSET:
        raise InvalidRangeError(f"{owner}: {what} {number} does not fit in 64 bits")
    return number


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``[start, end)`` of a value; ``end=None`` reads to the end of the value."""

    start: int
    end: int | None = None

    def __post_init__(self) -> None:
        start, end = self.start, self.end
        if type(start) is int and 0 <= start <= MAX_OFFSET and (
            end is None or (type(end) is int and start <= end <= MAX_OFFSET)
        ):
            return  # the common case, checked without formatting anything
        owner = f"ByteRange(start={start!r}, end={end!r})"
        start = _offset(start, "start", owner)
        object.__setattr__(self, "start", start)  # numpy integers become plain ints
        if end is not None:
            end = _offset(end, "end", owner)
            if end < start:
                raise InvalidRangeError(f"{owner}: end must be >= start")
            object.__setattr__(self, "end", end)

    @property
    def is_empty(self) -> bool:
        """Whether the range asks for no bytes at all (``end == start``)."""
        return self.end is not None and self.end == self.start


@dataclass(frozen=True, slots=True)
class SuffixRange:
    """The last ``length`` bytes of a value (the whole value if it is shorter)."""

    length: int

    def __post_init__(self) -> None:
        length = self.length
        if type(length) is not int or not 0 <= length <= MAX_OFFSET:
            object.__setattr__(self, "length", _offset(length, "length", f"SuffixRange(length={length!r})"))

    @property
    def is_empty(self) -> bool:
        """Whether the range asks for no bytes at all (``length == 0``)."""
        return self.length == 0


#: What a request asks of one key: a range, or ``None`` for the whole value.
Range: TypeAlias = ByteRange | SuffixRange | None
#: One request of :meth:`Store.get_ranges`: ``(key, range)``; results are keyed by it.
RangeRequest: TypeAlias = tuple[str, Range]


def resolve(rng: Range, size: int) -> tuple[int, int]:
    """The concrete ``[start, stop)`` that ``rng`` selects from a value of ``size`` bytes.

    Always ``0 <= start <= stop <= size``: ranges past the end are truncated, suffixes
    longer than the value cover all of it.
    """
    if rng is None:
        return 0, size
    if isinstance(rng, SuffixRange):
        return max(0, size - rng.length), size
    start = min(rng.start, size)
    stop = size if rng.end is None else min(rng.end, size)
    return start, stop


def read_range(value: bytes, rng: Range) -> bytes:
    """The bytes of ``value`` that ``rng`` selects (``value`` itself for ``None``)."""
    if rng is None:
        return value
    start, stop = resolve(rng, len(value))
    return value[start:stop]


def check_request(request: object, store: object) -> RangeRequest:
    """Return ``request`` as ``(key, range)`` or raise :class:`InvalidRangeError` naming the
    store and key (``store`` is formatted only then). Keys are not validated here."""
    if type(request) is tuple and len(request) == 2:
        key, rng = request
        if type(key) is str and (rng is None or type(rng) is ByteRange or type(rng) is SuffixRange):
            return request  # the common case: no copy, no message
    name = str(store)
    try:
        key, rng = request  # type: ignore[misc]
    except (TypeError, ValueError):
        raise InvalidRangeError(f"{name}: a range request is a (key, range) pair, got {request!r}", store=name) from None
    if not isinstance(key, str):
        raise InvalidRangeError(f"{name}: a range request's key must be a str, got {key!r}", store=name)
    if rng is not None and not isinstance(rng, (ByteRange, SuffixRange)):
        raise InvalidRangeError(
            f"{name}: the range for key {key!r} must be a ByteRange, a SuffixRange or None (whole value), got {rng!r}",
            store=name,
            key=key,
        )
    return key, rng


def from_bounds(start: int, end: int | None, store: object, key: str) -> ByteRange | SuffixRange:
    """The range ``Store.get_range(key, start, end)`` means: ``[start, end)``, or with a
    negative ``start`` and no ``end`` the last ``-start`` bytes. Errors name the store (formatted
    only then) and the key."""
    try:
        if isinstance(start, int) and not isinstance(start, bool) and start < 0:
            if end is not None:
                raise InvalidRangeError(f"a suffix range (negative start {start}) cannot have an end ({end})")
            return SuffixRange(-start)
        return ByteRange(start, end)
    except InvalidRangeError as exc:
        name = str(store)
        raise InvalidRangeError(
            f"{name}: invalid byte range [{start}, {end}) for key {key!r}: {exc}", store=name, key=key
        ) from None
