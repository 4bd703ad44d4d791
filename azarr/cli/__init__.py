"""The ``azarr`` command line: ``info``, ``tree``, ``ls``, ``consolidate``, ``check``, ``copy``,
``convert`` and ``bench`` on any store URL (``python -m azarr`` too).

The commands need the ``cli`` extra (click and tqdm: ``pip install 'azarr[cli]'``); this
module imports neither, so a missing extra is one clear line, not a traceback, and the
rest of azarr never imports them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

#: exit statuses: success, ``check`` found problems, failure (an error, or bad usage), interrupted
EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``azarr`` command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    try:
        from azarr.cli.app import run
    except ImportError as exc:  # the cli extra is missing
        print(
            f"azarr: error: the command line needs the 'cli' extra ({exc}); install it with: pip install 'azarr[cli]'",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return run(list(sys.argv[1:] if argv is None else argv))


def console_main() -> None:
    """The console script's entry point: exit with :func:`main`'s status."""
    sys.exit(main())


__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PROBLEMS", "console_main", "main"]
