"""Running the ``azarr`` command line in a subprocess for the tests: plainly (pipes: not a
terminal) or under a pseudo-terminal (to see the progress bar), with the S3 test credentials
in the environment as a user's shell would have them."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.services.moto import S3_CREDENTIALS


def cli_env(s3_endpoint: str | None = None) -> dict[str, str]:
    """The environment of a command: the tests' own, plus the S3 emulator as AWS settings."""
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    if s3_endpoint is not None:
        env.update(
            AWS_ACCESS_KEY_ID=S3_CREDENTIALS["key"],
            AWS_SECRET_ACCESS_KEY=S3_CREDENTIALS["secret"],
            AWS_DEFAULT_REGION=S3_CREDENTIALS["region"],
            AWS_ENDPOINT_URL_S3=s3_endpoint,
            AWS_EC2_METADATA_DISABLED="true",
        )
    return env


def azarr(*args: str, s3_endpoint: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m azarr ARGS`` with pipes (no terminal); never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "azarr", *args], capture_output=True, text=True, timeout=timeout, check=False,
        env=cli_env(s3_endpoint), stdin=subprocess.DEVNULL,
    )


@dataclass
class TerminalRun:
    """A command running under a pseudo-terminal (80x24 unless told), its output so far."""

    proc: subprocess.Popen[bytes]
    master: int
    output: str = ""

    def read(self, until: Callable[[str], bool], timeout: float) -> bool:
        """Read output until ``until(output)`` holds (True) or the time is up / the process ended (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until(self.output):
                return True
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the terminal closed: the process ended
                    return until(self.output)
                if not chunk:
                    return until(self.output)
                self.output += chunk.decode("utf-8", "replace")
            elif self.proc.poll() is not None:
                return until(self.output)
        return until(self.output)

    def finish(self, timeout: float = 60) -> int:
        """Read everything until the process exits; its exit status."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.read(lambda _: False, 0.2)
        self.read(lambda _: False, 0.2)
        status = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return status

    def interrupt(self) -> None:
        """Ctrl-C."""
        self.proc.send_signal(signal.SIGINT)


def azarr_on_terminal(*args: str, s3_endpoint: str | None = None, columns: int = 120) -> TerminalRun:
    """Start ``python -m azarr ARGS`` with stdin, stdout and stderr on a new pseudo-terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = cli_env(s3_endpoint)
    env["TERM"] = "xterm"
    proc = subprocess.Popen([sys.executable, "-m", "azarr", *args], stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True)
    os.close(slave)
    return TerminalRun(proc, master)


__all__ = ["TerminalRun", "azarr", "azarr_on_terminal", "cli_env"]
