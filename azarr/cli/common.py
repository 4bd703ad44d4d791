"""What every command shares: store URLs and ``--storage-option`` values, running a command's
coroutine (Ctrl-C and SIGTERM cancel it cleanly), one-line errors, and number formatting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from azarr.core.hierarchy import normalize_path
from azarr.errors import AzarrError
from azarr.stores._redact import redact
from azarr.stores.base import Store
from azarr.stores.registry import from_url

T = TypeVar("T")


class CommandError(Exception):
    """A command failed at ``where`` (a URL): shown as one line on stderr."""

    def __init__(self, where: str, cause: BaseException | str) -> None:
        super().__init__(where)
        self.where = where
        self.cause = cause

    def line(self) -> str:
        """``where: cause`` on one line, with secrets masked."""
        cause = self.cause
        if isinstance(cause, str):
            text = cause
        elif isinstance(cause, AzarrError):
            text = str(cause) or type(cause).__name__
        else:
            text = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
        return redact(" ".join(f"{self.where}: {text}".split()))


class Interrupted(Exception):
    """The user stopped a command (Ctrl-C, SIGTERM); the message says how far it got."""


@contextmanager
def failing_at(where: str) -> Iterator[None]:
    """Turn any error raised inside into a :class:`CommandError` naming ``where``."""
    try:
        yield
    except (CommandError, Interrupted, KeyboardInterrupt, asyncio.CancelledError):
        raise
    except Exception as exc:
        raise CommandError(where, exc) from exc


def parse_value(text: str) -> Any:
    """A ``--storage-option`` value: JSON numbers, ``true``/``false``/``null``, objects and
    lists are decoded; anything else stays a string (quote a number as JSON, ``'"123"'``, to
    keep it one)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (bool, int, float, dict, list, str)) or value is None else text


def parse_options(pairs: Sequence[str], what: str = "--storage-option") -> dict[str, Any]:
    """``["key=value", ...]`` as keyword arguments for a store's constructor."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise CommandError(what, f"expected NAME=VALUE with NAME a Python identifier, got {redact(pair)!r}")
        out[key] = parse_value(value)
    return out


def parse_shape(text: str | None, what: str) -> tuple[int, ...] | None:
    """``"64,64"`` as ``(64, 64)`` (None stays None)."""
    if text is None:
        return None
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        raise CommandError(what, f"expected comma-separated integers like 64,64, got {text!r}") from None
    if not shape or any(n <= 0 for n in shape):
        raise CommandError(what, f"expected positive integers like 64,64, got {text!r}")
    return shape


@dataclass
class Location:
    """A URL as the commands use it: the store it opens and the node path inside it."""

    url: str
    store: Store
    path: str

    @property
    def shown(self) -> str:
        """The URL (and node path) for messages, secrets masked."""
        where = redact(self.url)
        return f"{where} (path {self.path!r})" if self.path else where


def open_location(
    url: str,
    options: Mapping[str, Any],
    *,
    path: str | None = None,
    read_only: bool,
    concurrency: int | None,
) -> Location:
    """Open the store ``url`` names with the user's options (and ``concurrency``, if given)."""
    opts = dict(options)
    if concurrency is not None:
        opts["concurrency"] = concurrency
    if read_only:
        opts["read_only"] = True
    with failing_at(redact(url)):
        store = from_url(url, **opts)
        return Location(url, store, normalize_path(path))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine to completion on a new event loop. Ctrl-C (and SIGTERM,
    treated the same) cancels it, so its ``finally`` blocks run (cleanups, closing stores)
    and every request in flight is either done or abandoned before it was sent: the stores
    write whole objects only. Raises :class:`KeyboardInterrupt` when interrupted."""

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        stopped = False

        def stop() -> None:
            nonlocal stopped
            stopped = True
            task.cancel()

        try:
            loop.add_signal_handler(signal.SIGTERM, stop)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass
        try:
            return await coro
        except asyncio.CancelledError:
            if stopped:
                raise KeyboardInterrupt from None
            raise
        finally:
            try:
                loop.remove_signal_handler(signal.SIGTERM)
            except (NotImplementedError, RuntimeError):
                pass

    with asyncio.Runner() as runner:
        try:
            return runner.run(guarded())
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None


async def close_all(*stores: Store) -> None:
    """Close the stores a command opened (connections released before the loop ends)."""
    for store in stores:
        with contextlib.suppress(Exception):  # closing must not hide the command's own outcome
            await store.close()


# --- numbers --------------------------------------------------------------------------------------

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: float) -> str:
    """``1536`` as ``1.5 KiB``."""
    value = float(n)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def human_rate(n: float, seconds: float, unit: str = "") -> str:
    """``n`` per second over ``seconds`` (bytes when ``unit`` is empty)."""
    if seconds <= 0:
        return "-"
    per = n / seconds
    return f"{human_bytes(per)}/s" if not unit else f"{per:,.0f} {unit}/s"


def plural(n: int, noun: str) -> str:
    """``3 arrays``, ``1 array`` (``noun`` is the singular; an ``s`` is added)."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage (``-`` of nothing)."""
    return f"{100 * part / whole:.0f}%" if whole else "-"


__all__ = [
    "CommandError",
    "Interrupted",
    "Location",
    "close_all",
    "failing_at",
    "human_bytes",
    "human_rate",
    "open_location",
    "parse_options",
    "parse_shape",
    "parse_value",
    "percent",
    "plural",
    "run_async",
]
