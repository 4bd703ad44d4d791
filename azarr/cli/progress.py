"""Progress of a copy on the terminal: a tqdm bar on stderr when it is a terminal (stored objects
done of planned, bytes done of planned, object rate, byte rate, ETA), else nothing until the
final summary line."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from azarr.cli.common import human_bytes, human_rate
from azarr.core.streams import CopyProgress

_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} chunks{postfix} [{elapsed}<{remaining}, {rate_fmt}]"


class Display(CopyProgress):
    """A :class:`CopyProgress` that draws a bar on a terminal (``bar=True``) and writes a
    summary at the end either way."""

    def __init__(self, label: str, *, bar: bool, stream: IO[str] | None = None) -> None:
        super().__init__()
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.started = time.monotonic()
        self._bar: Any = None
        if bar:
            from tqdm import tqdm

            self._bar = tqdm(
                total=0, desc=label, unit=" chunks", file=self.stream, dynamic_ncols=True,
                bar_format=_BAR_FORMAT, mininterval=0.2, smoothing=0.1,
            )
            self._bar.set_postfix_str("0 B", refresh=False)

    @property
    def elapsed(self) -> float:
        """Seconds since the copy started."""
        return time.monotonic() - self.started

    def changed(self) -> None:
        """Move the bar (tqdm redraws at most every 0.2 s)."""
        bar = self._bar
        if bar is None:
            return
        if bar.total != self.total_chunks:
            bar.total = self.total_chunks
        done_bytes = self.done_bytes + self.skipped_bytes
        bar.set_postfix_str(
            f"{human_bytes(done_bytes)}/{human_bytes(self.total_bytes)} at {human_rate(self.done_bytes, self.elapsed)}",
            refresh=False,
        )
        bar.update(self.done_chunks + self.skipped_chunks - bar.n)

    def close(self) -> None:
        """Remove the bar (the summary replaces it)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def summary(self, verb: str) -> str:
        """One line: what was done, how fast, what was already there."""
        seconds = self.elapsed
        line = (
            f"{verb} {self.done_chunks:,} chunks ({human_bytes(self.done_bytes)}) in {seconds:.1f} s: "
            f"{human_rate(self.done_chunks, seconds, 'chunks')}, {human_rate(self.done_bytes, seconds)}"
        )
        if self.skipped_chunks:
            line += f"; {self.skipped_chunks:,} chunks ({human_bytes(self.skipped_bytes)}) were already there"
        return line


def display(label: str, quiet: bool) -> Display:
    """A display for a copy: a bar when stderr is a terminal and not ``quiet``."""
    return Display(label, bar=not quiet and sys.stderr.isatty())


__all__ = ["Display", "display"]
